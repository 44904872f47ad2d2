using Lumen.Imaging;
using Lumen.Models;
using Lumen.Tensors;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>
/// Grad-CAM (Selvaraju et al.): the last convolutional stage's feature maps weighted by the spatially
/// averaged gradient of a class score, summed over channels, ReLU, scaled to [0, 1] and upsampled to
/// the image. fastai v1 showed it in <c>plot_top_losses(heatmap=True)</c>; Lumen keeps it.
/// </summary>
public static class GradCam
{
    /// <summary>Heatmaps (N×H×W in [0, 1], CPU) for a normalised batch; <paramref name="classes"/> picks each item's class (null: the predicted one).</summary>
    public static Tensor Compute(VisionModel model, Tensor input, IReadOnlyList<int>? classes = null)
    {
        if (model.Decoder is not null) throw new LumenException("Grad-CAM explains a classifier's decision; a segmentation model's answer is already a map");
        if (model.Detector is not null) throw new LumenException("Grad-CAM explains a classifier's decision; a detector's answer is already a set of boxes");
        using var scope = NewDisposeScope();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            Tensor features;
            using (no_grad()) features = model.Body.forward(input);
            features = features.detach().requires_grad_(true);
            Tensor logits;
            using (enable_grad())
            {
                logits = model.Head.forward(features);
                long n = logits.shape[0];
                long[] picked = classes is null ? logits.argmax(1).data<long>().ToArray() : classes.Select(c => (long)c).ToArray();
                var index = tensor(picked, device: logits.device).unsqueeze(1);
                var score = logits.gather(1, index).sum();
                var grads = autograd.grad(new[] { score }, new[] { features })[0];
                var weights = grads.mean(new long[] { 2, 3 }, keepdim: true);
                var cam = (weights * features).sum(1, keepdim: true).relu();
                cam = nn.functional.interpolate(cam, new long[] { input.shape[2], input.shape[3] }, mode: InterpolationMode.Bilinear, align_corners: false);
                var flat = cam.view(n, -1);
                using var tiny = 1e-8.ToScalar();
                var max = flat.max(1, keepdim: true).values.clamp_min(tiny);
                return (flat / max).view(n, input.shape[2], input.shape[3]).detach().cpu().MoveToOuterDisposeScope();
            }
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Blends a heatmap (H×W in [0, 1]) over an image with a blue→red colour map (alpha 0.5 where hot).</summary>
    public static RgbImage Overlay(RgbImage image, Tensor heatmap)
    {
        int w = image.Width, h = image.Height;
        if (heatmap.shape[0] != h || heatmap.shape[1] != w) throw new ArgumentException("the heatmap must have the image's size", nameof(heatmap));
        float[] heat = heatmap.contiguous().data<float>().ToArray();
        var px = (byte[])image.Pixels.Clone();
        for (int i = 0; i < w * h; i++)
        {
            var (r, g, b) = Jet(heat[i]);
            float alpha = 0.25f + 0.35f * heat[i];
            px[i * 4] = (byte)(px[i * 4] * (1 - alpha) + r * alpha);
            px[i * 4 + 1] = (byte)(px[i * 4 + 1] * (1 - alpha) + g * alpha);
            px[i * 4 + 2] = (byte)(px[i * 4 + 2] * (1 - alpha) + b * alpha);
        }
        return new RgbImage(w, h, px);
    }

    /// <summary>The "jet" colour map: blue (0) → cyan → yellow → red (1).</summary>
    internal static (byte R, byte G, byte B) Jet(float v)
    {
        v = Math.Clamp(v, 0f, 1f);
        float r = Math.Clamp(1.5f - Math.Abs(4 * v - 3), 0, 1), g = Math.Clamp(1.5f - Math.Abs(4 * v - 2), 0, 1), b = Math.Clamp(1.5f - Math.Abs(4 * v - 1), 0, 1);
        return ((byte)(r * 255), (byte)(g * 255), (byte)(b * 255));
    }

    internal static SKColor JetColor(float v)
    {
        var (r, g, b) = Jet(v);
        return new SKColor(r, g, b);
    }
}
