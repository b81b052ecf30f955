#!/usr/bin/env bash
# Packs Microsoft.ML.SaPE2 and builds, runs and publishes a fresh consumer app against the package, to show that
# the GLIBCXX fix reaches consumers through buildTransitive. Usage: eng/check-package-consumer.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
dotnet pack "$root/Microsoft.ML.SaPE2" -c Release -o "$work/feed" >/dev/null
mkdir "$work/app" && cd "$work/app"
cat > app.csproj <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><RestorePackagesPath>$work/packages</RestorePackagesPath></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.SaPE2" Version="*-*" />
    <PackageReference Include="libtorch-cpu-linux-x64" Version="2.10.0" />
  </ItemGroup>
</Project>
XML
cat > NuGet.config <<XML
<configuration><packageSources><clear /><add key="local" value="$work/feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>
XML
echo 'using Microsoft.ML.SaPE2; using Microsoft.ML.SaPE2.Modeling; using var m = new VisionTransformer(VitConfig.FromPreset(VitPreset.Micro)); System.Console.WriteLine($"logits: {m.forward(TorchSharp.torch.randn(1, 3, 32, 32)).shape[1]}");' > Program.cs
dotnet run
dotnet publish -r linux-x64 --self-contained false -o "$work/publish" >/dev/null
# The check fails the script when the flag is missing (a grep in an && list would not: set -e ignores it there).
readelf -V "$work/publish/libLibTorchSharp.so" > "$work/version-needs.txt"
if ! grep -q "GLIBCXX_3.4.32  Flags: WEAK" "$work/version-needs.txt"; then
  echo "error: the published libLibTorchSharp.so still needs GLIBCXX_3.4.32 (not marked weak)" >&2
  exit 1
fi
echo "publish: GLIBCXX_3.4.32 need is weak"
"$work/publish/app"
