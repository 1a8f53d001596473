"""Colour hints for `vidcolor run --hint X,Y,COLOR`: points whose colour the user knows.

    hint = parse_hint("120,80,#c0392b")            # Hint(x=120, y=80, rgb=(192, 57, 43))
    check_hints(hints, style, weights, width=640, height=480)   # before anything runs
    planes = hint_planes(hints, (480, 640), (256, 352))                  # (3, 256, 352) model input
    source = HintSource(planes, references)        # each frame's hints: the planes over a reference's
    backend = HintedBackend(inner, source)         # inner runs HintGraph: (luma, hints) -> a/b

Every hint becomes a 3x3 px square at model resolution (as in the held-out evaluation,
``vidcolor.train.hints.hint_points``) of the colour's Lab a/b / AB_RANGE, with mask 1; the
generator's hint branch spreads it over the region that looks like it. The same planes go with
every frame of a film, so a point suits a fixed camera, a title card or a single shot. Only
generators with a hint branch take them (the shipped natural weights do). Every backend runs them:
the ONNX and TensorRT exports of ``HintGraph`` take a second input, ``hints``, and gather a fixed
number of hinted pixels (``HintSource.capacity``), so their graph stays static.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidcolor.errors import StyleError, VidcolorError
from vidcolor.styles import StyleSpec

HINT_PATCH = 3  # px of the square each hint covers at model resolution (odd)
CAPACITY_STEP = 64  # a static graph's hint capacity is rounded up to this, so that runs with a few more or fewer hints share an export


class HintError(VidcolorError):
    """A --hint that cannot be read or falls outside the picture, or a --reference that cannot be used."""


@dataclass(frozen=True)
class Hint:
    x: int  # px from the picture's left edge, 0-based (rotation and EXIF orientation applied, as a viewer shows it)
    y: int  # px from the picture's top edge, 0-based
    rgb: tuple[int, int, int]  # the known colour, sRGB 0..255; only its hue and saturation count (the brightness stays the picture's)
    at: float | None = None  # a film's moment (s) whose frame the point is on; None: every frame (a fixed camera, a title card)

    def __str__(self) -> str:
        """The canonical text, ``X,Y,#rrggbb`` (``@SECONDS`` when tied to a moment): what parse_hint
        reads back, and what keys a run's work folder."""
        text = f"{self.x},{self.y},#" + "".join(f"{c:02x}" for c in self.rgb)
        return text if self.at is None else f"{text}@{self.at:.10g}"


def parse_hint(text: str) -> Hint:
    """``"X,Y,COLOR"`` or ``"X,Y,COLOR@TIME"`` -> Hint. COLOR is ``#rrggbb``, ``#rgb``, a CSS colour
    name (``crimson``) or anything else PIL.ImageColor reads (``rgb(200,30,40)``); TIME (a film's
    frame the point is on) is seconds or [H:]M:SS, as a player shows it. HintError naming the mistake."""
    from PIL import ImageColor

    text, tied, moment = text.partition("@")
    at = parse_moment(moment.strip(), text) if tied else None
    parts = [p.strip() for p in text.split(",", 2)]
    example = "e.g. --hint 120,80,#c0392b (x and y in px from the top-left corner, then a colour)"
    if len(parts) != 3 or not all(parts):
        raise HintError(f"--hint {text!r} is not X,Y,COLOR", example)
    x, y, colour = parts
    for name, value in (("x", x), ("y", y)):
        if not value.isdigit():
            raise HintError(f"--hint {text!r}: {name} must be a whole number of pixels from 0, got {value!r}", example)
    try:
        rgb = ImageColor.getcolor(colour, "RGB")
    except ValueError:
        raise HintError(f"--hint {text!r}: unknown colour {colour!r}",
                        "give #rrggbb, #rgb or a CSS colour name such as red, navy or darkolivegreen") from None
    return Hint(int(x), int(y), tuple(rgb), at)


def parse_moment(text: str, hint: str) -> float:
    """A moment of a film, ``"12.5"`` (seconds), ``"1:02.5"`` or ``"1:00:02"`` -> seconds (float, >= 0).
    HintError naming the mistake (``hint``: the --hint's text before the @, for the message)."""
    fields = text.split(":")
    try:
        if not text or len(fields) > 3 or any(not f or f[0] in "+-" for f in fields):
            raise ValueError
        seconds = float(fields[-1])
        minutes = [int(f) for f in fields[:-1]]  # H, M or M
        if not 0 <= seconds < float("inf") or (minutes and seconds >= 60) or (len(minutes) == 2 and minutes[1] >= 60):
            raise ValueError
    except ValueError:
        raise HintError(f"--hint {hint}@{text}: {text!r} is not a moment of the film",
                        "give the time of the frame the point is on, in seconds (12.5) or as M:SS (1:02.5)") from None
    return sum(v * 60 ** (len(minutes) - i) for i, v in enumerate(minutes)) + seconds


