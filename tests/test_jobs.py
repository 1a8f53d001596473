"""Several inputs: `vidcolor run a.jpg b.mp4 folder/` runs each as its own job, then sums up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import luma_pattern, make_clip, read_frames
from PIL import Image
from typer.testing import CliRunner

from vidcolor.cli import app, default_output
from vidcolor.errors import InputError
from vidcolor.jobs import expand_inputs, run_job, run_jobs
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import EncodeOptions, RunOptions

runner = CliRunner()
FAST = ["--backend", "torch", "--device", "cpu", "--model-height", "32", "--preset", "ultrafast", "--no-temporal"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return save_generator(tmp_path_factory.mktemp("weights") / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))


def photo(path: Path) -> Path:
    Image.fromarray(luma_pattern(0, 64, 48)).save(path)
    return path


def truncated(path: Path) -> Path:
    photo(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("name, expected", [
    ("photo.jpg", "photo.natural.jpg"), ("scan.TIFF", "scan.natural.TIFF"), ("a.webp", "a.natural.webp"),
    ("deep.png", "deep.natural.png"), ("old.gif", "old.natural.gif"), ("film.mp4", "film.natural.mp4"),
])
def test_photos_keep_their_format(name, expected):
    assert default_output(Path("/p") / name, "natural") == Path("/p") / expected


def test_expand_inputs_takes_a_folders_media_in_order(tmp_path):
    for name in ("b.mp4", "a.jpg", "c.TIF", "notes.txt", ".hidden.jpg", "a.natural.jpg", "b.ukiyoe.mp4"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.jpg").write_bytes(b"")
    extra = tmp_path / "elsewhere.png"
    assert expand_inputs([extra, tmp_path]) == [extra, tmp_path / "a.jpg", tmp_path / "b.mp4", tmp_path / "c.TIF"]


def test_a_folder_with_nothing_to_run(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(InputError, match="no images or videos"):
        expand_inputs([tmp_path])


def test_run_job_sends_photos_to_images_and_the_rest_to_video(tmp_path, tiny_weights):
    photo(tmp_path / "p.png")
    make_clip(tmp_path / "f.mkv", frames=3)
    common = dict(backend="torch", device="cpu", model_height=32, temporal=None, quiet=True, weights=tiny_weights,
                  encode=EncodeOptions(preset="ultrafast"))
    image = run_job(RunOptions(input=tmp_path / "p.png", output=tmp_path / "p.out.png", **common))
    video = run_job(RunOptions(input=tmp_path / "p.png", output=tmp_path / "p.out.mkv", **common))  # a one-frame film
    film = run_job(RunOptions(input=tmp_path / "f.mkv", output=tmp_path / "f.out.mkv", **common))
    assert type(image).__name__ == "ImageSummary" and type(video).__name__ == type(film).__name__ == "RunSummary"
    assert len(read_frames(tmp_path / "p.out.mkv")[1]) == 1 and film.frames == 3


def test_run_jobs_goes_on_after_a_failure(tmp_path, tiny_weights):
    good, bad = photo(tmp_path / "good.png"), truncated(tmp_path / "bad.png")
    common = dict(backend="torch", device="cpu", model_height=32, quiet=True, weights=tiny_weights)
    jobs = [RunOptions(input=p, output=p.with_suffix(".out.png"), **common) for p in (bad, good)]
    seen = []
    results = run_jobs(jobs, on_done=seen.append)
    assert seen == results and [r.ok for r in results] == [False, True] and [r.exit_code for r in results] == [1, 0]
    assert isinstance(results[0].error, InputError) and results[1].summary.output == tmp_path / "good.out.png"
    assert not (tmp_path / "bad.out.png").exists()


def test_cli_folder_and_files_summary_table_and_exit_code(tmp_path, tiny_weights):
    folder = tmp_path / "album"
    folder.mkdir()
    photo(folder / "a.jpg")
    truncated(folder / "b.png")
    make_clip(folder / "c.mp4", frames=4)
    loose = photo(tmp_path / "loose.webp")
    result = invoke("run", folder, loose, "--weights", tiny_weights, *FAST)
    assert result.exit_code == 1, result.output
    assert "3 of 4 done" in result.output and "failed" in result.output and "truncated" in result.output
    for written in (folder / "a.natural.jpg", folder / "c.natural.mp4", tmp_path / "loose.natural.webp"):
        assert written.is_file()
    assert not (folder / "b.natural.png").exists()
    with Image.open(folder / "a.natural.jpg") as im:
        assert im.size == (64, 48) and im.format == "JPEG"
    # again: the results are not inputs, and without --overwrite every job refuses
    again = invoke("run", folder, "--weights", tiny_weights, *FAST)
    assert again.exit_code == 1 and "0 of 3 done" in again.output and "--overwrite" in again.output


def test_cli_all_good_exits_0(tmp_path, tiny_weights):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.tif")
    result = invoke("run", a, b, "--weights", tiny_weights, "--style", "ukiyoe", *FAST)
    assert result.exit_code == 0, result.output
    assert "2 of 2 done" in result.output
    assert np.asarray(Image.open(tmp_path / "b.ukiyoe.tif")).shape == (48, 64, 3)


def test_cli_output_with_several_inputs_is_refused(tmp_path):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png")
    result = invoke("run", a, b, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "several inputs" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_cli_single_bad_photo_is_one_red_line(tmp_path):
    bad = truncated(tmp_path / "bad.jpg")
    result = invoke("run", bad)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: damaged or truncated image") and lines[1].startswith("hint:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg"]
