"""Wall time of `vidcolor preview` on a 10-minute film, as a user sees it (a fresh process each run).

    python benchmarks/bench_preview.py --make-film /tmp/film10min.mp4     # once: Winter Scenes, looped
    python benchmarks/bench_preview.py /tmp/film10min.mp4 --repeat 5

The film is `samples/Winter_Scenes_in_Holland.mp4` (640x360, 12 fps, 8 s) played forwards and
backwards until it lasts 10 minutes, re-encoded with libx264 (veryfast, crf 20, GOP 250), so that
seeking works as it does in a real film. Also times a full decode of it, to show what seeking saves.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "Winter_Scenes_in_Holland.mp4"


def make_film(path: Path, minutes: float = 10.0) -> None:
    with av.open(str(SAMPLE)) as source:
        stream = source.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="yuv420p") for f in source.decode(stream)]
    order = frames + frames[::-1]  # ping-pong: no jump at the loop point
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0] * 2 // 3, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        for i in range(int(minutes * 60 * rate)):
            frame = av.VideoFrame.from_ndarray(order[i % len(order)], format="yuv420p")
            frame.pts, frame.time_base = i, 1 / Fraction(rate)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)


def full_decode_seconds(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        count = sum(1 for _ in container.decode(video=0))
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("film", type=Path)
    parser.add_argument("--make-film", action="store_true", help="write the 10-minute film to FILM first")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--styles", default="natural,ukiyoe")
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    if args.make_film:
        make_film(args.film)
    with av.open(str(args.film)) as c:
        print(f"film: {args.film} {c.streams.video[0].width}x{c.streams.video[0].height}, {c.duration / av.time_base:.0f} s")
    with tempfile.TemporaryDirectory() as folder:
        sheet = Path(folder) / "sheet.png"
        command = [sys.executable, "-m", "vidcolor", "preview", str(args.film), "--styles", args.styles,
                   "--frames", str(args.frames), "--backend", args.backend, "-o", str(sheet), "--overwrite"]
        print("command:", " ".join(command[1:]))
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            print(f"  {walls[-1]:.2f} s")
        print(f"preview wall time: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}) over {len(walls)} runs")
    seconds, count = full_decode_seconds(args.film)
    print(f"for comparison, decoding the whole film: {seconds:.1f} s ({count} frames)")


if __name__ == "__main__":
    main()
