using Mono.Cecil;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

[TestClass]
public sealed class MLNetInternalsTests
{
    const string ListFile = "Microsoft.ML.SaPE2/MLNet/MLNetInternalsUsed.txt";

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

    static bool FromMLNet(TypeReference type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type.Scope.Name is "Microsoft.ML.Core" or "Microsoft.ML.Data";
    }

    static bool IsVisible(TypeDefinition type) =>
        type.DeclaringType is null ? type.IsPublic : (type.IsNestedPublic || type.IsNestedFamily || type.IsNestedFamilyOrAssembly)
            && IsVisible(type.DeclaringType);
}
