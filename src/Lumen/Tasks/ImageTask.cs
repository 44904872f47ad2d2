using System.Text.Json;
using System.Text.Json.Serialization;
using Lumen.Data;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>
/// What a model says about an image, and everything that depends on it, in one place: how a batch of
/// targets is made from items, the default loss and metrics, how MixUp mixes targets, how raw outputs
/// become probabilities and decisions (in training, evaluation, the Predictor, ONNX graphs and the
/// server), and the name a model file records so loading rebuilds the same task. The Learner, the
/// data loader, the workflows and the hosts call these members and never ask which task they hold.
/// See docs/architecture.md, "Adding a task".
/// </summary>
[JsonConverter(typeof(ImageTaskJsonConverter))]
public abstract class ImageTask
{
    /// <summary>One class per image: softmax over the classes, cross-entropy, argmax (fastai's CategoryBlock).</summary>
    public static ImageTask SingleLabel { get; } = new SingleLabelClassification();

    /// <summary>Any number of classes per image: a sigmoid per class, binary cross-entropy, a threshold (fastai's MultiCategoryBlock).</summary>
    public static ImageTask MultiLabel { get; } = new MultiLabelClassification();

    /// <summary>A class per pixel: a softmax per pixel, pixel cross-entropy, Dice (fastai's MaskBlock and unet_learner).</summary>
    public static ImageTask Segmentation { get; } = new Segmentation();

    /// <summary>Labelled boxes around objects: a sigmoid per class and location, focal and GIoU losses, COCO average precision (fastai's BBoxLblBlock).</summary>
    public static ImageTask Detection { get; } = new Detection();

    /// <summary>Every task Lumen knows, by <see cref="Name"/>.</summary>
    public static IReadOnlyList<ImageTask> All { get; } = new[] { SingleLabel, MultiLabel, Segmentation, Detection };

    /// <summary>The task recorded under <paramref name="name"/> (model files, the server's model description).</summary>
    /// <exception cref="LumenException">No task has that name.</exception>
    public static ImageTask Named(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new LumenException($"unknown task '{name}' (known: {string.Join(", ", All.Select(t => t.Name))}); a newer Lumen may know it");

    /// <summary>The name model files, reports and the server use ("single-label", "multi-label").</summary>
    public abstract string Name { get; }

    /// <summary>
    /// True when the model answers per pixel (N×C×H×W outputs, masks as targets, a decoder on the body)
    /// instead of per image (N×C).
    /// </summary>
    public virtual bool PerPixel => false;

    /// <summary>
    /// True when the model finds boxes (N×locations×(C+8) outputs, see <see cref="Models.FcosDetector"/>;
    /// padded box lists as targets, moved with the images by the data loader).
    /// </summary>
    public virtual bool PerBox => false;

    /// <summary>True when the model answers once per image (classification): neither per pixel nor per box.</summary>
    public bool PerImage => !PerPixel && !PerBox;

    /// <summary>The batch's targets on <paramref name="device"/>, in item order.</summary>
    public abstract Tensor Targets(IReadOnlyList<LabelledItem> items, Vocabulary vocab, Device device);

    /// <summary>The loss a learner minimises unless the caller gives one.</summary>
    /// <param name="trainItems">The training items (for class weights).</param>
    /// <param name="vocab">The classes.</param>
    /// <param name="options">Label smoothing and class weights.</param>
    public abstract Loss DefaultLoss(IReadOnlyList<LabelledItem> trainItems, Vocabulary vocab, TrainingOptions options);

    /// <summary>The loss evaluation reports for predictions of a saved model (no training options apply).</summary>
    public abstract Loss EvaluationLoss { get; }

    /// <summary>The validation metrics a learner reports unless the caller gives others, with fastai's names.</summary>
    public abstract IReadOnlyList<IMetric> DefaultMetrics(int classes);

    /// <summary>The one metric a single figure stands for (an ensemble's score on the validation images).</summary>
    public abstract IMetric SummaryMetric { get; }

    /// <summary>
    /// MixUp's loss for images mixed as λ·x + (1 − λ)·x[perm]: <paramref name="targets"/> are the batch's,
    /// <paramref name="partnerTargets"/> those of the images mixed in, <paramref name="lambda"/> λ per item (N).
    /// </summary>
    public abstract Tensor MixUpLoss(Loss loss, Tensor logits, Tensor targets, Tensor partnerTargets, Tensor lambda);

    /// <summary>Raw outputs (N×C, or N×C×H×W per pixel) to probabilities of the same shape.</summary>
    public abstract Tensor Probabilities(Tensor logits);

    /// <summary>
    /// Outputs that give <paramref name="probabilities"/> back through <see cref="Probabilities"/> (up to
    /// clamping), so metrics and losses of a saved model's predictions share training's code.
    /// </summary>
    public abstract Tensor Logits(Tensor probabilities);

    /// <summary>The ONNX operator that turns the graph's logits into its probabilities output.</summary>
    public abstract string OnnxActivation { get; }

    /// <summary>
    /// The classes decided for one image, in class order, from its probabilities; <paramref name="best"/>
    /// is the most probable class and <paramref name="threshold"/> the model's decision threshold.
    /// </summary>
    public abstract IReadOnlyList<int> Decide(ReadOnlySpan<float> probabilities, int best, double threshold);

    /// <summary>
    /// Counts of [actual, predicted] class pairs, or null where the task has no such matrix (an image
    /// with several labels is not one actual class).
    /// </summary>
    public abstract long[,]? ConfusionMatrix(Tensor logits, Tensor targets, int classes);

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>Writes a task as its name and reads it back with <see cref="ImageTask.Named"/>.</summary>
public sealed class ImageTaskJsonConverter : JsonConverter<ImageTask>
{
    /// <inheritdoc />
    public override ImageTask Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("a task is written as its name, a string");
        try
        {
            return ImageTask.Named(reader.GetString()!);
        }
        catch (LumenException e)
        {
            throw new JsonException(e.Message);
        }
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ImageTask value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name);
}
