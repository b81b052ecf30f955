using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>
/// Applies <see cref="AugmentationOptions"/> to one batch (B, C, H, W) in [0, 1]. All randomness comes from the
/// <see cref="Random"/> passed in, so a batch is the same for the same seed whichever thread builds it. Every
/// geometric change of a sample (crop, flip, rotate, shear, translate) is one affine matrix, so the whole batch is
/// resampled once.
/// </summary>
internal static class BatchAugmenter
{
    private enum Op { Identity, AutoContrast, Brightness, Contrast, Color, Solarize, Posterize, Rotate, ShearX, ShearY, TranslateX, TranslateY }
    private static readonly Op[] Ops = Enum.GetValues<Op>();

    /// <summary>Augmented images and soft targets (B, classes) with label smoothing and Mixup/CutMix applied.</summary>
    public static (Tensor Images, Tensor Targets) Apply(Tensor images, int[] labels, int numClasses, double labelSmoothing,
                                                       AugmentationOptions options, Random random)
    {
        using var scope = NewDisposeScope();
        int b = (int)images.shape[0];
        var affine = new double[b][];
        var ops = new List<Op>[b];
        var magnitudes = new double[b][];
        for (int i = 0; i < b; i++)
        {
            ops[i] = Enumerable.Range(0, options.RandAugmentOps).Select(_ => Ops[random.Next(Ops.Length)]).ToList();
            magnitudes[i] = ops[i].Select(_ => options.RandAugmentMagnitude / 10.0 * (random.Next(2) == 0 ? 1 : -1)).ToArray();
            affine[i] = SampleAffine(images, options, ops[i], magnitudes[i], random);
        }
        var x = Geometry(images, affine);
        x = Colour(x, ops, magnitudes);
        var targets = SmoothedOneHot(labels, numClasses, labelSmoothing);
        (x, targets) = Mix(x, targets, options, random);
        return (x.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope());
    }

    /// <summary>A 2×3 matrix mapping output to input coordinates in [−1, 1] (affine_grid, align_corners false).</summary>
    private static double[] SampleAffine(Tensor images, AugmentationOptions options, List<Op> ops, double[] magnitudes, Random random)
    {
        double height = images.shape[2], width = images.shape[3];
        var m = Matrix.Identity;
        if (options.RandomResizedCrop)
        {
            double area = options.ResizedCropMinScale + random.NextDouble() * (1 - options.ResizedCropMinScale);
            double aspect = Math.Exp(Math.Log(3.0 / 4) + random.NextDouble() * Math.Log(16.0 / 9));
            double w = Math.Min(1, Math.Sqrt(area * aspect)), h = Math.Min(1, Math.Sqrt(area / aspect));
            m = m * Matrix.Translate((random.NextDouble() * 2 - 1) * (1 - w), (random.NextDouble() * 2 - 1) * (1 - h)) * Matrix.Scale(w, h);
        }
        if (options.RandomCropPadding > 0)   // pad and crop back = a whole-pixel shift with zero fill
        {
            int p = options.RandomCropPadding;
            m = m * Matrix.Translate(2.0 * random.Next(-p, p + 1) / width, 2.0 * random.Next(-p, p + 1) / height);
        }
        if (options.HorizontalFlip && random.Next(2) == 0) m = m * Matrix.Scale(-1, 1);
        for (int k = 0; k < ops.Count; k++)
        {
            double v = magnitudes[k];
            m = ops[k] switch
            {
                Op.Rotate => m * Matrix.Rotate(v * 30 * Math.PI / 180),
                Op.ShearX => m * Matrix.Shear(v * 0.3, 0),
                Op.ShearY => m * Matrix.Shear(0, v * 0.3),
                Op.TranslateX => m * Matrix.Translate(v * 0.45 * 2 * 0.5, 0),   // up to 45% of half the width
                Op.TranslateY => m * Matrix.Translate(0, v * 0.45 * 2 * 0.5),
                _ => m,
            };
        }
        return m.ToArray();
    }

