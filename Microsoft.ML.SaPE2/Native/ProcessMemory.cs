namespace Microsoft.ML.SaPE2;

/// <summary>This process's memory figures from /proc/self (Linux): the benchmarks' and the experiment's per-trial peaks.</summary>
internal static class ProcessMemory
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

    /// <summary>
    /// Starts a new peak (VmHWM back to the resident size now, by writing 5 to /proc/self/clear_refs); false where the
    /// kernel does not allow it, and the peak then stays the process's.
    /// </summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }
}
