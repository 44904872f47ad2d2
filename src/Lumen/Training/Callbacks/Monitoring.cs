namespace Lumen.Training;

/// <summary>What early stopping and save-best monitor.</summary>
internal static class Monitoring
{
    /// <summary>Whether larger values of <paramref name="monitor"/> are better; checks it can be monitored at all.</summary>
    /// <exception cref="LumenException">Unknown, or a validation value while the data has no validation set.</exception>
    public static bool HigherIsBetter(Learner learner, string monitor) => monitor switch
    {
        "train_loss" => false,
        _ when !learner.HasValidation =>
            throw new LumenException($"cannot monitor '{monitor}': the data has no validation images (valid-pct 0); monitor train_loss, or keep a validation set"),
        "valid_loss" => false,
        _ => learner.Metrics.FirstOrDefault(m => m.Name == monitor)?.HigherIsBetter
             ?? throw new LumenException($"cannot monitor '{monitor}': known are train_loss, valid_loss, {string.Join(", ", learner.Metrics.Select(m => m.Name))}"),
    };
}
