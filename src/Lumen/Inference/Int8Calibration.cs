using Lumen.Imaging;
using Lumen.Models;
using Microsoft.ML.OnnxRuntime;

namespace Lumen.Inference;

/// <summary>The observed value range of one convolution's input and output (BatchNorm folded in).</summary>
/// <param name="InputMin">Smallest input value seen.</param>
/// <param name="InputMax">Largest input value seen.</param>
/// <param name="OutputMin">Smallest output value seen.</param>
/// <param name="OutputMax">Largest output value seen.</param>
public sealed record ConvRange(float InputMin, float InputMax, float OutputMin, float OutputMax);

/// <summary>
/// What int8 inference needs beyond the weights: the range of every convolution's activations on
/// representative images (ONNX Runtime's static "MinMax" calibration), measured on the float network
/// with its BatchNorms folded, in graph order. Kept in the model file (<c>int8-calibration.json</c>).
/// </summary>
/// <param name="Images">How many images it was measured on.</param>
/// <param name="Source">Where they came from (e.g. "training images").</param>
/// <param name="Convs">Each convolution's ranges, in graph order.</param>
public sealed record Int8Calibration(int Images, string Source, IReadOnlyList<ConvRange> Convs)
{
    /// <summary>Images used when a caller does not say (ONNX Runtime's examples use 100 or so; ranges settle well before).</summary>
    public const int DefaultImages = 64;

    /// <summary>
    /// Up to <paramref name="count"/> of <paramref name="items"/>, evenly spaced (items listed class by class
    /// give every class its share), for calibration.
    /// </summary>
    public static IReadOnlyList<T> Spread<T>(IReadOnlyList<T> items, int count = DefaultImages)
    {
        count = Math.Min(count, items.Count);
        return Enumerable.Range(0, count).Select(i => items[(int)((long)i * items.Count / count)]).ToList();
    }

    /// <summary>Measures the ranges on <paramref name="prepared"/> images (after the item transform, before normalisation).</summary>
    /// <exception cref="LumenException">The architecture has no ONNX graph, or no images were given.</exception>
    public static Int8Calibration Measure(VisionModel model, ModelInfo info, IReadOnlyList<RgbImage> prepared, string source, int batchSize = 16)
    {
        if (prepared.Count == 0) throw new LumenException("int8 calibration needs at least one image");
        var (graph, convs) = OnnxExport.ToCalibrationBytes(model, info);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(graph, options);
        var names = convs.SelectMany(c => new[] { c.Input, c.Output }).Distinct().ToList();
        var min = names.ToDictionary(n => n, _ => float.PositiveInfinity);
        var max = names.ToDictionary(n => n, _ => float.NegativeInfinity);
        var outputs = names.Where(n => n != "input").ToArray();
        using var run = new RunOptions();
        foreach (var batch in prepared.Chunk(batchSize))
        {
            var (data, shape) = info.Preprocessing.Input(batch);
            Observe("input", data);
            using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var results = session.Run(run, new[] { "input" }, new[] { value }, outputs);
            for (int i = 0; i < outputs.Length; i++) Observe(outputs[i], results[i].GetTensorDataAsSpan<float>());
        }
        return new Int8Calibration(prepared.Count, source, convs.Select(c => new ConvRange(min[c.Input], max[c.Input], min[c.Output], max[c.Output])).ToList());

        void Observe(string name, ReadOnlySpan<float> values)
        {
            if (!min.ContainsKey(name)) return;
            float lo = min[name], hi = max[name];
            foreach (float v in values)
            {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            min[name] = lo;
            max[name] = hi;
        }
    }
}
