"""SaPE2MLNet models in PyTorch, under timm's parameter names.

Loads any model exported by `sape2 export --safetensors` (or `mlContext.Model.SaveSafetensors`) and computes what the
.NET model computes: timm's VisionTransformer layout (patch_embed.proj, cls_token, pos_embed, blocks.N.norm1 /
attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2, norm, head) with the attention variants timm lacks — SaPE²
(attn.sape2.table_x / table_y), CoPE (attn.cope.table) and 2D RoPE (attn.rope.freqs for RoPE-Mixed) — plus the
convolutional tokenizer (patch_embed.stem) and sequence pooling (seq_pool.score). Train or fine-tune it here (e.g.
with torchrun, Docs/pytorch-interop.md), save its state_dict as safetensors with the same names, and `sape2 import`
brings the weights back into a model.zip.

Needs PyTorch only (1.13 or later). APE, sin-cos and no-encoding models with the patch tokenizer also load into
timm's own VisionTransformer with strict=True: see `timm_vision_transformer`.

The math follows Docs/spec.md (equation numbers below) and the C# implementation step for step.
"""
import json
import math
import struct
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
           "I32": torch.int32, "U8": torch.uint8}


def read_safetensors(path):
    """(state_dict, metadata) of a safetensors file, read with the standard library and PyTorch alone."""
    with open(path, "rb") as f:
        (header_length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_length))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    state = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[start:end]), dtype=_DTYPES[entry["dtype"]]) if end > start \
            else torch.empty(0, dtype=_DTYPES[entry["dtype"]])
        state[name] = tensor.reshape(entry["shape"])
    return state, metadata


_NAMES = {v: k for k, v in _DTYPES.items()}


def write_safetensors(path, state, metadata):
    """Writes `state` (name → tensor) and string `metadata` as safetensors, through a temporary file beside `path`."""
    import os
    header, blobs, offset = {"__metadata__": dict(metadata)}, [], 0
    for name, tensor in state.items():
        data = tensor.detach().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": _NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)                                  # the data starts 8-byte aligned
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(temporary, path)


def interpolate(logits, positions):
    """Eq. 14: w·Z[⌈p⌉] + (1−w)·Z[⌊p⌋], w = p − ⌊p⌋; the indices from a NaN-free copy clamped to the table."""
    weight = positions - positions.floor()
    safe = torch.nan_to_num(positions.detach(), 0.0, 0.0, 0.0).clamp(0, logits.shape[-1] - 1)
    lower = logits.gather(-1, safe.floor().long())
    upper = logits.gather(-1, safe.ceil().long())
    return weight * upper + (1 - weight) * lower


def suffix_sum(gates):
    """Eq. 10: p[m] = Σ_{j ≥ m} g[j] over the last dimension."""
    length = gates.shape[-1]
    return gates @ torch.ones(length, length, dtype=gates.dtype, device=gates.device).tril()


class Sape2(nn.Module):
    """One layer's SaPE² tables E_x, E_y (d × M) and the bias b of Eq. 9–15 on an H×W grid."""

    def __init__(self, head_dim, table_size, config):
        super().__init__()
        self.table_x = nn.Parameter(torch.zeros(head_dim, table_size))
        self.table_y = nn.Parameter(torch.zeros(head_dim, table_size))
        self.gate_scale = config["Sape2GateScale"] or 1 / math.sqrt(head_dim)
        self.use_key = config["Sape2Mode"] == "Key"
        self.interpolate_positions = config["Sape2InterpolatePositions"]

    def positions(self, gates, scale):
        positions = suffix_sum(gates)
        if scale != 1.0:
            positions = positions * scale
        return positions.clamp_max(self.table_x.shape[1] - 1)

    def forward(self, q, k, rows, cols):                                   # q, k: (B, h, N, d), patches only
        b, h, n, d = q.shape
        m = self.table_x.shape[1]
        q_rows, k_rows = q.reshape(b, h, rows, cols, d), k.reshape(b, h, rows, cols, d)
        q_cols, k_cols = q_rows.transpose(2, 3), k_rows.transpose(2, 3)
        v = k if self.use_key else q
        scale_x = min(1.0, (m - 1.0) / cols) if self.interpolate_positions else 1.0
        scale_y = min(1.0, (m - 1.0) / rows) if self.interpolate_positions else 1.0
        gate_x = torch.sigmoid(self.gate_scale * q_rows @ k_rows.transpose(-1, -2))          # Eq. 9: (B, h, H, W, W)
        gate_y = torch.sigmoid(self.gate_scale * q_cols @ k_cols.transpose(-1, -2))          # (B, h, W, H, H)
        logits_x = (v @ self.table_x).reshape(b, h, rows, cols, m)                          # Eq. 13
        logits_y = (v @ self.table_y).reshape(b, h, rows, cols, m).transpose(2, 3)
        vectors_x = interpolate(logits_x, self.positions(gate_x, scale_x)).reshape(b * h, n, cols)             # Eq. 14, 12
        vectors_y = interpolate(logits_y, self.positions(gate_y, scale_y)).transpose(2, 3).reshape(b * h, n, rows)
        distance = lambda x: torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
        return (distance(vectors_x) + distance(vectors_y)).reshape(b, h, n, n)               # Eq. 15


