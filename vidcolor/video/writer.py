"""Encode Y/Cb/Cr planes to a video, copying the input's other streams packet for packet.

Safety: everything is written to a hidden temporary file beside the target and renamed over it
only when the file is complete; on any exception (KeyboardInterrupt included) the temporary file
is removed and the target is left as it was.

Timing: the output video stream has the input's time base and every frame keeps its input pts,
so variable frame rate survives. Audio, subtitle and data streams the output container can hold
are copied unchanged (other ones are dropped with a warning), interleaved with the video by time.
"""
from __future__ import annotations

import io
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.errors import CodecError, OutputError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from vidcolor.options import EncodeOptions
from vidcolor.video.reader import VideoInfo

# Output extension -> FFmpeg muxer. Matroska holds any codec, so it is the fallback for inputs
# whose own container vidcolor does not write.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
# Stream metadata the muxer rewrites or that would be stale after re-encoding.
_STALE_TAGS = {"encoder", "duration", "major_brand", "minor_version", "compatible_brands", "rotate", "bps", "number_of_frames", "number_of_bytes"}
_SPACES = {"bt709": 1, "bt601": 6}  # AVColorSpace: BT709, SMPTE170M
_PRIMARIES = {"bt709": 1, "bt601": 6}  # AVColorPrimaries: BT709, SMPTE170M
_TRANSFERS = {"bt709": 1, "bt601": 6}  # AVColorTransferCharacteristic: BT709, SMPTE170M


@dataclass(frozen=True)
class PlaneFormat:
    """What the encoder needs from the pipeline for each frame."""

    pix_fmt: str  # FFmpeg planar YUV format written, e.g. "yuv420p"
    width: int  # luma plane width in px
    height: int  # luma plane height in px
    chroma_width: int  # Cb/Cr plane width in px
    chroma_height: int  # Cb/Cr plane height in px
    bit_depth: int  # bits per sample of every plane (uint8 for 8, uint16 above)
    matrix: str  # "bt709" | "bt601"
    full_range: bool  # JPEG (full) range code values instead of limited range

    @property
    def chroma_size(self) -> tuple[int, int]:
        """(height, width) of the Cb and Cr planes."""
        return self.chroma_height, self.chroma_width


def container_format(path: Path) -> str:
    """FFmpeg muxer name for the extension of ``path``; OutputError for one vidcolor does not write."""
    try:
        return CONTAINERS[Path(path).suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot write a {Path(path).suffix or 'file without extension'} container: {path}",
            "end the output name with one of " + ", ".join(CONTAINERS),
        ) from None


def plan_output(info: VideoInfo, encode: EncodeOptions, output: Path) -> PlaneFormat:
    """Check that the encoder, pixel format and container work together; nothing is written.

    Default pixel format: yuv420p, yuv420p10le for >8-bit input where the codec has it, and the
    4:4:4 variant when the width or height is odd (4:2:0 cannot hold an odd size exactly and
    libx264 refuses it). Raises CodecError with a hint when something cannot work.
    """
    try:
        codec = av.Codec(encode.codec, "w")
    except (av.FFmpegError, ValueError):
        raise CodecError(f"encoder {encode.codec!r} is not available in this FFmpeg build", "try one of: " + ", ".join(_known_encoders())) from None
    if codec.type != "video":
        raise CodecError(f"{encode.codec!r} is not a video encoder", "try one of: " + ", ".join(_known_encoders()))
    muxer = container_format(output)
    with av.open(io.BytesIO(), "w", format=muxer) as probe_container:
        if codec.name not in probe_container.supported_codecs:
            raise CodecError(f"a {output.suffix} file cannot hold {encode.codec} video", "use another --codec or output extension (.mkv holds any codec)")
    supported = [f.name for f in codec.video_formats or []]
    pix_fmt = encode.pix_fmt or _default_pix_fmt(supported, info)
    if pix_fmt not in supported or not _planar_yuv(pix_fmt):
        usable = [f for f in supported if _planar_yuv(f)]
        raise CodecError(f"{encode.codec} cannot encode pixel format {pix_fmt!r}", "use --pix-fmt with one of: " + ", ".join(usable))
    fmt = av.VideoFormat(pix_fmt, info.width, info.height)
    odd_width = info.width % 2 and fmt.chroma_width() != info.width
    odd_height = info.height % 2 and fmt.chroma_height() != info.height
    if odd_width or odd_height:  # encoders disagree on how to round subsampled odd sizes
        raise CodecError(f"{encode.codec} cannot encode the odd size {info.width}x{info.height} as {pix_fmt}", "use --pix-fmt yuv444p (no chroma subsampling)")
    return PlaneFormat(
        pix_fmt=pix_fmt,
        width=info.width,
        height=info.height,
        chroma_width=fmt.chroma_width(),
        chroma_height=fmt.chroma_height(),
        bit_depth=fmt.components[0].bits,
        matrix=info.matrix,
        full_range=info.full_range or pix_fmt.startswith("yuvj"),
    )


