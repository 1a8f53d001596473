"""Black borders: how steady the per-shot decision is, what it costs, and the before/after picture.

    python benchmarks/bench_borders.py [FILM...] [--out docs/img/black_borders.png] [--frame 48]

1. For each film (default: the two samples): frames, borders decided (one per shot, plus any made
   again), how often a per-frame detection would have changed its mind, and the CPU time per
   frame of the tracker + keep_border_black, at the film's size and with the frames upscaled to 1080p.
2. Pillarboxes the first film to 4:3 (centre crop padded with black to its own width), runs
   `--style ukiyoe` on it with and without black borders, prints the bars' RGB, and writes the
   source | before | after picture to --out.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.borders import BorderTracker, black_threshold, detect_border, keep_border_black
from vidcolor.color import model_size, to_model_input
from vidcolor.options import RunOptions
from vidcolor.pipeline import run_video
from vidcolor.sheet import compose_sheet, save_png
from vidcolor.video.reader import LumaReader, probe

FILMS = [Path("samples/Winter_Scenes_in_Holland.mp4"), Path("samples/a-bomb_blast_effects_part.mp4")]


def steadiness(path: Path, scale_to: tuple[int, int] | None = None) -> dict:
    """Per-shot vs per-frame border decisions on a film, and the CPU ms per frame they cost."""
    info = probe(path)
    tracker = BorderTracker(black_threshold(info.bit_depth, info.full_range))
    decided, per_frame, cpu = [], [], 0.0
    with LumaReader(info) as reader:
        for frame in reader:
            y = frame.y if scale_to is None else cv2.resize(frame.y, scale_to, interpolation=cv2.INTER_LINEAR)
            luma = to_model_input(y, model_size(*y.shape), info.bit_depth, info.full_range)
            chroma = np.full((y.shape[0] // 2, y.shape[1] // 2), 100, y.dtype)
            start = time.process_time()
            border = tracker(y, luma)
            keep_border_black((y, chroma, chroma), y, border, info.bit_depth)
            cpu += time.process_time() - start
            decided.append(border)
            per_frame.append(detect_border(y, tracker.threshold))
    changes = lambda seq: sum(a != b for a, b in zip(seq, seq[1:]))  # noqa: E731
    return {
        "film": path.name, "size": f"{y.shape[1]}x{y.shape[0]}", "frames": len(decided), "decisions": tracker.decisions,
        "changes": changes(decided), "per_frame_changes": changes(per_frame), "borders": sorted({str(b) for b in decided}),
        "cpu_ms": 1000 * cpu / len(decided),
    }


def pillarbox(source: Path, target: Path) -> Path:
    """The film's centre 4:3 crop, padded back to its own width with black (RGB 0 -> Y 16)."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": "12"}
        side = (video.width - video.height * 4 // 3) // 2
        for frame in inp.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            rgb[:, :side] = rgb[:, video.width - side:] = 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace="itu709")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def frame_rgb(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has no frame {index}")


def before_after(film: Path, out: Path, index: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        boxed = pillarbox(film, Path(tmp) / "pillarbox.mp4")
        side = probe(boxed).width - probe(boxed).height * 4 // 3
        rows = [("source (4:3 pillarbox)", frame_rgb(boxed, index))]
        for keep, label in ((False, "ukiyoe before"), (True, "ukiyoe now: bars stay black")):
            target = Path(tmp) / f"ukiyoe.{keep}.mp4"
            print(run_video(RunOptions(input=boxed, output=target, style="ukiyoe", quiet=True, black_borders=keep)).line())
            rgb = frame_rgb(target, index)
            bars = np.concatenate([rgb[:, : side // 2 - 2], rgb[:, rgb.shape[1] - side // 2 + 2:]], axis=1)
            print(f"  {label}: bars RGB mean {bars.mean():.1f}, max {bars.max()}")
            rows.append((label, rgb))
    save_png(out, compose_sheet(rows, tile_height=180))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("films", type=Path, nargs="*", default=FILMS)
    ap.add_argument("--out", type=Path, default=Path("docs/img/black_borders.png"))
    ap.add_argument("--frame", type=int, default=48)
    args = ap.parse_args()
    for film in args.films:
        for scale in (None, (1920, 1080)):
            print(steadiness(film, scale))
    before_after(args.films[0], args.out, args.frame)


if __name__ == "__main__":
    main()
