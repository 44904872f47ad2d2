namespace Lumen;

/// <summary>
/// The independent random streams of a run, each derived from the run seed. The numbers are part of
/// what makes a run reproducible: changing one changes every run's shuffles, crops or weights.
/// </summary>
public enum SeedStream
{
    /// <summary>The order of each epoch's training items.</summary>
    Shuffle = 1,

    /// <summary>Each training item's random crop, per epoch.</summary>
    ItemTransform = 2,

    /// <summary>Each training batch's augmentation.</summary>
    BatchAugment = 3,

    /// <summary>Torch's generator for each training step (dropout).</summary>
    TrainingStep = 4,

    /// <summary>Each batch's MixUp partners and weights.</summary>
    MixUp = 5,

    /// <summary>Each test-time augmentation pass.</summary>
    Tta = 7,
}

/// <summary>
/// Derives independent, reproducible seeds from one run seed, so that parallel work (each image's
/// random crop, each batch's augmentation) gives the same result whatever the thread scheduling.
/// <see cref="HashCode"/> is randomised per process and cannot be used for this.
/// </summary>
public static class Seeds
{
    /// <summary>The seed of <paramref name="stream"/> at <paramref name="position"/> (epoch, batch, item …).</summary>
    public static int Derive(int seed, SeedStream stream, params long[] position) => Mix(seed, [(long)stream, .. position]);

    /// <summary>Mixes <paramref name="seed"/> with <paramref name="parts"/> (SplitMix64 finaliser).</summary>
    public static int Mix(int seed, params long[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed;
        foreach (long p in parts)
        {
            h += 0x9E3779B97F4A7C15UL + (ulong)p;
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
            h ^= h >> 31;
        }
        return (int)(h & 0x7FFFFFFF);
    }
}
