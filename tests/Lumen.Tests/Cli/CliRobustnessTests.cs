using System.ComponentModel;
using System.Reflection;
using Lumen.Tests.Support;
using Spectre.Console.Cli;
using Lumen.Files;
using Lumen.Cli.Options;

namespace Lumen.Tests;

/// <summary>What a new user meets first: help, version, export and messages that never crash.</summary>
[Collection(nameof(ConsoleCollection))]
public class CliRobustnessTests
{
    private static (int Code, string Error) Run(params string[] args) => InProcessCli.Run(args);

    public static TheoryData<string> Commands => new()
    {
        "data", "train", "cv", "lr-find", "predict", "evaluate", "serve", "export", "interpret", "report", "calibrate", "health",
        "datasets", "datasets list", "datasets get", "datasets add", "models", "show-batch",
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandsHelpWorks(string command)
    {
        var (code, error) = Run(command.Split(' ').Append("--help").ToArray());
        Assert.True(code == 0, $"lumen {command} --help exited {code}: {error}");
    }

    [Fact]
    public void EveryOptionAndArgumentIsDescribed()
    {
        var settings = typeof(Lumen.Cli.Program).Assembly.GetTypes().Where(t => typeof(CommandSettings).IsAssignableFrom(t));
        var undescribed = settings.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Where(p => p.GetCustomAttribute<CommandOptionAttribute>() is not null || p.GetCustomAttribute<CommandArgumentAttribute>() is not null)
            .Where(p => string.IsNullOrWhiteSpace(p.GetCustomAttribute<DescriptionAttribute>()?.Description))
            .Select(p => $"{p.DeclaringType!.Name}.{p.Name}").Distinct().ToList();
        Assert.True(undescribed.Count == 0, "options without a description: " + string.Join(", ", undescribed));
    }

    /// <summary>Flags that name a file or folder a command writes besides its --out (each a distinct artefact).</summary>
    private static readonly string[] NamedOutputs = { "--onnx", "--csharp", "--save-masks", "--draw", "--coco" };

    /// <summary>Inputs that are not a table of images: a segmentation's masks folder and its classes file.</summary>
    private static readonly string[] NamedInputs = { "--masks", "--codes", "--boxes" };

    private static IEnumerable<(Type Settings, PropertyInfo Property, CommandOptionAttribute Option)> AllOptions() =>
        typeof(Lumen.Cli.Program).Assembly.GetTypes().Where(t => typeof(CommandSettings).IsAssignableFrom(t))
            .SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Select(p => (Settings: t, Property: p, Option: p.GetCustomAttribute<CommandOptionAttribute>()!)))
            .Where(o => o.Option is not null);

