"""Blends and --strength, run: the same pictures from torch, ONNX Runtime and (fake) TensorRT, the
engine cache keyed by the variant, the shipped lookup by header, and the command line."""
from __future__ import annotations

import sys

import fake_tensorrt
import numpy as np
import pytest
import torch
from conftest import make_clip
from typer.testing import CliRunner

import vidcolor.models.checkpoint as checkpoint
from vidcolor.backends import load_backend
from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend
from vidcolor.backends.tensorrt_backend import TensorRTBackend
from vidcolor.backends.torch_backend import TorchBackend
from vidcolor.blend import check_strength, resolve_style
from vidcolor.cli import app, default_output
from vidcolor.color import luma_ab_to_rgb
from vidcolor.engine import GpuInfo, build_engines, engine_variant, file_tag
from vidcolor.errors import CheckpointError, StyleError
from vidcolor.models.checkpoint import save_generator, shipped_styles, shipped_weights
from vidcolor.models.generator import EDGE_PAD, GeneratorConfig, build_generator, reflect_top_left
from vidcolor.models.strength import StrengthGenerator, style_module
from vidcolor.options import EngineSpec
from vidcolor.styles import STYLES

H, W, BATCH = 64, 96, 2
STYLES3 = ("natural", "ukiyoe", "starry")
BLEND = {"ukiyoe": 0.6, "starry": 0.4}
GPU = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")


@pytest.fixture(scope="module")
def generator():
    gen = build_generator(GeneratorConfig.tiny(STYLES3), seed=0).eval()
    with torch.no_grad():  # a random init gives every slot the same rows: make the two painting styles differ
        for layer in (gen.up16, gen.up8, gen.up4, gen.up2, gen.up1):
            layer.norm.scale[2].uniform_(0.5, 1.5)
            layer.norm.shift[2].uniform_(-0.5, 0.5)
    return gen


@pytest.fixture(scope="module")
def weights(generator, tmp_path_factory):
    return save_generator(tmp_path_factory.mktemp("w") / "gallery.safetensors", generator)


def luma(n: int = BATCH, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, H, W), dtype=np.float32)


