using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lumen.Models;
using TorchSharp.PyBridge;

namespace Lumen.Bench;

/// <summary>
/// Runs a plain-PyTorch baseline script of bench/python (Debian's python3-torch) from the same
/// pretrained body as Lumen's default, and hands each printed line to the caller.
/// </summary>
internal static class PythonBaseline
{
    private const string Python = "/usr/bin/python3";

    /// <summary>
    /// Writes Lumen's default ResNet-18 body (<c>resnet18-body.pth</c>) and its input normalisation
    /// (<c>normalization.json</c>) into <paramref name="work"/>, runs <paramref name="script"/> with
    /// <c>--body</c>, <c>--norm</c> and <paramref name="arguments"/>, and passes each output line to
    /// <paramref name="onLine"/>. False (and says why) when python is missing or the script fails.
    /// </summary>
    public static bool Run(string work, string script, string arguments, Action<string> onLine)
    {
        if (!File.Exists(Python))
        {
            Console.WriteLine($"PyTorch baseline skipped: {Python} not found (apt-get install python3-torch python3-torchvision python3-pil python3-numpy)");
            return false;
        }
        string body = Path.Combine(work, "resnet18-body.pth");
        string norm = Path.Combine(work, "normalization.json");
        using (var model = VisionModel.Create("resnet18", 2))
        {
            model.Body.save_py(body);
            var n = model.Spec.Normalization;
            File.WriteAllText(norm, JsonSerializer.Serialize(new { mean = n.Mean, std = n.Std, scale = n.Scale, bgr = n.Bgr }));
        }
        string command = $"\"{Program.RepoFile("bench", "python", script)}\" --body \"{body}\" --norm \"{norm}\" {arguments}";
        Console.WriteLine($"PyTorch: {Python} {command}");
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(new ProcessStartInfo(Python, command) { RedirectStandardOutput = true })!;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            Console.WriteLine($"  pytorch {line}");
            onLine(line);
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch baseline failed (exit code {process.ExitCode}); its error is above");
            return false;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pytorch: {watch.Elapsed.TotalMinutes:F1} min"));
        return true;
    }

    /// <summary>The value of <c>name=value</c> in a result line such as <c>fold=1 accuracy=0.91 …</c>.</summary>
    public static double Field(string line, string name) =>
        double.Parse(line.Split(' ').Single(p => p.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..], CultureInfo.InvariantCulture);
}
