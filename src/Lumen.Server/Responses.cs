namespace Lumen.Server;

/// <summary>One class and its probability.</summary>
/// <param name="Label">The class.</param>
/// <param name="Probability">Its probability.</param>
public sealed record ClassScore(string Label, float Probability);

/// <summary>The answer of <c>POST /api/predict</c>.</summary>
/// <param name="Label">The most probable class.</param>
/// <param name="Probability">Its probability.</param>
/// <param name="Probabilities">Every class, most probable first.</param>
/// <param name="Labels">Multi-label models: every label above the threshold; otherwise just <paramref name="Label"/>.</param>
/// <param name="Model">The served model file's name.</param>
/// <param name="ElapsedMs">Time spent on this request in the server, in milliseconds.</param>
/// <param name="Gradcam">With <c>?gradcam=true</c>: the Grad-CAM overlay as a base64 PNG; otherwise null.</param>
public sealed record PredictionResponse(string Label, float Probability, IReadOnlyList<ClassScore> Probabilities, IReadOnlyList<string> Labels,
    string Model, double ElapsedMs, string? Gradcam);

/// <summary>One class's share of an image's pixels.</summary>
/// <param name="Label">The class.</param>
/// <param name="Fraction">Its pixels over all the image's pixels.</param>
public sealed record ClassArea(string Label, double Fraction);

/// <summary>The answer of <c>POST /api/segment</c> (segmentation models).</summary>
/// <param name="Width">The image's width in pixels (the mask's).</param>
/// <param name="Height">The image's height in pixels.</param>
/// <param name="Areas">Every class's share of the pixels, in class order (the first is the background).</param>
/// <param name="Mask">The mask as a base64 greyscale PNG of the image's size: 0/255 for two classes, class indices otherwise.</param>
/// <param name="Model">The served model file's name.</param>
/// <param name="ElapsedMs">Time spent on this request in the server, in milliseconds.</param>
/// <param name="Overlay">With <c>?overlay=true</c>: the image with the mask drawn over it, a base64 PNG; otherwise null.</param>
public sealed record SegmentationResponse(int Width, int Height, IReadOnlyList<ClassArea> Areas, string Mask, string Model, double ElapsedMs, string? Overlay);

/// <summary>One box a detector found, in the uploaded image's pixels.</summary>
/// <param name="Label">The class.</param>
/// <param name="Score">Confidence in [0, 1].</param>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
public sealed record FoundBox(string Label, double Score, double XMin, double YMin, double XMax, double YMax);

/// <summary>The answer of <c>POST /api/detect</c> (detection models).</summary>
/// <param name="Width">The image's width in pixels.</param>
/// <param name="Height">The image's height in pixels.</param>
/// <param name="Boxes">The boxes scoring at least the request's threshold, best first.</param>
/// <param name="Model">The served model file's name.</param>
/// <param name="ElapsedMs">Time spent on this request in the server, in milliseconds.</param>
/// <param name="Overlay">With <c>?overlay=true</c>: the image with the boxes drawn, a base64 PNG; otherwise null.</param>
public sealed record DetectionResponse(int Width, int Height, IReadOnlyList<FoundBox> Boxes, string Model, double ElapsedMs, string? Overlay);

/// <summary>The answer of <c>GET /api/model</c>.</summary>
/// <param name="Model">The model file's name.</param>
/// <param name="Architecture">The network (e.g. resnet18).</param>
/// <param name="Weights">Where the pretrained body came from.</param>
/// <param name="Classes">Class names in output order.</param>
/// <param name="Task">What the model predicts: single-label, multi-label (independent sigmoid labels) segmentation (a class per pixel: POST /api/segment) or detection (boxes: POST /api/detect).</param>
/// <param name="Threshold">Multi-label decision threshold.</param>
/// <param name="Metrics">Validation metrics recorded at export.</param>
/// <param name="Trained">When the model file was written (UTC).</param>
/// <param name="Engine">The inference engine serving it (onnx or torch).</param>
/// <param name="Precision">Its number format (float32, bfloat16 or int8).</param>
/// <param name="Preprocessing">How uploads are prepared.</param>
/// <param name="Limits">Upload limits.</param>
public sealed record ModelResponse(string Model, string Architecture, string Weights, IReadOnlyList<string> Classes, string Task, double Threshold,
    IReadOnlyDictionary<string, double> Metrics, DateTime Trained, string Engine, string Precision, PreprocessingResponse Preprocessing, LimitsResponse Limits);

/// <summary>Image preparation of the served model.</summary>
/// <param name="Size">Square side in pixels.</param>
/// <param name="Resize">crop, squish or pad.</param>
/// <param name="Mean">Per-channel mean subtracted.</param>
/// <param name="Std">Per-channel standard deviation divided by.</param>
/// <param name="Scale">Pixel scale before normalisation.</param>
/// <param name="Bgr">True when channels are reversed.</param>
public sealed record PreprocessingResponse(int Size, string Resize, IReadOnlyList<float> Mean, IReadOnlyList<float> Std, float Scale, bool Bgr);

/// <summary>Upload limits.</summary>
/// <param name="MaxRequestBytes">Largest request body.</param>
/// <param name="MaxPixels">Largest image (width × height).</param>
public sealed record LimitsResponse(long MaxRequestBytes, long MaxPixels);
