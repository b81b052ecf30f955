using System.Xml.Linq;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>Issue 12.3: the ONNX serving sample depends on ML.NET and ONNX Runtime only, and its output folder holds no libtorch.</summary>
[TestClass]
public sealed class OnnxServingSampleTests
{
    static readonly string Project = Path.Combine(RepositoryPaths.Root, "Samples", "OnnxServing");

    [TestMethod]
    public void TheSampleReferencesMLNetAndOnnxRuntimeOnly()
    {
        var project = XDocument.Load(Path.Combine(Project, "OnnxServing.csproj"));
        var packages = project.Descendants("PackageReference").Select(p => (string)p.Attribute("Include")!).Order().ToArray();
        CollectionAssert.AreEqual(new[] { "Microsoft.ML", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxRuntime", "Microsoft.ML.OnnxTransformer" },
            packages);
        Assert.IsFalse(project.Descendants("ProjectReference").Any(), "The sample must not reference the library (or TorchSharp through it).");
    }

    [TestMethod]
    public void TheBuiltSampleHoldsNoTorchSharpOrLibtorch()
    {
        // The test project builds the sample first (a project reference without its assembly), in the same configuration.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        string output = Path.Combine(Project, "bin", configuration, "net10.0");
        Assert.IsTrue(File.Exists(Path.Combine(output, "OnnxServing.dll")), $"{output} has no OnnxServing.dll.");
        var files = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        CollectionAssert.Contains(files, "Microsoft.ML.OnnxRuntime.dll");
        var torch = files.Where(f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.AreEqual(0, torch.Count, $"TorchSharp or libtorch in the serving sample's output: {string.Join(", ", torch.Take(5))}");
    }
}
