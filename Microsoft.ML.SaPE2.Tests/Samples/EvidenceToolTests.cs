using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using Sape2.Cli;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>The pieces of `sape2 compare`, `robustness` and `patterns` below the command line: arms, the pattern task, the studies.</summary>
[TestClass]
public sealed class EvidenceToolTests
{
    [TestMethod]
    public void ArmsNameTheirAblationsAndSetOnlyThose()
    {
        var arm = Arm.Parse("sape2+ape:QUERY:sigma-:cls");
        Assert.AreEqual(new Arm(PositionEncodingKind.Sape2, true, Sape2Mode.Query, -1, PoolingKind.ClassToken), arm);
        Assert.AreEqual("Sape2+APE:query:sigma-:cls", arm.ToString());
        Assert.AreEqual("Sape2+APE_query_sigma-_cls", arm.FileName);
        Assert.AreEqual(arm, Arm.Parse(arm.ToString()), "A label parses back to its arm.");
        Assert.AreEqual("Absolute:avg", Arm.Parse("Absolute:avg").ToString());
        Assert.AreEqual("Cope", Arm.Parse("Cope").ToString(), "Without +APE CoPE runs alone.");

        var template = new Sape2ImageClassificationTrainer.Options { Pooling = PoolingKind.GlobalAverage, Epochs = 3 };
        var options = arm.Options(template, seed: 4);
        Assert.AreEqual((PositionEncodingKind.Sape2, true, Sape2Mode.Query, -1.0, PoolingKind.ClassToken, 4, 3),
            (options.PositionEncoding, options.AbsolutePosition, options.Sape2Mode, options.Sape2BiasSign, options.Pooling, options.Seed,
                options.Epochs));
        var plain = Arm.Parse("Sape2").Options(template, seed: 1);
        Assert.AreEqual((false, Sape2Mode.Key, 1.0, PoolingKind.GlobalAverage), (plain.AbsolutePosition, plain.Sape2Mode, plain.Sape2BiasSign,
            plain.Pooling), "An arm keeps the comparison's settings it does not name.");
        Assert.AreEqual(PoolingKind.GlobalAverage, template.Pooling, "The template is not changed.");

        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Arm.Parse("Absolute:query")).Message, "is a SaPE² setting");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Arm.Parse("Sape2:wide")).Message, "'wide' in 'Sape2:wide'");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Arm.Parse("3")).Message, "'3' is not an encoding");
    }

    [TestMethod]
    public void EveryPatternImageShowsItsArrangementAndNothingElse()
    {
        var counts = new int[RepeatedPatterns.Classes.Length];
        for (int index = 0; index < 250; index++)
        {
            var (pixels, label) = RepeatedPatterns.Image(seed: 5, index);
            counts[label]++;
            var cells = ObjectCells(pixels);
            Assert.AreEqual(3, cells.Count, $"image {index}: three objects");
            var pairs = cells.SelectMany((a, i) => cells.Skip(i + 1).Select(b => (Rows: Math.Abs(a.Row - b.Row), Columns: Math.Abs(a.Column -
                b.Column)))).ToList();
            Assert.IsTrue(pairs.All(p => Math.Max(p.Rows, p.Columns) >= 2), $"image {index}: two objects touch");
            bool row = pairs.All(p => p.Rows == 0), column = pairs.All(p => p.Columns == 0);
            bool diagonal = pairs.All(p => p.Rows == p.Columns) && pairs.Select(p => p.Rows).Order().ToList() is [var s, var t, var u] &&
                s == t && u == 2 * s;
            bool corner = pairs.Count(p => p.Rows == 0) == 1 && pairs.Count(p => p.Columns == 0) == 1;
            bool apart = pairs.All(p => p.Rows != 0 && p.Columns != 0 && p.Rows != p.Columns);
            bool[] matches = [row, column, diagonal, corner, apart];
            Assert.AreEqual(1, matches.Count(m => m), $"image {index} fits {matches.Count(m => m)} arrangements");
            Assert.IsTrue(matches[label], $"image {index} is labelled {RepeatedPatterns.Classes[label]}");
            var (first, last) = (BackgroundCell(pixels, cells, last: false), BackgroundCell(pixels, cells, last: true));
            double difference = first.Zip(last).Average(p => Math.Abs(p.First - p.Second));
            Assert.IsTrue(difference < 20, $"image {index}: the first and last background cells differ by {difference:F1} on average, more than " +
                "noise; the background must repeat one texture");
        }
        CollectionAssert.AreEqual(Enumerable.Repeat(50, 5).ToArray(), counts, "The classes are balanced.");
        CollectionAssert.AreEqual(RepeatedPatterns.Image(5, 17).Pixels, RepeatedPatterns.Image(5, 17).Pixels, "An image is a function of its seed.");
        CollectionAssert.AreNotEqual(RepeatedPatterns.Image(5, 17).Pixels, RepeatedPatterns.Image(6, 17).Pixels);
    }

    /// <summary>Cells whose centre is black and whose corners are white: the ring (background pixels lie within [60, 190] before noise).</summary>
    static List<(int Row, int Column)> ObjectCells(byte[] pixels)
    {
        int side = RepeatedPatterns.Side, cell = RepeatedPatterns.Cell;
        return Enumerable.Range(0, RepeatedPatterns.Cells * RepeatedPatterns.Cells).Select(i => (Row: i / RepeatedPatterns.Cells,
            Column: i % RepeatedPatterns.Cells)).Where(c => pixels[(c.Row * cell + 1) * side + c.Column * cell + 1] < 40 &&
                pixels[c.Row * cell * side + c.Column * cell] > 215).ToList();
    }

    /// <summary>The 16 pixels of the first or last background cell.</summary>
    static int[] BackgroundCell(byte[] pixels, List<(int Row, int Column)> objects, bool last)
    {
        var cells = Enumerable.Range(0, 64).Select(i => (Row: i / 8, Column: i % 8)).Where(c => !objects.Contains(c));
        var (row, column) = last ? cells.Last() : cells.First();
        return Enumerable.Range(0, 16).Select(i => (int)pixels[(row * 4 + i / 4) * 32 + column * 4 + i % 4]).ToArray();
    }

    [TestMethod]
    public void ShiftsMoveRightAndDownWithBlackFillAndSidesAreWholeTokens()
    {
        using var scope = NewDisposeScope();
        var images = arange(2 * 1 * 4 * 5, dtype: ScalarType.Float32).reshape(2, 1, 4, 5) + 1;
        var shifted = RobustnessStudy.Shift(images, 2);
        CollectionAssert.AreEqual(new long[] { 2, 1, 4, 5 }, shifted.shape);
        Assert.AreEqual(0f, shifted[.., .., ..2, ..].abs().sum().item<float>(), "the top two rows are black");
        Assert.AreEqual(0f, shifted[.., .., .., ..2].abs().sum().item<float>(), "the left two columns are black");
        Assert.IsTrue(shifted[.., .., 2.., 2..].eq(images[.., .., ..2, ..3]).all().item<bool>(), "the rest is the image moved by (2, 2)");
        Assert.AreEqual((36, 44, 56, 28), (RobustnessStudy.Side(35, 4), RobustnessStudy.Side(42, 4), RobustnessStudy.Side(56, 4),
            RobustnessStudy.Side(28, 4)));
    }

    [TestMethod]
    public void RobustnessStudyScoresEveryScaleAndShiftAndCountsTheClamp()
    {
        manual_seed(3);
        var config = new VitConfig
        {
            ImageHeight = 16, ImageWidth = 16, PatchSize = 4, InChannels = 1, NumClasses = 3, EmbedDim = 32, Depth = 2, NumHeads = 2,
            PositionEncoding = PositionEncodingKind.Sape2, Pooling = PoolingKind.GlobalAverage,
        };
        var format = new ImageFormat { Height = 16, Width = 16, Channels = 1 };
        using var classifier = new ImageClassifier(new VisionTransformer(config), format, new Normalization([0.5f], [0.5f]), ["a", "b", "c"], []);
        using var scope = NewDisposeScope();
        var images = rand(30, 1, 16, 16);
        var labels = Enumerable.Range(0, 30).Select(i => i % 3).ToArray();

        var results = RobustnessStudy.Run(classifier, "Sape2+APE", 1, images, labels, [1, 2], [4]);

        var atTrainingSize = results.Single(r => r.Study == "resolution" && r.Amount == 1);
        Assert.AreEqual((16, 4, 1.0, false), (atTrainingSize.Side, atTrainingSize.Grid, atTrainingSize.Unchanged, atTrainingSize.Interpolated));
        var larger = results.Single(r => r.Study == "resolution" && r.Amount == 2 && !r.Interpolated);
        var remedied = results.Single(r => r.Study == "resolution" && r.Amount == 2 && r.Interpolated);
        Assert.AreEqual((32, 8), (larger.Side, larger.Grid));
        Assert.IsTrue(larger.ClampFraction > 0, $"On an 8×8 grid some of a 4×4-trained table's positions pass its end ({larger.ClampFraction}).");
        Assert.AreEqual(0, remedied.ClampFraction, "Interpolated positions never reach the end.");
        Assert.AreEqual(0, atTrainingSize.ClampFraction);
        var shifted = results.Single(r => r.Study == "translation");
        Assert.AreEqual((4.0, 16), (shifted.Amount, shifted.Side));
        using (no_grad())
        {
            var direct = classifier.Model.forward(Preprocessing.Normalize(images, classifier.Normalization)).argmax(-1);
            double expected = direct.eq(tensor(labels.Select(l => (long)l).ToArray())).to(ScalarType.Float64).mean().item<double>();
            Assert.AreEqual(expected, atTrainingSize.Accuracy, 1e-12, "accuracy at the training size is the model's own");
        }
        var layers = classifier.Model.modules().OfType<Microsoft.ML.SaPE2.Modeling.PositionEncodings.Sape2Attention>().ToList();
        Assert.IsTrue(layers.Count == 2 && layers.All(a => a.ClampCounter is null), "The study leaves no counter behind.");
    }
}
