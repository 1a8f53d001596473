"""Engine cache: where it lives, what the key covers, and that a bad engine is rebuilt, never used."""
from __future__ import annotations

import dataclasses
import enum
import json
import sys
import sysconfig
from pathlib import Path

import fake_tensorrt
import pytest
import torch

from vidcolor.backends.tensorrt_backend import ensure_engine
from vidcolor.engine import (
    EngineKey,
    GpuInfo,
    build_engines,
    cached_onnx,
    module_digest,
    resolve_engine_dir,
    sidecar_path,
)
from vidcolor.errors import BackendError
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import EngineSpec

GPU = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")
SPEC = EngineSpec("natural", 64, 96, batch=2, precision="fp16")


@pytest.fixture(scope="module")
def generator():
    return build_generator(GeneratorConfig.tiny(), seed=0).eval()


@pytest.fixture
def fake_trt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    fake_tensorrt.BUILDS.clear()
    return fake_tensorrt


# --- engine dir --------------------------------------------------------------------------------


def test_engine_dir_flag_beats_env_beats_checkout_beats_cache(tmp_path):
    checkout = tmp_path / "repo"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "vidcolor"\n')
    env = {"VIDCOLOR_ENGINE_DIR": str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert resolve_engine_dir(tmp_path / "flag", checkout, env) == tmp_path / "flag"
    assert resolve_engine_dir(None, checkout, env) == tmp_path / "env"
    del env["VIDCOLOR_ENGINE_DIR"]
    assert resolve_engine_dir(None, checkout, env) == checkout / "engines"
    assert resolve_engine_dir(None, tmp_path, env) == tmp_path / "xdg" / "vidcolor" / "engines"
    assert resolve_engine_dir(None, tmp_path, {"HOME": str(tmp_path)}) == tmp_path / ".cache" / "vidcolor" / "engines"


def test_another_projects_checkout_is_not_used(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert resolve_engine_dir(None, tmp_path, {"HOME": str(tmp_path / "h")}) == tmp_path / "h/.cache/vidcolor/engines"


def test_engine_dir_inside_site_packages_is_refused(tmp_path):
    with pytest.raises(BackendError, match="inside the Python installation"):
        resolve_engine_dir(Path(sysconfig.get_paths()["purelib"]) / "vidcolor" / "engines", tmp_path, {})


# --- ONNX export cache -------------------------------------------------------------------------


def test_onnx_export_is_cached_and_keyed_by_weights_and_shape(generator, tmp_path):
    module = generator.for_style("natural")
    first = cached_onnx(module, "natural", 64, 96, 2, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert cached_onnx(module, "natural", 64, 96, 2, tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert cached_onnx(module, "natural", 64, 128, 2, tmp_path) != first
    assert cached_onnx(module, "natural", 64, 96, 1, tmp_path) != first
    other = build_generator(GeneratorConfig.tiny(), seed=1).eval().for_style("natural")
    assert cached_onnx(other, "natural", 64, 96, 2, tmp_path) != first


def test_onnx_export_is_static_opset_17_without_control_flow(generator, tmp_path):
    import onnx

    model = onnx.load(cached_onnx(generator.for_style("ukiyoe"), "ukiyoe", 64, 96, 2, tmp_path))
    assert model.opset_import[0].version == 17
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    assert [dims(v) for v in model.graph.input] == [[2, 1, 64, 96]]
    assert [dims(v) for v in model.graph.output] == [[2, 3, 64, 96]]
    assert not {n.op_type for n in model.graph.node} & {"If", "Loop", "Scan"}


def test_code_digest_covers_the_generator_source(generator):
    from vidcolor.engine import code_digest

    assert code_digest(generator.for_style("natural")) == code_digest(generator.for_style("ukiyoe"))
    assert code_digest(generator.for_style("natural")) != code_digest(torch.nn.Conv2d(1, 2, 3))


def test_module_digest_follows_the_weights(generator):
    other = build_generator(GeneratorConfig.tiny(), seed=0).eval()
    assert module_digest(other) == module_digest(generator)
    with torch.no_grad():
        other.head_ab.bias[0] += 1e-3
    assert module_digest(other) != module_digest(generator)


# --- cache key ---------------------------------------------------------------------------------

KEY = EngineKey("ab" * 32, "10.9.0.34", GPU.name, GPU.compute_capability, "fp16", "natural", 256, 448, 4)


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "cd" * 32},  # other weights -> other ONNX file
        {"tensorrt_version": "10.10.0.31"},
        {"gpu_name": "NVIDIA H200"},
        {"compute_capability": "8.9"},
        {"precision": "fp32"},
        {"style": "ukiyoe"},
        {"height": 288},
        {"width": 512},
        {"batch": 1},
    ],
)
def test_every_key_field_changes_the_engine_file(change, tmp_path):
    changed = dataclasses.replace(KEY, **change)
    assert changed.digest() != KEY.digest()
    assert changed.engine_path(tmp_path) != KEY.engine_path(tmp_path)


def test_timing_cache_is_per_gpu_and_tensorrt_version(tmp_path):
    assert dataclasses.replace(KEY, height=512).timing_cache_path(tmp_path) == KEY.timing_cache_path(tmp_path)
    assert dataclasses.replace(KEY, gpu_name="NVIDIA H200").timing_cache_path(tmp_path) != KEY.timing_cache_path(tmp_path)
    assert dataclasses.replace(KEY, tensorrt_version="11.0").timing_cache_path(tmp_path) != KEY.timing_cache_path(tmp_path)


# --- TensorRT build / cache / rebuild (fake tensorrt) ------------------------------------------


def test_engine_is_built_once_with_sidecar_and_timing_cache(generator, fake_trt, tmp_path):
    path = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["gpu_name"] == GPU.name and sidecar["tensorrt_version"] == fake_trt.__version__
    assert (sidecar["height"], sidecar["width"], sidecar["batch"], sidecar["precision"]) == (64, 96, 2, "fp16")
    assert list(tmp_path.glob("timing_*.cache"))
    assert ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU) == path
    assert len(fake_trt.BUILDS) == 1 and fake_trt.BUILDS[0]["fp16"]


