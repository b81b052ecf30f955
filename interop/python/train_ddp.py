"""Trains (or fine-tunes) an exported SaPE2MLNet model with PyTorch's DistributedDataParallel, then writes the weights for
`sape2 import`. One process per GPU (or CPU process with gloo); the same script runs on one machine or many.

    sape2 export --model model.zip --safetensors start.safetensors
    torchrun --nproc_per_node=4 interop/python/train_ddp.py --init start.safetensors --data train_folder \\
        --test test_folder --epochs 10 --out trained.safetensors
    sape2 import --model model.zip --safetensors trained.safetensors --out trained.zip

--init gives the architecture, class names, normalisation and starting weights; --data is a folder with one sub-folder
per class (the export's class names). Images are resized with Pillow (bilinear) to the model's size.
"""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sape2_timm  # noqa: E402


class ImageFolder(Dataset):
    """(pixels uint8 (C, H, W), label index) of every image under folder/<class>/."""

    def __init__(self, folder, classes, config):
        missing = [c for c in os.listdir(folder) if os.path.isdir(os.path.join(folder, c)) and c not in classes]
        if missing:
            raise SystemExit(f"{folder}: class folder(s) {missing} are not among the model's classes {classes}")
        self.items = [(os.path.join(folder, c, f), i) for i, c in enumerate(classes) if os.path.isdir(os.path.join(folder, c))
                      for f in sorted(os.listdir(os.path.join(folder, c)))]
        self.size, self.mode = (config["ImageWidth"], config["ImageHeight"]), "L" if config["InChannels"] == 1 else "RGB"

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, label = self.items[index]
        image = Image.open(path).convert(self.mode).resize(self.size, Image.BILINEAR)
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(self.size[1], self.size[0], -1)
        return pixels.permute(2, 0, 1), label


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    args = parser.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    torch.manual_seed(1)

    model, classes = sape2_timm.load(args.init)
    _, metadata = sape2_timm.read_safetensors(args.init)
    model.to(device).train()
    network = DistributedDataParallel(model, device_ids=[device.index] if cuda else None) if distributed else model
    train = ImageFolder(args.data, classes, model.config)
    sampler = DistributedSampler(train, shuffle=True) if distributed else None
    loader = DataLoader(train, batch_size=args.batch, sampler=sampler, shuffle=sampler is None, num_workers=2, drop_last=False)
    optimizer = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))

    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        total, count = 0.0, 0
        for pixels, labels in loader:
            pixels, labels = pixels.to(device), labels.to(device)
            logits = network((pixels.float() / 255 - model.mean) / model.std)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        if rank == 0:
            line = f"epoch {epoch + 1}/{args.epochs}: loss {total / count:.4f} ({world} process{'es' if world > 1 else ''})"
            if args.test:
                line += f", test accuracy {accuracy(model, ImageFolder(args.test, classes, model.config), device):.2%}"
            print(line, flush=True)

    if rank == 0:
        state = {name: tensor for name, tensor in model.state_dict().items()}
        sape2_timm.write_safetensors(args.out, state, metadata)
        print(f"wrote {args.out}; bring it back with: sape2 import --model MODEL.zip --safetensors {args.out} --out NEW.zip")
    if distributed:
        dist.destroy_process_group()


def accuracy(model, data, device):
    model.eval()
    right = 0
    with torch.no_grad():
        for pixels, labels in DataLoader(data, batch_size=256):
            right += (model.predict_pixels(pixels.to(device)).argmax(1).cpu() == labels).sum().item()
    model.train()
    return right / len(data)


if __name__ == "__main__":
    main()
