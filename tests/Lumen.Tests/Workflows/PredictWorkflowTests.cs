using Lumen.Data;
using Lumen.Distributed;
using Lumen.Files;
using Lumen.Inference;
using Lumen.Tests.Support;
using Lumen.Workflows;

namespace Lumen.Tests;

/// <summary>The library's predict workflow: what <c>lumen predict</c> does, without the CLI or MPI.</summary>
public class PredictWorkflowTests
{
    /// <summary>One process of a job whose collectives are no-ops: the ranks run one after another in this test.</summary>
    private sealed class SequentialRank(int rank, int size) : IProcessGroup
    {
        public int Rank => rank;
        public int Size => size;
        public void AllreduceSum(Span<float> buffer) { }
        public void Broadcast(Span<float> buffer, int root = 0) { }
        public void Barrier() { }
        public void Abort(int exitCode) => throw new InvalidOperationException($"rank {rank} aborted");
        public void Dispose() { }
    }

    [Fact]
    public void ShardsMergeIntoTheTableOneProcessWrites()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3, size: 16, prefix: "images");
        using var predictor = Predictor.Load(TinyModel.Save(dir.File("m.lumen")));
        var files = FolderSource.ImageFiles(dir.File("images"));
        var one = PredictWorkflow.Run(predictor, new PredictRequest { Files = files, Output = dir.File("one.csv") });
        Assert.Equal((6, false, (int?)null), (one.Done, one.Interrupted, one.MergedRows));

        // Rank 1 writes its part; rank 0 (last, as the barrier would make it) writes its own and merges both.
        var second = PredictWorkflow.Run(predictor, new PredictRequest { Files = files, Output = dir.File("two.csv"), Group = new SequentialRank(1, 2) });
        var first = PredictWorkflow.Run(predictor, new PredictRequest { Files = files, Output = dir.File("two.csv"), Group = new SequentialRank(0, 2) });
        Assert.Equal((3, 3, (int?)6), (first.Done, second.Done, first.MergedRows));
        Assert.Null(second.MergedRows);
        Assert.Equal(File.ReadAllText(dir.File("one.csv")), File.ReadAllText(dir.File("two.csv")));
        Assert.False(File.Exists(PredictionCsv.PartPath(dir.File("two.csv"), 1, 2)), "the parts are removed once merged");
    }

    [Fact]
    public void AResumedTableKeepsItsRowsAndPredictsOnlyTheOthers()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3, size: 16, prefix: "images");
        using var predictor = Predictor.Load(TinyModel.Save(dir.File("m.lumen")));
        var files = FolderSource.ImageFiles(dir.File("images"));
        string table = dir.File("preds.csv");
        PredictWorkflow.Run(predictor, new PredictRequest { Files = files.Take(4).ToList(), Output = table });
        var resumed = PredictWorkflow.Run(predictor, new PredictRequest { Files = files, Output = table, Resume = true, KeepRows = true });
        Assert.Equal((2, 4), (resumed.Done, resumed.AlreadyDone));
        Assert.Equal(files.Skip(4), resumed.Predicted.Select(r => r.Path));
        Assert.Equal(files, Csv.ReadFile(table).Skip(1).Select(r => r.Cells[0]));
        Assert.Equal(OptionName.Resume, Assert.Throws<OptionException>(() => PredictWorkflow.Run(predictor, new PredictRequest { Files = files, Resume = true })).Option);
    }
}
