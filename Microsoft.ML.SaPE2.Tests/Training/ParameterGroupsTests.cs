using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Tests.Training;

[TestClass]
public sealed class ParameterGroupsTests
{
    [TestMethod]
    public void PositionTablesAndTheClassTokenAreDeclaredByTheirModulesAndNeverDecayed()
    {
        foreach (var kind in Enum.GetValues<PositionEncodingKind>())
        {
            var config = VitConfig.FromPreset(VitPreset.Micro, 16, 4, 3, 5) with { PositionEncoding = kind };
            using var model = new VisionTransformer(config);
            var (decayed, _) = ParameterGroups.Split(model);
            var decayedHandles = decayed.Select(p => p.Handle).ToHashSet();
            foreach (var (name, parameter) in model.named_parameters())
            {
                bool positionOrToken = name == "classToken" || name.StartsWith("tokenPosition.") || name.Contains(".position.");
                bool expected = parameter.dim() >= 2 && !positionOrToken;
                Assert.AreEqual(expected, decayedHandles.Contains(parameter.Handle), $"{kind}: '{name}' ({parameter.dim()}-D) decayed?");
            }
            Assert.IsTrue(decayed.Count >= 4 * config.Depth, $"{kind}: the weight matrices must be decayed ({decayed.Count}).");
        }
    }
}
