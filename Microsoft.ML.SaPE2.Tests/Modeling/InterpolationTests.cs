using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>Eq. 14's two forms — hat weights (short tables) and gathers (long ones) — are one function with one gradient.</summary>
[TestClass]
public sealed class InterpolationTests
{
    [TestMethod]
    [DataRow(2)]
    [DataRow(5)]
    [DataRow(9)]
    public void HatWeightsAndGathersGiveTheSameValuesAndGradients(int tableSize)
    {
        var generator = new Generator(3);
        using var logits = randn(new long[] { 2, 3, 4, tableSize }, dtype: ScalarType.Float64, generator: generator);
        using var fractional = rand(new long[] { 2, 3, 4, 6 }, dtype: ScalarType.Float64, generator: generator) * (tableSize - 1);
        // Whole positions too, the ends of the table included: there the gradient with respect to p is 0 in both forms.
        using var whole = randint(0, tableSize, new long[] { 2, 3, 4, 3 }, dtype: ScalarType.Float64, generator: generator);
        using var ends = tensor(new double[] { 0, tableSize - 1 }).expand(2, 3, 4, 2);
        using var positions = cat(new[] { fractional, whole, ends }, -1);

        (Tensor Value, Tensor LogitGradient, Tensor PositionGradient) Run(Func<Tensor, Tensor, Tensor> interpolate)
        {
            var z = logits.detach().requires_grad_(true);
            var p = positions.detach().requires_grad_(true);
            var value = interpolate(z, p);
            using var weights = linspace(-1, 2, value.shape[^1], dtype: ScalarType.Float64);
            (value * weights).sum().backward();
            return (value.detach(), z.grad!, p.grad!);
        }

        var hats = Run(PositionMath.InterpolateWithHats);
        var gathers = Run(PositionMath.InterpolateWithGathers);
        TensorAssert.AreClose(gathers.Value, hats.Value, 1e-12, "values");
        TensorAssert.AreClose(gathers.LogitGradient, hats.LogitGradient, 1e-12, "gradient with respect to the logits");
        TensorAssert.AreClose(gathers.PositionGradient, hats.PositionGradient, 1e-12, "gradient with respect to the positions");
    }
}
