"""User styles: styles that `vidcolor add-style` learnt from a painting, one small file each in a folder.

A user style is one conditioning slot of the generator it was learnt on (its base: the shipped
gallery, or a --weights checkpoint): the scale and shift rows of every decoder stage's
conditional instance norm, a few hundred numbers. Its file holds those rows and nothing else:

    <styles dir>/<name>.safetensors
        tensors   up16.norm.scale (C16,), up16.norm.shift (C16,), ..., up1.norm.shift (C1,)  float32
        metadata  "vidcolor-style": {"format", "name", "description", "painting", "painting_sha256",
                  "base": {"file", "sha256"}, "steps", "photos", "seconds", "sha256"}

``base.sha256`` is the base's tensor checksum (the ``sha256`` of its header): the rows mean
something on that generator only, so a style whose base is not at hand is refused, saying what to
do. Loading a user style is loading its base and appending the rows as a new slot (``append_style``).

The folder: --styles-dir > $VIDCOLOR_STYLES_DIR > the user data folder /styles: platformdirs'
user_data_dir("vidcolor") when platformdirs is installed, else $XDG_DATA_HOME/vidcolor
(default ~/.local/share/vidcolor/styles).
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from vidcolor.errors import CheckpointError, StyleError

FORMAT = "vidcolor-user-style/1"
META_KEY = "vidcolor-style"
ENV_STYLES_DIR = "VIDCOLOR_STYLES_DIR"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
NAME_RULE = "lower-case letters, digits, '-' and '_', at most 40, starting with a letter or digit"


@dataclass(frozen=True)
class UserStyle:
    name: str  # what --style takes
    path: Path  # its file
    description: str  # one line for `vidcolor styles`
    painting: str  # file name of the painting it was learnt from
    base_file: str  # name of the generator file it was learnt on
    base_sha256: str  # that generator's tensor checksum (its header's "sha256")


# ------------------------------------------------------------------ the folder


def styles_dir(flag: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """Where user styles live: ``flag`` (--styles-dir) > $VIDCOLOR_STYLES_DIR > the user data
    folder's ``styles``. Not created here."""
    env = os.environ if environ is None else environ
    if flag is not None:
        return Path(flag).expanduser()
    if env.get(ENV_STYLES_DIR):
        return Path(env[ENV_STYLES_DIR]).expanduser()
    return user_data_dir(env) / "styles"


def user_data_dir(environ: dict[str, str]) -> Path:
    """platformdirs' user data folder for vidcolor where installed, else the XDG one."""
    try:
        import platformdirs
    except ImportError:
        home = Path(environ.get("HOME") or Path.home())
        return Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "vidcolor"
    return Path(platformdirs.user_data_dir("vidcolor", appauthor=False))


def style_path(name: str, folder: Path) -> Path:
    return Path(folder) / f"{name}.safetensors"


def check_new_name(name: str, folder: Path, overwrite: bool = False) -> Path:
    """The file a new style ``name`` goes to; StyleError for a bad name, a built-in's name, or a
    style of that name already in ``folder`` (unless ``overwrite``)."""
    from vidcolor.styles import STYLES

    if not NAME_PATTERN.fullmatch(name):
        raise StyleError(f"bad style name {name!r}: use {NAME_RULE}", "e.g. --name my_painting")
    if name in STYLES:
        raise StyleError(f"{name!r} is the name of a built-in style", "choose another --name")
    path = style_path(name, folder)
    if path.exists() and not overwrite:
        raise StyleError(f"a style named {name!r} already exists: {path}", "choose another --name, or pass --overwrite to replace it")
    return path


