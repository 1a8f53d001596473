from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import luma_pattern, make_clip
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.errors import InputError, OutputError
from vidcolor.gallery import Still, frame_at, read_still, sheet_styles, style_frame, style_sheet
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.sheet import BACKGROUND, LABEL_HEIGHT, compose_sheet, fit_height, save_png
from vidcolor.styles import get_style
from vidcolor.video.reader import probe
from test_pipeline import tiny_backend


def solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


# ------------------------------------------------------------------ composition


def test_tiles_sit_side_by_side_under_their_labels():
    red, blue = solid(100, 200, (200, 0, 0)), solid(50, 50, (0, 0, 200))  # blue is scaled to 100x100
    sheet = compose_sheet([("red", red), ("blue", blue)], tile_height=100, gap=6)
    assert sheet.shape == (6 + LABEL_HEIGHT + 100 + 6, 6 + 200 + 6 + 100 + 6, 3)
    top = 6 + LABEL_HEIGHT
    assert (sheet[top:top + 100, 6:206] == (200, 0, 0)).all()
    assert (sheet[top:top + 100, 212:312] == (0, 0, 200)).all()
    band = sheet[6:6 + LABEL_HEIGHT, 6:206]
    assert (band > 150).any() and (band == BACKGROUND).mean() > 0.5  # light text on the dark band


def test_columns_wrap_into_rows():
    tiles = [(str(i), solid(40, 60, (i * 40, 0, 0))) for i in range(5)]
    sheet = compose_sheet(tiles, columns=2, tile_height=40, gap=4)
    assert sheet.shape == (4 + 3 * (LABEL_HEIGHT + 40 + 4), 4 + 2 * (60 + 4), 3)
    last_row = 4 + 2 * (LABEL_HEIGHT + 40 + 4) + LABEL_HEIGHT
    assert (sheet[last_row:last_row + 40, 4:64] == (160, 0, 0)).all()  # the fifth tile starts the third row


def test_bad_pictures_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        compose_sheet([])
    with pytest.raises(ValueError, match="RGB"):
        fit_height(np.zeros((10, 10), np.uint8), 5)
    assert fit_height(solid(100, 300, (1, 2, 3)), 50).shape == (50, 150, 3)


def test_save_png_round_trip_keeps_rgb_order(tmp_path):
    rgb = solid(8, 12, (250, 10, 0))
    path = save_png(tmp_path / "s.png", rgb)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), rgb)
    with pytest.raises(OutputError, match="PNG"):
        save_png(tmp_path / "s.jpg", rgb)
    with pytest.raises(OutputError, match="does not exist"):
        save_png(tmp_path / "missing" / "s.png", rgb)


# ------------------------------------------------------------------ the frame and its styles


def numbered(index: int, width: int, height: int, bits: int) -> np.ndarray:
    """Frame i is flat at code 20 + 10 i: which frame was read is visible in any pixel."""
    return np.full((height, width), 20 + 10 * index, np.uint8)


def test_frame_at_finds_the_frame_at_a_time(tmp_path):
    info = probe(make_clip(tmp_path / "n.mp4", frames=10, rate=25, picture=numbered, options={"qp": "0"}))
    assert int(np.median(frame_at(info, 0.0))) == 20
    assert int(np.median(frame_at(info, 0.2))) == 70  # frame 5
    assert int(np.median(frame_at(info, None))) == 70  # the middle of 0.4 s
    with pytest.raises(InputError, match="ends before"):
        frame_at(info, 3.0)
    with pytest.raises(InputError, match="0 or more"):
        frame_at(info, -1.0)


def pillarboxed_still() -> Still:
    y = np.full((48, 96), 16, np.uint8)
    y[:, 16:80] = luma_pattern(0, 64, 48)
    return Still(y, 8, False, "bt709")


@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
def test_style_frame_is_what_a_run_writes_with_black_bars(style):
    still = pillarboxed_still()
    rgb = style_frame(still, get_style(style), tiny_backend(style, 32, 64, batch=1), (32, 64))
    assert rgb.shape == (48, 96, 3) and rgb.dtype == np.uint8
    assert rgb[:, :16].max() <= 1 and rgb[:, 80:].max() <= 1  # the bars stay black
    picture = rgb[:, 16:80].astype(int)
    assert np.abs(picture - picture.mean(axis=2, keepdims=True)).max() > 3  # and the picture has colour


def test_sheet_styles_are_those_with_weights(tmp_path, tiny_shipped):
    assert sheet_styles() == ["natural", "ukiyoe", "starry"]  # table order, each once (natural ships twice)
    only = save_generator(tmp_path / "u.safetensors", build_generator(GeneratorConfig.tiny(("ukiyoe",)), seed=0))
    assert sheet_styles(only) == ["ukiyoe"]


def test_read_still_takes_photos_too(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), 90, np.uint8))
    still = read_still(path)
    assert still.luma.shape == (20, 30) and still.full_range and int(still.luma[0, 0]) == 90


# ------------------------------------------------------------------ vidcolor styles --sheet


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return save_generator(tmp_path_factory.mktemp("w") / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))


def test_cli_writes_a_sheet_of_every_style(tmp_path, tiny_weights):
    film = make_clip(tmp_path / "film.mp4", width=96, height=48, frames=6)
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["styles", "--sheet", str(out), "--frame", str(film), "--at", "0.1", "--weights", str(tiny_weights)])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(out))
    assert sheet.shape == (6 + LABEL_HEIGHT + 48 + 6, 6 + 3 * (96 + 6), 3)  # source, natural, ukiyoe


def test_cli_sheet_errors_come_before_any_work(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["styles", "--sheet", str(tmp_path / "s.jpg")])
    assert result.exit_code == 1 and "PNG" in result.output
    result = runner.invoke(app, ["styles", "--frame", str(tmp_path / "f.mp4")])
    assert result.exit_code == 1 and "--sheet" in result.output
    result = runner.invoke(app, ["styles", "--sheet", str(tmp_path / "s.png"), "--frame", str(tmp_path / "none.mp4")])
    assert result.exit_code == 1 and "not found" in result.output


def test_style_sheet_of_the_sample_film(tmp_path):
    path = style_sheet(tmp_path / "s.png", styles=["ukiyoe"], weights=None, model_height=64, tile_height=60)
    assert cv2.imread(str(path)).shape[0] == 6 + LABEL_HEIGHT + 60 + 6
