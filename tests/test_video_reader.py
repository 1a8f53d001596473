from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import _write_audio, luma_pattern, make_clip

from vidcolor.errors import InputError
from vidcolor.video.reader import LumaReader, probe


def read_all(path: Path) -> tuple[list, LumaReader]:
    with LumaReader(probe(path)) as reader:
        frames = list(reader)
    return frames, reader


def test_probe_reports_stream_parameters(tmp_path):
    info = probe(make_clip(tmp_path / "a.mp4", width=80, height=48, frames=10, rate=Fraction(30000, 1001)))
    assert (info.width, info.height, info.rotation) == (80, 48, 0)
    assert info.average_rate == Fraction(30000, 1001)
    assert info.frame_count == 10 and info.frame_count_exact
    assert (info.bit_depth, info.pix_fmt, info.full_range, info.matrix) == (8, "yuv420p", False, "bt709")


def test_decodes_every_frame_with_its_pts_and_exact_luma(tmp_path):
    path = make_clip(tmp_path / "a.mkv", codec="ffv1", frames=9)  # lossless, so the luma is known exactly
    frames, reader = read_all(path)
    assert [f.pts for f in frames] == [40 * i for i in range(9)]  # Matroska time base is 1 ms
    for i, f in enumerate(frames):
        assert f.y.dtype == np.uint8
        np.testing.assert_array_equal(f.y, luma_pattern(i, 64, 48))
    assert (reader.decoded, reader.skipped) == (9, 0)


def test_variable_frame_rate_pts_are_kept(tmp_path):
    pts = [0, 40, 80, 200, 240, 400, 410, 420]
    frames, reader = read_all(make_clip(tmp_path / "vfr.mkv", time_base=Fraction(1, 1000), pts=pts))
    assert [f.pts for f in frames] == pts
    assert reader.skipped == 0


def test_ten_bit_odd_size_luma_is_native_depth(tmp_path):
    path = make_clip(tmp_path / "a.mkv", codec="ffv1", pix_fmt="yuv420p10le", width=65, height=47, frames=4)
    info = probe(path)
    assert (info.bit_depth, info.width, info.height) == (10, 65, 47)
    frames, _ = read_all(path)
    assert frames[2].y.dtype == np.uint16 and frames[2].y.shape == (47, 65)
    np.testing.assert_array_equal(frames[2].y, luma_pattern(2, 65, 47, bit_depth=10))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied_to_the_frames(tmp_path, rotation):
    lossless = {"qp": "0"}
    plain, _ = read_all(make_clip(tmp_path / "plain.mkv", frames=3, options=lossless))
    path = make_clip(tmp_path / "rot.mkv", frames=3, rotation=rotation, sar=Fraction(4, 3), options=lossless)
    info = probe(path)
    turned = rotation in (90, 270)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if turned else (64, 48))
    # pixel shape turns with the picture: 4:3 pixels lying on their side are 3:4
    assert info.sample_aspect_ratio == (Fraction(3, 4) if turned else Fraction(4, 3))
    rotated, _ = read_all(path)
    for a, b in zip(plain, rotated, strict=True):
        np.testing.assert_array_equal(b.y, np.rot90(a.y, rotation // 90))


def test_display_size_applies_the_sample_aspect_ratio(tmp_path):
    info = probe(make_clip(tmp_path / "anamorphic.mp4", width=64, height=48, sar=Fraction(4, 3), frames=2))
    assert info.sample_aspect_ratio == Fraction(4, 3)
    assert info.display_size == (85, 48)


def test_rgb_input_gives_a_luma_plane(tmp_path):
    path = make_clip(tmp_path / "rgb.mkv", codec="libx264rgb", pix_fmt="rgb24", frames=3)
    frames, _ = read_all(path)
    assert len(frames) == 3 and frames[0].y.shape == (48, 64) and frames[0].y.dtype == np.uint8
    assert probe(path).bit_depth == 8


def test_leaving_the_loop_early_stops_the_decoder(tmp_path):
    path = make_clip(tmp_path / "a.mp4", frames=30)
    with LumaReader(probe(path), queue_size=2) as reader:
        for _ in zip(range(3), reader, strict=False):
            pass
    assert not reader._thread.is_alive()


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "nope.mp4")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        probe(tmp_path)


def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a video"):
        probe(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        _write_audio(out, audio, 0.3, 440.0)
    with pytest.raises(InputError, match="no video stream"):
        probe(path)


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height = 64, 48
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        _write_audio(out, audio, 0.3, 440.0)
    with pytest.raises(InputError, match="no decodable video frame"):
        probe(path)


def _truncate(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def test_truncated_matroska_decodes_what_is_there_and_counts_the_rest(tmp_path):
    full = make_clip(tmp_path / "full.mkv", width=128, height=96, frames=30, options={"g": "5"})
    frames, reader = read_all(_truncate(full, tmp_path / "cut.mkv", 0.6))
    assert 0 < len(frames) < 30
    assert reader.skipped == 30 - len(frames)


def test_truncated_mp4_without_its_index_is_refused_clearly(tmp_path):
    full = make_clip(tmp_path / "full.mp4", width=128, height=96, frames=30)
    with pytest.raises(InputError, match="not a video FFmpeg can read"):
        probe(_truncate(full, tmp_path / "cut.mp4", 0.6))


def test_undecodable_packets_are_counted_as_skipped(tmp_path):
    # an mp4 whose index survives but whose frame data is overwritten: the header still
    # promises 30 frames, so every frame the decoder cannot produce is counted
    full = make_clip(tmp_path / "full.mp4", width=128, height=96, frames=30, options={"g": "5"}, container_options={"movflags": "faststart"})
    data = bytearray(full.read_bytes())
    start = len(data) // 2
    data[start:] = bytes(len(data) - start)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    frames, reader = read_all(damaged)
    assert len(frames) + reader.skipped == 30
    assert reader.skipped > 0
