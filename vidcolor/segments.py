"""Long films in segments: cut at scene cuts, encode each segment to its own file, join by stream copy.

    scan      decode the film once: pts, key frames, and where the shots change
              (``temporal.scene_change`` on small thumbnails of the luma)
    plan      a segment ends at the first scene cut past half of SegmentOptions.target_frames;
              with no cut before max_frames, at the last key frame before it (or at max_frames)
    encode    each segment decodes from a warm-up before its first frame (seek to the key frame
              at or before it, then frame-exact by pts) so the temporal step arrives at the
              segment's first frame in the state a single pass has there; only the segment's own
              frames are written, to ``segment-NNNNN.mov`` in the work folder (vidcolor.workdir)
    join      the segments' video packets, stream-copied in order, with the input's audio,
              subtitle and data packets muxed once (video.writer.join_segments)

Output frames keep their input pts, so frame count, pts and time base are those of a single pass.
At a scene cut the temporal step starts afresh anyway, so a segment seam there is exactly what a
single pass gives; at a forced cut the warm-up brings the carried colour to within 1% of it.
Inputs whose pts had to be repaired, or that have damaged frames, run in one pass: a segment's
frames must be the same whichever point decoding starts from.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from vidcolor.errors import InputError, Interrupted, VidcolorError
from vidcolor.options import RunOptions, SegmentOptions, TemporalOptions
from vidcolor.blend import resolve_style
from vidcolor.styles import StyleSpec
from vidcolor.video.reader import LumaReader, VideoInfo
from vidcolor.video.writer import PlaneFormat, join_segments, segment_suffix
from vidcolor.workdir import WorkFolder, describe_os_error

_THUMB_SIZE = (64, 36)  # px the scan shrinks each luma to before temporal.thumbnail's 32x18


@dataclass(frozen=True)
class Segment:
    index: int  # 0-based position in the film
    start: int  # first frame written, as an index in presentation order
    end: int  # one past the last frame written
    first_pts: int  # pts where decoding starts: the first warm-up frame (== keep_pts without warm-up)
    keep_pts: int  # pts of frame ``start``
    end_pts: int | None  # pts of frame ``end``; None for the last segment

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Scan:
    pts: list[int]  # every frame's pts, in presentation order
    keys: list[bool]  # frame i is a key frame
    cuts: list[bool]  # frame i starts a new shot
    repaired: int  # frames whose pts the reader had to make up
    skipped: int  # damaged frames


@dataclass(frozen=True)
class SegmentResult:
    index: int  # the segment
    frames: int  # frames written
    seconds: float  # wall time of its loop
    backend: str  # name of the backend that ran it


def wants_segments(options: RunOptions, info: VideoInfo) -> bool:
    """True when the header says the film is longer than one segment (or does not say how long)."""
    return info.frame_count == 0 or info.frame_count > options.segments.max_frames


def warmup_frames(options: RunOptions) -> int:
    """Frames fed to the temporal step before a segment: until the past's weight is under 1%.

    The past's share of a trusted pixel is ``strength`` per frame (at most MAX_PAST_SHARE), so a
    colour k frames back weighs at most strength**k: 21 frames at the default 0.8, 90 at 0.95.
    """
    from vidcolor.temporal import MAX_PAST_SHARE

    if options.segments.warmup_frames is not None:
        return options.segments.warmup_frames
    if options.temporal is None or options.temporal.strength <= 0:
        return 0
    share = min(options.temporal.strength, MAX_PAST_SHARE)
    return math.ceil(math.log(0.01) / math.log(share))


# ------------------------------------------------------------------ scan and plan


def scan(info: VideoInfo, threshold: float) -> Scan:
    """Decode the whole film once: pts, key frames, and scene cuts (``scene_change`` > threshold)."""
    from vidcolor.temporal import scene_change

    pts, keys, cuts = [], [], []
    scale = 1.0 / ((1 << info.bit_depth) - 1)
    previous = None
    with LumaReader(info) as reader:
        for frame in reader:
            small = cv2.resize(frame.y, _THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) * scale
            cuts.append(previous is not None and scene_change(previous, small) > threshold)
            pts.append(frame.pts)
            keys.append(frame.key)
            previous = small
    return Scan(pts, keys, cuts, reader.repaired, reader.skipped)


def plan_segments(found: Scan, options: SegmentOptions, warmup: int) -> list[Segment]:
    """Cut the scanned film into segments (see the module docstring); one segment if it is short
    or could not be decoded the same way from every key frame."""
    count = len(found.pts)
    bounds = [0]
    if not (found.repaired or found.skipped):
        while count - bounds[-1] > options.max_frames:
            bounds.append(_next_cut(found, bounds[-1], count, options))
    bounds.append(count)
    return [
        Segment(i, a, b, found.pts[max(0, a - warmup)], found.pts[a], found.pts[b] if b < count else None)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]


def _next_cut(found: Scan, start: int, count: int, options: SegmentOptions) -> int:
    """Where the segment that begins at ``start`` ends: a scene cut, else a key frame, else max."""
    low = start + options.target_frames // 2
    high = min(start + options.max_frames, count - options.target_frames // 2)  # the last one is not tiny
    for i in range(low, high):
        if found.cuts[i]:
            return i
    for i in range(high - 1, low - 1, -1):
        if found.keys[i]:
            return i
    return high


def segment_to_dict(segment: Segment) -> dict:
    return dataclasses.asdict(segment)


def segment_from_dict(data: dict) -> Segment:
    return Segment(**{f.name: data[f.name] for f in dataclasses.fields(Segment)})


# ------------------------------------------------------------------ one segment


def encode_segment(
    options: RunOptions, style: StyleSpec, info: VideoInfo, fmt: PlaneFormat, segment: Segment, target: Path,
    backend, stabilizer, advance: Callable[[], None] = lambda: None,
) -> SegmentResult:
    """Colourize ``segment`` into the file ``target`` (video only); raises if a frame is missing."""
    from vidcolor.pipeline import colorize

    if stabilizer is not None and hasattr(stabilizer, "reset"):
        stabilizer.reset()
    start = time.perf_counter()
    try:
        _, writer = colorize(
            options, style, info, fmt, backend, stabilizer, advance, target=target,
            window=(segment.first_pts, segment.end_pts), keep_from=segment.keep_pts,
        )
    except OSError as e:
        raise describe_os_error(e, f"segment {segment.index + 1}", target.parent) from None
    if writer.frames_written != segment.frames:
        target.unlink(missing_ok=True)
        raise InputError(
            f"segment {segment.index + 1} decoded to {writer.frames_written} frames, the plan has {segment.frames}",
            "the input decodes differently from a seek; run again with --no-resume",
        )
    with open(target, "rb") as f:  # on disk before the manifest says it is finished
        os.fsync(f.fileno())
    return SegmentResult(segment.index, writer.frames_written, time.perf_counter() - start, getattr(backend, "name", type(backend).__name__))


# One backend per worker process, loaded by its first segment and kept for the next ones.
_WORKER_BACKEND: dict[tuple, object] = {}


def segment_job(options: RunOptions, info: VideoInfo, fmt: PlaneFormat, segment: Segment, target: Path, threads: int) -> SegmentResult:
    """Run one segment in a worker process (or a Ray task) with a budget of ``threads`` cores."""
    import torch

    from vidcolor.color import model_size
    from vidcolor.pipeline import _load_backend, make_stabilizer

    style = resolve_style(options.style, options.weights, options.styles_dir)
    size = model_size(info.height, info.width, options.model_height)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    key = (options.backend, options.style, options.device, options.weights, options.engine_dir, options.batch, size, options.hints,
           options.references)
    if key not in _WORKER_BACKEND:
        _WORKER_BACKEND.clear()
        loaded = _load_backend(options, style, size, (info.height, info.width), info=info)  # kept with the backend: dropping it would close the backend
        _WORKER_BACKEND[key] = (loaded, loaded.__enter__())
    options = dataclasses.replace(options, encode=dataclasses.replace(options.encode, threads=options.encode.threads or threads))
    return encode_segment(options, style, info, fmt, segment, target, _WORKER_BACKEND[key][1], make_stabilizer(options))


def thread_budget(workers: int) -> int:
    """Cores per worker so the workers together use the machine's cores (at least 1 each)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, usable // workers)


