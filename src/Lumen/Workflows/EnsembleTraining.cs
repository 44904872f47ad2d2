using Lumen.Data;
using Lumen.Inference;
using Lumen.Training;

namespace Lumen.Workflows;

/// <summary>What <see cref="EnsembleTraining.Run"/> trained.</summary>
/// <param name="Runs">Each member's run, in order (one when there is a single member).</param>
/// <param name="ModelPath">The model: the single run's, or the members' ensemble; null when interrupted.</param>
public sealed record EnsembleRuns(IReadOnlyList<TrainResult> Runs, string? ModelPath);

/// <summary>
/// Trains the members of an ensemble: runs of one recipe on one split whose seeds are seed, seed + 1, …
/// A single member trains in the folder itself; several train in its <c>member-k/</c> folders and the
/// folder's model file is their ensemble. Cross-validation (per fold) and the time budget use it.
/// </summary>
public static class EnsembleTraining
{
    /// <summary>Trains <paramref name="members"/> runs of <paramref name="recipe"/> into <paramref name="folder"/>.</summary>
    /// <param name="recipe">The run to repeat (its output folder is replaced).</param>
    /// <param name="members">How many members (at least 1).</param>
    /// <param name="folder">Where the runs go.</param>
    /// <param name="loaded">The recipe's data loaded once and split (the members' seeds are applied to it); null loads it per member with the recipe's splitter.</param>
    /// <param name="resume">Continue each member whose folder holds a checkpoint.</param>
    /// <param name="progress">Receives a note before each of several members, and the runs' progress.</param>
    /// <param name="cancellation">Interrupts the member training (the result's model is then null).</param>
    /// <param name="label">Prefixes the member notes (e.g. "fold 2/5: ").</param>
    public static EnsembleRuns Run(TrainRequest recipe, int members, RunFolder folder, ImageDataLoaders? loaded = null, bool resume = false,
        IProgressReporter? progress = null, CancellationToken cancellation = default, string label = "")
    {
        if (members < 1) throw new OptionException(OptionName.Members, $"must be at least 1, got {members}");
        progress ??= NullProgress.Instance;
        var runs = new List<TrainResult>();
        for (int m = 0; m < members; m++)
        {
            if (members > 1) progress.Note($"{label}ensemble member {m + 1}/{members}");
            var into = members == 1 ? folder : folder.Member(m + 1);
            var member = TrainWorkflow.Run(recipe with
            {
                OutputFolder = into.Path,
                DataOptions = recipe.DataOptions with { Seed = recipe.DataOptions.Seed + m },
                Resume = resume && File.Exists(into.Checkpoint),
            }, progress, cancellation, loaded);
            // Several members would hold several models in memory; the single run's stays for its caller.
            if (members > 1) member.Learner.Model.Dispose();
            runs.Add(member);
            if (member.Interrupted || member.ModelPath is null) return new EnsembleRuns(runs, null);
        }
        if (members == 1) return new EnsembleRuns(runs, runs[0].ModelPath);
        EnsembleFile.Save(folder.Model, runs.Select(r => r.ModelPath!).ToList());
        return new EnsembleRuns(runs, folder.Model);
    }
}