def torch_out(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def as_painted(fn):
    """``fn`` (luma -> picture) run the way a painting style's module reads its input: the picture
    reflected EDGE_PAD px above and left, the output cropped back (generator.EDGE_PAD)."""
    return lambda t: fn(reflect_top_left(t))[..., EDGE_PAD:, EDGE_PAD:]


def natural_rgb(gen, x: np.ndarray) -> np.ndarray:
    """The natural colourization as sRGB at model resolution, as --strength mixes it (padded like a style)."""
    return torch_out(as_painted(lambda t: luma_ab_to_rgb(t, gen(t, 0))), x)


# ------------------------------------------------------------------ the module and its maths


def test_a_blend_runs_the_mixed_norm_parameters(generator):
    x = luma()
    mixed = torch_out(style_module(generator, BLEND), x)
    np.testing.assert_array_equal(mixed, torch_out(as_painted(lambda t: generator(t, torch.tensor([0.0, 0.6, 0.4]))), x))
    for name in ("ukiyoe", "starry"):
        assert np.abs(mixed - torch_out(generator.for_style(name), x)).max() > 1e-3  # neither style alone


def test_blend_weights_and_strength_travel_with_the_module(generator):
    for module in (style_module(generator, BLEND), style_module(generator, BLEND, 0.5)):
        state = module.state_dict()
        assert torch.equal(state["style_weights"], torch.tensor([0.0, 0.6, 0.4]))  # in the weights digest, moved by .to()
        assert module.to(torch.float64).style_weights.dtype == torch.float64
        module.float()
    assert float(style_module(generator, BLEND, 0.5).state_dict()["strength"]) == 0.5


def test_weights_one_and_zero_are_the_style_and_a_style_blended_with_its_copy_is_itself(generator):
    x = luma()
    alone = torch_out(generator.for_style("ukiyoe"), x)
    np.testing.assert_allclose(torch_out(as_painted(lambda t: generator(t, torch.tensor([0.0, 1.0, 0.0]))), x), alone, atol=1e-6)
    twin = build_generator(GeneratorConfig.tiny(STYLES3), seed=0).eval()
    twin.load_state_dict(generator.state_dict())
    with torch.no_grad():
        for layer in (twin.up16, twin.up8, twin.up4, twin.up2, twin.up1):
            layer.norm.scale[2], layer.norm.shift[2] = layer.norm.scale[1], layer.norm.shift[1]  # starry := ukiyoe
    np.testing.assert_allclose(torch_out(style_module(twin, {"ukiyoe": 0.3, "starry": 0.7}), x), alone, atol=1e-5)


def test_strength_lerps_the_style_and_the_natural_colourization_of_one_encoder_pass(generator):
    x = luma()
    styled = torch_out(generator.for_style("ukiyoe"), x)
    natural = natural_rgb(generator, x)
    assert np.abs(styled - natural).max() > 0.05  # the two ends differ
    weights = generator.blend_weights({"ukiyoe": 1.0})
    for s in (0.0, 0.25, 1.0):
        out = torch_out(StrengthGenerator(generator, weights, 0, s), x)
        np.testing.assert_allclose(out, natural + s * (styled - natural), atol=1e-5)
    calls = []
    hook = generator.encoder._conv_stem.register_forward_hook(lambda *args: calls.append(1))  # the first encoder layer
    try:
        torch_out(style_module(generator, {"ukiyoe": 1.0}, 0.5), x)
    finally:
        hook.remove()
    assert len(calls) == 1


def test_strength_of_a_blend_and_its_bins_head_twin():
    gen = build_generator(GeneratorConfig(styles=STYLES3, decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins"), seed=0).eval()
    x = luma(1)
    natural = natural_rgb(gen, x)
    np.testing.assert_allclose(torch_out(style_module(gen, BLEND, 0.0), x), natural, atol=1e-5)
    np.testing.assert_allclose(torch_out(style_module(gen, BLEND, 1.0 - 1e-9), x), torch_out(style_module(gen, BLEND), x), atol=1e-5)


def test_strength_needs_natural_in_the_same_weights():
    paint_only = build_generator(GeneratorConfig.tiny(("ukiyoe", "starry")), seed=0).eval()
    with pytest.raises(StyleError, match="needs the natural colourization in the same weights"):
        style_module(paint_only, {"ukiyoe": 1.0}, 0.5)


@pytest.mark.parametrize("strength, style, message", [
    (1.5, "ukiyoe", "between 0 and 1"), (-0.1, "ukiyoe", "between 0 and 1"), (0.5, "natural", "for painting styles"),
])
def test_bad_strength_is_refused(strength, style, message):
    with pytest.raises(StyleError, match=message):
        check_strength(strength, STYLES[style])
    check_strength(1.0, STYLES["natural"])  # the default is fine with every style


# ------------------------------------------------------------------ every backend gives torch's picture


@pytest.mark.parametrize("style, strength", [("ukiyoe:0.6,starry:0.4", 1.0), ("ukiyoe", 0.5), ("ukiyoe:0.6,starry:0.4", 0.25)])
def test_onnxruntime_runs_blends_and_strength_as_torch_does(generator, weights, style, strength, tmp_path):
    x = luma()
    with load_backend("torch", style, H, W, BATCH, "cpu", weights, strength=strength) as reference:
        expected = reference.infer(x)
    with load_backend("onnxruntime", style, H, W, BATCH, "cpu", weights, tmp_path, strength=strength) as backend:
        out = backend.infer(x)
    assert out.shape == (BATCH, 3, H, W)
    assert np.abs(out - expected).max() <= 1e-3
    module = style_module(generator, {"ukiyoe": 0.6, "starry": 0.4} if "," in style else {"ukiyoe": 1.0}, strength)
    np.testing.assert_allclose(expected, torch_out(module, x), atol=1e-5)  # the backend ran the module asked for


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-3), ("fp16", 2e-3)])
@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_tensorrt_runs_a_blend_as_torch_does_with_fake_tensorrt(generator, precision, tolerance, strength, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)  # runs the engine's ONNX on CPU buffers
    fake_tensorrt.BUILDS.clear()
    x = luma()
    module = style_module(generator, BLEND, strength)
    variant = engine_variant("ukiyoe:0.6,starry:0.4", strength)
    with TensorRTBackend.from_module(module, variant, BATCH, H, W, tmp_path, precision, GPU, "cpu") as backend:
        out = backend.infer(x)
    assert np.abs(out - torch_out(module, x)).max() <= tolerance
    [engine] = tmp_path.glob("*.engine")
    assert engine.name.startswith(file_tag(variant) + f"_{H}x{W}_b{BATCH}_{precision}_")


