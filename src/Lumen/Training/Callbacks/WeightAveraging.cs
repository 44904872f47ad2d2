using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// An exponential moving average of the weights (EMA, as timm's ModelEmaV2): after every optimiser step
/// each averaged tensor becomes d·average + (1 − d)·weight, with d = min(<see cref="Decay"/>, (1 + t) / (10 + t))
/// at step t so that the first steps do not drag the average back to the starting weights. BatchNorm
/// running statistics are averaged the same way. Validation runs on the averaged weights, and the model
/// keeps them when the fit ends (each fit, e.g. each fine_tune phase, starts a new average). A fit
/// resumed from a checkpoint starts its average from the checkpoint's weights.
/// </summary>
/// <param name="decay">The largest d (default 0.99: the last ~100 steps weigh most).</param>
public sealed class WeightAveraging(double decay = 0.99) : ICallback
{
    private List<(Tensor Live, Tensor Average)>? _pairs;
    private List<Tensor>? _held;
    private int _steps;

    /// <summary>The largest decay d.</summary>
    public double Decay => decay;

    /// <summary>Optimiser steps averaged so far in this fit.</summary>
    public int Steps => _steps;

    void ICallback.BeforeFit(Learner learner)
    {
        Release();
        using var noGrad = no_grad();
        // Held across batches, so out of any dispose scope; released in AfterFit.
        _pairs = Averaged(learner).Select(live => (live, live.detach().clone().DetachFromDisposeScope())).ToList();
        _steps = 0;
    }

    void ICallback.AfterStep(Learner learner)
    {
        if (_pairs is null) return;
        _steps++;
        double d = Math.Min(decay, (1.0 + _steps) / (10.0 + _steps));
        using var noGrad = no_grad();
        using var keep = d.ToScalar();
        using var take = (1 - d).ToScalar();
        foreach (var (live, average) in _pairs) average.mul_(keep).add_(live.detach(), take);
    }

    void ICallback.BeforeValidate(Learner learner)
    {
        if (_pairs is null) return;
        using var noGrad = no_grad();
        _held = _pairs.Select(p => p.Live.detach().clone().DetachFromDisposeScope()).ToList();
        foreach (var (live, average) in _pairs) live.copy_(average);
    }

    void ICallback.AfterValidate(Learner learner)
    {
        if (_pairs is null || _held is null) return;
        using var noGrad = no_grad();
        foreach (var ((live, _), held) in _pairs.Zip(_held)) live.copy_(held);
        foreach (var held in _held) held.Dispose();
        _held = null;
    }

    void ICallback.AfterFit(Learner learner)
    {
        if (_pairs is null) return;
        // An interrupted fit keeps its live weights: the checkpoint it resumes from holds them too.
        if (!learner.Interrupted && _steps > 0)
        {
            using var noGrad = no_grad();
            foreach (var (live, average) in _pairs) live.copy_(average);
        }
        Release();
    }

    /// <summary>The trainable parameters and the float buffers (BatchNorm running statistics).</summary>
    private static IEnumerable<Tensor> Averaged(Learner learner) =>
        learner.Model.parameters().Where(p => p.requires_grad).Cast<Tensor>()
            .Concat(learner.Model.buffers().Where(b => b.dtype == ScalarType.Float32));

    private void Release()
    {
        foreach (var (_, average) in _pairs ?? new()) average.Dispose();
        foreach (var held in _held ?? new()) held.Dispose();
        (_pairs, _held) = (null, null);
    }
}
