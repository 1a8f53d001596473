"""Weights on disk: safetensors (never pickle) with JSON metadata in the header.

The metadata holds everything needed to rebuild the network (``config``), what it was trained
from (``recipe``, ``data_fingerprint``), how good it is (``metrics``), and a SHA-256 of the tensor
bytes so a tampered file is refused rather than silently producing garbage.

Shipped weights live in ``vidcolor/weights/<style>.safetensors`` (fp16); nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vidcolor.errors import CheckpointError, StyleError
from vidcolor.models.generator import Generator, GeneratorConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
FORMAT = "vidcolor-generator/1"
OPTIONAL_BUFFERS = ("bin_log_weight", "prior_shift")  # bins head: zeros (no prior correction) when a file lacks them


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_generator(path: Path, generator: Generator, meta: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write generator weights + metadata to ``path`` atomically (temp file, then rename)."""
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous() for k, v in generator.state_dict().items()}
    header = {"format": FORMAT, "config": generator.config.to_dict(), **(meta or {})}
    header["sha256"] = tensor_digest(tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"vidcolor": json.dumps(header)})
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a generator file; CheckpointError if missing, unreadable or tampered."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}", "pass an existing .safetensors file, or omit --weights")
    try:

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("vidcolor")
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})", "re-export it with vidcolor train") from None
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not meta or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vidcolor generator checkpoint", "use weights written by vidcolor train")
    if tensor_digest(tensors) != meta.get("sha256"):
        raise CheckpointError(f"{path} has been modified since it was written (checksum mismatch)", "restore or retrain the file")
    return tensors, meta


def load_generator(path: Path | None = None, style: str | None = None) -> Generator:
    """A float32 generator in eval mode from ``path``, or the shipped weights that hold ``style``.

    Raises CheckpointError for a bad file or a wrong architecture, StyleError when no shipped
    weights hold the style.
    """
    if path is None:
        path = shipped_weights(style or "natural")
    tensors, meta = read_checkpoint(path)
    try:
        gen = Generator(GeneratorConfig.from_dict(meta["config"]))
        state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        for name in OPTIONAL_BUFFERS:  # decoding buffers added after the first bins-head files: their defaults
            if name in gen.state_dict() and name not in state:
                state[name] = gen.state_dict()[name]
        gen.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError, StyleError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"{path} does not match this vidcolor's generator architecture ({first})", "use weights made by this version") from None
    gen.metadata = meta
    if style is not None:
        gen.style_index(style)  # StyleError if absent
    return gen.eval()


def shipped_weights(style: str) -> Path:
    """Path of the packaged weights file for ``style``; StyleError if none ships."""
    path = WEIGHTS_DIR / f"{style}.safetensors"
    if not path.is_file():
        shipped = ", ".join(shipped_styles()) or "none"
        raise StyleError(f"no shipped weights for style {style!r}", f"shipped: {shipped}; train one with vidcolor train")
    return path


def shipped_styles() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