def test_each_variant_has_its_own_cached_export(generator, tmp_path):
    from vidcolor.engine import cached_onnx

    def export(blend, strength=1.0, name=None):
        return cached_onnx(style_module(generator, blend, strength), name or engine_variant(resolve_name(blend), strength), H, W, 1, tmp_path)

    first = export(BLEND)
    assert export(BLEND) == first  # cached
    others = {export({"ukiyoe": 0.5, "starry": 0.5}), export({"ukiyoe": 1.0}), export({"ukiyoe": 1.0}, 0.5), export({"ukiyoe": 1.0}, 0.75)}
    assert len(others | {first}) == 5
    # the key covers the baked weights themselves, not only the name a caller gives
    assert export({"ukiyoe": 0.5, "starry": 0.5}, name="ukiyoe:0.6,starry:0.4") != first
    assert all(set(p.name) <= set("abcdefghijklmnopqrstuvwxyz0123456789._-") for p in tmp_path.iterdir())


def resolve_name(blend: dict[str, float]) -> str:
    from vidcolor.blend import blend_name

    return blend_name(blend)


def test_build_engines_compiles_a_blend(weights, tmp_path):
    [path] = build_engines([EngineSpec("starry:2,ukiyoe:2", H, W, 1, "fp32", "onnxruntime", weights)], tmp_path)
    assert path.name.startswith("starry_0.5_ukiyoe_0.5_") and path.suffix == ".onnx"
    with OnnxRuntimeBackend(path, 1, H, W) as backend, TorchBackend(style_module(checkpoint.load_generator(weights), {"starry": 0.5, "ukiyoe": 0.5}), 1, H, W) as ref:
        assert np.abs(backend.infer(luma(1)) - ref.infer(luma(1))).max() <= 1e-3


# ------------------------------------------------------------------ shipped weights found by header


def test_shipped_lookup_prefers_a_styles_own_file_then_any_file_that_holds_it(tiny_shipped):
    assert shipped_weights("natural") == tiny_shipped / "natural.safetensors"
    assert shipped_weights("starry") == shipped_weights("ukiyoe") == tiny_shipped / "gallery.safetensors"
    assert shipped_styles() == ["natural", "starry", "ukiyoe"]
    assert resolve_style("ukiyoe:0.6,starry:0.4").name == "ukiyoe:0.6,starry:0.4"
    with pytest.raises(StyleError, match="no shipped weights for style 'pastel'") as caught:
        shipped_weights("pastel")
    assert "natural, starry, ukiyoe" in caught.value.hint


def test_shipped_lookup_reads_headers_only(tiny_shipped, monkeypatch):
    def no_tensors(*args, **kwargs):
        raise AssertionError("a lookup read the tensors")

    monkeypatch.setattr(checkpoint, "load_file", no_tensors)
    assert shipped_weights("starry").name == "gallery.safetensors" and "ukiyoe" in shipped_styles()


def test_a_tampered_file_is_still_refused_on_loading(tiny_shipped):
    path = tiny_shipped / "gallery.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last tensor byte
    path.write_bytes(bytes(data))
    assert shipped_weights("starry") == path  # the header is fine
    with pytest.raises(CheckpointError, match="modified"):
        checkpoint.load_generator(None, "starry")


# ------------------------------------------------------------------ on the command line


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


FAST = ("--backend", "torch", "--model-height", "32", "--preset", "ultrafast", "--no-temporal", "-q")


def test_cli_runs_a_blend_and_a_strength_on_the_shipped_gallery(tmp_path, tiny_shipped):
    src = make_clip(tmp_path / "film.mkv", frames=3)
    result = run_cli("run", src, "--style", "ukiyoe:3,starry:2", *FAST)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "film.ukiyoe60-starry40.mkv").is_file()
    result = run_cli("run", src, "--style", "ukiyoe", "--strength", "0.5", "--backend", "onnxruntime", "--model-height", "32",
                     "--preset", "ultrafast", "--no-temporal", "-q", "--engine-dir", tmp_path / "eng")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "film.ukiyoe-s50.mkv").is_file()
    assert [p.name.split("_64x")[0].split("_32x")[0] for p in (tmp_path / "eng").glob("*.onnx")] == ["ukiyoe_s0.5"]


