"""CPU speed of two natural generators side by side: model only, and `vidcolor run` end to end.

    python benchmarks/bench_natural_speed.py --old runs/natural_refine/stage2.safetensors [--new W]
                                             [--repeats 7] [--e2e-repeats 2] [--frames 1329]

Model only: onnxruntime on the CPU (the default backend here), model input 256x448 (what 16:9
film at --model-height 256 gives), batch 4 (the run default); the two models are timed in
alternation (ABAB...) so machine noise hits both alike; median frames/s and the ratio.

End to end: a 854x480 clip of ``--frames`` frames (the Winter Scenes sample scaled to 854x480 and
looped, libx264 crf 18) through `vidcolor run` defaults in a fresh process, wall clock from
process start to exit (start-up included; the ONNX export is cached by one untimed run first),
again alternating the two weights. Pause any training while this runs.

``--lite2``: also times, model only, the same bins-head generator with an EfficientNet-Lite2
encoder (random weights: speed does not depend on them), to see whether it fits the CPU budget.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "Winter_Scenes_in_Holland.mp4"


def make_clip(path: Path, frames: int, size: tuple[int, int] = (854, 480)) -> Path:
    """The sample film scaled to ``size`` (w, h) and looped to ``frames`` frames at its own rate."""
    with av.open(str(SAMPLE)) as c:
        rate = c.streams.video[0].average_rate
        src = [f.reformat(width=size[0], height=size[1], format="yuv420p") for f in c.decode(video=0)]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt, s.options = size[0], size[1], "yuv420p", {"crf": "18", "preset": "fast"}
        for i in range(frames):
            f = src[i % len(src)]
            frame = av.VideoFrame.from_ndarray(f.to_ndarray(), format="yuv420p")
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def model_fps(weights: list[Path], repeats: int, engine_dir: Path) -> list[list[float]]:
    from vidcolor.backends import load_backend

    backends = [load_backend("onnxruntime", "natural", 256, 448, 4, "cpu", weights=w, engine_dir=engine_dir) for w in weights]
    x = np.random.default_rng(0).random((4, 1, 256, 448), dtype=np.float32)
    for b in backends:
        b.infer(x)
    times: list[list[float]] = [[] for _ in weights]
    for _ in range(repeats):
        for i, b in enumerate(backends):
            t0 = time.perf_counter()
            for _ in range(5):
                b.infer(x)
            times[i].append(20 / (time.perf_counter() - t0))
    return times


def e2e_fps(weights: list[Path], clip: Path, frames: int, repeats: int, engine_dir: Path) -> list[list[float]]:
    out = clip.with_name("out.mp4")
    cmd = lambda w: [sys.executable, "-m", "vidcolor", "run", str(clip), "-o", str(out), "--overwrite", "-q", "--weights", str(w), "--engine-dir", str(engine_dir)]  # noqa: E731
    for w in weights:  # export once, untimed
        subprocess.run(cmd(w), check=True)
    fps: list[list[float]] = [[] for _ in weights]
    for _ in range(repeats):
        for i, w in enumerate(weights):
            t0 = time.perf_counter()
            subprocess.run(cmd(w), check=True)
            fps[i].append(frames / (time.perf_counter() - t0))
    return fps


def lite2_weights(like: Path, path: Path) -> Path:
    """A random-init generator with ``like``'s config but an EfficientNet-Lite2 encoder, saved to ``path``."""
    from dataclasses import replace

    from vidcolor.models.checkpoint import load_generator, save_generator
    from vidcolor.models.generator import build_generator

    config = replace(load_generator(like, "natural").config, encoder="lite2")
    return save_generator(path, build_generator(config, seed=0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, default=REPO / "vidcolor" / "weights" / "natural.safetensors")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--e2e-repeats", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1329)
    ap.add_argument("--lite2", action="store_true")
    args = ap.parse_args()
    weights = [args.old, args.new]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe = [lite2_weights(args.new, tmp / "lite2.safetensors")] if args.lite2 else []
        m = model_fps(weights + probe, args.repeats, tmp)
        print(f"model only, onnxruntime CPU, 256x448 batch 4, {args.repeats} alternating repeats (median frames/s):")
        for w, v in zip(weights + probe, m):
            print(f"  {w}: {statistics.median(v):.1f}  {[round(x, 1) for x in v]}")
        print(f"  ratio new/old: {statistics.median(m[1]) / statistics.median(m[0]):.2f}")
        if args.e2e_repeats:
            clip = make_clip(tmp / "clip_854x480.mp4", args.frames)
            e = e2e_fps(weights, clip, args.frames, args.e2e_repeats, tmp)
            print(f"end to end, vidcolor run defaults, 854x480, {args.frames} frames, wall incl. start-up (frames/s):")
            for w, v in zip(weights, e):
                print(f"  {w}: {statistics.median(v):.1f}  {[round(x, 1) for x in v]}")


if __name__ == "__main__":
    main()
