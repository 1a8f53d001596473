"""`vidcolor styles --sheet`: one frame of a film (or a photo) in every available style, labelled, in one PNG.

    read_still(film, seconds) -> style_frame(...) per style (model, merge, black borders, as in a
    run) -> vidcolor.sheet.compose_sheet -> PNG

No temporal step: one frame has no past.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vidcolor.borders import black_threshold, detect_border, keep_border_black
from vidcolor.color import model_size, to_model_input
from vidcolor.errors import InputError, StyleError
from vidcolor.image import planes_to_rgb
from vidcolor.pipeline import convert_depth, merge_natural, merge_stylized
from vidcolor.sheet import check_png_path, compose_sheet, save_png
from vidcolor.styles import STYLES, StyleSpec
from vidcolor.video.reader import VideoInfo, luma_plane, probe
from vidcolor.video.writer import PlaneFormat

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"  # in a checkout; not in a wheel
DEFAULT_FILM = "Winter_Scenes_in_Holland.mp4"


def default_film() -> Path:
    """The shipped sample film the sheet uses when no --frame is given; InputError if absent."""
    path = SAMPLES_DIR / DEFAULT_FILM
    if not path.is_file():
        raise InputError(f"the sample film {DEFAULT_FILM} is not installed here", "pass --frame FILM with a film of your own")
    return path


def sheet_styles(weights: Path | None = None, styles_dir: Path | None = None) -> list[str]:
    """The styles a sheet shows, in table order: those with weights (the checkpoint's, if given),
    then the user's own styles (vidcolor.userstyles) that run on them."""
    from vidcolor.models.checkpoint import header_styles, read_header, usable_styles
    from vidcolor.userstyles import list_user_styles

    if weights is None:
        return usable_styles(styles_dir)
    held, sha = header_styles(weights), read_header(weights).get("sha256")
    return [name for name in STYLES if name in held] + [s.name for s in list_user_styles(styles_dir) if s.base_sha256 == sha]


def frame_at(info: VideoInfo, seconds: float | None = None) -> np.ndarray:
    """The luma (H, W) code values of the first frame at or after ``seconds`` (None: the middle).

    Seeks to the key frame before it and decodes forward; rotation is applied. InputError when
    the film ends before ``seconds``.
    """
    if seconds is None:
        seconds = (info.end_time or 0.0) / 2
    if seconds < min(0.0, info.start_time):  # a film may start before 0 (an edit list)
        raise InputError(f"--at must be 0 or more seconds, got {seconds}")
    with av.open(str(info.path)) as container:
        stream = container.streams[info.stream_index]
        if seconds > 0:
            container.seek(int(seconds / info.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.pts is not None and float(frame.pts * info.time_base) >= seconds - 1e-6:  # 0.2 s is not exact in binary
                return luma_plane(frame, info.rotation)
    if last is not None:  # within the last frame's duration (the header's end time, where the frame rate is not known)
        end = float(last.pts * info.time_base) + 1 / float(info.average_rate) if last.pts is not None and info.average_rate else info.end_time
        if seconds < (end or 0.0) + 1e-6:
            return luma_plane(last, info.rotation)
    raise InputError(f"{info.path.name} ends before {seconds:g} s", f"choose --at below {info.end_time or 0:g}")


@dataclass(frozen=True)
class Still:
    """One picture to show in every style."""

    luma: np.ndarray  # (H, W) code values, rotation / orientation applied
    bit_depth: int  # bits per sample of ``luma``
    full_range: bool  # code values span 0..2**bits-1 (photos; JPEG-range video)
    matrix: str  # "bt709" | "bt601": how the film's colour would be written


def read_still(path: Path, seconds: float | None = None) -> Still:
    """A photo, or the frame of a film at ``seconds`` (``frame_at``); InputError when unusable."""
    from vidcolor.image import is_image_path, read_image

    if is_image_path(path):
        picture = read_image(path)
        return Still(picture.luma, picture.bit_depth, True, "bt709")
    info = probe(path)
    return Still(frame_at(info, seconds), info.bit_depth, info.full_range, info.matrix)


def style_frame(still: Still, style: StyleSpec, backend, size: tuple[int, int]) -> np.ndarray:
    """The picture as a run would write it, in RGB: (H, W) luma -> (H, W, 3) uint8.

    ``backend`` runs the model at ``size`` (h, w); the merge (into 8-bit 4:4:4 planes) and the
    black borders are the pipeline's, the border detected on this picture alone.
    """
    y, depth = still.luma, still.bit_depth
    height, width = y.shape
    fmt = PlaneFormat("yuv444p", width, height, width, height, 8, still.matrix, still.full_range)
    luma = to_model_input(y, size, depth, still.full_range)
    output = backend.infer(luma[None, None])[0]
    merge = merge_natural if style.mode == "colorize" else merge_stylized
    planes = merge(y, luma, output, fmt, depth)
    border = detect_border(y, black_threshold(depth, still.full_range))
    planes = keep_border_black(planes, convert_depth(y, depth, 8), border, 8)
    return planes_to_rgb(*planes, 8, still.full_range, still.matrix)


def grey_frame(still: Still) -> np.ndarray:
    """The picture itself, in RGB: (H, W) luma -> (H, W, 3) uint8."""
    y = convert_depth(still.luma, still.bit_depth, 8)
    neutral = np.full_like(y, 128)
    return planes_to_rgb(y, neutral, neutral, 8, still.full_range, still.matrix)


def style_sheet(
    output: Path, film: Path | None = None, seconds: float | None = None, styles: list[str] | None = None,
    weights: Path | None = None, backend: str = "torch", device: str = "cpu", model_height: int = 256,
    tile_height: int = 240, styles_dir: Path | None = None,
) -> Path:
    """Write ``output`` (PNG): the grey picture, then the picture in each style, labelled.

    ``film`` is a video (its frame at ``seconds``, default the middle) or a photo; None: the
    sample film. ``styles`` (styles or blends) default to ``sheet_styles(weights, styles_dir)``.
    Returns the path written.
    """
    from vidcolor.backends import load_backend
    from vidcolor.blend import resolve_style

    check_png_path(output)
    names = styles if styles is not None else sheet_styles(weights, styles_dir)
    specs = [resolve_style(name, weights, styles_dir) for name in names]
    if not specs:
        raise StyleError("no style has weights to show", "train one with vidcolor train, or pass --weights")
    still = read_still(film if film is not None else default_film(), seconds)
    size = model_size(*still.luma.shape, model_height)
    tiles = [("source", grey_frame(still))]
    for spec in specs:
        with load_backend(backend, spec.name, *size, 1, device, weights, styles_dir=styles_dir) as net:
            tiles.append((spec.name, style_frame(still, spec, net, size)))
    columns = min(len(tiles), 4)
    return save_png(output, compose_sheet(tiles, columns=columns, tile_height=min(tile_height, still.luma.shape[0])))
