namespace Lumen.Training;

/// <summary>
/// The files of a training run's output folder, by name, in one place: what <c>lumen train</c> writes
/// (model, checkpoint, history, plots, report), where ensemble members and cross-validation folds
/// train (<c>member-k/</c>, <c>fold-k/</c>, numbered from 1), and what cross-validation adds.
/// </summary>
/// <param name="Path">The folder (full path).</param>
public sealed record RunFolder(string Path)
{
    /// <summary>The run's folder for <paramref name="folder"/> (made absolute).</summary>
    public static RunFolder At(string folder) => new(System.IO.Path.GetFullPath(folder));

    /// <summary>The exported model (an ensemble file when the run trained several members).</summary>
    public string Model => File("model.lumen");

    /// <summary>The checkpoint written after every epoch.</summary>
    public string Checkpoint => File("checkpoint.lumenckpt");

    /// <summary>The epoch table as CSV.</summary>
    public string HistoryCsv => File("history.csv");

    /// <summary>The epoch table as JSON (what the report reads).</summary>
    public string HistoryJson => File("history.json");

    /// <summary>The loss curves.</summary>
    public string LossesPlot => File("losses.png");

    /// <summary>The metrics per epoch.</summary>
    public string MetricsPlot => File("metrics.png");

    /// <summary>The LR finder's curve, when it chose the learning rate.</summary>
    public string LrFindPlot => File("lr_find.png");

    /// <summary>The HTML report.</summary>
    public string Report => File("report.html");

    /// <summary>Cross-validation: the ensemble of every fold's models.</summary>
    public string FoldEnsemble => File("ensemble.lumen");

    /// <summary>Cross-validation: per-fold and mean ± sd metrics.</summary>
    public string CrossValidationJson => File("cv.json");

    /// <summary>Cross-validation: every out-of-fold prediction.</summary>
    public string OutOfFoldCsv => File("oof.csv");

    /// <summary>Cross-validation: the out-of-fold confusion matrix.</summary>
    public string ConfusionMatrixPlot => File("confusion_matrix.png");

    /// <summary>Ensemble member <paramref name="number"/> (from 1).</summary>
    public RunFolder Member(int number) => new(File($"member-{number}"));

    /// <summary>Cross-validation fold <paramref name="number"/> (from 1).</summary>
    public RunFolder Fold(int number) => new(File($"fold-{number}"));

    /// <summary>Another file in the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);
}
