from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decoded_lumas, make_clip, packets_of, read_frames

from vidcolor.errors import CodecError, OutputError
from vidcolor.options import EncodeOptions
from vidcolor.video.reader import LumaReader, VideoInfo, probe
from vidcolor.video.writer import PlaneFormat, VideoWriter, plan_output

LOSSLESS = EncodeOptions(codec="libx264", crf=0, preset="ultrafast")


def copy_video(src: Path, dst: Path, encode: EncodeOptions = LOSSLESS, fail_after: int | None = None) -> VideoWriter:
    """Re-encode src's luma with flat grey-blue chroma; optionally raise after some frames."""
    info = probe(src)
    fmt = plan_output(info, encode, dst)
    with LumaReader(info) as reader, VideoWriter(dst, info, fmt, encode) as writer:
        for i, frame in enumerate(reader):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("boom")
            writer.write(frame.y, *chroma(fmt, 140), frame.pts)
    return writer


def chroma(fmt: PlaneFormat, value: int) -> tuple[np.ndarray, np.ndarray]:
    dtype = np.uint8 if fmt.bit_depth == 8 else np.uint16
    plane = np.full(fmt.chroma_size, value << (fmt.bit_depth - 8), dtype)
    return plane, plane


def fake_info(**changes) -> VideoInfo:
    base = dict(
        path=Path("x.mp4"), stream_index=0, codec="h264", coded_width=64, coded_height=48, rotation=0,
        sample_aspect_ratio=Fraction(1), time_base=Fraction(1, 25), average_rate=Fraction(25), frame_count=1,
        frame_count_exact=True, end_time=None, pix_fmt="yuv420p", bit_depth=8, matrix="bt709", full_range=False,
    )
    return VideoInfo(**{**base, **changes})


# ------------------------------------------------------------------ format planning


def test_default_format_is_yuv420p_with_half_size_chroma():
    fmt = plan_output(fake_info(), EncodeOptions(), Path("o.mp4"))
    assert (fmt.pix_fmt, fmt.chroma_size, fmt.bit_depth) == ("yuv420p", (24, 32), 8)


def test_ten_bit_input_gets_ten_bit_output():
    fmt = plan_output(fake_info(bit_depth=10, pix_fmt="yuv420p10le"), EncodeOptions(), Path("o.mkv"))
    assert (fmt.pix_fmt, fmt.bit_depth) == ("yuv420p10le", 10)


def test_odd_size_defaults_to_full_chroma_and_refuses_subsampling():
    info = fake_info(coded_width=65, coded_height=47)
    fmt = plan_output(info, EncodeOptions(), Path("o.mp4"))
    assert (fmt.pix_fmt, fmt.width, fmt.height, fmt.chroma_size) == ("yuv444p", 65, 47, (47, 65))
    with pytest.raises(CodecError) as e:
        plan_output(info, EncodeOptions(pix_fmt="yuv420p"), Path("o.mp4"))
    assert "yuv444p" in e.value.hint


def test_unknown_codec_is_a_codec_error_with_suggestions():
    with pytest.raises(CodecError, match="not available") as e:
        plan_output(fake_info(), EncodeOptions(codec="h266-magic"), Path("o.mp4"))
    assert "libx264" in e.value.hint


def test_audio_codec_is_not_a_video_encoder():
    with pytest.raises(CodecError, match="not a video encoder"):
        plan_output(fake_info(), EncodeOptions(codec="aac"), Path("o.mp4"))


def test_unsupported_pixel_format_lists_the_usable_ones():
    with pytest.raises(CodecError, match="rgb24") as e:
        plan_output(fake_info(), EncodeOptions(pix_fmt="rgb24"), Path("o.mp4"))
    assert "yuv444p" in e.value.hint


def test_codec_the_container_cannot_hold():
    with pytest.raises(CodecError, match="cannot hold"):
        plan_output(fake_info(), EncodeOptions(codec="libx264"), Path("o.webm"))


def test_unknown_output_extension():
    with pytest.raises(OutputError, match=".xyz"):
        plan_output(fake_info(), EncodeOptions(), Path("o.xyz"))


