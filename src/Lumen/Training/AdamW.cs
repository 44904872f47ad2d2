using Lumen.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// fastai's Adam with decoupled (true) weight decay, by parameter group. Each group has its own
/// learning rate and momentum (β1, scheduled by one-cycle); β2 = 0.99 and ε = 1e-5 as in fastai.
/// One-dimensional parameters (biases, BatchNorm weights) get no weight decay (wd_bn_bias=False).
/// Parameters without a gradient (frozen) are skipped.
/// </summary>
public sealed class AdamW
{
    private readonly Parameter[][] _groups;
    private readonly Dictionary<Parameter, (Tensor M, Tensor V, long Step)> _state = new(ReferenceEqualityComparer.Instance);

    /// <summary>Creates the optimiser over <paramref name="groups"/> (first to last layer group).</summary>
    public AdamW(IEnumerable<IEnumerable<Parameter>> groups, double weightDecay = 1e-2, double beta2 = 0.99, double eps = 1e-5)
    {
        _groups = groups.Select(g => g.ToArray()).ToArray();
        WeightDecay = weightDecay;
        Beta2 = beta2;
        Eps = eps;
        LearningRates = Enumerable.Repeat(1e-3, _groups.Length).ToArray();
        Momentums = Enumerable.Repeat(0.9, _groups.Length).ToArray();
    }

    /// <summary>Learning rate per group (set by schedules before each step).</summary>
    public double[] LearningRates { get; }

    /// <summary>β1 per group.</summary>
    public double[] Momentums { get; }

    /// <summary>Decoupled weight decay factor.</summary>
    public double WeightDecay { get; }

    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }

    /// <summary>Denominator epsilon.</summary>
    public double Eps { get; }

    /// <summary>Number of groups.</summary>
    public int GroupCount => _groups.Length;

    /// <summary>Clears all gradients.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _groups.SelectMany(g => g))
        {
            using var grad = p.grad;
            if (grad is not null) p.grad = null;
        }
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var beta2 = Beta2.ToScalar();
        using var oneMinusBeta2 = (1 - Beta2).ToScalar();
        using var eps = Eps.ToScalar();
        for (int g = 0; g < _groups.Length; g++)
        {
            double lr = LearningRates[g], beta1 = Momentums[g];
            using var momentum = beta1.ToScalar();
            using var oneMinusMomentum = (1 - beta1).ToScalar();
            using var decay = (1 - lr * WeightDecay).ToScalar();
            foreach (var p in _groups[g])
            {
                Tensor? grad = p.grad;
                if (grad is null || !p.requires_grad) continue;
                if (!_state.TryGetValue(p, out var s))
                    s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope(), 0);
                long step = s.Step + 1;
                s.M.mul_(momentum).add_(grad, alpha: oneMinusMomentum);
                s.V.mul_(beta2).addcmul_(grad, grad, value: oneMinusBeta2);
                if (WeightDecay != 0 && p.dim() > 1) p.mul_(decay);
                double debias1 = 1 - Math.Pow(beta1, step), debias2 = 1 - Math.Pow(Beta2, step);
                using var secondMomentDebias = debias2.ToScalar();
                using var stepSize = (-lr / debias1).ToScalar();
                var denominator = s.V.div(secondMomentDebias).sqrt_().add_(eps, Scalars.One);
                p.addcdiv_(s.M, denominator, value: stepSize);
                _state[p] = (s.M, s.V, step);
            }
        }
    }

    /// <summary>The optimiser state as named tensors (copies), for checkpoints and the LR finder's restore.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor>();
        var all = _groups.SelectMany(g => g).ToArray();
        for (int i = 0; i < all.Length; i++)
        {
            if (!_state.TryGetValue(all[i], out var s)) continue;
            result[$"{i}.m"] = s.M.detach().clone();
            result[$"{i}.v"] = s.V.detach().clone();
            result[$"{i}.step"] = tensor(s.Step);
        }
        return result;
    }

    /// <summary>Restores a state from <see cref="StateDict"/> (parameters in the same order).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        foreach (var s in _state.Values) { s.M.Dispose(); s.V.Dispose(); }
        _state.Clear();
        var all = _groups.SelectMany(g => g).ToArray();
        for (int i = 0; i < all.Length; i++)
        {
            if (!state.TryGetValue($"{i}.m", out var m)) continue;
            _state[all[i]] = (m.detach().clone().to(all[i].device).DetachFromDisposeScope(),
                state[$"{i}.v"].detach().clone().to(all[i].device).DetachFromDisposeScope(),
                state[$"{i}.step"].item<long>());
        }
    }
}
