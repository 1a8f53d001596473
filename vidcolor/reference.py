"""A colour reference for `vidcolor run --reference still.png`: a colour picture with the film's (or
photo's) framing, such as one frame coloured by hand or a colour still of the same scene; one per
shot for a film of several (``--reference`` repeated).

    picture = read_reference(path)                        # (H, W, 3) uint8 RGB, checked for colour
    check_reference_shape(path, picture, 640, 480)        # HintError unless it has the film's aspect
    ref = reference_planes(picture, (256, 352))           # Reference(luma (h, w), ab (2, h, w)) at model size
    hints = reference_hints((ref, ...), luma, flow)       # (3, h, w) hint planes for one frame

Each frame is lined up with the reference by dense optical flow in both directions (the temporal
step's flow, consistency check and luma agreement: vidcolor.temporal). On a grid of ``GRID_PX`` model
pixels, every point where the match can be trusted becomes a one-pixel hint of the reference's colour
there (its 3x3 mean; vidcolor.train.hints.hint_points); the hint branch spreads it, and the matched
colours are then laid over its output by the match's trust (``lay_over``). Where a
frame shows something else (another shot, a thing that moved in) the points fall away and the
automatic colour stays. With several references, a frame is matched by flow to the ``CANDIDATES``
whose thumbnails look most like it, and takes the one whose match holds over most of the frame.
The measured gain and the choice of the grid: docs/MODEL.md, sessions 21 and 22.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.flow import FlowEstimator
from vidcolor.hints import HintError
from vidcolor.options import TemporalOptions
from vidcolor.temporal import MIN_TRUSTED_FRACTION, luma_agreement, occlusion_mask, scene_change, warp

GRID_PX = 16  # model pixels between candidate points (picked on the wide calibration clips: 32 and 8 gave less)
MIN_TRUST = 0.9  # a point is a hint where the match's trust (0..1) is above this
MATCH = TemporalOptions()  # the temporal step's round-trip (consistency_px) and luma (luma_tolerance) checks
ASPECT_TOLERANCE = 0.02  # the reference's width / height may differ from the picture's by this share
CANDIDATES = 2  # references matched by flow per frame, of several: those whose thumbnails are most alike


@dataclass(frozen=True)
class Reference:
    luma: np.ndarray  # (h, w) float32 [0, 1], the reference's luma at model size
    ab: np.ndarray  # (2, h, w) float32, its Lab a/b at model size
    trust: np.ndarray | None = None  # (h, w) [0, 1]: how far each pixel's a/b holds (a carried frame's); None: all of it
    known: bool = True  # its colours are the user's (a picture): laid over the output; False: the model's guess away from a few points


def read_reference(path: Path) -> np.ndarray:
    """The reference picture file -> (H, W, 3) uint8 RGB (EXIF orientation applied, as a viewer shows it).
    HintError when it cannot be read or has no colour."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise HintError(f"--reference {path}: no such picture file", "give the path of a colour picture (PNG, JPEG, TIFF)")
    try:
        with Image.open(path) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise HintError(f"--reference {path}: not a picture vidcolor can read ({e})", "give a PNG, JPEG, TIFF or WebP file") from None
    from vidcolor.train.data import is_greyscale

    if is_greyscale(rgb):
        raise HintError(f"--reference {path}: the picture has no colour to give",
                        "give a colour picture of the same framing, e.g. one frame coloured by hand")
    return rgb


def check_reference_shape(path: Path, picture: np.ndarray, width: int, height: int) -> None:
    """HintError unless the reference (H, W, 3) has the aspect of a ``width`` x ``height`` picture:
    the colours are matched by position, so the framing must be the same (any size)."""
    h, w = picture.shape[:2]
    if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise HintError(f"--reference {path}: it is {w}x{h} px, a different shape from the {width}x{height} picture",
                        "crop the reference to the picture's framing (its size may differ)")


