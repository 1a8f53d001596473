"""Several references on a film of several shots: `vidcolor run --reference` once per shot.

    python benchmarks/eval_references.py select [--split wide|report] [--shots 4] [--frames 30]
    python benchmarks/eval_references.py films  [--split wide|report] [--shots 4] [--frames 30] [--json out.json]

Films are made from the held-out clips of eval_natural (``--split``: ``wide`` to choose, ``report`` to
report): each clip is one shot, its frames centre-cropped to 16:9 and scaled to 640x360, ``--shots``
shots a film in name order. A shot's frame 0 in true colour is its reference (the archivist's one
coloured frame per shot); its next ``--frames`` frames are the film's and are scored.

``select``: how often a frame picks its own shot's reference, at model size (256x448), for 1, 2 and
every candidate (vidcolor.reference.best_match): "own" = picked its shot's reference, "none" = no
candidate matched 15 % of the frame (automatic colour), "other" = another shot's.
``films``: each film through `vidcolor run` defaults (FFV1 grey in, temporal on, x264 crf 18 out):
automatic, ``--reference`` of every shot, and of the first shot only; RGB PSNR per frame against the
truth, averaged per shot; differences paired by shot.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from eval_natural import DATA, clip_frames, held_out_clips, paired_difference, write_pair

from vidcolor.metrics import psnr

SIZE = (640, 360)  # width, height of every shot
MODEL = (256, 448)


def shot_frames(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    """A clip's first ``count`` + 1 frames, centre-cropped to 16:9 and scaled to SIZE."""
    out = []
    for rgb in frames[: count + 1]:
        h, w = rgb.shape[:2]
        ch, cw = (h, int(h * 16 / 9)) if w * 9 >= h * 16 else (int(w * 9 / 16), w)
        y, x = (h - ch) // 2, (w - cw) // 2
        out.append(cv2.resize(rgb[y:y + ch, x:x + cw], SIZE, interpolation=cv2.INTER_AREA))
    return out


def films(split: str, shots: int, frames: int) -> list[list[tuple[str, list[np.ndarray]]]]:
    """[[(clip name, its frames: reference first), ...] per film]; clips shorter than frames + 1 are left out."""
    clips = [(name, shot_frames(clip_frames(src), frames)) for name, src in held_out_clips(DATA, split).items()]
    clips = [(n, f) for n, f in clips if len(f) == frames + 1]
    return [clips[i:i + shots] for i in range(0, len(clips) - 1, shots) if len(clips[i:i + shots]) >= 2]


def select_main(args) -> dict:
    from vidcolor.flow import load_flow
    from vidcolor.reference import best_match, reference_planes

    flow = load_flow("medium")
    tally = {k: {"own": 0, "none": 0, "other": 0} for k in ("1", "2", "all")}
    for film in films(args.split, args.shots, args.frames):
        refs = tuple(reference_planes(f[0], MODEL) for _, f in film)
        for own, (_, shot) in enumerate(film):
            for rgb in shot[1:]:
                luma = reference_planes(rgb, MODEL).luma
                for key, count in (("1", 1), ("2", 2), ("all", len(refs))):
                    best = best_match(refs, luma, flow, count)
                    tally[key]["none" if best is None else "own" if best[0] == own else "other"] += 1
        print({k: dict(v) for k, v in tally.items()}, flush=True)
    return tally


def mean_psnr(output: Path, truth: list[np.ndarray]) -> list[float]:
    with av.open(str(output)) as c:
        ours = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(ours) == len(truth), (len(ours), len(truth))
    return [psnr(a / 255.0, b / 255.0) for a, b in zip(ours, truth)]


def films_main(args) -> dict:
    from vidcolor.options import RunOptions
    from vidcolor.pipeline import run_video

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n, film in enumerate(films(args.split, args.shots, args.frames)):
            refs = []
            for i, (_, shot) in enumerate(film):
                refs.append(tmp / f"film{n}_ref{i}.png")
                cv2.imwrite(str(refs[-1]), cv2.cvtColor(shot[0], cv2.COLOR_RGB2BGR))
            truth = [rgb for _, shot in film for rgb in shot[1:]]
            grey, colour = tmp / f"film{n}.grey.mkv", tmp / f"film{n}.colour.mkv"
            write_pair(truth, grey, colour)
            scores = {}
            for side, references in (("automatic", ()), ("every shot's", tuple(refs)), ("first shot's", tuple(refs[:1]))):
                out = tmp / f"film{n}.out.mp4"
                run_video(RunOptions(input=grey, output=out, quiet=True, overwrite=True, engine_dir=tmp, references=references))
                scores[side] = mean_psnr(out, truth)
            y = [np.clip(0.2126 * t[..., 0] + 0.7152 * t[..., 1] + 0.0722 * t[..., 2] + 0.5, 0, 255).astype(np.uint8) for t in truth]
            grey_scores = [psnr(np.repeat(g[..., None], 3, 2) / 255.0, t / 255.0) for g, t in zip(y, truth)]
            for i, (name, _) in enumerate(film):
                part = slice(i * args.frames, (i + 1) * args.frames)
                rows[f"film{n}/{i}:{name}"] = {side: float(np.mean(v[part])) for side, v in (*scores.items(), ("grey", grey_scores))}
                r = rows[f"film{n}/{i}:{name}"]
                print(f"| film {n} shot {i} {name} | " + " | ".join(f"{r[s] - r['grey']:+.2f}" for s in scores) + " |", flush=True)
    sides = ("automatic", "every shot's", "first shot's")
    summary = {s: float(np.mean([r[s] - r["grey"] for r in rows.values()])) for s in sides}
    for s in sides[1:]:
        d, se = paired_difference([r["automatic"] for r in rows.values()], [r[s] for r in rows.values()])
        summary[f"{s} - automatic"], summary[f"{s} - automatic SE"] = d, se
    later = [r for k, r in rows.items() if not k.split("/")[1].startswith("0:")]
    d, se = paired_difference([r["automatic"] for r in later], [r["first shot's"] for r in later])
    summary["first shot's - automatic, on the other shots"], summary["... SE"] = d, se
    print(json.dumps(summary, indent=1))
    return {"shots": rows, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("select", "films"))
    ap.add_argument("--split", default="wide", choices=("wide", "report"))
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = (select_main if args.what == "select" else films_main)(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
