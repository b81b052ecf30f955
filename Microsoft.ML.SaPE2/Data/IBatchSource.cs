namespace Microsoft.ML.SaPE2.Data;

/// <summary>What the training loop draws its batches from: images decoded on the fly, or features computed once.</summary>
internal interface IBatchSource
{
    /// <summary>Number of batches per epoch.</summary>
    int BatchesPerEpoch { get; }

    /// <summary>The batches of <paramref name="epoch"/>, in order; each is owned by the caller. Stop enumerating early to cancel the rest.</summary>
    IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellation = default);
}