def _known_encoders() -> list[str]:
    wanted = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "mpeg4", "prores_ks", "ffv1")
    return [name for name in wanted if name in av.codecs_available]


def _planar_yuv(pix_fmt: str) -> bool:
    """Three planes Y, Cb, Cr (no alpha, no interleaved chroma), little-endian."""
    fmt = av.VideoFormat(pix_fmt)
    return pix_fmt.startswith(("yuv4", "yuvj4")) and len(fmt.components) == 3 and [c.plane for c in fmt.components] == [0, 1, 2] and not fmt.is_big_endian


def _default_pix_fmt(supported: list[str], info: VideoInfo) -> str:
    subsampling = "444" if info.width % 2 or info.height % 2 else "420"
    candidates = [f"yuv{subsampling}p10le", f"yuv{subsampling}p"] if info.bit_depth > 8 else [f"yuv{subsampling}p"]
    candidates += ["yuv444p", "yuv420p"]
    for name in candidates:
        if name in supported:
            return name
    planar = [f for f in supported if _planar_yuv(f)]
    if not planar:
        raise CodecError("this encoder has no planar YUV pixel format vidcolor can write", "use --codec libx264")
    return planar[0]


def temporary_path(target: Path) -> Path:
    """A hidden, unique name in the target's folder that keeps its extension (so the muxer matches)."""
    return target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")