# ------------------------------------------------------------------ what comes out


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov"])
def test_same_frames_pts_time_base_and_luma(tmp_path, ext):
    src = make_clip(tmp_path / f"in.{ext}", frames=10, rate=Fraction(30000, 1001))
    out = tmp_path / f"out.{ext}"
    writer = copy_video(src, out)
    (s_in, f_in), (s_out, f_out) = read_frames(src), read_frames(out)
    assert writer.frames_written == len(f_out) == len(f_in) == 10
    assert s_out.time_base == s_in.time_base
    assert s_out.average_rate == s_in.average_rate
    assert [f.pts for f in f_out] == [f.pts for f in f_in]
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        np.testing.assert_array_equal(a, b)  # crf 0: lossless, so the Y plane must survive exactly


def test_variable_frame_rate_survives(tmp_path):
    pts = [0, 33, 66, 200, 233, 500, 510, 520, 900]
    src = make_clip(tmp_path / "vfr.mkv", time_base=Fraction(1, 1000), pts=pts)
    out = tmp_path / "out.mkv"
    copy_video(src, out)
    assert [f.pts for f in read_frames(out)[1]] == pts


def test_vfr_mp4_keeps_timestamps(tmp_path):
    src = make_clip(tmp_path / "vfr.mp4", time_base=Fraction(1, 90000), pts=[0, 3000, 6000, 15000, 18000, 40000])
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    (s_in, f_in), (s_out, f_out) = read_frames(src), read_frames(out)
    assert s_out.time_base == s_in.time_base
    assert [f.pts for f in f_out] == [f.pts for f in f_in]


