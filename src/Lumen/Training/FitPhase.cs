using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lumen.Training;

/// <summary>What a fit is for: the phase column of the history, and where a checkpoint resumes.</summary>
[JsonConverter(typeof(FitPhaseJsonConverter))]
public enum FitPhase
{
    /// <summary>A plain fit (<see cref="Learner.Fit(int, LearningRates)"/>, one-cycle).</summary>
    Fit,

    /// <summary>fine_tune's first phase: the body frozen, the head trained.</summary>
    Frozen,

    /// <summary>fine_tune's second phase: every layer trained.</summary>
    Unfrozen,

    /// <summary>The LR finder's run (the model is restored afterwards).</summary>
    LrFind,

    /// <summary>A few timed batches that measure training speed (the model is thrown away).</summary>
    Measure,
}

/// <summary>The names phases have in history files, checkpoints and progress lines.</summary>
public static class FitPhaseNames
{
    /// <summary>fit, frozen, unfrozen, lr_find or measure.</summary>
    public static string Name(this FitPhase phase) => phase switch
    {
        FitPhase.Fit => "fit",
        FitPhase.Frozen => "frozen",
        FitPhase.Unfrozen => "unfrozen",
        FitPhase.LrFind => "lr_find",
        FitPhase.Measure => "measure",
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, null),
    };

    /// <summary>The phase named <paramref name="name"/>, or null.</summary>
    public static FitPhase? Parse(string? name) => Enum.GetValues<FitPhase>().Cast<FitPhase?>().FirstOrDefault(p => p!.Value.Name() == name);
}

/// <summary>Writes a phase as its name (checkpoints and history.json written before the type keep reading).</summary>
public sealed class FitPhaseJsonConverter : JsonConverter<FitPhase>
{
    /// <inheritdoc />
    public override FitPhase Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        FitPhaseNames.Parse(reader.TokenType == JsonTokenType.String ? reader.GetString() : null)
        ?? throw new JsonException("a phase is one of fit, frozen, unfrozen, lr_find, measure");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, FitPhase value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}
