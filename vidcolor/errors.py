"""The only errors the CLI catches: each carries a one-line message and, where useful, a fix."""
from __future__ import annotations


class VidcolorError(Exception):
    """A problem the user can act on. ``hint`` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class InputError(VidcolorError):
    """The input file is missing, unreadable, not a video, or has no usable frames."""


class OutputError(VidcolorError):
    """The output path cannot be written, or already exists without --overwrite."""


class StyleError(VidcolorError):
    """An unknown style name, or a style without weights."""


class RecipeError(VidcolorError):
    """A training recipe with a bad value, a missing folder, or no usable images."""


class CheckpointError(VidcolorError):
    """A weights file that is missing, tampered with, or built for another architecture."""


class BackendError(VidcolorError):
    """A backend that is not installed or cannot run here (e.g. TensorRT without a GPU)."""


class CodecError(VidcolorError):
    """An output codec or pixel format this FFmpeg build cannot encode."""


class ClusterError(VidcolorError):
    """Ray is not installed, the cluster cannot be reached, or a node cannot see the input."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run that keeps finished work (a segmented film): ``message`` says what is kept."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
