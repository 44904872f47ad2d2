using System.Text.RegularExpressions;
using Lumen.Cli;
using Spectre.Console;
using Lumen.Cli.Terminal;

namespace Lumen.Tests;

/// <summary>Progress and the epoch table stay readable on 80- and 120-column terminals.</summary>
public class ConsoleRenderingTests
{
    private static readonly Regex Ansi = new(@"\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]", RegexOptions.Compiled);

    private static (IAnsiConsole Console, StringWriter Output) Terminal(int width)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
        });
        console.Profile.Width = width;
        console.Profile.Capabilities.Unicode = true;
        return (console, output);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void FinishedEpochsPrintWholeLinesAndLiveBarsKeepTheirRoom(int width)
    {
        var (console, output) = Terminal(width);
        string Summary(int e) => $"epoch {e} (unfrozen)  train_loss 0.{e}234  valid_loss 0.{e}345  error_rate 0.1250  accuracy 0.8750  f1_macro 0.8612  mcc 0.8321  01:23";
        ConsoleProgress.Run(console, live: true, progress =>
        {
            for (int e = 1; e <= 3; e++)
            {
                using var task = progress.Start($"Epoch {e}/4 (unfrozen), training and validating on 384 images", 10);
                for (int b = 0; b < 10; b++) { task.Advance(); Thread.Sleep(15); }
                task.Complete(Summary(e));
            }
            using var last = progress.Start("Epoch 4/4 (unfrozen), training and validating on 384 images", 10);
            last.Advance(5);
            Thread.Sleep(250); // a refresh draws the running bar
            return 0;
        });
        string[] lines = Ansi.Replace(output.ToString(), "").Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        for (int e = 1; e <= 3; e++)
        {
            // A summary longer than the terminal wraps; it is never cut.
            string summary = Summary(e);
            string joined = string.Concat(lines.Select(l => l.TrimEnd()));
            Assert.Contains(summary.Replace(" ", ""), joined.Replace(" ", ""));
        }
        var bars = lines.Where(l => l.Contains('%')).ToList();
        Assert.NotEmpty(bars);
        Assert.All(bars, l =>
        {
            Assert.True(l.TrimEnd().Length <= width, $"'{l}' is wider than {width}");
            Assert.Contains("━", l); // the bar itself, not squeezed away
            Assert.Contains("Epoch", l);
        });
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void TheEpochTableNeverCutsAHeaderOrAValue(int width)
    {
        var headers = new[] { "epoch", "phase", "train_loss", "valid_loss", "error_rate", "accuracy", "top_5_accuracy", "f1_macro", "mcc", "time" };
        var rows = Enumerable.Range(1, 5).Select(e => (IReadOnlyList<string>)new[] { e.ToString(), e == 1 ? "frozen" : "unfrozen", "0.9876", "0.8765", "0.1250", "0.8750", "0.9900", "0.8612", "0.8321", "01:23" }).ToList();
        var lines = TextTable.Lines(headers, rows, width);
        Assert.All(lines, l => Assert.True(l.Length <= width, $"'{l}' is wider than {width}"));
        string text = string.Join("\n", lines);
        Assert.DoesNotContain("…", text);
        foreach (string h in headers) Assert.Contains(h, text);
        // Every row keeps its epoch number in each band, so a reader can match the bands' rows.
        var headerLines = lines.Where(l => l.StartsWith("epoch")).ToList();
        Assert.Equal(width >= 120 ? 1 : 2, headerLines.Count);
        Assert.All(lines.Where(l => l.Length > 0 && !l.StartsWith("epoch")), l => Assert.Matches(@"^\s*\d+\s", l));
    }
}

/// <summary>Top-loss captions keep both class names whole.</summary>
public class CaptionTests
{
    [Theory]
    [InlineData("pituitary", "meningioma")]
    [InlineData("dyed-resection-margins", "dyed-lifted-polyps")]
    public void TopLossCaptionsShowPredictedAndActualWhole(string predicted, string actual)
    {
        var item = new Lumen.Data.LabelledItem("x.png", actual);
        string caption = Lumen.Interpret.InterpretationPlots.TopLossCaption(new Lumen.Interpret.TopLoss(0, item, predicted, actual, 3.21f, 0.04f));
        var lines = caption.Split('\n');
        Assert.Equal(predicted, lines[0]);
        Assert.Equal(actual, lines[1]);
        // The grid draws 180 px cells with 16 px captions: each line fits whole (smaller if need be).
        foreach (string line in lines)
            Assert.Equal(line, Lumen.Imaging.ImageGrid.FitLine(line, 16f, 180f).Text);
    }
}
