"""Speed and memory of `vidcolor run`, stage by stage, on one clip.

    python benchmarks/bench_pipeline.py [CLIP] [--height 480] [--loop N] [--backend auto] [--weights PATH] [--repeat 3]

Stages, each timed alone in a fresh process (so its peak RSS is its own):
  decode  PyAV decode + luma plane extraction (the reader thread), frames/s
  model   to_model_input + backend.infer at the model size, frames/s
  merge   natural merge: model colour -> full-resolution Cb/Cr planes, frames/s
  encode  VideoWriter (libx264 --preset medium --crf 18 unless told), frames/s
  plumbing  run_video with a model that returns zeros: everything but the network, frames/s
  run     run_video end to end (temporal smoothing on), frames/s

`--height` first rescales the clip (PyAV, libx264 crf 12) to that height so the resolution is
what is measured; `--loop N` plays it N times in a row (peak memory must not grow with N). Without shipped weights or --weights, the model and run stages are skipped (plumbing still runs:
natural style, the real temporal step and merge, a do-nothing network).
Prints a Markdown table; medians over --repeat runs. CPU ms/frame is the process's CPU time over
all its threads per frame: unlike frames/s it hardly depends on what else the machine runs, and
on an idle machine with C cores the loop cannot beat about C x 1000 / (CPU ms/frame) frames/s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "samples" / "a-bomb_blast_effects_part.mp4"
STAGES = ("decode", "model", "merge", "encode", "plumbing", "run")


# ---------------------------------------------------------------- stages (run in a child process)


def now() -> tuple[float, float]:
    """(wall clock, CPU time of every thread of this process), seconds."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


def decoded_frames(clip: Path):
    from vidcolor.video.reader import LumaReader, probe

    info = probe(clip)
    with LumaReader(info) as reader:
        return info, list(reader)


def stage_decode(args) -> tuple[int, tuple[float, float]]:
    from vidcolor.video.reader import LumaReader, probe

    start = now()
    info = probe(args.clip)
    with LumaReader(info) as reader:
        frames = sum(1 for _ in reader)
    return frames, since(start)


def load(args, info):
    from vidcolor.backends import load_backend
    from vidcolor.color import model_size

    size = model_size(info.height, info.width, args.model_height)
    return size, load_backend(args.backend, args.style, size[0], size[1], args.batch, "auto", args.weights)


def stage_model(args) -> tuple[int, tuple[float, float]]:
    from vidcolor.color import to_model_input
    from vidcolor.pipeline import batched

    info, frames = decoded_frames(args.clip)
    size, backend = load(args, info)
    with backend:
        backend.infer(np.zeros((args.batch, 1, *size), np.float32))  # warm-up: engine build, allocations
        start = now()
        for batch in batched(frames, args.batch):
            backend.infer(np.stack([to_model_input(f.y, size, info.bit_depth, info.full_range) for f in batch])[:, None])
    return len(frames), since(start)


def stage_merge(args) -> tuple[int, tuple[float, float]]:
    from vidcolor.color import model_size, to_model_input
    from vidcolor.options import EncodeOptions
    from vidcolor.backends.base import default_threads
    from vidcolor.pipeline import merge_natural, torch_threads
    from vidcolor.video.writer import plan_output

    info, frames = decoded_frames(args.clip)
    fmt = plan_output(info, EncodeOptions(), Path("x.mp4"))
    size = model_size(info.height, info.width, args.model_height)
    ab = np.random.default_rng(0).uniform(-40, 40, (2, *size)).astype(np.float32)
    with torch_threads(default_threads()):  # as run_video does
        start = now()
        for f in frames:
            merge_natural(f.y, to_model_input(f.y, size, info.bit_depth, info.full_range), ab, fmt, info.bit_depth)
        return len(frames), since(start)


def stage_encode(args) -> tuple[int, tuple[float, float]]:
    from vidcolor.options import EncodeOptions
    from vidcolor.video.writer import VideoWriter, plan_output

    info, frames = decoded_frames(args.clip)
    encode = EncodeOptions(preset=args.preset, crf=args.crf)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.mp4"
        fmt = plan_output(info, encode, out)
        cb = np.full(fmt.chroma_size, 120, np.uint8 if fmt.bit_depth == 8 else np.uint16)
        start = now()
        with VideoWriter(out, info, fmt, encode) as writer:
            for f in frames:
                writer.write(f.y, cb, cb, f.pts)
        return len(frames), since(start)


class ZeroModel:
    """Stands in for the network in the plumbing stage: grey output, no compute."""

    name = "zero"

    def infer(self, luma: np.ndarray) -> np.ndarray:
        return np.zeros((luma.shape[0], 2, *luma.shape[2:]), np.float32)


