"""docs/img/reference_run.png: a colour reference carried through a moving shot by `vidcolor run --reference`.

    python benchmarks/reference_sheet.py [--clips davis/camel davis/drift-chicane] [--frame 30]
    python benchmarks/reference_sheet.py --film [--clips A B C] [--frame 30]   # docs/img/references_film.png
    python benchmarks/reference_sheet.py --points 10 [--clips A B] [--frame 30]  # docs/img/hints_tied.png

For each clip (wide calibration clips: the report split stays for the figures): the reference (frame 0 in
true colour), then frame ``--frame`` grey | automatic | with the reference | true colour, one row per clip.
``--film``: the clips are the shots of one film (16:9, 640x360, as eval_references.py makes them), run
once with every shot's frame 0 as a reference (``--reference`` repeated); a row per shot.
``--points K``: K seeded points of frame 0 with their true colour (marked), then frame ``--frame`` grey |
automatic | the points as `--hint` on every frame | tied to frame 0 (`--hint X,Y,COLOR@0`) | true colour.
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
    ap.add_argument("--out", type=Path)
    ap.add_argument("--film", action="store_true")
    ap.add_argument("--points", type=int, default=0)
    args = ap.parse_args()
    if args.film:
        return film_sheet(args)
    if args.points:
        return points_sheet(args)
    args.out = args.out or ROOT / "docs" / "img" / "reference_run.png"
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


def points_sheet(args) -> None:
    from eval_natural import first_frame_hints
    from PIL import ImageDraw

    clips = held_out_clips(DATA, "wide")
    tmp = Path(tempfile.mkdtemp())
    tiles = []
    for n, name in enumerate(args.clips):
        frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in clip_frames(clips[name])[: args.frame + 1]]
        stem = name.replace("/", "_")
        grey, colour = tmp / f"{stem}.grey.mkv", tmp / f"{stem}.colour.mkv"
        write_pair(frames, grey, colour)
        points = first_frame_hints(frames[0], args.points, seed=n)
        run = [sys.executable, "-m", "vidcolor", "run", str(grey), "-q", "--overwrite", "--codec", "ffv1"]
        outs = {}
        for label, texts in (("automatic", []), ("--hint on every frame", [str(h) for h in points]),
                             ("--hint ...@0 (tied to frame 0)", [f"{h}@0" for h in points])):
            outs[label] = tmp / f"{stem}.{len(outs)}.mkv"
            subprocess.run([*run, "-o", str(outs[label]), *(a for t in texts for a in ("--hint", t))], check=True)

        def last(path: Path) -> np.ndarray:
            with av.open(str(path)) as c:
                return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][-1]

        marked = Image.fromarray(frames[0])
        draw = ImageDraw.Draw(marked)
        for h in points:
            r = max(3, marked.width // 80)
            draw.ellipse((h.x - r, h.y - r, h.x + r, h.y + r), fill=h.rgb, outline=(255, 255, 255), width=max(1, r // 3))
        tiles += [(f"{name}: frame 0, {len(points)} points", np.asarray(marked)), (f"frame {args.frame}, grey", last(grey))]
        tiles += [(label, last(path)) for label, path in outs.items()] + [("true colour", frames[-1])]
    print(save_png(args.out or ROOT / "docs" / "img" / "hints_tied.png", compose_sheet(tiles, tile_height=180, columns=6)))


def film_sheet(args) -> None:
    from eval_references import shot_frames

    clips = held_out_clips(DATA, "wide")
    names = args.clips if args.clips != ["davis/camel", "davis/drift-chicane"] else ["davis/camel", "video_sam2__05_default_juggle", "davis/drift-chicane"]
    shots = [shot_frames(clip_frames(clips[n]), args.frame) for n in names]
    tmp = Path(tempfile.mkdtemp())
    refs = []
    for i, shot in enumerate(shots):
        refs += ["--reference", str(tmp / f"ref{i}.png")]
        Image.fromarray(shot[0]).save(refs[-1])
    film = [rgb for shot in shots for rgb in shot[1:]]
    grey, colour = tmp / "film.grey.mkv", tmp / "film.colour.mkv"
    write_pair(film, grey, colour)
    run = [sys.executable, "-m", "vidcolor", "run", str(grey), "-q", "--overwrite", "--codec", "ffv1"]
    subprocess.run([*run, "-o", str(tmp / "auto.mkv")], check=True)
    subprocess.run([*run, "-o", str(tmp / "refs.mkv"), *refs], check=True)

    def frames(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    grey_f, auto, with_refs = frames(grey), frames(tmp / "auto.mkv"), frames(tmp / "refs.mkv")
    tiles = []
    for i, (name, shot) in enumerate(zip(names, shots)):
        last = (i + 1) * args.frame - 1  # the shot's frame --frame in the film
        tiles += [(f"shot {i + 1} ({name}): its reference", shot[0]), (f"frame {args.frame}, grey", grey_f[last]),
                  ("automatic", auto[last]), (f"{len(names)} references", with_refs[last]), ("true colour", shot[-1])]
    print(save_png(args.out or ROOT / "docs" / "img" / "references_film.png", compose_sheet(tiles, tile_height=180, columns=5)))


if __name__ == "__main__":
    main()
