"""Contact sheets: labelled pictures side by side in one PNG (`vidcolor styles --sheet`, docs images).

Pure numpy + OpenCV; pictures are (H, W, 3) uint8 RGB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from vidcolor.errors import OutputError

LABEL_HEIGHT = 26  # px of the dark band above each picture that holds its label
BACKGROUND = 24  # grey level between and behind the tiles


def fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, W * height / H, 3) uint8, area-resized (aspect kept)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"pictures must be (H, W, 3) RGB, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    if h == height:
        return rgb
    width = max(1, round(w * height / h))
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR)


def labelled(rgb: np.ndarray, label: str) -> np.ndarray:
    """(H, W, 3) -> (LABEL_HEIGHT + H, W, 3): the picture under a dark band with ``label`` in white."""
    h, w = rgb.shape[:2]
    tile = np.full((LABEL_HEIGHT + h, w, 3), BACKGROUND, np.uint8)
    tile[LABEL_HEIGHT:] = rgb
    scale = 0.5
    (text_w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if text_w > w - 8:  # long labels shrink to fit the tile
        scale *= (w - 8) / text_w
    cv2.putText(tile, label, (4, LABEL_HEIGHT - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return tile


def compose_sheet(tiles: Sequence[tuple[str, np.ndarray]], columns: int | None = None, tile_height: int = 240,
                  gap: int = 6) -> np.ndarray:
    """Labelled pictures in a grid: [(label, (H, W, 3) uint8)] -> one (H', W', 3) uint8 sheet.

    Each picture is scaled to ``tile_height`` (aspect kept) and labelled above; ``columns``
    tiles per row (default: all in one row), rows left-aligned, ``gap`` px between and around.
    """
    if not tiles:
        raise ValueError("a sheet needs at least one picture")
    cells = [labelled(fit_height(rgb, tile_height), label) for label, rgb in tiles]
    columns = columns or len(cells)
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    cell_h = LABEL_HEIGHT + tile_height
    width = gap + max(sum(c.shape[1] + gap for c in row) for row in rows)
    sheet = np.full((gap + len(rows) * (cell_h + gap), width, 3), BACKGROUND, np.uint8)
    for r, row in enumerate(rows):
        x, y = gap, gap + r * (cell_h + gap)
        for cell in row:
            sheet[y:y + cell_h, x:x + cell.shape[1]] = cell
            x += cell.shape[1] + gap
    return sheet


def check_png_path(path: Path) -> Path:
    """OutputError unless ``path`` ends in .png and its folder exists (check before the work)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"a sheet is written as PNG, got {path.name}", "give a file name ending in .png")
    if not path.parent.is_dir():
        raise OutputError(f"output folder does not exist: {path.parent}", "create it first, or choose another path")
    return path


def save_png(path: Path, rgb: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 RGB as a PNG (replacing a file there); OutputError if it cannot be written."""
    path = check_png_path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OutputError(f"cannot write {path}", "choose a path in a folder you can write to")
    return path
