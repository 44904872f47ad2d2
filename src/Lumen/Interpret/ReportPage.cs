using System.Globalization;
using System.Net;
using System.Text;
using Lumen.Imaging;

namespace Lumen.Interpret;

/// <summary>The plain one-page report of the segmentation and detection interpretations: a title, the metrics, then sections of pictures.</summary>
internal sealed class ReportPage
{
    private readonly StringBuilder _html = new();

    /// <summary>Starts a page with its title, subtitle and a table of <paramref name="metrics"/>.</summary>
    public ReportPage(string title, string subtitle, IEnumerable<KeyValuePair<string, double>> metrics)
    {
        _html.Append($"<!doctype html><html><head><meta charset=\"utf-8\"><title>{Encode(title)}</title>")
            .Append("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}td,th{padding:4px 12px;text-align:left}img{max-width:100%}</style></head><body>")
            .Append($"<h1>{Encode(title)}</h1><p>{Encode(subtitle)}</p><h2>Metrics</h2><table>");
        foreach (var (name, value) in metrics) _html.Append($"<tr><th>{Encode(name)}</th><td>{value.ToString("F4", CultureInfo.InvariantCulture)}</td></tr>");
        _html.Append("</table>");
    }

    /// <summary>Adds a heading and raw HTML (already encoded).</summary>
    public ReportPage Section(string heading, string html)
    {
        _html.Append($"<h2>{Encode(heading)}</h2>").Append(html);
        return this;
    }

    /// <summary>Adds a heading and a picture embedded as PNG.</summary>
    public ReportPage Picture(string heading, RgbImage image, string alt) =>
        Section(heading, $"<p><img alt=\"{Encode(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(image.EncodePng())}\"></p>");

    /// <summary>HTML-encodes text.</summary>
    public static string Encode(string text) => WebUtility.HtmlEncode(text);

    /// <summary>The finished page.</summary>
    public override string ToString() => _html + "</body></html>";
}
