using TorchSharp.Modules;

namespace Lumen.Training;

/// <summary>Freezing layer groups for transfer learning (fastai's freeze, unfreeze, freeze_to).</summary>
public sealed partial class Learner
{
    /// <summary>How many leading layer groups are frozen (0 when everything trains).</summary>
    public int FrozenGroups { get; private set; }

    /// <summary>True while all groups but the head are frozen.</summary>
    public bool IsFrozen => FrozenGroups > 0 && FrozenGroups >= Groups.Count - 1;

    /// <summary>
    /// True when the whole body is frozen, BatchNorm included, so it can run without autograd (and in
    /// eval mode). A partial freeze (<see cref="FreezeTo"/> with fewer groups) keeps autograd through
    /// the body, because its later groups train.
    /// </summary>
    public bool BodyWithoutGrad => IsFrozen && !Options.TrainBn;

    /// <summary>Freezes every group but the last (the head); BatchNorm layers stay trainable unless <see cref="TrainingOptions.TrainBn"/> is off.</summary>
    public void Freeze() => FreezeTo(Groups.Count - 1);

    /// <summary>Makes every parameter trainable.</summary>
    public void Unfreeze() => FreezeTo(0);

    /// <summary>Freezes groups [0, n); later groups are trainable.</summary>
    public void FreezeTo(int n)
    {
        if (n < 0 || n >= Groups.Count) throw new ArgumentOutOfRangeException(nameof(n), n, $"the model has {Groups.Count} layer groups; at most {Groups.Count - 1} can be frozen");
        var batchNorm = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        if (Options.TrainBn)
            foreach (var (_, m) in Model.named_modules())
                if (m is TorchSharp.Modules.BatchNorm) foreach (var p in m.parameters()) batchNorm.Add(p);
        for (int g = 0; g < Groups.Count; g++)
            foreach (var p in Groups[g]) p.requires_grad = g >= n || batchNorm.Contains(p);
        FrozenGroups = n;
        FeatureCache.Release();
    }
}
