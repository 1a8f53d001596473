"""The CUDA paths (torch, and TensorRT where installed) against the CPU path: hints and blends with a strength.

Run where there is an NVIDIA GPU (``pytest -m gpu``). This module needs no PyAV (the lent GPU
machines have none); test_backends.py holds the fp16 / CUDA-graph / compile checks.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcolor.backends import load_backend
from vidcolor.hints import Hint, hint_planes
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator

H, W, BATCH = 64, 96, 2


@pytest.fixture(scope="module")
def hint_weights(tmp_path_factory):
    """A tiny seeded natural generator with a bins head and a hint branch (as test_hints_run's)."""
    config = GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins", hints=True, hint_branch=True)
    return save_generator(tmp_path_factory.mktemp("w") / "hinted.safetensors", build_generator(config, seed=0))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny three-style gallery whose two painting styles differ (as test_blends_run's)."""
    gen = build_generator(GeneratorConfig.tiny(("natural", "ukiyoe", "starry")), seed=0).eval()
    with torch.no_grad():
        for layer in (gen.up16, gen.up8, gen.up4, gen.up2, gen.up1):
            layer.norm.scale[2].uniform_(0.5, 1.5)
            layer.norm.shift[2].uniform_(-0.5, 0.5)
    return save_generator(tmp_path_factory.mktemp("w") / "gallery.safetensors", gen)


def luma(n: int = BATCH, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, H, W), dtype=np.float32)


@pytest.mark.gpu
def test_torch_cuda_runs_hints_as_the_cpu_does(hint_weights):
    planes = hint_planes((Hint(10, 10, (255, 0, 0)), Hint(80, 50, (0, 0, 255))), (64, 96), (64, 96))
    luma = np.random.default_rng(1).random((2, 1, 64, 96), dtype=np.float32)
    with load_backend("torch", "natural", 64, 96, 2, "cpu", hint_weights, hints=planes) as cpu:
        expected = cpu.infer(luma)
    with load_backend("torch", "natural", 64, 96, 2, "auto", hint_weights, hints=planes) as cuda:  # fp16, no CUDA graph
        assert cuda.name == "torch" and cuda.backend.device.type == "cuda" and cuda.backend._graph is None
        out, again = cuda.infer(luma), cuda.infer(luma[::-1].copy())
    assert np.abs(out - expected).max() <= 1.0  # a/b units, as test_backends.TOL_FP16["natural"]
    np.testing.assert_allclose(again, out[::-1], atol=1.0)


@pytest.mark.gpu
def test_tensorrt_runs_the_hint_graph_as_the_cpu_does(hint_weights, tmp_path):
    pytest.importorskip("tensorrt")
    planes = hint_planes((Hint(10, 10, (255, 0, 0)), Hint(80, 50, (0, 0, 255))), (64, 96), (64, 96))
    luma = np.random.default_rng(1).random((2, 1, 64, 96), dtype=np.float32)
    with load_backend("torch", "natural", 64, 96, 2, "cpu", hint_weights, hints=planes) as cpu:
        expected = cpu.infer(luma)
    with load_backend("tensorrt", "natural", 64, 96, 2, "cuda", hint_weights, tmp_path, hints=planes) as engine:  # fp16
        out, again = engine.infer(luma), engine.infer(luma[::-1].copy())
    assert np.abs(out - expected).max() <= 1.0  # a/b units, as above
    np.testing.assert_allclose(again, out[::-1], atol=1.0)


@pytest.mark.gpu
@pytest.mark.parametrize("style, strength", [("ukiyoe:0.6,starry:0.4", 1.0), ("ukiyoe:0.6,starry:0.4", 0.5)])
def test_torch_cuda_runs_blends_and_strength_as_the_cpu_does(weights, style, strength):
    x = luma()
    with load_backend("torch", style, H, W, BATCH, "cpu", weights, strength=strength) as cpu:
        expected = cpu.infer(x)
    with load_backend("torch", style, H, W, BATCH, "cuda", weights, strength=strength) as cuda:  # a CUDA graph for the blend
        out, again = cuda.infer(x), cuda.infer(x[::-1].copy())
    assert np.abs(out - expected).max() <= 5e-3  # fp16 through the network (test_backends.TOL_FP16 for RGB)
    np.testing.assert_allclose(again, out[::-1], atol=5e-3)
