using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>Callbacks: order, scopes, failures, state across resume, early stopping and save-best.</summary>
public partial class LearnerTests
{
    /// <summary>Records the events it sees, and fails where asked.</summary>
    private sealed class Tracer(string name, int order, List<string> log, string? failIn = null) : ICallback
    {
        public int Order => order;

        private void Saw(string e)
        {
            log.Add($"{name}.{e}");
            if (e == failIn) throw new InvalidOperationException("planted failure");
        }

        public void BeforeFit(Learner learner) => Saw(nameof(BeforeFit));
        public void AfterStep(Learner learner) => Saw(nameof(AfterStep));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void CallbacksRunByOrderThenAsGivenAndAFailureNamesTheCallbackAndTheEvent()
    {
        using var dir = new TempFolder();
        var log = new List<string>();
        var learner = TinyLearner(TinyData(dir, perClass: 4));
        learner.Callbacks.AddRange(new ICallback[] { new Tracer("late", 5, log), new Tracer("first", -30, log), new Tracer("given", 0, log) });
        learner.Fit(1, new ICallback[] { new Tracer("fit", 0, log) });
        Assert.Equal(new[] { "first.BeforeFit", "fit.BeforeFit", "given.BeforeFit", "late.BeforeFit" }, log.Take(4));

        learner.Callbacks.Add(new Tracer("broken", 0, log, failIn: "AfterStep"));
        var e = Assert.Throws<CallbackException>(() => learner.Fit(1, 1e-3));
        Assert.Equal("callback Tracer failed in AfterStep: planted failure", e.Message);
        Assert.IsType<InvalidOperationException>(e.InnerException);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void WithoutCallbacksLeavesThemOutForItsScopeOnly()
    {
        using var dir = new TempFolder();
        var log = new List<string>();
        var learner = TinyLearner(TinyData(dir, perClass: 4));
        learner.Callbacks.Add(new Tracer("kept", 0, log));
        using (learner.WithoutCallbacks(c => c is Tracer))
            learner.Fit(1, new ICallback[] { new Tracer("fit", 0, log) });
        Assert.Equal(new[] { "fit.BeforeFit" }, log.Where(l => l.EndsWith("BeforeFit")));  // a fit's own callbacks always take part
        learner.Fit(1, 1e-3);
        Assert.Contains("kept.BeforeFit", log);
        Assert.Equal(2, learner.History.Count);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ResumeContinuesWhereItStopped()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 8, aug: AugmentOptions.Default);
        Learner Fresh()
        {
            manual_seed(3);
            return TinyLearner(data);
        }
        var straight = Fresh();
        straight.FineTune(2, freezeEpochs: 1);

        // Interrupt in the middle of the second (unfrozen) epoch, as Ctrl+C would.
        string checkpoint = dir.File("run", "checkpoint.lumenckpt");
        using var cts = new CancellationTokenSource();
        var interrupted = Fresh();
        interrupted.Callbacks.Add(new Checkpoint(checkpoint));
        interrupted.Cancellation = cts.Token;
        int batches = 0;
        int stopAfter = data.Train.BatchCount * 2 + 1;
        interrupted.Callbacks.Add(new AfterTrainingBatch((_, _) => { if (++batches == stopAfter) cts.Cancel(); }));
        interrupted.FineTune(2, freezeEpochs: 1);
        Assert.True(interrupted.Interrupted);
        Assert.True(File.Exists(checkpoint));
        Assert.Equal(2, interrupted.History.Count);

        var resumed = Fresh();
        resumed.ResumeFineTune(checkpoint);
        Assert.Equal(3, resumed.History.Count);
        var expected = straight.Model.state_dict();
        foreach (var (key, value) in resumed.Model.state_dict())
            Assert.True(value.allclose(expected[key], rtol: 1e-4, atol: 1e-5), key);
        Assert.Equal(straight.History[^1].ValidLoss, resumed.History[^1].ValidLoss, 4);
    }

    /// <summary>A user's callback: counts training batches (state kept in checkpoints) and stops the fit at a limit.</summary>
    private sealed class BatchBudget(int limit) : IStatefulCallback
    {
        public int Seen { get; private set; }

        public string StateKey => "batch_budget";

        public void AfterBatch(Learner learner)
        {
            if (learner.Training && ++Seen >= limit) learner.Stop($"batch budget of {limit} spent");
        }

        public CallbackState SaveState() => new(System.Text.Json.Nodes.JsonValue.Create(Seen));

        public void LoadState(CallbackState state) => Seen = state.Json.GetValue<int>();
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void AUserCallbackStopsTrainingAndItsStateSurvivesResume()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 8);
        int perEpoch = data.Train.BatchCount;

        // Stop in the middle of the second epoch: no validation of the cut epoch, one row of history.
        var stopped = TinyLearner(data);
        stopped.Callbacks.Add(new BatchBudget(perEpoch + 2));
        stopped.Unfreeze();
        stopped.FitOneCycle(3, 1e-3);
        Assert.Equal("batch budget of " + (perEpoch + 2) + " spent", stopped.StopReason);
        Assert.Single(stopped.History);
        Assert.False(stopped.Interrupted);

