using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Interop;
using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Interop;

/// <summary>
/// timm ViT checkpoints as a starting point: a file under timm's names (written here the way <c>interop/python</c> writes one, from a
/// plain ViT) grafts onto models with any position encoding so that they compute exactly the pretrained function, at the native grid
/// and a resampled one; foreign files and models are refused naming the tensor; URLs download once into the cache, and a truncated,
/// wrong or unreachable download leaves nothing there.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class TimmCheckpointTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-timm-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    /// <summary>A plain ViT of timm's shape — patch 16, 64-wide heads, CLS token, absolute positions — at 64 px.</summary>
    internal static VitConfig PlainVit(int classes = 5) => new()
    {
        ImageHeight = 64, ImageWidth = 64, PatchSize = 16, InChannels = 3, NumClasses = classes, EmbedDim = 128, Depth = 2, NumHeads = 2,
        PositionEncoding = PositionEncodingKind.Absolute, Pooling = PoolingKind.ClassToken, DropPathRate = 0,
    };

    /// <summary>Writes <paramref name="model"/>'s weights under timm's names, as PyTorch's timm saves them; returns the path.</summary>
    internal static string WriteTimmFile(VisionTransformer model, string path)
    {
        var entries = model.state_dict().Select(p => SafetensorsFile.Entry(TimmNames.ToTimm(p.Key), p.Value)).ToList();
        SafetensorsFile.Write(path, entries, new Dictionary<string, string> { ["format"] = "pt" });
        return path;
    }

    static VisionTransformer Grafted(TimmCheckpoint checkpoint, VitConfig config, VisionTransformer original, out string report)
    {
        var model = new VisionTransformer(config);
        report = checkpoint.GraftOnto(model);
        using (no_grad())   // the head is new for the user's classes; the comparison gives it the original's
            foreach (var name in new[] { "head.weight", "head.bias" })
                model.state_dict()[name].copy_(original.state_dict()[name]);
        model.eval();
        return model;
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.Sape2, 64)]
    [DataRow(PositionEncodingKind.Cope, 64)]
    [DataRow(PositionEncodingKind.RopeMixed, 64)]
    [DataRow(PositionEncodingKind.Absolute, 64)]
    [DataRow(PositionEncodingKind.Sape2, 96)]
    public void AGraftedModelComputesThePretrainedFunction(PositionEncodingKind encoding, int side)
    {
        manual_seed(11);
        using var original = new VisionTransformer(PlainVit());
        original.eval();
        using var checkpoint = TimmCheckpoint.Read(WriteTimmFile(original, Path.Combine(folder, "vit_test_patch16_64.safetensors")));
        var a = checkpoint.Architecture;
        Assert.AreEqual((16, 128, 2, 2, 4.0, 64), (a.PatchSize, a.EmbedDim, a.Depth, a.NumHeads, a.MlpRatio, a.ImageHeight));

        var config = a with { NumClasses = 5, PositionEncoding = encoding, AbsolutePosition = true, ImageHeight = side, ImageWidth = side,
            Sape2BiasGate = encoding == PositionEncodingKind.Sape2, DropPathRate = 0 };
        using var model = Grafted(checkpoint, config, original, out var report);
        StringAssert.Contains(report, "head.bias, head.weight (replaced by a new classifier for your classes)");

        using var images = randn(3, 3, side, side);
        using var noGrad = no_grad();
        using var expected = original.forward(images);   // the plain ViT resizes its table for other grids, as timm resamples pos_embed
        using var actual = model.forward(images);
        double worst = (expected - actual).abs().max().item<float>();
        Assert.IsTrue(worst <= 1e-5, $"{encoding} at {side} px: the grafted model's logits differ from the pretrained ViT's by {worst:E2}.");
        Assert.IsTrue(expected.std().item<float>() > 1e-3, "The pretrained logits are flat; the comparison would prove little.");
    }

    [TestMethod]
    public void TheSape2GateLearnsFromZero()
    {
        manual_seed(12);
        using var original = new VisionTransformer(PlainVit());
        using var checkpoint = TimmCheckpoint.Read(WriteTimmFile(original, Path.Combine(folder, "vit.safetensors")));
        var config = checkpoint.Architecture with { NumClasses = 5, PositionEncoding = PositionEncodingKind.Sape2, Sape2BiasGate = true };
        using var model = new VisionTransformer(config);
        checkpoint.GraftOnto(model);
        using var images = randn(4, 3, 64, 64);
        using var loss = nn.functional.cross_entropy(model.forward(images), tensor(new long[] { 0, 1, 2, 3 }));
        loss.backward();
        var gates = model.named_parameters().Where(p => p.name.EndsWith("biasGate")).ToList();
        Assert.AreEqual(2, gates.Count, "one gate per layer");
        Assert.IsTrue(gates.All(g => g.parameter.item<float>() == 0), "The gates start at 0: the pretrained function.");
        // The first layer's gate has a gradient, so SaPE² can grow from the pretrained function. (The last layer's has none with a CLS head:
        // SaPE²'s bias is 0 in the CLS row, and the head reads only the CLS token — the paper's design, as for its tables.)
        Assert.IsTrue(gates[0].parameter.grad!.abs().item<float>() > 0, $"gate gradients: " +
            string.Join(", ", gates.Select(g => g.parameter.grad?.item<float>())));
    }

    [TestMethod]
    public void ForeignFilesAndModelsAreRefusedNamingTheTensor()
    {
        manual_seed(13);
        using var original = new VisionTransformer(PlainVit());
        var path = WriteTimmFile(original, Path.Combine(folder, "vit.safetensors"));
        using var checkpoint = TimmCheckpoint.Read(path);
        using var wider = new VisionTransformer(PlainVit() with { EmbedDim = 192, NumHeads = 3 });
        var other = Assert.ThrowsExactly<InvalidOperationException>(() => checkpoint.GraftOnto(wider));
        StringAssert.Contains(other.Message, "width 128");

        var entries = SafetensorsFile.Read(path).Entries.Where(e => e.Name != "patch_embed.proj.weight").ToList();
        string noPatches = Path.Combine(folder, "hybrid.safetensors");
        SafetensorsFile.Write(noPatches, entries, new Dictionary<string, string>());
        var hybrid = Assert.ThrowsExactly<InvalidDataException>(() => TimmCheckpoint.Read(noPatches));
        StringAssert.Contains(hybrid.Message, noPatches);
        StringAssert.Contains(hybrid.Message, "patch_embed.proj.weight");
        File.WriteAllText(Path.Combine(folder, "text.safetensors"), "not weights");
        Assert.ThrowsExactly<InvalidDataException>(() => TimmCheckpoint.Read(Path.Combine(folder, "text.safetensors")));
    }

    [TestMethod]
    public void TheTrainerFineTunesATimmCheckpoint()
    {
        manual_seed(14);
        using var original = new VisionTransformer(PlainVit());
        var path = WriteTimmFile(original, Path.Combine(folder, "vit.safetensors"));
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.RawMessage); };
        string images = Path.Combine(folder, "images");
        var data = MLNet.MLNetTestData.Preprocessed(ml, MLNet.MLNetTestData.SyntheticFolder(images, 3, 6, variedSizes: true), images);
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", PretrainedWeights = path, Epochs = 2, LayerDecay = 0.75, Seed = 1,
        }).Fit(data);
        var c = model.Architecture;
        Assert.AreEqual((TokenizerKind.Patch, 16, 128, 2, 64, PositionEncodingKind.Sape2, true), (c.Tokenizer, c.PatchSize, c.EmbedDim, c.Depth,
            c.ImageHeight, c.PositionEncoding, c.Sape2BiasGate), string.Join("\n", log));
        Assert.IsTrue(log.Any(l => l.Contains("not used: head.bias, head.weight (replaced by a new classifier")), string.Join("\n", log));
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
        Assert.IsTrue(scores.All(s => s.Length == 3 && s.All(float.IsFinite)), "Three finite scores per image.");
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, data.Schema, zip);
        using var loaded = (IDisposable)ml.Model.Load(zip, out _);
        var again = ((ITransformer)loaded).Transform(data).GetColumn<float[]>("Score").ToList();
        for (int i = 0; i < scores.Count; i++) CollectionAssert.AreEqual(scores[i], again[i], $"image {i} after save and load");

        var otherPatch = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { LabelColumnName = "Label", FeatureColumnName = "Image", PretrainedWeights = path,
                PatchSize = 8 }).Fit(data));
        StringAssert.Contains(otherPatch.Message, "patch-16");
        var both = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { PretrainedWeights = path, InitialModel = zip }));
        Assert.AreEqual("PretrainedWeights", both.ParamName);
    }

    /// <summary>A loopback HTTP server answering every request with <paramref name="respond"/>; counts the requests.</summary>
    sealed class LoopbackServer : IDisposable
    {
        readonly HttpListener listener = new();
        readonly Task loop;
        public int Requests;
        public string Url { get; }

        public LoopbackServer(Action<HttpListenerResponse> respond)
        {
            int port = FreePort();
            Url = $"http://127.0.0.1:{port}/";
            listener.Prefixes.Add(Url);
            listener.Start();
            loop = Task.Run(async () =>
            {
                while (listener.IsListening)
                {
                    HttpListenerContext context;
                    try { context = await listener.GetContextAsync(); } catch { return; }
                    Interlocked.Increment(ref Requests);
                    try { respond(context.Response); } catch { }
                    try { context.Response.Close(); } catch { }
                }
            });
        }

        public static int FreePort()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            return port;
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    [TestMethod]
    public void AUrlIsDownloadedOnceIntoTheCacheAndChecked()
    {
        var payload = RandomNumberGenerator.GetBytes(3 << 20);
        string sha = Convert.ToHexStringLower(SHA256.HashData(payload));
        using var server = new LoopbackServer(r => { r.ContentLength64 = payload.Length; r.OutputStream.Write(payload); });
        string cache = Path.Combine(folder, "cache");
        var log = new List<string>();
        string url = server.Url + "vit_tiny_patch16_224.safetensors";
        string file = WeightsDownload.Resolve(url, sha, cache, log.Add);
        CollectionAssert.AreEqual(payload, File.ReadAllBytes(file));
        StringAssert.EndsWith(file, "vit_tiny_patch16_224.safetensors");
        Assert.IsTrue(log.Any(l => l.Contains("100%")), $"Progress is shown: {string.Join(" | ", log)}");
        Assert.AreEqual(file, WeightsDownload.Resolve(url, sha, cache, log.Add));
        Assert.AreEqual(1, server.Requests, "The second call reads the cache.");
        Assert.AreEqual(1, Directory.GetFiles(cache).Length, "Only the finished file is in the cache.");
    }

    [TestMethod]
    public void ABadDownloadLeavesNothingInTheCache()
    {
        var payload = RandomNumberGenerator.GetBytes(1 << 20);
        string cache = Path.Combine(folder, "cache");
        using (var truncated = new LoopbackServer(r =>
               {
                   r.ContentLength64 = payload.Length;
                   r.OutputStream.Write(payload, 0, payload.Length / 2);
                   r.Abort();
               }))
        {
            var e = Assert.ThrowsExactly<IOException>(() => WeightsDownload.Resolve(truncated.Url + "w.safetensors", null, cache, _ => { }));
            StringAssert.Contains(e.Message, truncated.Url + "w.safetensors");
        }
        using (var wrong = new LoopbackServer(r => { r.ContentLength64 = payload.Length; r.OutputStream.Write(payload); }))
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() =>
                WeightsDownload.Resolve(wrong.Url + "w.safetensors", new string('0', 64), cache, _ => { }));
            StringAssert.Contains(e.Message, "SHA-256");
            StringAssert.Contains(e.Message, wrong.Url);
        }
        using (var missing = new LoopbackServer(r => r.StatusCode = 404))
        {
            var e = Assert.ThrowsExactly<IOException>(() => WeightsDownload.Resolve(missing.Url + "w.safetensors", null, cache, _ => { }));
            StringAssert.Contains(e.Message, "404");
        }
        string unreachable = $"http://127.0.0.1:{LoopbackServer.FreePort()}/w.safetensors";
        var refused = Assert.ThrowsExactly<IOException>(() => WeightsDownload.Resolve(unreachable, null, cache, _ => { }));
        StringAssert.Contains(refused.Message, unreachable);
        Assert.AreEqual(0, Directory.Exists(cache) ? Directory.GetFiles(cache).Length : 0, "A failed download leaves no file in the cache.");
        Assert.ThrowsExactly<FileNotFoundException>(() => WeightsDownload.Resolve(Path.Combine(folder, "absent.safetensors"), null, cache, _ => { }));
    }
}
