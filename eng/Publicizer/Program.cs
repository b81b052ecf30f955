// Writes a copy of a .NET assembly in which internal and private members are public and `private protected` ones
// protected, for the C# compiler only: Microsoft.ML.SaPE2 compiles against such copies of Microsoft.ML.Core and
// Microsoft.ML.Data (ML.NET keeps its save/load machinery internal) and runs against the original signed files,
// which it may call because it declares IgnoresAccessChecksTo for them.
// Left alone: compiler-generated types, types that the compiler embeds (System.*, Microsoft.CodeAnalysis.*), and
// explicit interface implementations.
// Usage: Publicizer INPUT.dll OUTPUT.dll
using Mono.Cecil;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Publicizer INPUT.dll OUTPUT.dll");
    return 2;
}
var resolver = new DefaultAssemblyResolver();
resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(args[0])));
using var module = ModuleDefinition.ReadModule(args[0], new ReaderParameters { AssemblyResolver = resolver });
foreach (var type in module.GetTypes())
{
    if (IsLeftAlone(type)) continue;
    if (type.IsNested) type.IsNestedPublic = true; else type.IsPublic = true;
    foreach (var method in type.Methods)
    {
        if (method.HasOverrides && method.IsPrivate) continue;   // explicit interface implementation
        if (method.IsFamilyAndAssembly || method.IsFamilyOrAssembly) method.IsFamily = true;
        else if (!method.IsPublic && !method.IsFamily) method.IsPublic = true;
    }
    foreach (var field in type.Fields)
    {
        if (field.Name.StartsWith('<')) continue;                // compiler-generated backing field
        if (field.IsFamilyAndAssembly || field.IsFamilyOrAssembly) field.IsFamily = true;
        else if (!field.IsPublic && !field.IsFamily) field.IsPublic = true;
    }
}
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(args[1]))!);
module.Write(args[1]);
return 0;

static bool IsLeftAlone(TypeDefinition type)
{
    var outer = type;
    while (outer.DeclaringType is not null)
    {
        if (outer.Name.StartsWith('<')) return true;
        outer = outer.DeclaringType;
    }
    return outer.Name.StartsWith('<') || outer.Namespace.StartsWith("System") || outer.Namespace.StartsWith("Microsoft.CodeAnalysis");
}