        // Interrupted (Ctrl+C) after 1.5 epochs of a fine_tune, then resumed by a fresh process-like
        // learner: the callback's count continues from the checkpoint, ending where one run would.
        string checkpoint = dir.File("run", "checkpoint.lumenckpt");
        using var cts = new CancellationTokenSource();
        var first = TinyLearner(data);
        var budget = new BatchBudget(int.MaxValue);
        first.Callbacks.Add(budget);
        first.Callbacks.Add(new Checkpoint(checkpoint));
        first.Callbacks.Add(new AfterTrainingBatch((_, _) => { if (budget.Seen == perEpoch + perEpoch / 2) cts.Cancel(); }));
        first.Cancellation = cts.Token;
        first.FineTune(2, freezeEpochs: 1);
        Assert.True(first.Interrupted);

        var resumed = TinyLearner(data);
        var restored = new BatchBudget(int.MaxValue);
        resumed.Callbacks.Add(restored);
        resumed.ResumeFineTune(checkpoint);
        Assert.Equal(3 * perEpoch, restored.Seen);
        Assert.Equal(3, resumed.History.Count);
        Assert.Null(resumed.StopReason);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void FineTunesFrozenPhaseUsesSliceOfTheBaseRateAndAnEarlyStopEndsOnlyThatPhase()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir, perClass: 6));
        double[]? frozenRates = null;
        learner.Callbacks.Add(new AfterTrainingBatch((l, _) => { if (l.Position.Phase == FitPhase.Frozen) frozenRates ??= l.Optimizer.LearningRates.ToArray(); }));
        // No epoch can improve valid_loss by 10: each phase stops after its second epoch.
        learner.Callbacks.Add(new EarlyStopping(patience: 1, minDelta: 10));
        learner.FineTune(3, baseLr: 1e-2, freezeEpochs: 3);

        // fastai's fine_tune: fit_one_cycle(freeze_epochs, slice(base_lr)): the head at base_lr, the
        // body's trainable BatchNorm at base_lr/10 (same one-cycle point for both).
        Assert.Equal(10, frozenRates![^1] / frozenRates[0], 6);
        Assert.Equal(new[] { FitPhase.Frozen, FitPhase.Frozen, FitPhase.Unfrozen, FitPhase.Unfrozen }, learner.History.Select(h => h.Phase));
        Assert.Contains("early stopping", learner.StopReason);
    }

    /// <summary>Spoils the head's weights after the first epoch, so that epoch stays the best.</summary>
    private sealed class SpoilAfterFirstEpoch : ICallback
    {
        public void AfterEpoch(Learner learner)
        {
            if (learner.History.Count != 1) return;
            using var noGrad = no_grad();
            foreach (var p in learner.Model.Head.parameters()) p.mul_(50);
        }
    }

    [Fact]
    public void SaveBestExportsTheMetricsOfTheEpochItKept()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir, perClass: 6));
        var best = new SaveBest();
        learner.Callbacks.Add(best);
        learner.Callbacks.Add(new SpoilAfterFirstEpoch());
        learner.Fit(2, 1e-6);
        Assert.Equal(0, best.RestoredEpoch);
        Assert.True(learner.History[1].ValidLoss > learner.History[0].ValidLoss);
        var info = Lumen.Inference.LearnerInference.Export(learner, dir.File("model.lumen"));
        Assert.Equal(learner.History[0].ValidLoss, info.Training.Metrics["valid_loss"], 9);
        Assert.Equal(learner.History[0].Metrics["accuracy"], info.Training.Metrics["accuracy"], 9);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void EarlyStoppingAndSaveBestWork()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        learner.Unfreeze();
        var best = new SaveBest();
        learner.Callbacks.Add(new EarlyStopping(patience: 1, minDelta: 10));
        learner.Callbacks.Add(best);
        learner.Callbacks.Add(new HistoryWriter(dir.File("out")));
        learner.FitOneCycle(5, 1e-3);
        Assert.Equal(2, learner.History.Count); // no epoch can improve by 10: stop after the second
        Assert.Contains("early stopping", learner.StopReason);
        var bestRecord = learner.History.MinBy(h => h.ValidLoss)!;
        Assert.Equal(bestRecord.Epoch, best.BestEpoch);
        Assert.True(File.Exists(dir.File("out", "history.csv")));
        string[] csv = File.ReadAllLines(dir.File("out", "history.csv"));
        Assert.StartsWith("epoch,phase,train_loss,valid_loss,error_rate", csv[0]);
        // Epochs are numbered from 1, as the console shows them, and history.json reads back the same records.
        Assert.StartsWith("1,", csv[1]);
        Assert.Equal(learner.History.Select(h => h.Epoch), HistoryFile.Read(dir.File("out", "history.json"))!.Select(h => h.Epoch));
        Assert.Contains("\"train_loss\"", File.ReadAllText(dir.File("out", "history.json")));
        var (loss, _) = learner.Validate();
        Assert.Equal(bestRecord.ValidLoss, loss, 4); // the best epoch's weights were restored
    }
}
