"""Pick the picture gain's lambda (train.picture_gain_lambda) on the calibration photos.

    python benchmarks/calibrate_picture_gain.py --recipe train/natural10_gain.toml [--lambdas 0.08 0.1 ...]

Needs the recipe's run folder to hold the training photos' tables (``vidcolor train RECIPE`` writes
them, vidcolor.train.gain). The calibration photos (name hash in [5 %, 10 %), old and new sets
apart, black-and-white ones skipped: eval_natural.split_photos) are scored the same way with the
recipe's init weights (cached beside the training tables). For each lambda the gain is fitted on
the TRAINING tables, exactly as the recipe fits it, and scored on the calibration tables.

Rule (calibrate_vividness.py's): among lambdas whose PSNR is at least 0.5 dB above the grey photo's
on both sets, the one with the smallest mean |colourfulness - true colourfulness|. For reference
each row also gives the PSNR of one global scale at the same colourfulness (the weights' own line:
what the picture gain adds at equal colour).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from eval_natural import DATA, split_photos
from safetensors.torch import load_file, save_file

from vidcolor.metrics import colorfulness
from vidcolor.models.checkpoint import load_generator
from vidcolor.train.data import read_rgb
from vidcolor.train.gain import GAIN_GRID, TABLES_FILE, fit_gain, gain_key, gain_table, scores
from vidcolor.train.recipe import load_recipe

LAMBDAS = (0.0, 0.04, 0.08, 0.1, 0.11, 0.12, 0.13, 0.14, 0.16)
MARGIN_DB = 0.5


def calibration_tables(recipe, data: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """{set: (inputs (N, C + 5), tables (N, K, 2), true colourfulness (N,))} of the calibration photos, cached."""
    cache = recipe.run_dir / "calibration_tables.safetensors"
    key = gain_key(recipe.init)
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
    print("\n| lambda | " + " | ".join(f"{k}: PSNR - grey | {k}: CF / true | {k}: one global scale at that CF" for k in cal) + " |")
    print("|---:|" + "---:|---:|---:|" * len(cal))
    rows = {}
    for lam in args.lambdas:
        state = fit_gain(x_train, t_train, lam, recipe.seed)
        rows[lam] = {k: (*scores(v[0], v[1], state), float(v[2].mean())) for k, v in cal.items()}
        print(f"| {lam} | " + " | ".join(f"{r[0]:+.2f} | {r[1]:.1f} / {r[2]:.1f} | {global_line(cal[k][1], r[1]):+.2f}" for k, r in rows[lam].items()) + " |", flush=True)
    feasible = [lam for lam, r in rows.items() if all(v[0] >= MARGIN_DB for v in r.values())]
    if feasible:
        best = min(feasible, key=lambda lam: np.mean([abs(v[1] - v[2]) for v in rows[lam].values()]))
        print(f"\npick: picture_gain_lambda = {best}")
    else:
        print("\nno lambda is 0.5 dB above grey on both sets")


if __name__ == "__main__":
    main()
