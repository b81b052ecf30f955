"""Loads every model `B pytorch-fixtures --out DIR` wrote and checks PyTorch's scores against TorchSharp's.

    dotnet Benchmarks/Sape2.Benchmarks/bin/Release/net10.0/Sape2.Benchmarks.dll pytorch-fixtures --out DIR
    python3 interop/python/check_exports.py DIR
"""
import glob
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sape2_timm  # noqa: E402


def main(folder):
    failures = 0
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        stem = path[: -len(".safetensors")]
        model, classes = sape2_timm.load(path)
        expected = torch.frombuffer(bytearray(open(stem + ".scores", "rb").read()), dtype=torch.float32).reshape(-1, len(classes))
        c = model.config
        pixels = torch.frombuffer(bytearray(open(stem + ".pixels", "rb").read()), dtype=torch.uint8)
        pixels = pixels.reshape(-1, c["InChannels"], c["ImageHeight"], c["ImageWidth"])
        with torch.no_grad():
            actual = model.predict_pixels(pixels)
        worst = (actual - expected).abs().max().item()
        same_top1 = bool((actual.argmax(1) == expected.argmax(1)).all())
        ok = worst <= 1e-4 and same_top1
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(stem):40s} max |PyTorch − TorchSharp| = {worst:.1e}, top-1 "
              f"{'identical' if same_top1 else 'DIFFERS'} ({len(expected)} images)")
    print(f"torch {torch.__version__}: {failures} of {len(glob.glob(os.path.join(folder, '*.safetensors')))} models differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "pytorch-fixtures"))
