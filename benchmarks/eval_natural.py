"""Natural colour, held out: photos (old and new sets apart), degraded photos, hints, and video.

    python benchmarks/eval_natural.py photos [--weights W ...] [--split report|calibration] [--vividness V ...]
                                             [--degraded] [--hints 10] [--limit N] [--json out.json]
    python benchmarks/eval_natural.py recolour [--weights W ...] [--split report|calibration] [--json out.json]
    python benchmarks/eval_natural.py videos [--weights W] [--vividness V] [--split report|calibration|wide]
                                             [--max-frames N] [--json out.json]
    python benchmarks/eval_natural.py sheets [--weights OLD NEW] [--out docs/img]   # + colourfulness on old material

Splits (by file-name hash, as training splits them; train/natural_bins.toml trains on neither):
``report`` = hash < 5 % (what docs/MODEL.md reports), ``calibration`` = hash in [5 %, 10 %)
(where vividness and snapshots are chosen). Black-and-white photos are skipped. "old" sets are
the six of the first rounds (ImageNet samples, BSDS500, Urban100, Sun-Hays, Kodak, McMaster);
"new" is every set added since (people, streets, houses, faces, ...).

Each photo: short side 256, its grey version through the model at that size, merged the way
`vidcolor run` merges (full-resolution luma kept, chroma upsampled). Scores: RGB PSNR against the
true colour (and the grey photo's own PSNR: the bar), colourfulness (Hasler & Suesstrunk) of
ours and of the truth. ``--degraded``: the grey input gets a seeded old-film degradation
(vidcolor.train.degrade) and the PSNR is taken on chroma only (luma swapped for the clean one),
so it says how right the colour stays on film-like input. ``--hints K``: K random true-colour
points (3x3 px squares at model resolution, seeded per photo) go to the generator's hint input.

``recolour``: the user's case of a hint: a colour the photo does not have. Each photo gets one
seeded region (an object-like patch of similar colour and brightness around a random point,
1-60 % of the picture: vidcolor.train.hints.recoloured_hints) recoloured by one a/b shift to a
colour at least 30 a/b units away, and 1-3 hint points of that colour inside it, nothing else.
Scored at model resolution: "fill", the share of the region within 15 a/b units of the new
colour (the automatic result's share in brackets); "leak", the share of the picture outside
the region whose a/b moved more than 10 units from the automatic result; PSNR against the
recoloured photo minus the automatic result's.

``videos``: the held-out clips (the 7 DAVIS shots no recipe trains on, and the videos_more clips
with hash < 20 %; ``--split calibration``: the 6 non-Vimeo clips with hash in [20 %, 35 %), which
no recipe takes colour from; ``--split wide``: the 32 clips outside the report split but Vimeo's, for
weights from chains with no video colour targets, see ``held_out_clips``; ``--max-frames N``: each
clip's first N frames) made grey (FFV1, lossless), run through `vidcolor run` defaults (temporal 0.8,
libx264 crf 18) and scored by `vidcolor eval` against the true colour. The grey bar is our own
output's luma shown as grey (the same libx264 rounding of the luma); the lossless grey's PSNR is
kept in the JSON as psnr_grey_lossless. ``--reference-first``: the archivist's case of a colour still: the
clip's first frame in true colour goes to `vidcolor run --reference` (vidcolor.reference); that frame
is then not scored, and without the flag the same frames are scored, so the two runs compare.
``--hint-first K``: K seeded random points of frame 0 with their true colour, the user who knows a few
colours of a shot: ``--hint-as points`` gives them as `--hint` to every frame after it (fixed points);
``--hint-as reference`` colours frame 0 with them (`vidcolor run still.png --hint ...`) and gives that
picture as `--reference` (the colours then follow the shot's motion); ``--hint-as tied`` does the same in
one run, ``--hint X,Y,COLOR@0`` on the whole clip, frame 0 then read but not scored.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidcolor.color import luma_ab_to_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.metrics import colorfulness, psnr
from vidcolor.models.checkpoint import load_generator
from vidcolor.train.data import is_greyscale, is_validation, list_images, read_rgb
from vidcolor.train.degrade import degrade
from vidcolor.train.hints import hint_points, random_points

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OLD_SETS = {"imagenet", "bsds500", "urban100", "sun_hays80", "kodak24", "mcmaster18"}
TRAINED_DAVIS = {"bmx-trees", "breakdance", "camel", "car-shadow", "drift-chicane", "kite-surf", "parkour"}


def split_photos(data: Path, split: str) -> dict[str, list[Path]]:
    """{"old": [...], "new": [...]} colour photos of the split (see the module docstring)."""
    files = list_images(sorted(p for p in (data / "photos").iterdir() if p.is_dir()))
    lo, hi = (0.0, 0.05) if split == "report" else (0.05, 0.10)
    chosen = [f for f in files if is_validation(f, hi) and not is_validation(f, lo)] if lo else [f for f in files if is_validation(f, hi)]
    chosen = [f for f in chosen if not is_greyscale(read_rgb(f, 64))]
    return {"old": [f for f in chosen if f.parent.name in OLD_SETS], "new": [f for f in chosen if f.parent.name not in OLD_SETS]}


def model_shape(h: int, w: int, short: int = 256) -> tuple[int, int]:
    s = short / min(h, w)
    return max(32, round(h * s / 32) * 32), max(32, round(w * s / 32) * 32)


@torch.no_grad()
def colourize(gen, luma_full: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
    """(1, 1, H, W) luma [0,1] (+ hints at model size) -> (1, 3, H, W) RGB: model at short side 256,
    chroma upsampled, merged with the full-resolution luma."""
    mh, mw = model_shape(*luma_full.shape[-2:])
    small = torch.nn.functional.interpolate(luma_full, size=(mh, mw), mode="area")
    ab = gen(small, 0, hints) if hints is not None else gen(small, 0)
    up = torch.nn.functional.interpolate(ab, size=luma_full.shape[-2:], mode="bilinear", align_corners=False)
    return luma_ab_to_rgb(luma_full, up)


def to_unit(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) -> (H, W, 3) float in [0,1], quantized to 8 bits as a saved picture is."""
    return (x[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round() / 255


def photo_hints(rgb: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` random true-colour points of (1, 3, H, W) RGB, at the model size: (1, 3, mh, mw)."""
    mh, mw = model_shape(*rgb.shape[-2:])
    small = torch.nn.functional.interpolate(rgb, size=(mh, mw), mode="area")
    ab = rgb_to_lab(small)[0, 1:]
    return hint_points(ab, random_points(np.random.default_rng(seed), mh, mw, count), patch=3)[None]


def score_photos(gen, files: list[Path], degraded: bool = False, hints: int = 0) -> dict[str, float]:
    rows: dict[str, list[float]] = {}
    for i, f in enumerate(files):
        rgb_u8 = read_rgb(f, 256)
        rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1)[None].float() / 255
        luma = rgb_to_luma(rgb)
        seen = luma
        if degraded:
            seen = torch.from_numpy(degrade(luma[0, 0].numpy(), np.random.default_rng([7, i])))[None, None]
        pred = colourize(gen, seen, photo_hints(rgb, hints, i) if hints else None)
        if degraded:  # judge the colour only: the clean luma with the predicted chroma
            pred = luma_ab_to_rgb(luma, rgb_to_lab(pred)[:, 1:])
        truth = rgb_u8 / 255.0
        values = {
            "psnr": psnr(to_unit(pred), truth), "psnr_grey": psnr(to_unit(luma.expand(-1, 3, -1, -1)), truth),
            "colorfulness": colorfulness(to_unit(pred)), "colorfulness_true": colorfulness(truth),
        }
        if hints:  # how far the hints reach: share of the picture whose a/b moved > 10 units from automatic
            auto = colourize(gen, seen)
            values["changed_share"] = float(((rgb_to_lab(pred) - rgb_to_lab(auto))[:, 1:].norm(dim=1) > 10).float().mean())
        for k, v in values.items():
            rows.setdefault(k, []).append(float(v))
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out["psnr_gain"] = out["psnr"] - out["psnr_grey"]
    out["psnr_gain_se"] = float(np.std(np.subtract(rows["psnr"], rows["psnr_grey"])) / np.sqrt(len(files)))
    return out | {"images": len(files)}


def load(weights: Path | None, vividness: float | None):
    gen = load_generator(weights, "natural")
    if vividness is not None:
        gen.set_vividness(vividness)
    return gen


def photos_main(args) -> dict:
    sets = split_photos(args.data, args.split)
    if args.limit:
        sets = {k: v[: args.limit] for k, v in sets.items()}
    results = {}
    print("| weights | vividness | set | photos | PSNR - grey (SE) | PSNR | grey | colourfulness | true | deltaCF |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for w in args.weights or [None]:
        for v in args.vividness or [None]:
            gen = load(w, v)
            shown = v if v is not None else (round(gen.vividness(), 2) if gen.config.ab_head == "bins" else "-")
            for name, files in sets.items():
                r = score_photos(gen, files, args.degraded, args.hints)
                results[f"{w}|{v}|{name}"] = r
                print(f"| {w.name if w else 'shipped'} | {shown} | {name} | {r['images']} | {r['psnr_gain']:+.2f} ({r['psnr_gain_se']:.2f}) | "
                      f"{r['psnr']:.2f} | {r['psnr_grey']:.2f} | {r['colorfulness']:.1f} | {r['colorfulness_true']:.1f} | "
                      f"{r['colorfulness'] - r['colorfulness_true']:+.1f} |" + (f" moved > 10 a/b: {r['changed_share']:.0%} |" if "changed_share" in r else ""), flush=True)
    return results


@torch.no_grad()
def recolour_scores(gen, rgb_u8: np.ndarray, seed: int) -> dict[str, float] | None:
    """One photo (H, W, 3) uint8, one recoloured region hinted (see the module docstring) -> fill,
    leak and PSNR gain over automatic at model resolution; None when no region fits."""
    from vidcolor.train.hints import recoloured_hints

    rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1)[None].float() / 255
    small = torch.nn.functional.interpolate(rgb, size=model_shape(*rgb.shape[-2:]), mode="area")
    luma, ab = rgb_to_luma(small), rgb_to_lab(small)[:, 1:]
    target, hints, _ = recoloured_hints(ab, luma, torch.zeros(1, 3, *ab.shape[-2:]), np.random.default_rng([11, seed]), 1.0, tries=20, context=False)
    region = (target - ab).norm(dim=1)[0] > 0
    if not region.any():
        return None
    auto, hinted = (rgb_to_lab(luma_ab_to_rgb(luma, gen(luma, 0, h)))[:, 1:] for h in (None, hints))  # the a/b a saved picture has
    truth = to_unit(luma_ab_to_rgb(luma, target))
    return {"fill": float(((hinted - target).norm(dim=1)[0][region] < 15).float().mean()),
            "fill_auto": float(((auto - target).norm(dim=1)[0][region] < 15).float().mean()),
            "leak": float(((hinted - auto).norm(dim=1)[0][~region] > 10).float().mean()) if (~region).any() else 0.0,
            "psnr_gain": psnr(to_unit(luma_ab_to_rgb(luma, hinted)), truth) - psnr(to_unit(luma_ab_to_rgb(luma, auto)), truth),
            "area": float(region.float().mean())}


def recolour_main(args) -> dict:
    sets = split_photos(args.data, args.split)
    if args.limit:
        sets = {k: v[: args.limit] for k, v in sets.items()}
    results = {}
    print("| weights | set | photos | fill (automatic) | leak | PSNR gain over automatic | region area |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for w in args.weights or [None]:
        gen = load(w, None)
        for name, files in sets.items():
            rows = [r for i, f in enumerate(files) if (r := recolour_scores(gen, read_rgb(f, 256), i)) is not None]
            r = {k: float(np.mean([row[k] for row in rows])) for k in rows[0]} | {"images": len(rows)}
            results[f"{w}|{name}"] = r
            print(f"| {w.name if w else 'shipped'} | {name} | {r['images']} | {r['fill']:.0%} ({r['fill_auto']:.0%}) | {r['leak']:.0%} | "
                  f"{r['psnr_gain']:+.2f} | {r['area']:.0%} |", flush=True)
    return results


# ------------------------------------------------------------------------------------------ video


def held_out_clips(data: Path, split: str = "report") -> dict[str, list[np.ndarray] | Path]:
    """name -> frames (DAVIS shots, RGB uint8) or a video path (videos_more), none trained on as colour.

    ``report``: the 7 DAVIS shots no recipe trains on and the videos_more clips of the 20 % hold-out.
    ``calibration``: the non-Vimeo videos_more clips with name hash in [20 %, 35 %), which the
    temporal loss sees (luma only) but no recipe takes colour from (train/natural_video.toml).
    ``wide``: every clip outside ``report`` but Vimeo's 7-frame ones: the 7 trained DAVIS shots and
    the 25 non-Vimeo videos_more clips with hash >= 20 %. Only for weights whose chain took no colour
    from video (v6 on: train/natural6_*.toml, natural7_*.toml see them through the temporal loss, in
    luma); v5's train/natural_video.toml took colour from 26 of them."""
    clips: dict = {}
    if split in ("report", "wide"):
        for seq in sorted((data / "video_frames" / "davis").iterdir()):
            if (seq.name in TRAINED_DAVIS) == (split == "wide"):
                clips[f"davis/{seq.name}"] = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in sorted(seq.glob("*.jpg"))]
    for clip in sorted((data / "videos_more").glob("*.mp4")):
        calibration = is_validation(clip, 0.35) and not is_validation(clip, 0.2) and "vimeo90k" not in clip.name
        wide = not is_validation(clip, 0.2) and "vimeo90k" not in clip.name
        if {"report": is_validation(clip, 0.2), "calibration": calibration, "wide": wide}[split]:
            clips[clip.stem] = clip
    return clips


def clip_frames(source) -> list[np.ndarray]:
    if not isinstance(source, Path):
        return source
    with av.open(str(source)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def write_pair(frames: list[np.ndarray], grey_path: Path, colour_path: Path, rate: int = 24) -> None:
    """The clip's grey version (FFV1 gray) and its true colour (FFV1 RGB), both lossless, even size."""
    h, w = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    for path, fmt in ((grey_path, "gray"), (colour_path, "bgr0")):
        with av.open(str(path), "w") as out:
            s = out.add_stream("ffv1", rate=rate)
            s.width, s.height, s.pix_fmt = w, h, fmt
            for rgb in frames:
                rgb = np.ascontiguousarray(rgb[:h, :w])
                if fmt == "gray":
                    y = np.clip(0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2] + 0.5, 0, 255).astype(np.uint8)
                    frame = av.VideoFrame.from_ndarray(y, format="gray")
                else:
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
                for p in s.encode(frame):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)


def grey_of_output_psnr(output: Path, reference: Path, skip: int = 0) -> float:
    """Mean PSNR against the reference of our output's own luma shown as grey: the grey bar at the
    same encoding (libx264 crf 18 rounds the luma too; a lossless grey bar would count that against us).
    The first ``skip`` frames are not scored."""
    from vidcolor.metrics import rgb_luma

    scores = []
    with av.open(str(output)) as a, av.open(str(reference)) as b:
        for fa, fb in itertools.islice(zip(a.decode(video=0), b.decode(video=0)), skip, None):
            y = np.clip(rgb_luma(fa.to_ndarray(format="rgb24")) + 0.5, 0, 255).astype(np.uint8)
            scores.append(psnr(np.repeat(y[..., None], 3, axis=2) / 255.0, fb.to_ndarray(format="rgb24") / 255.0))
    return float(np.mean(scores))


def paired_difference(a, b) -> tuple[float, float]:
    """Per-item scores of two models on the same items, (n,) each -> (mean of b - a, its standard error)."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def against(rows: dict[str, dict], base: dict[str, dict], key: str = "psnr_gain") -> tuple[float, float, int]:
    """Clip rows of this run and of a base run (``--json`` of another ``videos`` run) -> (mean of this
    minus base over the clips both scored, its paired standard error, how many clips)."""
    shared = sorted(rows.keys() & base.keys())
    if not shared:
        raise SystemExit("error: the base run scored none of these clips; run it on the same --split")
    return (*paired_difference([base[c][key] for c in shared], [rows[c][key] for c in shared]), len(shared))


def first_frame_hints(rgb: np.ndarray, count: int, seed: int) -> tuple:
    """``count`` seeded random points of a frame (H, W, 3) uint8 with their true colour (the 3x3 mean) as
    `--hint` values, away from the edges, the picture size made even as write_pair makes it."""
    from vidcolor.hints import Hint

    rng = np.random.default_rng(seed)
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    points = []
    for _ in range(count):
        y, x = int(rng.integers(4, h - 4)), int(rng.integers(4, w - 4))
        points.append(Hint(x, y, tuple(int(c) for c in rgb[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0).round())))
    return tuple(points)


def videos_main(args) -> dict:
    from vidcolor.image import run_image
    from vidcolor.metrics import evaluate_videos
    from vidcolor.options import RunOptions, TemporalOptions
    from vidcolor.pipeline import run_video

    w = (args.weights or [None])[0]
    rows = {}
    print("| clip | frames | PSNR - grey | colourfulness / true | colour warping error | s |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in list(held_out_clips(args.data, args.split).items())[: args.limit or None]:
            t0 = time.perf_counter()
            grey, colour, out = (Path(tmp) / f"{name.replace('/', '_')}.{k}.mkv" for k in ("grey", "colour", "out"))
            frames = clip_frames(source)[: args.max_frames or None]
            first = None
            if args.reference_first:  # the still: frame 0 in colour; the run and the scores cover the frames after it
                first = Path(tmp) / f"{name.replace('/', '_')}.reference.png"
                even = np.ascontiguousarray(frames[0][: frames[0].shape[0] // 2 * 2, : frames[0].shape[1] // 2 * 2])
                cv2.imwrite(str(first), cv2.cvtColor(even, cv2.COLOR_RGB2BGR))
            points = ()
            if args.hint_first:  # the user's case of a few known colours, picked on frame 0
                points = first_frame_hints(frames[0], args.hint_first, seed=len(rows))
                if args.hint_as == "tied":  # the same in one run: the points tied to frame 0 (--hint X,Y,COLOR@0)
                    points = tuple(dataclasses.replace(h, at=0.0) for h in points)
                elif args.hint_as == "reference":  # frame 0 coloured with them, then carried as its reference
                    first = Path(tmp) / f"{name.replace('/', '_')}.hinted.png"
                    still = Path(tmp) / f"{name.replace('/', '_')}.grey.png"
                    cv2.imwrite(str(still), cv2.cvtColor(np.ascontiguousarray(frames[0]), cv2.COLOR_RGB2GRAY))
                    run_image(RunOptions(input=still, output=first, weights=w, quiet=True, engine_dir=Path(tmp), hints=points))
                    points = ()
            skip = int(args.hint_as == "tied" and bool(args.hint_first))  # the film keeps frame 0; it is not scored
            if (args.reference_first or args.skip_first or args.hint_first) and not skip:
                frames = frames[1:]
            write_pair(frames, grey, colour)
            temporal = TemporalOptions() if args.temporal_strength is None else TemporalOptions(strength=args.temporal_strength)
            run_video(RunOptions(input=grey, output=out, weights=w, vividness=(args.vividness or [None])[0], quiet=True,
                                 engine_dir=Path(tmp), temporal=temporal, references=(first,) if first else (), hints=points))
            ours = evaluate_videos(out, source=grey, reference=colour, skip=skip)
            bar = grey_of_output_psnr(out, colour, skip)
            r = {"frames": ours["frames"], "psnr_gain": ours["psnr"] - bar, "psnr": ours["psnr"], "psnr_grey": bar,
                 "psnr_grey_lossless": evaluate_videos(grey, source=grey, reference=colour, skip=skip)["psnr"],
                 "colorfulness": ours["colorfulness"], "colorfulness_true": ours["reference_colorfulness"],
                 "color_warping_error": ours["color_warping_error"]}
            rows[name] = r
            print(f"| {name} | {r['frames']} | {r['psnr_gain']:+.2f} | {r['colorfulness']:.1f} / {r['colorfulness_true']:.1f} | "
                  f"{r['color_warping_error']:.5f} | {time.perf_counter() - t0:.0f} |", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("psnr_gain", "colorfulness", "colorfulness_true", "color_warping_error")}
    mean["colorfulness_ratio"] = float(np.mean([r["colorfulness"] / r["colorfulness_true"] for r in rows.values()]))
    print(f"| **mean of {len(rows)}** | | **{mean['psnr_gain']:+.2f}** | {mean['colorfulness']:.1f} / {mean['colorfulness_true']:.1f} "
          f"(ratio {mean['colorfulness_ratio']:.2f}) | {mean['color_warping_error']:.5f} | |")
    if args.against:
        d, se, n = against(rows, json.loads(args.against.read_text())["clips"])
        print(f"minus {args.against} on the same {n} clips, clip by clip: {d:+.2f} dB (paired SE {se:.2f})")
    return {"clips": rows, "mean": mean}


# ----------------------------------------------------------------------------------------- sheets


def film_stills(data: Path, per_film: int = 4) -> list[np.ndarray]:
    """Frames spread over every film in data/films (RGB uint8; the films are black and white)."""
    stills = []
    for film in sorted((data / "films").glob("*.mp4")):
        frames = clip_frames(film)
        stills += [frames[i] for i in np.linspace(len(frames) * 0.1, len(frames) * 0.9, per_film).astype(int)]
    return stills


def sheet(images: list[np.ndarray], gens: list, path: Path, height: int = 200) -> None:
    """One row per image: grey input | each generator's colour, merged as `vidcolor run` merges."""
    rows = []
    for rgb in images:
        s = height / rgb.shape[0]
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), height), interpolation=cv2.INTER_AREA)
        luma = rgb_to_luma(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
        tiles = [luma.expand(-1, 3, -1, -1)] + [colourize(g, luma) for g in gens]
        rows.append(np.concatenate([(to_unit(t) * 255).astype(np.uint8) for t in tiles], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


def old_material_colourfulness(gens, data: Path) -> dict[str, list[float]]:
    """Mean colourfulness each generator gives the 245 historic photographs and the film frames
    (no true colour exists: how sure of itself the model is on real old material, vs photos)."""
    historic = [read_rgb(f, 256) for f in sorted((data / "historic").glob("*.jpg"))]
    films = film_stills(data, per_film=12)
    out = {}
    for name, images in (("historic", historic), ("films", films)):
        rows = []
        for g in gens:
            cfs = [colorfulness(to_unit(colourize(g, rgb_to_luma(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)))) for rgb in images]
            rows.append(float(np.mean(cfs)))
        out[name] = rows
        print(f"{name} ({len(images)} pictures): colourfulness " + ", ".join(f"{v:.1f}" for v in rows))
    return out


def sheets_main(args) -> dict:
    gens = [load(w, None) for w in (args.weights or [None])]
    results = old_material_colourfulness(gens, args.data)
    sheet(film_stills(args.data), gens, args.out / "natural_films.jpg")
    historic = sorted((args.data / "historic").glob("*.jpg"))
    picks = np.random.default_rng(1).choice(len(historic), 8, replace=False)
    sheet([read_rgb(historic[i], 200) for i in sorted(picks)], gens, args.out / "natural_historic.jpg")
    report = split_photos(args.data, "report")
    rng = np.random.default_rng(2)
    photos = [read_rgb(f, 200) for name in ("old", "new") for f in rng.choice(report[name], 4, replace=False)]
    sheet(photos, gens, args.out / "natural_photos.jpg")
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["photos", "recolour", "videos", "sheets"])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--weights", type=Path, nargs="*", default=None)
    ap.add_argument("--vividness", type=float, nargs="*", default=None)
    ap.add_argument("--split", choices=["report", "calibration", "wide"], default="report")  # wide: videos only
    ap.add_argument("--temporal-strength", type=float, default=None)  # videos: the temporal step's strength (None: the default)
    ap.add_argument("--max-frames", type=int, default=0)  # videos: the first N frames of each clip (0: all)
    ap.add_argument("--degraded", action="store_true")
    ap.add_argument("--hints", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--against", type=Path, default=None)  # videos: another run's --json; prints the paired difference
    ap.add_argument("--reference-first", action="store_true")  # videos: frame 0 in colour as `vidcolor run --reference`
    ap.add_argument("--skip-first", action="store_true")  # videos: score the frames after the first (the automatic twin of the above)
    ap.add_argument("--hint-first", type=int, default=0)  # videos: K true-colour points picked on frame 0 (frames after it scored)
    ap.add_argument("--hint-as", choices=("points", "reference", "tied"), default="points")  # ... as --hint on every frame, or frame 0 coloured with them as --reference
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {"photos": photos_main, "recolour": recolour_main, "videos": videos_main, "sheets": sheets_main}[args.what](args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
