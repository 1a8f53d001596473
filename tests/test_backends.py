"""Backends: every backend agrees with the torch reference; choosing and failing are explicit."""
from __future__ import annotations

import sys

import fake_tensorrt
import numpy as np
import pytest
import torch

from vidcolor.backends import CPU_DEFAULT, available_backends, load_backend, resolve_backend
from vidcolor.backends.base import pad_batch
from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend
from vidcolor.backends.tensorrt_backend import TensorRTBackend
from vidcolor.backends.torch_backend import TorchBackend
from vidcolor.engine import GpuInfo
from vidcolor.errors import BackendError
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator

H, W, BATCH = 64, 96, 3
# Max abs difference allowed against torch fp32: Lab a/b are in Lab units (about -110..110),
# RGB in [0, 1]. fp32 backends differ only by kernel order. The fake TensorRT rounds only its
# output to fp16 (a/b steps of ~0.06); real fp16 arithmetic through the whole network differs by
# up to ~0.4 a/b units and ~1.3e-3 RGB on this tiny model (measured with torch half on CPU).
TOL_FP32 = {"natural": 0.02, "ukiyoe": 1e-4}
TOL_FP16_OUTPUT = {"natural": 0.15, "ukiyoe": 2e-3}
TOL_FP16 = {"natural": 1.0, "ukiyoe": 5e-3}
CHANNELS = {"natural": 2, "ukiyoe": 3}
GPU = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")


@pytest.fixture(scope="module")
def generator():
    return build_generator(GeneratorConfig.tiny(), seed=0).eval()


def random_luma(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, H, W), dtype=np.float32)


def reference(generator, style: str, luma: np.ndarray) -> np.ndarray:
    with TorchBackend(generator.for_style(style), BATCH, H, W) as backend:
        return backend.infer(luma)


@pytest.fixture
def fake_trt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    fake_tensorrt.BUILDS.clear()
    return fake_tensorrt


# --- cross-validation against torch ------------------------------------------------------------


@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
@pytest.mark.parametrize("n", [BATCH, 2])  # full batch and a short last batch
def test_onnxruntime_matches_torch(generator, style, n, tmp_path):
    luma = random_luma(n)
    expected = reference(generator, style, luma)
    with OnnxRuntimeBackend.from_module(generator.for_style(style), style, BATCH, H, W, tmp_path) as backend:
        out = backend.infer(luma)
    assert out.shape == (n, CHANNELS[style], H, W) and out.dtype == np.float32
    assert np.abs(out - expected).max() <= TOL_FP32[style]


@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_tensorrt_backend_logic_matches_torch_with_fake_tensorrt(generator, style, precision, fake_trt, tmp_path):
    # The fake runs the engine's ONNX on CPU buffers: this checks export, binding and padding.
    luma = random_luma(2)
    expected = reference(generator, style, luma)
    module = generator.for_style(style)
    with TensorRTBackend.from_module(module, style, BATCH, H, W, tmp_path, precision, GPU, "cpu") as backend:
        out = backend.infer(luma)
    assert out.shape == (2, CHANNELS[style], H, W)
    tol = TOL_FP16_OUTPUT if precision == "fp16" else TOL_FP32
    assert np.abs(out - expected).max() <= tol[style]
    assert fake_trt.BUILDS[-1]["fp16"] == (precision == "fp16")


def test_padded_short_batch_gives_the_same_frames_as_a_full_batch(generator, fake_trt, tmp_path):
    luma = random_luma(BATCH, seed=5)
    module = generator.for_style("natural")
    with TensorRTBackend.from_module(module, "natural", BATCH, H, W, tmp_path, "fp32", GPU, "cpu") as b:
        assert b.model_batch == BATCH  # static batch: a short one is padded
        full, short = b.infer(luma), b.infer(luma[:1])
    np.testing.assert_allclose(short, full[:1], atol=1e-4)


def test_cpu_backends_run_one_frame_per_model_call(generator, tmp_path):
    module = generator.for_style("natural")
    with TorchBackend(module, BATCH, H, W) as torch_cpu, \
            OnnxRuntimeBackend.from_module(module, "natural", BATCH, H, W, tmp_path, "cpu") as ort_cpu:
        assert torch_cpu.model_batch == ort_cpu.model_batch == 1
        assert [p.name.split("_")[2] for p in tmp_path.glob("*.onnx")] == ["b1"]
        assert ort_cpu.infer(random_luma(BATCH)).shape == (BATCH, 2, H, W)


def test_pad_batch_repeats_the_last_frame():
    x = np.arange(2, dtype=np.float32).reshape(2, 1, 1, 1)
    assert pad_batch(x, 4).ravel().tolist() == [0, 1, 1, 1]
    assert pad_batch(x, 2) is x