class TemporaryClaim:
    """Create ``path`` (which must not exist) and hold an exclusive lock on it until ``release``.

    The lock (flock, released by the kernel when the process dies, kill -9 included) is how a
    later run tells a temporary file of a crashed run from one another run is still writing.
    Where flock does not exist, files older than a day count as abandoned instead.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "xb")  # noqa: SIM115 - held open for the lock's lifetime
        if fcntl is not None:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self, remove: bool = False) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        self._file.close()


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete the hidden temporary files (``.STEM.XXXXXXXX.tmpEXT``) that crashed runs left beside
    ``target``; files a live run holds are left alone. Returns the paths removed."""
    target = Path(target)
    removed = []
    for path in target.parent.glob(f".{glob_escape(target.stem)}.????????.tmp{glob_escape(target.suffix)}"):
        if _abandoned(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _abandoned(path: Path) -> bool:
    """True when no process holds ``path``'s lock (see TemporaryClaim)."""
    if fcntl is None:
        return time.time() - path.stat().st_mtime > 86400
    try:
        with open(path, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except OSError:  # vanished or unreadable: not ours to delete
        return False


class VideoWriter:
    """Encode frames in a background thread into a temporary file, renamed to ``path`` on success.

    ``with VideoWriter(path, info, fmt, encode) as w: w.write(y, cb, cr, pts)``. ``write``
    queues at most ``queue_size`` frames; an encoder failure is raised from the next ``write``
    or from the ``with`` block's end. ``warnings`` lists streams that could not be copied.
    ``copy_streams=False`` writes the video alone, without the input's metadata (a segment).
    """

    _END = object()

    def __init__(self, path: Path, info: VideoInfo, fmt: PlaneFormat, encode: EncodeOptions, queue_size: int = 8, copy_streams: bool = True) -> None:
        self.path = Path(path)
        self.info = info
        self.fmt = fmt
        self.encode = encode
        self.copy_streams = copy_streams
        self.frames_written = 0
        self.warnings: list[str] = []
        self.temp_path = temporary_path(self.path)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vidcolor-encode", daemon=True)

    # -------------------------------------------------------------- producer side

    def __enter__(self) -> VideoWriter:
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        self._thread.start()
        return self

    def write(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, pts: int) -> None:
        """Queue one frame: planes (H, W), (h, w), (h, w) at fmt's sizes and depth; pts in the input time base."""
        self._put((y, cb, cr, pts))

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            try:
                self._put(self._END)
                self._thread.join()
                if self._error is not None:
                    raise self._error
                self._close()
                os.replace(self.temp_path, self.path)
                self._claim.release()
            except BaseException:
                self._abort()
                raise
        else:
            self._abort()

    def _put(self, item: object) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self._error or RuntimeError("encoder thread stopped") from None

    def _abort(self) -> None:
        """Stop the encoder thread, close the container, delete the temporary file."""
        self._error = self._error or _Aborted()
        while self._thread.is_alive():  # wake the thread: it sees the error and returns
            try:
                self._queue.put(self._END, timeout=0.05)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._thread.join(timeout=0.05)
        self._discard()

    def _discard(self) -> None:
        try:
            self._close()
        except Exception:  # the file is being thrown away; a broken container does not matter
            pass
        claim = self.__dict__.pop("_claim", None)
        if claim is not None:
            claim.release(remove=True)

    # -------------------------------------------------------------- container set-up

    def _open(self) -> None:
        self._claim, self._out = open_output(self.temp_path, container_format(self.path))
        self._in = av.open(str(self.info.path))
        self._video = self._add_video_stream()
        if self.copy_streams:
            self._out.metadata.update(_copyable(self._in.metadata))
        self._copier = StreamCopier(self._in, self._out, self.info.stream_index, self.path.suffix, self.copy_streams)
        self.warnings.extend(self._copier.warnings)

    def _add_video_stream(self) -> av.video.stream.VideoStream:
        info, fmt, encode = self.info, self.fmt, self.encode
        stream = self._out.add_stream(encode.codec, rate=info.average_rate or Fraction(25))
        stream.width, stream.height, stream.pix_fmt = fmt.width, fmt.height, fmt.pix_fmt
        stream.time_base = info.time_base
        cc = stream.codec_context
        cc.time_base = info.time_base
        cc.sample_aspect_ratio = info.sample_aspect_ratio
        cc.colorspace = _SPACES[fmt.matrix]
        cc.color_primaries = _PRIMARIES[fmt.matrix]
        cc.color_trc = _TRANSFERS[fmt.matrix]
        cc.color_range = 2 if fmt.full_range else 1
        stream.options = _encoder_options(stream, encode)
        stream.thread_type = "AUTO"
        stream.thread_count = encode.threads or encoder_threads(fmt.width, fmt.height)
        in_stream = self._in.streams[info.stream_index]
        stream.metadata.update(_copyable(in_stream.metadata))
        return stream

    def _close(self) -> None:
        for name in ("_out", "_in"):
            container = self.__dict__.pop(name, None)
            if container is not None:
                container.close()

    # -------------------------------------------------------------- encoder thread

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if self._error is not None:
                    return
                if item is self._END:
                    break
                self._encode(self._frame(*item))
            self._encode(None)
            self._copier.copy_until(None)
        except BaseException as e:
            self._error = e

    def _frame(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, pts: int) -> av.VideoFrame:
        fmt = self.fmt
        frame = av.VideoFrame(fmt.width, fmt.height, fmt.pix_fmt)
        dtype = np.uint8 if fmt.bit_depth <= 8 else np.dtype("<u2")
        for plane, values in zip(frame.planes, (y, cb, cr), strict=True):
            if values.shape != (plane.height, plane.width):
                raise ValueError(f"plane of shape {values.shape} given, the encoder needs {(plane.height, plane.width)}")
            np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : plane.width] = values
        frame.pts = pts
        frame.time_base = self.info.time_base
        frame.colorspace = _SPACES[fmt.matrix]
        frame.color_range = 2 if fmt.full_range else 1
        return frame

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            packets = self._video.encode(frame)
        except av.FFmpegError as e:
            raise CodecError(f"{self.encode.codec} refused the video: {e}", "try --pix-fmt yuv420p or another --codec") from None
        for packet in packets:
            self._copier.copy_until(float(packet.dts * packet.time_base) if packet.dts is not None else None)
            self._out.mux(packet)
        if frame is not None:
            self.frames_written += 1

class StreamCopier:
    """Copies the input's non-video streams into an output container, packet for packet.

    Construction adds one output stream per input stream the container can hold (``warnings``
    names the ones dropped); ``copy_until(seconds)`` then muxes their packets up to that time, so
    they interleave with the video the caller muxes. ``copy=False``: nothing is copied.
    """

    def __init__(self, source: av.container.InputContainer, out: av.container.OutputContainer, video_index: int, suffix: str, copy: bool = True) -> None:
        self.warnings: list[str] = []
        self._copied = self._add_streams(source, out, video_index, suffix) if copy else {}
        self._packets = source.demux(list(self._copied)) if self._copied else iter(())
        self._pending: av.Packet | None = None
        self._out = out

    def _add_streams(self, source, out, video_index: int, suffix: str) -> dict[av.stream.Stream, av.stream.Stream]:
        """Output stream for every non-video input stream the container can hold (in -> out)."""
        copied = {}
        supported = out.supported_codecs
        for stream in source.streams:
            if stream.type == "video" or stream.type == "attachment":
                continue  # only the first video stream is colourized; further ones are dropped
            codec = stream.codec_context.codec if stream.codec_context else None
            name = codec.canonical_name if codec else None  # e.g. "subrip", whose decoder is "srt"
            if name is None or (name not in supported and codec.name not in supported):
                self.warnings.append(f"stream #{stream.index} ({stream.type}, {name}) cannot go in a {suffix} file: dropped")
                continue
            try:
                copy = out.add_stream_from_template(stream)
            except (av.FFmpegError, ValueError) as e:
                self.warnings.append(f"stream #{stream.index} ({stream.type}, {name}) not copied: {e}")
                continue
            copy.metadata.update(_copyable(stream.metadata))
            copy.disposition = stream.disposition
            copied[stream] = copy
        for stream in source.streams.video:
            if stream.index != video_index:
                self.warnings.append(f"video stream #{stream.index} is not processed: dropped")
        return copied

    def copy_until(self, seconds: float | None) -> None:
        """Mux the copied streams' packets up to ``seconds`` (all of them when None)."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            packet = self._pending
            if packet.dts is None:  # demuxer flush packets carry no data
                self._pending = None
                continue
            if seconds is not None and float(packet.dts * packet.time_base) > seconds:
                return
            packet.stream = self._copied[packet.stream]
            self._out.mux(packet)
            self._pending = None


def open_output(path: Path, muxer: str) -> tuple[TemporaryClaim, av.container.OutputContainer]:
    """Claim the temporary ``path`` and open a muxer on it; OutputError when it cannot be created."""
    try:
        claim = TemporaryClaim(path)
    except OSError as e:
        raise OutputError(f"cannot create {path}: {e.strerror or e}", "check the output folder's permissions and free space") from None
    try:
        return claim, av.open(str(path), "w", format=muxer)
    except (OSError, av.FFmpegError) as e:
        claim.release(remove=True)
        raise OutputError(f"cannot create {path}: {getattr(e, 'strerror', None) or e}", "check the output folder's permissions and free space") from None


class _Aborted(Exception):
    """Set as the encoder's error to make its thread stop early."""


def _copyable(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in _STALE_TAGS}


def encoder_threads(width: int, height: int) -> int:
    """Encoder threads for frames of this size: 0 lets FFmpeg choose (every core, and more).

    Up to about 1 megapixel one x264 thread keeps ahead of the model, and the model's thread needs
    a core of its own: on the 2-core machine x264's own choice (3 threads) cost 7% of end-to-end
    speed at 480p and 1 thread gained 20% at 720p. Above that x264 is the slowest stage and needs
    every core: 1 thread lost 24% at 1080p (docs/BENCHMARKS.md, Pipeline).
    """
    if width * height > 1_000_000:
        return 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, usable - 1)


