using System.IO.Compression;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

[TestClass]
public sealed class ModelFileTests
{
    static string folder = "";
    static string zip = "";

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        folder = Directory.CreateTempSubdirectory("sape2-model-").FullName;
        var ml = new MLContext(seed: 1);
        var rows = SyntheticFolder(folder, classes: 2, perClass: 3);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadRawImageBytes("Image", folder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1).WithGrid(16, 4, 3)));
        var model = pipeline.Fit(data);
        zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, data.Schema, zip);
    }

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(folder, recursive: true);

    /// <summary>A copy of the model with one zip entry rewritten.</summary>
    static string Tampered(string name, Func<string, bool> entry, Func<byte[], byte[]> change)
    {
        string copy = Path.Combine(folder, name);
        File.Copy(zip, copy, overwrite: true);
        using var archive = ZipFile.Open(copy, ZipArchiveMode.Update);
        var target = archive.Entries.Single(e => entry(e.FullName));
        byte[] bytes;
        using (var read = target.Open()) { using var memory = new MemoryStream(); read.CopyTo(memory); bytes = memory.ToArray(); }
        string full = target.FullName;
        target.Delete();
        using var write = archive.CreateEntry(full).Open();
        write.Write(change(bytes));
        return copy;
    }

    static string EntryOfOurModel(ZipArchive archive) =>
        archive.Entries.Single(e => e.FullName.EndsWith("Model.key") && ReadAll(e).AsSpan().IndexOf("SAPE2IMG"u8) >= 0).FullName;

    static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);

    static byte[] ReadAll(ZipArchiveEntry e) { using var s = e.Open(); using var m = new MemoryStream(); s.CopyTo(m); return m.ToArray(); }

    [TestMethod]
    public void WeightsAreARawBinaryEntry()
    {
        using var archive = ZipFile.OpenRead(zip);
        var weights = archive.Entries.Single(e => e.FullName.EndsWith("SaPE2Weights"));
        Assert.IsTrue(weights.Length > 10_000, $"weights entry of {weights.Length} bytes");
    }

    [TestMethod]
    public void EditedWeightsFailWithAClearMessage()
    {
        string edited = Tampered("edited.zip", n => n.EndsWith("SaPE2Weights"), b => { b[b.Length / 2] ^= 0x40; return b; });
        // ML.NET calls loaders through reflection, so our exception arrives wrapped in TargetInvocationException.
        var e = Innermost(Assert.Throws<Exception>(() => new MLContext().Model.Load(edited, out _)));
        Assert.IsInstanceOfType<InvalidOperationException>(e);
        StringAssert.Contains(e.Message, "checksum");
        string truncated = Tampered("truncated.zip", n => n.EndsWith("SaPE2Weights"), b => b.AsSpan(0, b.Length / 3).ToArray());
        var t = Innermost(Assert.Throws<Exception>(() => new MLContext().Model.Load(truncated, out _)));
        Assert.IsInstanceOfType<InvalidOperationException>(t);
        StringAssert.Contains(t.Message, "SaPE2Weights");
    }

    [TestMethod]
    public void ANewerFormatVersionIsRefused()
    {
        string entryName;
        using (var archive = ZipFile.OpenRead(zip)) entryName = EntryOfOurModel(archive);
        string newer = Tampered("newer.zip", n => n == entryName, b =>
        {
            int at = b.AsSpan().IndexOf("SAPE2IMG"u8) + 8;                       // ModelSignature, then the versions
            BitConverter.GetBytes(0x00020001u).CopyTo(b, at);                     // verWrittenCur
            BitConverter.GetBytes(0x00020001u).CopyTo(b, at + 4);                 // verReadableCur
            return b;
        });
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(newer, out _));
        StringAssert.Contains(e.ToString(), "version", $"The error should speak of the version: {e.Message}");
    }

    [TestMethod]
    public void ATruncatedZipIsRefused()
    {
        string cut = Path.Combine(folder, "cut.zip");
        var bytes = File.ReadAllBytes(zip);
        File.WriteAllBytes(cut, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        var plain = Assert.Throws<Exception>(() => new MLContext().Model.Load(cut, out _));   // ML.NET's own words, without the file
        StringAssert.Contains(plain.ToString(), "zip archive");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Model.LoadSape2Model(cut, out _));
        StringAssert.Contains(e.Message, $"Model file '{cut}' ({bytes.Length / 2:N0} bytes) is not a readable zip archive");
    }

    [TestMethod]
    public void LoadSape2ModelNamesTheFileAndWhatIsWrong()
    {
        string empty = Path.Combine(folder, "empty.zip");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Model.LoadSape2Model(empty, out _)).Message,
            $"Model file '{empty}' is empty (0 bytes)");
        string missing = Path.Combine(folder, "missing.zip");
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => new MLContext().Model.LoadSape2Model(missing, out _)).Message,
            missing);
        string edited = Tampered("edited-api.zip", n => n.EndsWith("SaPE2Weights"), b => { b[b.Length / 2] ^= 0x40; return b; });
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => new MLContext().Model.LoadSape2Model(edited, out _));
        StringAssert.Contains(e.Message, $"Model file '{edited}' could not be loaded");
        StringAssert.Contains(e.Message, "checksum", e.Message);
        var model = new MLContext().Model.LoadSape2Model(zip, out var schema);
        Assert.IsNotNull(schema.GetColumnOrNull("ImagePath"), "The input schema comes back as Model.Load gives it.");
        ((IDisposable)model).Dispose();
    }

    [TestMethod]
    public void TheMLNetVersionGuardAcceptsTheVersionWeBuiltAgainstOnly()
    {
        string loaded = typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        Assert.AreEqual(loaded, MLNetVersionGuard.SupportedVersion, "The tests run on the ML.NET the library was built against.");
        CollectionAssert.Contains(new[] { "6.0.0", "5.0.1" }, MLNetVersionGuard.SupportedVersion);
        MLNetVersionGuard.Check();
        string other = MLNetVersionGuard.SupportedVersion == "6.0.0" ? "5.0.1" : "6.0.0";
        string? problem = MLNetVersionGuard.ProblemWith(new[] { ("Microsoft.ML.Data", loaded), ("Microsoft.ML.ImageAnalytics", other + "+abc") });
        Assert.IsNotNull(problem, "A mixed ML.NET (another release's ImageAnalytics) is refused.");
        StringAssert.Contains(problem, $"Microsoft.ML.ImageAnalytics {other}+abc is loaded");
        Assert.IsNull(MLNetVersionGuard.ProblemWith(new[] { ("Microsoft.ML.Data", loaded + "+commit") }));
    }
}
