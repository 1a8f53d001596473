from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import decoded_lumas, file_digest, make_clip, read_frames
from typer.testing import CliRunner

import vidcolor.backends
import vidcolor.pipeline
from vidcolor.cli import app, default_output
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import EncodeOptions, EngineSpec, RunOptions, TemporalOptions

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A real checkpoint file of the tiny seeded generator, loaded through --weights."""
    return save_generator(tmp_path_factory.mktemp("weights") / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------ run, for real


def test_run_with_weights_file_writes_the_default_output(tmp_path, tiny_weights):
    src = make_clip(tmp_path / "film.mp4", frames=6, audio_tracks=1)
    before = file_digest(src)
    result = invoke("run", src, "--weights", tiny_weights, "--backend", "torch", "--model-height", "32",
                    "--crf", "0", "--preset", "ultrafast", "--no-temporal")
    assert result.exit_code == 0, result.output
    out = tmp_path / "film.natural.mp4"
    assert "6 frames" in result.output and str(out) in result.output
    for a, b in zip(decoded_lumas(src), decoded_lumas(out), strict=True):
        np.testing.assert_array_equal(a, b)
    assert file_digest(src) == before


def test_run_quiet_prints_nothing(tmp_path, tiny_weights):
    src = make_clip(tmp_path / "film.mkv", frames=3)
    result = invoke("run", src, "-o", tmp_path / "o.mkv", "--weights", tiny_weights, "--backend", "torch",
                    "--model-height", "32", "--preset", "ultrafast", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == "" and len(read_frames(tmp_path / "o.mkv")[1]) == 3


def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path, monkeypatch):
    class Interrupted:
        name, batch, calls = "interrupted", 2, 0

        def infer(self, luma):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return np.zeros((len(luma), 2, *luma.shape[2:]), np.float32)

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(vidcolor.backends, "load_backend", lambda *a, **k: Interrupted())
    src = make_clip(tmp_path / "film.mp4", frames=20)
    result = invoke("run", src, "--model-height", "32", "--batch", "2", "--no-temporal", "--preset", "ultrafast")
    assert result.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


# ------------------------------------------------------------------ errors the user can act on


def test_missing_input_is_one_red_line_and_a_hint(tmp_path):
    result = invoke("run", tmp_path / "nope.mp4")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: input not found") and lines[1].startswith("hint:")
    assert "Traceback" not in result.output


def test_unknown_style_lists_valid_ones(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    result = invoke("run", src, "--style", "sepia")
    assert result.exit_code == 1 and "unknown style 'sepia'" in result.output
    assert "natural" in result.output and "ukiyoe" in result.output


def test_existing_output_mentions_overwrite(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    (tmp_path / "film.natural.mp4").write_bytes(b"x")
    result = invoke("run", src)
    assert result.exit_code == 1 and "--overwrite" in result.output


def test_bad_temporal_strength(tmp_path):
    result = invoke("run", tmp_path / "x.mp4", "--temporal", "1.5")
    assert result.exit_code == 1 and "--temporal" in result.output


def test_unexpected_error_exits_2_with_a_short_message(tmp_path, monkeypatch):
    def broken(options):
        raise RuntimeError("the flux capacitor")

    monkeypatch.setattr(vidcolor.pipeline, "run_video", broken)
    result = invoke("run", tmp_path / "x.mp4")
    assert result.exit_code == 2
    assert "the flux capacitor" in result.output and "--debug" in result.output and "Traceback" not in result.output
    result = invoke("run", tmp_path / "x.mp4", "--debug")
    assert result.exit_code == 2 and "Traceback" in result.output


# ------------------------------------------------------------------ wiring: exact arguments received


def capture(monkeypatch, module, name: str, returns):
    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return returns

    monkeypatch.setattr(module, name, fake)
    return calls


def test_run_passes_every_option(tmp_path, monkeypatch):
    summary = vidcolor.pipeline.RunSummary(Path("a"), Path("b"), "ukiyoe", "torch", 1, 0, 1.0, (2, 2), (32, 32))
    calls = capture(monkeypatch, vidcolor.pipeline, "run_video", summary)
    result = invoke("run", tmp_path / "in.mov", "--style", "ukiyoe", "--backend", "onnxruntime", "--device", "cpu",
                    "--model-height", "320", "--batch", "2", "--temporal", "0.5", "--codec", "libx265", "--crf", "22",
                    "--preset", "slow", "--pix-fmt", "yuv420p10le", "--overwrite", "--weights", tmp_path / "w.safetensors",
                    "--engine-dir", tmp_path / "eng")
    assert result.exit_code == 0, result.output
    assert calls == [((RunOptions(
        input=tmp_path / "in.mov", output=tmp_path / "in.ukiyoe.mov", style="ukiyoe", backend="onnxruntime",
        device="cpu", model_height=320, batch=2, overwrite=True, quiet=False,
        temporal=TemporalOptions(strength=0.5), encode=EncodeOptions("libx265", 22, "slow", "yuv420p10le"),
        weights=tmp_path / "w.safetensors", engine_dir=tmp_path / "eng"),), {})]


def test_run_defaults_and_no_temporal(tmp_path, monkeypatch):
    summary = vidcolor.pipeline.RunSummary(Path("a"), Path("b"), "natural", "torch", 1, 0, 1.0, (2, 2), (32, 32))
    calls = capture(monkeypatch, vidcolor.pipeline, "run_video", summary)
    assert invoke("run", tmp_path / "in.mp4", "--no-temporal", "-o", tmp_path / "x.mkv").exit_code == 0
    (options,), _ = calls[0]
    assert options == RunOptions(input=tmp_path / "in.mp4", output=tmp_path / "x.mkv", temporal=None)


@pytest.mark.parametrize("name, expected", [
    ("film.mp4", "film.natural.mp4"), ("film.MKV", "film.natural.MKV"), ("film.mov", "film.natural.mov"),
    ("film.avi", "film.natural.mkv"), ("film.webm", "film.natural.mkv"), ("film", "film.natural.mkv"),
])
def test_default_output_name(name, expected):
    assert default_output(Path("/v") / name, "natural") == Path("/v") / expected


def test_eval_wiring_and_json(tmp_path, monkeypatch):
    import vidcolor.metrics

    calls = capture(monkeypatch, vidcolor.metrics, "evaluate_videos", {"frames": 3, "warping_error": 0.25})
    result = invoke("eval", tmp_path / "o.mp4", "--source", tmp_path / "s.mp4", "--json")
    assert result.exit_code == 0, result.output
    assert calls == [((tmp_path / "o.mp4", tmp_path / "s.mp4", None), {})]
    assert json.loads(result.output) == {"frames": 3, "warping_error": 0.25}
    result = invoke("eval", tmp_path / "o.mp4", "--reference", tmp_path / "r.mp4")
    assert calls[1] == ((tmp_path / "o.mp4", None, tmp_path / "r.mp4"), {}) and "warping error" in result.output


def test_build_engine_wiring(tmp_path, monkeypatch, tiny_shipped):
    import vidcolor.engine

    calls = capture(monkeypatch, vidcolor.engine, "build_engines", [tmp_path / "a.plan", tmp_path / "b.plan"])
    result = invoke("build-engine", "--all", "--size", "640x352", "--batch", "2", "--precision", "fp32",
                    "--backend", "onnxruntime", "--engine-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert calls == [(([EngineSpec(name, 352, 640, 2, "fp32", "onnxruntime") for name in ("natural", "ukiyoe", "starry")], tmp_path, None), {})]
    assert "a.plan" in result.output
    invoke("build-engine", "--style", "ukiyoe")
    assert calls[1] == (([EngineSpec("ukiyoe", 256, 448, 4, "fp16", "tensorrt")], None, None), {})
    invoke("build-engine", "--style", "starry:1,ukiyoe:3", "--styles-dir", tmp_path / "mine")
    assert calls[2] == (([EngineSpec("starry:0.25,ukiyoe:0.75", 256, 448, 4, "fp16", "tensorrt")], None, tmp_path / "mine"), {})


@pytest.mark.parametrize("args, message", [
    (["--size", "big"], "WIDTHxHEIGHT"), (["--style", "ukiyoe", "--all"], "not both"), (["--style", "sepia"], "unknown style"),
])
def test_build_engine_bad_arguments(monkeypatch, args, message):
    import vidcolor.engine

    calls = capture(monkeypatch, vidcolor.engine, "build_engines", [])
    result = invoke("build-engine", *args)
    assert result.exit_code == 1 and message in result.output and calls == []


def test_train_wiring(tmp_path, monkeypatch):
    import vidcolor.train.loop

    calls = capture(monkeypatch, vidcolor.train.loop, "train_from_recipe", tmp_path / "w.safetensors")
    result = invoke("train", tmp_path / "r.toml", "--steps", "10", "--device", "cpu", "--output", tmp_path / "w.safetensors", "--resume")
    assert result.exit_code == 0, result.output
    assert calls == [((tmp_path / "r.toml", {"steps": 10, "device": "cpu", "output": tmp_path / "w.safetensors"}),
                      {"resume": True, "quiet": False})]



def test_train_refuses_negative_minutes_before_training(tmp_path):
    recipe = tmp_path / "r.toml"
    photos = tmp_path / "photos"
    photos.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(photos / "p.png"), np.full((64, 64, 3), (40, 120, 200), np.uint8))
    recipe.write_text(f'style = "natural"\noutput = "{tmp_path / "out" / "w.safetensors"}"\nrun_dir = "{tmp_path / "run"}"\n'
                      f'[data]\nphotos = ["{photos}"]\nload_size = 64\n[train]\nresolution = 64\n')
    result = invoke("train", recipe, "--minutes", "-1", "--device", "cpu")
    assert result.exit_code == 1 and "train.minutes must be >= 0" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()

def test_styles_and_info():
    result = invoke("styles")
    assert result.exit_code == 0 and "natural" in result.output and "ukiyoe" in result.output
    result = invoke("info")
    assert result.exit_code == 0
    for word in ("torch", "PyAV", "backend onnxruntime", "backend tensorrt"):
        assert word in result.output


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "vidcolor", "styles"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "natural" in done.stdout


def test_vividness_reaches_the_run_options(tmp_path, monkeypatch):
    summary = vidcolor.pipeline.RunSummary(Path("a"), Path("b"), "natural", "torch", 1, 0, 1.0, (2, 2), (32, 32))
    calls = capture(monkeypatch, vidcolor.pipeline, "run_video", summary)
    assert invoke("run", tmp_path / "in.mp4", "--vividness", "0.25", "-o", tmp_path / "x.mkv").exit_code == 0
    (options,), _ = calls[0]
    assert options.vividness == 0.25


@pytest.mark.parametrize("args, message", [
    (["--vividness", "1.5"], "--vividness must be between 0 and 1"),
    (["--vividness", "0.5", "--style", "ukiyoe"], "--vividness is for colourizing styles"),
])
def test_bad_vividness(tmp_path, args, message):
    result = invoke("run", tmp_path / "x.mp4", *args)
    assert result.exit_code == 1 and message in result.output and not (tmp_path / "x.natural.mp4").exists()


def test_vividness_with_regression_weights_is_a_clear_error(tmp_path, tiny_weights):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    result = invoke("run", src, "--weights", tiny_weights, "--backend", "torch", "--model-height", "32", "--vividness", "0.5")
    assert result.exit_code == 1 and "no vividness setting" in result.output
    assert not (tmp_path / "film.natural.mp4").exists()