def _encoder_options(stream: av.video.stream.VideoStream, encode: EncodeOptions) -> dict[str, str]:
    """crf and preset, passed only to encoders that have them (ffv1 or mpeg4 do not)."""
    names = {o.name for o in stream.codec_context.supported_options.private}
    options = {}
    if encode.crf is not None and "crf" in names:
        options["crf"] = str(encode.crf)
    if encode.preset is not None and "preset" in names:
        options["preset"] = encode.preset
    if stream.codec_context.name == "libx265":
        options["x265-params"] = "log-level=error"
    return options


def segment_suffix(codec: str) -> str:
    """Container for a segment file: .mov keeps the exact time base and negative dts (B-frames)
    through an edit list, so its packets join back unchanged; .mkv for codecs mov cannot hold
    (e.g. ffv1, intra-only: no negative dts, and Matroska's 1 ms clock is what the output has anyway)."""
    with av.open(io.BytesIO(), "w", format="mov") as probe_container:
        return ".mov" if av.Codec(codec, "w").name in probe_container.supported_codecs else ".mkv"


def join_segments(path: Path, info: VideoInfo, parts: list[Path]) -> list[str]:
    """Write ``path`` from the video packets of ``parts`` (segment files, in order, by stream
    copy) and the input's other streams, muxed once, packet for packet. Same safety as
    VideoWriter: a hidden temporary file renamed at the end. Returns warnings (dropped streams).

    Every part must hold the same codec parameters (the encoder's extradata): a joined stream
    has one set. Raises OutputError when the target cannot be written.
    """
    path = Path(path)
    temp = temporary_path(path)
    claim, out = open_output(temp, container_format(path))
    try:
        with out, av.open(str(info.path)) as source, av.open(str(parts[0])) as first:
            out.metadata.update(_copyable(source.metadata))
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = info.time_base
            video.metadata.update(_copyable(source.streams[info.stream_index].metadata))
            copier = StreamCopier(source, out, info.stream_index, path.suffix)
            for part in parts:
                _copy_video_packets(part, bytes(template.codec_context.extradata or b""), video, copier, out)
            copier.copy_until(None)
        os.replace(temp, path)
    except BaseException:
        claim.release(remove=True)
        raise
    claim.release()
    return copier.warnings


def _copy_video_packets(part: Path, extradata: bytes, video: av.stream.Stream, copier: StreamCopier, out: av.container.OutputContainer) -> None:
    with av.open(str(part)) as container:
        stream = container.streams.video[0]
        if bytes(stream.codec_context.extradata or b"") != extradata:
            raise CodecError(f"segment {part.name} was encoded with other codec parameters than the first", "run again with --no-resume")
        for packet in container.demux(stream):
            if packet.dts is None:
                continue
            copier.copy_until(float(packet.dts * packet.time_base))
            packet.stream = video
            out.mux(packet)
