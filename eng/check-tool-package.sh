#!/usr/bin/env bash
# Packs the `sape2` command-line tool as a .NET tool, installs it from the packed package into a temporary tool path, and runs
# `sape2 --help` and one short `train` on the embedded sample data with the installed copy (found from the repository root, as a
# user who cloned it runs the tool). Usage: eng/check-tool-package.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
dotnet pack "$root/Samples/Sape2.Cli" -c Release -o "$work/feed" >/dev/null
package=$(ls "$work/feed"/sape2.*.nupkg | head -1)
version=$(basename "$package" .nupkg); version=${version#sape2.}
echo "packed $(basename "$package") ($(du -m "$package" | cut -f1) MB)"
dotnet tool install sape2 --tool-path "$work/tools" --add-source "$work/feed" --version "$version" >/dev/null
"$work/tools/sape2" --help | grep -q "train"
echo "installed: sape2 --help lists its commands"
cd "$root"
"$work/tools/sape2" train --epochs 1 --out "$work/out" >/dev/null
test -s "$work/out/model.zip"
echo "installed: sape2 train --epochs 1 wrote model.zip"
