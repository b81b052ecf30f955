using System.Text.RegularExpressions;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Microsoft.ML.SaPE2.Tests;

/// <summary>
/// CONTRIBUTING.md's layering, read from the compiled library: a type belongs to the layer of the folder its source is in
/// (namespaces are for users), and every type a type refers to — base, fields, signatures, method bodies — is checked.
/// </summary>
[TestClass]
public sealed class LayeringTests
{
    /// <summary>Folders (layers) each layer must not use.</summary>
    static readonly Dictionary<string, string[]> Forbidden = new()
    {
        ["Data"] = ["Modeling", "Training", "MLNet", "AutoML", "Interop", "Explain"],
        ["Modeling"] = ["Training", "MLNet", "AutoML", "Interop", "Explain"],
        ["Training"] = ["MLNet", "AutoML", "Interop", "Explain"],
    };

    [TestMethod]
    public void TheLayersImportNothingAboveThemAndNothingBelowMLNetUsesMLNet()
    {
        var layerOf = TypeLayers();
        Assert.IsTrue(layerOf.Count > 100 && layerOf.Values.Distinct().Count() >= 7, $"Only {layerOf.Count} types found in the sources.");
        string bin = AppContext.BaseDirectory;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(bin);
        using var library = ModuleDefinition.ReadModule(Path.Combine(bin, "Microsoft.ML.SaPE2.dll"),
            new ReaderParameters { AssemblyResolver = resolver });
        var problems = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in library.Types.SelectMany(t => t.NestedTypes.Prepend(t)))
        {
            if (!layerOf.TryGetValue(Outermost(type).FullName, out var layer) || !Forbidden.TryGetValue(layer, out var above)) continue;
            foreach (var used in References(type))
            {
                var outer = Outermost(used);
                if (outer.Scope.Name is "Microsoft.ML.Core" or "Microsoft.ML.Data" or "Microsoft.ML.DataView" or "Microsoft.ML"
                    or "Microsoft.ML.ImageAnalytics" or "Microsoft.ML.OnnxTransformer")
                    problems.Add($"{layer}: {type.FullName} uses ML.NET's {outer.FullName}");
                else if (outer.Scope == library && layerOf.TryGetValue(outer.FullName, out var usedLayer) && above.Contains(usedLayer))
                    problems.Add($"{layer}: {type.FullName} uses {usedLayer}'s {outer.FullName}");
            }
        }
        Assert.AreEqual("", string.Join(Environment.NewLine, problems), "references across layers");
    }

    /// <summary>Every top-level type declared in Microsoft.ML.SaPE2/&lt;layer&gt;/…, by full name.</summary>
    static Dictionary<string, string> TypeLayers()
    {
        var layers = new Dictionary<string, string>(StringComparer.Ordinal);
        string root = Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2");
        var declaration = new Regex(@"^(?:public |internal )?(?:static |sealed |abstract |readonly |partial |unsafe )*" +
            @"(?:class|record struct|record|struct|interface|enum) (\w+)", RegexOptions.Multiline);
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var parts = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar);
            if (parts.Length < 2 || parts[0] is "bin" or "obj") continue;
            string text = File.ReadAllText(file);
            string? ns = Regex.Match(text, @"^namespace ([\w.]+);", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : null;
            if (ns is null) continue;
            foreach (Match type in declaration.Matches(text)) layers.TryAdd($"{ns}.{type.Groups[1].Value}", parts[0]);
        }
        return layers;
    }

    static TypeReference Outermost(TypeReference type)
    {
        while (type is TypeSpecification spec) type = spec.ElementType;
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type;
    }

    /// <summary>The types <paramref name="type"/> names: base and interfaces, fields, signatures, attributes and method bodies.</summary>
    static IEnumerable<TypeReference> References(TypeDefinition type)
    {
        IEnumerable<TypeReference> Expand(TypeReference? t)
        {
            if (t is null) yield break;
            yield return t;
            if (t is GenericInstanceType generic) foreach (var a in generic.GenericArguments.SelectMany(Expand)) yield return a;
            if (t is TypeSpecification spec) foreach (var e in Expand(spec.ElementType)) yield return e;
        }
        var all = new List<TypeReference?> { type.BaseType };
        all.AddRange(type.Interfaces.Select(i => i.InterfaceType));
        all.AddRange(type.Fields.Select(f => f.FieldType));
        all.AddRange(type.CustomAttributes.Select(a => a.AttributeType));
        foreach (var method in type.Methods)
        {
            all.Add(method.ReturnType);
            all.AddRange(method.Parameters.Select(p => p.ParameterType));
            if (!method.HasBody) continue;
            all.AddRange(method.Body.Variables.Select(v => v.VariableType));
            foreach (var instruction in method.Body.Instructions)
                switch (instruction.Operand)
                {
                    case TypeReference t: all.Add(t); break;
                    case MethodReference m:
                        all.Add(m.DeclaringType);
                        all.Add(m.ReturnType);
                        all.AddRange(m.Parameters.Select(p => p.ParameterType));
                        break;
                    case FieldReference f: all.Add(f.DeclaringType); all.Add(f.FieldType); break;
                }
        }
        return all.SelectMany(Expand).Where(t => t is not GenericParameter);
    }
}
