namespace Sape2.Benchmarks;

/// <summary>This process's memory figures from /proc/self/status (Linux).</summary>
public static class ProcessMemory
{
    /// <summary>The field in bytes (VmRSS: resident now, VmHWM: peak resident); 0 where /proc is missing.</summary>
    public static long Bytes(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return 0;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"{status} has no {field}.");
    }
}
