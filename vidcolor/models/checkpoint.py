"""Weights on disk: safetensors (never pickle) with JSON metadata in the header.

The metadata holds everything needed to rebuild the network (``config``), what it was trained
from (``recipe``, ``data_fingerprint``), how good it is (``metrics``), and a SHA-256 of the tensor
bytes so a tampered file is refused rather than silently producing garbage.

Shipped weights live in ``vidcolor/weights/<style>.safetensors`` (fp16); nothing is downloaded.
"""
from __future__ import annotations

import copy
import functools
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


def read_header(path: Path) -> dict:
    """The vidcolor metadata of a generator file, from its safetensors header alone (no tensor is
    read, no checksum checked: cheap enough to list every shipped file). Cached per (path, size,
    mtime). CheckpointError if missing, unreadable or not a vidcolor generator."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise CheckpointError(f"weights file not found: {path}", "pass an existing .safetensors file, or omit --weights") from None
    return copy.deepcopy(_read_header(str(path.resolve()), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _read_header(path: str, size: int, mtime_ns: int) -> dict:
    try:
        with safe_open(path, framework="pt") as f:
            raw = (f.metadata() or {}).get("vidcolor")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})", "re-export it with vidcolor train") from None
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not meta or meta.get("format") != FORMAT or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} is not a vidcolor generator checkpoint", "use weights written by vidcolor train")
    return meta


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a generator file; CheckpointError if missing, unreadable or tampered."""
    path = Path(path)
    meta = read_header(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})", "re-export it with vidcolor train") from None
    if tensor_digest(tensors) != meta.get("sha256"):
        raise CheckpointError(f"{path} has been modified since it was written (checksum mismatch)", "restore or retrain the file")
    return tensors, meta


def header_styles(path: Path) -> list[str]:
    """The style names a generator file holds (its header's config), in slot order."""
    return list(read_header(path)["config"]["styles"])


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


def load_styles(styles: list[str], weights: Path | None = None, styles_dir: Path | None = None) -> Generator:
    """A generator in eval mode holding every one of ``styles`` (built-in or user styles): ``weights``,
    or the one shipped file that holds them (vidcolor.blend.blend_weights_file), with each user
    style appended as a slot of its own (vidcolor.userstyles). StyleError / CheckpointError."""
    from vidcolor.blend import blend_weights_file
    from vidcolor.userstyles import add_user_style

    gen = load_generator(blend_weights_file(dict.fromkeys(styles, 1.0), weights, styles_dir))
    for name in styles:
        if name not in gen.style_names:
            add_user_style(gen, name, styles_dir)
    return gen


def shipped_files() -> list[Path]:
    """Every generator file that ships in the package, sorted by name."""
    return sorted(WEIGHTS_DIR.glob("*.safetensors"))


def shipped_weights(style: str) -> Path:
    """The packaged weights file for ``style``: ``<style>.safetensors`` where there is one (natural),
    else the shipped file whose header lists the style (gallery.safetensors holds the painting
    styles). StyleError when no shipped file holds it."""
    own = WEIGHTS_DIR / f"{style}.safetensors"
    if own.is_file():
        return own
    for path in shipped_files():
        if style in header_styles(path):
            return path
    shipped = ", ".join(shipped_styles()) or "none"
    raise StyleError(f"no shipped weights for style {style!r}", f"shipped: {shipped}; train one with vidcolor train")


def shipped_file_holding(styles: list[str]) -> Path | None:
    """The shipped file that holds every one of ``styles`` (one style: ``shipped_weights``'s choice),
    or None when no single file holds them all."""
    if len(styles) == 1:
        try:
            return shipped_weights(styles[0])
        except StyleError:
            return None
    return next((path for path in shipped_files() if set(styles) <= set(header_styles(path))), None)


def shipped_styles() -> list[str]:
    """Every style that some shipped file holds, sorted."""
    return sorted({style for path in shipped_files() for style in header_styles(path)})


def usable_styles(styles_dir: Path | None = None) -> list[str]:
    """Every style that has weights here: the built-in table's shipped ones in table order, then the
    user styles of ``styles_dir`` (see vidcolor.userstyles) by name."""
    from vidcolor.styles import STYLES
    from vidcolor.userstyles import list_user_styles

    shipped = set(shipped_styles())
    return [name for name in STYLES if name in shipped] + [style.name for style in list_user_styles(styles_dir)]
