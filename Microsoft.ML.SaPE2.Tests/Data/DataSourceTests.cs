using System.IO.Compression;
using Microsoft.ML.SaPE2.Data;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.Data;

[TestClass]
public sealed class DataSourceTests
{
    static readonly ImageFormat Rgb8 = new() { Height = 8, Width = 8, Channels = 3 };
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-data-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    string AddImage(string className, string name, byte[]? bytes = null)
    {
        Directory.CreateDirectory(Path.Combine(folder, className));
        string path = Path.Combine(folder, className, name);
        File.WriteAllBytes(path, bytes ?? TestImages.Encode(SKEncodedImageFormat.Png));
        return path;
    }

    [TestMethod]
    public void ImageFolderReadsClassesAndSkipsNonImages()
    {
        AddImage("cat", "a.png"); AddImage("cat", "b.JPG", TestImages.Encode(SKEncodedImageFormat.Jpeg)); AddImage("dog", "c.bmp", TestImages.Bmp(3,
            3, 1, 2, 3));
        string notes = AddImage("dog", "notes.txt", "not an image"u8.ToArray());
        var result = ImageFolder.Load(folder, Rgb8);
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, result.Dataset.ClassNames.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 0, 1 }, result.Dataset.Labels.ToArray());
        CollectionAssert.AreEqual(new[] { notes }, result.SkippedFiles.ToArray(), "Non-image files are skipped and reported.");
    }

    [TestMethod]
    public void ImageFolderErrorsNameTheFolderOrFile()
    {
        var missing = Assert.ThrowsExactly<DirectoryNotFoundException>(() => ImageFolder.Load(Path.Combine(folder, "nope"), Rgb8));
        StringAssert.Contains(missing.Message, "nope");
        var noClasses = Assert.ThrowsExactly<InvalidOperationException>(() => ImageFolder.Load(folder, Rgb8));
        StringAssert.Contains(noClasses.Message, "no class sub-folders");
        AddImage("cat", "a.png");
        Directory.CreateDirectory(Path.Combine(folder, "dog"));
        var emptyClass = Assert.ThrowsExactly<InvalidOperationException>(() => ImageFolder.Load(folder, Rgb8));
        StringAssert.Contains(emptyClass.Message, Path.Combine(folder, "dog"));
        string corrupt = AddImage("dog", "broken.png", new byte[] { 0x89, 0x50, 0x4e, 0x47, 1, 2, 3 });
        var bad = Assert.ThrowsExactly<InvalidImageException>(() => ImageFolder.Load(folder, Rgb8));
        StringAssert.Contains(bad.Message, corrupt);
        File.Delete(corrupt);
        AddImage("dog", "zero.png", Array.Empty<byte>());
        var zero = Assert.ThrowsExactly<InvalidImageException>(() => ImageFolder.Load(folder, Rgb8));
        StringAssert.Contains(zero.Message, "zero.png");
        var unknown = Assert.ThrowsExactly<InvalidOperationException>(() => ImageFolder.Load(folder, Rgb8, new[] { "cat", "bird" }));
        StringAssert.Contains(unknown.Message, "dog");
    }

    [TestMethod]
    public void IdxFilesRoundTripAndCheckTheirHeaders()
    {
        string images = Path.Combine(folder, "images.gz"), labels = Path.Combine(folder, "labels");
        WriteGzip(images, Idx(2051, 3, 2, 2, new byte[] { 0, 255, 0, 255, 10, 20, 30, 40, 1, 2, 3, 4 }));
        File.WriteAllBytes(labels, Idx(2049, 3, 0, 0, new byte[] { 7, 2, 9 }));
        var data = IdxFiles.Load(images, labels);
        Assert.AreEqual(3, data.Count);
        CollectionAssert.AreEqual(new[] { 7, 2, 9 }, data.Labels.ToArray());
        CollectionAssert.AreEqual(new byte[] { 10, 20, 30, 40 }, data.Image(1).ToArray());

        File.WriteAllBytes(labels, Idx(2049, 3, 0, 0, new byte[] { 7, 2, 12 }));
        var unknown = Assert.ThrowsExactly<InvalidOperationException>(() => IdxFiles.Load(images, labels));
        StringAssert.Contains(unknown.Message, "#2");
        StringAssert.Contains(unknown.Message, "label 12");
        File.WriteAllBytes(labels, Idx(2051, 3, 0, 0, new byte[] { 1, 2, 3 }));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => IdxFiles.Load(images, labels)).Message, "2049");
        WriteGzip(images, Idx(2051, 3, 2, 2, new byte[] { 0, 255, 0 }));
        File.WriteAllBytes(labels, Idx(2049, 3, 0, 0, new byte[] { 1, 2, 3 }));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => IdxFiles.Load(images, labels)).Message, "truncated");
    }

    [TestMethod]
    public void CifarFilesReadBothVariants()
    {
        string ten = Path.Combine(folder, "data_batch_1.bin");
        var record = new byte[1 + 3072];
        record[0] = 3; record[1] = 200;   // label 3, first red pixel 200
        File.WriteAllBytes(ten, record.Concat(record).ToArray());
        var cifar10 = CifarFiles.Load(new[] { ten }, CifarVariant.Cifar10);
        Assert.AreEqual(2, cifar10.Count);
        Assert.AreEqual("cat", cifar10.ClassNames[cifar10.Labels[0]]);
        Assert.AreEqual(200, cifar10.Image(0)[0]);

        string hundred = Path.Combine(folder, "train.bin");
        var fine = new byte[2 + 3072];
        fine[0] = 4; fine[1] = 57;   // coarse 4, fine 57
        File.WriteAllBytes(hundred, fine);
        var cifar100 = CifarFiles.Load(new[] { hundred }, CifarVariant.Cifar100);
        Assert.AreEqual(57, cifar100.Labels[0]);
        Assert.AreEqual(100, cifar100.ClassNames.Count);
        var wrong = Assert.ThrowsExactly<InvalidOperationException>(() => CifarFiles.Load(new[] { hundred }, CifarVariant.Cifar10));
        StringAssert.Contains(wrong.Message, "train.bin");
    }

    [TestMethod]
    public void StratifiedSplitKeepsProportionsAndIsSeeded()
    {
        var labels = Enumerable.Range(0, 100).Select(i => i < 80 ? 0 : 1).ToArray();
        var data = new ImageDataset(new ImageFormat { Height = 1, Width = 1, Channels = 1 }, new byte[100], labels, new[] { "a", "b" });
        var (train, validation) = data.SplitStratified(0.25, seed: 4);
        CollectionAssert.AreEqual(new[] { 60, 15 }, train.ClassCounts());
        CollectionAssert.AreEqual(new[] { 20, 5 }, validation.ClassCounts());
        CollectionAssert.AreEqual(validation.Sources.ToArray(), data.SplitStratified(0.25, seed: 4).Validation.Sources.ToArray(),
            "same seed, same split");
        CollectionAssert.AreNotEqual(validation.Sources.ToArray(), data.SplitStratified(0.25, seed: 5).Validation.Sources.ToArray(),
            "another seed, another split");
    }

    static byte[] Idx(int magic, int count, int rows, int cols, byte[] payload)
    {
        var header = new List<byte>();
        void Int(int v) => header.AddRange(BitConverter.GetBytes(v).Reverse());
        Int(magic); Int(count);
        if (magic == 2051) { Int(rows); Int(cols); }
        return header.Concat(payload).ToArray();
    }

    static void WriteGzip(string path, byte[] bytes)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(bytes);
    }
}
