using System.Runtime.InteropServices;
using Lumen.Models;
using Lumen.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
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

/// <summary>The number format of a <see cref="Predictor"/>'s forward passes.</summary>
public enum InferencePrecision
{
    /// <summary>
    /// float32: int8 is faster but lost more cross-validated accuracy than a silent choice may, and
    /// bfloat16 was slower without AMX (bench/results/inference-speed/precision-cv.txt). Both stay available by name.
    /// </summary>
    Auto,

    /// <summary>32-bit floats: the network as trained.</summary>
    Float32,

    /// <summary>bfloat16 weights and activations on LibTorch (the torch engine; oneDNN uses AVX-512 BF16 or AMX where the CPU has them).</summary>
    BFloat16,

    /// <summary>int8 convolutions on ONNX Runtime (the onnx engine), with the activation ranges calibrated on training images and kept in the model file.</summary>
    Int8,
}

/// <summary>How a <see cref="Predictor"/> runs.</summary>
public sealed record PredictorOptions
{
    /// <summary>The device for the TorchSharp model (Grad-CAM, and forward passes under the torch engine). Default: CPU.</summary>
    public Device? Device { get; init; }

    /// <summary>The engine for forward passes (default <see cref="InferenceEngine.Auto"/>).</summary>
    public InferenceEngine Engine { get; init; } = InferenceEngine.Auto;

    /// <summary>
    /// The number format (default <see cref="InferencePrecision.Auto"/>). bfloat16 runs on the torch engine
    /// and int8 on the onnx engine, so <see cref="InferenceEngine.Auto"/> follows an explicit precision.
    /// </summary>
    public InferencePrecision Precision { get; init; } = InferencePrecision.Auto;


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

    /// <summary>The task's probabilities (softmax, or a sigmoid per class) of <paramref name="input"/>.</summary>
    Tensor Probabilities(Tensor input);

    /// <summary>The same for a CPU batch given as a float array of <paramref name="shape"/> (<see cref="Data.Preprocessing.Input"/>).</summary>
    Tensor Probabilities(float[] input, long[] shape)
    {
        using var x = tensor(input, shape);
        return Probabilities(x);
    }
}

/// <summary>
/// The TorchSharp forward pass of the loaded network, or, for bfloat16, of a bfloat16 copy of it (the
/// float network stays for Grad-CAM).
/// </summary>
internal sealed class TorchForward : IForwardEngine
{
    private readonly VisionModel _model;
    private readonly VisionModel? _copy;
    private readonly Tasks.ImageTask _task;

    public TorchForward(LoadedModel loaded, bool bfloat16)
    {
        _task = loaded.Info.Task;
        _model = loaded.Model;
        if (!bfloat16) return;
        var device = loaded.Model.parameters().First().device;
        _copy = VisionModel.Rebuild(loaded.Info.Spec);
        using (no_grad())
            StateDicts.CopyInto(_copy, loaded.Model.state_dict(), "the loaded model");
        _copy.to(device).to(ScalarType.BFloat16);
        _copy.eval();
        _model = _copy;
    }

    public InferenceEngine Kind => InferenceEngine.Torch;

    public Tensor Probabilities(Tensor input)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = _copy is null ? _model.forward(input) : _model.forward(input.to(ScalarType.BFloat16)).to(ScalarType.Float32);
        return _task.Probabilities(logits).MoveToOuterDisposeScope();
    }

    /// <summary>The float network belongs to the predictor, which disposes it; the bfloat16 copy is this engine's.</summary>
    public void Dispose() => _copy?.Dispose();
}

/// <summary>
/// ONNX Runtime over the graph <see cref="OnnxExport"/> writes, built in memory from the loaded weights
/// (so the <c>.lumen</c> file stays the one model file). The input tensor's memory is handed to ONNX
/// Runtime as a managed array: Predictor builds it directly from the pixels (<see cref="Data.Preprocessing.Input"/>)
/// when there is no augmentation, else copies the torch batch (a memcpy: under 1% of a pass).
/// </summary>
internal sealed class OnnxForward : IForwardEngine
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private static readonly string[] InputNames = { "input" };
    private static readonly string[] OutputNames = { "probabilities" };

    public OnnxForward(LoadedModel loaded, int threads, bool int8)
    {
        var (model, info) = (loaded.Model, loaded.Info);
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        // Idle intra-op threads would otherwise spin after each pass and take the cores from the image
        // decoders and request handlers between passes (bench/results/inference-speed/onnx-intra-op-spinning.txt).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (int8 && model.Detector is not null) throw new OptionException(OptionName.Precision, "int8 is not available for detection models (their heads have no int8 form); use float32");
        byte[] graph = int8
            ? OnnxExport.ToInt8Bytes(model, info, loaded.Calibration ?? throw new OptionException(OptionName.Precision, "int8 needs the model's int8 calibration, and this file has none (written by an older Lumen); add it with ModelFile.AddCalibration"))
            : OnnxExport.ToBytes(model, info);
        _session = new InferenceSession(graph, options);
    }

    public InferenceEngine Kind => InferenceEngine.Onnx;

    public Tensor Probabilities(Tensor input)
    {
        using var contiguous = input.to(ScalarType.Float32).cpu().contiguous();
        return Probabilities(MemoryMarshal.Cast<byte, float>(contiguous.bytes).ToArray(), contiguous.shape);
    }

    public Tensor Probabilities(float[] data, long[] shape)
    {
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
