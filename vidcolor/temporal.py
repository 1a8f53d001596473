"""Temporal stabilization of per-frame model output at model resolution.

Pure functions of numpy arrays plus one small stateful object, ``TemporalStabilizer``, that holds
the previous frame. Flow follows ``vidcolor.flow``'s convention: a flow field lives on the CURRENT
frame's pixel grid and points to where each pixel was in the PREVIOUS frame (backward flow), so
``warp(previous, flow)`` lines the previous frame up with the current one.

The step for frame t (lumas are the model inputs, outputs the model outputs, any channel count):

    bwd = flow(luma[t-1] -> luma[t])        # on frame t's grid
    fwd = flow(luma[t] -> luma[t-1])        # on frame t-1's grid, for the consistency check
    trust = (1 - occlusion_mask(fwd, bwd)) * luma agreement after warping
    out[t] = blend(model[t], warp(out[t-1], bwd), trust, strength)

A scene cut (or a frame where almost nothing can be trusted) starts again from the model output.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from vidcolor.flow import FlowEstimator, load_flow
from vidcolor.options import TemporalOptions

# Below this fraction of trusted pixels the previous frame is useless: treat it as a cut. Measured
# with DIS ultrafast at 448x256: consecutive DAVIS frames trust >= 0.22 (drift-straight, fast pans),
# last frame of one sequence -> first of another <= 0.10 (all 182 ordered pairs); in the a-bomb film
# its 3 cuts trust <= 0.03 and every other frame >= 0.71.
MIN_TRUSTED_FRACTION = 0.15
# The past never gets more than this share, so every frame's own output keeps at least 5%: the
# weight of frame t-k decays at least as 0.95^k and old colours cannot stay forever.
MAX_PAST_SHARE = 0.95


@functools.lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) float32 x and y coordinates of every pixel centre (cached, read-only)."""
    xs = np.broadcast_to(np.arange(width, dtype=np.float32), (height, width)).copy()
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width)).copy()
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def remap_hwc(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``warp`` for channel-last images: (h, w) or (h, w, C <= 4) -> same shape, float32."""
    xs, ys = pixel_grid(*flow.shape[:2])
    return cv2.remap(
        np.ascontiguousarray(image, dtype=np.float32), xs + flow[..., 0], ys + flow[..., 1],
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Pull ``image`` along ``flow``: out[:, y, x] = image[:, (y, x) + flow[y, x]] (bilinear).

    image: (C, h, w) float32, any C and units. flow: (h, w, 2) float32 px (dx, dy).
    Returns (C, h, w) float32; samples outside the frame repeat the nearest border pixel
    (``occlusion_mask`` marks those pixels as untrusted).
    """
    if image.ndim != 3 or flow.shape != (*image.shape[1:], 2):
        raise ValueError(f"warp needs (C,h,w) and (h,w,2); got {image.shape} and {flow.shape}")
    chunks = []
    for start in range(0, image.shape[0], 4):  # cv2.remap handles at most 4 channels at once
        warped = remap_hwc(image[start:start + 4].transpose(1, 2, 0), flow)
        chunks.append(warped.reshape(*warped.shape[:2], -1).transpose(2, 0, 1))
    return np.ascontiguousarray(np.concatenate(chunks) if len(chunks) > 1 else chunks[0])


def occlusion_mask(fwd: np.ndarray, bwd: np.ndarray, threshold_px: float) -> np.ndarray:
    """Where the backward flow cannot be trusted: 1 = occluded / out of frame, 0 = trusted.

    bwd: (h, w, 2) px on the current frame's grid (current -> previous). fwd: (h, w, 2) px on the
    previous frame's grid (previous -> current). Following a pixel back with ``bwd`` and forward
    again with ``fwd`` should return it to where it started (Sundaram et al. 2010, Ruder et al.
    2016); the allowed round-trip error is sqrt(threshold_px^2 + 1% of the squared motion), and
    the mask ramps from 0 at that error to 1 at twice it (soft edges avoid seams in the blend).
    Pixels whose backward flow leaves the previous frame are occluded.
    Returns (h, w) float32 in [0, 1].
    """
    if fwd.shape != bwd.shape or bwd.ndim != 3 or bwd.shape[2] != 2:
        raise ValueError(f"flows must both be (h,w,2); got {fwd.shape} and {bwd.shape}")
    height, width = bwd.shape[:2]
    fwd_at_source = remap_hwc(fwd, bwd)
    bx, by = bwd[..., 0], bwd[..., 1]
    fx, fy = fwd_at_source[..., 0], fwd_at_source[..., 1]
    round_trip = (bx + fx) ** 2 + (by + fy) ** 2
    allowed = 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + threshold_px**2
    occluded = np.clip(np.sqrt(round_trip / allowed) - 1.0, 0.0, 1.0)
    xs, ys = pixel_grid(height, width)
    src_x, src_y = xs + bx, ys + by
    occluded[(src_x < 0) | (src_x > width - 1) | (src_y < 0) | (src_y > height - 1)] = 1.0
    return occluded.astype(np.float32, copy=False)


def luma_agreement(luma: np.ndarray, warped_prev_luma: np.ndarray, tolerance: float) -> np.ndarray:
    """How well the warped previous luma matches the current one: 1 = within ``tolerance``.

    Both (h, w) float32 [0, 1]. Falls linearly to 0 at twice the tolerance: catches flow errors
    the consistency check misses (both directions wrong in the same way) and lighting changes.
    Returns (h, w) float32 in [0, 1].
    """
    error = np.abs(luma - warped_prev_luma)
    return np.clip(2.0 - error / tolerance, 0.0, 1.0).astype(np.float32)


def thumbnail(luma: np.ndarray, size: tuple[int, int] = (32, 18)) -> np.ndarray:
    """(h, w) [0, 1] -> (size[1], size[0]) float32 zero-mean thumbnail (area-averaged)."""
    small = cv2.resize(luma.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return small - small.mean()


def scene_change(prev_luma: np.ndarray, luma: np.ndarray) -> float:
    """1 - correlation of two frames' 32x18 thumbnails: 0 = same picture, ~1 = unrelated.

    Thumbnails make it insensitive to small motion and noise; correlation makes it insensitive to
    the brightness and contrast flicker of old film. A flat frame (black, a fade) correlates with
    nothing and counts as a change of 1. Both (h, w) float [0, 1].
    """
    if prev_luma.shape != luma.shape:
        raise ValueError(f"frames differ in size: {prev_luma.shape} vs {luma.shape}")
    a, b = thumbnail(prev_luma), thumbnail(luma)
    correlation = float(np.sum(a * b)) / np.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)) + 1e-8)
    return 1.0 - correlation


