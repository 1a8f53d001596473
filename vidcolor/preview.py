"""`vidcolor preview FILM`: frames spread across a film, in every style, on one labelled sheet.

    frame_times -> gallery.frame_at (a seek, then at most one GOP decoded: never the whole film)
    -> gallery.style_frame per style (the model, merge and black borders of a run)
    -> sheet.compose_sheet (a row per frame: original, then each style) -> PNG, written atomically

Frames are first shrunk to twice the sheet's tile height, so a 4K film previews as fast as a
480p one; that is still above the model's height, so the model sees what a run would show it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcolor.backends.base import default_threads
from vidcolor.color import model_size
from vidcolor.errors import OutputError, VidcolorError
from vidcolor.gallery import Still, frame_at, grey_frame, sheet_styles, style_frame
from vidcolor.files import write_atomically
from vidcolor.pipeline import check_output_path, torch_threads
from vidcolor.sheet import compose_sheet
from vidcolor.blend import lookup_style
from vidcolor.video.reader import probe

MAX_FRAMES = 60  # more than this is no longer a preview


@dataclass(frozen=True)
class PreviewOptions:
    input: Path  # the film; never modified
    output: Path  # the PNG sheet to write
    styles: tuple[str, ...] | None = None  # None: every style that has weights
    frames: int = 6  # how many moments of the film, evenly spread
    # torch: a few frames do not repay an ONNX export or an engine build (2.8 s vs 21 s cold on 2 CPU cores)
    backend: str = "torch"  # auto | torch | onnxruntime | tensorrt
    device: str = "auto"  # auto | cpu | cuda
    model_height: int = 256  # model input height in px (multiple of 32), as for `run`
    weights: Path | None = None  # a checkpoint instead of the shipped weights
    engine_dir: Path | None = None  # where compiled engines are cached
    overwrite: bool = False  # replace an existing sheet
    tile_height: int = 180  # height in px of each picture on the sheet
    strength: float = 1.0  # painting styles at this strength (1 = full style, 0 = natural colourization); natural as it is


@dataclass(frozen=True)
class PreviewSummary:
    output: Path  # the sheet written
    times: tuple[float, ...]  # seconds into the film of each row
    styles: tuple[str, ...]  # the style of each column after the original
    seconds: float  # wall time, probing included

    def line(self) -> str:
        return f"{len(self.times)} frames x {len(self.styles)} styles in {self.seconds:.1f} s -> {self.output}"


def frame_times(duration: float, count: int) -> list[float]:
    """``count`` moments (seconds) evenly spread over a film of ``duration`` s: the centres of equal parts."""
    if count < 1 or duration <= 0:
        raise ValueError(f"need count >= 1 and a positive duration, got {count}, {duration}")
    return [(i + 0.5) * duration / count for i in range(count)]


def clock(seconds: float) -> str:
    """12.34 -> "0:12.3"; 3723.0 -> "1:02:03.0"."""
    minutes, tenths = divmod(round(max(0.0, seconds) * 10), 600)  # rounded first: 599.96 is 10:00.0, not 9:60.0
    hours, minutes = divmod(minutes, 60)
    secs = f"{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"


def shrink(y: np.ndarray, height: int) -> np.ndarray:
    """Luma code values (H, W) -> at most ``height`` rows high (aspect kept, area-resized); even sizes."""
    h, w = y.shape
    if h <= height:
        return y
    width = max(2, round(w * height / h / 2) * 2)
    return cv2.resize(y, (width, height - height % 2), interpolation=cv2.INTER_AREA)


def preview(options: PreviewOptions) -> PreviewSummary:
    """Write the sheet ``options.output``; see the module docstring. Everything is checked first."""
    from vidcolor.backends import load_backend  # looked up at call time: tests swap it

    start = time.perf_counter()
    specs = [lookup_style(name) for name in (options.styles or sheet_styles(options.weights))]  # your styles too
    if not 0.0 <= options.strength <= 1.0:
        raise VidcolorError(f"--strength must be between 0 and 1, got {options.strength}", "1 is the full style, 0 the natural colourization")
    if not 1 <= options.frames <= MAX_FRAMES:
        raise VidcolorError(f"--frames must be between 1 and {MAX_FRAMES}, got {options.frames}")
    if options.model_height <= 0 or options.model_height % 32:
        raise VidcolorError(f"--model-height must be a positive multiple of 32, got {options.model_height}")
    info = probe(options.input)
    check_sheet_path(Path(options.input), Path(options.output), options.overwrite)
    duration = info.end_time or (info.frame_count / float(info.average_rate) if info.average_rate else 0.0)
    times = frame_times(duration, options.frames) if duration > 0 else [0.0]

    stills = [Still(shrink(frame_at(info, t), 2 * options.tile_height), info.bit_depth, info.full_range, info.matrix) for t in times]
    height = stills[0].luma.shape[0]
    size = model_size(*stills[0].luma.shape, options.model_height)
    columns = [[grey_frame(still) for still in stills]]
    with torch_threads(default_threads()):  # as in a run: 3.2-4.2 s against 3.4-7.4 s with 2 threads on 2 busy cores
        for spec in specs:
            strength = options.strength if spec.mode == "stylize" else 1.0
            with load_backend(options.backend, spec.name, *size, 1, options.device, options.weights, options.engine_dir, strength=strength) as net:
                columns.append([style_frame(still, spec, net, size) for still in stills])

    labels = ["original"] + [spec.name if spec.mode != "stylize" or options.strength == 1 else f"{spec.name} {options.strength:g}" for spec in specs]
    tiles = [(f"{clock(t)}  {labels[0]}" if c == 0 else labels[c], columns[c][r])
             for r, t in enumerate(times) for c in range(len(columns))]
    sheet = compose_sheet(tiles, columns=len(columns), tile_height=min(options.tile_height, height))
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover - OpenCV always has PNG
        raise OutputError(f"could not encode the sheet {options.output}")
    write_atomically(options.output, png.tobytes())
    return PreviewSummary(Path(options.output), tuple(times), tuple(s.name for s in specs), time.perf_counter() - start)


def check_sheet_path(source: Path, target: Path, overwrite: bool) -> None:
    """OutputError unless ``target`` is a .png vidcolor may write (never the film itself)."""
    if target.suffix.lower() != ".png":
        raise OutputError(f"the preview is a PNG sheet, got {target.name}", "give a name ending in .png")
    if target.exists() and os.path.samefile(source, target):
        raise OutputError(f"the output would overwrite the input: {target}", "choose another --output")
    check_output_path(target, overwrite)
