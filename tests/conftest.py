"""Shared fixtures: synthetic clips written with PyAV, and where the real test media lives."""
from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

try:
    import av
except ImportError:  # a lent GPU machine's image has no PyAV: its GPU tests write no clips (the rest need it)
    av = None

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def luma_pattern(index: int, width: int, height: int, bit_depth: int = 8) -> np.ndarray:
    """A moving, asymmetric test picture: (height, width) uint8/uint16 limited-range luma.

    A diagonal gradient that shifts each frame, plus a bright block in the top-left corner so
    rotations and flips are visible.
    """
    yy, xx = np.mgrid[0:height, 0:width]
    y = 16 + (3 * xx + 2 * yy + 5 * index) % 200
    y[: max(1, height // 4), : max(1, width // 4)] = 235
    y = y << (bit_depth - 8)
    return y.astype(np.uint8 if bit_depth == 8 else np.uint16)


def _video_frame(index: int, width: int, height: int, pix_fmt: str, picture=luma_pattern) -> av.VideoFrame:
    fmt = av.VideoFormat(pix_fmt)
    bits = fmt.components[0].bits
    frame = av.VideoFrame(width, height, pix_fmt)
    planes = [picture(index, width, height, bits)]
    for plane in frame.planes[1:]:  # neutral grey chroma with a little colour
        planes.append(np.full((plane.height, plane.width), (128 + index % 7) << (bits - 8), planes[0].dtype))
    for plane, values in zip(frame.planes, planes, strict=True):
        dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        rows[:, : plane.width] = values
    return frame


def _write_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float, tone: float) -> None:
    rate = stream.codec_context.sample_rate
    frame_size = stream.codec_context.frame_size or 1024
    total = int(seconds * rate)
    t = np.arange(total) / rate
    samples = (0.3 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
    for start in range(0, total, frame_size):
        chunk = samples[start : start + frame_size]
        if len(chunk) < frame_size:
            chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def make_clip(
    path: Path,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 12,
    rate: Fraction | int = 25,
    time_base: Fraction | None = None,
    pts: list[int] | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    sar: Fraction | None = None,
    audio_tracks: int = 0,
    metadata: dict[str, str] | None = None,
    video_metadata: dict[str, str] | None = None,
    audio_metadata: list[dict[str, str]] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    picture=luma_pattern,
) -> Path:
    """Write a synthetic clip with PyAV; the container follows the extension of ``path``.

    ``pts`` (in ``time_base`` units) makes a variable-frame-rate clip; ``rotation`` sets the
    display matrix (counter-clockwise degrees); ``audio_tracks`` adds that many AAC sine tracks;
    ``options`` go to the encoder, ``container_options`` to the muxer. ``picture(index, width,
    height, bit_depth)`` draws each frame's luma (default ``luma_pattern``).
    """
    rate = Fraction(rate)
    time_base = time_base or 1 / rate
    if pts is None:
        pts = [round(i / rate / time_base) for i in range(frames)]
    with av.open(str(path), "w", options=container_options or {}) as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"preset": "ultrafast"} if codec.startswith("libx26") else {}
        stream.options.update(options or {})
        if codec == "libx265":
            stream.options["x265-params"] = "log-level=error"
        if sar:
            stream.codec_context.sample_aspect_ratio = sar
        if rotation:
            stream.set_display_rotation(rotation)
        stream.metadata.update(video_metadata or {})
        audio = []
        for i in range(audio_tracks):
            a = out.add_stream("aac", rate=44100 if i == 0 else 22050)
            a.layout = "mono"
            a.metadata.update((audio_metadata or [{}] * audio_tracks)[i])
            audio.append(a)
        for i, p in enumerate(pts):
            frame = _video_frame(i, width, height, pix_fmt, picture)
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        seconds = float((pts[-1] * time_base) + 1 / rate) if pts else 1.0
        for i, a in enumerate(audio):
            _write_audio(out, a, seconds, tone=440.0 * (i + 1))
    return Path(path)


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def decoded_lumas(path: Path) -> list[np.ndarray]:
    """Every frame's Y plane as the reader sees it (rotation applied)."""
    from vidcolor.video.reader import LumaReader, probe

    with LumaReader(probe(path)) as reader:
        return [f.y for f in reader]


def read_frames(path: Path) -> tuple[SimpleNamespace, list[av.VideoFrame]]:
    """(time_base and average_rate of the first video stream, its frames), decoded plainly."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        return SimpleNamespace(time_base=stream.time_base, average_rate=stream.average_rate), frames


def packets_of(path: Path, kind: str = "audio") -> list[list[tuple[bytes, int | None, int | None]]]:
    """Per stream of ``kind``: the list of (payload, pts, dts) of its packets, in file order."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:  # demux([]) would read every stream
            return []
        out: dict[int, list] = {s.index: [] for s in streams}
        for packet in c.demux(streams):
            if packet.dts is None:
                continue
            out[packet.stream.index].append((bytes(packet), packet.pts, packet.dts))
        return [out[s.index] for s in streams]


@pytest.fixture(autouse=True)
def user_styles_dir(tmp_path: Path, monkeypatch) -> Path:
    """Every test sees an empty user styles folder of its own, never the machine's (~/.local/share)."""
    folder = tmp_path / "user-styles"
    monkeypatch.setenv("VIDCOLOR_STYLES_DIR", str(folder))
    return folder


GALLERY_STYLES = ("natural", "ukiyoe", "starry")  # a tiny stand-in for the shipped gallery


@pytest.fixture
def tiny_shipped(tmp_path: Path, monkeypatch) -> Path:
    """A weights folder shaped like the shipped one, of tiny seeded generators, in place of it:
    natural.safetensors (natural) and gallery.safetensors (GALLERY_STYLES). Returns the folder."""
    import vidcolor.models.checkpoint as checkpoint
    from vidcolor.models.generator import GeneratorConfig, build_generator

    folder = tmp_path / "shipped"
    checkpoint.save_generator(folder / "natural.safetensors", build_generator(GeneratorConfig.tiny(("natural",)), seed=1))
    checkpoint.save_generator(folder / "gallery.safetensors", build_generator(GeneratorConfig.tiny(GALLERY_STYLES), seed=0))
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", folder)
    return folder


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A plain 64x48, 12-frame, 25 fps H.264 mp4 with one audio track."""
    return make_clip(tmp_path / "clip.mp4", audio_tracks=1)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test media not found at {SHARED_DATA} (CI provides ../shared/data)")
    return SHARED_DATA


def onnx_matches_torch(module, x, atol: float = 1e-3) -> None:
    """Export ``module`` as `vidcolor run` does (engine.export_onnx_bytes, static shape of ``x``
    (N, 1, H, W)), run it in onnxruntime on CPU, and assert it gives the module's output."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from vidcolor.engine import export_onnx_bytes

    session = ort.InferenceSession(export_onnx_bytes(module, x.shape[2], x.shape[3], x.shape[0]), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0], module(x).numpy(), atol=atol)
