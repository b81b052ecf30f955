#!/usr/bin/env python3
"""Writes the embedded sample data set: a small stratified subset of Fashion-MNIST as a Model Builder-style
image folder (one sub-folder per class, 28x28 grayscale PNG files).

Source: Debian's `dataset-fashion-mnist` package (Zalando Research, MIT licence), installed with
    sudo apt-get install dataset-fashion-mnist
Run once from the repository root:
    python3 Samples/data/make-fashion-mnist-mini.py
It takes the first TRAIN_PER_CLASS images of each class from the training file and the first TEST_PER_CLASS of
each class from the test file, in file order, so the output is the same on every machine. Standard library only.
"""
import gzip, os, struct, zlib

SOURCE = "/usr/share/datasets/fashion-mnist"
TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion-mnist-mini")
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
TRAIN_PER_CLASS, TEST_PER_CLASS = 300, 50


def read_idx(images_file, labels_file):
    with gzip.open(os.path.join(SOURCE, images_file)) as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, images_file
        pixels = f.read()
    with gzip.open(os.path.join(SOURCE, labels_file)) as f:
        magic, label_count = struct.unpack(">II", f.read(8))
        assert magic == 2049 and label_count == count, labels_file
        labels = f.read()
    size = rows * cols
    return [(pixels[i * size:(i + 1) * size], labels[i]) for i in range(count)], rows, cols


def png_gray(pixels, rows, cols):
    raw = b"".join(b"\x00" + pixels[r * cols:(r + 1) * cols] for r in range(rows))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_split(name, images_file, labels_file, per_class):
    samples, rows, cols = read_idx(images_file, labels_file)
    taken = [0] * len(CLASSES)
    for index, (pixels, label) in enumerate(samples):
        if taken[label] >= per_class:
            continue
        folder = os.path.join(TARGET, name, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{name}-{index:05d}.png"), "wb") as f:
            f.write(png_gray(pixels, rows, cols))
        taken[label] += 1
        if min(taken) >= per_class:
            break
    print(f"{name}: {sum(taken)} images, {per_class} per class")


write_split("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_PER_CLASS)
write_split("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_PER_CLASS)