def check_hints(hints: tuple[Hint, ...], style: StyleSpec, weights: Path | None,
                width: int, height: int, styles_dir: Path | None = None, duration: float | None = None) -> None:
    """VidcolorError unless ``hints`` can colour a ``width`` x ``height`` px picture with ``style``,
    and these weights (None: the shipped ones). ``duration``: a film's length in seconds (inf:
    unknown), which a point's moment must fall in; None: a photo, whose points have no moment.
    Reads a weights header at most."""
    if not hints:
        return
    check_hint_support(style, weights, styles_dir)
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise HintError(f"--hint {hint}: the point is outside the picture, which is {width}x{height} px",
                            f"x goes from 0 to {width - 1} and y from 0 to {height - 1}, from the top-left corner")
        if hint.at is not None and duration is None:
            raise HintError(f"--hint {hint}: a photo has no moment to tie the point to",
                            f"leave @{hint.at:g} out: the point is on the photo")
        if hint.at is not None and hint.at >= duration:
            raise HintError(f"--hint {hint}: the film is {duration:.2f} s long, so it has no frame at {hint.at:g} s",
                            "give the time of the frame the point is on, as a player shows it")


def check_hint_support(style: StyleSpec, weights: Path | None, styles_dir: Path | None = None,
                       option: str = "--hint") -> None:
    """VidcolorError unless hints (``option``: --hint or --reference, for the message) can go with
    ``style`` and these weights, whatever the picture (every backend takes them)."""
    if style.mode != "colorize":
        raise StyleError(f"{option} gives colours to the natural colourization; {style.name!r} paints its own palette",
                         f"use --style natural with {option}, or leave {option} out")
    from vidcolor.blend import blend_weights_file, parse_blend
    from vidcolor.models.checkpoint import read_header

    path = blend_weights_file(parse_blend(style.name, styles_dir), weights, styles_dir)
    if not read_header(path)["config"].get("hint_branch"):
        raise StyleError(f"{path.name} has no hint branch, so it cannot take {option} colours",
                         f"leave --weights out (the shipped natural weights take hints), or leave {option} out")