def test_changed_weights_give_a_new_engine(generator, fake_trt, tmp_path):
    first = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    other = build_generator(GeneratorConfig.tiny(), seed=3).eval()
    assert ensure_engine(other.for_style("natural"), SPEC, tmp_path, GPU) != first
    assert len(fake_trt.BUILDS) == 2


def test_corrupt_engine_is_rebuilt(generator, fake_trt, tmp_path):
    path = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])  # truncated, e.g. a disk-full write
    assert ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU) == path
    assert len(fake_trt.BUILDS) == 2 and path.read_bytes() == good
    assert fake_trt.BUILDS[1]["timing_reused"]  # the rebuild started from the saved timing cache


def test_foreign_engine_under_the_right_name_is_rebuilt(generator, fake_trt, tmp_path, monkeypatch):
    path = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    monkeypatch.setattr(fake_trt, "__version__", "10.10.0.31")  # engine was built by another TensorRT
    key = json.loads(sidecar_path(path).read_text())
    key.update(tensorrt_version=fake_trt.__version__)
    new_key = EngineKey(**{k: v for k, v in key.items() if k != "key"})
    foreign = new_key.engine_path(tmp_path)
    foreign.write_bytes(path.read_bytes())
    sidecar_path(foreign).write_text(json.dumps(new_key.sidecar()))
    assert ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU) == foreign
    assert len(fake_trt.BUILDS) == 2
    assert fake_tensorrt.Runtime(fake_tensorrt.Logger()).deserialize_cuda_engine(foreign.read_bytes()) is not None


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_sidecar_mismatch_is_rebuilt(generator, fake_trt, tmp_path, damage):
    path = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    side = sidecar_path(path)
    if damage == "edit":
        side.write_text(json.dumps({**json.loads(side.read_text()), "gpu_name": "NVIDIA A100"}))
    else:
        side.unlink()
    ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    assert len(fake_trt.BUILDS) == 2 and json.loads(side.read_text())["gpu_name"] == GPU.name


def test_corrupt_timing_cache_is_ignored(generator, fake_trt, tmp_path):
    path = ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    [timing] = tmp_path.glob("timing_*.cache")
    timing.write_bytes(b"garbage")
    path.unlink()
    ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    assert len(fake_trt.BUILDS) == 2 and not fake_trt.BUILDS[1]["timing_reused"]
    assert timing.read_bytes().startswith(b"FAKETC1")


def test_tensorrt_11_fp16_builds_a_strongly_typed_fp16_graph(generator, fake_trt, tmp_path, monkeypatch):
    monkeypatch.setattr(fake_trt, "BuilderFlag", enum.IntEnum("BuilderFlag", {"TF32": 7}))  # 11 has no FP16
    ensure_engine(generator.for_style("natural"), SPEC, tmp_path, GPU)
    assert fake_trt.BUILDS[0]["flags"] == 1 << int(fake_trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert list(tmp_path.glob("*_fp16c_*.onnx"))


# --- vidcolor build-engine ---------------------------------------------------------------------


def test_build_engines_returns_one_path_per_spec(generator, fake_trt, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("vidcolor.engine.current_gpu", lambda: GPU)
    weights = save_generator(tmp_path / "g.safetensors", generator)
    specs = [
        EngineSpec("natural", 64, 96, 2, "fp16", "tensorrt", weights),
        EngineSpec("ukiyoe", 64, 96, 1, "fp32", "tensorrt", weights),
        EngineSpec("ukiyoe", 64, 96, 1, "fp32", "onnxruntime", weights),
    ]
    paths = build_engines(specs, tmp_path / "engines")
    assert [p.suffix for p in paths] == [".engine", ".engine", ".onnx"]
    assert all(p.is_file() and p.parent == tmp_path / "engines" for p in paths)
    assert build_engines(specs, tmp_path / "engines") == paths and len(fake_trt.BUILDS) == 2


def test_build_engines_without_tensorrt_says_what_to_install(generator, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendError, match="tensorrt-cu12"):
        build_engines([SPEC], tmp_path)
    assert not any(tmp_path.iterdir())  # nothing exported before the check


def test_build_engines_without_a_gpu_fails_clearly(fake_trt, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendError, match="no CUDA GPU"):
        build_engines([SPEC], tmp_path)


@pytest.mark.parametrize("kwargs", [{"precision": "int8"}, {"backend": "torch"}, {"height": 60}, {"batch": 0}])
def test_engine_spec_rejects_bad_values(kwargs):
    with pytest.raises(BackendError):
        EngineSpec(**{"style": "natural", "height": 64, "width": 96, **kwargs})