def is_scene_cut(prev_luma: np.ndarray, luma: np.ndarray, threshold: float) -> bool:
    """True when ``luma`` starts a new shot: ``scene_change`` above ``threshold``."""
    return scene_change(prev_luma, luma) > threshold


def blend(current: np.ndarray, warped_prev: np.ndarray, trust: np.ndarray, strength: float) -> np.ndarray:
    """current + strength * trust * (warped_prev - current).

    current, warped_prev: (C, h, w) float32, same units. trust: (h, w) in [0, 1].
    strength in [0, 1]: the past's share of a fully trusted pixel, capped at MAX_PAST_SHARE so
    that every frame's own output keeps a share: the past's weight decays geometrically.
    Returns a new (C, h, w) float32 array.
    """
    if current.shape != warped_prev.shape or trust.shape != current.shape[1:]:
        raise ValueError(f"blend shapes differ: {current.shape}, {warped_prev.shape}, {trust.shape}")
    weight = (min(strength, MAX_PAST_SHARE) * trust)[None]
    return (current + weight * (warped_prev - current)).astype(np.float32)


def split_detail(image: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(C, h, w) -> (smooth, detail), both (C, h, w) float32, smooth + detail == image.

    smooth is a Gaussian blur with ``sigma_px`` (GaussianBlur takes any channel count)."""
    hwc = np.ascontiguousarray(image.transpose(1, 2, 0), dtype=np.float32)
    smooth = cv2.GaussianBlur(hwc, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    smooth = smooth.reshape(hwc.shape).transpose(2, 0, 1)
    return smooth, image - smooth


def restore_detail(stabilized: np.ndarray, current: np.ndarray, sigma_px: float, max_gain: float = 2.0) -> np.ndarray:
    """Give ``stabilized`` the per-frame output's amount of fine detail, per channel.

    Averaging frames also averages away the frame-to-frame variation of fine texture, which
    washes the colours out. The stabilized detail (finer than ``sigma_px``) is kept, so it stays
    steady, but scaled so its energy matches ``current``'s (gain capped at ``max_gain``).
    Both (C, h, w) float32, same units. Returns a new (C, h, w) float32 array.
    """
    smooth, detail = split_detail(stabilized, sigma_px)
    _, current_detail = split_detail(current, sigma_px)
    energy = np.mean(detail**2, axis=(1, 2), keepdims=True)
    target = np.mean(current_detail**2, axis=(1, 2), keepdims=True)
    gain = np.minimum(np.sqrt(target / np.maximum(energy, 1e-12)), max_gain)
    return (smooth + gain * detail).astype(np.float32)


class TemporalStabilizer:
    """Stabilizes a stream of model outputs; call once per frame, in order.

    ``stab(luma (h, w) float32 [0, 1], output (C, h, w) float32) -> (C, h, w) float32``: the luma
    is the model's input frame, the output its prediction (any channel count and units).
    Holds the previous input luma and the previous STABILIZED output.
    """

    def __init__(self, options: TemporalOptions, flow: FlowEstimator | None = None) -> None:
        self.options = options
        self.flow = flow if flow is not None else load_flow(options.flow_preset)
        self.cuts = 0  # scene cuts seen so far (frames where the state was reset)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame is passed through unchanged."""
        self._prev_luma: np.ndarray | None = None
        self._prev_output: np.ndarray | None = None

    def __call__(self, luma: np.ndarray, output: np.ndarray) -> np.ndarray:
        if luma.ndim != 2 or output.ndim != 3 or output.shape[1:] != luma.shape:
            raise ValueError(f"need luma (h,w) and output (C,h,w); got {luma.shape}, {output.shape}")
        luma = np.array(luma, np.float32)  # a copy: it is kept, and callers may reuse their buffers
        output = output.astype(np.float32, copy=False)
        if self.options.strength <= 0:
            return output.copy()
        stabilized = self._stabilize(luma, output)
        self._prev_luma, self._prev_output = luma, stabilized
        return stabilized

    def _stabilize(self, luma: np.ndarray, output: np.ndarray) -> np.ndarray:
        prev_luma, prev_output = self._prev_luma, self._prev_output
        if prev_luma is None or prev_luma.shape != luma.shape or prev_output.shape != output.shape:
            return output.copy()
        if is_scene_cut(prev_luma, luma, self.options.scene_cut_threshold):
            self.cuts += 1
            return output.copy()
        bwd = self.flow.estimate(prev_luma, luma)
        fwd = self.flow.estimate(luma, prev_luma)
        # One remap carries the previous output and luma together.
        warped = warp(np.concatenate([prev_output, prev_luma[None]]), bwd)
        trust = (1.0 - occlusion_mask(fwd, bwd, self.options.consistency_px)) * luma_agreement(
            luma, warped[-1], self.options.luma_tolerance
        )
        if float(trust.mean()) < MIN_TRUSTED_FRACTION:  # a cut the thumbnail test missed
            self.cuts += 1
            return output.copy()
        stabilized = blend(output, warped[:-1], trust, self.options.strength)
        if self.options.detail_sigma_px > 0:
            stabilized = restore_detail(stabilized, output, self.options.detail_sigma_px)
        return stabilized
