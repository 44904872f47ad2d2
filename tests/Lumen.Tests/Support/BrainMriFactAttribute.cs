namespace Lumen.Tests.Support;

/// <summary>
/// A test on the real brain-MRI images: the repository's bundled sample (samples/brain-mri, the same
/// 480 images as ../shared/data/brain-mri-dev). Skipped, with the path it looked for, when the folder
/// is not there (LUMEN_BRAIN_MRI pointing elsewhere, or a checkout without the sample).
/// </summary>
public sealed class BrainMriFactAttribute : FactAttribute
{
    public BrainMriFactAttribute()
    {
        if (BrainMri.Folder is null) Skip = $"brain MRI images not found (looked for {BrainMri.Expected}); end-to-end test skipped";
    }
}

internal static class BrainMri
{
    /// <summary>Where the set is expected: LUMEN_BRAIN_MRI, else the repository's samples/brain-mri.</summary>
    public static string Expected
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("LUMEN_BRAIN_MRI");
            if (!string.IsNullOrEmpty(env)) return env;
            return Repo.File("samples", "brain-mri");
        }
    }

    public static string? Folder => Directory.Exists(Expected) ? Expected : null;
}
