using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Models;

/// <summary>What a body's layers output, found by running a probe image through them (for the parts built on a body: the U-Net, the feature pyramid).</summary>
internal static class BodyProbe
{
    /// <summary>
    /// The output shape of each of <paramref name="layers"/> (the body's, in running order) for a
    /// <paramref name="size"/>×<paramref name="size"/> image, computed in inference mode so the body's
    /// BatchNorm statistics are untouched.
    /// </summary>
    public static List<long[]> Shapes(Sequential body, IReadOnlyList<Module<Tensor, Tensor>> layers, int size)
    {
        var shapes = new List<long[]>();
        bool wasTraining = body.training;
        body.eval();
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            Tensor x = zeros(1, 3, size, size);
            foreach (var layer in layers)
            {
                x = layer.forward(x);
                shapes.Add(x.shape);
            }
        }
        body.train(wasTraining);
        return shapes;
    }
}