@pytest.mark.parametrize("bad", [random_luma(BATCH + 1), np.zeros((1, 1, H, W + 32), np.float32), np.zeros((0, 1, H, W), np.float32)])
def test_infer_rejects_inputs_of_the_wrong_shape(generator, bad):
    with TorchBackend(generator.for_style("natural"), BATCH, H, W) as backend, pytest.raises(ValueError):
        backend.infer(bad)


def test_backend_rejects_a_model_size_that_is_not_a_multiple_of_32(generator):
    with pytest.raises(BackendError, match="multiples of 32"):
        TorchBackend(generator.for_style("natural"), 1, 60, 96)


def test_load_backend_runs_a_checkpoint_on_each_cpu_backend(generator, tmp_path):
    weights = save_generator(tmp_path / "g.safetensors", generator)
    luma = random_luma(2)
    expected = reference(generator, "ukiyoe", luma)
    for name in ("torch", "onnxruntime", "auto"):
        with load_backend(name, "ukiyoe", H, W, BATCH, "cpu", weights, tmp_path / "engines") as backend:
            assert backend.name == (CPU_DEFAULT if name == "auto" else name)
            np.testing.assert_allclose(backend.infer(luma), expected, atol=TOL_FP32["ukiyoe"])


# --- choosing a backend ------------------------------------------------------------------------

ALL = {"torch": None, "onnxruntime": None, "tensorrt": None}


@pytest.mark.parametrize(
    "name, device, available, cuda, expected",
    [
        ("auto", "auto", ALL, True, ("tensorrt", "cuda")),
        ("auto", "auto", {**ALL, "tensorrt": "not installed"}, True, ("torch", "cuda")),
        ("auto", "cpu", ALL, True, (CPU_DEFAULT, "cpu")),
        ("auto", "auto", {**ALL, "tensorrt": "no GPU"}, False, (CPU_DEFAULT, "cpu")),
        ("auto", "auto", {**ALL, "onnxruntime": "missing", "tensorrt": "no GPU"}, False, ("torch", "cpu")),
        ("torch", "auto", ALL, True, ("torch", "cuda")),
        ("torch", "auto", ALL, False, ("torch", "cpu")),
        ("onnxruntime", "cpu", ALL, True, ("onnxruntime", "cpu")),
    ],
)
def test_resolve_backend(name, device, available, cuda, expected):
    assert resolve_backend(name, device, available, cuda) == expected


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(BackendError) as err:
        load_backend("openvino", "natural", H, W, 1)
    assert "openvino" in str(err.value) and all(n in err.value.hint for n in ("auto", "torch", "onnxruntime", "tensorrt"))


def test_cuda_device_without_a_gpu_is_refused():
    with pytest.raises(BackendError, match="no CUDA GPU"):
        resolve_backend("torch", "cuda", ALL, cuda=False)


def test_tensorrt_on_cpu_is_refused():
    with pytest.raises(BackendError, match="GPU only"):
        resolve_backend("tensorrt", "cpu", ALL, cuda=True)


def test_missing_tensorrt_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    reason = available_backends()["tensorrt"]
    assert "tensorrt-cu12" in reason and "pypi.nvidia.com" in reason
    with pytest.raises(BackendError, match="tensorrt-cu12"):
        load_backend("tensorrt", "natural", H, W, 1)


def test_tensorrt_without_a_gpu_says_so(fake_trt, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "no CUDA GPU" in available_backends()["tensorrt"]
    with pytest.raises(BackendError, match="no CUDA GPU"):
        load_backend("tensorrt", "natural", H, W, 1)


def test_available_backends_reports_the_cpu_backends_as_usable():
    available = available_backends()
    assert set(available) == {"torch", "onnxruntime", "tensorrt"}
    assert available["torch"] is None and available["onnxruntime"] is None


# --- GPU paths (run where there is one) --------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
@pytest.mark.parametrize("mode", [{}, {"cuda_graph": True}, {"compile": True}])
def test_torch_cuda_fp16_matches_torch_cpu(generator, style, mode):
    luma = random_luma(2)
    expected = reference(generator, style, luma)
    with TorchBackend(generator.for_style(style), BATCH, H, W, "cuda", **mode) as backend:
        out = backend.infer(luma)
        out_again = backend.infer(luma[::-1].copy())  # a graph replay must read the new input
    assert np.abs(out - expected).max() <= TOL_FP16[style]
    np.testing.assert_allclose(out_again, out[::-1], atol=TOL_FP16[style])


@pytest.mark.tensorrt
@pytest.mark.parametrize("style", ["natural", "ukiyoe"])
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_real_tensorrt_matches_torch(generator, style, precision, tmp_path):
    pytest.importorskip("tensorrt")
    luma = random_luma(2)
    expected = reference(generator, style, luma)
    with TensorRTBackend.from_module(generator.for_style(style), style, BATCH, H, W, tmp_path, precision) as backend:
        out = backend.infer(luma)
    assert np.abs(out - expected).max() <= TOL_FP16[style]  # fp32 engines may use TF32 convolutions
