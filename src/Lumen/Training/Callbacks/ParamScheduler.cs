namespace Lumen.Training;

/// <summary>
/// Sets every layer group's learning rate and momentum before each training batch from the fraction
/// of the fit done (fastai's ParamScheduler).
/// </summary>
/// <param name="schedule">(fraction of the fit's batches done, group) → (learning rate, momentum).</param>
public sealed class ParamScheduler(Func<double, int, (double Lr, double Mom)> schedule) : ICallback
{
    /// <inheritdoc />
    public int Order => CallbackOrder.Schedule;

    void ICallback.BeforeBatch(Learner learner)
    {
        if (!learner.Training) return;
        double pct = learner.PctTrain;
        for (int g = 0; g < learner.Groups.Count; g++)
            (learner.Optimizer.LearningRates[g], learner.Optimizer.Momentums[g]) = schedule(pct, g);
    }
}

/// <summary>fastai's one-cycle policy and <c>fit_one_cycle</c>.</summary>
public static class OneCycle
{
    /// <summary>fastai's default momentums: 0.95 → 0.85 → 0.95.</summary>
    public static readonly (double, double, double) DefaultMoms = (0.95, 0.85, 0.95);

    /// <summary>The schedule: cosine warm-up from lrMax/div to lrMax over pctStart of the batches, then cosine down to lrMax/divFinal; momentum the other way.</summary>
    public static ParamScheduler Schedule(int groups, LearningRates lrMax, double div = 25, double divFinal = 1e5, double pctStart = 0.25, (double, double, double)? moms = null)
    {
        double[] max = lrMax.ForGroups(groups);
        var m = moms ?? DefaultMoms;
        return new ParamScheduler((pct, g) => (Schedules.OneCycleLr(pct, max[g], div, divFinal, pctStart), Schedules.OneCycleMomentum(pct, m, pctStart)));
    }

    /// <summary>fastai's <c>fit_one_cycle</c>.</summary>
    public static void FitOneCycle(this Learner learner, int epochs, LearningRates lrMax, double div = 25, double divFinal = 1e5, double pctStart = 0.25,
        (double, double, double)? moms = null) =>
        learner.Fit(epochs, new[] { Schedule(learner.Groups.Count, lrMax, div, divFinal, pctStart, moms) });
}
