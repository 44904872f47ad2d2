using Lumen.Imaging;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>Runs the real <c>lumen</c> entry point in-process. Not parallel: it redirects Console.Error.</summary>
[Collection(nameof(ConsoleCollection))]
public class CliTests
{
    private static (int Code, string Error) Run(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void DataCommandSucceedsOnAFolder()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5);
        Assert.Equal(0, Run("data", dir.Path, "--size", "16").Code);
    }

    [Fact]
    public void ShowBatchWritesAPng()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 8, size: 40);
        string png = dir.File("out", "batch.png");
        var (code, error) = Run("show-batch", dir.Path, "--out", png, "--size", "32", "--aug", "endoscopy", "-n", "6");
        Assert.True(code == 0, error);
        var img = ImageDecoder.Decode(png);
        Assert.True(img.Width > 100 && img.Height > 100);
    }

    [Fact]
    public void UserErrorsAreOneLineWithoutAStackTrace()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "only" }, 3);
        var (code, error) = Run("data", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("only one class ('only')", error);
        Assert.DoesNotContain("   at ", error);
        Assert.Single(error.Split('\n'), l => l.StartsWith("lumen:"));

        (code, error) = Run("show-batch", dir.Path, "--aug", "wild");
        Assert.Equal(1, code);
        Assert.Contains("--aug must be one of default, endoscopy, boxes, none", error);

        (code, error) = Run("data", dir.File("missing"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error);

        (code, _) = Run("data", dir.Path, "--valid-pct", "lots");
        Assert.Equal(1, code);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void DetectionDataTrainsAndPredictsBoxTablesCocoResultsAndDrawingsFromTheCommandLine()
    {
        using var dir = new TempFolder();
        string csv = DetectionImages.WriteCsv(dir, 10, prefix: "data/");
        var output = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(output) });
        try
        {
            var (code, error) = Run("data", dir.File("data"), "--boxes", csv, "--size", "32");
            Assert.True(code == 0, error);
            // The boxes file is also found inside the data's folder.
            (code, error) = Run("show-batch", dir.File("data"), "--boxes", "boxes.csv", "--size", "32", "--out", dir.File("batch.png"));
            Assert.True(code == 0, error);
            (code, error) = Run("train", dir.File("data"), "--boxes", csv, "--size", "48", "--weights", "none", "--epochs", "1", "--freeze-epochs", "0", "--bs", "4",
                "--lr", "1e-3", "--out", dir.File("run"));
            Assert.True(code == 0, error);
            (code, error) = Run("predict", dir.File("run", "model.lumen"), dir.File("data", "images"), "--score-threshold", "0.01",
                "--out", dir.File("boxes.out.csv"), "--coco", dir.File("coco.json"), "--draw", dir.File("drawn"));
            Assert.True(code == 0, error);
            (code, error) = Run("predict", dir.File("run", "model.lumen"), dir.File("data", "images"), "--save-masks", dir.File("masks"));
            Assert.Equal(1, code);
            Assert.Contains("--save-masks needs a segmentation model", error);
            (code, error) = Run("evaluate", dir.File("run", "model.lumen"), dir.File("data"), "--boxes", csv, "--out", dir.File("eval"));
            Assert.True(code == 0, error);
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = console;
        }
        string text = output.ToString();
        Assert.Contains("boxes per image: none 0, one 5, two 5", text);
        Assert.Contains("ap50", text);
        Assert.Equal("file,label,score,xmin,ymin,xmax,ymax", File.ReadLines(dir.File("boxes.out.csv")).First());
        Assert.StartsWith("[", File.ReadAllText(dir.File("coco.json")));
        Assert.Equal(10, Directory.GetFiles(dir.File("drawn"), "*.png").Length);
        Assert.True(File.Exists(dir.File("eval", "precision_recall.png")));
        Assert.True(File.Exists(dir.File("batch.png")));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void CvPrintsFoldsAndMeanAndNamesItsFlagsInErrors()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4, size: 32, prefix: "data");
        var (code, error) = Run("cv", dir.File("data"), "--folds", "1", "--out", dir.File("cv"));
        Assert.Equal(1, code);
        Assert.Contains("--folds must be at least 2, got 1", error);

        var output = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(output) });
        try
        {
            (code, error) = Run("cv", dir.File("data"), "--folds", "2", "--size", "32", "--weights", "none", "--epochs", "1", "--freeze-epochs", "0", "--bs", "4", "--out", dir.File("cv"));
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = console;
        }
        Assert.True(code == 0, error);
        Assert.Contains("mean ± sd", output.ToString());
        Assert.Contains("2-fold accuracy", output.ToString());
        Assert.True(File.Exists(dir.File("cv", "cv.json")));
    }
}

[CollectionDefinition(nameof(ConsoleCollection), DisableParallelization = true)]
public sealed class ConsoleCollection { }
