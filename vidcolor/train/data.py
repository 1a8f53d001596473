"""Training data: photos held in memory, a deterministic train/validation split, seeded batches.

Batches are a pure function of (seed, step): a resumed run sees exactly the batches the
uninterrupted run would have seen.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor.errors import RecipeError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_images(folders: list[Path]) -> list[Path]:
    """All image files in the folders (sorted); RecipeError for a missing or empty folder."""
    files: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise RecipeError(f"data folder not found: {folder}", "fix the path in the recipe (relative paths are relative to the recipe file)")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise RecipeError(f"data folder has no images: {folder}", f"add {', '.join(sorted(IMAGE_SUFFIXES))} files")
        files += found
    return files


def is_validation(path: Path, fraction: float) -> bool:
    """Stable split by file name hash: the same photo is always on the same side."""
    digest = hashlib.sha1(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split(files: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """(train, validation) file lists."""
    val = [f for f in files if is_validation(f, fraction)]
    train = [f for f in files if not is_validation(f, fraction)]
    if not train:
        raise RecipeError("no training images left after the validation split", "lower data.val_fraction or add photos")
    return train, val


def read_rgb(path: Path, short_side: int) -> np.ndarray:
    """Image file -> (H, W, 3) uint8 RGB with the short side resized to ``short_side``."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RecipeError(f"cannot read image: {path}", "remove or replace the file")
    h, w = img.shape[:2]
    s = short_side / min(h, w)
    img = cv2.resize(img, (max(short_side, round(w * s)), max(short_side, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def is_greyscale(rgb: np.ndarray, tolerance: float = 1.0) -> bool:
    """True for a (H, W, 3) uint8 photo with no colour: mean |R-G| + |G-B| under ``tolerance`` (0-255).

    The sample sets hold a few black-and-white photos (29 of 1,622); as colour targets they teach
    the model to leave things grey, and as validation photos the grey input matches them exactly.
    """
    x = rgb.astype(np.int16)
    return float(np.abs(x[..., 0] - x[..., 1]).mean() + np.abs(x[..., 1] - x[..., 2]).mean()) < tolerance


def drop_greyscale(inputs: list[np.ndarray], targets: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """(inputs, targets, number dropped): the pairs whose input photo is in colour."""
    keep = [i for i, rgb in enumerate(inputs) if not is_greyscale(rgb)]
    return [inputs[i] for i in keep], [targets[i] for i in keep], len(inputs) - len(keep)


def repeat_counts(files: list[Path], repeat: dict[str, int]) -> list[int]:
    """How many times each training file is drawn: ``repeat[folder name]`` (1 for folders not named).

    Oversampling a folder shifts the batches towards it without loading its photos twice.
    """
    return [repeat.get(f.parent.name, 1) for f in files]


def expand(items: list, counts: list[int]) -> list:
    """[a, b], [2, 1] -> [a, a, b] (references, not copies)."""
    return [x for x, n in zip(items, counts, strict=True) for _ in range(n)]


def fingerprint(files: list[Path]) -> str:
    """A short hash of the file names and sizes used for training (recorded in the checkpoint)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{f.stat().st_size};".encode())
    return h.hexdigest()[:16]


@dataclass
class PairSet:
    """Photos (and, for artistic styles, their teacher targets) held in memory as uint8."""

    inputs: list[np.ndarray]  # (H, W, 3) uint8 colour photos
    targets: list[np.ndarray]  # (H, W, 3) uint8 targets, same size as inputs (== inputs for natural)

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, seed: int, step: int, size: int, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random crops + flips: (size, 3, r, r) input RGB and target RGB in [0, 1], deterministic."""
        rng = np.random.default_rng([seed, step])
        xs, ys = [], []
        for i in rng.integers(0, len(self), size):
            x, y = self.inputs[i], self.targets[i]
            h, w = x.shape[:2]
            crop = int(rng.integers(min(h, w) * 3 // 4, min(h, w) + 1))
            top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            flip = bool(rng.integers(0, 2))
            cut = lambda a: cv2.resize(a[top : top + crop, left : left + crop], (resolution, resolution), interpolation=cv2.INTER_AREA)  # noqa: E731
            px = cut(x)
            py = px if y is x else cut(y)  # natural: the target is the photo itself, resized once
            xs.append(px[:, ::-1] if flip else px)
            ys.append(py[:, ::-1] if flip else py)
        to_t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        return to_t(xs), to_t(ys)


def centre_crops(images: list[np.ndarray], resolution: int) -> torch.Tensor:
    """Validation view: (N, 3, r, r) [0,1] centre crops of the short side."""
    out = []
    for img in images:
        h, w = img.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        out.append(cv2.resize(img[top : top + s, left : left + s], (resolution, resolution), interpolation=cv2.INTER_AREA))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


def random_smooth_flow(rng: torch.Generator, n: int, h: int, w: int, max_px: float) -> torch.Tensor:
    """(n, 2, h, w) smooth random flow in px: a global shift + a coarse 4x4 field, bilinear-upsampled."""
    coarse = (torch.rand(n, 2, 4, 4, generator=rng) * 2 - 1) * max_px * 0.5
    shift = (torch.rand(n, 2, 1, 1, generator=rng) * 2 - 1) * max_px * 0.5
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True) + shift


@dataclass
class VideoPairs:
    """Consecutive frames of real video, with the flow between them, for the temporal loss.

    Held in memory at the recipe's load size: lumas (H, W) uint8 per frame; per pair of frames
    (t, t+1): the backward flow of t+1 (H, W, 2) float16 px and its trusted pixels (H, W) uint8
    (forward-backward consistent, inside the frame).
    """

    lumas: list[np.ndarray]
    pairs: list[tuple[int, np.ndarray, np.ndarray]]  # (index of frame t, flow, trust)

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, seed: int, step: int, size: int, resolution: int) -> tuple[torch.Tensor, ...]:
        """Same random crop of both frames: previous and next luma (size, 1, r, r) [0, 1], backward
        flow (size, 2, r, r) px and trust (size, 1, r, r) in {0, 1}; deterministic in (seed, step)."""
        rng = np.random.default_rng([seed, step, 1])
        out: tuple[list, ...] = ([], [], [], [])
        for i in rng.integers(0, len(self), size):
            t, flow, trust = self.pairs[i]
            h, w = trust.shape
            top, left = int(rng.integers(0, h - resolution + 1)), int(rng.integers(0, w - resolution + 1))
            window = (slice(top, top + resolution), slice(left, left + resolution))
            for dst, src in zip(out, (self.lumas[t], self.lumas[t + 1], flow, trust)):
                dst.append(src[window])
        prev, nxt, flow, trust = (torch.from_numpy(np.stack(a)) for a in out)
        return prev[:, None].float() / 255, nxt[:, None].float() / 255, flow.permute(0, 3, 1, 2).float(), trust[:, None].float()


def video_shots(entries: list[Path], val_fraction: float) -> list[list[Path] | Path]:
    """Shots for the temporal loss: a folder of frames is one shot (its sorted images); a folder of
    .mp4 clips gives one shot per clip not held out by ``is_validation(clip, val_fraction)``; an .mp4 is one shot."""
    shots: list[list[Path] | Path] = []
    for entry in entries:
        if entry.is_file() and entry.suffix.lower() == ".mp4":
            shots.append(entry)
        elif entry.is_dir() and any(entry.glob("*.mp4")) and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir()):
            shots += [c for c in sorted(entry.glob("*.mp4")) if not is_validation(c, val_fraction)]
        else:
            shots.append(list_images([entry]))
    return shots


def read_clip(path: Path, short_side: int, limit: int = 80) -> list[np.ndarray]:
    """The first ``limit`` frames of a video as (H, W, 3) uint8 RGB, short side resized to ``short_side``."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                rgb = frame.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                s = short_side / min(h, w)
                frames.append(cv2.resize(rgb, (max(short_side, round(w * s)), max(short_side, round(h * s))), interpolation=cv2.INTER_AREA))
                if len(frames) >= limit:
                    break
    except av.error.FFmpegError as exc:
        raise RecipeError(f"cannot read video clip {path}: {exc}", "remove or replace the file") from None
    return frames


def load_video_pairs(folders: list[Path], short_side: int, val_fraction: float = 0.2) -> VideoPairs:
    """Consecutive frames of every shot (see ``video_shots``), resized to ``short_side``, with flow.
    RecipeError when an entry is missing or a shot has fewer than 2 frames."""
    from vidcolor.flow import load_flow
    from vidcolor.metrics import rgb_luma
    from vidcolor.temporal import occlusion_mask

    flow = load_flow("medium")
    lumas: list[np.ndarray] = []
    pairs: list[tuple[int, np.ndarray, np.ndarray]] = []
    for shot in video_shots(folders, val_fraction):
        frames = read_clip(shot, short_side) if isinstance(shot, Path) else [read_rgb(f, short_side) for f in shot]
        if len(frames) < 2:
            raise RecipeError(f"a video shot needs at least 2 consecutive frames: {shot if isinstance(shot, Path) else shot[0].parent}")
        start = len(lumas)
        for rgb in frames:
            lumas.append(np.clip(rgb_luma(rgb) + 0.5, 0, 255).astype(np.uint8))
        for t in range(start, len(lumas) - 1):
            prev, nxt = lumas[t].astype(np.float32) / 255, lumas[t + 1].astype(np.float32) / 255
            bwd, fwd = flow.estimate(prev, nxt), flow.estimate(nxt, prev)
            trust = (occlusion_mask(fwd, bwd, threshold_px=0.7) == 0).astype(np.uint8)
            pairs.append((t, bwd.astype(np.float16), trust))
    return VideoPairs(lumas, pairs)


def video_stills(entries: list[Path], val_fraction: float, every: int, short_side: int) -> tuple[list[np.ndarray], list[Path]]:
    """Colour photos from video: every ``every``-th frame (from the first) of each shot of ``entries``
    (shots as ``video_shots`` finds them: held-out clips of a folder of .mp4 are skipped), as
    (H, W, 3) uint8 RGB with the short side ``short_side``; and the files they came from (for the
    data fingerprint). Frames of one shot are near-duplicates, hence the stride."""
    stills: list[np.ndarray] = []
    sources: list[Path] = []
    for shot in video_shots(entries, val_fraction):
        if isinstance(shot, Path):
            stills += read_clip(shot, short_side)[::every]
            sources.append(shot)
        else:
            stills += [read_rgb(f, short_side) for f in shot[::every]]
            sources += shot[::every]
    return stills, sources
