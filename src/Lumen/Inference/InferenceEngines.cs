using System.Runtime.InteropServices;
using Lumen.Models;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>Which runtime computes a <see cref="Predictor"/>'s forward passes.</summary>
public enum InferenceEngine
{
    /// <summary>
    /// ONNX Runtime where it can run the model (the ResNet family on the CPU), else TorchSharp: ONNX
    /// Runtime ran resnet18 about twice as fast as LibTorch on this project's CPU benchmark
    /// (<c>bench … predict</c>), and the GPU build of Lumen is TorchSharp's.
    /// </summary>
    Auto,

    /// <summary>ONNX Runtime on an in-memory ONNX graph of the model (CPU).</summary>
    Onnx,

    /// <summary>TorchSharp (LibTorch), on any device; always used for Grad-CAM.</summary>
    Torch,
}

/// <summary>How a <see cref="Predictor"/> runs.</summary>
public sealed record PredictorOptions
{
    /// <summary>The device for the TorchSharp model (Grad-CAM, and forward passes under the torch engine). Default: CPU.</summary>
    public Device? Device { get; init; }

    /// <summary>The engine for forward passes (default <see cref="InferenceEngine.Auto"/>).</summary>
    public InferenceEngine Engine { get; init; } = InferenceEngine.Auto;

    /// <summary>
    /// Threads ONNX Runtime uses inside one forward pass; 0 (default) = one per core. A host that decodes
    /// images at the same time (folder prediction) keeps this at the core count and lets the decoders
    /// interleave, because ONNX Runtime's threads are told not to spin while idle (see <see cref="OnnxForward"/>).
    /// </summary>
    public int Threads { get; init; }
}

/// <summary>One engine's forward pass: probabilities (N×C, CPU) of a normalised N×3×H×W batch.</summary>
internal interface IForwardEngine : IDisposable
{
    /// <summary>Which engine this is.</summary>
    InferenceEngine Kind { get; }

    /// <summary>Softmax (or sigmoid for multi-label) probabilities of <paramref name="input"/>.</summary>
    Tensor Probabilities(Tensor input);
}

/// <summary>The TorchSharp forward pass of the loaded network.</summary>
internal sealed class TorchForward(VisionModel model, bool multiLabel) : IForwardEngine
{
    public InferenceEngine Kind => InferenceEngine.Torch;

    public Tensor Probabilities(Tensor input)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.forward(input);
        return (multiLabel ? logits.sigmoid() : logits.softmax(1)).MoveToOuterDisposeScope();
    }

    /// <summary>The network belongs to the predictor, which disposes it.</summary>
    public void Dispose() { }
}

/// <summary>
/// ONNX Runtime over the graph <see cref="OnnxExport"/> writes, built in memory from the loaded weights
/// (so the <c>.lumen</c> file stays the one model file). The input tensor's memory is handed to ONNX
/// Runtime as one managed copy (a memcpy: under 1% of a pass).
/// </summary>
internal sealed class OnnxForward : IForwardEngine
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private static readonly string[] InputNames = { "input" };
    private static readonly string[] OutputNames = { "probabilities" };

    public OnnxForward(VisionModel model, ModelInfo info, int threads)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        // Idle intra-op threads would otherwise spin for a while after each pass and take the cores
        // from the image decoders that run between passes (measured in bench … predict --folder).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        _session = new InferenceSession(OnnxExport.ToBytes(model, info), options);
    }

    public InferenceEngine Kind => InferenceEngine.Onnx;

    public Tensor Probabilities(Tensor input)
    {
        float[] data;
        long[] shape;
        using (var contiguous = input.to(ScalarType.Float32).cpu().contiguous())
        {
            shape = contiguous.shape;
            data = MemoryMarshal.Cast<byte, float>(contiguous.bytes).ToArray();
        }
        using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
        using var outputs = _session.Run(_run, InputNames, new[] { value }, OutputNames);
        var output = outputs[0];
        long[] outShape = output.GetTensorTypeAndShape().Shape;
        return tensor(output.GetTensorDataAsSpan<float>().ToArray(), outShape);
    }

    public void Dispose()
    {
        _run.Dispose();
        _session.Dispose();
    }
}
