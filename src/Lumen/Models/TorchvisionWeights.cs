using Lumen.Files;
using System.Collections;
using System.Diagnostics;
using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace Lumen.Models;

/// <summary>
/// torchvision's ImageNet weights (<c>.pth</c> state dicts): loaded from a file through
/// TorchSharp.PyBridge, or from Lumen's cache, or downloaded once from torchvision's URL with
/// torchvision's check (the file name carries the first hex digits of its SHA-256) and an atomic write.
/// </summary>
public static class TorchvisionWeights
{
    /// <summary>Where torchvision publishes its weights. <c>LUMEN_TORCHVISION_URL</c> overrides it (a mirror).</summary>
    public static string BaseUrl => Environment.GetEnvironmentVariable("LUMEN_TORCHVISION_URL") is { Length: > 0 } url
        ? url.TrimEnd('/') + "/"
        : "https://download.pytorch.org/models/";

    /// <summary>The cached file of <paramref name="architecture"/>'s weights, downloading it if needed.</summary>
    /// <exception cref="LumenException">The download failed (offline, wrong checksum); the message says
    /// which file to fetch and where to put it.</exception>
    public static string Resolve(Architecture architecture, IProgressReporter? progress = null)
    {
        string destination = Path.Combine(LumenHome.Weights, architecture.TorchvisionFile);
        if (File.Exists(destination)) return destination;
        Download(new Uri(architecture.TorchvisionUrl), HashPrefix(architecture.TorchvisionFile), destination, progress ?? NullProgress.Instance);
        return destination;
    }

    /// <summary>torchvision's convention: the part after the last '-' of the file name is a SHA-256 prefix.</summary>
    internal static string HashPrefix(string fileName)
    {
        string stem = Path.GetFileNameWithoutExtension(fileName);
        int dash = stem.LastIndexOf('-');
        return dash >= 0 ? stem[(dash + 1)..] : "";
    }

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="destination"/> (<see cref="Downloader"/>: resuming,
    /// retried), verified against <paramref name="sha256Prefix"/>; nothing is left at the destination
    /// unless the file is complete and verified.
    /// </summary>
    public static void Download(Uri url, string sha256Prefix, string destination, IProgressReporter progress, Downloader? downloader = null) =>
        (downloader ?? new Downloader()).Fetch(url, destination, progress, Path.GetFileName(destination),
            $"Without internet access, download {url} elsewhere and put it at {destination}, or give that file as the weights (a .pth path).", sha256Prefix);

    /// <summary>
    /// Copies a torchvision state dict into <paramref name="body"/> by parameter name. The classifier
    /// (<c>fc.*</c>, <c>classifier.*</c>) is ignored since Lumen puts its own head on the body.
    /// </summary>
    /// <exception cref="LumenException">The file is not a state dict, or does not fit the body (the
    /// message names the first mismatching parameters).</exception>
    public static void LoadInto(Module body, string path, string architectureName)
    {
        if (!File.Exists(path)) throw new OptionException(OptionName.Weights, $"file '{path}' does not exist");
        Hashtable table;
        try
        {
            table = PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not LumenException)
        {
            throw new OptionException(OptionName.Weights, $"'{path}' is not a PyTorch state dict (.pth written by torch.save): {e.Message}", e);
        }
        // Training checkpoints often wrap the weights: {"state_dict": {...}} or {"model": {...}}.
        foreach (string wrapper in new[] { "state_dict", "model" })
            if (table[wrapper] is Hashtable inner) table = inner;

        var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table)
            if (entry.Key is string key && entry.Value is Tensor t) source[key.StartsWith("module.") ? key[7..] : key] = t;
        try
        {
            CopyStateDict(body, source, $"'{path}'", architectureName);
        }
        finally
        {
            foreach (var t in source.Values) t.Dispose();
        }
    }

    internal static void CopyStateDict(Module body, IReadOnlyDictionary<string, Tensor> source, string sourceName, string architectureName)
    {
        Dictionary<string, Tensor> target = body.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k) && !k.EndsWith("num_batches_tracked")).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k) && !k.StartsWith("fc.") && !k.StartsWith("classifier.")).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            string detail = string.Join("; ", new[]
            {
                missing.Count > 0 ? $"missing {missing.Count} (e.g. {string.Join(", ", missing.Take(3))})" : null,
                unexpected.Count > 0 ? $"unexpected {unexpected.Count} (e.g. {string.Join(", ", unexpected.Take(3))})" : null,
            }.Where(s => s is not null));
            throw new OptionException(OptionName.Weights, $"{sourceName} does not fit {architectureName}: {detail}. Is it a torchvision {architectureName} state dict?");
        }
        using var noGrad = no_grad();
        foreach (var (key, t) in target)
        {
            if (!source.TryGetValue(key, out Tensor? s)) continue;
            if (!t.shape.SequenceEqual(s.shape))
                throw new OptionException(OptionName.Weights, $"{sourceName} does not fit {architectureName}: '{key}' has shape [{string.Join(",", s.shape)}], expected [{string.Join(",", t.shape)}]");
            t.copy_(s.to(t.dtype));
        }
    }
}