    /// <summary>
    /// One meaning per flag on every command: --csv is an input table, a command's output file or
    /// folder is -o/--out, and any other option naming a file or folder is a deliberate named output.
    /// </summary>
    [Fact]
    public void EveryCommandsFileOptionsFollowTheFlagConvention()
    {
        var problems = new List<string>();
        foreach (var (settings, property, option) in AllOptions())
        {
            string where = $"{settings.Name}.{property.Name}";
            string description = property.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";
            string? value = option.ValueName;
            if (option.LongNames.Contains("out") && (!option.ShortNames.Contains("o") || value is not ("FILE" or "DIR")))
                problems.Add($"{where}: --out is '-o|--out <FILE or DIR>'");
            if (option.LongNames.Contains("csv") && (value != "FILE" || description.StartsWith("Write", StringComparison.Ordinal)))
                problems.Add($"{where}: --csv is an input table (<FILE>), never an output");
            if (value is "FILE" or "DIR" && !option.LongNames.Any(n => n is "out" or "csv" || NamedOutputs.Contains("--" + n) || NamedInputs.Contains("--" + n)))
                problems.Add($"{where}: a {value} option other than --out, --csv or a named output ({string.Join(", ", NamedOutputs)}) or input ({string.Join(", ", NamedInputs)})");
            if (value is not null && value.Contains("FOLDER", StringComparison.Ordinal))
                problems.Add($"{where}: a folder is <DIR>");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Contains(AllOptions(), o => o.Settings.Name == "Settings" && o.Property.DeclaringType!.DeclaringType?.Name == "PredictCommand" && o.Option.LongNames.Contains("out"));
    }

    /// <summary>Every option the library can name reads as a flag that exists, or is declared to have none.</summary>
    [Fact]
    public void EveryLibraryOptionHasAFlagThatExistsOrIsDeclaredWithoutOne()
    {
        var flags = AllOptions().SelectMany(o => o.Option.LongNames.Select(n => "--" + n)).ToHashSet();
        var problems = new List<string>();
        foreach (var name in Enum.GetValues<OptionName>())
        {
            bool mapped = Lumen.Cli.Options.OptionFlags.Flags.TryGetValue(name, out string? flag), without = Lumen.Cli.Options.OptionFlags.WithoutFlag.Contains(name);
            if (mapped == without) problems.Add($"{name}: {(mapped ? "both mapped and declared without a flag" : "neither mapped to a flag nor declared without one")}");
            if (mapped && !flags.Contains(flag!)) problems.Add($"{name}: maps to {flag}, which no command has");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    public static TheoryData<string> CommandsWithCsv => new() { "data", "train", "cv", "lr-find", "show-batch", "evaluate", "interpret", "report", "predict" };

    /// <summary>Every command that takes --csv reads it, and a missing one is refused by name (predict's points to --out).</summary>
    [Trait("Category", Category.Slow)]
    [Theory]
    [MemberData(nameof(CommandsWithCsv))]
    public void CsvIsAnInputTableOnEveryCommand(string command)
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 2, size: 16, prefix: "data");
        string missing = dir.File("absent.csv");
        string[] args = command switch
        {
            "evaluate" or "interpret" or "report" or "predict" => new[] { command, TinyModel.Save(dir.File("m.lumen")), dir.File("data") },
            _ => new[] { command, dir.File("data") },
        };
        string[] output = command is "show-batch" or "lr-find" ? new[] { "--out", dir.File("out.png") } : command is "predict" ? Array.Empty<string>() : new[] { "--out", dir.File("out") };
        var (code, error) = Run(args.Concat(output).Concat(new[] { "--csv", missing }).ToArray());
        Assert.Equal(1, code);
        Assert.Contains("absent.csv", error);
        Assert.Contains("does not exist", error);
        if (command == "predict") Assert.Contains("--out", error);
        Assert.DoesNotContain("unexpected", error);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void PredictWritesItsTableWithOutAndReadsTheImagesToPredictFromCsv()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3, size: 16, prefix: "data");
        string model = TinyModel.Save(dir.File("m.lumen"));
        File.WriteAllText(dir.File("list.csv"), "file\nb/img001.png\na/img002.png\n");
        var (code, error) = Run("predict", model, dir.File("data"), "--csv", dir.File("list.csv"), "--out", dir.File("preds.csv"));
        Assert.True(code == 0, error);
        var rows = Lumen.Files.Csv.ReadFile(dir.File("preds.csv"));
        Assert.Equal("file,label,probability,top_k", string.Join(",", rows[0].Cells));
        Assert.Equal(new[] { dir.File("data", "b", "img001.png"), dir.File("data", "a", "img002.png") }, rows.Skip(1).Select(r => r.Cells[0]));
    }

