using System.Text;
using System.Text.Json;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>What a checkpoint file holds besides raw weights: enough to resume training or to predict.</summary>
internal sealed record CheckpointMetadata
{
    /// <summary>The architecture.</summary>
    public required VitConfig Config { get; init; }
    /// <summary>Input size and channels.</summary>
    public required ImageFormat Format { get; init; }
    /// <summary>Pixel normalisation.</summary>
    public required Normalization Normalization { get; init; }
    /// <summary>Class names in output order.</summary>
    public required IReadOnlyList<string> ClassNames { get; init; }
    /// <summary>Per-epoch figures so far.</summary>
    public required IReadOnlyList<EpochMetrics> History { get; init; }
    /// <summary>Epochs completed.</summary>
    public int EpochsCompleted { get; init; }
    /// <summary>Optimiser steps taken.</summary>
    public long Step { get; init; }
    /// <summary>Best validation accuracy so far (−1 without validation).</summary>
    public double BestAccuracy { get; init; } = -1;
    /// <summary>Validation loss of the best epoch: it breaks ties of accuracy (null before the first validation).</summary>
    public double? BestValidationLoss { get; init; }
    /// <summary>Epoch of the best weights, counted from 1.</summary>
    public int BestEpoch { get; init; }
    /// <summary>Epochs since the best one (early stopping).</summary>
    public int EpochsWithoutImprovement { get; init; }
    /// <summary>The training and validation images' fingerprints (<see cref="ImageDataset.Fingerprint"/>), so a resume refuses other
    /// data; null in checkpoints written before it was recorded, and in model files.</summary>
    public string? DataFingerprint { get; init; }
}

/// <summary>
/// Reads and writes checkpoint files, atomically: the file is written beside its target and then moved over it, so a
/// crash mid-write leaves the previous checkpoint intact.
/// </summary>
/// <remarks>
/// *** Binary format ***
/// bytes   "SAPE2CKP" magic
/// int32   format version (1)
/// string  metadata as JSON (<see cref="CheckpointMetadata"/>)
/// then four length-prefixed (int64) sections, each empty when absent:
///         model weights (TorchSharp Module.save), best weights so far, EMA weights, AdamW state
/// </remarks>
internal static class Checkpoint
{
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("SAPE2CKP");
    private const int FormatVersion = 1;

    /// <summary>The contents of a checkpoint.</summary>
    public sealed record Contents(CheckpointMetadata Metadata, byte[] Weights, byte[] BestWeights, byte[] EmaWeights, byte[] OptimizerState);

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, Contents contents)
    {
        AtomicFile.Write(path, temporary =>
        {
            using var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write);
            using var writer = new BinaryWriter(file);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(JsonSerializer.Serialize(contents.Metadata));
            foreach (var section in new[] { contents.Weights, contents.BestWeights, contents.EmaWeights, contents.OptimizerState })
            {
                writer.Write((long)section.Length);
                writer.Write(section);
            }
            writer.Flush();
            file.Flush(flushToDisk: true);
        });
    }

    /// <summary>The file to resume from: <paramref name="fileOrFolder"/> itself, or the <c>last.ckpt</c> inside it; null stays null.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(fileOrFolder))]
    public static string? Resolve(string? fileOrFolder)
    {
        if (fileOrFolder is null) return null;
        if (File.Exists(fileOrFolder)) return fileOrFolder;
        if (!Directory.Exists(fileOrFolder)) throw new FileNotFoundException($"There is nothing to resume from at '{fileOrFolder}': it is " +
            "neither a checkpoint file nor a folder holding last.ckpt.", fileOrFolder);
        string last = Path.Combine(fileOrFolder, "last.ckpt");
        if (!File.Exists(last)) throw new FileNotFoundException($"Folder '{fileOrFolder}' holds no last.ckpt to resume from; pass the " +
            "folder that the interrupted run wrote its checkpoints to.", last);
        return last;
    }

    /// <summary>
    /// Deletes the temporary files that a process killed while writing a checkpoint leaves in <paramref name="folder"/>
    /// (<see cref="Write"/> names them <c>.NAME.GUID.tmp</c>). Runs sharing a folder are not supported.
    /// </summary>
    public static void RemoveStaleTemporaries(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (var file in Directory.EnumerateFiles(folder, ".*.ckpt.*.tmp")) File.Delete(file);
    }

    /// <summary>Reads a checkpoint, with clear errors for a file that is not one, is newer, or is truncated.</summary>
    public static Contents Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new InvalidOperationException($"'{path}' is not a SaPE2MLNet checkpoint.");
            int version = reader.ReadInt32();
            if (version != FormatVersion)
                throw new InvalidOperationException($"Checkpoint '{path}' has format version {version}; this library reads version " +
                    $"{FormatVersion}. Use the library version that wrote it.");
            var metadata = JsonSerializer.Deserialize<CheckpointMetadata>(reader.ReadString())
                ?? throw new InvalidOperationException($"Checkpoint '{path}' has no metadata.");
            var sections = new byte[4][];
            for (int i = 0; i < sections.Length; i++)
            {
                long length = reader.ReadInt64();
                if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
                    throw new InvalidOperationException($"Checkpoint '{path}' is truncated or corrupt (section {i + 1} claims {length} bytes).");
                sections[i] = reader.ReadBytes((int)length);
            }
            return new Contents(metadata, sections[0], sections[1], sections[2], sections[3]);
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or IOException and not FileNotFoundException)
        {
            throw new InvalidOperationException($"Checkpoint '{path}' is truncated or corrupt: {e.Message}", e);
        }
    }

    /// <summary>Builds the classifier stored in a checkpoint (its best weights when present), on the CPU.</summary>
    public static ImageClassifier LoadClassifier(string path)
    {
        var contents = Read(path);
        return ImageClassifier.Load(contents.Metadata, contents.BestWeights.Length > 0 ? contents.BestWeights : contents.Weights, path);
    }
}

/// <summary>Module weights to and from bytes.</summary>
internal static class ModelWeights
{
    /// <summary>The module's weights in TorchSharp's format.</summary>
    public static byte[] Save(TorchSharp.torch.nn.Module module)
    {
        using var stream = new MemoryStream();
        module.save(stream);   // closes the stream; ToArray still works
        return stream.ToArray();
    }

    /// <summary>Loads weights saved by <see cref="Save"/>; a mismatch names <paramref name="source"/>.</summary>
    public static void Load(TorchSharp.torch.nn.Module module, byte[] weights, string source)
    {
        try
        {
            module.load(new MemoryStream(weights));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException)
        {
            throw new InvalidOperationException($"The weights in '{source}' do not fit this model: {e.Message}", e);
        }
    }
}
