using System.Diagnostics;
using System.Reflection;
using System.Xml.Linq;
using Microsoft.ML.SaPE2.Tests.Data;
using Sape2.Benchmarks;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>The ONNX serving sample depends on ML.NET and ONNX Runtime only, and its output folder holds no libtorch.</summary>
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

    /// <summary>The built sample's folder: the test project builds the sample first (a project reference without its assembly), in the
    /// same configuration.</summary>
    static string Output => Path.Combine(Project, "bin", new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0");

    static (int ExitCode, string Output, string Errors) RunSample(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(Output, "OnnxServing.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, errors);
    }

    [TestMethod]
    public void BadModelsAndImagesGetOneLineEachNotACrash()
    {
        string folder = Directory.CreateTempSubdirectory("sape2-serving-").FullName;
        try
        {
            var missing = RunSample(Path.Combine(folder, "nothing.onnx"), folder);
            Assert.AreEqual(1, missing.ExitCode, missing.Errors);
            StringAssert.StartsWith(missing.Errors, "error: the model");
            string notOnnx = Path.Combine(folder, "text.onnx");
            File.WriteAllText(notOnnx, "not a model");
            var foreign = RunSample(notOnnx, folder);
            Assert.AreEqual(1, foreign.ExitCode, foreign.Errors);
            StringAssert.Contains(foreign.Errors, "is not a SaPE² model exported to ONNX");

            string model = Path.Combine(folder, "model.onnx");
            using (var classifier = InteropFixtures.RandomClassifier(InteropFixtures.Settings["APE"], InteropFixtures.Fashion))
                File.WriteAllBytes(model, Microsoft.ML.Sape2Onnx.Export(classifier));
            string images = Path.Combine(folder, "images");
            Directory.CreateDirectory(images);
            var png = TestImages.Encode(SkiaSharp.SKEncodedImageFormat.Png, 28, 28);
            File.WriteAllBytes(Path.Combine(images, "good.png"), png);
            File.WriteAllBytes(Path.Combine(images, "garbage.png"), [1, 2, 3, 4]);
            var noisy = new byte[64 * 64 * 4];
            new Random(3).NextBytes(noisy);
            using (var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(64, 64, SkiaSharp.SKColorType.Rgba8888)))
            {
                System.Runtime.InteropServices.Marshal.Copy(noisy, 0, bitmap.GetPixels(), noisy.Length);
                using var encoded = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(images, "cut.png"), encoded.ToArray()[..(int)(encoded.Size * 0.6)]);
            }
            var bad = RunSample(model, images);
            Assert.AreEqual(1, bad.ExitCode, bad.Errors);
            var lines = bad.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.IsTrue(lines.Any(l => l.StartsWith("error: ") && l.Contains("garbage.png")), bad.Errors);
            Assert.IsTrue(lines.Any(l => l.StartsWith("error: ") && l.Contains("cut.png") && l.Contains("truncated")), bad.Errors);
            Assert.IsFalse(bad.Errors.Contains("   at "), $"A stack trace: {bad.Errors}");

            File.Delete(Path.Combine(images, "garbage.png"));
            File.Delete(Path.Combine(images, "cut.png"));
            var good = RunSample(model, images);
            Assert.AreEqual(0, good.ExitCode, good.Errors);
            StringAssert.Contains(good.Output, "good.png");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    [DataRow(1), DataRow(3), DataRow(6), DataRow(8)]
    public void TheSampleTurnsImagesUprightAsTheirExifOrientationSays(int orientation)
    {
        var read = Assembly.LoadFrom(Path.Combine(Output, "OnnxServing.dll")).GetType("UprightImage")!.GetMethod("Read")!;
        string file = Path.Combine(Path.GetTempPath(), $"sape2-exif-{Guid.NewGuid():N}.jpg");
        File.WriteAllBytes(file, ExifOrientationTests.StoredJpeg(orientation));
        try
        {
            using var image = (Microsoft.ML.Data.MLImage)read.Invoke(null, [file])!;
            Assert.AreEqual((32, 16), (image.Width, image.Height), "the upright size");
            var pixels = image.Pixels;   // RGBA
            Assert.IsTrue(pixels[0] > 200, $"Orientation {orientation}: the top-left corner is {pixels[0]}, white expected.");
            int last = 4 * (32 * 16 - 1);
            Assert.IsTrue(pixels[last] is > 90 and < 170, $"Orientation {orientation}: the bottom-right corner is {pixels[last]}, gray expected.");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestMethod]
    public void TheBuiltSampleHoldsNoTorchSharpOrLibtorch()
    {
        string output = Output;
        Assert.IsTrue(File.Exists(Path.Combine(output, "OnnxServing.dll")), $"{output} has no OnnxServing.dll.");
        var files = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        CollectionAssert.Contains(files, "Microsoft.ML.OnnxRuntime.dll");
        var torch = files.Where(f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.AreEqual(0, torch.Count, $"TorchSharp or libtorch in the serving sample's output: {string.Join(", ", torch.Take(5))}");
    }
}
