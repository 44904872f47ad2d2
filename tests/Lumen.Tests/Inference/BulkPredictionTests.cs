using System.Diagnostics;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Tests.Support;

namespace Lumen.Tests;

public class BulkPredictionTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void PipelinedRowsComeInInputOrderAndEqualOneByOnePredictions()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b", "c" }, 9, size: 40);
        dir.Write("b/broken.png", "not an image"u8.ToArray());
        using var predictor = Predictor.Load(TinyModel.Save(dir.File("m.lumen"), new[] { "a", "b", "c" }));
        var files = FolderSource.ImageFiles(dir.Path).ToList();
        Assert.Equal(28, files.Count);

        var rows = BulkPrediction.Run(predictor, files, new BulkPredictionOptions { BatchSize = 4, Lookahead = 3, DecodeWorkers = 2 }).ToList();

        Assert.Equal(files, rows.Select(r => r.Path));
        var broken = Assert.Single(rows, r => r.Prediction is null);
        Assert.EndsWith("broken.png", broken.Path);
        Assert.False(string.IsNullOrEmpty(broken.Error));
        foreach (var row in rows.Where(r => r.Prediction is not null))
        {
            var alone = predictor.Predict(row.Path);
            Assert.Equal(alone.Label, row.Prediction!.Label);
            Assert.Equal(alone.Probability, row.Prediction.Probability, 4);
        }
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void BadSettingsNameTheOption()
    {
        using var dir = new TempFolder();
        using var predictor = Predictor.Load(TinyModel.Save(dir.File("m.lumen")));
        Assert.Equal(OptionName.BatchSize, Assert.Throws<OptionException>(() => BulkPrediction.Run(predictor, new[] { "x.png" }, new BulkPredictionOptions { BatchSize = 0 })).Option);
        Assert.Equal(OptionName.Lookahead, Assert.Throws<OptionException>(() => BulkPrediction.Run(predictor, new[] { "x.png" }, new BulkPredictionOptions { Lookahead = 0 })).Option);
    }

    [Fact]
    public void ResumingKeepsWrittenRowsDropsAHalfLineAndFinishesTheFile()
    {
        using var dir = new TempFolder();
        string csv = dir.File("out", "p.csv");
        using (var first = PredictionCsv.Open(csv, 2, resume: false))
        {
            Assert.Empty(first.Done);
            // Dispose without Complete: what a crash leaves behind.
        }
        string partial = PredictionCsv.PartialPath(csv);
        File.AppendAllText(partial, "\"a,b.png\",x,0.9000,x:0.9000\nplain.png,y,0.8000,y:0.8000\nhalf-writ");
        using (var resumed = PredictionCsv.Open(csv, 2, resume: true))
        {
            Assert.Equal(new[] { "a,b.png", "plain.png" }, resumed.Done.Order(StringComparer.Ordinal));
            resumed.Complete();
        }
        Assert.False(File.Exists(partial));
        Assert.Equal(PredictionCsv.Header + "\n\"a,b.png\",x,0.9000,x:0.9000\nplain.png,y,0.8000,y:0.8000\n", File.ReadAllText(csv));
        // A finished CSV resumes too (new images added to the folder later).
        using (var again = PredictionCsv.Open(csv, 2, resume: true)) Assert.Equal(2, again.Done.Count);
        File.WriteAllText(csv + ".partial", "something else\nrow\n");
        Assert.Contains("not a Lumen predictions CSV", Assert.Throws<LumenException>(() => PredictionCsv.Open(csv, 2, resume: true)).Message);
    }

    [Trait("Category", Category.Process)]
    [Trait("Category", Category.Slow)]
    [Fact]
    public void AKilledPredictResumesToTheSameCsvAsAnUninterruptedRun()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 60, size: 48, prefix: "images");
        // 224 px so that a run lasts seconds: long enough to be killed in the middle.
        string model = TinyModel.Save(dir.File("m.lumen"), size: 224);
        string images = dir.File("images");

        string whole = dir.File("whole.csv");
        var (code, output) = LumenProcess.Run("predict", model, images, "--out", whole, "--bs", "4");
        Assert.True(code == 0, output);
        Assert.Equal(121, File.ReadAllLines(whole).Length);

        // Kill the real CLI once some rows are in the partial file.
        string cut = dir.File("cut.csv");
        string partial = PredictionCsv.PartialPath(cut);
        using (var process = Process.Start(LumenProcess.StartInfo(new[] { "predict", model, images, "--out", cut, "--bs", "4" }))!)
        {
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(partial) && File.ReadAllLines(partial).Length > 10) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
                Thread.Sleep(20);
            Assert.False(process.HasExited, "predict finished before it could be killed");
            process.Kill();
            process.WaitForExit();
        }
        Assert.False(File.Exists(cut));
        int kept = File.ReadAllLines(partial).Length - 1;
        Assert.InRange(kept, 10, 119);

        (code, output) = LumenProcess.Run("predict", model, images, "--out", cut, "--bs", "4", "--resume");
        Assert.True(code == 0, output);
        Assert.Contains("already in the CSV", output);
        Assert.False(File.Exists(partial));
        // Same rows in the same order; batches were cut differently, so allow the last digit to differ.
        var expected = File.ReadAllLines(whole).Select(l => l.Split(',')).ToList();
        var actual = File.ReadAllLines(cut).Select(l => l.Split(',')).ToList();
        Assert.Equal(expected.Select(r => (r[0], r[1])), actual.Select(r => (r[0], r[1])));
        for (int i = 1; i < expected.Count; i++)
            Assert.Equal(double.Parse(expected[i][2], System.Globalization.CultureInfo.InvariantCulture), double.Parse(actual[i][2], System.Globalization.CultureInfo.InvariantCulture), 3);
    }
}
