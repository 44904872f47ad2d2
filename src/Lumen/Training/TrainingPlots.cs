using ScottPlot;
using Lumen.Files;

namespace Lumen.Training;

/// <summary>PNG plots of training (ScottPlot): the LR finder curve, losses and metrics per epoch.</summary>
public static class TrainingPlots
{
    /// <summary>Loss against learning rate on a log axis, with fastai's suggestions marked.</summary>
    public static void LrFind(LrFindResult result, string path)
    {
        var plot = NewPlot("Learning-rate finder", "learning rate (log scale)", "smoothed loss");
        var x = result.LearningRates.Select(Math.Log10).ToArray();
        var line = plot.Add.ScatterLine(x, result.Losses.ToArray());
        line.LineWidth = 2;
        foreach (var (name, lr, color) in new[] { ("valley", result.Valley, Colors.Red), ("minimum/10", result.Minimum, Colors.Green), ("steep", result.Steep, Colors.Orange) })
        {
            var v = plot.Add.VerticalLine(Math.Log10(lr), 1.5f, color);
            v.LegendText = $"{name}: {lr:0.##e0}";
            v.LinePattern = LinePattern.Dashed;
        }
        plot.ShowLegend(Alignment.UpperLeft);
        LogTicks(plot);
        Save(plot, path);
    }

    /// <summary>Smoothed training loss per batch and validation loss at each epoch's end.</summary>
    public static void Losses(Learner learner, string path)
    {
        var plot = NewPlot("Training and validation loss", "batches processed", "loss");
        if (learner.BatchLosses.Count > 0)
        {
            var train = plot.Add.ScatterLine(Enumerable.Range(1, learner.BatchLosses.Count).Select(i => (double)i).ToArray(), learner.BatchLosses.ToArray());
            train.LegendText = "train (smoothed)";
        }
        if (learner.History.Any(r => !double.IsNaN(r.ValidLoss)))
        {
            double perEpoch = (double)learner.BatchLosses.Count / learner.History.Count;
            var valid = plot.Add.Scatter(learner.History.Select((_, i) => (i + 1) * perEpoch).ToArray(), learner.History.Select(r => r.ValidLoss).ToArray());
            valid.LegendText = "valid";
            valid.MarkerSize = 8;
        }
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>Each metric per epoch.</summary>
    public static void Metrics(IReadOnlyList<EpochRecord> history, string path)
    {
        var plot = NewPlot("Validation metrics", "epoch", "value");
        foreach (string name in history.SelectMany(r => r.Metrics.Keys).Distinct())
        {
            var s = plot.Add.Scatter(history.Select(r => (double)r.Epoch + 1).ToArray(), history.Select(r => r.Metrics[name]).ToArray());
            s.LegendText = name;
        }
        plot.ShowLegend(Alignment.LowerRight);
        Save(plot, path);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel) => Lumen.Imaging.Charts.NewPlot(title, xLabel, yLabel);

    private static void LogTicks(Plot plot)
    {
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => $"{Math.Pow(10, v):0.#e0}",
            IntegerTicksOnly = true,
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        };
        plot.Axes.Bottom.TickGenerator = ticks;
    }

    private static void Save(Plot plot, string path)
    {
        byte[] png = plot.GetImageBytes(900, 560, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
