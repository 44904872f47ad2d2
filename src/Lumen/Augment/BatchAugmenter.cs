using Lumen.Data.Boxes;
using Lumen.Imaging;
using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Augment;

/// <summary>
/// Augments a whole batch on its device with one resampling: per image, flip/dihedral, rotation,
/// zoom and perspective warp are composed into one 3×3 homography (output coordinates → input
/// coordinates, both in [-1, 1] with y pointing down), a sampling grid is built for the batch, and a
/// single <c>grid_sample</c> produces the result. Lighting follows, in logit space, as fastai does.
/// </summary>
public sealed class BatchAugmenter
{
    private readonly AugmentOptions _options;

    /// <summary>Creates an augmenter; the options are validated.</summary>
    public BatchAugmenter(AugmentOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>The settings in use.</summary>
    public AugmentOptions Options => _options;

    /// <summary>
    /// Returns an augmented copy of an N×3×H×W batch in [0, 1]. All randomness comes from
    /// <paramref name="random"/>, drawn in a fixed order, so a seed reproduces the batch.
    /// </summary>
    public Tensor Apply(Tensor images, Random random)
    {
        var (augmented, _) = Apply(images, (Tensor?)null, random);
        return augmented;
    }

    /// <summary>
    /// As <see cref="Apply(Tensor, Random)"/>, moving <paramref name="masks"/> (N×H×W class indices, or
    /// null) with their images: the same geometry, nearest-neighbour sampling and the same fill outside
    /// the frame (class 0 where images get zeros), no lighting. The same seed gives the same images
    /// with or without masks.
    /// </summary>
    public (Tensor Images, Tensor? Masks) Apply(Tensor images, Tensor? masks, Random random)
    {
        var (x, moved, _) = Apply(images, masks, null, random);
        return (x, moved);
    }

    /// <summary>
    /// As <see cref="Apply(Tensor, Random)"/>, moving each image's <paramref name="boxes"/> (in its pixels)
    /// with it: every box becomes the bounding box of its transformed corners, clipped, and is dropped
    /// when less than <see cref="BoxList.MinVisibleShare"/> stays in the frame. Pixels from outside the
    /// frame are black whatever the pad mode (a reflected object would be an object without a box).
    /// The same seed draws the same transforms as without boxes.
    /// </summary>
    public (Tensor Images, IReadOnlyList<BoxList> Boxes) Apply(Tensor images, IReadOnlyList<BoxList> boxes, Random random)
    {
        if (boxes.Count != images.shape[0]) throw new ArgumentException($"{images.shape[0]} images but {boxes.Count} box lists", nameof(boxes));
        var (x, _, moved) = Apply(images, null, boxes, random);
        return (x, moved!);
    }

    private (Tensor Images, Tensor? Masks, IReadOnlyList<BoxList>? Boxes) Apply(Tensor images, Tensor? masks, IReadOnlyList<BoxList>? boxes, Random random)
    {
        int n = (int)images.shape[0];
        var homographies = new double[n][];
        var brightness = new float[n];
        var contrast = new float[n];
        bool anyGeometry = false, anyLighting = false;
        for (int i = 0; i < n; i++)
        {
            homographies[i] = DrawGeometry(random);
            anyGeometry |= !IsIdentity(homographies[i]);
            (brightness[i], contrast[i]) = DrawLighting(random);
            anyLighting |= brightness[i] != 0 || contrast[i] != 1;
        }
        using var scope = NewDisposeScope();
        PadMode fill = boxes is null ? _options.PadMode : PadMode.Zeros;
        Tensor x = anyGeometry ? Resample(images, homographies, fill) : images.alias();
        IReadOnlyList<BoxList>? movedBoxes = boxes is null || !anyGeometry ? boxes
            : boxes.Select((b, i) => MoveBoxes(b, homographies[i], (int)images.shape[3], (int)images.shape[2])).ToList();
        Tensor? movedMasks = masks is null ? null
            : anyGeometry ? Resample(masks.unsqueeze(1), homographies, _options.PadMode, GridSampleMode.Nearest).squeeze(1).to(masks.dtype)
            : masks.alias();
        if (anyLighting)
        {
            Tensor b = tensor(brightness, new long[] { n, 1, 1, 1 }, x.dtype, x.device);
            Tensor c = tensor(contrast, new long[] { n, 1, 1, 1 }, x.dtype, x.device);
            using var low = 1e-6.ToScalar();
            using var high = (1 - 1e-6).ToScalar();
            x = x.clamp(low, high).logit().add_(b, Scalars.One).mul_(c).sigmoid_();
        }
        return (x.MoveToOuterDisposeScope(), movedMasks?.MoveToOuterDisposeScope(), movedBoxes);
    }

    /// <summary>
    /// Boxes through a homography (which maps output points to the input points they show, in [-1, 1]
    /// with pixel centres at ±1): the inverse takes each box corner to where the image puts it.
    /// </summary>
    private static BoxList MoveBoxes(BoxList boxes, double[] homography, int width, int height)
    {
        double[] m = Invert(homography);
        double toU = 2.0 / (width - 1), toV = 2.0 / (height - 1);
        return boxes.Map((x, y) =>
        {
            double u = (x - 0.5) * toU - 1, v = (y - 0.5) * toV - 1;
            double d = m[6] * u + m[7] * v + m[8];
            double mu = (m[0] * u + m[1] * v + m[2]) / d, mv = (m[3] * u + m[4] * v + m[5]) / d;
            return ((mu + 1) / toU + 0.5, (mv + 1) / toV + 0.5);
        }, width, height);
    }

    /// <summary>The inverse of a row-major 3×3 matrix (adjugate over determinant).</summary>
    internal static double[] Invert(double[] m)
    {
        double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
        double det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
        return new[]
        {
            (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
            (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
            (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
        };
    }

    /// <summary>One image's combined transform: warp ∘ flip ∘ rotate ∘ zoom, as a row-major 3×3 matrix.</summary>
    private double[] DrawGeometry(Random random)
    {
        var o = _options;
        double[] m = Identity();
        if (o.FlipVert)
        {
            if (random.NextDouble() < o.PFlip) m = Multiply(m, Dihedral(random.Next(8)));
        }
        else if (o.DoFlip && random.NextDouble() < o.PFlip)
        {
            m = Multiply(m, Dihedral(1));
        }
        if (o.MaxRotate > 0 && random.NextDouble() < o.PAffine)
            m = Multiply(m, Rotation((random.NextDouble() * 2 - 1) * o.MaxRotate));
        if (o.MaxZoom > 1 || o.MinZoom < 1)
        {
            if (random.NextDouble() < o.PAffine)
            {
                double scale = o.MinZoom + random.NextDouble() * (o.MaxZoom - o.MinZoom);
                m = Multiply(m, Zoom(scale, random.NextDouble(), random.NextDouble()));
            }
        }
        if (o.MaxWarp > 0 && random.NextDouble() < o.PAffine)
        {
            double mx = (random.NextDouble() * 2 - 1) * o.MaxWarp, my = (random.NextDouble() * 2 - 1) * o.MaxWarp;
            m = Multiply(Warp(mx, my), m);
        }
        return m;
    }

    private (float Brightness, float Contrast) DrawLighting(Random random)
    {
        double max = _options.MaxLighting;
        if (max <= 0) return (0f, 1f);
        float b = 0f, c = 1f;
        if (random.NextDouble() < _options.PLighting)
        {
            double change = 0.5 * (1 - max) + random.NextDouble() * max; // uniform in 0.5·(1±max)
            b = (float)Math.Log(change / (1 - change));
        }
        if (random.NextDouble() < _options.PLighting)
        {
            double lo = Math.Log(1 - max), hi = -lo;
            c = (float)Math.Exp(lo + random.NextDouble() * (hi - lo));
        }
        return (b, c);
    }

    /// <summary>
    /// Samples each image through its homography with one grid_sample (bilinear, corners aligned so
    /// pixel centres at the border map exactly: a flip moves column i to column W-1-i).
    /// </summary>
    internal static Tensor Resample(Tensor images, IReadOnlyList<double[]> homographies, PadMode padMode, GridSampleMode mode = GridSampleMode.Bilinear)
    {
        using var scope = NewDisposeScope();
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        var device = images.device;
        Tensor xs = linspace(-1, 1, w, dtype: ScalarType.Float32, device: device);
        Tensor ys = linspace(-1, 1, h, dtype: ScalarType.Float32, device: device);
        Tensor[] mesh = meshgrid(new[] { ys, xs }, indexing: "ij");
        Tensor basePoints = stack(new[] { mesh[1], mesh[0], ones_like(mesh[0]) }, -1).reshape(1, h * w, 3);
        var flat = new float[n * 9];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 9; k++) flat[i * 9 + k] = (float)homographies[i][k];
        Tensor mats = tensor(flat, new long[] { n, 3, 3 }, ScalarType.Float32, device);
        Tensor points = basePoints.matmul(mats.transpose(1, 2)); // N × HW × 3
        Tensor grid = points[.., .., ..2].div(points[.., .., 2..3]).reshape(n, h, w, 2);
        var padding = padMode switch
        {
            PadMode.Zeros => GridSamplePaddingMode.Zeros,
            PadMode.Border => GridSamplePaddingMode.Border,
            _ => GridSamplePaddingMode.Reflection,
        };
        Tensor result = F.grid_sample(images.to(ScalarType.Float32), grid, mode, padding, align_corners: true);
        return result.MoveToOuterDisposeScope();
    }

    internal static double[] Identity() => new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 };

    private static bool IsIdentity(double[] m)
    {
        double[] id = Identity();
        for (int k = 0; k < 9; k++) if (Math.Abs(m[k] - id[k]) > 1e-12) return false;
        return true;
    }

    /// <summary>Row-major 3×3 product a·b.</summary>
    internal static double[] Multiply(double[] a, double[] b)
    {
        var r = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
        return r;
    }

    /// <summary>
    /// Rotation by <paramref name="degrees"/>; with y pointing down, positive angles turn the picture
    /// counter-clockwise as displayed (the grid maps each output point to the input point it shows).
    /// </summary>
    internal static double[] Rotation(double degrees)
    {
        double t = degrees * Math.PI / 180, c = Math.Cos(t), s = Math.Sin(t);
        return new[] { c, -s, 0, s, c, 0, 0, 0, 1 };
    }

    /// <summary>Zoom in by <paramref name="scale"/> around a centre chosen by the two fractions (fastai's formula).</summary>
    internal static double[] Zoom(double scale, double colPct, double rowPct)
    {
        double inv = 1 / scale;
        return new[] { inv, 0, (1 - inv) * (2 * colPct - 1), 0, inv, (1 - inv) * (2 * rowPct - 1), 0, 0, 1 };
    }

    /// <summary>
    /// One of the 8 symmetries of the square: bit 0 flips x (a horizontal mirror), bit 1 flips y,
    /// bit 2 transposes.
    /// </summary>
    internal static double[] Dihedral(int k)
    {
        double fx = (k & 1) != 0 ? -1 : 1, fy = (k & 2) != 0 ? -1 : 1;
        return (k & 4) != 0
            ? new[] { 0, fx, 0, fy, 0, 0, 0, 0, 1 }
            : new[] { fx, 0, 0, 0, fy, 0, 0, 0, 1 };
    }

    /// <summary>
    /// A perspective (keystone) warp: the homography taking the corners (±1, ±1) to
    /// (x·(1 + mx·y), y·(1 + my·x)), so the top and bottom edges change width by ∓mx and the left and
    /// right edges change height by ∓my.
    /// </summary>
    internal static double[] Warp(double mx, double my)
    {
        double[,] from = { { -1, -1 }, { 1, -1 }, { 1, 1 }, { -1, 1 } };
        var a = new double[8, 8];
        var rhs = new double[8];
        for (int p = 0; p < 4; p++)
        {
            double x = from[p, 0], y = from[p, 1];
            double u = x * (1 + mx * y), v = y * (1 + my * x);
            // u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v likewise with h3..h5.
            double[] rowU = { x, y, 1, 0, 0, 0, -u * x, -u * y };
            double[] rowV = { 0, 0, 0, x, y, 1, -v * x, -v * y };
            for (int k = 0; k < 8; k++) { a[2 * p, k] = rowU[k]; a[2 * p + 1, k] = rowV[k]; }
            rhs[2 * p] = u;
            rhs[2 * p + 1] = v;
        }
        double[] h = SolveLinear(a, rhs);
        return new[] { h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1 };
    }

    /// <summary>Gaussian elimination with partial pivoting (8×8: the four-point homography).</summary>
    private static double[] SolveLinear(double[,] a, double[] b)
    {
        int n = b.Length;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col])) pivot = r;
            for (int k = 0; k < n; k++) (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
            (b[col], b[pivot]) = (b[pivot], b[col]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = a[r, col] / a[col, col];
                for (int k = col; k < n; k++) a[r, k] -= f * a[col, k];
                b[r] -= f * b[col];
            }
        }
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = b[i] / a[i, i];
        return x;
    }
}
