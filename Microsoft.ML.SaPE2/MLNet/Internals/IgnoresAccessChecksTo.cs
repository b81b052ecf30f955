using System.Runtime.CompilerServices;

// CoreCLR honours this attribute by name: it lets this assembly use the ML.NET internals that the compiler saw as
// public in the publicized reference copies (see the library's .csproj). Without it for Microsoft.ML.Core, ML.NET
// silently drops our LoadableClass and Model.Load fails; without it for Microsoft.ML.Data, the type loader rejects
// our overrides of private protected members.
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Declares that this assembly may access the non-public members of another (honoured by CoreCLR).</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        /// <summary>Names the assembly whose access checks are skipped.</summary>
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        /// <summary>The assembly's simple name.</summary>
        public string AssemblyName { get; }
    }
}
