using System.Globalization;
using System.Text;
using Lumen.Files;

namespace Lumen.Inference;

/// <summary>
/// A predictions CSV (<c>file,label,probability,top_k</c>) written as results arrive. Rows go to
/// <c>&lt;path&gt;.partial</c> and are flushed after every batch, so a crash loses at most the batch in
/// flight; <see cref="Complete"/> moves the finished file to <c>&lt;path&gt;</c>, so an earlier complete CSV
/// is only replaced by a complete one. Resuming continues the partial file (or the finished one) and
/// reports which files it already holds.
/// </summary>
public sealed class PredictionCsv : IDisposable
{
    /// <summary>The header line.</summary>
    public const string Header = "file,label,probability,top_k";

    private readonly StreamWriter _writer;
    private readonly string _path;
    private readonly int _top;
    private bool _completed;

    private PredictionCsv(string path, StreamWriter writer, int top, IReadOnlySet<string> done)
    {
        _path = path;
        _writer = writer;
        _top = top;
        Done = done;
    }

    /// <summary>Where rows are written until <see cref="Complete"/>.</summary>
    public static string PartialPath(string path) => path + ".partial";

    /// <summary>The CSV that process <paramref name="rank"/> of <paramref name="size"/> writes in a sharded prediction (merged by <see cref="Merge"/>).</summary>
    public static string PartPath(string path, int rank, int size) => $"{path}.rank{rank}of{size}";

    /// <summary>
    /// Writes <paramref name="path"/> (atomically) as the rows of the finished <paramref name="parts"/> in
    /// order under one header, then deletes the parts. Returns the number of rows.
    /// </summary>
    /// <exception cref="LumenException">A part is missing or is not a predictions CSV.</exception>
    public static int Merge(string path, IReadOnlyList<string> parts)
    {
        var rows = new List<string>();
        foreach (string part in parts)
        {
            if (!File.Exists(part)) throw new LumenException($"the predictions of one process are missing: '{part}'");
            var lines = File.ReadAllLines(part);
            if (lines.Length == 0 || lines[0] != Header) throw new LumenException($"'{part}' is not a Lumen predictions CSV");
            rows.AddRange(lines.Skip(1));
        }
        AtomicFile.WriteAllText(path, string.Join("\n", rows.Prepend(Header)) + "\n");
        foreach (string part in parts) File.Delete(part);
        return rows.Count;
    }

    /// <summary>Files whose rows the CSV already held when it was opened (empty unless resuming).</summary>
    public IReadOnlySet<string> Done { get; }

    /// <summary>
    /// Opens the CSV for writing. With <paramref name="resume"/>, rows already in <c>&lt;path&gt;.partial</c>
    /// (else in <c>&lt;path&gt;</c>) are kept and listed in <see cref="Done"/>; an unfinished last line is dropped.
    /// </summary>
    /// <param name="path">The CSV's final path.</param>
    /// <param name="top">Classes listed in the top_k column.</param>
    /// <param name="resume">Continue an earlier run instead of starting afresh.</param>
    /// <exception cref="LumenException">The file cannot be written, or the existing one is not a predictions CSV.</exception>
    public static PredictionCsv Open(string path, int top, bool resume)
    {
        if (top < 1) throw new OptionException(OptionName.Top, $"must be at least 1, got {top}");
        string partial = PartialPath(path);
        try
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (folder is not null) Directory.CreateDirectory(folder);
            var done = new HashSet<string>(StringComparer.Ordinal);
            if (resume && !File.Exists(partial) && File.Exists(path)) File.Copy(path, partial);
            if (resume && File.Exists(partial))
            {
                string text = File.ReadAllText(partial);
                var rows = Csv.Parse(text).Where(r => r.Terminated).ToList();  // a crash can leave half a row: drop it
                int end = rows.Count == 0 ? 0 : rows[^1].End;
                if (rows.Count > 0 && Csv.Row(rows[0].Cells) != Header)
                    throw new LumenException($"'{partial}' is not a Lumen predictions CSV (its first line is not '{Header}'); remove it or write elsewhere");
                foreach (var row in rows.Skip(1)) done.Add(row.Cells[0]);
                using (var stream = new FileStream(partial, FileMode.Open, FileAccess.Write)) stream.SetLength(Encoding.UTF8.GetByteCount(text[..end]));
                var writer = new StreamWriter(partial, append: true, new UTF8Encoding(false));
                if (end == 0) writer.Write(Header + "\n");
                return new PredictionCsv(path, writer, top, done);
            }
            var fresh = new StreamWriter(partial, append: false, new UTF8Encoding(false));
            fresh.Write(Header + "\n");
            fresh.Flush();
            return new PredictionCsv(path, fresh, top, done);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LumenException($"cannot write predictions to '{partial}': {e.Message}", e);
        }
    }

    /// <summary>Appends the rows of predicted images (skipped files have no row, so a resume retries them).</summary>
    public void Write(IEnumerable<PredictionRow> rows)
    {
        foreach (var row in rows)
        {
            if (row.Prediction is not { } p) continue;
            _writer.Write(Csv.Row(new[] { row.Path, string.Join(";", p.Labels), Number(p.Probability),
                string.Join(";", p.Top(_top).Select(t => $"{t.Label}:{Number(t.Probability)}")) }));
            _writer.Write('\n');
        }
    }

    /// <summary>Pushes written rows to the file (call after each batch).</summary>
    public void Flush() => _writer.Flush();

    /// <summary>Closes the partial file and moves it to the final path.</summary>
    public void Complete()
    {
        _writer.Flush();
        _writer.Dispose();
        File.Move(PartialPath(_path), _path, overwrite: true);
        _completed = true;
    }

    /// <summary>Closes the file; without <see cref="Complete"/> the rows stay in the partial file for a resume.</summary>
    public void Dispose()
    {
        if (!_completed) _writer.Dispose();
    }

    private static string Number(float value) => value.ToString("F4", CultureInfo.InvariantCulture);
}
