"""Segmented runs: one worker against --workers N and against Ray tasks on a local cluster.

    python benchmarks/bench_segments.py --frames 240 --target 40 --repeat 3 [--ray]

A synthetic clip (moving gradient, hard cut every ``--shot`` frames, AAC track) at 640x360 is
colourized with the shipped natural weights through the onnxruntime (or --backend) backend; each
mode runs ``--repeat`` times in a fresh work folder and the median wall time is reported, plus the
time of each phase that does not scale with workers: the scan (one decode of the whole input) and
the join (stream copy). Ray: a local cluster started in this process (ray.init, --ray-cpus).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_segments import shots_clip  # noqa: E402

from vidcolor.options import EncodeOptions, RunOptions, SegmentOptions  # noqa: E402
from vidcolor.pipeline import run_video, validate  # noqa: E402
from vidcolor.segments import plan_segments, scan  # noqa: E402
from vidcolor.video.writer import join_segments  # noqa: E402
from vidcolor.workdir import work_folders  # noqa: E402


def options(src: Path, out: Path, args, **changes) -> RunOptions:
    return RunOptions(
        input=src, output=out, backend=args.backend, device="cpu", quiet=True, overwrite=True,
        encode=EncodeOptions(preset="veryfast"), segments=SegmentOptions(target_frames=args.target), **changes,
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--shot", type=int, default=30, help="frames between hard cuts")
    parser.add_argument("--target", type=int, default=40, help="SegmentOptions.target_frames")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--ray", action="store_true", help="also run the segments as Ray tasks on a local cluster")
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        folder = Path(folder)
        shots = [args.shot] * (args.frames // args.shot)
        src = shots_clip(folder / "film.mp4", shots, width=640, height=360)
        out = folder / "out.mp4"
        report_fixed_costs(src, out, args)
        base = None
        for workers in args.workers:
            seconds = median_run(lambda: run_video(options(src, out, args, workers=workers)), args.repeat)
            base = base or seconds
            print(f"workers {workers}: {seconds:.2f} s median, {args.frames / seconds:.1f} frames/s, speed-up {base / seconds:.2f}x")
        if args.ray:
            import ray

            ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="ERROR")
            try:
                seconds = median_run(lambda: run_video(options(src, out, args, ray="auto")), args.repeat)
            finally:
                ray.shutdown()
            print(f"ray ({args.ray_cpus} CPUs, local): {seconds:.2f} s median, {args.frames / seconds:.1f} frames/s, speed-up {base / seconds:.2f}x")


def median_run(run, repeat: int) -> float:
    return statistics.median(timed(run) for _ in range(repeat))


def report_fixed_costs(src: Path, out: Path, args) -> None:
    """The scan and the join: done once by the driver, whatever the number of workers."""
    _, info, _ = validate(options(src, out, args))
    scan_s = timed(lambda: scan(info, 0.8))
    found = scan(info, 0.8)
    plan = plan_segments(found, SegmentOptions(target_frames=args.target), 21)
    run_video(options(src, out, args, keep_work=True))
    parts = sorted(work_folders(out)[0].glob("segment-*"))
    join_s = timed(lambda: join_segments(out, info, parts))
    print(f"{args.frames} frames 640x360, {len(plan)} segments; scan {scan_s:.2f} s ({args.frames / scan_s:.0f} frames/s), "
          f"join {join_s:.3f} s ({args.frames / join_s:.0f} frames/s)")
    for folder in work_folders(out):
        import shutil

        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
