using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Microsoft.ML.SaPE2.Training;
using static TorchSharp.torch;

namespace Sape2.Cli;

/// <summary>What one model scored on one altered copy of the test set.</summary>
/// <param name="Study">"resolution" or "translation".</param>
/// <param name="Amount">The scale (resolution) or the shift in pixels (translation).</param>
/// <param name="Side">Input side in pixels.</param>
/// <param name="Grid">Tokens a side.</param>
/// <param name="Interpolated">SaPE² positions scaled into the table (<see cref="VitConfig.Sape2InterpolatePositions"/>).</param>
/// <param name="Unchanged">Share of images whose predicted class is the one on the unaltered test set.</param>
/// <param name="ClampFraction">Share of SaPE²'s cumulative positions at or past the table's last entry; null for other encodings.</param>
internal sealed record RobustnessResult(string Arm, int Seed, string Study, double Amount, int Side, int Grid, bool Interpolated,
    double Accuracy, double Unchanged, double? ClampFraction);

/// <summary>
/// The resolution and translation studies of one trained model on a labelled test set: the images rescaled (bilinear) to
/// larger sides, so the model sees a larger token grid than it was trained on (its absolute embedding resized as always),
/// and shifted right and down by whole pixels with black fill. Every prediction is compared with the unaltered one.
/// </summary>
internal static class RobustnessStudy
{
    /// <summary>Images scored at a time.</summary>
    public const int BatchSize = 250;

    /// <summary>The test images at the model's format, (N, C, H, W) in [0, 1], and their class indices in the model's order.</summary>
    public static (Tensor Images, int[] Labels) TestSet(ImageClassifier classifier, IReadOnlyList<ImageRow> rows)
    {
        var format = classifier.Format;
        var pixels = new byte[rows.Count * format.PixelCount];
        Parallel.For(0, rows.Count, i => rows[i].ModelPixels(format).CopyTo(pixels, i * format.PixelCount));
        var classIndex = classifier.ClassNames.Select((name, index) => (name, index)).ToDictionary(c => c.name, c => c.index);
        var labels = rows.Select(r => classIndex.TryGetValue(r.Label, out int index) ? index
            : throw new InvalidOperationException($"The test image {r.Source} is labelled '{r.Label}', which is not one of the model's classes " +
                $"({string.Join(", ", classifier.ClassNames)}).")).ToArray();
        return (Preprocessing.ToUnitRange(pixels, rows.Count, format), labels);
    }

    /// <summary>Every result of <paramref name="classifier"/> (trained as <paramref name="arm"/> with <paramref name="seed"/>); with SaPE²
    /// the larger scales are also run with interpolated positions.</summary>
    public static List<RobustnessResult> Run(ImageClassifier classifier, string arm, int seed, Tensor images, int[] labels,
        IReadOnlyList<double> scales, IReadOnlyList<int> shifts)
    {
        var results = new List<RobustnessResult>();
        int height = (int)images.shape[2], width = (int)images.shape[3];
        var reference = Predict(classifier, images, x => x, null);
        bool sape2 = classifier.Config.PositionEncoding == PositionEncodingKind.Sape2;
        using var interpolating = sape2 ? WithInterpolatedPositions(classifier) : null;
        foreach (double scale in scales)
        {
            int side = Side(height * scale, classifier.Config.PatchSize), sideX = Side(width * scale, classifier.Config.PatchSize);
            Tensor Resize(Tensor x) => scale == 1 ? x.alias()
                : nn.functional.interpolate(x, new long[] { side, sideX }, mode: InterpolationMode.Bilinear, align_corners: false);
            foreach (var model in interpolating is null || scale == 1 ? new[] { classifier } : new[] { classifier, interpolating })
                results.Add(Score(model, "resolution", scale, side, Resize, model == interpolating));
        }
        foreach (int shift in shifts)
            results.Add(Score(classifier, "translation", shift, height, x => Shift(x, shift), false));
        return results;

        RobustnessResult Score(ImageClassifier model, string study, double amount, int side, Func<Tensor, Tensor> alter, bool interpolated)
        {
            var counter = sape2 ? new PositionClampCounter() : null;
            var predicted = Predict(model, images, alter, counter);
            int grid = GridSide(model, side);
            return new RobustnessResult(arm, seed, study, amount, side, grid, interpolated,
                Share(predicted, labels), Share(predicted, reference), counter?.Fraction);
        }
    }

    /// <summary>The side nearest <paramref name="pixels"/> that is a whole number of <paramref name="stride"/>-pixel tokens.</summary>
    public static int Side(double pixels, int stride) => Math.Max(stride, (int)Math.Round(pixels / stride, MidpointRounding.AwayFromZero) * stride);

    /// <summary>(N, C, H, W) moved <paramref name="pixels"/> right and down, the uncovered band black (0) and the far edge cut off.</summary>
    public static Tensor Shift(Tensor images, int pixels)
    {
        long height = images.shape[2], width = images.shape[3];
        if (pixels == 0) return images.alias();
        var padded = nn.functional.pad(images, new long[] { pixels, 0, pixels, 0 });   // left and top
        return padded.narrow(2, 0, height).narrow(3, 0, width);
    }

    private static int[] Predict(ImageClassifier classifier, Tensor images, Func<Tensor, Tensor> alter, PositionClampCounter? counter)
    {
        var layers = classifier.Model.modules().OfType<Sape2Attention>().ToList();
        foreach (var layer in layers) layer.ClampCounter = counter;
        try
        {
            long count = images.shape[0];
            var predicted = new int[count];
            classifier.Model.eval();
            using var noGrad = no_grad();
            for (long start = 0; start < count; start += BatchSize)
            {
                using var scope = NewDisposeScope();
                var batch = alter(images.narrow(0, start, Math.Min(BatchSize, count - start)));
                var classes = classifier.Model.forward(Preprocessing.Normalize(batch, classifier.Normalization)).argmax(-1);
                classes.to(ScalarType.Int32).data<int>().CopyTo(predicted, (int)start);
            }
            return predicted;
        }
        finally
        {
            foreach (var layer in layers) layer.ClampCounter = null;
        }
    }

    private static int GridSide(ImageClassifier classifier, int side)
    {
        using var probe = zeros(1, classifier.Config.InChannels, side, side);
        return classifier.Model.GridOf(probe).Height;
    }

    /// <summary>The same weights with <see cref="VitConfig.Sape2InterpolatePositions"/> on: the remedy for positions past the table.</summary>
    private static ImageClassifier WithInterpolatedPositions(ImageClassifier classifier)
    {
        var metadata = classifier.Metadata();
        return ImageClassifier.Load(metadata with { Config = metadata.Config with { Sape2InterpolatePositions = true } },
            ModelWeights.Save(classifier.Model), "the model with interpolated positions");
    }

    private static double Share(int[] predicted, int[] expected) =>
        (double)predicted.Zip(expected).Count(pair => pair.First == pair.Second) / Math.Max(1, predicted.Length);
}
