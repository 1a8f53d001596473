"""vidcolor: colourize and stylize black-and-white film.

    import vidcolor
    summary = vidcolor.run_video(vidcolor.RunOptions(input=Path("film.mp4"), output=Path("film.natural.mp4")))

The names below are imported on first use, so `import vidcolor` (and `vidcolor --help`) stays
fast: torch and PyAV load only when a function that needs them is called.
"""
from __future__ import annotations

from importlib import import_module

from vidcolor.errors import VidcolorError
from vidcolor.options import EncodeOptions, EngineSpec, RunOptions, TemporalOptions
from vidcolor.styles import STYLES, available_styles, get_style

__version__ = "0.1.0"

_LAZY = {
    "run_video": "vidcolor.pipeline",
    "RunSummary": "vidcolor.pipeline",
    "run_image": "vidcolor.image",
    "ImageSummary": "vidcolor.image",
    "probe": "vidcolor.video.reader",
    "load_backend": "vidcolor.backends",
    "available_backends": "vidcolor.backends",
    "load_generator": "vidcolor.models.checkpoint",
    "evaluate_videos": "vidcolor.metrics",
}

__all__ = [
    "VidcolorError", "EncodeOptions", "EngineSpec", "RunOptions", "TemporalOptions",
    "STYLES", "available_styles", "get_style", "__version__", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidcolor' has no attribute {name!r}")
