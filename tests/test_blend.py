from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_clip
from typer.testing import CliRunner

import vidcolor.models.checkpoint
from vidcolor.blend import blend_label, blend_weights_file, parse_blend, resolve_style, style_vector
from vidcolor.cli import app, default_output
from vidcolor.errors import StyleError
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.styles import STYLES


def test_weights_are_normalised_and_a_plain_name_weighs_one():
    assert parse_blend("ukiyoe") == {"ukiyoe": 1.0}
    assert parse_blend("ukiyoe:0.25") == {"ukiyoe": 1.0}
    assert parse_blend("natural") == {"natural": 1.0}


def test_a_blend_keeps_its_order_and_proportions():
    assert parse_blend("ukiyoe:0.6,starry:0.4") == pytest.approx({"ukiyoe": 0.6, "starry": 0.4})
    assert parse_blend(" starry : 3 , ukiyoe:1e0 ") == pytest.approx({"starry": 0.75, "ukiyoe": 0.25})
    assert list(parse_blend("starry,ukiyoe:3")) == ["starry", "ukiyoe"]
    assert parse_blend("starry,ukiyoe:3") == pytest.approx({"starry": 0.25, "ukiyoe": 0.75})


@pytest.mark.parametrize("text, message, hint", [
    ("", "no style given", "--style ukiyoe:0.6"),
    ("   ", "no style given", "--style ukiyoe"),
    ("ukiyoe,", "empty entry", "single commas"),
    ("ukiyoe,,starry", "empty entry", "single commas"),
    (":0.5", "has no style name", "NAME:WEIGHT"),
    ("ukiyoe:", "no weight after 'ukiyoe:'", "ukiyoe alone for weight 1"),
    ("ukiyoe:abc", "not a number: 'abc'", "decimal number"),
    ("ukiyoe:0x1", "not a number", "decimal number"),
    ("ukiyoe:0", "must be positive, got 0", "instead of weight 0"),
    ("ukiyoe:-0.5", "must be positive, got -0.5", "shares above 0"),
    ("ukiyoe:nan", "finite number", "ukiyoe:0.5"),
    ("ukiyoe:inf", "finite number", "ukiyoe:0.5"),
    ("ukiyoe:1e999", "finite number", "ukiyoe:0.5"),
    ("ukiyoe:0.5:1", "more than one ':'", "NAME:WEIGHT"),
    ("ukiyoe:0,6", "'6' in 'ukiyoe:0,6' is a number", "decimal point"),
    ("ukiyoe,ukiyoe:2", "appears twice", "each style once"),
    ("nope", "unknown style 'nope'", "natural, pastel"),
    ("ukiyoe:0.5,nope:0.5", "unknown style 'nope'", "starry, storm, ukiyoe"),
    ("Ukiyoe", "unknown style 'Ukiyoe'", "ukiyoe"),
    ("natural:0.5,ukiyoe:0.5", "natural cannot be blended with stylizing styles", "with each other"),
])
def test_every_bad_form_says_what_is_wrong_and_what_to_do(text, message, hint):
    with pytest.raises(StyleError) as caught:
        parse_blend(text)
    assert message in caught.value.message and hint in (caught.value.hint or "")


def test_labels_are_file_name_safe():
    assert blend_label(parse_blend("ukiyoe")) == "ukiyoe"
    assert blend_label(parse_blend("ukiyoe:0.6,starry:0.4")) == "ukiyoe60-starry40"
    assert default_output(Path("film.mp4"), "ukiyoe:0.6,starry:0.4") == Path("film.ukiyoe60-starry40.mp4")
    assert default_output(Path("film.mp4"), "ukiyoe") == Path("film.ukiyoe.mp4")


# ------------------------------------------------------------------ one generator or a clear error


def tiny_file(path: Path, styles: tuple[str, ...]) -> Path:
    return save_generator(path, build_generator(GeneratorConfig.tiny(styles), seed=0))


def test_styles_from_different_weights_files_cannot_blend(tmp_path, monkeypatch):
    tiny_file(tmp_path / "ukiyoe.safetensors", ("ukiyoe",))
    tiny_file(tmp_path / "starry.safetensors", ("starry",))
    monkeypatch.setattr(vidcolor.models.checkpoint, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(StyleError, match="blends need styles of one generator") as caught:
        resolve_style("ukiyoe:0.6,starry:0.4")
    assert "ukiyoe in ukiyoe.safetensors, starry in starry.safetensors" in caught.value.message
    assert "--weights" in caught.value.hint
    assert resolve_style("starry").name == "starry"  # each alone is fine


def test_a_checkpoint_holding_every_blended_style(tmp_path):
    both = tiny_file(tmp_path / "gallery.safetensors", ("ukiyoe", "starry"))
    spec = resolve_style("ukiyoe:3,starry:1", both)
    assert spec.name == "ukiyoe:0.75,starry:0.25" and spec.mode == "stylize"
    assert parse_blend(spec.name) == pytest.approx({"ukiyoe": 0.75, "starry": 0.25})  # the name reads back
    assert blend_weights_file(parse_blend(spec.name), both) == both
    assert style_vector(parse_blend("starry:1,ukiyoe:3"), ["ukiyoe", "starry"]) == pytest.approx([0.75, 0.25])
    only = tiny_file(tmp_path / "u.safetensors", ("ukiyoe",))
    with pytest.raises(StyleError, match="has no style starry") as caught:
        resolve_style("ukiyoe,starry", only)
    assert caught.value.hint == "it holds: ukiyoe"


def test_a_weighted_single_style_is_that_style():
    assert resolve_style("ukiyoe:1") == STYLES["ukiyoe"]
    with pytest.raises(StyleError, match="unknown style"):
        resolve_style("nope:1")


# ------------------------------------------------------------------ on the command line


def test_cli_refuses_a_bad_blend_before_any_work(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    result = CliRunner().invoke(app, ["run", str(src), "--style", "ukiyoe:0,6"])
    assert result.exit_code == 1 and "is a number, not a style" in result.output and "decimal point" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_cli_weighted_single_style_runs_as_that_style(tmp_path):
    src = make_clip(tmp_path / "film.mkv", frames=3)
    weights = tiny_file(tmp_path / "tiny.safetensors", ("natural", "ukiyoe"))
    result = CliRunner().invoke(app, ["run", str(src), "--style", "ukiyoe:1", "--weights", str(weights), "--backend", "torch",
                                      "--model-height", "32", "--preset", "ultrafast", "--no-temporal", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "film.ukiyoe.mkv").is_file()
