from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decoded_lumas, file_digest, make_clip, packets_of, read_frames

from vidcolor.backends.torch_backend import TorchBackend
from vidcolor.errors import CodecError, InputError, OutputError, StyleError
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import EncodeOptions, RunOptions, TemporalOptions
from vidcolor.pipeline import convert_depth, run_video, validate

LOSSLESS = EncodeOptions(crf=0, preset="ultrafast")  # libx264 crf 0 is lossless for 8-bit


def options(src: Path, out: Path, **changes) -> RunOptions:
    base = dict(input=src, output=out, model_height=32, batch=4, quiet=True, temporal=None, encode=LOSSLESS)
    return RunOptions(**{**base, **changes})


def tiny_backend(style: str, height: int = 32, width: int = 32, batch: int = 4) -> TorchBackend:
    """A small random-initialised generator: real model code, seeded, fast on CPU."""
    return TorchBackend(build_generator(GeneratorConfig.tiny(), seed=0).for_style(style), batch, height, width, "cpu")


class ConstantAB:
    """Backend-shaped stand-in that paints one Lab colour and counts its calls (fails on demand)."""

    name = "constant"
    batch = 4

    def __init__(self, ab: tuple[float, float] = (30.0, 40.0), fail_at_call: int | None = None, error: type = RuntimeError):
        self.ab, self.calls, self.fail_at_call, self.error = ab, 0, fail_at_call, error

    def infer(self, luma: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_at_call is not None and self.calls == self.fail_at_call:
            raise self.error("model failed")
        n, _, h, w = luma.shape
        return np.broadcast_to(np.array(self.ab, np.float32)[None, :, None, None], (n, 2, h, w)).copy()


def planes(path: Path) -> list[list[np.ndarray]]:
    """Every frame's Y, Cb, Cr planes as arrays (no rotation handling)."""
    with av.open(str(path)) as c:
        return [[np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, : p.width].copy() for p in f.planes] for f in c.decode(video=0)]


# ------------------------------------------------------------------ what a run produces


def test_natural_keeps_the_source_luma_exactly_and_adds_colour(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=10, audio_tracks=1, metadata={"title": "film"})
    out = tmp_path / "film.natural.mp4"
    before = file_digest(src)
    summary = run_video(options(src, out), backend=tiny_backend("natural"))
    assert summary.frames == 10 and summary.skipped_frames == 0 and out.exists()
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        np.testing.assert_array_equal(a, b)
    chroma = np.stack([p[1] for p in planes(out)]).astype(int)
    assert np.abs(chroma - 128).max() > 2  # colour was added
    (s_in, f_in), (s_out, f_out) = read_frames(src), read_frames(out)
    assert s_out.time_base == s_in.time_base and [f.pts for f in f_out] == [f.pts for f in f_in]
    assert packets_of(out) == packets_of(src)
    assert file_digest(src) == before


@pytest.mark.parametrize("tag, full", [(None, True), (2, True), (1, False)])
def test_a_grey_film_keeps_its_brightness(tmp_path, tag, full):
    """An FFV1 "gray" film (as archives scan them): FFmpeg reads untagged grey as full range (its
    gray -> RGB is the identity), so must we, or the output is tagged limited over full-range code
    values and every player shows it brighter and harder, blacks crushed and whites clipped."""
    src = tmp_path / "grey.mkv"
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "gray"
        if tag is not None:
            s.codec_context.color_range = tag
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(ramp, format="gray")
            if tag is not None:
                frame.color_range = tag
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    assert validate(options(src, tmp_path / "o.mp4"))[1].full_range is full
    if not full:
        return  # tagged limited: read as the tag says (FFmpeg's own gray -> RGB ignores the tag, so it cannot judge)
    out = tmp_path / "grey.natural.mp4"
    run_video(options(src, out, encode=EncodeOptions(crf=0, preset="ultrafast", pix_fmt="yuv444p")), backend=ConstantAB((0.0, 0.0)))
    with av.open(str(src)) as a, av.open(str(out)) as b:
        shown_in = next(a.decode(video=0)).to_ndarray(format="rgb24")[..., 1].astype(int)
        shown_out = next(b.decode(video=0)).to_ndarray(format="rgb24")[..., 1].astype(int)
    assert np.abs(shown_out - shown_in).max() <= 1  # what a player shows is what the scan holds


def test_constant_colour_lands_in_the_chroma_planes(tmp_path):
    src = make_clip(tmp_path / "film.mkv", frames=4)
    out = tmp_path / "out.mkv"
    run_video(options(src, out), backend=ConstantAB(ab=(0.0, 60.0)))  # yellow: b* > 0
    for _, cb, cr in planes(out):
        assert cb.mean() < 118 and cr.mean() > 128  # yellow = less blue, a little more red


