using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests;

[TestClass]
public sealed class TorchInitialisationTests
{
    [TestMethod]
    public void NativeBackendLoadsAndComputes()
    {
        // On Debian 12 this only works because the build marked libLibTorchSharp.so's GLIBCXX_3.4.32 need weak.
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var product = a.matmul(a);
        CollectionAssert.AreEqual(new float[] { 7, 10, 15, 22 }, product.data<float>().ToArray());
        Assert.IsTrue(torch.get_num_threads() >= 1, "libtorch reports no CPU threads.");
    }
}
