"""Evaluate the shipped generators on held-out photos and render contact sheets.

    python benchmarks/eval_model.py [--data ../shared/data] [--out docs/img] [--natural W] [--ukiyoe W]

natural: PSNR against the true colours and colourfulness (Hasler & Süsstrunk) on the validation
split that training never sees, beside the grey photo's own PSNR (the bar) and the true photos'
colourfulness. ukiyoe: Gram distance to the style painting (lower = closer to its texture/palette)
for our output, the teacher's target and the grey input. Prints a Markdown table; writes
contact sheets of held-out photos, historic photos and film frames.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidcolor.color import luma_ab_to_rgb, rgb_to_luma
from vidcolor.metrics import colorfulness, psnr
from vidcolor.models.checkpoint import load_generator
from vidcolor.train.data import is_greyscale, is_validation, list_images, read_rgb
from vidcolor.train.losses import FeatureNet, gram
from vidcolor.train.recipe import load_recipe


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) [0,1]."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def to_u8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def colourize(gen, style: str, rgb: np.ndarray, short: int = 256) -> np.ndarray:
    """Grey version of a photo through the model at `short` px, merged as `vidcolor run` does:
    natural keeps the full-res luma and adds upsampled chroma; styles upsample the RGB."""
    module = gen.for_style(style)
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    mh, mw = max(32, round(h * s / 32) * 32), max(32, round(w * s / 32) * 32)
    luma_full = rgb_to_luma(to_tensor(rgb))
    small = torch.nn.functional.interpolate(luma_full, size=(mh, mw), mode="area")
    out = module(small)
    up = torch.nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    if module.mode == "colorize":
        return to_u8(luma_ab_to_rgb(luma_full, up))
    return to_u8(up)


def held_out(recipe_path: Path) -> list[Path]:
    """The recipe's validation photos, less the black-and-white ones (training skips those too)."""
    r = load_recipe(recipe_path)
    files = [f for f in list_images(list(r.data.photos)) if is_validation(f, r.data.val_fraction)]
    return [f for f in files if not is_greyscale(read_rgb(f, 64))]


def eval_natural(gen, files: list[Path]) -> dict[str, float]:
    rows = {"psnr": [], "psnr_grey": [], "colorfulness": [], "colorfulness_true": []}
    for f in files:
        rgb = read_rgb(f, 256)
        pred = colourize(gen, "natural", rgb)
        grey = np.repeat(to_u8(rgb_to_luma(to_tensor(rgb))), 3, axis=2)
        t = rgb / 255.0
        rows["psnr"].append(psnr(pred / 255.0, t))
        rows["psnr_grey"].append(psnr(grey / 255.0, t))
        rows["colorfulness"].append(colorfulness(pred / 255.0))
        rows["colorfulness_true"].append(colorfulness(t))
    return {k: float(np.mean(v)) for k, v in rows.items()} | {"images": len(files)}


@torch.no_grad()
def eval_ukiyoe(gen, files: list[Path], style_image: Path, teacher_dir: Path | None) -> dict[str, float]:
    feats = FeatureNet()
    style = [gram(f) for f in feats(to_tensor(read_rgb(style_image, 256)))]
    dist = lambda img: float(sum(((gram(f) - g) ** 2).mean() for f, g in zip(feats(to_tensor(img)), style)))  # noqa: E731
    rows = {"gram_ours": [], "gram_grey": [], "gram_teacher": []}
    for f in files:
        rgb = read_rgb(f, 192)
        rows["gram_ours"].append(dist(colourize(gen, "ukiyoe", rgb, short=192)))
        rows["gram_grey"].append(dist(np.repeat(to_u8(rgb_to_luma(to_tensor(rgb))), 3, axis=2)))
        cached = next(teacher_dir.glob(f"*/{f.stem}.png"), None) if teacher_dir else None
        if cached is not None:
            rows["gram_teacher"].append(dist(cv2.cvtColor(cv2.imread(str(cached)), cv2.COLOR_BGR2RGB)))
    return {k: float(np.mean(v)) for k, v in rows.items() if v} | {"images": len(files)}


def film_frames(path: Path, n: int = 3) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return [frames[i] for i in np.linspace(0, len(frames) - 1, n).astype(int)]


def sheet(images: list[np.ndarray], gens: dict, path: Path, height: int = 192) -> None:
    """One row per image: grey input | each style's output."""
    rows = []
    for rgb in images:
        s = height / rgb.shape[0]
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), height), interpolation=cv2.INTER_AREA)
        grey = np.repeat(to_u8(rgb_to_luma(to_tensor(rgb))), 3, axis=2)
        tiles = [grey] + [colourize(g, name, grey) for name, g in gens.items()]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--natural", type=Path, default=None, help="weights (default: shipped)")
    ap.add_argument("--ukiyoe", type=Path, default=None, help="weights (default: shipped)")
    ap.add_argument("--limit", type=int, default=0, help="evaluate at most N held-out photos")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    gens = {"natural": load_generator(args.natural, "natural"), "ukiyoe": load_generator(args.ukiyoe, "ukiyoe")}
    t0 = time.time()
    nat_files = held_out(Path("train/natural.toml"))
    uki_files = held_out(Path("train/ukiyoe.toml"))
    if args.limit:
        nat_files, uki_files = nat_files[: args.limit], uki_files[: args.limit]
    nat = eval_natural(gens["natural"], nat_files)
    uki = eval_ukiyoe(gens["ukiyoe"], uki_files, args.data / "styles" / "wave.jpg", Path("runs/ukiyoe/teacher"))
    print(json.dumps({"natural": nat, "ukiyoe": uki}, indent=1))
    print(f"\n| natural (held-out, {nat['images']} photos) | PSNR dB | grey PSNR dB | colourfulness | true colourfulness |")
    print("|---|---|---|---|---|")
    print(f"| ours | {nat['psnr']:.2f} | {nat['psnr_grey']:.2f} | {nat['colorfulness']:.1f} | {nat['colorfulness_true']:.1f} |")
    print(f"\n| ukiyoe (held-out, {uki['images']} photos) | Gram distance to The Great Wave (lower = closer) |")
    print("|---|---|")
    for k in ("gram_ours", "gram_teacher", "gram_grey"):
        if k in uki:
            print(f"| {k[5:]} | {uki[k]:.4f} |")
    rng = np.random.default_rng(0)
    photos = [read_rgb(f, 192) for f in rng.choice(nat_files, 6, replace=False)]
    sheet(photos, gens, args.out / "contact_photos.png")
    historic = sorted((args.data / "historic").glob("*.jpg"))
    sheet([read_rgb(f, 192) for f in rng.choice(historic, 6, replace=False)], gens, args.out / "contact_historic.png")
    films = sorted((args.data / "films").glob("*.mp4"))
    sheet([fr for f in films for fr in film_frames(f, 2)], gens, args.out / "contact_films.png")
    print(f"\nsheets in {args.out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
