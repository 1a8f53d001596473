"""Temporal step: quality (flicker, colour, accuracy, drift) and cost, per-frame vs stabilized.

    python benchmarks/bench_temporal.py [--weights CKPT] [--data ../shared/data] [--json out.json]

Real clips converted to grey: the DAVIS sequences (true colour known) and the two black-and-white
films. The generator runs once per frame (natural style, onnxruntime on CPU, model height 256);
every temporal setting then stabilizes the same per-frame outputs. Frames are rendered the way
`vidcolor run` merges them (full-res luma + upsampled chroma) and scored at full resolution:

- warping error (Lai et al. 2018; flow + occlusion from the grey source, DIS medium);
- colourfulness (Hasler & Süsstrunk) and PSNR against the true colour (DAVIS only);
- drift: mean |a,b stabilized - a,b per-frame| (Lab units), first vs last 50 frames of a long shot;
- cost: milliseconds per frame of the temporal step at model resolution.

Without shipped weights or --weights it uses a randomly initialised generator (to develop the
script only: its numbers say nothing about a trained model).
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidcolor.backends import load_backend
from vidcolor.color import (
    luma_ab_to_rgb,
    model_size,
    rgb_to_ycbcr,
    to_model_input,
    ycbcr_to_rgb,
)
from vidcolor.flow import load_flow
from vidcolor.metrics import (
    METRIC_FLOW_PRESET,
    colorfulness,
    color_part,
    pair_warping_error,
    psnr,
    rgb_luma,
    srgb_to_lab,
    trusted_pixels,
)
from vidcolor.options import TemporalOptions
from vidcolor.temporal import TemporalStabilizer
from vidcolor.video.reader import LumaReader, probe

REPO = Path(__file__).resolve().parents[1]
MODEL_HEIGHT = 256


@dataclass
class Clip:
    name: str
    y: list[np.ndarray]  # full-res luma code values (H, W) uint8, BT.709 full range for DAVIS
    full_range: bool
    truth: list[np.ndarray] | None  # (H, W, 3) uint8 true colour, DAVIS only
    outputs: list[np.ndarray] | None = None  # per-frame a/b at model size made elsewhere (not by our model)


def trained_shots() -> set[str]:
    """DAVIS shots the natural recipes train the temporal loss on: never benchmarked."""
    from vidcolor.train.recipe import load_recipe

    return {p.name for p in load_recipe(REPO / "train" / "natural_refine.toml").data.video_frames}


def davis_clips(root: Path, names: list[str] | None) -> list[Clip]:
    """The named DAVIS shots, or every shot training did not see."""
    clips = []
    skip = trained_shots()
    for folder in sorted(p for p in (root / "video_frames" / "davis").iterdir() if p.is_dir()):
        if (names and folder.name not in names) or (not names and folder.name in skip):
            continue
        truth = [cv2.imread(str(p))[..., ::-1].copy() for p in sorted(folder.glob("*.jpg"))]
        y = [to_luma_code(rgb) for rgb in truth]
        clips.append(Clip(f"davis/{folder.name}", y, True, truth))
    return clips


def to_luma_code(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W) uint8 full-range BT.709 luma: the grey version of a colour frame."""
    return np.clip(rgb_luma(rgb) + 0.5, 0, 255).astype(np.uint8)


def film_clip(path: Path) -> Clip:
    info = probe(path)
    with LumaReader(info) as reader:
        y = [frame.y for frame in reader]
    return Clip(f"films/{path.stem}", y, info.full_range, None)