def hint_planes(hints: tuple[Hint, ...], picture: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Hints on a ``picture`` (H, W) px -> the generator's hint input at model ``size`` (h, w):
    (3, h, w) float32, planes 0-1 the hint a/b / AB_RANGE, plane 2 the 0/1 mask. A point at
    picture pixel (x, y) is centred on model pixel (floor((x + 0.5) w / W), floor((y + 0.5) h / H));
    where squares overlap, the later hint wins."""
    from vidcolor.color import rgb_to_lab
    from vidcolor.models.generator import HINT_CHANNELS
    from vidcolor.train.hints import hint_points

    (height, width), (h, w) = picture, size
    planes = torch.zeros(HINT_CHANNELS, h, w)
    for hint in hints:
        rgb = torch.tensor(hint.rgb, dtype=torch.float32).view(3, 1, 1) / 255
        ab = rgb_to_lab(rgb)[1:]  # (2, 1, 1) Lab a/b
        point = (min(h - 1, int((hint.y + 0.5) * h / height)), min(w - 1, int((hint.x + 0.5) * w / width)))
        square = hint_points(ab.expand(2, h, w), [point], HINT_PATCH)  # divides by AB_RANGE
        planes = torch.where(square[2:] > 0, square, planes)
    return planes


class HintGraph(nn.Module):
    """A colourizing style of a Generator with a hint input: (N, 1, h, w) luma [0,1] and (N, 3, h, w)
    hints -> (N, 2, h, w) Lab a/b. ``capacity``: hinted model pixels per frame the graph gathers, fixed
    for an ONNX or TensorRT export (``HintSource.capacity``); None gathers what each batch has (torch)."""

    def __init__(self, generator: nn.Module, style: int, capacity: int | None = None) -> None:
        super().__init__()
        if not getattr(generator.config, "hint_branch", False):
            raise StyleError("these weights have no hint branch, so they cannot take --hint colours", "leave --hint out")
        self.generator, self.style, self.hint_capacity = generator, style, capacity
        self.mode, self.out_channels = "colorize", 2
        self.train(generator.training)

    def forward(self, luma: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
        return self.generator(luma, self.style, hints=hints, mode="colorize", hint_capacity=self.hint_capacity)


class HintSource:
    """The hints each frame gets: ``planes`` (3, h, w) from ``hint_planes`` with every frame, over the
    hints the best-matching of ``references`` (vidcolor.reference.Reference; none: no such hints)
    gives that frame where it matches; a --hint point wins where both fall. With ``carry``, frames are
    taken as a film in order: each is also matched to the colours the last matched frame got
    (vidcolor.reference.frame_colours), so they follow a pan or a drift; ``carried = None`` starts afresh.
    ``keyframes``: (luma (h, w), planes (3, h, w)) of the frames that --hint points are tied to
    (``Hint.at``); the HintedBackend colours each with its points and adds it to the references.

        hints = source(luma)        # (N, 1, h, w) float32 luma [0, 1] -> (N, 3, h, w) float32
    """

    def __init__(self, planes: torch.Tensor, references: tuple = (), carry: bool = True, keyframes: tuple = ()) -> None:
        self.planes = planes.float().numpy()
        self.references = tuple(references)
        self.keyframes = tuple((np.asarray(luma, np.float32), np.asarray(hints, np.float32)) for luma, hints in keyframes)
        self.flow = None  # made on first use
        self.carry = carry
        self.carried = None  # a Reference of the last matched frame (with its trust)

    @property
    def capacity(self) -> int:
        """The most hinted model pixels a frame can get, rounded up to ``CAPACITY_STEP``: the fixed
        pixels of the planes plus every grid point of one reference (a frame takes one), or a
        keyframe's own points if they are more."""
        from vidcolor.reference import max_reference_points

        count = int((self.planes[2] > 0).sum())
        if self.references or self.keyframes:
            count += max_reference_points(self.planes.shape[1:])
        count = max([count, *(int((hints[2] > 0).sum()) for _, hints in self.keyframes)])
        return max(1, -(-count // CAPACITY_STEP)) * CAPACITY_STEP

    def __call__(self, luma: np.ndarray) -> np.ndarray:
        return self.match(luma)[0]

    def match(self, luma: np.ndarray) -> tuple[np.ndarray, list]:
        """(N, 1, h, w) luma -> (the hints (N, 3, h, w), each frame's matched colours: a Reference of the
        frame with its trust, or None)."""
        hints = np.repeat(self.planes[None], luma.shape[0], axis=0)
        if not self.references:
            return hints, [None] * luma.shape[0]
        from vidcolor.flow import load_flow
        from vidcolor.reference import colour_hints, frame_colours

        if self.flow is None:
            self.flow = load_flow("medium")  # the reference can be many frames away: the finer DIS preset
        matched, found = [], []
        for frame in luma[:, 0]:
            colours = frame_colours(self.references, frame, self.flow, self.carried)
            if self.carry and colours is not None:
                self.carried = colours  # kept through frames that match nothing: the scene may come back
            matched.append(colour_hints(colours, frame.shape).numpy())
            found.append(colours)
        return np.where(hints[:, 2:] > 0, hints, np.stack(matched)).astype(np.float32), found


class HintedBackend:
    """A Backend whose graph (HintGraph) takes hints, each frame's from ``source``: ``infer(luma)`` as
    any Backend, so the pipeline does not know hints exist. A reference's colours go in twice: as grid
    hints, which the hint branch spreads, and laid over the output where the frame matches them. With a
    reference, the next chunk's hints (two to six optical flows a frame) are made on a worker thread
    while the model runs this chunk (the backend's ``model_batch`` frames; OpenCV and the backends
    release the GIL)."""

    def __init__(self, backend, source: HintSource) -> None:
        self.backend, self.source = backend, source
        self.name, self.batch = backend.name, backend.batch
        self._pool = None  # made on first use
        source.references += tuple(coloured_reference(backend, luma, hints) for luma, hints in source.keyframes)
        source.keyframes = ()

    def infer(self, luma: np.ndarray) -> np.ndarray:
        """(N, 1, h, w) float32 luma [0, 1] -> (N, 2, h, w) float32 Lab a/b: the model's, with a
        reference's matched colours laid over it where the match holds (vidcolor.reference.lay_over)."""
        from vidcolor.reference import lay_over

        step = getattr(self.backend, "model_batch", len(luma))
        if not self.source.references or len(luma) <= step:
            hints, found = self.source.match(luma)
            return lay_over(self.backend.infer(luma, hints), found)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vidcolor-hints")
        chunks = [luma[i:i + step] for i in range(0, len(luma), step)]
        made = [self._pool.submit(self.source.match, chunk) for chunk in chunks]  # one worker: in order, one flow object
        outputs = []
        for chunk, future in zip(chunks, made):
            hints, found = future.result()
            outputs.append(lay_over(self.backend.infer(chunk, hints), found))
        return np.concatenate(outputs)

    def reset(self) -> None:
        """Forget the colours carried from frame to frame: the next frame starts a new pass (a film, or
        a segment of one, so that a segment comes out the same whatever ran before it)."""
        self.source.carried = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.backend.close()

    def __enter__(self) -> HintedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def coloured_reference(backend, luma: np.ndarray, hints: np.ndarray):
    """One frame coloured with its --hint points by ``backend`` (a hint graph's: ``infer(luma, hints)``),
    as a colour reference for the rest of the film: luma (h, w) float32 [0, 1] and hints (3, h, w)
    -> vidcolor.reference.Reference at model size (h, w), its colours marked as the model's guess (they
    are given as hints, not laid over the output: -0.22 dB on the wide calibration clips when they were)."""
    from vidcolor.reference import Reference

    ab = backend.infer(luma[None, None], hints[None])[0]
    return Reference(luma, np.asarray(ab, np.float32), known=False)
