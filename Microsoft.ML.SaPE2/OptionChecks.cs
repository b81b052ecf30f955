namespace Microsoft.ML.SaPE2;

/// <summary>Checks every options class shares.</summary>
internal static class OptionChecks
{
    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the first of <paramref name="values"/> that is NaN or
    /// infinite: range checks written as <c>x &lt; 0</c> let NaN through, so every floating-point option passes here first.
    /// </summary>
    public static void Finite(params (double Value, string Name)[] values)
    {
        foreach (var (value, name) in values)
            if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(name, $"Must be a finite number; got {value}.");
    }
}
