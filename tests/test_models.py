"""Generator, discriminator and checkpoints: shapes, conditioning, ONNX export, safe loading."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import onnx_matches_torch

from vidcolor.errors import CheckpointError, StyleError
from vidcolor.models.checkpoint import load_generator, read_checkpoint, save_generator
from vidcolor.models.discriminator import PatchDiscriminator
from vidcolor.models.generator import AB_RANGE, GeneratorConfig, build_generator


@pytest.fixture(scope="module")
def gen():
    return build_generator(GeneratorConfig.tiny(("natural", "ukiyoe")), seed=0).eval()


@pytest.mark.parametrize(("h", "w"), [(32, 32), (64, 96), (96, 160)])
def test_generator_shapes_and_ranges(gen, h, w):
    x = torch.rand(2, 1, h, w)
    with torch.no_grad():
        ab = gen.for_style("natural")(x)
        rgb = gen.for_style("ukiyoe")(x)
    assert ab.shape == (2, 2, h, w) and rgb.shape == (2, 3, h, w)
    assert ab.abs().max() <= AB_RANGE and 0 <= rgb.min() and rgb.max() <= 1


def test_style_conditioning_changes_output(gen):
    g = build_generator(GeneratorConfig.tiny(("ukiyoe", "ukiyoe")), seed=0).eval()
    with torch.no_grad():
        for norm in (m for m in g.modules() if hasattr(m, "scale")):
            norm.scale[1].mul_(1.5)
        x = torch.rand(1, 1, 64, 64)
        assert not torch.allclose(g(x, 0), g(x, 1))


def test_unknown_style_raises(gen):
    with pytest.raises(StyleError, match="natural, ukiyoe"):
        gen.for_style("cubism")


def test_discriminator_patch_output():
    assert PatchDiscriminator()(torch.rand(2, 3, 64, 96)).shape == (2, 1, 7, 11)


def test_onnx_export_matches_torch(gen):
    onnx_matches_torch(gen.for_style("natural"), torch.rand(1, 1, 64, 96))


def test_checkpoint_round_trip(gen, tmp_path):
    path = save_generator(tmp_path / "g.safetensors", gen, {"metrics": {"psnr": 1.0}})
    loaded = load_generator(path)
    assert loaded.style_names == ["natural", "ukiyoe"] and loaded.metadata["metrics"] == {"psnr": 1.0}
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x, 1), gen(x, 1))


def test_fp16_checkpoint_is_close(gen, tmp_path):
    path = save_generator(tmp_path / "g16.safetensors", gen, dtype=torch.float16)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert (load_generator(path)(x, 0) - gen(x, 0)).abs().max() < 0.5  # Lab units


def test_tampered_checkpoint_refused(gen, tmp_path):
    path = save_generator(tmp_path / "g.safetensors", gen)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # flip a byte of tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="modified"):
        load_generator(path)


def test_not_a_checkpoint_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"not safetensors at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_wrong_architecture_refused(gen, tmp_path):
    path = save_generator(tmp_path / "g.safetensors", gen)
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["vidcolor"])
    meta["config"]["decoder"] = [8, 8, 8, 8, 8]  # claims another decoder than the tensors hold
    save_file(load_file(str(path)), str(path), metadata={"vidcolor": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="architecture"):
        load_generator(path)


def test_checkpoint_never_unpickles(gen, tmp_path, monkeypatch):
    path = save_generator(tmp_path / "g.safetensors", gen)
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load used"))
    load_generator(path)


def test_weights_along_a_line_interpolate_and_extrapolate_but_keep_the_decoding():
    """benchmarks/soup.py: A + alpha (B - A) for learned tensors; B's decoding settings and counters."""
    import importlib.util
    from dataclasses import replace
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("soup", Path(__file__).resolve().parents[1] / "benchmarks" / "soup.py")
    soup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soup)
    config = replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True)
    a, b = build_generator(config, seed=1).state_dict(), build_generator(config, seed=2).state_dict()
    b["temperature"] = torch.tensor(0.5)
    for alpha in (0.0, 0.5, 1.5):
        out = soup.along_line(a, b, alpha)
        w = "head_bins.weight"
        assert torch.allclose(out[w], a[w] + alpha * (b[w] - a[w]), atol=1e-6)
        assert float(out["temperature"]) == 0.5 and torch.equal(out["bins"], b["bins"])
    with pytest.raises(ValueError, match="architecture"):
        soup.along_line(a, {k: v for k, v in b.items() if k != w}, 0.5)
    c = build_generator(config, seed=3).state_dict()
    c["temperature"] = torch.tensor(0.38)
    mean = soup.mean_of([a, b, c])
    assert torch.allclose(mean[w], (a[w] + b[w] + c[w]) / 3, atol=1e-6)
    assert torch.allclose(soup.mean_of([a, b])[w], soup.along_line(a, b, 0.5)[w], atol=1e-6)
    assert torch.equal(mean["temperature"], c["temperature"]) and torch.equal(mean["bins"], c["bins"])
    with pytest.raises(ValueError, match="architecture"):
        soup.mean_of([a, {k: v for k, v in c.items() if k != w}])