def test_variable_frame_rate_and_ten_bit(tmp_path):
    pts = [0, 40, 80, 200, 240, 400, 410]
    src = make_clip(tmp_path / "vfr.mkv", codec="ffv1", pix_fmt="yuv420p10le", time_base=Fraction(1, 1000), pts=pts)
    out = tmp_path / "out.mkv"
    run_video(options(src, out, encode=EncodeOptions(codec="ffv1")), backend=ConstantAB())
    assert [f.pts for f in read_frames(out)[1]] == pts
    assert read_frames(out)[1][0].format.name == "yuv420p10le"
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        assert b.dtype == np.uint16
        np.testing.assert_array_equal(a, b)


def test_odd_size_keeps_its_exact_size(tmp_path):
    src = make_clip(tmp_path / "odd.mp4", width=67, height=45, frames=3, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    summary = run_video(options(src, out), backend=ConstantAB())
    frame = read_frames(out)[1][0]
    assert (frame.width, frame.height) == (67, 45) == summary.size


def test_rotated_input_comes_out_upright(tmp_path):
    src = make_clip(tmp_path / "phone.mp4", frames=3, rotation=90)
    out = tmp_path / "out.mp4"
    run_video(options(src, out), backend=ConstantAB())
    for a, b in zip(decoded_lumas(src), planes(out), strict=True):
        np.testing.assert_array_equal(b[0], a)  # the reader turned the source; the output is stored turned
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (48, 64, 0)


def test_stylize_changes_the_luma_too(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=5)
    out = tmp_path / "film.ukiyoe.mp4"
    summary = run_video(options(src, out, style="ukiyoe"), backend=tiny_backend("ukiyoe"))
    assert summary.frames == 5 and summary.style == "ukiyoe"
    a, b = decoded_lumas(src)[0], decoded_lumas(out)[0]
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_temporal_stabilizer_runs_in_the_loop(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=8, width=96, height=64)
    out = tmp_path / "out.mp4"
    seen = []

    def stabilizer(luma, output):
        seen.append((luma.shape, output.shape))
        return output * 0.5

    run_video(options(src, out, temporal=TemporalOptions()), backend=ConstantAB(), stabilizer=stabilizer)
    assert seen == [((32, 64), (2, 32, 64))] * 8
    real = tmp_path / "real.mp4"  # and the real TemporalStabilizer, built from the options
    assert run_video(options(src, real, temporal=TemporalOptions()), backend=ConstantAB()).frames == 8


def test_truncated_input_is_decoded_as_far_as_possible_with_a_warning(tmp_path):
    full = make_clip(tmp_path / "full.mkv", width=128, height=96, frames=30, options={"g": "5"})
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    summary = run_video(options(cut, tmp_path / "out.mkv"), backend=ConstantAB())
    assert 0 < summary.frames < 30 and summary.skipped_frames == 30 - summary.frames
    assert "skipped" in summary.warnings[0]
    assert len(read_frames(tmp_path / "out.mkv")[1]) == summary.frames


def test_torch_threads_limited_during_the_run_and_restored(tmp_path):
    import torch

    from vidcolor.backends.base import default_threads

    seen = []

    class Recording(ConstantAB):
        def infer(self, luma):
            seen.append(torch.get_num_threads())
            return super().infer(luma)

    before = torch.get_num_threads()
    run_video(options(make_clip(tmp_path / "a.mp4", frames=3), tmp_path / "o.mp4"), backend=Recording())
    assert seen == [default_threads()] and torch.get_num_threads() == before


def test_convert_depth_round_trips():
    y8 = np.arange(256, dtype=np.uint8)[None]
    y10 = convert_depth(y8, 8, 10)
    assert y10.dtype == np.uint16 and y10.max() == 1020
    np.testing.assert_array_equal(convert_depth(y10, 10, 8), y8)


@pytest.mark.slow
def test_real_film_clip(tmp_path, shared_data):
    src = shared_data / "films" / "Winter_Scenes_in_Holland.mp4"
    out = tmp_path / "winter.natural.mp4"
    summary = run_video(options(src, out, model_height=64), backend=tiny_backend("natural", 64, 128))
    f_in, f_out = read_frames(src)[1], read_frames(out)[1]
    assert summary.frames == len(f_in) == len(f_out) == 96
    assert [f.pts for f in f_out] == [f.pts for f in f_in]
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_real_film_first_frames(tmp_path, shared_data):
    """Fast variant: the real clip's probe, and a run on its first frames re-muxed by stream copy."""
    src = shared_data / "films" / "a-bomb_blast_effects_part.mp4"
    head = tmp_path / "head.mp4"
    with av.open(str(src)) as c, av.open(str(head), "w") as out:
        v = out.add_stream_from_template(c.streams.video[0])
        for i, packet in enumerate(c.demux(c.streams.video[0])):
            if packet.dts is None or (i >= 24 and packet.is_keyframe):
                break
            packet.stream = v
            out.mux(packet)
    summary = run_video(options(head, tmp_path / "out.mp4"), backend=ConstantAB())
    assert summary.frames == len(read_frames(head)[1]) > 0
    for a, b in zip(decoded_lumas(head), decoded_lumas(tmp_path / "out.mp4"), strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ refused before anything happens


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def refused(tmp_path: Path, opts: RunOptions, error: type, match: str) -> Exception:
    backend = ConstantAB()
    before = listing(tmp_path)
    with pytest.raises(error, match=match) as e:
        run_video(opts, backend=backend)
    assert backend.calls == 0 and listing(tmp_path) == before
    return e.value


def test_missing_input(tmp_path):
    refused(tmp_path, options(tmp_path / "nope.mp4", tmp_path / "o.mp4"), InputError, "not found")


def test_directory_input(tmp_path):
    (tmp_path / "d").mkdir()
    refused(tmp_path, options(tmp_path / "d", tmp_path / "o.mp4"), InputError, "not a file")


def test_not_a_video(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"\x00garbage" * 100)
    refused(tmp_path, options(tmp_path / "a.mp4", tmp_path / "o.mp4"), InputError, "not a video")


def test_unknown_style_lists_the_valid_ones(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=2)
    e = refused(tmp_path, options(src, tmp_path / "o.mp4", style="sepia"), StyleError, "sepia")
    assert "natural" in e.hint and "ukiyoe" in e.hint


def test_output_folder_missing(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=2)
    refused(tmp_path, options(src, tmp_path / "missing" / "o.mp4"), OutputError, "does not exist")


def test_output_folder_not_writable(tmp_path):
    import os

    src = make_clip(tmp_path / "a.mp4", frames=2)
    if os.geteuid() == 0:  # root writes anywhere the permission bits say no; /proc refuses even root
        folder = Path("/proc")
    else:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
    refused(tmp_path, options(src, folder / "o.mp4"), OutputError, "cannot write")


def test_output_is_the_input(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=2)
    before = file_digest(src)
    refused(tmp_path, options(src, tmp_path / "." / "a.mp4", overwrite=True), OutputError, "overwrite the input")
    assert file_digest(src) == before


def test_existing_output_needs_overwrite(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=2)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"old")
    e = refused(tmp_path, options(src, out), OutputError, "already exists")
    assert "--overwrite" in e.hint
    run_video(options(src, out, overwrite=True), backend=ConstantAB())
    assert len(read_frames(out)[1]) == 2


@pytest.mark.parametrize("encode, match", [(EncodeOptions(codec="nope264"), "not available"), (EncodeOptions(pix_fmt="bgr24"), "pixel format")])
def test_unsupported_codec_or_pixel_format(tmp_path, encode, match):
    src = make_clip(tmp_path / "a.mp4", frames=2)
    refused(tmp_path, options(src, tmp_path / "o.mp4", encode=encode), CodecError, match)


def test_validate_returns_the_plan(tmp_path):
    src = make_clip(tmp_path / "a.mp4", width=80, height=48, frames=2)
    style, info, fmt = validate(options(src, tmp_path / "o.mp4"))
    assert (style.mode, info.width, fmt.pix_fmt, fmt.chroma_size) == ("colorize", 80, "yuv420p", (24, 40))


# ------------------------------------------------------------------ failures leave nothing behind


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_run_leaves_no_output_and_the_input_untouched(tmp_path, error):
    src = make_clip(tmp_path / "a.mp4", frames=30, audio_tracks=1)
    before = file_digest(src)
    out = tmp_path / "o.mp4"
    with pytest.raises(error):
        run_video(options(src, out, batch=2), backend=ConstantAB(fail_at_call=6, error=error))
    assert listing(tmp_path) == ["a.mp4"]
    assert file_digest(src) == before


def test_failure_keeps_the_previous_output(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=12)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"yesterday's result")
    with pytest.raises(RuntimeError):
        run_video(options(src, out, overwrite=True), backend=ConstantAB(fail_at_call=2))
    assert out.read_bytes() == b"yesterday's result" and listing(tmp_path) == ["a.mp4", "o.mp4"]


def test_worker_keeps_order_and_finishes_everything():
    from vidcolor.pipeline import Worker

    seen = []
    with Worker(lambda i: seen.append(i), depth=2) as worker:
        for i in range(50):
            worker.submit(i)
    assert seen == list(range(50))


def test_worker_error_reaches_the_submitter():
    from vidcolor.pipeline import Worker

    def fail(i):
        if i == 3:
            raise ValueError("merge broke")

    with pytest.raises(ValueError, match="merge broke"):
        with Worker(fail, depth=2) as worker:
            for i in range(1000):
                worker.submit(i)


def test_worker_drops_waiting_items_when_the_loop_fails():
    import threading

    from vidcolor.pipeline import Worker

    gate, seen = threading.Event(), []

    def slow(i):
        gate.wait(5)
        seen.append(i)

    with pytest.raises(KeyboardInterrupt):
        with Worker(slow, depth=8) as worker:
            for i in range(5):
                worker.submit(i)
            threading.Timer(0.2, gate.set).start()  # released only after the loop has failed
            raise KeyboardInterrupt
    assert len(seen) <= 1  # at most the item already being worked on
