"""docs/img/reference_run.png: a colour reference carried through a moving shot by `vidcolor run --reference`.

    python benchmarks/reference_sheet.py [--clips davis/camel davis/drift-chicane] [--frame 30]

For each clip (wide calibration clips: the report split stays for the figures): the reference (frame 0 in
true colour), then frame ``--frame`` grey | automatic | with the reference | true colour, one row per clip.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from eval_natural import DATA, clip_frames, held_out_clips, write_pair
from PIL import Image

from vidcolor.sheet import compose_sheet, save_png

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="+", default=["davis/camel", "davis/drift-chicane"])
    ap.add_argument("--frame", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "reference_run.png")
    args = ap.parse_args()
    clips = held_out_clips(DATA, "wide")
    tmp = Path(tempfile.mkdtemp())
    tiles = []
    for name in args.clips:
        frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in clip_frames(clips[name])[: args.frame + 1]]
        stem = name.replace("/", "_")
        grey, colour, ref = tmp / f"{stem}.grey.mkv", tmp / f"{stem}.colour.mkv", tmp / f"{stem}.ref.png"
        write_pair(frames, grey, colour)
        Image.fromarray(frames[0]).save(ref)
        run = [sys.executable, "-m", "vidcolor", "run", str(grey), "-q", "--overwrite", "--codec", "ffv1"]
        subprocess.run([*run, "-o", str(tmp / f"{stem}.auto.mkv")], check=True)
        subprocess.run([*run, "-o", str(tmp / f"{stem}.ref.mkv"), "--reference", str(ref)], check=True)

        def last(path: Path) -> np.ndarray:
            with av.open(str(path)) as c:
                return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][-1]

        tiles += [(f"{name}: reference = frame 0", frames[0]), (f"frame {args.frame}, grey", last(grey)),
                  ("automatic", last(tmp / f"{stem}.auto.mkv")), ("--reference", last(tmp / f"{stem}.ref.mkv")),
                  ("true colour", frames[-1])]
    print(save_png(args.out, compose_sheet(tiles, tile_height=200, columns=5)))


if __name__ == "__main__":
    main()
