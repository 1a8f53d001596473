"""Probe a video and decode its luma planes in a background thread.

The pipeline only needs the Y plane of each frame (the luma the user's film is made of) at its
native bit depth, plus the frame's pts. Rotation metadata is applied here, physically, so every
later stage sees frames the way a player shows them.

Damaged input: what can be decoded is decoded, frames that cannot are skipped, and the count of
skipped frames is reported (``LumaReader.skipped``): packets the decoder rejects, plus frames the
header promised that the file no longer has (truncation). A file with no decodable frame at all,
or one FFmpeg cannot open (e.g. an MP4 cut before its index), is an ``InputError``. Containers
without a frame count (Matroska) whose demuxer silently resyncs past damage in the middle can
lose frames uncounted; the frames kept still carry their own pts, so sound stays in sync.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vidcolor.errors import InputError

# Pixel formats whose plane 0 is the luma plane, stored little-endian in the low bits. Anything
# else (RGB, palette, packed YUV, big-endian...) is converted to planar YUV first.
_NATIVE_LUMA = ("yuv4", "yuvj4", "yuva4", "gray", "nv12", "nv21", "nv16")
# FFmpeg AVColorSpace values -> the matrix name vidcolor.color uses.
_BT601_SPACES = {5, 6}  # BT470BG, SMPTE170M
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG (full range)
_MPEG_RANGE = 1  # AVCOL_RANGE_MPEG (limited range)


@dataclass(frozen=True)
class VideoInfo:
    path: Path  # the probed file
    stream_index: int  # index of the video stream in the container
    codec: str  # decoder name, e.g. "h264"
    coded_width: int  # width of the decoded frames in px, before rotation
    coded_height: int  # height of the decoded frames in px, before rotation
    rotation: int  # counter-clockwise degrees a player turns the frames by: 0, 90, 180 or 270
    sample_aspect_ratio: Fraction  # pixel shape of the (rotated) frames; 1 = square pixels
    time_base: Fraction  # unit of the video stream's pts
    average_rate: Fraction | None  # average frame rate, None when the container does not say
    frame_count: int  # from the header when it has it, else duration x rate; 0 if unknown
    frame_count_exact: bool  # True when frame_count is the header's count, not an estimate
    end_time: float | None  # seconds: where the video stream ends according to the header
    pix_fmt: str  # FFmpeg pixel format of the decoded frames
    bit_depth: int  # bits per luma sample: 8, 10, 12...
    matrix: str  # "bt709" | "bt601": Y'CbCr matrix to write the colour with
    full_range: bool  # True when code values span 0..2**bits-1 (JPEG range), else 16..235 (x2**(bits-8))
    start_time: float = 0.0  # seconds: the first frame's time (pts); a player's clock reads 0 there

    @property
    def width(self) -> int:
        """Width in px of the frames the reader yields (rotation applied)."""
        return self.coded_height if self.rotation in (90, 270) else self.coded_width

    @property
    def height(self) -> int:
        """Height in px of the frames the reader yields (rotation applied)."""
        return self.coded_width if self.rotation in (90, 270) else self.coded_height

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) a player shows: rotation and sample aspect ratio applied."""
        return round(self.width * self.sample_aspect_ratio), self.height


@dataclass(frozen=True)
class LumaFrame:
    y: np.ndarray  # (H, W) uint8 or uint16 code values at VideoInfo.bit_depth, rotation applied
    pts: int  # presentation time in VideoInfo.time_base units
    key: bool = False  # the decoder marked it a key frame (a point a seek can land on)


def probe(path: Path) -> VideoInfo:
    """Read the stream parameters of ``path``; decodes the first frame to be sure it has one.

    Raises InputError for a missing file, a directory, a file FFmpeg cannot open, a file
    without a video stream, or one whose video stream has no decodable frame.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}", "check the path")
    if not path.is_file():
        raise InputError(f"input is not a file: {path}", "give the path of a video file")
    try:
        container = av.open(str(path))
    except Exception as e:  # FFmpeg errors, and PyAV's own on malformed headers
        raise InputError(f"not a video FFmpeg can read: {path} ({_reason(e)})", "check that the file is a complete video") from None
    with container:
        moving = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not moving:  # cover art of a music file is a one-picture "video" stream: not a film
            raise InputError(f"no video stream in {path}", "give a file that contains video, not only audio or data")
        stream = moving[0]
        first = _first_frame(container, stream)
        if first is None:
            raise InputError(f"no decodable video frame in {path}", "the file is empty or damaged")
        fmt = first.format
        native = _native_luma(fmt)
        return VideoInfo(
            path=path,
            stream_index=stream.index,
            codec=stream.codec_context.name,
            coded_width=first.width,
            coded_height=first.height,
            rotation=_rotation(first),
            sample_aspect_ratio=_sample_aspect_ratio(stream, _rotation(first)),
            time_base=stream.time_base or Fraction(1, 90000),
            average_rate=stream.average_rate or stream.guessed_rate or None,
            frame_count=_frame_count(container, stream),
            frame_count_exact=bool(stream.frames),
            end_time=_end_time(container, stream),
            pix_fmt=fmt.name,
            bit_depth=fmt.components[0].bits if native else (8 if fmt.components[0].bits <= 8 else 10),
            matrix="bt601" if first.colorspace in _BT601_SPACES else "bt709",
            full_range=native and _full_range(fmt.name, first.color_range),
            start_time=float(first.pts * (stream.time_base or Fraction(1, 90000))) if first.pts is not None else 0.0,
        )


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.FFmpegError:
                continue
    except av.FFmpegError:
        return None
    return None


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise display rotation rounded to a quarter turn: 0, 90, 180 or 270."""
    return int(round((frame.rotation or 0) / 90.0)) % 4 * 90


