using Mono.Cecil;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

[TestClass]
public sealed class MLNetInternalsTests
{
    const string ListFile = "Microsoft.ML.SaPE2/MLNet/Internals/MLNetInternalsUsed.txt";

    /// <summary>
    /// The library compiles against publicized ML.NET, so it could bind to any internal silently. Every non-public
    /// ML.NET type or member it uses must be listed in MLNetInternalsUsed.txt; a change to that set fails here
    /// until the list is updated on purpose (the message prints the new list).
    /// </summary>
    [TestMethod]
    public void TheMLNetInternalsWeUseAreExactlyTheCheckedInList()
    {
        string bin = AppContext.BaseDirectory;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(bin);
        using var library = ModuleDefinition.ReadModule(Path.Combine(bin, "Microsoft.ML.SaPE2.dll"),
            new ReaderParameters { AssemblyResolver = resolver });
        var used = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in library.GetTypeReferences().Where(FromMLNet))
            if (type.Resolve() is { } definition && !IsVisible(definition)) used.Add($"type {type.FullName}");
        foreach (var member in library.GetMemberReferences().Where(m => FromMLNet(m.DeclaringType)))
        {
            var resolved = member.Resolve();
            bool hidden = resolved switch
            {
                MethodDefinition m => !(m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly) || !IsVisible(m.DeclaringType),
                FieldDefinition f => !(f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly) || !IsVisible(f.DeclaringType),
                _ => false,
            };
            if (hidden) used.Add($"member {member.FullName}");
        }

        var expected = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, ListFile)).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        CollectionAssert.AreEqual(expected, used.ToArray(),
            $"The ML.NET internals used by Microsoft.ML.SaPE2 changed. Review the change, then put this list in " +
                $"{ListFile}:{Environment.NewLine}{string.Join(Environment.NewLine, used)}");
    }

    /// <summary>
    /// The internals stay behind one adapter, MLNet/Internals/ (<c>MLNetInternals</c>, <c>MLNetOnnxGraph</c>, <c>SingleCursorView</c>):
    /// no method elsewhere reaches one, except the transformer's and its mapper's calls to the constructors and members of the
    /// ML.NET base classes they derive from. An ML.NET change that breaks an internal then breaks the adapter or those base-class
    /// calls only, and the test above names what changed.
    /// </summary>
    [TestMethod]
    public void OnlyTheAdapterReachesMLNetInternals()
    {
        string bin = AppContext.BaseDirectory;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(bin);
        using var library = ModuleDefinition.ReadModule(Path.Combine(bin, "Microsoft.ML.SaPE2.dll"),
            new ReaderParameters { AssemblyResolver = resolver, ReadSymbols = true });
        var outside = new SortedSet<string>(StringComparer.Ordinal);
        int methodsChecked = 0, baseClassCalls = 0;
        foreach (var type in library.GetTypes())
            foreach (var method in type.Methods.Where(m => m.HasBody))
            {
                string? file = method.DebugInformation.SequencePoints.FirstOrDefault()?.Document.Url.Replace('\\', '/');
                if (file is null) continue;
                methodsChecked++;
                if (file.Contains("/Microsoft.ML.SaPE2/MLNet/Internals/", StringComparison.Ordinal)) continue;
                foreach (var instruction in method.Body.Instructions)
                {
                    if (instruction.Operand is not MemberReference reference || !HiddenMLNet(reference)) continue;
                    if (reference.DeclaringType is { } owner && IsBaseClassOf(owner, type)) { baseClassCalls++; continue; }
                    outside.Add($"{Path.GetFileName(file)}: {method.DeclaringType.Name}.{method.Name} uses {reference.FullName}");
                }
            }
        Assert.IsTrue(methodsChecked > 1000, $"the check itself: {methodsChecked} methods with source lines");
        Assert.IsTrue(baseClassCalls > 0, "the check itself: the transformer's base-class calls were not seen");
        Assert.AreEqual(0, outside.Count, "ML.NET internals reached outside MLNet/Internals/:\n" + string.Join("\n", outside));
    }

    /// <summary>Whether <paramref name="owner"/> is a base class of <paramref name="type"/> or of a type that encloses it.</summary>
    static bool IsBaseClassOf(TypeReference owner, TypeDefinition type)
    {
        for (var enclosing = type; enclosing is not null; enclosing = enclosing.DeclaringType)
            for (var baseType = enclosing.BaseType?.Resolve(); baseType is not null; baseType = baseType.BaseType?.Resolve())
                if (baseType.FullName == owner.Resolve()?.FullName) return true;
        return false;
    }

    /// <summary>A non-public ML.NET type, or a non-public member or one of a non-public type.</summary>
    static bool HiddenMLNet(MemberReference reference)
    {
        var type = reference as TypeReference ?? reference.DeclaringType;
        if (type is null || !FromMLNet(type)) return false;
        return reference switch
        {
            TypeReference t => t.Resolve() is { } definition && !IsVisible(definition),
            MethodReference m => m.Resolve() is { } method && (!(method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly)
                || !IsVisible(method.DeclaringType)),
            FieldReference f => f.Resolve() is { } field && (!(field.IsPublic || field.IsFamily || field.IsFamilyOrAssembly)
                || !IsVisible(field.DeclaringType)),
            _ => false,
        };
    }

    static bool FromMLNet(TypeReference type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type.Scope.Name is "Microsoft.ML.Core" or "Microsoft.ML.Data";
    }

    static bool IsVisible(TypeDefinition type) =>
        type.DeclaringType is null ? type.IsPublic : (type.IsNestedPublic || type.IsNestedFamily || type.IsNestedFamilyOrAssembly)
            && IsVisible(type.DeclaringType);
}
