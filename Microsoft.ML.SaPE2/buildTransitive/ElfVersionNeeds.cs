// Marks chosen ELF version needs (.gnu.version_r entries) as weak, so the dynamic loader accepts a library whose
// libstdc++ lacks them. One file, compiled twice: by Microsoft.ML.SaPE2.targets as an inline MSBuild task (build and
// publish outputs of package consumers and of this repository) and into the library itself, which applies the same
// patch at run time for consumers the targets do not reach (a project reference from another folder): see
// Native/LibTorchSharpLoader.cs. MSBuild compiles the task against .NET Standard 2.0 APIs, hence no spans and no
// File.Move(overwrite).
using System;
using System.IO;
using System.Linq;
using System.Text;
#if !SAPE2_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class Sape2MarkElfVersionNeedsWeak : Task
{
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string VersionNames { get; set; } = "";

    public override bool Execute()
    {
        var names = VersionNames.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries).Select(n => n.Trim()).ToArray();
        foreach (var item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                byte[] elf = File.ReadAllBytes(path);
                int changed = Sape2ElfVersionNeeds.MarkWeak(elf, names);
                if (changed == 0) continue;
                // Write a new file and move it over the output copy: never modify a file that may be a hard link.
                string temp = path + ".sape2-tmp";
                File.WriteAllBytes(temp, elf);
                File.Delete(path);
                File.Move(temp, path);
                Log.LogMessage(MessageImportance.Normal, $"Marked {changed} version need(s) weak in {path}");
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"Could not mark the GLIBCXX version needs weak in '{path}': {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Reads and edits the version needs of a 64-bit little-endian ELF shared library.</summary>
internal static class Sape2ElfVersionNeeds
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Sets VER_FLG_WEAK on every needed version whose name is in <paramref name="names"/>; returns how many changed.</summary>
    public static int MarkWeak(byte[] elf, string[] names)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");

        ulong sectionTable = U64(elf, 0x28);
        int sectionSize = U16(elf, 0x3a), sectionCount = U16(elf, 0x3c);
        int changed = 0;
        for (int s = 0; s < sectionCount; s++)
        {
            int header = checked((int)sectionTable + s * sectionSize);
            if (U32(elf, header + 4) != ShtGnuVerneed) continue;
            int offset = checked((int)U64(elf, header + 0x18));
            int entryCount = (int)U32(elf, header + 0x2c);                        // sh_info: number of Verneed entries
            int linkedStrings = checked((int)sectionTable + (int)U32(elf, header + 0x28) * sectionSize);
            int strings = checked((int)U64(elf, linkedStrings + 0x18));

            int need = offset;
            for (int n = 0; n < entryCount; n++)
            {
                int auxCount = U16(elf, need + 2);
                int aux = need + (int)U32(elf, need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    string name = CString(elf, strings + (int)U32(elf, aux + 8));
                    ushort flags = U16(elf, aux + 4);
                    if (Array.IndexOf(names, name) >= 0 && (flags & VerFlagWeak) == 0)
                    {
                        ushort weak = (ushort)(flags | VerFlagWeak);
                        elf[aux + 4] = (byte)weak;
                        elf[aux + 5] = (byte)(weak >> 8);
                        changed++;
                    }
                    aux += (int)U32(elf, aux + 12);
                }
                need += (int)U32(elf, need + 12);
            }
        }
        return changed;
    }

    static ushort U16(byte[] b, int at) => BitConverter.ToUInt16(b, at);
    static uint U32(byte[] b, int at) => BitConverter.ToUInt32(b, at);
    static ulong U64(byte[] b, int at) => BitConverter.ToUInt64(b, at);
    static string CString(byte[] b, int at) { int end = Array.IndexOf(b, (byte)0, at); return Encoding.ASCII.GetString(b, at, end - at); }
}
