#!/usr/bin/env bash
# Packs Microsoft.ML.SaPE2 built against one ML.NET release and builds, runs and publishes a fresh consumer app on that
# release against the package: it trains, saves, reloads and scores an ML.NET pipeline, and shows that the GLIBCXX fix
# reaches consumers through buildTransitive.
# Usage: eng/check-package-consumer.sh [MLNET_VERSION]   (6.0.0, the default, or 5.0.1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mlnet=${1:-6.0.0}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# Packed from a copy of the tracked files (its own obj/ and bin/), so that the repository's own build is left alone.
mkdir "$work/src" && (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src")
dotnet pack "$work/src/Microsoft.ML.SaPE2" -c Release -o "$work/feed" -p:MicrosoftMLVersion="$mlnet" >/dev/null
mkdir "$work/app" && cd "$work/app"
cat > app.csproj <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings><RestorePackagesPath>$work/packages</RestorePackagesPath></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.SaPE2" Version="*-*" />
    <PackageReference Include="Microsoft.ML" Version="$mlnet" />
    <PackageReference Include="libtorch-cpu-linux-x64" Version="2.10.0" />
  </ItemGroup>
</Project>
XML
cat > NuGet.config <<XML
<configuration><packageSources><clear /><add key="local" value="$work/feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>
XML
cat > Program.cs <<CS
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using var m = new VisionTransformer(VitConfig.FromPreset(VitPreset.Micro));
Console.WriteLine(\$"logits: {m.forward(TorchSharp.torch.randn(1, 3, 32, 32)).shape[1]}");
// One epoch on 200 of the embedded sample images, saved, reloaded and scored: ML.NET's internals that the library reaches.
string root = "$root/Samples/data/fashion-mnist-mini/train";
var rows = Directory.GetDirectories(root).SelectMany(d => Directory.GetFiles(d).Take(20).Select(f => new Row { Label = Path.GetFileName(d), Path = f }));
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(rows.ToList());
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.LoadRawImageBytes("Image", null, "Path"))
    .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
        { LabelColumnName = "Label", FeatureColumnName = "Image", Epochs = 1, ValidationSetFraction = 0 }));
var model = pipeline.Fit(data);
ml.Model.Save(model, data.Schema, "model.zip");
var loaded = ml.Model.Load("model.zip", out _);
var metrics = ml.MulticlassClassification.Evaluate(loaded.Transform(data));
string loadedVersion = typeof(MLContext).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
    .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
if (loadedVersion != "$mlnet") throw new Exception(\$"ML.NET {loadedVersion} was loaded, not $mlnet");
Console.WriteLine(\$"ML.NET {loadedVersion}: trained, saved, reloaded; accuracy on its 200 images {metrics.MicroAccuracy:P1}");
class Row { public string Label { get; set; } = ""; public string Path { get; set; } = ""; }
CS
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
