using Microsoft.ML.SaPE2;
using System.IO.Compression;
using System.Reflection;

namespace Microsoft.ML;

/// <summary>Loads a model.zip that holds a SaPE² classifier, with errors that name the file and say what is wrong with it.</summary>
public static class Sape2ModelFile
{
    /// <summary>
    /// <c>mlContext.Model.Load</c> for models with a SaPE² classifier: a missing, empty, truncated or foreign file is
    /// refused with its path and the reason (ML.NET alone says "Failed to open a zip archive"), a damaged model entry
    /// with its path and our own message instead of a <see cref="TargetInvocationException"/>.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="path">The model.zip written by <c>mlContext.Model.Save</c>.</param>
    /// <param name="inputSchema">The input schema the model was saved with.</param>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a readable zip archive.</exception>
    /// <exception cref="InvalidOperationException">The archive is not a model, is damaged, or holds no SaPE² classifier.</exception>
    public static ITransformer LoadSape2Model(this ModelOperationsCatalog catalog, string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = new FileInfo(path);
        if (!file.Exists) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        if (file.Length == 0) throw new InvalidDataException($"Model file '{path}' is empty (0 bytes): it was not written completely. " +
            "Save the model again.");
        try
        {
            using var archive = ZipFile.OpenRead(path);
            _ = archive.Entries.Count;
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Model file '{path}' ({file.Length:N0} bytes) is not a readable zip archive — truncated, " +
                $"damaged or not a model.zip: {e.Message}", e);
        }
        ITransformer model;
        try
        {
            model = catalog.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is TargetInvocationException or InvalidOperationException or FormatException or InvalidDataException
                                   or EndOfStreamException)
        {
            var cause = e;
            while (cause is TargetInvocationException { InnerException: { } inner }) cause = inner;   // ML.NET calls loaders by reflection
            throw new InvalidOperationException($"Model file '{path}' could not be loaded: {cause.Message}", cause);
        }
        if (!(model as IEnumerable<ITransformer> ?? new[] { model }).OfType<Sape2ImageClassificationTransformer>().Any())
        {
            (model as IDisposable)?.Dispose();
            throw new InvalidOperationException($"Model file '{path}' is an ML.NET model but holds no SaPE² image classifier.");
        }
        return model;
    }
}
