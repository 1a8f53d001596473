"""`vidcolor preview`: moments spread across a film, each style beside the original, one labelled PNG."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import decoded_lumas, file_digest, make_clip
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.errors import InputError, OutputError, StyleError, VidcolorError
from vidcolor.gallery import Still, grey_frame
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.preview import PreviewOptions, clock, frame_times, preview, shrink
from vidcolor.sheet import LABEL_HEIGHT

GAP = 6  # vidcolor.sheet.compose_sheet's default gap


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return save_generator(tmp_path_factory.mktemp("weights") / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    """2 s at 25 fps, 64x48, a key frame every 10 frames (so the preview has to seek)."""
    return make_clip(tmp_path_factory.mktemp("film") / "film.mp4", frames=50, options={"g": "10"})


def options(src: Path, out: Path, weights: Path, **changes) -> PreviewOptions:
    return PreviewOptions(**{**dict(input=src, output=out, weights=weights, frames=3, model_height=32, device="cpu"), **changes})


def sheet_of(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_frame_times_are_the_centres_of_equal_parts():
    assert frame_times(600.0, 6) == [50.0, 150.0, 250.0, 350.0, 450.0, 550.0]
    assert frame_times(2.0, 1) == [1.0]
    with pytest.raises(ValueError):
        frame_times(0.0, 3)


@pytest.mark.parametrize("seconds, text", [(0.0, "0:00.0"), (12.34, "0:12.3"), (599.96, "10:00.0"), (3723.0, "1:02:03.0")])
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_shrink_keeps_the_aspect_and_small_frames():
    y = np.zeros((2160, 3840), np.uint8)
    assert shrink(y, 360).shape == (360, 640)
    small = np.zeros((48, 64), np.uint8)
    assert shrink(small, 360) is small


def test_sheet_has_a_row_per_moment_and_a_column_per_style(film, tiny_weights, tmp_path):
    before = file_digest(film)
    summary = preview(options(film, tmp_path / "sheet.png", tiny_weights))
    assert summary.styles == ("natural", "ukiyoe") and summary.times == pytest.approx((1 / 3, 1.0, 5 / 3))
    sheet = sheet_of(tmp_path / "sheet.png")
    cell_h, cell_w = LABEL_HEIGHT + 48, 64
    assert sheet.shape == (GAP + 3 * (cell_h + GAP), GAP + 3 * (cell_w + GAP), 3)
    lumas = decoded_lumas(film)
    for row, index in enumerate((9, 25, 42)):  # the first frame at or after each moment (25 fps)
        top = GAP + row * (cell_h + GAP) + LABEL_HEIGHT
        tiles = [sheet[top:top + 48, GAP + c * (cell_w + GAP):GAP + c * (cell_w + GAP) + cell_w] for c in range(3)]
        np.testing.assert_array_equal(tiles[0], grey_frame(Still(lumas[index], 8, False, "bt709")))
        assert np.ptp(tiles[1].astype(int), axis=2).max() > 2  # natural added colour
        assert not np.array_equal(tiles[1], tiles[2])
    assert file_digest(film) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_one_style_and_one_frame(film, tiny_weights, tmp_path):
    summary = preview(options(film, tmp_path / "one.png", tiny_weights, styles=("ukiyoe",), frames=1))
    assert summary.styles == ("ukiyoe",) and summary.times == (1.0,)
    assert sheet_of(tmp_path / "one.png").shape == (GAP + LABEL_HEIGHT + 48 + GAP, GAP + 2 * (64 + GAP), 3)


@pytest.mark.parametrize("changes, error, match", [
    ({"output": "sheet.jpg"}, OutputError, "PNG"),
    ({"frames": 0}, VidcolorError, "--frames"),
    ({"styles": ("sepia",)}, StyleError, "sepia"),
    ({"input": "missing.mp4"}, InputError, "not found"),
    ({"model_height": 40}, VidcolorError, "multiple of 32"),
])
def test_bad_requests_write_nothing(film, tiny_weights, tmp_path, changes, error, match):
    changes = {k: tmp_path / v if k in ("output", "input") else v for k, v in changes.items()}
    with pytest.raises(error, match=match):
        preview(options(film, tmp_path / "sheet.png", tiny_weights, **changes))
    assert list(tmp_path.iterdir()) == []


def test_existing_sheet_needs_overwrite(film, tiny_weights, tmp_path):
    (tmp_path / "sheet.png").write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        preview(options(film, tmp_path / "sheet.png", tiny_weights))
    assert (tmp_path / "sheet.png").read_bytes() == b"keep"
    preview(options(film, tmp_path / "sheet.png", tiny_weights, overwrite=True))
    assert sheet_of(tmp_path / "sheet.png").shape[2] == 3


def test_cli_preview_default_name_and_styles(film, tiny_weights, tmp_path):
    src = tmp_path / "reel.mp4"
    src.write_bytes(film.read_bytes())
    result = CliRunner().invoke(app, ["preview", str(src), "--weights", str(tiny_weights), "--model-height", "32",
                                      "--frames", "2", "--styles", "natural", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "2 frames x 1 styles" in result.output and (tmp_path / "reel.preview.png").is_file()
    result = CliRunner().invoke(app, ["preview", str(src), "--styles", ","])
    assert result.exit_code == 1 and "--styles is empty" in result.output
