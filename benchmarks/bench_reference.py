"""What `vidcolor run --reference` costs end to end: the same 854x480 clip with and without a reference.

    python benchmarks/bench_reference.py [--frames 240] [--repeats 2]

The clip is the Winter Scenes sample scaled to 854x480 (bench_natural_speed.make_clip); its reference
is the automatic colour of its first frame (what a user who coloured frame 0 would give). Each run is
`vidcolor run` defaults in a fresh process, wall clock including start-up, the sides alternating
(ABCABC) so machine noise hits all; medians. Both default runs use ONNX Runtime (auto; with a
reference, the hint graph's export); the reference adds two DIS flows (medium) a frame. The third
side forces torch, the only backend that took hints before session 22.
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
from bench_natural_speed import make_clip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    clip = make_clip(tmp / "clip.mp4", args.frames)
    run = [sys.executable, "-m", "vidcolor", "run", str(clip), "-q", "--overwrite", "--engine-dir", str(tmp)]
    subprocess.run([*run, "-o", str(tmp / "auto.mp4")], check=True)  # untimed: caches the ONNX export
    with av.open(str(tmp / "auto.mp4")) as c:
        next(c.decode(video=0)).to_image().save(tmp / "reference.png")
    reference = ["--reference", str(tmp / "reference.png")]
    subprocess.run([*run, "-o", str(tmp / "ref.mp4"), *reference], check=True)  # untimed: the hint graph's export
    sides = {"automatic": [], "--reference": reference, "--reference --backend torch": [*reference, "--backend", "torch"]}
    fps: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(args.repeats):
        for name, extra in sides.items():
            start = time.perf_counter()
            subprocess.run([*run, "-o", str(tmp / "out.mp4"), *extra], check=True)
            fps[name].append(args.frames / (time.perf_counter() - start))
    for name, values in fps.items():
        print(f"{name}: median {statistics.median(values):.1f} frames/s ({', '.join(f'{v:.1f}' for v in values)})")
    for name in list(sides)[1:]:
        print(f"ratio {name} / automatic: {statistics.median(fps[name]) / statistics.median(fps['automatic']):.2f}")


if __name__ == "__main__":
    main()
