"""Pick the natural bins head's decoding (vividness, temperature) and snapshot on the calibration split.
A regression-head checkpoint (v1's head; the ablation in docs/MODEL.md) gets its chroma gain picked
by the same rule instead (the table's T column is then empty).

    python benchmarks/calibrate_vividness.py --weights runs/natural_bins/snapshots/*.safetensors [--per-set 60]
                                             [--write vidcolor/weights/natural.safetensors]

Calibration photos: name hash in [5 %, 10 %) (train/natural_bins.toml trains on neither that nor
the 5 % report split below it), old and new sets scored apart (eval_natural.split_photos), a
seeded sample of ``--per-set`` photos each. For every checkpoint the logits of each photo are
computed once; then every decoding on the grid is scored: vividness v (prior shift s = -1 + 1.5 v:
logits + s * log w, w = the rebalancing weights training used; v = 0 undoes the rebalancing,
i.e. the plain posterior; v = 2/3 decodes as trained; v = 1 leans further to rare colours) and
annealed-mean temperature T.

For weights with a scene palette (``train/natural_palette.toml``) the palette strength is a third
axis of the grid (PALETTE_STRENGTHS, with vividness 0.58-0.92 and T 0.5 / 0.38 to keep it small):
the palette's offset is computed once per photo and added at each strength.

Rule: a setting is feasible when its PSNR is at least 0.5 dB above the grey photo's on BOTH sets
(the issue's accuracy bar); among feasible ones the most colourful (smallest mean |colourfulness -
true colourfulness|) wins; with none feasible, the best worst-set PSNR gain. Prints the table
and the pick (what to write into train/natural_bins.toml: export_temperature, vividness, steps).
``--write`` saves the best checkpoint with that decoding and the training's rebalancing weights
(what `vidcolor train train/natural_bins.toml` writes when its recipe names that step and decoding).
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from eval_natural import DATA, model_shape, split_photos, to_unit

from vidcolor.color import luma_ab_to_rgb, rgb_to_luma
from vidcolor.metrics import colorfulness, psnr
from vidcolor.models.checkpoint import load_generator
from vidcolor.models.generator import annealed_mean, vividness_to_prior_shift
from vidcolor.train.data import read_rgb

VIVIDNESS = tuple(i / 24 for i in range(25))  # prior shift -1 .. +0.5 in steps of 0.0625
TEMPERATURES = (0.5, 0.38, 0.3, 0.2)
PALETTE_STRENGTHS = (0.0, 0.25, 0.375, 0.5, 0.75)
PALETTE_GRID = tuple(itertools.product(VIVIDNESS[14:23], (0.5, 0.38), PALETTE_STRENGTHS))  # (vividness, T, strength)
MARGIN_DB = 0.5  # the bar: at least 0.5 dB closer to the truth than the grey photo


def _model_luma(rgb_u8: np.ndarray, short: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(luma (1, 1, H, W), its model input at short side ``short``) of a photo (H, W, 3) uint8."""
    luma = rgb_to_luma(torch.from_numpy(rgb_u8).permute(2, 0, 1)[None].float() / 255)
    return luma, torch.nn.functional.interpolate(luma, size=model_shape(*luma.shape[-2:], short), mode="area")


