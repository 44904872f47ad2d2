using ScottPlot;

namespace Lumen.Imaging;

/// <summary>
/// Lumen's one plotting stack (ScottPlot): every chart (training curves, LR finder, confusion matrix,
/// reliability diagram) starts here with the bundled font, and renders to an image or a PNG file.
/// Image grids (batches, top losses, Grad-CAM) are composed with SkiaSharp in <see cref="ImageGrid"/>.
/// </summary>
public static class Charts
{
    /// <summary>A plot with Lumen's font, a title and axis labels.</summary>
    public static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(PlotFont.Name);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    /// <summary>The plot as an image of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public static RgbImage Render(Plot plot, int width, int height) =>
        ImageDecoder.Decode(plot.GetImageBytes(width, height, ImageFormat.Png), "chart");
}