def test_cli_photo_with_a_blend_at_a_strength(tmp_path, tiny_shipped):
    import cv2

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1)))
    result = run_cli("run", photo, "--style", "ukiyoe,starry", "--strength", "0.3", *FAST)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "photo.ukiyoe50-starry50-s30.png")).shape == (48, 64, 3)


@pytest.mark.parametrize("args, message", [
    (["--strength", "1.5", "--style", "ukiyoe"], "--strength must be between 0 and 1"),
    (["--strength", "0.5"], "--strength is for painting styles"),
    (["--strength", "0.5", "--style", "natural:1"], "--strength is for painting styles"),
])
def test_cli_bad_strength_is_one_clear_line_and_nothing_written(tmp_path, args, message):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    result = run_cli("run", src, *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["film.mp4"]


def test_cli_strength_with_weights_that_lack_natural(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=2)
    paint_only = save_generator(tmp_path / "p.safetensors", build_generator(GeneratorConfig.tiny(("ukiyoe", "starry")), seed=0))
    result = run_cli("run", src, "--style", "ukiyoe", "--strength", "0.5", "--weights", paint_only, *FAST)
    assert result.exit_code == 1 and "needs the natural colourization in the same weights" in result.output
    assert not (tmp_path / "film.ukiyoe-s50.mp4").exists()


def test_default_output_names_the_strength():
    from pathlib import Path

    assert default_output(Path("f.mp4"), "ukiyoe", 0.25) == Path("f.ukiyoe-s25.mp4")
    assert default_output(Path("f.mp4"), "ukiyoe", 1.0) == Path("f.ukiyoe.mp4")


def test_earlier_blend_and_strength_results_are_not_run_again(tmp_path):
    from vidcolor.jobs import expand_inputs

    for name in ("a.jpg", "a.natural.jpg", "a.ukiyoe60-starry40.jpg", "a.ukiyoe-s50.jpg", "b.trip-2.jpg", "c.ukiyoe70.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.jpg", "b.trip-2.jpg", "c.ukiyoe70.jpg"]


def test_preview_shows_the_painting_styles_at_a_strength(tmp_path, weights):
    from vidcolor.preview import PreviewOptions, preview

    film = make_clip(tmp_path / "film.mp4", frames=10)
    sheets = {}
    for strength in (1.0, 0.0):
        out = tmp_path / f"s{strength}.png"
        summary = preview(PreviewOptions(film, out, ("natural", "ukiyoe"), frames=1, model_height=32, device="cpu", weights=weights, strength=strength))
        assert summary.styles == ("natural", "ukiyoe")
        sheets[strength] = cv2_read(out)
    assert sheets[1.0].shape == sheets[0.0].shape
    third = sheets[1.0].shape[1] // 3  # original | natural | ukiyoe
    assert np.abs(sheets[1.0][:, 2 * third:].astype(int) - sheets[0.0][:, 2 * third:]).max() > 20  # the painting column changed
    with pytest.raises(Exception, match="--strength must be between 0 and 1"):
        preview(PreviewOptions(film, tmp_path / "x.png", ("ukiyoe",), weights=weights, strength=2.0))


def cv2_read(path):
    import cv2

    return cv2.imread(str(path))


def test_a_painting_style_reads_its_input_with_the_picture_reflected_above_and_left():
    """The encoder's stride-2 zero padding drew a band along the top edge of painted pictures; the
    style module reflects EDGE_PAD px of the picture above and left and crops them off: same shape,
    and the top rows are no longer what the bare generator paints there (the interior nearly is)."""
    gen = build_generator(GeneratorConfig.tiny(STYLES3), seed=0).eval()
    x = luma(1)
    module, bare = torch_out(gen.for_style("ukiyoe"), x), torch_out(lambda t: gen(t, 1), x)
    assert module.shape == bare.shape == (1, 3, H, W)
    assert np.abs(module[..., :3, :] - bare[..., :3, :]).mean() > 1e-3
    np.testing.assert_allclose(torch_out(as_painted(lambda t: gen(t, 1)), x), module, atol=1e-6)
    natural = build_generator(GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins"), seed=0).eval()
    np.testing.assert_array_equal(torch_out(natural.for_style("natural"), x), torch_out(lambda t: natural(t, 0), x))  # natural reads it as it is
