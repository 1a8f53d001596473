"""Colour hints for `vidcolor run --hint X,Y,COLOR`: points whose colour the user knows.

    hint = parse_hint("120,80,#c0392b")            # Hint(x=120, y=80, rgb=(192, 57, 43))
    check_hints(hints, style, weights, backend, width=640, height=480)   # before anything runs
    planes = hint_planes(hints, (480, 640), (256, 352))                  # (3, 256, 352) model input

Every hint becomes a 3x3 px square at model resolution (as in the held-out evaluation,
``vidcolor.train.hints.hint_points``) of the colour's Lab a/b / AB_RANGE, with mask 1; the
generator's hint branch spreads it over the region that looks like it. The same planes go with
every frame of a film, so a point suits a fixed camera, a title card or a single shot. Only
generators with a hint branch take them (the shipped natural weights do), on the torch backend:
the ONNX and TensorRT exports have no hint input, and the branch's per-picture gather of the
hinted pixels is not a static-shape graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vidcolor.errors import BackendError, StyleError, VidcolorError
from vidcolor.styles import StyleSpec

HINT_PATCH = 3  # px of the square each hint covers at model resolution (odd)
EXPORTED_BACKENDS = ("onnxruntime", "tensorrt")  # their graphs have no hint input; auto means torch with hints


class HintError(VidcolorError):
    """A --hint that cannot be read or falls outside the picture, or a --reference that cannot be used."""


@dataclass(frozen=True)
class Hint:
    x: int  # px from the picture's left edge, 0-based (rotation and EXIF orientation applied, as a viewer shows it)
    y: int  # px from the picture's top edge, 0-based
    rgb: tuple[int, int, int]  # the known colour, sRGB 0..255; only its hue and saturation count (the brightness stays the picture's)

    def __str__(self) -> str:
        """The canonical text, ``X,Y,#rrggbb``: what parse_hint reads back, and what keys a run's work folder."""
        return f"{self.x},{self.y},#" + "".join(f"{c:02x}" for c in self.rgb)


def parse_hint(text: str) -> Hint:
    """``"X,Y,COLOR"`` -> Hint. COLOR is ``#rrggbb``, ``#rgb``, a CSS colour name (``crimson``) or
    anything else PIL.ImageColor reads (``rgb(200,30,40)``). HintError naming the mistake."""
    from PIL import ImageColor

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
    return Hint(int(x), int(y), tuple(rgb))


def check_hints(hints: tuple[Hint, ...], style: StyleSpec, weights: Path | None, backend: str,
                width: int, height: int, styles_dir: Path | None = None) -> None:
    """VidcolorError unless ``hints`` can colour a ``width`` x ``height`` px picture with ``style``,
    these weights (None: the shipped ones) and ``backend``. Reads a weights header at most."""
    if not hints:
        return
    check_hint_support(style, weights, backend, styles_dir)
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise HintError(f"--hint {hint}: the point is outside the picture, which is {width}x{height} px",
                            f"x goes from 0 to {width - 1} and y from 0 to {height - 1}, from the top-left corner")


def check_hint_support(style: StyleSpec, weights: Path | None, backend: str, styles_dir: Path | None = None,
                       option: str = "--hint") -> None:
    """VidcolorError unless hints (``option``: --hint or --reference, for the message) can go with
    ``style``, these weights and ``backend``, whatever the picture."""
    if style.mode != "colorize":
        raise StyleError(f"{option} gives colours to the natural colourization; {style.name!r} paints its own palette",
                         f"use --style natural with {option}, or leave {option} out")
    check_hint_backend(backend, option)
    from vidcolor.blend import blend_weights_file, parse_blend
    from vidcolor.models.checkpoint import read_header

    path = blend_weights_file(parse_blend(style.name, styles_dir), weights, styles_dir)
    if not read_header(path)["config"].get("hint_branch"):
        raise StyleError(f"{path.name} has no hint branch, so it cannot take {option} colours",
                         f"leave --weights out (the shipped natural weights take hints), or leave {option} out")


def check_hint_backend(backend: str, option: str = "--hint") -> None:
    """BackendError when ``backend`` (a --backend value) cannot take hints: only torch does."""
    if backend in EXPORTED_BACKENDS:
        raise BackendError(f"{option} runs on the torch backend only: the {backend} export has no hint input",
                           "leave --backend out (auto picks torch when there are hints) or pass --backend torch")


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


class HintedGenerator(nn.Module):
    """A colourizing style of a Generator with known colours: (N, 1, h, w) luma [0,1] -> (N, 2, h, w) Lab a/b.

    ``planes`` (3, h, w) from ``hint_planes`` go with every frame; a buffer, so they move to the
    backend's device and dtype with the module. ``reference`` (vidcolor.reference): a colour picture
    matched to each frame by optical flow, whose colours become that frame's hints wherever the
    match holds; a --hint point wins where both fall."""

    def __init__(self, generator: nn.Module, style: int, planes: torch.Tensor, reference=None) -> None:
        super().__init__()
        if not getattr(generator.config, "hint_branch", False):
            raise StyleError("these weights have no hint branch, so they cannot take --hint colours", "leave --hint out")
        self.generator, self.style, self.reference = generator, style, reference
        self.register_buffer("hints", planes[None].float().clone())
        self.mode, self.out_channels = "colorize", 2
        self.flow = None  # made on first use: an OpenCV object cannot be deep-copied with the module
        self.train(generator.training)

    def frame_hints(self, luma: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) luma -> (N, 3, h, w) hints: the fixed planes, over each frame's reference hints."""
        hints = self.hints.expand(luma.shape[0], -1, -1, -1).to(luma.dtype)
        if self.reference is None:
            return hints
        from vidcolor.flow import load_flow
        from vidcolor.reference import reference_hints

        if self.flow is None:
            self.flow = load_flow("medium")  # the reference can be many frames away: the finer DIS preset
        frames = luma[:, 0].detach().float().cpu().numpy()
        matched = torch.stack([reference_hints(self.reference, f, self.flow) for f in frames]).to(luma.device, luma.dtype)
        return torch.where(hints[:, 2:] > 0, hints, matched)

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        return self.generator(luma, self.style, hints=self.frame_hints(luma), mode="colorize")
