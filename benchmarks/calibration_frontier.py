"""Natural weights compared at equal colourfulness on the calibration photos (never the report split).

    python benchmarks/calibration_frontier.py --weights A.safetensors B.safetensors [--per-set 100] [--threads 1]

Each weights' decodings are scored on the calibration grid of ``calibrate_vividness.py`` (vividness x
temperature [x palette strength], the same seeded photos); per photo set the frontier is the best
PSNR gain over grey among settings at least as colourful as c, printed for c at the truth's
colourfulness minus 2, 4, 6, 8 and 10. For every weights after the first, a second table gives its
difference from the first at each c (each at its own frontier setting) with the paired standard error
over the photos: the same photos score both, so what differs is the weights, and a difference within
two standard errors is not one to choose on (67 old calibration photos resolve about 0.2 dB).
Per-photo tables are cached beside the weights (``<name>.frontier<n>p.json``) so a weights file is
scored once.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from calibrate_vividness import calibration_photos, sweep_photos
from eval_natural import DATA, paired_difference

from vidcolor.models.checkpoint import load_generator

BELOW_TRUTH = (2, 4, 6, 8, 10)


def frontier_setting(means: dict[str, np.ndarray], colourfulness: float) -> str | None:
    """The setting with the best mean PSNR gain among those whose mean colourfulness is >= the given one.

    ``means``: {setting: (3,) mean (PSNR - grey, colourfulness, true colourfulness)}; None if none is that colourful."""
    feasible = [g for g, m in means.items() if m[1] >= colourfulness]
    return max(feasible, key=lambda g: means[g][0]) if feasible else None


def table_of(weights: Path, photos: dict[str, list[np.ndarray]], per_set: int) -> dict[str, dict[str, np.ndarray]]:
    """{set: {setting: (n, 3) per photo (PSNR - grey, colourfulness, true colourfulness)}}, cached."""
    cache = weights.with_suffix(f".frontier{per_set}p.json")
    if cache.is_file() and cache.stat().st_mtime > weights.stat().st_mtime:
        raw = json.loads(cache.read_text())
    else:
        table = sweep_photos(load_generator(weights, "natural"), photos)
        raw = {name: {json.dumps(g): table[g][name].tolist() for g in table} for name in photos}
        cache.write_text(json.dumps(raw))
    return {name: {g: np.asarray(rows) for g, rows in sets.items()} for name, sets in raw.items()}


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
    first = args.weights[0]
    for name in photos:
        sets = {w: t[name] for w, t in tables.items()}
        means = {w: {g: rows.mean(axis=0) for g, rows in s.items()} for w, s in sets.items()}
        true_cf = float(next(iter(sets[first].values()))[:, 2].mean())  # the same photos under any setting
        cs = [true_cf - d for d in BELOW_TRUTH]
        picks = {w: [frontier_setting(means[w], c) for c in cs] for w in sets}
        print(f"\n{name} ({len(photos[name])} photos, true colourfulness {true_cf:.1f}): best PSNR - grey at colourfulness >= c")
        print("| weights | " + " | ".join(f"c = {c:.1f}" for c in cs) + " |")
        print("|---|" + "---:|" * len(cs))
        for w in sets:
            print(f"| {w} | " + " | ".join(f"{means[w][g][0]:+.2f}" if g else "nan" for g in picks[w]) + " |")
        if len(sets) > 1:
            print(f"\n{name}: minus {first} at each c, photo by photo (paired standard error)")
            print("| weights | " + " | ".join(f"c = {c:.1f}" for c in cs) + " |")
            print("|---|" + "---:|" * len(cs))
            for w in args.weights[1:]:
                cells = []
                for g0, g in zip(picks[first], picks[w]):
                    if g0 is None or g is None:
                        cells.append("nan")
                        continue
                    m, se = paired_difference(sets[first][g0][:, 0], sets[w][g][:, 0])
                    cells.append(f"{m:+.2f} ({se:.2f})")
                print(f"| {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
