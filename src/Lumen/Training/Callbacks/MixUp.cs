using Lumen.Tensors;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// MixUp (Zhang et al. 2018, as fastai): each training image is blended with another of the batch with
/// weight λ = max(l, 1 − l), l ~ Beta(α, α) per item, and the loss blends the two targets' losses
/// with the same λ, as the data's task says (<see cref="Tasks.ImageTask.MixUpLoss"/>). Validation is untouched.
/// </summary>
/// <param name="alpha">Beta distribution parameter (fastai's default 0.4).</param>
public sealed class MixUp(double alpha = 0.4) : IAltersTrainingImages
{
    private Tensor? _lambda;
    private Tensor? _partner;
    private Tensor? _shuffledY;

    /// <summary>Beta(α, α).</summary>
    public double Alpha => alpha;

    /// <summary>The current training batch's λ per item (in [0.5, 1]); null outside training batches.</summary>
    public Tensor? Lambda => _lambda;

    /// <summary>The index, within the current training batch, of the item each item is mixed with.</summary>
    public Tensor? Partner => _partner;

    void ICallback.BeforeFit(Learner learner)
    {
        if (learner.Data.Task.PerBox) throw new LumenException("MixUp blends whole images and their targets; it does not apply to boxes (train the detector without it)");
        var plain = learner.TrainingLoss;
        learner.TrainingLoss = (pred, y) => _lambda is null ? plain(pred, y) : learner.Data.Task.MixUpLoss(learner.Loss, pred, y, _shuffledY!, _lambda);
    }

    void ICallback.BeforeBatch(Learner learner)
    {
        _lambda = _partner = _shuffledY = null;
        if (!learner.Training) return;
        var random = new Random(Seeds.Derive(learner.Seed, SeedStream.MixUp, learner.Epoch, learner.Batch));
        var x = learner.X;
        long n = x.shape[0];
        var lam = new float[n];
        for (int i = 0; i < n; i++)
        {
            double l = BetaDistribution.Sample(alpha, random);
            lam[i] = (float)Math.Max(l, 1 - l);
        }
        var perm = Enumerable.Range(0, (int)n).ToArray();
        random.Shuffle(perm);
        var permIndex = tensor(perm.Select(i => (long)i).ToArray(), device: x.device);
        var lamX = tensor(lam, device: x.device).view(new long[] { n }.Concat(Enumerable.Repeat(1L, (int)x.dim() - 1)).ToArray());
        learner.X = (x * lamX).add_(x.index_select(0, permIndex) * Scalars.OneMinus(lamX), Scalars.One);
        _lambda = tensor(lam, device: x.device);
        _partner = permIndex;
        _shuffledY = learner.Y.index_select(0, permIndex);
    }
}

/// <summary>Samples of the Beta(α, α) distribution (for <see cref="MixUp"/>), from a seeded <see cref="Random"/>.</summary>
public static class BetaDistribution
{
    /// <summary>One Beta(α, α) sample, from two Gamma(α) samples.</summary>
    public static double Sample(double alpha, Random random)
    {
        double a = Gamma(alpha, random), b = Gamma(alpha, random);
        return a / (a + b);
    }

    // Marsaglia–Tsang, boosted for shape < 1.
    private static double Gamma(double shape, Random random)
    {
        if (shape < 1) return Gamma(shape + 1, random) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
                x = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }
}