class Cope(nn.Module):
    """CoPE over the flattened patches: the table (d, N + 1) of integer positions."""

    def __init__(self, head_dim, patches):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(head_dim, patches + 1))

    def forward(self, q, patch_logits):                                    # q: (B, h, N, d); logits (B, h, N, N)
        positions = suffix_sum(torch.sigmoid(patch_logits)).clamp_max(self.table.shape[1] - 1)
        return interpolate(q @ self.table, positions)


class Rope(nn.Module):
    """2D RoPE: fixed axial frequencies (θ = 100), or learned mixed ones (freqs, (2, heads, d/2))."""

    def __init__(self, head_dim, heads, mixed):
        super().__init__()
        self.head_dim = head_dim
        if mixed:
            self.freqs = nn.Parameter(torch.zeros(2, heads, head_dim // 2))
        self.mixed = mixed

    def angles(self, rows, cols, device):
        index = torch.arange(rows * cols, dtype=torch.float32, device=device)
        x, y = index.remainder(cols), torch.div(index, cols, rounding_mode="floor")
        if self.mixed:                                                     # (heads, N, d/2)
            return x.view(1, -1, 1) * self.freqs[0].unsqueeze(1) + y.view(1, -1, 1) * self.freqs[1].unsqueeze(1)
        frequencies = torch.pow(100.0, torch.arange(0, self.head_dim, 4, dtype=torch.float32, device=device) / self.head_dim).reciprocal()
        return torch.cat([torch.outer(x, frequencies), torch.outer(y, frequencies)], 1)    # (N, d/2)

    def rotate(self, t, angles, prefix):
        b, h, total, d = t.shape
        pairs = t[:, :, prefix:].reshape(b, h, total - prefix, d // 2, 2)
        even, odd = pairs[..., 0], pairs[..., 1]
        cos, sin = angles.cos(), angles.sin()
        rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).reshape(b, h, total - prefix, d)
        return torch.cat([t[:, :, :prefix], rotated], 2)


class Attention(nn.Module):
    """timm's Attention (qkv, proj) with the model's position encoding in the logits."""

    def __init__(self, config, grid):
        super().__init__()
        dim, self.heads = config["EmbedDim"], config["NumHeads"]
        self.head_dim = dim // self.heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.grid, self.prefix = grid, 1 if config["Pooling"] == "ClassToken" else 0
        encoding = config["PositionEncoding"]
        self.sape2_inside = config["Sape2BiasInsideScale"]
        self.sigma = config["Sape2BiasSign"]
        if encoding == "Sape2":
            self.sape2 = Sape2(self.head_dim, config["Sape2TableSize"] or max(grid) + 1, config)
        elif encoding == "Cope":
            self.cope = Cope(self.head_dim, grid[0] * grid[1])
        elif encoding in ("RopeAxial", "RopeMixed"):
            self.rope = Rope(self.head_dim, self.heads, mixed=encoding == "RopeMixed")

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scale, p = 1 / math.sqrt(self.head_dim), self.prefix
        if hasattr(self, "rope"):
            angles = self.rope.angles(*self.grid, x.device)
            q, k = self.rope.rotate(q, angles, p), self.rope.rotate(k, angles, p)
        logits = q @ k.transpose(-2, -1)
        if hasattr(self, "sape2"):                                         # Eq. 16: (q·k + σ·b)/√d, or q·k/√d + σ·b
            bias = F.pad(self.sape2(q[:, :, p:], k[:, :, p:], *self.grid), (p, 0, p, 0))
            logits = (logits + self.sigma * bias) * scale if self.sape2_inside else logits * scale + self.sigma * bias
        else:
            logits = logits * scale
        if hasattr(self, "cope"):
            logits = logits + F.pad(self.cope(q[:, :, p:], logits[:, :, p:, p:]), (p, 0, p, 0))
        mixed = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c)
        return self.proj(mixed)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, config, grid):
        super().__init__()
        dim = config["EmbedDim"]
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(config, grid)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, int(dim * config["MlpRatio"]))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """timm's patch_embed.proj, or CCT's convolutional stem as patch_embed.stem (conv → BatchNorm → ReLU → max-pool)."""

    def __init__(self, config):
        super().__init__()
        channels, dim, patch = config["InChannels"], config["EmbedDim"], config["PatchSize"]
        if config["Tokenizer"] == "Patch":
            self.proj = nn.Conv2d(channels, dim, patch, patch)
        else:
            layers, width = [], channels
            stages = int(math.log2(patch))
            for s in range(stages):
                out = dim if s == stages - 1 else max(1, dim // 2)
                layers += [(f"conv{s}", nn.Conv2d(width, out, 3, 1, 1, bias=False)), (f"norm{s}", nn.BatchNorm2d(out)),
                           (f"relu{s}", nn.ReLU()), (f"pool{s}", nn.MaxPool2d(3, 2, 1))]
                width = out
            self.stem = nn.Sequential(OrderedDict(layers))

    def forward(self, images):
        return (self.proj if hasattr(self, "proj") else self.stem)(images).flatten(2).transpose(1, 2)   # (B, N, C)


class Sape2VisionTransformer(nn.Module):
    """The .NET VisionTransformer of `config` (the `sape2.config` metadata), under timm's names."""

    def __init__(self, config, normalization=None):
        super().__init__()
        self.config = config
        dim, tokens_along = config["EmbedDim"], self._tokens_along
        grid = (tokens_along(config["ImageHeight"]), tokens_along(config["ImageWidth"]))
        prefix = 1 if config["Pooling"] == "ClassToken" else 0
        self.patch_embed = PatchEmbed(config)
        if prefix:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        encoding = config["PositionEncoding"]
        if encoding in ("Absolute", "Sincos2D") or (encoding not in ("None",) and config["AbsolutePosition"]):
            self.pos_embed = nn.Parameter(torch.zeros(1, prefix + grid[0] * grid[1], dim),
                                          requires_grad=encoding != "Sincos2D")   # sin-cos: the fixed table, exported as is
        self.blocks = nn.ModuleList(Block(config, grid) for _ in range(config["Depth"]))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        if config["Pooling"] == "SequencePooling":
            self.seq_pool = nn.Module()
            self.seq_pool.score = nn.Linear(dim, 1)
        self.head = nn.Linear(dim, config["NumClasses"])
        normalization = normalization or {"Mean": [0.5] * config["InChannels"], "Std": [0.5] * config["InChannels"]}
        self.register_buffer("mean", torch.tensor(normalization["Mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(normalization["Std"]).view(1, -1, 1, 1), persistent=False)

    def _tokens_along(self, pixels):
        return -(-pixels // self.config["PatchSize"]) if self.config["Tokenizer"] != "Patch" else pixels // self.config["PatchSize"]

    def forward(self, images):
        """(B, C, H, W) normalised images to logits (B, classes)."""
        x = self.patch_embed(images)
        if hasattr(self, "cls_token"):
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        if hasattr(self, "pos_embed"):
            x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        pooling = self.config["Pooling"]
        if pooling == "ClassToken":
            x = x[:, 0]
        elif pooling == "SequencePooling":
            x = (self.seq_pool.score(x).softmax(1).transpose(1, 2) @ x).squeeze(1)
        else:
            x = x.mean(1)
        return self.head(x)

    def predict_pixels(self, pixels):
        """Class probabilities of raw 0–255 pixels (B, C, H, W), normalised as in training."""
        return self((pixels.float() / 255 - self.mean) / self.std).softmax(-1)


def load(path):
    """The model of a `sape2 export --safetensors` file, its weights loaded with strict=True, and its class names."""
    state, metadata = read_safetensors(path)
    config = json.loads(metadata["sape2.config"])
    normalization = json.loads(metadata["sape2.normalization"]) if "sape2.normalization" in metadata else None
    model = Sape2VisionTransformer(config, normalization)
    model.load_state_dict(state, strict=True)
    return model.eval(), json.loads(metadata["sape2.classes"])


def timm_vision_transformer(path):
    """An APE / sin-cos / no-encoding export with the patch tokenizer and CLS or average pooling, as timm's own
    VisionTransformer (needs timm), loaded with strict=True."""
    import timm.models.vision_transformer as vit
    from functools import partial
    state, metadata = read_safetensors(path)
    c = json.loads(metadata["sape2.config"])
    if c["PositionEncoding"] not in ("Absolute", "Sincos2D", "None") or c["Tokenizer"] != "Patch" or c["Pooling"] == "SequencePooling":
        raise ValueError("timm's VisionTransformer has no module for this model's encoding, tokenizer or pooling; use load().")
    model = vit.VisionTransformer(
        img_size=(c["ImageHeight"], c["ImageWidth"]), patch_size=c["PatchSize"], in_chans=c["InChannels"],
        num_classes=c["NumClasses"], embed_dim=c["EmbedDim"], depth=c["Depth"], num_heads=c["NumHeads"], mlp_ratio=c["MlpRatio"],
        qkv_bias=True, class_token=c["Pooling"] == "ClassToken", global_pool="token" if c["Pooling"] == "ClassToken" else "avg",
        fc_norm=False, pos_embed="none" if c["PositionEncoding"] == "None" else "learn", norm_layer=partial(nn.LayerNorm, eps=1e-6))
    model.load_state_dict(state, strict=True)
    return model.eval()
