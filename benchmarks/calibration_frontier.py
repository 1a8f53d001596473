"""Two natural weights compared at equal colourfulness on the calibration photos (never the report split).

    python benchmarks/calibration_frontier.py --weights A.safetensors B.safetensors [--per-set 100] [--threads 1]

Each weights' decodings are scored on the calibration grid of ``calibrate_vividness.py`` (vividness x
temperature [x palette strength], the same seeded photos); per photo set the frontier is the best
PSNR gain over grey among settings at least as colourful as c, printed for c at the truth's
colourfulness minus 2, 4, 6, 8 and 10. Tables are cached beside the weights (``<name>.frontier.json``) so
a weights file is scored once.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from calibrate_vividness import calibration_photos, sweep
from eval_natural import DATA

from vidcolor.models.checkpoint import load_generator

BELOW_TRUTH = (2, 4, 6, 8, 10)


def frontier(points: list[tuple[float, float]], colourfulness: float) -> float:
    """Best PSNR gain among (gain, colourfulness) points with colourfulness >= the given one (nan if none)."""
    gains = [g for g, cf in points if cf >= colourfulness]
    return max(gains) if gains else float("nan")


def table_of(weights: Path, photos: dict[str, list[np.ndarray]], per_set: int) -> dict[str, list[tuple[float, float, float]]]:
    """{set: [(PSNR - grey, colourfulness, true colourfulness) for each decoding setting]}, cached."""
    cache = weights.with_suffix(f".frontier{per_set}.json")
    if cache.is_file() and cache.stat().st_mtime > weights.stat().st_mtime:
        return json.loads(cache.read_text())
    gen = load_generator(weights, "natural")
    table = sweep(gen, photos)
    out = {name: [table[g][name] for g in table] for name in photos}
    cache.write_text(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, nargs="+", required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--per-set", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    photos = calibration_photos(args.data, args.per_set)  # the photos calibrate_vividness.py draws
    tables = {w: table_of(w, photos, args.per_set) for w in args.weights}
    for name in photos:
        true_cf = next(iter(tables.values()))[name][0][2]
        print(f"\n{name} ({len(photos[name])} photos, true colourfulness {true_cf:.1f}): best PSNR - grey at colourfulness >= c")
        print("| weights | " + " | ".join(f"c = {true_cf - d:.1f}" for d in BELOW_TRUTH) + " |")
        print("|---|" + "---:|" * len(BELOW_TRUTH))
        for w, t in tables.items():
            points = [(g, cf) for g, cf, _ in t[name]]
            print(f"| {w} | " + " | ".join(f"{frontier(points, true_cf - d):+.2f}" for d in BELOW_TRUTH) + " |")


if __name__ == "__main__":
    main()
