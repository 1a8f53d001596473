"""Pick the picture gain's lambda (train.picture_gain_lambda) on the calibration photos.

    python benchmarks/calibrate_picture_gain.py --recipe train/natural10_gain.toml [--lambdas 0.08 0.1 ...]

Needs the recipe's run folder to hold the training photos' tables (``vidcolor train RECIPE`` writes
them, vidcolor.train.gain). The calibration photos (name hash in [5 %, 10 %), old and new sets
apart, black-and-white ones skipped: eval_natural.split_photos) are scored the same way with the
recipe's init weights (cached beside the training tables). For each lambda the gain is fitted on
the TRAINING tables, exactly as the recipe fits it, and scored on the calibration tables.

Each fitted gain is scored at every ``mix`` and ``scale`` of the grid (PictureGain.set_mix:
k = scale * ((1 - mix) + mix * fitted k)). Rule: issue 9's bars with a margin on colour, PSNR on
top: among settings whose colourfulness is within COLOUR_MARGIN of the truth's on BOTH sets, the
one with the best worst-set PSNR gain over grey. (calibrate_vividness.py's rule, the most colourful
setting at least 0.5 dB above grey, sat on the PSNR bar and fell under it held out, sessions 12-15.)
For reference each row also gives the PSNR of one global scale at the same colourfulness (the
weights' own line: what the picture gain adds at equal colour).
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from eval_natural import DATA, split_photos
from safetensors.torch import load_file, save_file

from vidcolor.metrics import colorfulness
from vidcolor.models.checkpoint import load_generator
from vidcolor.train.data import read_rgb
from vidcolor.train.gain import GAIN_GRID, TABLES_FILE, fit_gain, weights_checksum, gain_table, scores
from vidcolor.train.recipe import load_recipe

LAMBDAS = (0.1, 0.11, 0.12)
MIXES = (0.5, 0.75, 1.0)
SCALES = (0.95, 1.0, 1.05, 1.1)
COLOUR_MARGIN = 4.0  # issue 9's bar is 6


def calibration_tables(recipe, data: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """{set: (inputs (N, C + 5), tables (N, K, 2), true colourfulness (N,))} of the calibration photos, cached."""
    cache = recipe.run_dir / "calibration_tables.safetensors"
    key = weights_checksum(recipe.init)
    if cache.is_file():
        saved = load_file(str(cache))
        if bytes(saved["key"].tolist()).decode() == key:
            return {s: (saved[f"{s}.inputs"], saved[f"{s}.tables"], saved[f"{s}.true_cf"]) for s in ("old", "new")}
    gen = load_generator(recipe.init, "natural").eval()
    out, flat = {}, {"key": torch.tensor(list(key.encode()), dtype=torch.uint8)}
    for name, files in split_photos(data, "calibration").items():
        rows = [(gain_table(gen, img, recipe.data.load_size), colorfulness(img / 255.0)) for img in (read_rgb(f, recipe.data.load_size) for f in files)]
        out[name] = (torch.stack([r[0][0] for r in rows]), torch.stack([r[0][1] for r in rows]), torch.tensor([r[1] for r in rows]))
        flat |= {f"{name}.inputs": out[name][0], f"{name}.tables": out[name][1], f"{name}.true_cf": out[name][2]}
    save_file(flat, str(cache))
    return out


def global_line(tables: torch.Tensor, cf: float) -> float:
    """PSNR gain of one global scale (the same k for every photo) at mean colourfulness ``cf``."""
    mean = tables.mean(0).numpy()  # (K, 2)
    return float(np.interp(cf, mean[:, 1], mean[:, 0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--lambdas", type=float, nargs="+", default=LAMBDAS)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    saved = load_file(str(recipe.run_dir / TABLES_FILE))
    x_train, t_train = saved["inputs"], saved["tables"]
    cal = calibration_tables(recipe, args.data)
    print(f"training photos {len(x_train)}; calibration: " + ", ".join(f"{k} {len(v[0])} (true colourfulness {float(v[2].mean()):.1f})" for k, v in cal.items()))
    one = GAIN_GRID.index(1.0)
    print("without a picture gain (k = 1): " + ", ".join(f"{k} {float(v[1][:, one, 0].mean()):+.2f} dB at {float(v[1][:, one, 1].mean()):.1f}" for k, v in cal.items()))
    print("\n| lambda | mix | scale | " + " | ".join(f"{k}: PSNR - grey | {k}: CF / true | {k}: one global scale at that CF" for k in cal) + " |")
    print("|---:|---:|---:|" + "---:|---:|---:|" * len(cal))
    rows = {}
    for lam in args.lambdas:
        state = fit_gain(x_train, t_train, lam, recipe.seed)
        for mix, scale in itertools.product(MIXES, SCALES):
            rows[lam, mix, scale] = r = {k: (*scores(v[0], v[1], state, mix, scale), float(v[2].mean())) for k, v in cal.items()}
            print(f"| {lam} | {mix} | {scale} | " + " | ".join(f"{v[0]:+.2f} | {v[1]:.1f} / {v[2]:.1f} | {global_line(cal[k][1], v[1]):+.2f}" for k, v in r.items()) + " |", flush=True)
    feasible = [g for g, r in rows.items() if all(abs(v[1] - v[2]) <= COLOUR_MARGIN for v in r.values())]
    if feasible:
        lam, mix, scale = max(feasible, key=lambda g: min(v[0] for v in rows[g].values()))
        print(f"\npick: picture_gain_lambda = {lam}, picture_gain_mix = {mix}, picture_gain_scale = {scale}")
    else:
        print(f"\nno setting is within {COLOUR_MARGIN} of the true colourfulness on both sets")


if __name__ == "__main__":
    main()
