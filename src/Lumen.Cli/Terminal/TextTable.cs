namespace Lumen.Cli.Terminal;

/// <summary>
/// A plain-text table (fastai's epoch table style: columns separated by two spaces, no borders) that
/// never cuts a header or a value: when the columns do not fit the console width they are laid out
/// in several bands, one under the other, each repeating the first (key) column.
/// </summary>
internal static class TextTable
{
    private const string Gap = "  ";

    /// <summary>The table's lines for a console <paramref name="width"/> columns wide.</summary>
    public static IReadOnlyList<string> Lines(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows, int width)
    {
        int[] widths = headers.Select((h, c) => rows.Select(r => c < r.Count ? r[c].Length : 0).Append(h.Length).Max()).ToArray();
        var bands = new List<List<int>>();
        var band = new List<int> { 0 };
        int used = widths[0];
        for (int c = 1; c < headers.Count; c++)
        {
            if (band.Count > 1 && used + Gap.Length + widths[c] > width)
            {
                bands.Add(band);
                band = new List<int> { 0 };
                used = widths[0];
            }
            band.Add(c);
            used += Gap.Length + widths[c];
        }
        bands.Add(band);

        var lines = new List<string>();
        foreach (var columns in bands)
        {
            if (lines.Count > 0) lines.Add("");
            lines.Add(Row(columns, widths, c => headers[c]));
            foreach (var row in rows) lines.Add(Row(columns, widths, c => c < row.Count ? row[c] : ""));
        }
        return lines;
    }

    // Numbers read best right-aligned, words left-aligned.
    private static string Row(List<int> columns, int[] widths, Func<int, string> cell) =>
        string.Join(Gap, columns.Select(c => IsNumber(cell(c)) ? cell(c).PadLeft(widths[c]) : cell(c).PadRight(widths[c]))).TrimEnd();

    private static bool IsNumber(string s) => s.Length > 0 && (char.IsDigit(s[0]) || s[0] == '-') && !s.Contains(' ');
}
