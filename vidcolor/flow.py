"""Optical flow between two grey frames, behind one small protocol.

Convention used everywhere in vidcolor: ``estimate(prev, next)`` returns the BACKWARD flow of the
next frame, ``flow[y, x] = (dx, dy)`` in pixels such that ``next[y, x] ~ prev[y + dy, x + dx]``.
That is exactly what ``cv2.remap`` needs to pull ``prev`` (or anything aligned with it, such as the
previous model output) onto the next frame: see ``vidcolor.temporal.warp``. The forward flow,
used for the occlusion check, is ``estimate(next, prev)``.
"""
from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

# name -> (OpenCV preset, finest pyramid scale or None for the preset's own). "fine" is "medium"
# refined down to full resolution: ~3x slower, and on real video it leaves about a third less
# warping residual (what the warping-error metric needs; the temporal step does not).
DIS_PRESETS = {
    "ultrafast": (cv2.DISOpticalFlow_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOpticalFlow_PRESET_FAST, None),
    "medium": (cv2.DISOpticalFlow_PRESET_MEDIUM, None),
    "fine": (cv2.DISOpticalFlow_PRESET_MEDIUM, 0),
}


class FlowEstimator(Protocol):
    """Anything that maps two grey frames to the backward flow of the second."""

    name: str

    def estimate(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        """(h, w) float32 [0, 1] twice -> (h, w, 2) float32 px: next[y, x] ~ prev[(y, x) + flow]."""
        ...


def to_uint8(luma: np.ndarray) -> np.ndarray:
    """(h, w) float [0, 1] -> (h, w) uint8 [0, 255], contiguous (what DIS reads)."""
    if luma.ndim != 2:
        raise ValueError(f"expected a (h, w) grey frame, got shape {luma.shape}")
    return np.ascontiguousarray(np.clip(luma * 255.0 + 0.5, 0, 255).astype(np.uint8))


class DISFlow:
    """OpenCV's Dense Inverse Search (Kroeger et al. 2016) on the CPU; one reused instance.

    Not thread-safe: use one estimator per thread.
    """

    def __init__(self, preset: str = "fast") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(DIS_PRESETS)}")
        self.name = f"dis-{preset}"
        preset_id, finest_scale = DIS_PRESETS[preset]
        self._dis = cv2.DISOpticalFlow_create(preset_id)
        if finest_scale is not None:
            self._dis.setFinestScale(finest_scale)

    def estimate(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        """(h, w) float32 [0, 1] twice -> (h, w, 2) float32 px: next[y, x] ~ prev[(y, x) + flow]."""
        if prev.shape != next.shape:
            raise ValueError(f"frames differ in size: {prev.shape} vs {next.shape}")
        # DIS(I0, I1) gives f with I0(x) ~ I1(x + f(x)); I0 = next makes it the backward flow.
        return self._dis.calc(to_uint8(next), to_uint8(prev), None)


def load_flow(preset: str = "fast") -> FlowEstimator:
    """The flow estimator for a preset name (only DIS today; GPU flow can slot in here later)."""
    return DISFlow(preset)