@torch.no_grad()
def photo_logits(gen, rgb_u8: np.ndarray, short: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(luma (1, 1, H, W), logits (1, Q, mh/4, mw/4)) of a photo's grey version (short side 256) run
    at a model input of short side ``short`` (the palette, if any, at the weights' strength)."""
    luma, small = _model_luma(rgb_u8, short)
    return luma, gen.ab_logits(small)


@torch.no_grad()
def photo_logits_and_palette(gen, rgb_u8: np.ndarray, short: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights with a palette: (luma, logits without the palette, the palette's offset at strength 1
    (1, Q, 1, 1)), from one encoder pass."""
    luma, small = _model_luma(rgb_u8, short)
    f = gen.encode(small, None)
    logits = gen.head_bins(gen.decode(small, 0, None, full_res=False, features=f))
    return luma, logits, gen.palette(f[3], f[4])


def decode_scores(gen, luma: torch.Tensor, logits: torch.Tensor, truth: np.ndarray, vividness: float, temperature: float,
                  offset: torch.Tensor | None = None) -> tuple[float, float]:
    """(PSNR, colourfulness) of one photo under one decoding, merged as `vidcolor run` merges;
    ``offset``: added to the logits (the palette's, at the strength being scored)."""
    shift = vividness_to_prior_shift(vividness)
    logits = logits if offset is None else logits + offset
    ab = annealed_mean(logits + shift * gen.bin_log_weight.view(1, -1, 1, 1), gen.bins, temperature)
    up = torch.nn.functional.interpolate(ab, size=luma.shape[-2:], mode="bilinear", align_corners=False)
    pred = to_unit(luma_ab_to_rgb(luma, up))
    return psnr(pred, truth), colorfulness(pred)


def sweep_photos(gen, photos: dict[str, list[np.ndarray]], short: int = 256) -> dict[tuple[float, ...], dict[str, np.ndarray]]:
    """{(vividness, T[, palette strength]): {set: (n, 3) per photo (PSNR - grey, colourfulness, true colourfulness)}}."""
    palette = gen.config.palette
    grid = list(PALETTE_GRID) if palette else list(itertools.product(VIVIDNESS, TEMPERATURES))
    out: dict = {g: {} for g in grid}
    for name, images in photos.items():
        rows = {g: [] for g in grid}
        for rgb in images:
            luma, logits, offset = photo_logits_and_palette(gen, rgb, short) if palette else (*photo_logits(gen, rgb, short), None)
            truth = rgb / 255.0
            grey = psnr(to_unit(luma.expand(-1, 3, -1, -1)), truth)
            for g in grid:
                p, cf = decode_scores(gen, luma, logits, truth, g[0], g[1], offset * g[2] if palette else None)
                rows[g].append((p - grey, cf, colorfulness(truth)))
        for g in grid:
            out[g][name] = np.asarray(rows[g], np.float64)
    return out


def sweep(gen, photos: dict[str, list[np.ndarray]], short: int = 256) -> dict[tuple[float, ...], dict[str, tuple[float, float, float]]]:
    """{(vividness, T[, palette strength]): {set: (PSNR - grey, colourfulness, true colourfulness)}} means over the photos."""
    return {g: {name: tuple(float(v) for v in rows.mean(axis=0)) for name, rows in sets.items()} for g, sets in sweep_photos(gen, photos, short).items()}


GAINS = tuple(round(0.75 + 0.125 * i, 3) for i in range(11))  # regression head: 0.75 .. 2.0


@torch.no_grad()
def sweep_gain(gen, photos: dict[str, list[np.ndarray]]) -> dict[tuple[float, float], dict[str, tuple[float, float, float]]]:
    """Regression head: {(gain, 0): {set: (PSNR - grey, colourfulness, true colourfulness)}}, the predicted a/b times the gain."""
    from dataclasses import replace

    gen.config = replace(gen.config, chroma_gain=1.0)
    out: dict = {(k, 0.0): {} for k in GAINS}
    for name, images in photos.items():
        rows = {k: [] for k in GAINS}
        for rgb in images:
            luma = rgb_to_luma(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
            small = torch.nn.functional.interpolate(luma, size=model_shape(*luma.shape[-2:]), mode="area")
            ab = torch.nn.functional.interpolate(gen(small), size=luma.shape[-2:], mode="bilinear", align_corners=False)
            truth = rgb / 255.0
            grey = psnr(to_unit(luma.expand(-1, 3, -1, -1)), truth)
            for k in GAINS:
                pred = to_unit(luma_ab_to_rgb(luma, ab * k))
                rows[k].append((psnr(pred, truth) - grey, colorfulness(pred), colorfulness(truth)))
        for k in GAINS:
            out[(k, 0.0)][name] = tuple(float(v) for v in np.mean(rows[k], axis=0))
    return out


def pick(table) -> tuple[tuple[float, float], bool]:
    """The rule of the module docstring: (setting, feasible)."""
    feasible = [g for g, sets in table.items() if all(v[0] >= MARGIN_DB for v in sets.values())]
    if feasible:
        return min(feasible, key=lambda g: np.mean([abs(v[1] - v[2]) for v in table[g].values()])), True
    return max(table, key=lambda g: min(v[0] for v in table[g].values())), False


def recipe_log_weights(recipe: Path) -> torch.Tensor:
    """log of the rebalancing weights a bins recipe trains with (Q,), for checkpoints written before
    the weights carried them; cached in the recipe's run folder."""
    from safetensors.torch import load_file, save_file

    from vidcolor.models.generator import ab_bins
    from vidcolor.train import bins
    from vidcolor.train.loop import prepare_data
    from vidcolor.train.recipe import load_recipe

    r = load_recipe(recipe)
    cache = r.run_dir / "bin_log_weight.safetensors"
    if cache.is_file():
        return load_file(str(cache))["bin_log_weight"]
    train_set, _, _ = prepare_data(r)
    log_w = bins.rebalance_weights(bins.ab_prior(train_set.targets, ab_bins()), ab_bins(), r.loss.rebalance).log()
    save_file({"bin_log_weight": log_w}, str(cache))
    return log_w


def calibration_photos(data: Path, per_set: int) -> dict[str, list[np.ndarray]]:
    """{set: up to ``per_set`` calibration photos (H, W, 3) uint8, short side 256}: a seeded sample, the same on every call."""
    rng = np.random.default_rng(0)
    files = split_photos(data, "calibration")
    return {k: [read_rgb(v[i], 256) for i in sorted(rng.choice(len(v), min(per_set, len(v)), replace=False))] for k, v in files.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, nargs="+", required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--per-set", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model-short", type=int, default=256, help="model input short side (vidcolor run's --model-height)")
    ap.add_argument("--write", type=Path, default=None, help="save the best checkpoint with the picked decoding here")
    ap.add_argument("--recipe", type=Path, default=Path(__file__).resolve().parents[1] / "train" / "natural_bins.toml",
                    help="for checkpoints without their rebalancing weights: the recipe that made them")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    photos = calibration_photos(args.data, args.per_set)
    print(f"calibration photos: {', '.join(f'{k} {len(v)}' for k, v in photos.items())}")
    best = []
    for w in args.weights:
        gen = load_generator(w, "natural")
        if gen.config.ab_head == "regress":
            table = sweep_gain(gen, photos)
        else:
            if not gen.bin_log_weight.any():
                gen.bin_log_weight.copy_(recipe_log_weights(args.recipe))
            table = sweep(gen, photos, args.model_short)
        pal = gen.config.palette
        print(f"\n{w}\n| {'gain' if gen.config.ab_head == 'regress' else 'vividness'} | T | " + ("palette | " if pal else "")
              + " | ".join(f"{k}: PSNR-grey | {k}: CF / true" for k in photos) + " |")
        print("|---:|---:|" + ("---:|" if pal else "") + "---:|---:|" * len(photos))
        for g, sets in table.items():
            print("| " + " | ".join(f"{x:.3g}" for x in g) + " | " + " | ".join(f"{v[0]:+.2f} | {v[1]:.1f} / {v[2]:.1f}" for v in sets.values()) + " |")
        g, ok = pick(table)
        print(f"pick: {'gain' if gen.config.ab_head == 'regress' else 'vividness'} {g[0]:.3f}, temperature {g[1]}" + (f", palette strength {g[2]}" if pal else "")
              + f" ({'feasible' if ok else 'NOT feasible: best worst-set PSNR'})", flush=True)
        best.append((ok, np.mean([abs(v[1] - v[2]) for v in table[g].values()]) if ok else -min(v[0] for v in table[g].values()), w, g, table[g]))
    ok, _, w, g, scores = sorted(best, key=lambda b: (not b[0], b[1]))[0]
    print(f"\nbest checkpoint: {w} with vividness {g[0]:.3f}, temperature {g[1]}" + (f", palette strength {g[2]}" if len(g) > 2 else ""))
    if args.write:
        write_pick(w, g, scores, args)


def write_pick(path: Path, pick: tuple[float, float], scores: dict, args) -> None:
    """The checkpoint, decoding set to the pick, rebalancing weights filled in, fp16, with the calibration figures."""
    import json

    from vidcolor.models.checkpoint import save_generator

    gen = load_generator(path, "natural")
    if gen.config.ab_head == "regress":
        from dataclasses import replace

        gen.config = replace(gen.config, chroma_gain=pick[0])
    else:
        if not gen.bin_log_weight.any():
            gen.bin_log_weight.copy_(recipe_log_weights(args.recipe))
        gen.set_vividness(pick[0])
        gen.temperature.fill_(pick[1])
        if gen.config.palette:
            gen.palette_strength.fill_(pick[2])
    meta = {k: v for k, v in gen.metadata.items() if k not in ("format", "config", "sha256")}
    meta["calibration"] = {"vividness": pick[0], "temperature": pick[1], **({"palette_strength": pick[2]} if len(pick) > 2 else {}),
                           "per_set": args.per_set, "source": path.name,
                           "scores": {k: {"psnr_minus_grey": v[0], "colorfulness": v[1], "colorfulness_true": v[2]} for k, v in scores.items()}}
    save_generator(args.write, gen, json.loads(json.dumps(meta)), dtype=torch.float16)
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
