using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// The knobs of <see cref="Sape2TrialParameters"/> (or a class derived from it), read from their ML.NET search-space
/// attributes. Maps parameters to points of the unit cube and back for the tuners, and to and from JSON for the
/// trial store.
/// </summary>
public sealed class Sape2SearchSpace
{
    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new JsonStringEnumConverter() }, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
    private readonly Dictionary<string, PropertyInfo> properties;

    private Sape2SearchSpace(Type parameterType, IReadOnlyList<Sape2Knob> knobs, Dictionary<string, PropertyInfo> properties)
    {
        (ParameterType, Knobs, this.properties) = (parameterType, knobs, properties);
    }

    /// <summary>The parameter class, <see cref="Sape2TrialParameters"/> or one derived from it.</summary>
    public Type ParameterType { get; }
    /// <summary>The knobs, in the class's declaration order.</summary>
    public IReadOnlyList<Sape2Knob> Knobs { get; }

    /// <summary>The search space of <typeparamref name="T"/>: one knob per public property with a search-space attribute.</summary>
    public static Sape2SearchSpace Create<T>() where T : Sape2TrialParameters, new()
    {
        var knobs = new List<Sape2Knob>();
        var properties = new Dictionary<string, PropertyInfo>();
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            var knob = KnobOf(property);
            if (knob is null) continue;
            knobs.Add(knob);
            properties[property.Name] = property;
        }
        return new Sape2SearchSpace(typeof(T), knobs, properties);
    }

    /// <summary>
    /// The default space for a device: <see cref="Sape2TrialParameters"/> as declared on a CPU (Micro only, which trains
    /// in minutes there); on a GPU the presets are Tiny and Small, Tiny first.
    /// </summary>
    public static Sape2SearchSpace ForDevice(bool cuda)
    {
        var space = Create<Sape2TrialParameters>();
        return cuda ? space.With(new Sape2ChoiceKnob(nameof(Sape2TrialParameters.Preset), new object[] { VitPreset.Tiny, VitPreset.Small },
            VitPreset.Tiny)) : space;
    }

    /// <summary>This space with <paramref name="knob"/> in place of the knob of the same name.</summary>
    public Sape2SearchSpace With(Sape2Knob knob)
    {
        ArgumentNullException.ThrowIfNull(knob);
        int index = Knobs.ToList().FindIndex(k => k.Name == knob.Name);
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(knob), $"The search space has no knob '{knob.Name}'; it has " +
            $"{string.Join(", ", Knobs.Select(k => k.Name))}.");
        foreach (var choice in knob is Sape2ChoiceKnob c ? c.Choices : Array.Empty<object>())
            if (choice.GetType() != properties[knob.Name].PropertyType)
                throw new ArgumentOutOfRangeException(nameof(knob), $"Knob '{knob.Name}' takes {properties[knob.Name].PropertyType.Name} " +
                    $"values; got {choice} ({choice.GetType().Name}).");
        var knobs = Knobs.ToArray();
        knobs[index] = knob;
        return new Sape2SearchSpace(ParameterType, knobs, properties);
    }

    /// <summary>The number of knobs: the tuners' unit cube has this many dimensions.</summary>
    public int Dimension => Knobs.Count;

    /// <summary>The parameters with every knob at its initial value: trial 0.</summary>
    public Sape2TrialParameters Default() => Build(Knobs.Select(k => k.Default).ToArray());

    /// <summary>The parameters at a point of the unit cube (one coordinate per knob, clamped to [0, 1]).</summary>
    public Sape2TrialParameters FromUnit(IReadOnlyList<double> point)
    {
        if (point.Count != Dimension) throw new ArgumentOutOfRangeException(nameof(point), $"Expected {Dimension} coordinates; got {point.Count}.");
        return Build(Knobs.Select((k, i) => k.FromUnit(point[i])).ToArray());
    }

    /// <summary>The point of the unit cube of <paramref name="parameters"/>.</summary>
    public double[] ToUnit(Sape2TrialParameters parameters) =>
        Knobs.Select(k => k.ToUnit(properties[k.Name].GetValue(parameters)!)).ToArray();

    /// <summary>The parameters with the given knob values, the others at their initial values.</summary>
    public Sape2TrialParameters Build(IReadOnlyList<object> values)
    {
        var parameters = (Sape2TrialParameters)Activator.CreateInstance(ParameterType)!;
        for (int i = 0; i < Knobs.Count; i++) properties[Knobs[i].Name].SetValue(parameters, values[i]);
        return parameters;
    }

    /// <summary>The value of knob <paramref name="name"/> in <paramref name="parameters"/>.</summary>
    public object ValueOf(Sape2TrialParameters parameters, string name) => properties[name].GetValue(parameters)!;

    /// <summary>The parameters as JSON (enums by name).</summary>
    public string ToJson(Sape2TrialParameters parameters) => JsonSerializer.Serialize(parameters, ParameterType, Json);

    /// <summary>Parameters written by <see cref="ToJson"/>.</summary>
    public Sape2TrialParameters FromJson(string json) =>
        (Sape2TrialParameters)(JsonSerializer.Deserialize(json, ParameterType, Json) ?? throw new InvalidDataException("Empty parameters."));

    /// <summary>The knobs as text: an experiment resumed with another search space is refused.</summary>
    public string Fingerprint() => string.Join("\n", Knobs.Select(k => $"{k.Name}: {k.Describe()}"));

    private static Sape2Knob? KnobOf(PropertyInfo property)
    {
        var type = property.PropertyType;
        if (property.GetCustomAttribute<RangeAttribute>(inherit: true) is { } range)
        {
            double min = Convert.ToDouble(range.Min), max = Convert.ToDouble(range.Max);
            double init = range.Init is null ? (range.LogBase ? Math.Sqrt(min * max) : (min + max) / 2) : Convert.ToDouble(range.Init);
            return new Sape2RangeKnob(property.Name, min, max, init, range.LogBase, type);
        }
        if (property.GetCustomAttribute<ChoiceAttribute>(inherit: true) is { } choice)
        {
            var candidates = choice.Candidates.Select(c => Converted(c, type, property.Name)).ToArray();
            return new Sape2ChoiceKnob(property.Name, candidates, choice.DefaultValue is null ? candidates[0] : Converted(choice.DefaultValue, type,
                property.Name));
        }
        if (property.GetCustomAttribute<BooleanChoiceAttribute>(inherit: true) is { } boolean)
        {
            if (type != typeof(bool)) throw new ArgumentException($"[BooleanChoice] on '{property.Name}', which is not a bool.");
            return new Sape2ChoiceKnob(property.Name, new object[] { true, false }, boolean.DefaultValue);
        }
        return null;
    }

    private static object Converted(object candidate, Type type, string name)
    {
        if (candidate.GetType() == type) return candidate;
        try
        {
            return type.IsEnum ? Enum.ToObject(type, candidate is string s ? Enum.Parse(type, s) : candidate)
                : Convert.ChangeType(candidate, type, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or ArgumentException or OverflowException)
        {
            throw new ArgumentException($"[Choice] on '{name}': the candidate {candidate} is not a {type.Name}.", e);
        }
    }
}
