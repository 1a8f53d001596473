"""Render the README's before/after picture from real `vidcolor run` outputs.

    python benchmarks/before_after.py [samples/Winter_Scenes_in_Holland.mp4] [--frames 10 60] [--out docs/img/before_after.png]

Runs the film through `run_video` for each shipped style (into a temporary folder), then stacks
the chosen frames: one row per frame, columns = source | natural | ukiyoe.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.options import RunOptions
from vidcolor.pipeline import run_video

STYLES = ("natural", "ukiyoe")


def frames_at(path: Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames (H, W, 3) uint8 at these decode indices."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in indices]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("film", type=Path, nargs="?", default=Path("samples/Winter_Scenes_in_Holland.mp4"))
    ap.add_argument("--frames", type=int, nargs="+", default=[12, 70])
    ap.add_argument("--out", type=Path, default=Path("docs/img/before_after.png"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        columns = [frames_at(args.film, args.frames)]
        for style in STYLES:
            out = Path(tmp) / f"{style}.mp4"
            print(run_video(RunOptions(input=args.film, output=out, style=style, quiet=True)).line())
            columns.append(frames_at(out, args.frames))
    grid = np.concatenate([np.concatenate(row, axis=1) for row in zip(*columns)], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
