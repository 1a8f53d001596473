"""Black stays black: letterbox, pillarbox and other constant black borders.

The network sees the bars too and paints them (``ukiyoe`` turns them into mottled panels), so the
merge puts them back: inside the border the output is the source's own luma (its black level,
and anything burned into the bars, e.g. subtitles) with neutral chroma, in every style.

The border is decided once per SHOT, not per frame, so its edge cannot flicker:

- ``detect_border``: the black lines at each edge of one frame (pure);
- ``BorderTracker``: decides from the first frame of each shot that shows enough picture, and
  keeps that decision until a scene cut (``vidcolor.temporal.is_scene_cut``) or until the
  picture moves into the border (then the decision was wrong: it is made again);
- ``keep_border_black``: writes the border into the output planes (pure).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcolor.color import quantize_luma
from vidcolor.options import TemporalOptions
from vidcolor.temporal import is_scene_cut

# Luma (in [0, 1] of the black-to-white span) at or below which a pixel counts as black: digital
# bars are exactly black, scanned ones a few code values above it; film content rarely stays
# this dark across a whole line (8-bit limited range: code 29).
BLACK_TOLERANCE = 0.06
# A line is black when at most this share of its pixels is brighter (dust, noise, compression).
MAX_BRIGHT_SHARE = 0.02
# A frame whose border would leave less picture than this share of its height or width (a black
# frame, a fade) cannot tell where the bars are: it is kept black on its own, undecided.
MIN_PICTURE_SHARE = 0.25
# A decided border in which this share of one side's pixels turns bright held picture: decide again.
MAX_BRIGHT_IN_BORDER = 0.2


@dataclass(frozen=True)
class Border:
    """Black lines at each edge of a frame, in px of the full-resolution luma plane."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __bool__(self) -> bool:
        return any((self.top, self.bottom, self.left, self.right))

    def regions(self, height: int, width: int, scale: tuple[float, float] = (1.0, 1.0)) -> list[tuple[slice, slice]]:
        """(rows, cols) slices of the border sides on a (height, width) plane.

        ``scale`` (sy, sx) maps full-resolution lines to this plane (0.5 for 4:2:0 chroma); a
        partly covered line counts as border, so no chroma sample straddling the edge keeps colour.
        """
        sy, sx = scale
        top, bottom = int(np.ceil(self.top * sy)), int(np.ceil(self.bottom * sy))
        left, right = int(np.ceil(self.left * sx)), int(np.ceil(self.right * sx))
        sides = [
            (slice(0, top), slice(0, width)),
            (slice(height - bottom, height), slice(0, width)),
            (slice(0, height), slice(0, left)),
            (slice(0, height), slice(width - right, width)),
        ]
        return [(r, c) for (r, c), n in zip(sides, (top, bottom, left, right)) if n > 0]


def black_threshold(bit_depth: int = 8, full_range: bool = False, tolerance: float = BLACK_TOLERANCE) -> int:
    """Code value at or below which a luma sample counts as black, for this depth and range."""
    return int(quantize_luma(np.array(tolerance), bit_depth, full_range))


def _dark_run(bright_share: np.ndarray) -> tuple[int, int]:
    """Leading and trailing counts of lines whose bright share is at most MAX_BRIGHT_SHARE."""
    dark = bright_share <= MAX_BRIGHT_SHARE
    if dark.all():
        return len(dark), 0
    return int(np.argmin(dark)), int(np.argmin(dark[::-1]))


def detect_border(y: np.ndarray, threshold: int) -> Border:
    """The black border of one frame: the rows and columns at its edges that are (almost) all black.

    y: (H, W) luma code values (uint8/uint16). threshold: the highest code value that is black
    (``black_threshold``). A line is black when at most MAX_BRIGHT_SHARE of its pixels are above
    the threshold; columns are judged on the rows between the top and bottom bars (and rows on
    the columns between the side bars), so letterbox and pillarbox together (a windowbox) are
    found too. An all-black frame is Border(top=H). Returns line counts in px.
    """
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"detect_border needs a (H, W) luma plane, got shape {y.shape}")
    height, width = y.shape
    bright = y > threshold
    top, bottom = _dark_run(bright.mean(axis=1))
    if top == height:
        return Border(top=height)
    left, right = _dark_run(bright[top:height - bottom].mean(axis=0))
    top, bottom = _dark_run(bright[:, left:width - right].mean(axis=1))  # without the side bars' dilution
    return Border(top, bottom, left, right)


def shows_picture(border: Border, height: int, width: int) -> bool:
    """True when the border leaves at least MIN_PICTURE_SHARE of the height and of the width."""
    return (height - border.top - border.bottom >= MIN_PICTURE_SHARE * height
            and width - border.left - border.right >= MIN_PICTURE_SHARE * width)


def holds_picture(y: np.ndarray, border: Border, threshold: int) -> bool:
    """True when more than MAX_BRIGHT_IN_BORDER of some side of ``border`` is brighter than black."""
    return any(float(np.mean(y[rows, cols] > threshold)) > MAX_BRIGHT_IN_BORDER for rows, cols in border.regions(*y.shape))


class BorderTracker:
    """The border of each frame of a stream, decided once per shot; call once per frame, in order.

    ``tracker(y (H, W) source luma code values, luma (h, w) model input [0, 1]) -> Border``.
    A shot starts at the first frame and at every scene cut (the temporal step's test, on the
    model-resolution luma). Its border is detected on its first frame that shows enough picture
    (``shows_picture``); frames before that (black or fading in) get their own border, which
    keeps them black. The decision is made again, mid-shot, only if picture appears in it.
    """

    def __init__(self, threshold: int, cut_threshold: float = TemporalOptions().scene_cut_threshold) -> None:
        self.threshold = threshold
        self.cut_threshold = cut_threshold
        self.decisions = 0  # borders decided so far (one per shot, plus any made again)
        self._prev_luma: np.ndarray | None = None
        self._shot: Border | None = None

    def __call__(self, y: np.ndarray, luma: np.ndarray) -> Border:
        prev, self._prev_luma = self._prev_luma, luma
        if prev is None or prev.shape != luma.shape or is_scene_cut(prev, luma, self.cut_threshold):
            self._shot = None
        elif self._shot is not None and holds_picture(y, self._shot, self.threshold):
            self._shot = None
        if self._shot is not None:
            return self._shot
        border = detect_border(y, self.threshold)
        if shows_picture(border, *y.shape):
            self._shot = border
            self.decisions += 1
        return border


def keep_border_black(planes: tuple[np.ndarray, np.ndarray, np.ndarray], source_y: np.ndarray, border: Border,
                      bit_depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output Y, Cb, Cr planes with ``border`` set to the source luma and neutral chroma.

    planes: Y (H, W) and Cb, Cr (h, w) code values at ``bit_depth``; source_y: (H, W) the
    source's luma at the same depth. Returns new arrays (the inputs are not modified); the same
    planes when the border is empty.
    """
    if not border:
        return planes
    y, cb, cr = (p.copy() for p in planes)
    for rows, cols in border.regions(*y.shape):
        y[rows, cols] = source_y[rows, cols]
    scale = (cb.shape[0] / y.shape[0], cb.shape[1] / y.shape[1])
    for rows, cols in border.regions(*cb.shape, scale=scale):
        cb[rows, cols] = cr[rows, cols] = 1 << (bit_depth - 1)
    return y, cb, cr
