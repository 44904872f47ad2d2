namespace Lumen;

/// <summary>
/// Derives independent, reproducible seeds from one run seed, so that parallel work (each image's
/// random crop, each batch's augmentation) gives the same result whatever the thread scheduling.
/// <see cref="HashCode"/> is randomised per process and cannot be used for this.
/// </summary>
public static class Seeds
{
    /// <summary>Mixes <paramref name="seed"/> with <paramref name="parts"/> (SplitMix64 finaliser).</summary>
    public static int Derive(int seed, params long[] parts)
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
