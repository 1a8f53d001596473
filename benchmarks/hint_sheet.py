"""Colour hints, seen: grey | automatic | the 10 hint points | with those hints | truth, on held-out photos.

    python benchmarks/hint_sheet.py [--count 4] [--out docs/img/natural_hints.jpg]

Photos from the report split (name hash < 5 %), 10 random true-colour points (3x3 px at model
resolution, seeded per photo), the same points `eval_natural.py photos --hints 10` scores.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from eval_natural import DATA, colourize, load, photo_hints, split_photos, to_unit
from vidcolor.color import rgb_to_luma
from vidcolor.train.data import read_rgb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img" / "natural_hints.jpg")
    args = ap.parse_args()
    gen = load(args.weights, None)
    split = split_photos(DATA, "report")
    rng = np.random.default_rng(5)
    files = [f for name in ("old", "new") for f in rng.choice(split[name], args.count // 2, replace=False)]
    rows = []
    for i, f in enumerate(files):
        rgb_u8 = read_rgb(f, 256)
        rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1)[None].float() / 255
        luma = rgb_to_luma(rgb)
        hints = photo_hints(rgb, 10, i)
        auto, hinted = colourize(gen, luma), colourize(gen, luma, hints)
        mask = torch.nn.functional.interpolate(hints[:, 2:], size=rgb.shape[-2:], mode="nearest")[0, 0].numpy() > 0
        marks = (to_unit(luma.expand(-1, 3, -1, -1)) * 255).astype(np.uint8)
        dilated = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        marks[dilated] = 255
        marks[mask] = rgb_u8[mask]
        tiles = [(to_unit(luma.expand(-1, 3, -1, -1)) * 255).astype(np.uint8), (to_unit(auto) * 255).astype(np.uint8), marks,
                 (to_unit(hinted) * 255).astype(np.uint8), rgb_u8]
        h = 200
        tiles = [cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h), interpolation=cv2.INTER_AREA) for t in tiles]
        rows.append(np.concatenate([np.pad(t, ((0, 4), (0, 4), (0, 0)), constant_values=255) for t in tiles], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
