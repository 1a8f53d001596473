"""`run_video`: decode -> model at a small fixed size -> temporal step -> merge -> encode.

Four threads with bounded queues between them, so the stages overlap and memory stays flat
however long the film is: decode (reader thread), model (the caller's thread, which does
nothing else), temporal step + merge (a finishing thread) and encode (writer thread).
Everything the user can get wrong is checked by `validate` before any file is created or any
model is loaded.
"""
from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from vidcolor.backends.base import default_threads
from vidcolor.borders import BorderTracker, black_threshold, keep_border_black
from vidcolor.color import chroma_planes, model_size, stylized_planes, to_model_input
from vidcolor.errors import InputError, OutputError, VidcolorError
from vidcolor.hints import HintError, check_hints, hint_planes
from vidcolor.reference import check_references
from vidcolor.options import RunOptions
from vidcolor.blend import check_strength, resolve_style
from vidcolor.styles import StyleSpec
from vidcolor.video.reader import LumaReader, VideoInfo, probe
from vidcolor.video.writer import PlaneFormat, VideoWriter, plan_output, remove_stale_temporaries

# stabilizer(model-res luma (h, w) [0,1], model output (C, h, w)) -> stabilized (C, h, w)
Stabilizer = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RunSummary:
    input: Path  # the source video
    output: Path  # the finished file
    style: str  # style name used
    backend: str  # backend that ran the model
    frames: int  # frames written (== frames decoded)
    skipped_frames: int  # frames lost to damage in the input
    seconds: float  # wall time of the decode/model/encode loop
    size: tuple[int, int]  # (width, height) of the output frames
    model_size: tuple[int, int]  # (height, width) the model ran at
    warnings: tuple[str, ...] = ()  # things the user should know (dropped streams, skipped frames)
    notes: tuple[str, ...] = ()  # what a resumed run kept or discarded (said at the start too)
    segments: int = 1  # segments the film was cut into (1: one pass, no work folder)
    kept_segments: int = 0  # segments finished by an earlier, interrupted run and kept

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the terminal: frames, time, speed, where the result is."""
        return f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} fps) -> {self.output}"


def run_video(options: RunOptions, backend=None, stabilizer: Stabilizer | None = None) -> RunSummary:
    """Colourize or stylize ``options.input`` into ``options.output``; see the module docstring.

    ``backend`` (anything with ``infer`` (N,1,h,w) -> (N,C,h,w)) and ``stabilizer`` are built
    from the options when not given; a given backend is not closed here. Films longer than one
    segment go through ``vidcolor.segments`` (resumable, parallel); shorter ones in one pass.
    """
    style, info, fmt = validate(options)
    remove_stale_temporaries(options.output)
    from vidcolor.segments import run_segments, wants_segments

    if wants_segments(options, info):
        return run_segments(options, style, info, fmt, backend, stabilizer)
    return run_single(options, style, info, fmt, backend, stabilizer)


def run_single(options: RunOptions, style: StyleSpec, info: VideoInfo, fmt: PlaneFormat, backend=None, stabilizer: Stabilizer | None = None) -> RunSummary:
    """The whole film in one pass, straight into the output (no work folder)."""
    size = model_size(info.height, info.width, options.model_height)
    with ExitStack() as stack:
        stack.enter_context(torch_threads(default_threads()))
        if backend is None:
            backend = stack.enter_context(_load_backend(options, style, size, (info.height, info.width), info=info))
        if stabilizer is None:
            stabilizer = make_stabilizer(options)
        start = time.perf_counter()
        advance = stack.enter_context(progress_bar(info.frame_count, options.quiet))
        reader, writer = colorize(options, style, info, fmt, backend, stabilizer, advance)
        seconds = time.perf_counter() - start  # the file is finished (flushed, renamed)
    warnings = list(writer.warnings)
    if reader.skipped:
        warnings.insert(0, f"{reader.skipped} damaged frame(s) could not be decoded and were skipped")
    return RunSummary(
        input=options.input, output=options.output, style=style.name, backend=getattr(backend, "name", type(backend).__name__),
        frames=writer.frames_written, skipped_frames=reader.skipped, seconds=seconds, size=(info.width, info.height),
        model_size=size, warnings=tuple(warnings),
    )


def colorize(
    options: RunOptions, style: StyleSpec, info: VideoInfo, fmt: PlaneFormat, backend, stabilizer: Stabilizer | None,
    advance: Callable[[], None], target: Path | None = None, window: tuple[int, int | None] | None = None, keep_from: int | None = None,
) -> tuple[LumaReader, VideoWriter]:
    """One pass of the loop: decode -> model -> temporal step -> merge -> encode into ``target``.

    Default: the whole input into ``options.output`` with its other streams. A segment passes
    ``window`` (first pts, end pts; see LumaReader) and ``keep_from``: frames before that pts are
    the warm-up, seen by the temporal step but not written; the file then holds the video alone.
    Returns the finished reader and writer (for their counts and warnings).
    """
    size = model_size(info.height, info.width, options.model_height)
    merge = merge_natural if style.mode == "colorize" else merge_stylized
    if hasattr(backend, "reset"):  # a hinted backend with a reference: its carried colours start afresh (vidcolor.hints)
        backend.reset()
    with ExitStack() as stack:
        reader = stack.enter_context(LumaReader(info, window=window))
        writer = stack.enter_context(VideoWriter(target or options.output, info, fmt, options.encode, copy_streams=window is None))

        borders = BorderTracker(black_threshold(info.bit_depth, info.full_range)) if options.black_borders else None

        def finish(frame, luma: np.ndarray, output: np.ndarray) -> None:
            if stabilizer is not None:
                output = stabilizer(luma, output)
            planes = merge(frame.y, luma, output, fmt, info.bit_depth)
            if borders is not None:  # per shot, so the bars' edge cannot flicker
                source_y = convert_depth(frame.y, info.bit_depth, fmt.bit_depth)
                planes = keep_border_black(planes, source_y, borders(frame.y, luma), fmt.bit_depth)
            if keep_from is not None and frame.pts < keep_from:
                return  # warm-up
            writer.write(*planes, frame.pts)
            advance()

        finisher = stack.enter_context(Worker(finish, name="vidcolor-merge"))
        for frames in batched(reader, min(options.batch, getattr(backend, "batch", options.batch))):
            lumas = np.stack([to_model_input(f.y, size, info.bit_depth, info.full_range) for f in frames])
            outputs = backend.infer(lumas[:, None])
            for frame, luma, output in zip(frames, lumas, outputs, strict=True):
                finisher.submit(frame, luma, output)
    return reader, writer


def make_stabilizer(options: RunOptions) -> Stabilizer | None:
    """The temporal step the options ask for (None: per-frame colour)."""
    if options.temporal is None:
        return None
    from vidcolor.temporal import TemporalStabilizer

    return TemporalStabilizer(options.temporal)


def validate(options: RunOptions) -> tuple[StyleSpec, VideoInfo, PlaneFormat]:
    """Check everything the user chose; raises a VidcolorError naming the problem. Creates nothing."""
    style = resolve_style(options.style, options.weights, options.styles_dir)  # a style, or a blend of styles of one generator
    check_strength(options.strength, style)
    if options.model_height <= 0 or options.model_height % 32:
        raise VidcolorError(f"--model-height must be a positive multiple of 32, got {options.model_height}")
    if options.batch < 1:
        raise VidcolorError(f"--batch must be at least 1, got {options.batch}")
    source, target = Path(options.input), Path(options.output)
    info = probe(source)  # input problems first: they are the likelier mistake
    check_hints(options.hints, style, options.weights, info.width, info.height, options.styles_dir, film_duration(info))
    check_references(options.references, style, options.weights, info.width, info.height, options.styles_dir)
    if target.resolve() == source.resolve() or (target.exists() and os.path.samefile(source, target)):
        raise OutputError(f"the output would overwrite the input: {target}", "choose another --output")
    check_output_path(target, options.overwrite)
    return style, info, plan_output(info, options.encode, target)


def film_duration(info: VideoInfo) -> float:
    """Seconds from the film's first frame to its end, as far as the header tells (inf: it does not)."""
    if info.end_time:
        return info.end_time - info.start_time
    return info.frame_count / float(info.average_rate) if info.average_rate and info.frame_count else float("inf")