def stage_run(args, backend=None) -> tuple[int, tuple[float, float]]:
    from vidcolor.options import EncodeOptions, RunOptions
    from vidcolor.pipeline import run_video

    with tempfile.TemporaryDirectory() as folder:
        options = RunOptions(
            input=args.clip, output=Path(folder) / "out.mp4", style=args.style, backend=args.backend,
            model_height=args.model_height, batch=args.batch, quiet=True, weights=args.weights,
            encode=EncodeOptions(preset=args.preset, crf=args.crf),
        )
        cpu = time.process_time()
        summary = run_video(options, backend=backend)
        return summary.frames, (summary.seconds, time.process_time() - cpu)  # CPU includes set-up


def stage_plumbing(args) -> tuple[int, tuple[float, float]]:
    return stage_run(args, backend=ZeroModel())


# ---------------------------------------------------------------- parent: orchestration and table


def measure(stage: str, args) -> dict:
    """Run one stage in a fresh interpreter; frames, seconds and that process's peak RSS (MiB)."""
    cmd = [sys.executable, __file__, str(args.clip), "--stage", stage, "--backend", args.backend, "--style", args.style,
           "--model-height", str(args.model_height), "--batch", str(args.batch), "--preset", args.preset, "--crf", str(args.crf)]
    if args.weights:
        cmd += ["--weights", str(args.weights)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed (exit code {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak resident memory. (getrusage would also count the parent's memory that
    was mapped at fork time, before exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rescaled(clip: Path, height: int | None, loops: int, folder: Path) -> Path:
    """The clip re-encoded (near-lossless) at ``height`` px (width keeps the aspect, even),
    played ``loops`` times in a row, to measure a resolution or show memory does not grow."""
    import av

    out = folder / f"{clip.stem}.{height or 'native'}p.x{loops}.mp4"
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        video = src.streams.video[0]
        height = height or video.height
        width = round(video.width * height / video.height / 2) * 2
        stream = dst.add_stream("libx264", rate=video.average_rate or Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = video.time_base
        stream.options = {"crf": "12", "preset": "fast"}
        offset = 0
        for _ in range(loops):
            src.seek(0)
            last = 0
            for frame in src.decode(video):
                scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
                scaled.pts, scaled.time_base = offset + frame.pts, frame.time_base
                last = frame.pts
                for packet in stream.encode(scaled):
                    dst.mux(packet)
            offset += last + round(1 / (stream.codec_context.framerate * video.time_base))
        for packet in stream.encode():
            dst.mux(packet)
    return out


def have_weights(args) -> bool:
    if args.weights:
        return True
    from vidcolor.models.checkpoint import shipped_styles

    return args.style in shipped_styles()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path, nargs="?", default=DEFAULT_CLIP)
    parser.add_argument("--height", type=int, help="rescale the clip to this height first")
    parser.add_argument("--loop", type=int, default=1, help="play the clip this many times in a row (a longer video)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset to run")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--style", default="natural")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--model-height", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads in each stage (default: torch's choice)")
    args = parser.parse_args()

    if args.stage:  # child process: one stage, one JSON line
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        frames, (seconds, cpu) = {"decode": stage_decode, "model": stage_model, "merge": stage_merge, "encode": stage_encode,
                           "plumbing": stage_plumbing, "run": stage_run}[args.stage](args)
        print(json.dumps({"frames": frames, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak_rss_mib()}))
        return

    with tempfile.TemporaryDirectory() as folder:
        if args.height or args.loop > 1:
            args.clip = rescaled(args.clip, args.height, args.loop, Path(folder))
        from vidcolor.video.reader import probe

        info = probe(args.clip)
        wanted = [s for s in args.stages.split(",") if s]
        if not have_weights(args):
            skipped = [s for s in wanted if s in ("model", "run")]
            wanted = [s for s in wanted if s not in skipped]
            if skipped:
                print(f"no weights for style {args.style!r}: skipping {', '.join(skipped)}", file=sys.stderr)
        print(f"clip: {args.clip.name}, {info.width}x{info.height}, {info.frame_count} frames; "
              f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
              f"encode: libx264 --preset {args.preset} --crf {args.crf}; model height {args.model_height}, batch {args.batch}; "
              f"torch threads: {args.threads or 'default'}\n")
        print("| stage | frames/s (median) | runs (frames/s) | CPU ms/frame (median) | peak RSS (MiB) |")
        print("|---|---:|---|---:|---:|")
        for stage in wanted:
            runs = [measure(stage, args) for _ in range(args.repeat)]
            fps = [r["frames"] / r["seconds"] for r in runs]
            cpu_ms = statistics.median(1000 * r["cpu_seconds"] / r["frames"] for r in runs)
            print(f"| {stage} | {statistics.median(fps):.1f} | {', '.join(f'{v:.1f}' for v in fps)} | {cpu_ms:.1f} | "
                  f"{max(r['peak_rss_mib'] for r in runs):.0f} |", flush=True)


if __name__ == "__main__":
    main()
