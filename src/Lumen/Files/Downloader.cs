using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Lumen.Files;

/// <summary>
/// Lumen's one HTTP downloader (datasets, pretrained weights): into <c>&lt;destination&gt;.part</c>, resumed
/// with a range request (guarded by <c>If-Range</c> when the server gave a validator, so a changed file
/// starts over instead of being spliced), retried with exponential backoff on network errors and server
/// errors, checked against a SHA-256 prefix when one is known, then moved into place. Nothing appears
/// at the destination unless it is complete (and verified).
/// </summary>
/// <param name="client">The HTTP client (default: one without a timeout, as downloads may take hours).</param>
public sealed class Downloader(HttpClient? client = null)
{
    private static readonly HttpClient Shared = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly HttpClient _http = client ?? Shared;

    /// <summary>Further attempts after a failed one (network error, 5xx, 408, 429).</summary>
    public int Retries { get; init; } = 3;

    /// <summary>The wait before the first retry; each later one waits twice as long.</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where the bytes go until the download is complete.</summary>
    public static string PartialPath(string destination) => destination + ".part";

    /// <summary>Downloads <paramref name="url"/> to <paramref name="destination"/>.</summary>
    /// <param name="url">What to download.</param>
    /// <param name="destination">The final path.</param>
    /// <param name="progress">Receives a task in bytes.</param>
    /// <param name="label">What the progress line and errors call the file.</param>
    /// <param name="manual">What a user without internet access can do instead (ends every error).</param>
    /// <param name="sha256Prefix">The start of the file's SHA-256 (hex), when known: a mismatch discards the file.</param>
    /// <param name="expectedBytes">The size to show progress against when the server does not say.</param>
    /// <exception cref="LumenException">Every attempt failed, or the file is corrupt; the message says what was kept.</exception>
    public void Fetch(Uri url, string destination, IProgressReporter progress, string label, string manual, string? sha256Prefix = null, long expectedBytes = 0)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string part = PartialPath(destination), validator = part + ".validator";
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Attempt(url, part, validator, progress, label, expectedBytes);
                break;
            }
            catch (Exception e) when (IsTransient(e) && attempt < Retries)
            {
                progress.Warn($"downloading {label} failed ({Reason(e)}); retrying in {FirstBackoff.TotalSeconds * (1 << attempt):0.#} s");
                Thread.Sleep(FirstBackoff * (1 << attempt));
            }
            catch (Exception e) when (IsTransient(e) || e is DownloadRefusedException)
            {
                long kept = File.Exists(part) ? new FileInfo(part).Length : 0;
                string resume = kept > 0 ? $" {kept / 1e6:F1} MB were kept; running the command again resumes." : "";
                throw new LumenException($"could not download {label} from {url} ({Reason(e)}).{resume} {manual}", e);
            }
        }
        if (sha256Prefix is not null)
        {
            string digest;
            using (var stream = File.OpenRead(part)) digest = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
            if (!digest.StartsWith(sha256Prefix.ToLowerInvariant(), StringComparison.Ordinal))
            {
                File.Delete(part);
                File.Delete(validator);
                throw new LumenException($"the file downloaded from {url} is corrupt: its SHA-256 starts with {digest[..12]}, expected {sha256Prefix}. It was discarded; try again. {manual}");
            }
        }
        File.Move(part, destination, overwrite: true);
        File.Delete(validator);
    }

    private void Attempt(Uri url, string part, string validator, IProgressReporter progress, string label, long expectedBytes)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0)
        {
            request.Headers.Range = new RangeHeaderValue(have, null);
            if (File.Exists(validator) && File.ReadAllText(validator) is { Length: > 0 } known)
                request.Headers.IfRange = known.StartsWith('"') || known.StartsWith("W/", StringComparison.Ordinal)
                    ? new RangeConditionHeaderValue(new EntityTagHeaderValue(known.TrimStart('W', '/'), known.StartsWith("W/", StringComparison.Ordinal)))
                    : DateTimeOffset.TryParse(known, out var modified) ? new RangeConditionHeaderValue(modified) : null;
        }
        using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0) return;  // the partial file was already complete
        if (!response.IsSuccessStatusCode)
        {
            string status = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
            throw (int)response.StatusCode >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
                ? new HttpRequestException(status) : new DownloadRefusedException(status);
        }
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        if (!resumed) have = 0;  // the server ignored the range, or the file changed (If-Range): start over
        string? etag = response.Headers.ETag?.ToString(), modifiedAt = response.Content.Headers.LastModified?.ToString("R");
        if (!resumed) File.WriteAllText(validator, etag ?? modifiedAt ?? "");
        long total = have + (response.Content.Headers.ContentLength ?? Math.Max(0, expectedBytes - have));
        using var source = response.Content.ReadAsStream();
        using var file = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
        using var task = progress.Start($"Downloading {label}" + (resumed ? $" (resuming at {have / 1e6:F0} MB)" : ""), Math.Max(total, 1));
        task.Advance(have);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            file.Write(buffer, 0, read);
            task.Advance(read);
        }
        if (response.Content.Headers.ContentLength is { } length && file.Length != have + length)
            throw new IOException($"the transfer ended after {file.Length - have:N0} of {length:N0} bytes");
    }

    private static bool IsTransient(Exception e) => e is HttpRequestException or IOException or TaskCanceledException;

    private static string Reason(Exception e) => e.Message;

    /// <summary>The server answered with a client error (404, 403…): retrying would not help.</summary>
    private sealed class DownloadRefusedException(string status) : Exception(status);
}
