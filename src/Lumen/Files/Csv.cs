using System.Text;

namespace Lumen.Files;

/// <summary>A row of a CSV text: its cells, the line it starts on, and where it ends.</summary>
/// <param name="Line">The 1-based line number the row starts on (for messages).</param>
/// <param name="Cells">The cells, unquoted.</param>
/// <param name="End">The offset just past the row's line break (or the text's end).</param>
/// <param name="Terminated">False for a last row without a line break (possibly cut off by a crash).</param>
public sealed record CsvRow(int Line, string[] Cells, int End, bool Terminated);

/// <summary>
/// Lumen's one CSV reader and writer (RFC 4180): cells holding a comma, a quote or a line break are
/// quoted, quotes doubled; a quoted cell may span lines. Every table Lumen reads (labels, image lists)
/// or writes (predictions, history, out-of-fold predictions) goes through here.
/// </summary>
public static class Csv
{
    private static readonly char[] NeedsQuotes = { ',', '"', '\n', '\r' };

    /// <summary>One cell as it is written: quoted when it holds a comma, a quote or a line break.</summary>
    public static string Cell(string value) =>
        value.IndexOfAny(NeedsQuotes) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";

    /// <summary>One row as it is written, without its line break.</summary>
    public static string Row(IEnumerable<string> cells) => string.Join(",", cells.Select(Cell));

    /// <summary>The rows of <paramref name="text"/> (a header is a row like the others); blank rows (no cell but white space) are skipped.</summary>
    public static IEnumerable<CsvRow> Parse(string text)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        int line = 1, rowLine = 1, i = 0;
        bool quoted = false;
        while (i < text.Length)
        {
            char c = text[i++];
            if (quoted)
            {
                if (c == '"' && i < text.Length && text[i] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else
                {
                    if (c == '\n') line++;
                    cell.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    quoted = true;
                    break;
                case ',':
                    cells.Add(cell.ToString());
                    cell.Clear();
                    break;
                case '\r' when i < text.Length && text[i] == '\n':
                    break;
                case '\n':
                    cells.Add(cell.ToString());
                    if (!IsBlank(cells)) yield return new CsvRow(rowLine, cells.ToArray(), i, true);
                    cells.Clear();
                    cell.Clear();
                    rowLine = ++line;
                    break;
                default:
                    cell.Append(c);
                    break;
            }
        }
        cells.Add(cell.ToString());
        if (!IsBlank(cells)) yield return new CsvRow(rowLine, cells.ToArray(), text.Length, false);
    }

    private static bool IsBlank(List<string> cells) => cells.All(string.IsNullOrWhiteSpace);

    /// <summary>The rows of the file at <paramref name="path"/> (UTF-8, with or without a byte-order mark).</summary>
    public static IReadOnlyList<CsvRow> ReadFile(string path) => Parse(File.ReadAllText(path)).ToList();
}