def list_user_styles(folder: Path | None = None) -> list[UserStyle]:
    """The user styles in ``folder`` (default: ``styles_dir()``), by name. Files that are not
    readable user styles, or whose name is not a valid style name, are left out."""
    folder = styles_dir(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            found.append(read_user_style_header(path))
        except CheckpointError:
            continue
    return found


def find_user_style(name: str, folder: Path | None = None) -> UserStyle | None:
    """The user style ``name`` in ``folder`` (default: ``styles_dir()``); None when there is no
    such file; CheckpointError when the file is there but not a readable user style."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    path = style_path(name, styles_dir(folder))
    return read_user_style_header(path) if path.is_file() else None


# ------------------------------------------------------------------ the file


def read_user_style_header(path: Path) -> UserStyle:
    """A user style's description from its file header alone (cached per size and mtime);
    CheckpointError when it is not a vidcolor user style."""
    path = Path(path)
    stat = path.stat()
    return _header(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _header(path: str, size: int, mtime_ns: int) -> UserStyle:
    meta = _metadata(Path(path))
    name = Path(path).name.removesuffix(".safetensors")
    if meta.get("name") != name or not NAME_PATTERN.fullmatch(name):
        raise CheckpointError(f"{path} holds style {meta.get('name')!r} under another name", "rename the file to <style name>.safetensors")
    base = meta.get("base") or {}
    return UserStyle(name, Path(path), str(meta.get("description", "")), str(meta.get("painting", "")),
                     str(base.get("file", "")), str(base.get("sha256", "")))


def _metadata(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
        meta = json.loads(raw) if raw else None
    except (SafetensorError, OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vidcolor user style", "remove it from the styles folder, or learn it again with vidcolor add-style")
    return meta


def read_user_style(style: UserStyle) -> tuple[dict, dict]:
    """(rows, metadata) of a user style: rows {"up16.norm.scale": (C,) float32, ...}.
    CheckpointError when the file was changed since it was written."""
    from safetensors.torch import load_file

    from vidcolor.models.checkpoint import tensor_digest

    meta = _metadata(style.path)
    rows = load_file(str(style.path))
    if tensor_digest(rows) != meta.get("sha256"):
        raise CheckpointError(f"{style.path} has been modified since it was written (checksum mismatch)", "learn the style again with vidcolor add-style")
    return rows, meta


def write_user_style(path: Path, rows: dict, meta: dict) -> Path:
    """Write rows {"<layer>.scale" | "<layer>.shift": (C,)} and ``meta`` as a user style file,
    atomically (the folder is created)."""
    from safetensors.torch import save

    from vidcolor.files import write_atomically
    from vidcolor.models.checkpoint import tensor_digest

    tensors = {k: v.detach().to("cpu").float().contiguous() for k, v in rows.items()}
    header = {"format": FORMAT, **meta, "sha256": tensor_digest(tensors)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, save(tensors, metadata={META_KEY: json.dumps(header)}))
    return path


# ------------------------------------------------------------------ rows and slots of a generator


def norm_layers(generator) -> dict:
    """The generator's conditional instance norms by name: {"up16.norm": CondInstanceNorm, ...}."""
    from vidcolor.models.generator import CondInstanceNorm

    return {name: m for name, m in generator.named_modules() if isinstance(m, CondInstanceNorm)}


def style_rows(generator, slot: int) -> dict:
    """One slot's norm parameters: {"<layer>.scale": (C,), "<layer>.shift": (C,)} (copies)."""
    rows = {}
    for name, layer in norm_layers(generator).items():
        rows[f"{name}.scale"] = layer.scale.detach()[slot].clone()
        rows[f"{name}.shift"] = layer.shift.detach()[slot].clone()
    return rows


def append_style(generator, name: str, rows: dict) -> int:
    """Add a stylizing slot ``name`` holding ``rows`` (as ``style_rows`` gives) to ``generator``, in
    place; returns its index. CheckpointError when the rows do not fit this generator."""
    import torch

    layers = norm_layers(generator)
    expected = {f"{layer}.{part}": (m.scale.shape[1],) for layer, m in layers.items() for part in ("scale", "shift")}
    if {k: tuple(v.shape) for k, v in rows.items()} != expected:
        raise CheckpointError(f"style {name!r} does not fit these weights (other decoder layers)", "learn it again on these weights with vidcolor add-style")
    for layer, m in layers.items():
        for part in ("scale", "shift"):
            old = getattr(m, part)
            setattr(m, part, torch.nn.Parameter(torch.cat([old.detach(), rows[f"{layer}.{part}"][None].to(old)]), requires_grad=old.requires_grad))
    generator.style_names.append(name)
    generator.style_modes.append("stylize")
    generator.config = replace(generator.config, styles=(*generator.config.styles, name))
    return len(generator.style_names) - 1


def add_user_style(generator, name: str, folder: Path | None = None) -> int:
    """Append the user style ``name`` (from ``folder``) to ``generator``, which must be the
    weights it was learnt on (checked by checksum); returns its slot index."""
    style = find_user_style(name, folder)
    if style is None:
        raise StyleError(f"unknown style {name!r}", f"no such file: {style_path(name, styles_dir(folder))}")
    held = (getattr(generator, "metadata", None) or {}).get("sha256")
    if held != style.base_sha256:
        raise StyleError(
            f"style {name!r} was learnt on other weights ({style.base_file}, sha256 {style.base_sha256[:12]}) than these ({(held or 'unknown')[:12]})",
            "pass the --weights it was learnt on, or learn it again on these weights with vidcolor add-style",
        )
    rows, _ = read_user_style(style)
    return append_style(generator, name, rows)


def base_weights(style: UserStyle) -> Path:
    """The shipped generator file a user style was learnt on (found by checksum); StyleError when
    this vidcolor does not ship it (e.g. after an upgrade brought new gallery weights)."""
    from vidcolor.models.checkpoint import read_header, shipped_files

    for path in shipped_files():
        if read_header(path).get("sha256") == style.base_sha256:
            return path
    raise StyleError(
        f"style {style.name!r} was learnt on weights this vidcolor does not ship ({style.base_file}, sha256 {style.base_sha256[:12]})",
        f"pass those weights with --weights, or learn the style again: vidcolor add-style {style.painting or 'PAINTING'} --name {style.name} --photos DIR --overwrite",
    )

