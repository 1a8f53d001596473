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

``--old-code REV``: the old side is ``--old`` run by the vidcolor code at git revision REV (checked
out in a temporary worktree), the new side ``--new`` by this checkout: a code change (same weights)
timed the same way. Model-only rounds then run in a fresh process each (the code on its
PYTHONPATH), one round of 5 batches after one untimed batch, still alternating.

``--lite2``: also times, model only, the same bins-head generator with an EfficientNet-Lite2
encoder (random weights: speed does not depend on them), to see whether it fits the CPU budget.
"""
from __future__ import annotations

import argparse
import os
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


BATCH = np.random.default_rng(0).random((4, 1, 256, 448), dtype=np.float32)  # the model input timed


def round_fps(backend) -> float:
    """Frames/s of one timed round: 5 batches of 4 through an already warmed-up backend."""
    t0 = time.perf_counter()
    for _ in range(5):
        backend.infer(BATCH)
    return 20 / (time.perf_counter() - t0)


def natural_backend(weights: Path, engine_dir: Path):
    """The onnxruntime CPU backend `vidcolor run` uses at 256x448, batch 4, warmed up by one batch."""
    from vidcolor.backends import load_backend

    backend = load_backend("onnxruntime", "natural", 256, 448, 4, "cpu", weights=weights, engine_dir=engine_dir)
    backend.infer(BATCH)
    return backend


def model_fps(weights: list[Path], repeats: int, engine_dir: Path) -> list[list[float]]:
    """Frames/s per weights file, all loaded in this process, rounds alternating."""
    backends = [natural_backend(w, engine_dir) for w in weights]
    times: list[list[float]] = [[] for _ in weights]
    for _ in range(repeats):
        for i, b in enumerate(backends):
            times[i].append(round_fps(b))
    return times


def run_with(code: Path, args: list[str]) -> subprocess.CompletedProcess:
    """``python args`` with the vidcolor package of ``code`` (a checkout root) first on the path."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run([sys.executable, *args], cwd=code, env=env, check=True, capture_output=True, text=True)


def model_fps_by_code(sides: list[tuple[Path, Path]], repeats: int, engine_dir: Path) -> list[list[float]]:
    """[(code root, weights)] -> frames/s per side, each round in a fresh process, alternating."""
    me = str(Path(__file__).resolve())
    for code, w in sides:  # export once, untimed
        run_with(code, [me, "--time-round", str(w), "--engine-dir", str(engine_dir)])
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(repeats):
        for i, (code, w) in enumerate(sides):
            out = run_with(code, [me, "--time-round", str(w), "--engine-dir", str(engine_dir)]).stdout
            times[i].append(float(out.split()[-1]))
    return times


def e2e_fps(sides: list[tuple[Path, Path]], clip: Path, frames: int, repeats: int, engine_dir: Path) -> list[list[float]]:
    """[(code root, weights)] -> `vidcolor run` frames/s per side, wall clock of a fresh process."""
    out = clip.with_name("out.mp4")
    args = lambda w: ["-m", "vidcolor", "run", str(clip), "-o", str(out), "--overwrite", "-q", "--weights", str(w), "--engine-dir", str(engine_dir)]  # noqa: E731
    for code, w in sides:  # export once, untimed
        run_with(code, args(w))
    fps: list[list[float]] = [[] for _ in sides]
    for _ in range(repeats):
        for i, (code, w) in enumerate(sides):
            t0 = time.perf_counter()
            run_with(code, args(w))
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
    ap.add_argument("--old", type=Path)
    ap.add_argument("--new", type=Path, default=REPO / "vidcolor" / "weights" / "natural.safetensors")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--e2e-repeats", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1329)
    ap.add_argument("--lite2", action="store_true")
    ap.add_argument("--old-code", metavar="REV", help="run --old with the vidcolor code of this git revision")
    ap.add_argument("--time-round", type=Path, help=argparse.SUPPRESS)  # internal: one model-only round
    ap.add_argument("--engine-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.time_round:
        with natural_backend(args.time_round, args.engine_dir) as backend:
            print(f"{round_fps(backend):.3f}")
        return
    if args.old is None:
        ap.error("--old is required")
    weights = [args.old.resolve(), args.new.resolve()]
    if args.old_code and args.lite2:
        ap.error("--lite2 times weights with this checkout's code only: leave out --old-code")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_code = tmp / "old_code" if args.old_code else REPO
        if args.old_code:
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old_code), args.old_code], check=True, capture_output=True)
        try:
            measure(args, [(old_code, weights[0]), (REPO, weights[1])], tmp)
        finally:
            if args.old_code:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_code)], check=True)


def measure(args, sides: list[tuple[Path, Path]], tmp: Path) -> None:
    """Print the model-only and end-to-end tables for [(code root, weights)] old and new."""
    weights = [w for _, w in sides]
    probe = [lite2_weights(args.new, tmp / "lite2.safetensors")] if args.lite2 else []
    m = model_fps_by_code(sides, args.repeats, tmp) if args.old_code else model_fps(weights + probe, args.repeats, tmp)
    print(f"model only, onnxruntime CPU, 256x448 batch 4, {args.repeats} alternating repeats (median frames/s):")
    for w, v in zip(weights + probe, m):
        print(f"  {w}: {statistics.median(v):.1f}  {[round(x, 1) for x in v]}")
    print(f"  ratio new/old: {statistics.median(m[1]) / statistics.median(m[0]):.2f}")
    if args.e2e_repeats:
        clip = make_clip(tmp / "clip_854x480.mp4", args.frames)
        e = e2e_fps(sides, clip, args.frames, args.e2e_repeats, tmp)
        print(f"end to end, vidcolor run defaults, 854x480, {args.frames} frames, wall incl. start-up (frames/s):")
        for (code, w), v in zip(sides, e):
            print(f"  {w} ({'code ' + args.old_code if code != REPO else 'this checkout'}): {statistics.median(v):.1f}  {[round(x, 1) for x in v]}")
        print(f"  ratio new/old: {statistics.median(e[1]) / statistics.median(e[0]):.2f}")


if __name__ == "__main__":
    main()
