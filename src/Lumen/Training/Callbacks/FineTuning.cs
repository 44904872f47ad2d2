using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lumen.Training;

/// <summary>The settings of a fine_tune run, kept in its checkpoints so <c>--resume</c> continues the same run.</summary>
public sealed record FineTunePlan(int Epochs, double BaseLr, int FreezeEpochs, double LrMult, double PctStart, double Div);

/// <summary>fastai v2's <c>fine_tune</c>, as two one-cycle fits, and its exact resumption from a checkpoint.</summary>
public static class FineTuning
{
    /// <summary>
    /// Freezes and fits one cycle of <paramref name="freezeEpochs"/> over slice(<paramref name="baseLr"/>)
    /// (the head at baseLr, the body's trainable BatchNorm at baseLr/10; pct_start 0.99); then halves
    /// baseLr, unfreezes, and fits one cycle of <paramref name="epochs"/> over
    /// slice(baseLr/lrMult, baseLr) with <paramref name="pctStart"/> and <paramref name="div"/>. A stop
    /// during the frozen fit (early stopping, a callback) ends that fit only, as in fastai; an
    /// interruption ends the run.
    /// </summary>
    public static void FineTune(this Learner learner, int epochs, double baseLr = 2e-3, int freezeEpochs = 1, double lrMult = 100, double pctStart = 0.3, double div = 5) =>
        Run(learner, new FineTunePlan(epochs, baseLr, freezeEpochs, lrMult, pctStart, div), null);

    /// <summary>
    /// Continues a <see cref="FineTune"/> run from a checkpoint (see <see cref="Checkpoint"/>): weights,
    /// optimiser, history, callback states and the exact position (phase, epoch, batch) are restored;
    /// the remaining batches are the ones an uninterrupted run would have seen.
    /// </summary>
    /// <exception cref="LumenException">The file is missing, not a checkpoint, or from another model or kind of run.</exception>
    public static void ResumeFineTune(this Learner learner, string checkpointPath)
    {
        var (position, states) = Checkpoint.Load(learner, checkpointPath);
        if (!states.TryGetValue(PlanState.Key, out var plan))
            throw new LumenException($"checkpoint '{checkpointPath}' was not written by a fine_tune run");
        Run(learner, plan.Json.Deserialize<FineTunePlan>()!, position);
    }

    private static void Run(Learner learner, FineTunePlan plan, FitPosition? from)
    {
        var state = new PlanState(plan);
        int groups = learner.Groups.Count;
        if ((from is null || from.Phase == FitPhase.Frozen) && plan.FreezeEpochs > 0)
        {
            learner.Freeze();
            learner.Fit(plan.FreezeEpochs, new ICallback[] { OneCycle.Schedule(groups, LearningRates.Slice(plan.BaseLr), pctStart: 0.99), state }, from, FitPhase.Frozen);
            if (learner.Interrupted) return;
            from = null;
        }
        // fine_tune(0) trains the head only, as fastai's (whose fit of 0 epochs does nothing).
        if (plan.Epochs == 0) return;
        learner.Unfreeze();
        double lr = plan.BaseLr / 2;
        learner.Fit(plan.Epochs, new ICallback[] { OneCycle.Schedule(groups, LearningRates.Slice(lr / plan.LrMult, lr), plan.Div, pctStart: plan.PctStart), state },
            from?.Phase == FitPhase.Unfrozen ? from : null, FitPhase.Unfrozen);
    }

    /// <summary>Puts the plan into the run's checkpoints.</summary>
    private sealed class PlanState(FineTunePlan plan) : IStatefulCallback
    {
        public const string Key = "fine_tune";

        public string StateKey => Key;

        public CallbackState SaveState() => new(JsonSerializer.SerializeToNode(plan)!);

        public void LoadState(CallbackState state) { }
    }
}