# ------------------------------------------------------------------ the whole film


def run_segments(options: RunOptions, style: StyleSpec, info: VideoInfo, fmt: PlaneFormat, backend=None, stabilizer=None):
    """Plan, encode the unfinished segments (here, in worker processes or on Ray), join; resumable."""
    from vidcolor.pipeline import RunSummary, progress_bar, run_single, say

    if options.workers < 1:
        raise VidcolorError(f"--workers must be at least 1, got {options.workers}")
    start = time.perf_counter()
    with WorkFolder.open(options, info) as work:
        plan = _plan(work, options, info)
        if len(plan) == 1:  # short after all, or not cuttable: today's single pass
            work.remove()
            return run_single(options, style, info, fmt, backend, stabilizer)
        todo = [s for s in plan if not work.verified(s.index)]
        kept = sum(s.frames for s in plan if s.index in work.finished)
        if kept:
            work.notes.append(f"resuming: kept {len(plan) - len(todo)} of {len(plan)} segments ({kept} of {plan[-1].end} frames) from an earlier run")
        for note in work.notes:
            say(note, options.quiet)
        suffix = segment_suffix(options.encode.codec)
        try:
            with progress_bar(plan[-1].end, options.quiet, done=kept) as advance:
                results = _run(options, style, info, fmt, todo, work, suffix, backend, stabilizer, advance)
        except KeyboardInterrupt:
            done = sum(1 for s in plan if s.index in work.finished)
            raise Interrupted(f"{options.output} was not written; {done} of {len(plan)} segments are finished and kept in "
                              f"{work.path}: run the same command again to continue from them") from None
        parts = [work.path / work.finished[s.index]["file"] for s in plan]
        try:
            warnings = join_segments(options.output, info, parts)
        except OSError as e:
            raise describe_os_error(e, str(options.output), Path(options.output).parent) from None
    if not options.keep_work:
        work.remove()
    return RunSummary(
        input=options.input, output=options.output, style=style.name,
        backend=results[0].backend if results else getattr(backend, "name", options.backend),
        frames=plan[-1].end, skipped_frames=0, seconds=time.perf_counter() - start, size=(info.width, info.height),
        model_size=_model_size(options, info), warnings=tuple(warnings), notes=tuple(work.notes),
        segments=len(plan), kept_segments=len(plan) - len(todo),
    )


