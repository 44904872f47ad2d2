using Lumen.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Models;

/// <summary>Settings of the classifier head put on a pretrained body (fastai's <c>create_head</c>).</summary>
public sealed record HeadOptions
{
    /// <summary>Dropout of the last layer; earlier layers use half (fastai ps=0.5).</summary>
    public double Ps { get; init; } = 0.5;

    /// <summary>Hidden layer sizes between the pooled features and the classes (fastai: [512]).</summary>
    public IReadOnlyList<int> Hidden { get; init; } = new[] { 512 };

    /// <summary>Concatenate max- and average-pooling (doubles the features) instead of average only.</summary>
    public bool ConcatPool { get; init; } = true;

    /// <summary>A single linear layer after average pooling (torchvision-style), ignoring the other settings.</summary>
    public bool Plain { get; init; }

    /// <summary>fastai's defaults.</summary>
    public static HeadOptions Default { get; } = new();
}

/// <summary>Builds classifier heads.</summary>
public static class Head
{
    /// <summary>
    /// fastai's head: AdaptiveConcatPool2d → Flatten → [BatchNorm1d → Dropout → Linear(bias off) → ReLU]
    /// per hidden layer → BatchNorm1d → Dropout(ps) → Linear(hidden, classes); earlier dropouts are ps/2;
    /// Kaiming-normal linear weights, BatchNorm weight 1 and bias 1e-3 (fastai's BatchNorm init).
    /// </summary>
    /// <param name="features">Channels of the body's output (512 for ResNet-18/34, 2048 for ResNet-50).</param>
    /// <param name="classes">Number of outputs.</param>
    /// <param name="options">Head settings; null for fastai's defaults.</param>
    public static Sequential Create(int features, int classes, HeadOptions? options = null)
    {
        options ??= HeadOptions.Default;
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), "a head needs at least one output");
        if (options.Ps < 0 || options.Ps >= 1) throw new LumenException($"head dropout (ps) must be in [0, 1), got {options.Ps}");
        if (options.Plain)
        {
            var plain = Sequential(("pool", AdaptiveAvgPool2d(1)), ("flatten", Flatten()), ("fc", Linear(features, classes)));
            return plain;
        }
        int pooled = options.ConcatPool ? 2 * features : features;
        var sizes = new List<int> { pooled };
        sizes.AddRange(options.Hidden);
        sizes.Add(classes);
        var layers = new List<(string, Module<Tensor, Tensor>)>
        {
            ("pool", options.ConcatPool ? new AdaptiveConcatPool2d() : AdaptiveAvgPool2d(1)),
            ("flatten", Flatten()),
        };
        for (int i = 0; i < sizes.Count - 1; i++)
        {
            bool last = i == sizes.Count - 2;
            double p = last ? options.Ps : options.Ps / 2;
            var bn = BatchNormLayer.OneDimensional(sizes[i]);
            using (no_grad())
            {
                bn.weight!.fill_(Scalars.One);
                using var biasInit = 1e-3.ToScalar();
                bn.bias!.fill_(biasInit);
            }
            layers.Add(($"bn{i}", bn));
            if (p > 0) layers.Add(($"drop{i}", Dropout(p)));
            var linear = Linear(sizes[i], sizes[i + 1], hasBias: false);
            init.kaiming_normal_(linear.weight);
            layers.Add(($"linear{i}", linear));
            if (!last) layers.Add(($"relu{i}", ReLU(inplace: true)));
        }
        return Sequential(layers);
    }
}

/// <summary>Concatenation of adaptive max- and average-pooling to 1×1 (fastai's AdaptiveConcatPool2d: [max, avg]).</summary>
public sealed class AdaptiveConcatPool2d : Module<Tensor, Tensor>
{
    /// <summary>Creates the layer.</summary>
    public AdaptiveConcatPool2d() : base(nameof(AdaptiveConcatPool2d)) { }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor max = functional.adaptive_max_pool2d(x, new long[] { 1, 1 });
        Tensor avg = functional.adaptive_avg_pool2d(x, new long[] { 1, 1 });
        return cat(new[] { max, avg }, 1).MoveToOuterDisposeScope();
    }
}
