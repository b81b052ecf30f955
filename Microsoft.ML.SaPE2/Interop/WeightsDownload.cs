using System.Security.Cryptography;
using System.Text;

namespace Microsoft.ML.SaPE2.Interop;

/// <summary>
/// Pretrained weights named by a local path or an http(s) URL. A URL is downloaded once into a cache folder (a file named after the
/// URL), through a temporary file in that folder that is checked — its length against the server's Content-Length, its SHA-256
/// against the expected one when given — and only then moved into place, so the cache never holds a partial or wrong file.
/// </summary>
internal static class WeightsDownload
{
    /// <summary>The cache folder: <c>SAPE2_CACHE</c> when set, else <c>sape2/weights</c> under the user's local application data.</summary>
    public static string DefaultCache => Environment.GetEnvironmentVariable("SAPE2_CACHE") is { Length: > 0 } set ? set
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "sape2", "weights");

    /// <summary>True when <paramref name="source"/> is an http or https URL.</summary>
    public static bool IsUrl(string source) =>
        Uri.TryCreate(source, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";

    /// <summary>
    /// The local file of <paramref name="source"/>: the path itself (which must exist), or the cached download of the URL, fetched now
    /// when missing. <paramref name="sha256"/> (hex), when given, must match the file. <paramref name="log"/> hears the progress.
    /// </summary>
    public static string Resolve(string source, string? sha256, string? cacheFolder, Action<string> log, CancellationToken cancellation = default)
    {
        if (!IsUrl(source))
        {
            if (!File.Exists(source)) throw new FileNotFoundException($"The pretrained weights file '{source}' does not exist.", source);
            if (sha256 is not null) CheckHash(source, sha256, source);
            return source;
        }
        string folder = cacheFolder ?? DefaultCache;
        Directory.CreateDirectory(folder);
        string name = Path.GetFileName(new Uri(source).AbsolutePath);
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source)))[..16];
        string cached = Path.Combine(folder, $"{key}-{(name.Length > 0 ? name : "weights")}");
        if (File.Exists(cached))
        {
            if (sha256 is not null) CheckHash(cached, sha256, source);
            log($"pretrained weights: {source} from the cache ({cached})");
            return cached;
        }
        string partial = cached + $".partial-{Guid.NewGuid():N}";
        try
        {
            Download(source, partial, log, cancellation);
            if (sha256 is not null) CheckHash(partial, sha256, source);
            File.Move(partial, cached, overwrite: true);
            return cached;
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    private static void Download(string url, string target, Action<string> log, CancellationToken cancellation)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        HttpResponseMessage response;
        try
        {
            response = client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellation).GetAwaiter().GetResult();
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"The pretrained weights at {url} could not be downloaded: {e.Message}", e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw new IOException($"The pretrained weights at {url} could not be downloaded: the server answered " +
                    $"{(int)response.StatusCode} {response.ReasonPhrase}.");
            long? expected = response.Content.Headers.ContentLength;
            long received = 0, nextReport = 0;
            log($"pretrained weights: downloading {url}{(expected is { } size ? $" ({size / 1048576.0:F1} MiB)" : "")}");
            try
            {
                using var input = response.Content.ReadAsStream(cancellation);
                using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
                var buffer = new byte[1 << 20];
                int read;
                while ((read = input.Read(buffer)) > 0)
                {
                    cancellation.ThrowIfCancellationRequested();
                    output.Write(buffer, 0, read);
                    received += read;
                    if (expected is { } total && total > 0 && received >= nextReport)
                    {
                        log($"pretrained weights: {received * 100 / total}% of {url}");
                        nextReport += Math.Max(total / 10, 1);
                    }
                }
                output.Flush(flushToDisk: true);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw new IOException($"The download of {url} broke off after {received:N0} bytes" +
                    $"{(expected is { } total ? $" of {total:N0}" : "")}: {e.Message}", e);
            }
            if (expected is { } length && received != length)
                throw new IOException($"The download of {url} is truncated: {received:N0} of {length:N0} bytes arrived.");
        }
    }

    private static void CheckHash(string file, string expected, string source)
    {
        string actual;
        using (var stream = File.OpenRead(file)) actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (!string.Equals(actual, expected.Trim(), StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"The pretrained weights from {source} have SHA-256 {actual}, not the expected {expected.Trim()}.");
    }
}
