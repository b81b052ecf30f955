namespace Microsoft.ML.SaPE2;

/// <summary>The one way this library and its tool write a file the user keeps: never half-written under its real name.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Lets <paramref name="write"/> fill a temporary file beside <paramref name="path"/> (its folder is created), then moves it in
    /// place; when <paramref name="write"/> fails the temporary file is removed and an existing file stays as it was.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            write(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
