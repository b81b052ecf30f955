#!/usr/bin/env bash
# Builds and runs eng/ConsumerCheck from a folder outside the repository, referencing the library's project: the
# way of consuming it that the build targets' GLIBCXX fix does not reach, so start-up works only because
# the library patches libLibTorchSharp.so at run time. Usage: eng/check-project-consumer.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$root/eng/ConsumerCheck" "$work/app"
cp "$root/NuGet.config" "$work/app/"
cd "$work/app"
dotnet run -p:Sape2Repository="$root" | tee "$work/output.txt"
grep -q "consumer outside the repository: trained and scored" "$work/output.txt"
if readelf -V bin/Debug/net10.0/runtimes/linux-x64/native/libLibTorchSharp.so | grep -q "GLIBCXX_3.4.32  Flags: none"; then
  echo "the build output's libLibTorchSharp.so is unpatched, as expected of a project reference; the library patched it at run time"
fi