def test_odd_size_is_kept_exactly(tmp_path):
    src = make_clip(tmp_path / "odd.mp4", width=65, height=47, frames=4, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    stream, frames = read_frames(out)
    assert (frames[0].width, frames[0].height, frames[0].format.name) == (65, 47, "yuv444p")


def test_ten_bit_luma_survives(tmp_path):
    src = make_clip(tmp_path / "deep.mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=4)
    out = tmp_path / "out.mkv"
    copy_video(src, out, EncodeOptions(codec="ffv1"))
    assert read_frames(out)[1][0].format.name == "yuv420p10le"
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        assert b.dtype == np.uint16
        np.testing.assert_array_equal(a, b)


def test_ten_bit_h264_when_asked(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / "out.mp4"
    info = probe(src)
    encode = EncodeOptions(pix_fmt="yuv420p10le", preset="ultrafast")
    fmt = plan_output(info, encode, out)
    assert fmt.bit_depth == 10
    with LumaReader(info) as reader, VideoWriter(out, info, fmt, encode) as writer:
        for frame in reader:
            writer.write(frame.y.astype(np.uint16) << 2, *chroma(fmt, 128), frame.pts)
    assert read_frames(out)[1][0].format.name == "yuv420p10le"


def test_sample_aspect_ratio_is_kept(tmp_path):
    src = make_clip(tmp_path / "anamorphic.mp4", sar=Fraction(4, 3), frames=3)
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    assert probe(out).sample_aspect_ratio == Fraction(4, 3)


def test_rotated_input_is_written_upright(tmp_path):
    src = make_clip(tmp_path / "portrait.mp4", rotation=90, frames=3)
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    info = probe(out)
    assert (info.rotation, info.width, info.height) == (0, 48, 64)


def test_audio_tracks_copied_packet_for_packet_with_metadata(tmp_path):
    src = make_clip(
        tmp_path / "in.mp4",
        frames=25,
        audio_tracks=2,
        metadata={"title": "Winter in Holland", "creation_time": "1910-01-02T03:04:05.000000Z"},
        video_metadata={"language": "nld"},
        audio_metadata=[{"language": "eng"}, {"language": "fra"}],
    )
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    audio_in, audio_out = packets_of(src), packets_of(out)
    assert len(audio_out) == 2
    assert audio_out == audio_in  # payload, pts and dts of every packet
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.metadata["title"] == "Winter in Holland"
        assert b.metadata["creation_time"] == a.metadata["creation_time"]
        assert [s.metadata.get("language") for s in b.streams] == ["nld", "eng", "fra"]
        assert b.streams.audio[0].metadata.get("handler_name") == a.streams.audio[0].metadata.get("handler_name")
        assert [s.codec_context.sample_rate for s in b.streams.audio] == [44100, 22050]


def test_audio_is_interleaved_not_appended(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=50, audio_tracks=1)
    out = tmp_path / "out.mkv"
    copy_video(src, out)
    with av.open(str(out)) as c:
        kinds = [p.stream.type for p in c.demux() if p.dts is not None]
    first_audio, last_video = kinds.index("audio"), len(kinds) - 1 - kinds[::-1].index("video")
    assert first_audio < last_video


def test_stream_the_container_cannot_hold_is_dropped_with_a_warning(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=3)
    src2 = tmp_path / "with_opus.mkv"  # the video plus an Opus track (mp4 holds opus, avi does not)
    with av.open(str(src)) as c, av.open(str(src2), "w") as out:
        v = out.add_stream_from_template(c.streams.video[0])
        a = out.add_stream("libopus", rate=48000)
        a.layout = "mono"
        for packet in c.demux(c.streams.video[0]):
            if packet.dts is not None:
                packet.stream = v
                out.mux(packet)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in list(a.encode(frame)) + list(a.encode()):
            out.mux(packet)
    out_path = tmp_path / "out.avi"
    writer = copy_video(src2, out_path, EncodeOptions(codec="mpeg4"))
    assert any("opus" in w and "dropped" in w for w in writer.warnings)
    with av.open(str(out_path)) as c:
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1


def with_subtitles(src: Path, dst: Path) -> Path:
    """``src``'s video plus an English SubRip track of two cues, muxed by stream copy."""
    with av.open(str(src)) as c, av.open(str(dst), "w") as out:
        video = out.add_stream_from_template(c.streams.video[0])
        subs = out.add_mux_stream("subrip", time_base=Fraction(1, 1000))
        subs.metadata["language"] = "eng"
        for packet in c.demux(c.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
        for i, text in enumerate([b"Hello", b"World"]):
            cue = av.Packet(text)
            cue.stream, cue.pts, cue.dts, cue.duration, cue.time_base = subs, 200 * i, 200 * i, 150, Fraction(1, 1000)
            out.mux(cue)
    return dst


def test_subtitles_copied_where_the_container_holds_them(tmp_path):
    src = with_subtitles(make_clip(tmp_path / "v.mkv", frames=10), tmp_path / "in.mkv")
    writer = copy_video(src, tmp_path / "out.mkv")
    assert writer.warnings == []
    assert packets_of(tmp_path / "out.mkv", "subtitle") == packets_of(src, "subtitle") == [[(b"Hello", 0, 0), (b"World", 200, 200)]]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.subtitles[0].metadata["language"] == "eng"
    writer = copy_video(src, tmp_path / "out.mp4")  # mp4 holds only mov_text subtitles
    assert packets_of(tmp_path / "out.mp4", "subtitle") == []
    assert any("subrip" in w and "dropped" in w for w in writer.warnings)


# ------------------------------------------------------------------ safety


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failure_mid_run_leaves_no_output_and_no_temp_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        copy_video(src, out, fail_after=5)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failure_keeps_an_existing_target_untouched(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        copy_video(src, out, fail_after=3)
    assert out.read_bytes() == b"previous result"
    assert leftovers(tmp_path) == []


def test_keyboard_interrupt_leaves_nothing(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    info = probe(src)
    fmt = plan_output(info, LOSSLESS, out)
    with pytest.raises(KeyboardInterrupt):
        with LumaReader(info) as reader, VideoWriter(out, info, fmt, LOSSLESS) as writer:
            for i, frame in enumerate(reader):
                writer.write(frame.y, *chroma(fmt, 128), frame.pts)
                if i == 10:
                    assert wait_for(writer.temp_path.exists)  # work in progress sits beside the target
                    raise KeyboardInterrupt
    assert writer.temp_path.parent == tmp_path and writer.temp_path.name.startswith(".out.")
    assert not out.exists() and leftovers(tmp_path) == []


def test_encoder_error_surfaces_and_cleans_up(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=5)
    out = tmp_path / "out.mp4"
    info = probe(src)
    fmt = plan_output(info, LOSSLESS, out)
    with pytest.raises(ValueError, match="plane of shape"):
        with VideoWriter(out, info, fmt, LOSSLESS) as writer:
            for pts in range(50):  # wrong chroma size: the encoder thread fails, write() re-raises
                writer.write(np.zeros((48, 64), np.uint8), np.zeros((5, 5), np.uint8), np.zeros((5, 5), np.uint8), pts)
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("threads", [1, 3])
def test_encoder_thread_count_does_not_change_the_frames(tmp_path, threads):
    from vidcolor.video.writer import encoder_threads

    assert encoder_threads(640, 480) >= 1 and encoder_threads(1920, 1080) == 0  # 0: FFmpeg picks
    src = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    copy_video(src, out, EncodeOptions(codec="libx264", crf=0, preset="ultrafast", threads=threads))
    assert [f.tobytes() for f in decoded_lumas(out)] == [f.tobytes() for f in decoded_lumas(src)]
