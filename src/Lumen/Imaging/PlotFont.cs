using Lumen.Files;
namespace Lumen.Imaging;

/// <summary>
/// ScottPlot draws text through Skia, which finds no fonts on minimal Linux: every plot uses Lumen's
/// embedded DejaVu Sans, registered with ScottPlot once.
/// </summary>
internal static class PlotFont
{
    private static readonly Lazy<string> Registered = new(Register);

    /// <summary>The registered font name.</summary>
    public static string Name => Registered.Value;

    private static string Register()
    {
        const string name = "DejaVu Sans (Lumen)";
        string file = Path.Combine(Path.GetTempPath(), "lumen-DejaVuSans.ttf");
        if (!File.Exists(file))
        {
            using var stream = typeof(PlotFont).Assembly.GetManifestResourceStream("Lumen.DejaVuSans.ttf")!;
            AtomicFile.Write(file, stream.CopyTo);
        }
        ScottPlot.Fonts.AddFontFile(name, file);
        return name;
    }
}
