from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import luma_pattern, make_clip

from vidcolor.borders import Border, BorderTracker, black_threshold, detect_border, holds_picture, keep_border_black
from vidcolor.color import to_model_input
from vidcolor.options import EncodeOptions, RunOptions
from vidcolor.pipeline import run_video
from test_pipeline import planes, tiny_backend

T8 = black_threshold(8, False)  # code 29 in 8-bit limited range
rng = np.random.default_rng(0)


def framed(content: np.ndarray, top=0, bottom=0, left=0, right=0, black=16, noise=0) -> np.ndarray:
    """``content`` (h, w) uint8 inside black bars of the given widths; bars get +-noise code values."""
    h, w = content.shape
    y = np.full((top + h + bottom, left + w + right), black, np.int32)
    if noise:
        y += rng.integers(0, noise + 1, y.shape)
    y[top:top + h, left:left + w] = content
    return y.astype(np.uint8)


def picture(h: int, w: int, low=16, high=235) -> np.ndarray:
    return rng.integers(low, high, (h, w)).astype(np.uint8)


# ------------------------------------------------------------------ detect_border


@pytest.mark.parametrize("bars", [dict(left=80, right=80), dict(top=45, bottom=45), dict(top=20, bottom=20, left=30, right=30),
                                  dict(left=3), dict(bottom=1)])
def test_detects_letterbox_pillarbox_windowbox_and_thin_edges(bars):
    assert detect_border(framed(picture(270, 480), **bars), T8) == Border(**bars)


def test_noisy_bars_with_dust_are_still_bars():
    y = framed(picture(270, 480), top=45, bottom=45, noise=8)  # scanned bars: 16..24
    y[5, 100:105] = 200  # a speck of dust in the top bar
    assert detect_border(y, T8) == Border(top=45, bottom=45)


def test_dark_picture_without_bars_is_not_cropped():
    night = picture(360, 640, low=16, high=70)  # dark, but a textured picture right to the edges
    assert detect_border(night, T8) == Border()
    assert not detect_border(picture(360, 640), T8)


def test_black_frame_is_all_border_and_bad_input_raises():
    assert detect_border(np.full((36, 64), 16, np.uint8), T8) == Border(top=36)
    with pytest.raises(ValueError, match="luma plane"):
        detect_border(np.zeros((2, 36, 64), np.uint8), T8)


def test_threshold_follows_range_and_depth():
    assert black_threshold(8, False) == 29 and black_threshold(8, True) == 15 and black_threshold(10, False) == 117
    full_range = framed(picture(270, 480, low=40), left=80, right=80, black=0)
    assert detect_border(full_range, black_threshold(8, True)) == Border(left=80, right=80)


# ------------------------------------------------------------------ per shot, not per frame


def model_luma(y: np.ndarray) -> np.ndarray:
    return to_model_input(y, (32, 64))


def shot_frames(count: int, bars: dict, seed: int) -> list[np.ndarray]:
    """A moving letterboxed shot whose picture sometimes has dark lines at its edge (per-frame detection varies)."""
    frames = []
    for i in range(count):
        content = luma_pattern(i + seed, 480, 270)
        if i % 3 == 1:
            content[:6] = 16  # a dark line of picture touching the top bar
        if i % 3 == 2:
            content[:, -4:] = 20  # and at the right
        frames.append(framed(content, **bars))
    return frames


def test_border_is_decided_once_per_shot_and_changes_at_the_cut():
    letterbox, pillarbox = dict(top=45, bottom=45), dict(left=80, right=80)
    first = shot_frames(9, letterbox, seed=0)
    second = [framed(np.ascontiguousarray(luma_pattern(i, 270, 480, 8).T[:, ::-1]), **pillarbox) for i in range(6)]
    per_frame = {detect_border(y, T8) for y in first}
    assert len(per_frame) > 1  # what would flicker without the per-shot decision
    tracker = BorderTracker(T8)
    decided = [tracker(y, model_luma(y)) for y in first + second]
    assert decided[:9] == [Border(**letterbox)] * 9
    assert decided[9:] == [Border(**pillarbox)] * 6
    assert tracker.decisions == 2


def test_a_shot_that_fades_in_from_black_is_decided_on_its_first_picture():
    black = [np.full((360, 640), 16, np.uint8)] * 3
    shot = shot_frames(4, dict(left=80, right=80), seed=1)
    tracker = BorderTracker(T8)
    decided = [tracker(y, model_luma(y)) for y in black + shot]
    assert decided[:3] == [Border(top=360)] * 3  # black frames stay black
    assert decided[3:] == [Border(left=80, right=80)] * 4 and tracker.decisions == 1


def test_picture_moving_into_the_border_makes_it_decided_again():
    start = framed(luma_pattern(0, 640, 300), top=60)  # first frame: the top of the picture is black
    later = luma_pattern(1, 640, 360)  # same shot, the camera tilts: picture right to the top
    tracker = BorderTracker(T8)
    assert tracker(start, model_luma(start)) == Border(top=60)
    assert holds_picture(later, Border(top=60), T8)
    assert tracker(later, model_luma(later)) == Border() and tracker.decisions == 2