    [Fact]
    public void ExportWritesTheOnnxFileAndExitsZero()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("model.lumen"));
        var (code, error) = Run("export", model, "--onnx", dir.File("model.onnx"));
        Assert.True(code == 0, error);
        Assert.True(new FileInfo(dir.File("model.onnx")).Length > 1_000_000);
    }

    [Theory]
    [InlineData("15m", 900)]
    [InlineData("90s", 90)]
    [InlineData("1h30m", 5400)]
    [InlineData("2.5h", 9000)]
    [InlineData("10", 600)]
    [InlineData("1m30s", 90)]
    public void BudgetDurationsParse(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Lumen.Cli.Commands.TrainCommand.Settings.ParseDuration(text));

    [Theory]
    [InlineData("soon")]
    [InlineData("0m")]
    [InlineData("15 minutes")]
    public void ABadBudgetIsRefusedNamingTheFlag(string budget)
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 2, size: 16, prefix: "data");
        var (code, error) = Run("train", dir.File("data"), "--budget", budget, "--out", dir.File("out"));
        Assert.NotEqual(0, code);
        Assert.Contains("--budget must be", error);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void AProgressiveStartSizeNotBelowTheSizeIsRefusedNamingTheFlag()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 2, size: 16, prefix: "data");
        var (code, error) = Run("train", dir.File("data"), "--size", "64", "--progressive", "64", "--out", dir.File("out"));
        Assert.NotEqual(0, code);
        Assert.Contains("--progressive must be below the training size (64 px), got 64", error);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Trait("Category", Category.Process)]
    [Fact]
    public void VersionIsPrinted()
    {
        var (code, output) = LumenProcess.Run("--version");
        Assert.True(code == 0, output);
        Assert.Equal(Lumen.Cli.Program.Version, output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", Lumen.Cli.Program.Version);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void BracketsInFileClassAndErrorTextAreNotMarkup()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("m [v1].lumen"), new[] { "[red]", "green[/]" });
        var image = TestImages.Encode(TestImages.Pattern(40, 40, 1), SkiaSharp.SKEncodedImageFormat.Png);
        string file = dir.Write("scan [1] [bold].png", image);
        var (code, error) = Run("predict", model, file);
        Assert.True(code == 0, error);
        (code, error) = Run("data", dir.File("no [such] folder"));
        Assert.Equal(1, code);
        Assert.Contains("no [such] folder", error);
        (code, error) = Run("export", model, "--onnx", dir.File("out [x].onnx"));
        Assert.True(code == 0, error);
    }

    [Fact]
    public void ModelsListsEveryArchitectureQuickly()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, error) = Run("models");
        Assert.True(code == 0, error);
        // It used to initialise ~600M random weights (14 s); on the meta device it takes well under a second.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"lumen models took {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void ASecondTrainIntoTheSameOutStopsAtOnce()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4);
        string outDir = dir.File("out");
        using (FolderLock.Acquire(outDir))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (code, error) = Run("train", dir.Path, "--out", outDir, "--size", "16", "--epochs", "1", "--weights", "none");
            Assert.Equal(1, code);
            Assert.Contains("--out", error);
            Assert.Contains("in use by another Lumen run", error);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        }
        // Released: the folder can be claimed again, and the lock file is gone.
        using (FolderLock.Acquire(outDir)) { }
        Assert.False(File.Exists(Path.Combine(outDir, FolderLock.FileName)));
    }

    [Trait("Category", Category.Process)]
    [Fact]
    public void WhatTheReadmesCommandsWriteIsIgnoredByGit()
    {
        var root = new DirectoryInfo(Repo.Root);
        Assert.True(Directory.Exists(Path.Combine(root.FullName, ".git")), "the tests run from a git checkout of Lumen");
        var outputs = new[] { "runs/mri/model.lumen", "lumen-out/history.csv", "lumen-interpret/report.html", "interp/metrics.json", "batch.png", "lr_find.png", "model.onnx", "out.csv" };
        var psi = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = root!.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "check-ignore", "--no-index", "--verbose", "--non-matching" }.Concat(outputs)) psi.ArgumentList.Add(a);
        using var git = System.Diagnostics.Process.Start(psi)!;
        string report = git.StandardOutput.ReadToEnd() + git.StandardError.ReadToEnd();
        git.WaitForExit();
        // --non-matching lists every path; the ones no rule ignores start with "::".
        var notIgnored = report.Split('\n').Where(l => l.StartsWith("::")).ToList();
        Assert.True(notIgnored.Count == 0 && report.Contains(".gitignore"), "not ignored:\n" + report);
    }

    [Fact]
    public void TheLibraryNamesOptionsAndTheCliMapsThemToFlags()
    {
        // No message in the library names a command-line flag: hosts map option names to their own.
        var root = new DirectoryInfo(Repo.Root);
        var flagInString = new System.Text.RegularExpressions.Regex("\"[^\"\n]*(?<![a-z:-])--[a-z][a-z-]+");
        var offenders = Directory.GetFiles(Path.Combine(root!.FullName, "src", "Lumen"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.EndsWith("HtmlReport.cs"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(l => !l.line.TrimStart().StartsWith("//") && flagInString.IsMatch(l.line))
            .Select(l => $"{Path.GetFileName(l.f)}:{l.i + 1}").ToList();
        Assert.True(offenders.Count == 0, "library strings naming CLI flags: " + string.Join(", ", offenders));

        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3);
        var (code, error) = Run("data", dir.Path, "--bs", "0");
        Assert.Equal(1, code);
        Assert.Contains("--bs must be at least 1, got 0", error);
        (code, error) = Run("train", dir.Path, "--arch", "resnet9000", "--out", dir.File("out"));
        Assert.Equal(1, code);
        Assert.Contains("--arch 'resnet9000' is unknown", error);
    }

    [Fact]
    public void AnUnexpectedNativeErrorIsOneLineAndTheDebugHint()
    {
        // A real LibTorch error: its message carries the C++ source location and the native frames.
        var error = Assert.ThrowsAny<Exception>(() =>
        {
            using var t = TorchSharp.torch.zeros(2);
            using var v = t.view(3);
        });
        Assert.Contains("frame #", error.Message);
        string text = Lumen.Cli.Program.UnexpectedErrorText(error);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"lumen: unexpected error ({error.GetType().Name}): ", lines[0]);
        Assert.Contains("shape '[3]' is invalid", lines[0]);
        Assert.DoesNotContain("frame #", text);
        Assert.Equal("lumen: set LUMEN_DEBUG=1 to see the stack trace, and please report it.", lines[1]);
    }
}