    private static Tensor Geometry(Tensor images, double[][] affine)
    {
        if (affine.All(Matrix.IsIdentity)) return images.alias();
        var theta = tensor(affine.SelectMany(a => a).ToArray(), dtype: ScalarType.Float32).view(-1, 2, 3);   // (B, 2, 3)
        var grid = nn.functional.affine_grid(theta, images.shape, align_corners: false);                     // (B, H, W, 2)
        return nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false);
    }

    /// <summary>RandAugment's colour ops, vectorised: each op runs on the samples that drew it (in a fixed op order).</summary>
    private static Tensor Colour(Tensor x, List<Op>[] ops, double[][] magnitudes)
    {
        int b = ops.Length;
        foreach (var op in new[] { Op.AutoContrast, Op.Brightness, Op.Contrast, Op.Color, Op.Solarize, Op.Posterize })
        {
            var applies = new bool[b];
            var factor = new float[b];
            for (int i = 0; i < b; i++)
            {
                int k = ops[i].IndexOf(op);
                if (k < 0) continue;
                applies[i] = true;
                factor[i] = (float)magnitudes[i][k];
            }
            if (!applies.Any(a => a)) continue;
            if (op == Op.Color && x.shape[1] != 3) continue;
            var mask = tensor(applies).view(-1, 1, 1, 1);
            var f = tensor(factor).view(-1, 1, 1, 1);
            var changed = op switch
            {
                Op.AutoContrast => AutoContrast(x),
                Op.Brightness => UnitRange(x * (1 + 0.9f * f)),
                Op.Contrast => Blend(x.mean(new long[] { 1, 2, 3 }, keepdim: true), x, 1 + 0.9f * f),
                Op.Color => Blend(x.mean(new long[] { 1 }, keepdim: true), x, 1 + 0.9f * f),
                Op.Solarize => where(x >= 1 - 0.99f * f.abs(), 1 - x, x),
                Op.Posterize => Posterize(x, 8 - (int)Math.Round(4 * factor.Where((_, i) => applies[i]).Max(Math.Abs))),
                _ => x,
            };
            x = where(mask, changed, x);
        }
        return x;
    }

    private static Tensor Blend(Tensor degenerate, Tensor x, Tensor factor) => UnitRange(degenerate + factor * (x - degenerate));

    /// <summary>Clamped to [0, 1], with owned Scalars alive through the native call (TorchSharpScalarTests).</summary>
    private static Tensor UnitRange(Tensor x)
    {
        using Scalar zero = 0f.ToScalar(), one = 1f.ToScalar();
        return x.clamp(zero, one);
    }

    private static Tensor AutoContrast(Tensor x)
    {
        var low = x.amin(new long[] { 2, 3 }, keepdim: true);
        var high = x.amax(new long[] { 2, 3 }, keepdim: true);
        using var smallestRange = 1e-3f.ToScalar();
        return UnitRange((x - low) / (high - low).clamp_min(smallestRange));
    }

    private static Tensor Posterize(Tensor x, int bits)
    {
        float levels = (float)Math.Pow(2, Math.Clamp(bits, 1, 8));
        return (x * (levels - 1)).round() / (levels - 1);
    }

    /// <summary>One-hot targets (B, classes) with <paramref name="smoothing"/> spread over the classes.</summary>
    internal static Tensor SmoothedOneHot(int[] labels, int numClasses, double smoothing)
    {
        var index = tensor(labels.Select(l => (long)l).ToArray());
        float off = (float)(smoothing / numClasses);
        return nn.functional.one_hot(index, numClasses).to(ScalarType.Float32) * (float)(1 - smoothing) + off;
    }

    /// <summary>Mixup or CutMix with the batch in reverse order as partner (timm's convention).</summary>
    private static (Tensor, Tensor) Mix(Tensor x, Tensor targets, AugmentationOptions options, Random random)
    {
        if (!options.Mixes || random.NextDouble() >= options.MixProbability) return (x, targets);
        bool cutmix = options.CutmixAlpha > 0 && (options.MixupAlpha <= 0 || random.Next(2) == 0);
        double lambda = SampleBeta(cutmix ? options.CutmixAlpha : options.MixupAlpha, random);
        var partner = x.flip(0);
        if (cutmix)
        {
            long h = x.shape[2], w = x.shape[3];
            double side = Math.Sqrt(1 - lambda);
            long cutH = (long)(h * side), cutW = (long)(w * side);
            long cy = random.NextInt64(h), cx = random.NextInt64(w);
            long y0 = Math.Clamp(cy - cutH / 2, 0, h), y1 = Math.Clamp(cy + cutH / 2, 0, h);
            long x0 = Math.Clamp(cx - cutW / 2, 0, w), x1 = Math.Clamp(cx + cutW / 2, 0, w);
            x = x.clone();
            if (y1 > y0 && x1 > x0)
                x[.., .., TensorIndex.Slice(y0, y1), TensorIndex.Slice(x0, x1)] = partner[.., .., TensorIndex.Slice(y0, y1), TensorIndex.Slice(x0,
                    x1)];
            lambda = 1 - (double)(y1 - y0) * (x1 - x0) / (h * w);   // the area actually kept
        }
        else
        {
            x = x * (float)lambda + partner * (float)(1 - lambda);
        }
        return (x, targets * (float)lambda + targets.flip(0) * (float)(1 - lambda));
    }

    /// <summary>Beta(α, α) from two Gamma(α) draws (Marsaglia–Tsang), using only <paramref name="random"/>.</summary>
    internal static double SampleBeta(double alpha, Random random)
    {
        double a = SampleGamma(alpha, random), b = SampleGamma(alpha, random);
        return a + b == 0 ? 0.5 : a / (a + b);
    }

    private static double SampleGamma(double alpha, Random random)
    {
        if (alpha < 1) return SampleGamma(alpha + 1, random) * Math.Pow(random.NextDouble(), 1 / alpha);
        double d = alpha - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                v = 1 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>A 3×3 affine matrix in homogeneous coordinates; only the top two rows are used.</summary>
    private readonly record struct Matrix(double A, double B, double C, double D, double E, double F)
    {
        public static Matrix Identity => new(1, 0, 0, 0, 1, 0);
        public static Matrix Translate(double x, double y) => new(1, 0, x, 0, 1, y);
        public static Matrix Scale(double x, double y) => new(x, 0, 0, 0, y, 0);
        public static Matrix Rotate(double angle) => new(Math.Cos(angle), -Math.Sin(angle), 0, Math.Sin(angle), Math.Cos(angle), 0);
        public static Matrix Shear(double x, double y) => new(1, x, 0, y, 1, 0);
        public static Matrix operator *(Matrix p, Matrix q) => new(
            p.A * q.A + p.B * q.D, p.A * q.B + p.B * q.E, p.A * q.C + p.B * q.F + p.C,
            p.D * q.A + p.E * q.D, p.D * q.B + p.E * q.E, p.D * q.C + p.E * q.F + p.F);
        public double[] ToArray() => new[] { A, B, C, D, E, F };
        public static bool IsIdentity(double[] m) => m[0] == 1 && m[1] == 0 && m[2] == 0 && m[3] == 0 && m[4] == 1 && m[5] == 0;
    }
}
