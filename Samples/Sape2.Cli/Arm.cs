using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;

namespace Sape2.Cli;

/// <summary>
/// One arm of a comparison: a position encoding with or without the learned absolute embedding ("Sape2+APE"), and the
/// ablation settings it changes (null: the comparison's own), written after colons: "Sape2+APE:query:sigma-:cls".
/// </summary>
internal sealed record Arm(PositionEncodingKind Encoding, bool AbsolutePosition, Sape2Mode? Mode = null, double? BiasSign = null,
    PoolingKind? Pooling = null)
{
    private static readonly (string Name, Func<Arm, Arm> Apply, Func<Arm, bool> Has)[] Modifiers =
    [
        ("key", a => a with { Mode = Sape2Mode.Key }, a => a.Mode == Sape2Mode.Key),
        ("query", a => a with { Mode = Sape2Mode.Query }, a => a.Mode == Sape2Mode.Query),
        ("sigma+", a => a with { BiasSign = 1 }, a => a.BiasSign == 1),
        ("sigma-", a => a with { BiasSign = -1 }, a => a.BiasSign == -1),
        ("cls", a => a with { Pooling = PoolingKind.ClassToken }, a => a.Pooling == PoolingKind.ClassToken),
        ("avg", a => a with { Pooling = PoolingKind.GlobalAverage }, a => a.Pooling == PoolingKind.GlobalAverage),
        ("seqpool", a => a with { Pooling = PoolingKind.SequencePooling }, a => a.Pooling == PoolingKind.SequencePooling),
    ];

    /// <summary>The encoding, "+APE" where the model adds the absolute embedding to it (the model's own rule), then the ablation
    /// settings in a fixed order.</summary>
    public override string ToString()
    {
        var config = new VitConfig { PositionEncoding = Encoding, AbsolutePosition = AbsolutePosition };
        bool ape = Encoding != PositionEncodingKind.Absolute && PositionEncodingFactory.UsesAbsoluteEmbedding(config);
        return $"{Encoding}{(ape ? "+APE" : "")}" + string.Concat(Modifiers.Where(m => m.Has(this)).Select(m => ":" + m.Name));
    }

    /// <summary>A name for this arm's files: the label without characters some file systems refuse.</summary>
    public string FileName => ToString().Replace(':', '_');

    /// <summary>The trainer's options of this arm and <paramref name="seed"/>: <paramref name="template"/>'s, with this arm's settings.</summary>
    public Sape2ImageClassificationTrainer.Options Options(Sape2ImageClassificationTrainer.Options template, int seed)
    {
        var options = template.Copy();
        (options.PositionEncoding, options.AbsolutePosition, options.Seed) = (Encoding, AbsolutePosition, seed);
        options.Sape2Mode = Mode ?? options.Sape2Mode;
        options.Sape2BiasSign = BiasSign ?? options.Sape2BiasSign;
        options.Pooling = Pooling ?? options.Pooling;
        return options;
    }

    public static Arm Parse(string text)
    {
        var parts = text.Trim().Split(':');
        string name = parts[0];
        bool ape = name.EndsWith("+APE", StringComparison.OrdinalIgnoreCase);
        if (ape) name = name[..^4];
        if (!Enum.TryParse<PositionEncodingKind>(name, ignoreCase: true, out var kind) || int.TryParse(name, out _))
            throw new ArgumentException($"'{text}' is not an encoding: use {string.Join(", ", Enum.GetNames<PositionEncodingKind>())}, each with " +
                "an optional +APE (e.g. Sape2+APE).");
        var arm = new Arm(kind, ape || kind == PositionEncodingKind.Absolute);
        foreach (string modifier in parts.Skip(1))
        {
            var known = Modifiers.FirstOrDefault(m => m.Name.Equals(modifier, StringComparison.OrdinalIgnoreCase));
            if (known.Name is null)
                throw new ArgumentException($"'{modifier}' in '{text}' is not a setting an arm can change: use " +
                    $"{string.Join(", ", Modifiers.Select(m => m.Name))} after a colon (e.g. Sape2+APE:query:cls).");
            if (kind != PositionEncodingKind.Sape2 && known.Name is "key" or "query" or "sigma+" or "sigma-")
                throw new ArgumentException($"'{modifier}' in '{text}' is a SaPE² setting; {kind} has none.");
            arm = known.Apply(arm);
        }
        return arm;
    }
}