def check_output_path(target: Path, overwrite: bool) -> None:
    """OutputError unless ``target`` can be written: folder exists and is writable, not a folder itself.

    Whether its extension names a container or image format is for the writer's plan to say
    (video.writer.plan_output, image.plan_image_output)."""
    folder = target.parent
    if target.is_dir():
        raise OutputError(f"the output is a folder: {target}", "give a file name, e.g. film.natural.mp4")
    if target.exists() and not overwrite:
        raise OutputError(f"output already exists: {target}", "pass --overwrite to replace it, or choose another --output")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}", "create it first, or choose another --output")
    try:  # os.access is not enough: root, read-only mounts and ACLs each say otherwise
        with tempfile.TemporaryFile(dir=folder, prefix=".vidcolor-check-"):
            pass
    except OSError as e:
        raise OutputError(f"cannot write in {folder}: {e.strerror}", "choose an --output in a folder you can write to") from None


def merge_natural(y: np.ndarray, luma: np.ndarray, ab: np.ndarray, fmt: PlaneFormat, source_depth: int) -> tuple[np.ndarray, ...]:
    """Source Y plane (H, W) kept as it is; Lab a/b (2, h, w) -> Cb, Cr at the output's chroma size."""
    cb, cr = chroma_planes(luma, ab, fmt.chroma_size, fmt.matrix, fmt.bit_depth, fmt.full_range)
    return convert_depth(y, source_depth, fmt.bit_depth), cb, cr


def merge_stylized(y: np.ndarray, luma: np.ndarray, rgb: np.ndarray, fmt: PlaneFormat, source_depth: int) -> tuple[np.ndarray, ...]:
    """Model RGB (3, h, w) [0,1] upsampled with the source's fine luma detail -> Y, Cb, Cr planes."""
    return stylized_planes(convert_depth(y, source_depth, fmt.bit_depth), rgb, fmt.chroma_size, fmt.matrix, fmt.bit_depth, fmt.full_range)