def _plan(work: WorkFolder, options: RunOptions, info: VideoInfo) -> list[Segment]:
    if work.plan is None:
        threshold = (options.temporal or TemporalOptions()).scene_cut_threshold
        work.plan = [segment_to_dict(s) for s in plan_segments(scan(info, threshold), options.segments, warmup_frames(options))]
        work.save()
    return [segment_from_dict(d) for d in work.plan]


def _model_size(options: RunOptions, info: VideoInfo) -> tuple[int, int]:
    from vidcolor.color import model_size

    return model_size(info.height, info.width, options.model_height)


def _run(options, style, info, fmt, todo: list[Segment], work: WorkFolder, suffix: str, backend, stabilizer, advance) -> list[SegmentResult]:
    """Encode ``todo`` and record each finished segment in the manifest as soon as it is done."""
    if not todo:
        return []
    if options.ray:
        from vidcolor.cluster import run_on_ray

        return run_on_ray(options, info, fmt, todo, work, suffix, advance)
    if options.workers > 1 and len(todo) > 1:
        return _run_in_processes(options, info, fmt, todo, work, suffix, advance)
    return list(_run_here(options, style, info, fmt, todo, work, suffix, backend, stabilizer, advance))


def _run_here(options, style, info, fmt, todo, work, suffix, backend, stabilizer, advance) -> Iterator[SegmentResult]:
    from contextlib import ExitStack

    from vidcolor.backends.base import default_threads
    from vidcolor.pipeline import _load_backend, make_stabilizer, torch_threads

    with ExitStack() as stack:
        stack.enter_context(torch_threads(default_threads()))
        if backend is None:
            backend = stack.enter_context(_load_backend(options, style, _model_size(options, info), (info.height, info.width), info=info))
        for segment in todo:
            target = work.segment_path(segment.index, suffix)
            result = encode_segment(options, style, info, fmt, segment, target, backend, stabilizer or make_stabilizer(options), advance)
            work.record(segment.index, target, result.frames)
            yield result


def _run_in_processes(options, info, fmt, todo, work, suffix, advance) -> list[SegmentResult]:
    """``options.workers`` processes (spawned: torch and threads do not survive a fork), each with
    its own backend and thread budget; results are recorded in the order they finish."""
    workers = min(options.workers, len(todo))
    threads = thread_budget(workers)
    results = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(segment_job, options, info, fmt, s, work.segment_path(s.index, suffix), threads): s for s in todo}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    segment = pending.pop(future)
                    result = future.result()
                    work.record(segment.index, work.segment_path(segment.index, suffix), result.frames)
                    for _ in range(result.frames):
                        advance()
                    results.append(result)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results
