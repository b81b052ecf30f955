using System.Globalization;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// One dimension of a <see cref="Sape2SearchSpace"/>, read from a search-space attribute. Tuners work in the unit cube:
/// each knob maps a number in [0, 1] to a value and back, as ML.NET AutoML's search space does.
/// </summary>
public abstract record Sape2Knob(string Name)
{
    /// <summary>The value trial 0 and the cost-frugal tuner start from.</summary>
    public abstract object Default { get; }

    /// <summary>The value at <paramref name="unit"/> ∈ [0, 1] (clamped).</summary>
    public abstract object FromUnit(double unit);

    /// <summary>The point in [0, 1] of <paramref name="value"/>.</summary>
    public abstract double ToUnit(object value);

    /// <summary>The grid search's values: every choice, or <paramref name="steps"/> evenly spaced points of a range.</summary>
    public abstract IReadOnlyList<object> Grid(int steps);

    /// <summary>The knob as one line of Docs/automl.md's table.</summary>
    public abstract string Describe();

    private protected static double Clamp(double unit) => double.IsFinite(unit) ? Math.Clamp(unit, 0, 1) : 0.5;
}

/// <summary>A numeric range, <c>[Range(min, max, init, logBase)]</c>.</summary>
public sealed record Sape2RangeKnob : Sape2Knob
{
    /// <summary>A range of <paramref name="valueType"/> (double, float or int) from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public Sape2RangeKnob(string name, double min, double max, double init, bool logBase, Type valueType) : base(name)
    {
        if (!(min < max) || !double.IsFinite(min) || !double.IsFinite(max))
            throw new ArgumentOutOfRangeException(nameof(min), $"Knob '{name}': the range [{min}, {max}] is empty.");
        if (logBase && min <= 0) throw new ArgumentOutOfRangeException(nameof(min), $"Knob '{name}': a log range must start above 0; got {min}.");
        if (init < min || init > max) throw new ArgumentOutOfRangeException(nameof(init), $"Knob '{name}': init {init} is outside [{min}, {max}].");
        if (valueType != typeof(double) && valueType != typeof(float) && valueType != typeof(int))
            throw new ArgumentOutOfRangeException(nameof(valueType), $"Knob '{name}': a range must be double, float or int; got {valueType.Name}.");
        (Min, Max, Init, LogBase, ValueType) = (min, max, init, logBase, valueType);
    }

    /// <summary>Lowest value.</summary>
    public double Min { get; }
    /// <summary>Highest value.</summary>
    public double Max { get; }
    /// <summary>Initial value.</summary>
    public double Init { get; }
    /// <summary>Searched on a log scale.</summary>
    public bool LogBase { get; }
    /// <summary>double, float or int.</summary>
    public Type ValueType { get; }

    /// <inheritdoc/>
    public override object Default => Typed(Init);

    /// <inheritdoc/>
    public override object FromUnit(double unit)
    {
        double u = Clamp(unit);
        double value = LogBase ? Math.Exp(Math.Log(Min) + u * (Math.Log(Max) - Math.Log(Min))) : Min + u * (Max - Min);
        return Typed(Math.Clamp(value, Min, Max));
    }

    /// <inheritdoc/>
    public override double ToUnit(object value)
    {
        double v = Math.Clamp(Convert.ToDouble(value, CultureInfo.InvariantCulture), Min, Max);
        return LogBase ? (Math.Log(v) - Math.Log(Min)) / (Math.Log(Max) - Math.Log(Min)) : (v - Min) / (Max - Min);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<object> Grid(int steps) =>
        Enumerable.Range(0, steps).Select(i => FromUnit(steps == 1 ? 0.5 : (double)i / (steps - 1))).Distinct().ToList();

    /// <inheritdoc/>
    public override string Describe() =>
        $"{(ValueType == typeof(int) ? "integer" : "number")} in [{Min.ToString(CultureInfo.InvariantCulture)}, " +
        $"{Max.ToString(CultureInfo.InvariantCulture)}]{(LogBase ? ", log scale" : "")}, initial {Init.ToString(CultureInfo.InvariantCulture)}";

    private object Typed(double value) =>
        ValueType == typeof(int) ? (int)Math.Round(value) : ValueType == typeof(float) ? (float)value : value;
}

/// <summary>A list of values, <c>[Choice(...)]</c> or <c>[BooleanChoice]</c>.</summary>
public sealed record Sape2ChoiceKnob : Sape2Knob
{
    /// <summary>A choice among <paramref name="choices"/>, starting from <paramref name="initial"/>.</summary>
    public Sape2ChoiceKnob(string name, IReadOnlyList<object> choices, object initial) : base(name)
    {
        if (choices.Count == 0) throw new ArgumentOutOfRangeException(nameof(choices), $"Knob '{name}' has no choices.");
        if (!choices.Contains(initial)) throw new ArgumentOutOfRangeException(nameof(initial),
            $"Knob '{name}': the initial value {initial} is not one of the choices [{string.Join(", ", choices)}].");
        (Choices, Initial) = (choices.ToArray(), initial);
    }

    /// <summary>The values, in the attribute's order.</summary>
    public IReadOnlyList<object> Choices { get; }
    /// <summary>Initial value.</summary>
    public object Initial { get; }

    /// <inheritdoc/>
    public override object Default => Initial;

    /// <inheritdoc/>
    public override object FromUnit(double unit) => Choices[Math.Min(Choices.Count - 1, (int)(Clamp(unit) * Choices.Count))];

    /// <inheritdoc/>
    public override double ToUnit(object value)
    {
        int index = Choices.ToList().IndexOf(value);
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(value), $"Knob '{Name}': {value} is not one of [{string.Join(", ", Choices)}].");
        return (index + 0.5) / Choices.Count;   // the middle of the value's cell, so FromUnit(ToUnit(v)) == v
    }

    /// <inheritdoc/>
    public override IReadOnlyList<object> Grid(int steps) => Choices;

    /// <inheritdoc/>
    public override string Describe() => $"one of {string.Join(", ", Choices.Select(c => Convert.ToString(c, CultureInfo.InvariantCulture)))}; " +
        $"initial {Convert.ToString(Initial, CultureInfo.InvariantCulture)}";
}
