"""Pack the natural recipes' training photos and motion shots into the repository's ignored ``.lease/``
folder, small enough to travel to a lent GPU machine with the working tree (64 MiB in all there).

    python benchmarks/pack_lease_data.py            # -> .lease/photos/<set>/<name>.webp, .lease/video/<shot>/*.webp

Photos: every colour photo the stage-6/7 recipes train on (``not is_validation(f, 0.10)``: the
calibration and report splits stay behind), short side 256 px, centre square, WebP quality 70.
Motion: the first 12 frames of each shot the temporal loss sees (the 7 trained DAVIS shots and the
videos_more clips outside the 20 % hold-out), short side 256, WebP quality 80; no colour is taken
from them (train/gpu/*.toml use them for ``temporal_video`` only).
"""
from __future__ import annotations

import argparse
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from vidcolor.train.data import is_greyscale, is_validation, list_images, read_clip, read_rgb

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TRAINED_DAVIS = ("bmx-trees", "breakdance", "camel", "car-shadow", "drift-chicane", "kite-surf", "parkour")


def square(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> the centre (s, s, 3) square, s = min(H, W)."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    return rgb[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]


def write_webp(path: Path, rgb: np.ndarray, quality: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".webp", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality])
    assert ok, path
    path.write_bytes(buf.tobytes())
    return len(buf)


def pack_photo(job: tuple[Path, Path]) -> int:
    src, dst = job
    rgb = read_rgb(src, 256)
    return 0 if is_greyscale(rgb) else write_webp(dst, square(rgb), 70)


def training_photos(data: Path) -> list[Path]:
    """The photos the stage-6/7/9 recipes train on: every set's, outside the 10 % split (calibration + report)."""
    return [f for f in list_images(sorted(p for p in (data / "photos").iterdir() if p.is_dir())) if not is_validation(f, 0.10)]


def motion_shots(data: Path, frames: int) -> list[tuple[str, list[Path] | Path]]:
    """(name, first ``frames`` frame files or a clip) of each shot the temporal loss sees: the 7 trained
    DAVIS shots and the videos_more clips outside the 20 % report hold-out."""
    shots: list = [(f"davis_{name}", sorted((data / "video_frames" / "davis" / name).glob("*.jpg"))[:frames]) for name in TRAINED_DAVIS]
    return shots + [(clip.stem, clip) for clip in sorted((data / "videos_more").glob("*.mp4")) if not is_validation(clip, 0.2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".lease")
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    files = training_photos(DATA)
    jobs = [(f, args.out / "photos" / f.parent.name / f"{f.name}.webp") for f in files]
    with ProcessPoolExecutor(2) as pool:
        sizes = list(pool.map(pack_photo, jobs, chunksize=64))
    print(f"photos: {sum(s > 0 for s in sizes)} of {len(files)} (black and white left out), {sum(sizes) / 2**20:.1f} MiB")
    total = 0
    shots = motion_shots(DATA, args.frames)
    for name, source in shots:
        frames = read_clip(source, 256, args.frames) if isinstance(source, Path) else [read_rgb(f, 256) for f in source]
        for i, rgb in enumerate(frames):
            total += write_webp(args.out / "video" / name / f"{i:05d}.webp", rgb, 80)
    print(f"motion: {len(shots)} shots, {total / 2**20:.1f} MiB")
    tree = travel_size(REPO, args.out)
    print(f"the call would carry {tree / 2**20:.1f} MiB with docs/ out of the index (64 MiB allowed)")
    if tree > 64 * 2**20:
        raise SystemExit("too large for the device call: pack fewer --frames, or leave more out of the index")


def travel_size(repo: Path, lease: Path) -> int:
    """Bytes the device call carries: tracked files but docs/, untracked files git does not ignore, and ``lease``."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, check=True).stdout.decode().split("\0")
    files = [repo / f for f in listed if f and not f.startswith("docs/")]
    return sum(f.stat().st_size for f in files if f.is_file()) + sum(f.stat().st_size for f in lease.rglob("*") if f.is_file())


if __name__ == "__main__":
    main()