def _sample_aspect_ratio(stream: av.video.stream.VideoStream, rotation: int) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0:
        return Fraction(1)
    return 1 / Fraction(sar) if rotation in (90, 270) else Fraction(sar)


def _frame_count(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and stream.time_base and rate:
        return int(round(stream.duration * stream.time_base * rate))
    if container.duration and rate:
        return int(round(container.duration / av.time_base * rate))
    return 0


def _end_time(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
    if container.duration:
        return (container.start_time or 0) / av.time_base + container.duration / av.time_base
    return None


def _full_range(pix_fmt: str, color_range: int) -> bool:
    """Whether code values span 0..2**bits-1: a JPEG-range tag, a yuvj format, or a grey format not
    tagged limited (FFmpeg reads untagged grey as full range: its gray -> RGB is the identity)."""
    return color_range == _JPEG_RANGE or pix_fmt.startswith("yuvj") or (pix_fmt.startswith("gray") and color_range != _MPEG_RANGE)


def _native_luma(fmt: av.VideoFormat) -> bool:
    return fmt.name.startswith(_NATIVE_LUMA) and not fmt.is_big_endian and fmt.components[0].plane == 0


def luma_plane(frame: av.VideoFrame, rotation: int = 0) -> np.ndarray:
    """The frame's Y plane as a new (H, W) uint8/uint16 array, turned by ``rotation`` degrees ccw.

    Formats without a separate luma plane (RGB, packed YUV...) are converted to BT.709
    limited-range planar YUV first.
    """
    if not _native_luma(frame.format):
        deep = frame.format.components[0].bits > 8
        frame = frame.reformat(format="yuv444p10le" if deep else "yuv444p", dst_colorspace="itu709")
    plane = frame.planes[0]
    dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.dtype("<u2")
    rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : plane.width]
    if rotation:
        return np.ascontiguousarray(np.rot90(rows, rotation // 90))
    return rows.copy()


class LumaReader:
    """Decode the luma planes of a probed video in a background thread.

    Usage: ``with LumaReader(info) as reader: for frame in reader: ...``. At most
    ``queue_size`` frames wait in memory. After iteration, ``decoded`` and ``skipped`` say how
    many frames came out and how many were lost to damage (an estimate when the header has no
    frame count); ``repaired`` counts frames whose pts was missing or out of order and was made up.

    ``window=(first_pts, end_pts)`` yields only the frames with first_pts <= pts < end_pts (end
    None: to the end): the reader seeks to the key frame at or before first_pts and decodes
    forward from there, so the frames are exactly those a full decode gives (for inputs whose
    pts need no repair). ``skipped`` is not estimated for a window.
    """

    _END = object()

    def __init__(self, info: VideoInfo, queue_size: int = 8, window: tuple[int, int | None] | None = None) -> None:
        self.info = info
        self.window = window
        self.decoded = 0
        self.skipped = 0
        self.repaired = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidcolor-decode", daemon=True)

    def __enter__(self) -> LumaReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __iter__(self) -> Iterator[LumaFrame]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            errors, last_pts = self._decode()
            if self.window is None:
                self.skipped = _skipped(self.info, self.decoded, errors, last_pts)
            if self.decoded == 0:
                raise InputError(f"no decodable video frame in {self.info.path}", "the file is empty or damaged")
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put(e)
        else:
            self._put(self._END)

    def _decode(self) -> tuple[int, int | None]:
        """Decode into the queue; returns (packets that failed to decode, pts of the last frame)."""
        errors = 0
        last_pts: int | None = None
        step = _pts_step(self.info)
        first, end = self.window or (None, None)
        with av.open(str(self.info.path)) as container:
            stream = container.streams[self.info.stream_index]
            stream.thread_type = "AUTO"
            if first is not None:
                container.seek(first, stream=stream, backward=True, any_frame=False)
            packets = container.demux(stream)
            while not self._stop.is_set():
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.FFmpegError:  # damaged container past this point: keep what we have
                    break
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    errors += 1
                    continue
                for frame in frames:
                    pts = frame.pts if frame.pts is not None else (last_pts + step if last_pts is not None else 0)
                    if last_pts is not None and pts <= last_pts:  # encoders need strictly rising pts
                        pts = last_pts + 1
                    self.repaired += pts != frame.pts
                    last_pts = pts
                    if first is not None and pts < first:  # decoded from the key frame on, not wanted
                        continue
                    if end is not None and pts >= end:
                        return errors, last_pts
                    if not self._put(LumaFrame(luma_plane(frame, self.info.rotation), pts, bool(frame.key_frame))):
                        return errors, last_pts
                    self.decoded += 1
        return errors, last_pts


def _skipped(info: VideoInfo, decoded: int, errors: int, last_pts: int | None) -> int:
    """Frames lost to damage: failed packets, or frames the header promised but the file lacks.

    Without a frame count in the header (e.g. Matroska), the time between the last decoded
    frame and the header's end time, in frames at the average rate, is the estimate.
    """
    if info.frame_count_exact:
        missing = info.frame_count - decoded
    elif info.end_time is not None and info.average_rate and last_pts is not None:
        gap = info.end_time - float(last_pts * info.time_base)
        missing = round(gap * float(info.average_rate)) - 1
    else:
        missing = 0
    return max(errors, missing, 0)


def _pts_step(info: VideoInfo) -> int:
    """Frame duration in time-base units, used only for frames that come without a pts."""
    if info.average_rate:
        return max(1, round(1 / (info.average_rate * info.time_base)))
    return 1