def reference_planes(picture: np.ndarray, size: tuple[int, int]) -> Reference:
    """(H, W, 3) uint8 RGB -> its luma and Lab a/b at model ``size`` (h, w), area-resampled."""
    from vidcolor.color import rgb_to_lab, rgb_to_luma

    rgb = torch.from_numpy(np.array(picture, np.float32)).permute(2, 0, 1)[None] / 255
    small = F.interpolate(rgb, size=size, mode="area")
    return Reference(rgb_to_luma(small)[0, 0].numpy(), rgb_to_lab(small)[0, 1:].numpy())


def grid_points(trust: np.ndarray, spacing: int = GRID_PX, min_trust: float = MIN_TRUST) -> list[tuple[int, int]]:
    """(h, w) trust in [0, 1] -> the (y, x) centres of a ``spacing`` px grid where trust > ``min_trust``."""
    h, w = trust.shape
    ys, xs = np.meshgrid(np.arange(spacing // 2, h, spacing), np.arange(spacing // 2, w, spacing), indexing="ij")
    keep = trust[ys, xs] > min_trust
    return list(zip(ys[keep].tolist(), xs[keep].tolist()))


def max_reference_points(size: tuple[int, int], spacing: int = GRID_PX) -> int:
    """The most hints a reference can give a frame of model ``size`` (h, w): every point of the grid."""
    return len(range(spacing // 2, size[0], spacing)) * len(range(spacing // 2, size[1], spacing))


def candidates(references: tuple[Reference, ...], luma: np.ndarray, count: int = CANDIDATES) -> list[int]:
    """Indices of the ``count`` references that look most like the frame (the temporal step's
    thumbnail correlation, blind to exposure: vidcolor.temporal.scene_change), best first."""
    if len(references) <= count:  # all of them are matched: no need to rank
        return list(range(len(references)))
    change = [scene_change(ref.luma, luma) for ref in references]
    return sorted(range(len(references)), key=lambda i: change[i])[:count]


def match(reference: Reference, luma: np.ndarray, flow: FlowEstimator) -> tuple[np.ndarray, np.ndarray]:
    """A frame's luma (h, w) lined up with a reference -> (the reference's a/b warped onto the frame
    (2, h, w), the trust of that match per pixel (h, w) in [0, 1])."""
    if luma.shape != reference.luma.shape:
        raise ValueError(f"frame {luma.shape} and reference {reference.luma.shape} differ in size")
    bwd = flow.estimate(reference.luma, luma)  # on the frame's grid, pointing into the reference
    fwd = flow.estimate(luma, reference.luma)
    own = [] if reference.trust is None else [reference.trust[None]]
    warped = warp(np.concatenate([reference.ab, reference.luma[None], *own]), bwd)
    trust = (1.0 - occlusion_mask(fwd, bwd, MATCH.consistency_px)) * luma_agreement(luma, warped[2], MATCH.luma_tolerance)
    return warped[:2], trust * warped[3] if own else trust


def best_match(references: tuple[Reference, ...], luma: np.ndarray, flow: FlowEstimator,
               count: int = CANDIDATES) -> tuple[int, np.ndarray, np.ndarray] | None:
    """The reference a frame's luma (h, w) matches over most of its pixels, of the ``count`` candidates:
    (its index, its a/b warped onto the frame (2, h, w), the match's trust (h, w)); None when no
    candidate matches ``MIN_TRUSTED_FRACTION`` of the frame (another shot: a few chance matches would
    only mislead)."""
    best = None
    for i in candidates(references, luma, count):
        ab, trust = match(references[i], luma, flow)
        if float(trust.mean()) >= MIN_TRUSTED_FRACTION and (best is None or trust.mean() > best[2].mean()):
            best = i, ab, trust
    return best


def frame_colours(references: tuple[Reference, ...], luma: np.ndarray, flow: FlowEstimator,
                  carried: Reference | None = None) -> Reference | None:
    """The colours a frame's luma (h, w) gets from the references: the best match's a/b warped onto
    the frame and its trust (a Reference of the frame: what ``carried`` takes next); None where
    nothing matches. ``carried``: the previous frame's, matched too; per pixel the better trusted of
    the two wins (the reference on a tie), so a pan or a move carries the reference's colours on
    after the frame has left the reference's view."""
    best = best_match(references, luma, flow)
    ab, trust = (None, None) if best is None else best[1:]
    known = best is not None and references[best[0]].known
    if carried is not None:
        ab_c, trust_c = match(carried, luma, flow)
        if float(trust_c.mean()) >= MIN_TRUSTED_FRACTION:
            if ab is None:
                ab, trust, known = ab_c, trust_c, carried.known
            else:
                ab, trust = np.where(trust >= trust_c, ab, ab_c), np.maximum(trust, trust_c)
    return None if ab is None else Reference(luma, ab.astype(np.float32), trust.astype(np.float32), known)


def lay_over(ab: np.ndarray, found: list[Reference | None]) -> np.ndarray:
    """The model's a/b (N, 2, h, w) with each frame's matched colours (frame_colours: a Reference of the
    frame with its trust, or None) laid over it: per pixel, a/b + trust x (matched - a/b). The hint
    branch spreads the grid's colours but softens them (its confidence is under 1); where the match
    holds, the reference's own colours are the best guess there is (+3.4 dB on the wide calibration
    clips over the hints alone, docs/MODEL.md session 23). Not so for colours the model guessed (a frame
    coloured from a few --hint points, ``known`` False): they stay hints only."""
    if all(colours is None or not colours.known for colours in found):
        return ab
    out = np.array(ab, np.float32, copy=True)
    for i, colours in enumerate(found):
        if colours is not None and colours.known:
            out[i] += colours.trust * (colours.ab - out[i])
    return out


def colour_hints(colours: Reference | None, size: tuple[int, int]) -> torch.Tensor:
    """A frame's matched colours (frame_colours) -> (3, h, w) float32 hint planes at ``size``: a point on
    the ``GRID_PX`` grid wherever the match's trust is above ``MIN_TRUST``; all zeros for None."""
    from vidcolor.train.hints import hint_points

    if colours is None:
        return torch.zeros(3, *size)
    # each point: one pixel holding its 3x3 neighbourhood's mean colour. As good as a 3x3 square of it
    # on the wide calibration clips (+4.24 / +4.23 dB) at a third of the hint branch's time: its cost
    # grows with the hinted pixels (session 21)
    ab = F.avg_pool2d(torch.from_numpy(np.ascontiguousarray(colours.ab[None])), 3, stride=1, padding=1, count_include_pad=False)[0]
    return hint_points(ab, grid_points(colours.trust), patch=1)


def reference_hints(references: tuple[Reference, ...], luma: np.ndarray, flow: FlowEstimator) -> torch.Tensor:
    """One frame's hints from the best-matching reference: luma (h, w) float32 [0, 1] at model size ->
    (3, h, w) float32 hint planes (a/b / AB_RANGE and mask; all zeros where nothing matches). Of
    several references, the ``candidates`` are matched and the one trusted over most of the frame wins.
    A film's frames also carry the previous frame's: vidcolor.hints.HintSource."""
    return colour_hints(frame_colours(references, luma, flow), luma.shape)


def check_references(paths: tuple[Path, ...], style, weights: Path | None, width: int, height: int,
                     styles_dir: Path | None = None) -> None:
    """VidcolorError unless the references (none: nothing to check) can colour a ``width`` x ``height``
    picture with ``style`` (a StyleSpec) and these weights. Reads each reference."""
    if not paths:
        return
    from vidcolor.hints import check_hint_support

    check_hint_support(style, weights, styles_dir, option="--reference")
    for path in paths:
        check_reference_shape(path, read_reference(path), width, height)