def goat_clip(data: Path) -> Clip:
    """A REAL per-frame colourization (flicker/goat_processed.mp4, from the deep-video-prior demo)
    of flicker/goat_input.mp4, with DAVIS goat as the true colour: the temporal step on another
    colourizer's flicker, independent of how far our own model's training has got."""
    def decode(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    grey = decode(data / "flicker" / "goat_input.mp4")
    processed = decode(data / "flicker" / "goat_processed.mp4")
    height, width = grey[0].shape[:2]
    truth = [cv2.resize(cv2.imread(str(p))[..., ::-1], (width, height), interpolation=cv2.INTER_LINEAR)
             for p in sorted((data / "video_frames" / "davis" / "goat").glob("*.jpg"))]
    h, w = model_size(height, width, MODEL_HEIGHT)
    outputs = [cv2.resize(srgb_to_lab(p.astype(np.float32) / 255), (w, h), interpolation=cv2.INTER_AREA)[..., 1:].transpose(2, 0, 1).copy()
               for p in processed]
    return Clip("goat_processed (other colourizer)", [to_luma_code(g) for g in grey], True, truth, outputs)


def per_frame_outputs(backend, lumas: list[np.ndarray], batch: int) -> list[np.ndarray]:
    """Model outputs (C, h, w) for model-res lumas (h, w), one frame at a time in spirit, batched."""
    out = []
    for i in range(0, len(lumas), batch):
        x = np.stack(lumas[i:i + batch])[:, None]
        out.extend(backend.infer(x))
    return out


def render_natural(y: np.ndarray, full_range: bool, model_luma: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Full-res (H, W, 3) float32 RGB [0, 1] as `vidcolor run` builds it: the source luma plus
    chroma computed at model resolution and upsampled (4:4:4 here; the encoder's 4:2:0 aside)."""
    height, width = y.shape
    rgb_small = luma_ab_to_rgb(torch.from_numpy(model_luma)[None], torch.from_numpy(ab))
    cbcr = rgb_to_ycbcr(rgb_small)[1:].numpy().transpose(1, 2, 0)
    cbcr = cv2.resize(cbcr, (width, height), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    luma = y.astype(np.float32) / 255.0 if full_range else np.clip((y.astype(np.float32) - 16) / 219, 0, 1)
    ycc = torch.from_numpy(np.concatenate([luma[None], cbcr]))
    return ycbcr_to_rgb(ycc).clamp(0, 1).permute(1, 2, 0).numpy()


def stabilize(outputs: list[np.ndarray], lumas: list[np.ndarray], options: TemporalOptions | None):
    """(stabilized outputs, median ms per frame of the temporal step, scene cuts seen)."""
    if options is None:
        return outputs, 0.0, 0
    stab = TemporalStabilizer(options)
    result, times = [], []
    for luma, out in zip(lumas, outputs):
        start = time.perf_counter()
        result.append(stab(luma, out))
        times.append(time.perf_counter() - start)
    return result, 1000 * float(np.median(times)), stab.cuts


def score(clip: Clip, model_lumas, outputs, pairs) -> dict[str, float]:
    """Warping error, colourfulness and (with truth) PSNR of the rendered frames."""
    rendered = [render_natural(y, clip.full_range, m, ab) for y, m, ab in zip(clip.y, model_lumas, outputs)]
    errors = [pair_warping_error(rendered[t - 1], rendered[t], bwd, ok) for t, (bwd, ok) in pairs.items()]
    colours = [color_part(r) for r in rendered]
    colour_errors = [pair_warping_error(colours[t - 1], colours[t], bwd, ok) for t, (bwd, ok) in pairs.items()]
    result = {
        "warping_error": float(np.mean(errors)), "color_warping_error": float(np.mean(colour_errors)),
        "colorfulness": float(np.mean([colorfulness(r) for r in rendered])),
    }
    if clip.truth is not None:
        result["psnr"] = float(np.mean([psnr(r, t.astype(np.float32) / 255) for r, t in zip(rendered, clip.truth)]))
    return result


def source_pairs(clip: Clip) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Frame t -> (backward flow, trusted pixels) from the grey source, computed once per clip."""
    flow = load_flow(METRIC_FLOW_PRESET)
    lumas = [y.astype(np.float32) / 255 for y in clip.y]
    pairs = {}
    for t in range(1, len(lumas)):
        bwd, ok = trusted_pixels(lumas[t - 1], lumas[t], flow)
        if ok.any():
            pairs[t] = (bwd, ok)
    return pairs


def drift(per_frame: list[np.ndarray], stabilized: list[np.ndarray]) -> tuple[float, float, float]:
    """Mean |stabilized - per-frame| (model units) over the first 50, the last 50 and all frames."""
    gaps = [float(np.abs(s - p).mean()) for s, p in zip(stabilized, per_frame)]
    return float(np.mean(gaps[:50])), float(np.mean(gaps[-50:])), float(np.mean(gaps))


def write_strip(clip: Clip, model_lumas, per_frame, stabilized, start: int, count: int, path: Path) -> None:
    """Rows: per-frame, temporal, true colour (if known); `count` consecutive frames from `start`."""
    rows = []
    for outs in (per_frame, stabilized):
        rows.append([render_natural(clip.y[t], clip.full_range, model_lumas[t], outs[t]) for t in range(start, start + count)])
    if clip.truth is not None:
        rows.append([clip.truth[t].astype(np.float32) / 255 for t in range(start, start + count)])
    scale = 0.5
    tiles = [[cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for img in row] for row in rows]
    pad = 4
    h, w = tiles[0][0].shape[:2]
    sheet = np.ones((len(tiles) * (h + pad) + pad, count * (w + pad) + pad, 3), np.float32)
    for r, row in enumerate(tiles):
        for c, img in enumerate(row):
            sheet[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    sheet = np.ascontiguousarray((sheet[..., ::-1] * 255 + 0.5).astype(np.uint8))
    for r, label in enumerate(["per-frame", "temporal", "true colour"][: len(tiles)]):
        origin = (pad + 6, pad + r * (h + pad) + 18)
        cv2.putText(sheet, label, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(sheet, label, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet)


def weights_path(arg: Path | None, tmp: Path) -> tuple[Path | None, str]:
    """The checkpoint to use and a line saying what it is."""
    from vidcolor.models.checkpoint import (
        read_checkpoint,
        save_generator,
        shipped_styles,
        shipped_weights,
    )
    from vidcolor.models.generator import GeneratorConfig, build_generator

    if arg is None and "natural" in shipped_styles():
        arg = shipped_weights("natural")
    if arg is not None:  # a private copy: training may overwrite the file while this runs
        copy = Path(shutil.copy(arg, tmp / "weights.safetensors"))
        meta = read_checkpoint(copy)[1]
        step = f", interim export at step {meta['interim_step']}" if "interim_step" in meta else ""
        return copy, f"{arg} (sha256 {meta['sha256'][:12]}{step})"
    gen = build_generator(GeneratorConfig(pretrained=False), seed=0)
    return save_generator(tmp / "random.safetensors", gen), "RANDOMLY INITIALISED generator (script development only)"


def setting_name(options: TemporalOptions) -> str:
    detail = f" detail={options.detail_sigma_px:g}" if options.detail_sigma_px else ""
    return f"s={options.strength:g} {options.flow_preset}{detail}"


def settings(strengths: list[float], presets: list[str], details: list[float]) -> dict[str, TemporalOptions | None]:
    """per-frame, then the default options varied one field at a time."""
    base = TemporalOptions()
    variants = [replace(base, strength=s) for s in strengths]
    variants += [replace(base, flow_preset=p) for p in presets]
    variants += [replace(base, detail_sigma_px=d) for d in details]
    out: dict[str, TemporalOptions | None] = {"per-frame": None}
    for options in variants:
        out.setdefault(setting_name(options), options)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--davis", nargs="*", default=None, help="DAVIS sequence names (default: all)")
    parser.add_argument("--no-films", action="store_true")
    parser.add_argument("--strengths", type=float, nargs="*", default=[0.6, 0.8, 0.9])
    parser.add_argument("--presets", nargs="*", default=["ultrafast", "fast"])
    parser.add_argument("--details", type=float, nargs="*", default=[0.0, 2.0], help="detail_sigma_px values")
    parser.add_argument("--strip", type=Path, default=REPO / "docs" / "img" / "temporal_strip.png")
    parser.add_argument("--strip-clip", default="davis/cows")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--e2e-repeats", type=int, default=3, help="end-to-end 480p runs per setting (0: skip)")
    parser.add_argument("--style-check", default=None, help="only score this stylizing style at model size")
    parser.add_argument("--from-json", type=Path, default=None, help="only print the tables of an earlier --json")
    args = parser.parse_args()
    if args.style_check:
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as tmp:
            style_check(args.data, args.style_check, args.davis or ["dog", "kite-surf", "motocross-jump"], Path(tmp))
        return
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        labels = next(v for k, v in results.items() if not k.startswith("_"))
        print_table(results, [k for k in labels if k != "grey floor"])
        return
    torch.set_num_threads(1)  # more threads on this shared 2-core machine made the colour maths 30x slower

    clips = [goat_clip(args.data)] + davis_clips(args.data, args.davis)
    if not args.no_films:
        clips += [film_clip(p) for p in sorted((args.data / "films").glob("*.mp4"))]
    configs = settings(args.strengths, args.presets, args.details)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights, weights_line = weights_path(args.weights, Path(tmp))
        print(f"model: {weights_line}")
        for clip in clips:
            h, w = model_size(*clip.y[0].shape, MODEL_HEIGHT)
            model_lumas = [to_model_input(y, (h, w), 8, clip.full_range) for y in clip.y]
            per_frame = clip.outputs
            if per_frame is None:
                with load_backend("onnxruntime", "natural", h, w, 4, "cpu", weights=weights, engine_dir=Path(tmp)) as backend:
                    per_frame = per_frame_outputs(backend, model_lumas, 4)
            pairs = source_pairs(clip)
            grey = [np.zeros_like(out) for out in per_frame]  # the source itself: flicker floor of the flow
            results[clip.name] = {"grey floor": score(clip, model_lumas, grey, pairs)}
            for name, options in configs.items():
                stabilized, ms, cuts = stabilize(per_frame, model_lumas, options)
                row = score(clip, model_lumas, stabilized, pairs) | {"temporal_ms": ms, "cuts": cuts}
                row["drift_first50"], row["drift_last50"], row["drift_mean"] = drift(per_frame, stabilized)
                results[clip.name][name] = row
                if clip.name == args.strip_clip and name == setting_name(TemporalOptions()):
                    write_strip(clip, model_lumas, per_frame, stabilized, 20, 5, args.strip)
            print(clip.name, len(clip.y), "frames", {k: round(v["warping_error"] * 1e3, 3) for k, v in results[clip.name].items()}, flush=True)
        results["_long_shot"] = long_shot(args.data, weights, Path(tmp))
        if args.e2e_repeats:
            results["_end_to_end_480p"] = end_to_end(args.data, weights, Path(tmp), args.e2e_repeats)
            print("end to end 480p:", results["_end_to_end_480p"], flush=True)
    results["_machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "model": weights_line}
    print_table(results, configs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def long_shot(data: Path, weights: Path | None, tmp: Path) -> dict[str, dict]:
    """Drift over a long shot: DAVIS cows played forward, back, forward, back (~410 frames)."""
    clip = davis_clips(data, ["cows"])[0]
    frames = clip.y + clip.y[-2::-1] + clip.y[1:] + clip.y[-2::-1]
    h, w = model_size(*frames[0].shape, MODEL_HEIGHT)
    model_lumas = [to_model_input(y, (h, w), 8, True) for y in frames]
    with load_backend("onnxruntime", "natural", h, w, 4, "cpu", weights=weights, engine_dir=tmp) as backend:
        per_frame = per_frame_outputs(backend, model_lumas, 4)
    out = {"frames": len(frames), "per_frame_mean_abs_ab": float(np.mean([np.abs(p).mean() for p in per_frame]))}
    base = TemporalOptions()
    for options in (base, replace(base, strength=0.9), replace(base, detail_sigma_px=0.0 if base.detail_sigma_px else 2.0)):
        stabilized, _, cuts = stabilize(per_frame, model_lumas, options)
        first, last, mean = drift(per_frame, stabilized)
        out[setting_name(options)] = {"drift_first50": first, "drift_last50": last, "drift_mean": mean, "cuts": cuts}
    return out


def end_to_end(data: Path, weights: Path | None, tmp: Path, repeats: int) -> dict[str, float]:
    """`run_video` on a 480p clip (flicker/goat_input.mp4, 854x480, 90 frames) with and without the
    temporal step, alternating, one loaded backend for all runs. Median wall seconds of the
    decode/model/temporal/merge/encode loop, and median CPU seconds of the process (all threads):
    the CPU figure is the steadier one on a machine shared with other jobs."""
    from vidcolor.options import RunOptions
    from vidcolor.pipeline import run_video

    source = data / "flicker" / "goat_input.mp4"
    h, w = model_size(480, 854, MODEL_HEIGHT)
    wall: dict[str, list[float]] = {"per-frame": [], "temporal": []}
    cpu: dict[str, list[float]] = {"per-frame": [], "temporal": []}
    with load_backend("onnxruntime", "natural", h, w, 4, "cpu", weights=weights, engine_dir=tmp) as backend:
        for i in range(repeats):
            for label, temporal in (("per-frame", None), ("temporal", TemporalOptions())):
                options = RunOptions(input=source, output=tmp / f"e2e_{label}_{i}.mp4", backend="onnxruntime", device="cpu",
                                     batch=4, temporal=temporal, weights=weights, engine_dir=tmp, quiet=True)
                start = time.process_time()
                wall[label].append(run_video(options, backend=backend).seconds)
                cpu[label].append(time.process_time() - start)
    med = {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in wall}
    return {"per_frame_wall_s": med["per-frame"][0], "temporal_wall_s": med["temporal"][0],
            "added_wall_percent": 100 * (med["temporal"][0] / med["per-frame"][0] - 1),
            "per_frame_cpu_s": med["per-frame"][1], "temporal_cpu_s": med["temporal"][1],
            "added_cpu_percent": 100 * (med["temporal"][1] / med["per-frame"][1] - 1),
            "runs": repeats, "frames": 90}


def style_check(data: Path, style: str, names: list[str], tmp: Path) -> None:
    """A stylizing style (RGB output), scored at model resolution only: WE on the model's RGB with
    flow from its input luma, and colourfulness, per-frame vs a few temporal settings."""
    from vidcolor.metrics import WarpingError

    variants = {"per-frame": None, "default": TemporalOptions(), "detail=2": TemporalOptions(detail_sigma_px=2.0),
                "s=0.6": TemporalOptions(strength=0.6)}
    print(f"\n{style} at model resolution: WE x1e3 / colourfulness")
    for clip in davis_clips(data, names):
        h, w = model_size(*clip.y[0].shape, MODEL_HEIGHT)
        lumas = [to_model_input(y, (h, w), 8, clip.full_range) for y in clip.y]
        with load_backend("onnxruntime", style, h, w, 1, "cpu", engine_dir=tmp) as backend:
            per_frame = per_frame_outputs(backend, lumas, 1)
        row = []
        for name, options in variants.items():
            outputs, _, _ = stabilize(per_frame, lumas, options)
            metric = WarpingError()
            for out, luma in zip(outputs, lumas, strict=True):
                metric.update(out.transpose(1, 2, 0), luma)
            col = np.mean([colorfulness(out.transpose(1, 2, 0)) for out in outputs])
            row.append(f"{name} {metric.value() * 1e3:.2f} / {col:.1f}")
        print(clip.name, " | ".join(row), flush=True)


def print_table(results: dict, configs: dict) -> None:
    clips = [k for k in results if not k.startswith("_")]
    ours = [c for c in clips if not c.startswith("goat_processed")]
    for title, group in (("our model, all clips", ours), ("another colourizer's per-frame output (goat_processed)", [c for c in clips if c not in ours])):
        if group:
            print(f"\n{title}: {len(group)} clip(s)")
            print_group(results, configs, group)
    print("\nper clip, default setting:")
    default = setting_name(TemporalOptions())
    print("| clip | WE floor | WE per-frame | WE temporal | excess ratio | colour WE pf -> t (ratio) | colourfulness pf -> t | PSNR pf -> t | cuts |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in clips:
        f, p, t = (results[c][k] for k in ("grey floor", "per-frame", default))
        ps = f"{p['psnr']:.2f} -> {t['psnr']:.2f}" if "psnr" in p else "-"
        print(f"| {c} | {f['warping_error'] * 1e3:.3f} | {p['warping_error'] * 1e3:.3f} | {t['warping_error'] * 1e3:.3f} | "
              f"{excess(results[c], default):.2f} | {p['color_warping_error'] * 1e3:.3f} -> {t['color_warping_error'] * 1e3:.3f} "
              f"({t['color_warping_error'] / max(p['color_warping_error'], 1e-12):.2f}) | "
              f"{p['colorfulness']:.1f} -> {t['colorfulness']:.1f} | {ps} | {t['cuts']} |")
    print("\nlong shot:", json.dumps(results["_long_shot"]))
    if "_end_to_end_480p" in results:
        print("end to end 480p:", json.dumps(results["_end_to_end_480p"]))


def excess(clip_results: dict, label: str) -> float:
    """(WE - floor) / (WE per-frame - floor): the share of the per-frame flicker that is left."""
    floor = clip_results["grey floor"]["warping_error"]
    return (clip_results[label]["warping_error"] - floor) / max(clip_results["per-frame"]["warping_error"] - floor, 1e-12)


def print_group(results: dict, configs: dict, clips: list[str]) -> None:
    print("| setting | WE x1e3 | WE / per-frame | excess over grey floor / per-frame's | colour WE / per-frame (max) | colourfulness / per-frame (min) | PSNR - per-frame, dB (worst) | drift (ab) | temporal ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label in configs:
        rows = [results[c][label] for c in clips]
        base = [results[c]["per-frame"] for c in clips]
        we = np.mean([r["warping_error"] for r in rows])
        ratio = np.mean([r["warping_error"] / b["warping_error"] for r, b in zip(rows, base)])
        left = np.mean([excess(results[c], label) for c in clips])
        col = [r["colorfulness"] / max(b["colorfulness"], 1e-6) for r, b in zip(rows, base)]
        cwe = [r["color_warping_error"] / max(b["color_warping_error"], 1e-12) for r, b in zip(rows, base)]
        dpsnr = [r["psnr"] - b["psnr"] for r, b in zip(rows, base) if "psnr" in r]
        ps = f"{np.mean(dpsnr):+.2f} ({min(dpsnr):+.2f})" if dpsnr else "-"
        drift_ab = np.mean([r["drift_mean"] for r in rows])
        ms = np.median([r["temporal_ms"] for r in rows])
        print(f"| {label} | {we * 1e3:.3f} | {ratio:.2f} | {left:.2f} | {np.mean(cwe):.2f} ({max(cwe):.2f}) | {np.mean(col):.3f} ({min(col):.3f}) | {ps} | {drift_ab:.2f} | {ms:.1f} |")
    floor = np.mean([results[c]["grey floor"]["warping_error"] for c in clips])
    print(f"| grey source (floor) | {floor * 1e3:.3f} | | | | | | | |")


if __name__ == "__main__":
    main()