def convert_depth(y: np.ndarray, source: int, target: int) -> np.ndarray:
    """Code values (H, W) from ``source`` to ``target`` bits per sample (rounded; same array if equal)."""
    if source == target:
        return y
    dtype = np.uint8 if target <= 8 else np.uint16
    if target > source:
        return (y.astype(np.uint32) << (target - source)).astype(dtype)
    shift = source - target
    return np.minimum((y.astype(np.uint32) + (1 << (shift - 1))) >> shift, (1 << target) - 1).astype(dtype)


class Worker:
    """Calls ``fn(*item)`` for each submitted item, in order, on one thread of its own.

    At most ``depth`` items wait (memory stays flat). An error in ``fn`` is raised in the
    submitting thread by the next ``submit`` or on leaving the ``with`` block; leaving it because
    of an error (or Ctrl-C) drops the waiting items instead of finishing them.
    """

    _END = object()

    def __init__(self, fn: Callable[..., None], depth: int = 8, name: str = "vidcolor-worker") -> None:
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abort = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Worker:
        self._thread.start()
        return self

    def submit(self, *item: object) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        self._abort = exc_type is not None
        self._queue.put(self._END)  # never blocks for long: the thread keeps taking items until the end
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not self._END:
            if self._error is None and not self._abort:
                try:
                    self._fn(*item)
                except BaseException as e:  # handed to the submitting thread
                    self._error = e


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one may be shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextmanager
def _load_backend(options: RunOptions, style: StyleSpec, size: tuple[int, int], picture: tuple[int, int], video: bool = True,
                  info: VideoInfo | None = None) -> Iterator:
    """The backend the options ask for at model ``size`` (h, w), with the options' hints placed on
    a ``picture`` of (H, W) px and their reference picture at ``size``; closed on leaving. ``video``: decode at the weights' video default
    vividness (when the options give none and the weights have one). ``info``: the film, whose frames
    that hints are tied to (``Hint.at``) are read from it."""
    from vidcolor.backends import load_backend
    from vidcolor.reference import read_reference, reference_planes

    every = tuple(h for h in options.hints if h.at is None)
    backend = load_backend(
        options.backend, style.name, size[0], size[1], options.batch, options.device, options.weights, options.engine_dir,
        vividness=options.vividness, strength=options.strength, styles_dir=options.styles_dir,
        hints=hint_planes(every, picture, size) if every else None, video=video,
        references=tuple(reference_planes(read_reference(path), size) for path in options.references),
        keyframes=hint_keyframes(options.hints, info, size) if info is not None else (),
    )
    try:
        yield backend
    finally:
        backend.close()


def hint_keyframes(hints: tuple, info: VideoInfo, size: tuple[int, int]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The frames of the film ``info`` that --hint points are tied to (``Hint.at``, seconds from the first
    frame, as a player counts), one per moment: (its luma at model ``size`` (h, w) float32 [0, 1], the
    hint planes (3, h, w) of its points and of the points given to every frame)."""
    from vidcolor.gallery import frame_at

    every = tuple(h for h in hints if h.at is None)
    frames = []
    for at in sorted({h.at for h in hints if h.at is not None}):
        try:
            y = frame_at(info, info.start_time + at)
        except InputError:  # past the end, where the header's length was wrong
            tied = next(h for h in hints if h.at == at)
            raise HintError(f"--hint {tied}: {info.path.name} ends before {at:g} s",
                            "give the time of the frame the point is on, as a player shows it") from None
        luma = to_model_input(y, size, info.bit_depth, info.full_range)
        points = every + tuple(h for h in hints if h.at == at)
        frames.append((luma, hint_planes(points, (info.height, info.width), size).numpy()))
    return tuple(frames)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Limit torch's intra-op threads for the run, then restore them.

    The merge and temporal maths run on small tensors beside the decode and encode threads; on a
    2-core machine torch's spin-waiting OpenMP pool, given every core, made the whole loop 4 to 6
    times slower (docs/BENCHMARKS.md, Pipeline).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def say(text: str, quiet: bool) -> None:
    """One line of information on stderr (what a resumed run kept, say); nothing when quiet."""
    if not quiet:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[cyan]{escape(text)}[/]", soft_wrap=True)


@contextmanager
def progress_bar(total: int, quiet: bool, done: int = 0) -> Iterator[Callable[[], None]]:
    """A rich bar on stderr with frames done/total, fps and ETA; yields ``advance()``. Silent when quiet.

    ``done``: frames already finished (by an earlier run); the bar starts there, the fps counts only new ones."""
    if quiet:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        BarColumn(), MofNCompleteColumn(), TextColumn("frames"), TextColumn("{task.fields[fps]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("frames", total=total or None, fps="", completed=done)
        start = time.perf_counter()
        new = 0

        def advance() -> None:
            nonlocal new
            new += 1
            elapsed = time.perf_counter() - start
            progress.update(task, advance=1, fps=f"{new / elapsed:.1f} fps" if elapsed > 0 else "")

        yield advance