# ------------------------------------------------------------------ applying it


def test_keep_border_black_sets_source_luma_and_neutral_chroma_without_touching_inputs():
    y, cb, cr = np.full((9, 12), 100, np.uint8), np.full((5, 6), 60, np.uint8), np.full((5, 6), 200, np.uint8)
    source = np.full((9, 12), 17, np.uint8)
    out = keep_border_black((y, cb, cr), source, Border(top=3, left=1), 8)
    assert (out[0][:3] == 17).all() and (out[0][:, 0] == 17).all() and (out[0][3:, 1:] == 100).all()
    assert (out[1][:2] == 128).all() and (out[2][:, 0] == 128).all()  # 3 luma rows -> 2 chroma rows (the straddling one too)
    assert (out[1][2:, 1:] == 60).all() and (out[2][2:, 1:] == 200).all()
    assert (y == 100).all() and (cb == 60).all()  # inputs untouched
    same = (y, cb, cr)
    assert keep_border_black(same, source, Border(), 8) is same


# ------------------------------------------------------------------ in a real run


def pillarboxed(index: int, width: int, height: int, bits: int) -> np.ndarray:
    y = np.full((height, width), 16, np.uint8)
    y[:, 16:width - 16] = luma_pattern(index, width - 32, height)
    return y


def dark_picture(index: int, width: int, height: int, bits: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (18 + (5 * xx + 3 * yy + 2 * index) % 40).astype(np.uint8)  # codes 18..57, no bars


def run(tmp_path: Path, src: Path, style: str, **changes) -> list[list[np.ndarray]]:
    out = tmp_path / f"{src.stem}.{style}.{changes.get('black_borders', True)}.mkv"
    options = RunOptions(input=src, output=out, style=style, model_height=32, quiet=True, temporal=None,
                         encode=EncodeOptions(crf=0, preset="ultrafast"), **changes)
    run_video(options, backend=tiny_backend(style, 32, 64))
    return planes(out)


def letterboxed(index: int, width: int, height: int, bits: int) -> np.ndarray:
    y = np.full((height, width), 16, np.uint8)
    y[8:height - 8] = luma_pattern(index, width, height - 16)
    return y


# picture, its bars on the luma plane, the same bars on the 4:2:0 chroma planes
BOXES = {
    "pillarbox": (pillarboxed, [np.s_[:, :16], np.s_[:, -16:]], [np.s_[:, :8], np.s_[:, -8:]], np.s_[:, 8:-8]),
    "letterbox": (letterboxed, [np.s_[:8], np.s_[-8:]], [np.s_[:4], np.s_[-4:]], np.s_[4:-4]),
}


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
def test_bars_come_out_black_in_every_style(tmp_path, style, box):
    picture, luma_bars, chroma_bars, inside = BOXES[box]
    src = make_clip(tmp_path / f"{box}.mkv", width=96, height=48, frames=5, picture=picture, options={"qp": "0"})
    for y, cb, cr in run(tmp_path, src, style):
        for bar in luma_bars:
            assert (y[bar] == 16).all()
        for bar in chroma_bars:
            assert (cb[bar] == 128).all() and (cr[bar] == 128).all()
        assert max(np.abs(c[inside].astype(int) - 128).max() for c in (cb, cr)) > 2  # the picture is coloured
    if style == "ukiyoe":  # without it the bars are painted: what this guards against
        y, cb, _ = run(tmp_path, src, style, black_borders=False)[0]
        assert any((y[bar] != 16).any() for bar in luma_bars) or any((cb[bar] != 128).any() for bar in chroma_bars)


def test_dark_picture_without_bars_is_coloured_as_before(tmp_path):
    src = make_clip(tmp_path / "dark.mkv", width=96, height=48, frames=3, picture=dark_picture, options={"qp": "0"})
    kept, plain = run(tmp_path, src, "ukiyoe"), run(tmp_path, src, "ukiyoe", black_borders=False)
    for a, b in zip(kept, plain, strict=True):
        for pa, pb in zip(a, b, strict=True):
            np.testing.assert_array_equal(pa, pb)


def test_cli_no_black_borders_lets_the_style_paint_the_bars(tmp_path):
    from typer.testing import CliRunner

    from vidcolor.cli import app
    from vidcolor.models.checkpoint import save_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator

    src = make_clip(tmp_path / "pillarbox.mkv", width=96, height=48, frames=2, picture=pillarboxed, options={"qp": "0"})
    weights = save_generator(tmp_path / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))
    common = ["run", str(src), "--style", "ukiyoe", "--weights", str(weights), "--backend", "torch", "--model-height", "32",
              "--crf", "0", "--preset", "ultrafast", "--no-temporal", "-q"]
    for flag, name in (([], "kept.mkv"), (["--no-black-borders"], "painted.mkv")):
        result = CliRunner().invoke(app, common + flag + ["-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    (y, cb, _), = planes(tmp_path / "kept.mkv")[:1]
    assert (y[:, :16] == 16).all() and (cb[:, :8] == 128).all()
    (y, cb, _), = planes(tmp_path / "painted.mkv")[:1]
    assert (y[:, :16] != 16).any() or (cb[:, :8] != 128).any()
