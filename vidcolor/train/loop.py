"""`vidcolor train`: the GAN training loop for one style, resumable and deterministic.

Run state (generator, discriminator, both optimizers, step) is saved as safetensors + JSON in
``recipe.run_dir``; the final fp16 weights go to ``recipe.output``. Batches and random flows are
functions of (seed, step), so ``--resume`` continues exactly where an uninterrupted run would be.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from vidcolor.color import luma_ab_to_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.errors import RecipeError
from vidcolor.models.checkpoint import load_generator, read_header, save_generator
from vidcolor.models.discriminator import PatchDiscriminator
from vidcolor.models.generator import AB_RANGE, CondInstanceNorm, Generator, GeneratorConfig, add_style_slots, build_generator, convert_generator, vividness_to_prior_shift
from vidcolor.styles import STYLES
from vidcolor.train import bins, losses
from vidcolor.train.degrade import degrade_batch
from vidcolor.train.hints import random_hints, recoloured_hints, region_weights
from vidcolor.train.gain import gain_stage
from vidcolor.train.palette import palette_stage
from vidcolor.train.data import PairSet, VideoPairs, centre_crops, drop_greyscale, expand, load_video_pairs, fingerprint, list_images, random_smooth_flow, read_rgb, repeat_counts, split, video_stills
from vidcolor.train.recipe import Recipe, load_recipe

STATE_FILE = "state.safetensors"


@dataclass
class Run:
    """Everything the loop mutates."""

    recipe: Recipe
    device: torch.device
    gen: Generator
    disc: PatchDiscriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    features: losses.FeatureNet | None  # only when a perceptual or style loss uses it
    style_grams: dict[int, list[torch.Tensor]]  # Gram targets per stylizing slot (style loss)
    style: int  # conditioning slot being trained (several styles: this step's)
    step: int = 0
    video: VideoPairs | None = None  # consecutive real frames for the temporal loss, if the recipe has them
    ab_weights: torch.Tensor | None = None  # bins head: class-rebalancing weight per a/b bin (Q,)
    steps: int = 0  # the run's last step: train.steps, or what fits in train.minutes (``fit_to_time``)
    lr_drop_at: int = 0  # train.lr_drop_at, scaled with ``steps``
    fitted: bool = False  # train.minutes: steps and lr_drop_at were fitted (once a run, kept in the state)


def train_from_recipe(recipe_path: Path, overrides: dict | None = None, resume: bool = False, quiet: bool = False) -> Path:
    """Train the recipe's style and write fp16 weights to its output; returns the output path."""
    recipe = load_recipe(recipe_path, overrides)
    device = pick_device(recipe.train.device)
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    if recipe.train.palette:
        return palette_stage(recipe, quiet=quiet)
    if recipe.train.picture_gain:
        return gain_stage(recipe, quiet=quiet)
    sets, data_id = prepare_data(recipe)
    run = new_run(recipe, device)
    run.style_grams = style_grams(run, recipe, sets)
    if recipe.loss.temporal_video > 0:
        run.video = load_video_pairs(list(recipe.data.video_frames), recipe.data.load_size, recipe.data.video_val_fraction)  # load_size >= resolution
    state_path = recipe.run_dir / STATE_FILE
    if resume:
        if not state_path.is_file():
            raise RecipeError(f"nothing to resume: {state_path} does not exist", "start without --resume")
        load_state(run, state_path)
    colorize = STYLES[recipe.style].mode == "colorize"
    if run.gen.config.ab_head == "bins" and colorize:  # a function of the training photos: recomputed, not stored in the state
        prior = bins.ab_prior(sets[recipe.style][0].targets, run.gen.bins.cpu())
        run.ab_weights = bins.rebalance_weights(prior, run.gen.bins.cpu(), recipe.loss.rebalance).to(device)
        run.gen.bin_log_weight.copy_(run.ab_weights.log())
    views = {name: tuple(centre_crops(part[:8], recipe.train.resolution).to(device) for part in _val_view(train, val)) for name, (train, val) in sets.items()}
    recipe.run_dir.mkdir(parents=True, exist_ok=True)
    log = (recipe.run_dir / "log.jsonl").open("a" if resume else "w")
    with _progress(quiet) as progress:
        task = progress.add_task(f"train {', '.join(recipe.styles)}", total=run.steps, completed=run.step, losses="")
        clock = StepClock(run.step)
        prefetch = ThreadPoolExecutor(1)  # the next step's batch is cut while this one trains (a pure function of the step)
        batch_of = lambda step: sets[recipe.styles[step % len(recipe.styles)]][0].batch(recipe.seed, step, recipe.train.batch, recipe.train.resolution)  # noqa: E731
        upcoming = prefetch.submit(batch_of, run.step)
        while run.step < run.steps:
            t0 = time.perf_counter()
            name = recipe.styles[run.step % len(recipe.styles)]  # several styles: one per step, in turn
            run.style = run.gen.style_index(name)
            inputs, targets = upcoming.result()
            upcoming = prefetch.submit(batch_of, run.step + 1)
            set_learning_rates(run)
            values = train_step(run, inputs.to(device), targets.to(device))
            run.step += 1
            values["sec"] = time.perf_counter() - t0
            if recipe.train.minutes and not run.fitted and clock.timed(run.step):
                run.steps, run.lr_drop_at = fit_to_time(recipe.train, run.step, clock.seconds_per_step(run.step), clock.elapsed())
                run.fitted = True
                progress.update(task, total=run.steps)
            log.write(json.dumps({"step": run.step, "trains": name, **values}) + "\n")
            progress.update(task, completed=run.step, losses=" ".join(f"{k} {v:.3f}" for k, v in values.items()))
            if run.fitted and clock.elapsed() > 1.2 * 60 * recipe.train.minutes:
                run.steps = run.step  # slowed down after the fit: stop here, the time is up
            if run.step % recipe.train.checkpoint_every == 0 or run.step == run.steps:
                log.flush()
                save_state(run, state_path)
            if recipe.train.snapshot_every and run.step % recipe.train.snapshot_every == 0:
                snapshot = recipe.run_dir / "snapshots" / f"step_{run.step:06d}.safetensors"
                save_generator(snapshot, run.gen, {"steps": run.step, "recipe": recipe.to_dict(), "data_fingerprint": data_id}, dtype=torch.float16)
            if run.step % recipe.train.sample_every == 0 or run.step == run.steps:
                for shown, view in views.items():  # every style (several styles: one grid each)
                    suffix = f"_{shown}" if len(recipe.styles) > 1 else ""
                    run.style = run.gen.style_index(shown)
                    write_samples(run, *view, recipe.run_dir / "samples" / f"step_{run.step:06d}{suffix}.png")
        prefetch.shutdown(cancel_futures=True)
    log.close()
    if colorize:
        run.gen.config = replace(run.gen.config, chroma_gain=recipe.train.chroma_gain)  # trained at 1, shipped with the gain
        _with_decoding(run.gen, recipe.train, export=True)  # the bins head ships with its calibrated decoding
    metrics = {}
    for name, (_, val) in sets.items():
        run.style = run.gen.style_index(name)
        metrics[name] = validate(run, val)
    metrics = metrics[recipe.style] if len(sets) == 1 else metrics
    meta = {"recipe": recipe.to_dict(), "data_fingerprint": data_id, "metrics": metrics, "steps": run.step, "device": str(device)}
    if colorize and recipe.train.video_vividness:
        meta["video_vividness"] = recipe.train.video_vividness
    if recipe.train.style_only:
        meta.update(inherited_decoding(recipe.init))
    return save_generator(recipe.output, run.gen, meta, dtype=torch.float16)


def inherited_decoding(init: Path) -> dict:
    """Header entries of the init weights that describe the colorize slots' decoding (video_vividness,
    palette): a style_only run leaves those slots exactly as init has them, so its output keeps them."""
    header = read_header(init)
    return {k: header[k] for k in ("video_vividness", "palette") if k in header}


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RecipeError("train.device is cuda but no CUDA GPU is visible", "use --device cpu")
    return torch.device("cuda" if name in ("auto", "cuda") and torch.cuda.is_available() else "cpu")


class StepClock:
    """Wall-clock of a run's steps in this process: ``timed`` once WARMUP + TIMED steps are done."""

    WARMUP, TIMED = 5, 45

    def __init__(self, first_step: int) -> None:
        self.first, self.start, self.warm = first_step, time.perf_counter(), None

    def timed(self, step: int) -> bool:
        if step == self.first + self.WARMUP:
            self.warm = time.perf_counter()
        return step >= self.first + self.WARMUP + self.TIMED

    def seconds_per_step(self, step: int) -> float:
        return (time.perf_counter() - self.warm) / (step - self.first - self.WARMUP)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def fit_to_time(t, step: int, seconds_per_step: float, elapsed: float) -> tuple[int, int]:
    """(steps, lr_drop_at) of a run with train.minutes: the steps that fit in the minutes left at
    ``seconds_per_step`` (at least ``step``, at most train.steps), and lr_drop_at scaled alike."""
    left = max(0.0, 60 * t.minutes - elapsed)
    steps = min(t.steps, step + int(left / max(seconds_per_step, 1e-9)))
    return steps, round(t.lr_drop_at * steps / t.steps) if t.lr_drop_at else 0


def prepare_data(recipe: Recipe) -> tuple[dict[str, tuple[PairSet, PairSet]], str]:
    """Load photos (and teacher targets for artistic styles) into memory, per trained style:
    {style: (train set, validation set)}; all errors before training."""
    files = list_images(list(recipe.data.photos))
    train_files, val_files = split(files, recipe.data.val_fraction)
    size = recipe.data.load_size
    stills, still_files = video_stills(list(recipe.data.video_stills), recipe.data.video_val_fraction, recipe.data.video_stills_every, size)
    stills = expand(stills, [recipe.data.video_stills_repeat] * len(stills))
    sets = {}
    for name in recipe.styles:
        if STYLES[name].mode == "stylize":
            from vidcolor.train.teacher import style_source, teacher_targets

            source = style_source(STYLES[name].teacher, recipe.data.style_dir)
            load = lambda fs: teacher_targets(fs, source, size, recipe.run_dir / "teacher")  # noqa: E731
        else:
            load = lambda fs: (lambda imgs: (imgs, imgs))([read_rgb(f, size) for f in fs])  # noqa: E731
        counts = repeat_counts(train_files, recipe.data.repeat)
        train_in, train_out = (expand(x, counts) for x in load(train_files))
        if stills:  # colorize only (validated): the target is the frame itself
            train_in, train_out = train_in + stills, train_out + stills
        train_in, train_out, _ = drop_greyscale(train_in, train_out)
        val_in, val_out, _ = drop_greyscale(*load(val_files)) if val_files else ([], [], 0)
        if not train_in:
            raise RecipeError("every training photo is black and white: there is no colour to learn from", "add colour photos to data.photos")
        sets[name] = (PairSet(train_in, train_out), PairSet(val_in, val_out))
    return sets, fingerprint(files + still_files)


def _val_view(train: PairSet, val: PairSet) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The photos sample grids show: validation photos, or training ones when there are none."""
    return (val.inputs, val.targets) if len(val) else (train.inputs, train.targets)


def style_grams(run: Run, recipe: Recipe, sets: dict[str, tuple[PairSet, PairSet]]) -> dict[int, list[torch.Tensor]]:
    """Gram targets per stylizing slot: of the painting, or for a built-in teacher style (no painting)
    the mean Gram of its first 8 training targets. Empty without a style loss."""
    if recipe.loss.style <= 0:
        return {}
    from vidcolor.train.teacher import style_source

    grams = {}
    for name in recipe.styles:
        if STYLES[name].mode != "stylize":
            continue
        source = style_source(STYLES[name].teacher, recipe.data.style_dir)
        if isinstance(source, int):
            images = centre_crops(sets[name][0].targets[:8], recipe.train.resolution)
        else:
            images = torch.from_numpy(read_rgb(source, 256)).permute(2, 0, 1)[None].float().div(255)
        with torch.no_grad():
            grams[run.gen.style_index(name)] = [losses.gram(f).mean(0, keepdim=True) for f in run.features(images.to(run.device))]
    return grams


def new_run(recipe: Recipe, device: torch.device) -> Run:
    gen = init_generator(recipe).to(device)
    disc = PatchDiscriminator().to(device)
    if recipe.train.encoder_lr == 0:
        gen.encoder.requires_grad_(False)  # frozen: no gradients computed through it at all
    if recipe.train.hint_branch:
        gen.requires_grad_(False)  # only the hint branch learns: the automatic colours stay exactly as they were
        gen.hint_net.requires_grad_(True)
    encoder = list(gen.encoder.parameters())
    enc_ids = {id(p) for p in encoder}
    decoder = [p for p in gen.parameters() if id(p) not in enc_ids]
    t = recipe.train
    groups = [{"params": encoder, "lr": t.encoder_lr}, {"params": decoder, "lr": t.lr}]
    if t.hint_stem_lr:  # the stem's hint-plane filters on their own rate (a third group, last, so older states load)
        stem = gen.encoder._conv_stem.weight
        stem.register_hook(_hint_planes_only)  # its luma filters stay as they are in this run
        groups = [{"params": [p for p in encoder if p is not stem], "lr": t.encoder_lr}, groups[1], {"params": [stem], "lr": t.hint_stem_lr}]
    opt_g = torch.optim.Adam(groups, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=t.lr, betas=(0.5, 0.99))
    features = losses.FeatureNet().to(device) if recipe.loss.perceptual > 0 or recipe.loss.style > 0 else None
    if t.style_only:
        freeze_for_styles(gen, [gen.style_index(name) for name in recipe.styles])
    return Run(recipe, device, gen, disc, opt_g, opt_d, features, {}, gen.style_index(recipe.style), steps=t.steps, lr_drop_at=t.lr_drop_at)


def freeze_for_styles(gen: Generator, slots: list[int]) -> None:
    """Only the given style slots' norm rows and the full-resolution stages + RGB head learn
    (what stylizing styles own); the encoder, the shared coarse decoder, the bins head, the hint
    branch and every other style's norm rows keep their values exactly."""
    gen.requires_grad_(False)
    for module in (gen.up2, gen.up1, gen.head_rgb):
        module.requires_grad_(True)
    keep = torch.zeros(len(gen.style_names), 1)
    keep[slots] = 1.0
    for module in gen.modules():
        if isinstance(module, CondInstanceNorm):
            for param in (module.scale, module.shift):
                param.requires_grad_(True)
                param.register_hook(lambda grad, keep=keep: grad * keep.to(grad))  # other styles' rows: zero gradient


def _hint_planes_only(grad: torch.Tensor) -> torch.Tensor:
    """Stem gradient (32, 1 + 3, 3, 3) with the luma filters' part zeroed: Adam then leaves them exactly as they are."""
    return torch.cat([torch.zeros_like(grad[:, :1]), grad[:, 1:]], dim=1)


def init_generator(recipe: Recipe) -> Generator:
    """ImageNet-initialised, or from recipe.init with the recipe's style added as a new slot if missing;
    converted to the recipe's head (train.ab_head) and hint input (train.hint_fraction > 0) where they differ."""
    torch.manual_seed(recipe.seed)
    t = recipe.train
    if recipe.init is None:
        config = GeneratorConfig(styles=(recipe.style,), ab_head=t.ab_head or "regress", hints=t.hint_fraction > 0, encoder=t.encoder, context=t.context)
        return _with_decoding(build_generator(config, seed=recipe.seed), t, export=scores_decoded(recipe))
    base = load_generator(recipe.init)
    if base.config.encoder != t.encoder:
        raise RecipeError(
            f"train.encoder is {t.encoder} but the init weights have a {base.config.encoder} encoder",
            "drop init to train the new encoder from ImageNet weights, or set train.encoder to match",
        )
    base.config = replace(base.config, chroma_gain=1.0)  # a/b are learned unscaled; the gain is for export
    missing = [name for name in recipe.styles if name not in base.style_names]
    if missing:
        base = add_style_slots(base, missing, seed=recipe.seed)
    target = replace(base.config, ab_head=t.ab_head or base.config.ab_head, hints=base.config.hints or t.hint_fraction > 0,
                     hint_branch=base.config.hint_branch or t.hint_branch, hint_null=base.config.hint_null or t.hint_null,
                     hint_cues=base.config.hint_cues or t.hint_cues, context=base.config.context or t.context)
    if t.init_trunk_only:  # the hint branch and the palette were fitted to init's trunk: dropped, refitted after
        target = replace(target, hint_branch=False, hint_null=False, hint_cues=False, palette=False, image_gain=False)
    if target != base.config:
        base, _ = convert_generator(base, target, seed=recipe.seed)
    if STYLES[recipe.style].mode != "colorize":
        return base.train()  # the colorize decoding stays as the init weights have it
    # the hint branch, and the measures of loss.psnr / loss.colourfulness, learn on the shipped decoding
    return _with_decoding(base.train(), t, export=t.hint_branch or scores_decoded(recipe))


def scores_decoded(recipe: Recipe) -> bool:
    """Whether the recipe's losses score the decoded colour (loss.psnr, colourfulness, colour_match): it then trains at the exported decoding."""
    return recipe.loss.psnr > 0 or recipe.loss.colourfulness > 0 or recipe.loss.colour_match > 0


def _with_decoding(gen: Generator, t, export: bool = False) -> Generator:
    """The bins head's decoding: in training the recipe's temperature with the rebalancing as trained
    (prior shift 0); for export the calibrated export_temperature and vividness."""
    if gen.config.ab_head == "bins":
        gen.temperature.fill_((t.export_temperature or t.temperature) if export else t.temperature)
        gen.prior_shift.fill_(vividness_to_prior_shift(t.vividness) if export else 0.0)
    return gen


def set_learning_rates(run: Run) -> None:
    """The recipe's rates for this step: (encoder_lr, lr[, hint_stem_lr]), times lr_drop from the run's lr_drop_at on."""
    t = run.recipe.train
    factor = t.lr_drop if run.lr_drop_at and run.step >= run.lr_drop_at else 1.0
    for group, lr in zip(run.opt_g.param_groups, (t.encoder_lr, t.lr, t.hint_stem_lr)):
        group["lr"] = lr * factor


def train_step(run: Run, rgb: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """One generator + one discriminator update. rgb, target: (N, 3, r, r) [0,1]."""
    r, w = run.recipe, run.recipe.loss
    mode = run.gen.style_modes[run.style]
    adversarial = run.step >= r.train.adv_start and w.adversarial > 0
    run.gen.train()
    run.gen.encoder.apply(_freeze_bn)
    luma = rgb_to_luma(rgb)
    rng = np.random.default_rng([r.seed, run.step, 2])
    luma_in = degrade_batch(luma, rng, r.data.degrade) if r.data.degrade > 0 else luma  # old-film look; targets clean
    if r.train.hint_branch:
        return hint_branch_step(run, luma_in, rgb_to_lab(target)[:, 1:], rng)
    with _autocast(run.device):
        if mode == "colorize" and run.gen.config.ab_head == "bins":
            ab_true = rgb_to_lab(target)[:, 1:]
            hints = random_hints(ab_true, rng, r.train.hint_fraction) if run.gen.config.hints else None
            logits = run.gen.ab_logits(luma_in, run.style, hints)
            out = run.gen.logits_to_ab(logits, luma.shape[-2:])
            color = bins.bins_loss(logits, bins.soft_encode(bins.target_ab(ab_true), run.gen.bins), run.ab_weights)
        else:
            out = run.gen(luma_in, run.style)
        pred = luma_ab_to_rgb(luma, out.float()) if mode == "colorize" else out.float()
        if mode == "colorize" and run.gen.config.ab_head != "bins":
            color = colour_loss(out.float(), rgb_to_lab(target)[:, 1:], w.saturation, w.color_beta)
        elif mode != "colorize":
            color = F.l1_loss(pred, target)
        loss = {"color": color}
        if scores_decoded(r):
            loss["psnr"], loss["colourfulness"] = losses.decoded_measures(pred, target)
            if w.colour_match > 0:
                loss["colour_match"] = losses.colour_match(pred, target)
        styled = run.style in run.style_grams and w.style > 0
        if w.perceptual > 0 or styled:  # the feature network is a third of a step: only when used
            feats = run.features(pred)
            if w.perceptual > 0:
                with torch.no_grad():
                    target_feats = run.features(target)
                loss["perceptual"] = losses.perceptual_loss(feats, target_feats)
            if styled:
                loss["style"] = losses.style_loss(feats, run.style_grams[run.style])
        if w.temporal > 0:
            loss["temporal"] = temporal_term(run, luma, out, mode)
        if run.video is not None:
            loss["temporal_video"] = video_temporal_term(run, mode)
        if adversarial:
            loss["adversarial"] = losses.g_hinge_loss(run.disc(pred))
        total = sum(getattr(w, k) * v for k, v in loss.items())
    run.opt_g.zero_grad(set_to_none=True)
    total.backward()
    run.opt_g.step()
    if adversarial:
        with _autocast(run.device):
            d_loss = losses.d_hinge_loss(run.disc(target), run.disc(pred.detach()))
        run.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        run.opt_d.step()
        loss["disc"] = d_loss
    return {k: float(v.detach()) for k, v in {"total": total, **loss}.items()}


def hint_branch_step(run: Run, luma: torch.Tensor, ab_true: torch.Tensor, rng: np.random.Generator) -> dict[str, float]:
    """One update of the hint branch alone: luma (N, 1, r, r), true a/b (N, 2, r, r); every photo gets
    random hints (train.hint_recolour of them of a colour put into the target: ``recoloured_hints``);
    Huber between the hinted a/b and the target (recoloured regions weighted by ``region_weights``).
    The frozen rest runs without gradients."""
    hints = random_hints(ab_true, rng, 1.0)
    weights = torch.ones_like(luma)
    if run.recipe.train.hint_recolour:
        ab_true, hints, regions = recoloured_hints(ab_true, luma, hints, rng, run.recipe.train.hint_recolour)
        weights = region_weights(regions, run.recipe.train.hint_region_balance)
    with torch.no_grad():
        maps = run.gen.encode(luma, hints)
        features = run.gen.decode(luma, run.style, hints, full_res=False, features=maps)
        logits = run.gen.bin_logits(features, maps)
    with _autocast(run.device):
        ab = run.gen.ab_with_hints(features, luma, hints, logits)
        per_pixel = F.smooth_l1_loss(ab.float() / AB_RANGE, ab_true / AB_RANGE, beta=0.05, reduction="none").sum(1, keepdim=True)
        loss = (per_pixel * weights).mean()
    run.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_g.step()
    return {"total": float(loss.detach()), "hint": float(loss.detach())}


def colour_loss(ab: torch.Tensor, ab_true: torch.Tensor, saturation: float, beta: float = 0.05) -> torch.Tensor:
    """Huber on ab / AB_RANGE, each pixel weighted 1 + saturation * chroma/50 (capped at 2): a cheap
    rebalancing that makes rare vivid colours count more than the common greys and browns.
    With beta >= 1 it is squared error, whose minimiser is the mean colour given the grey picture."""
    per_pixel = F.smooth_l1_loss(ab / AB_RANGE, ab_true / AB_RANGE, beta=beta, reduction="none").sum(1)
    weight = 1 + saturation * (ab_true.norm(dim=1) / 50).clamp(max=2)
    return (per_pixel * weight).mean() / (1 + saturation)


def temporal_term(run: Run, luma: torch.Tensor, out: torch.Tensor, mode: str) -> torch.Tensor:
    """Temporal consistency on half the batch under a random smooth flow (seeded by step)."""
    n = max(1, luma.shape[0] // 2)
    rng = torch.Generator().manual_seed(run.recipe.seed * 1_000_003 + run.step)
    flow = random_smooth_flow(rng, n, *luma.shape[-2:], run.recipe.train.max_flow_px).to(luma.device)
    warped_luma, _ = losses.warp(luma[:n], flow)
    out_w = run.gen(warped_luma, run.style)
    scale = AB_RANGE if mode == "colorize" else 1.0
    return losses.temporal_loss(out[:n].float() / scale, out_w.float() / scale, flow)


def video_temporal_term(run: Run, mode: str) -> torch.Tensor:
    """||G(x_t+1) - warp(G(x_t))||_1 on trusted pixels of real consecutive frames (batch / 4 pairs)."""
    r = run.recipe
    prev, nxt, flow, trust = (x.to(run.device) for x in run.video.batch(r.seed, run.step, max(1, r.train.batch // 4), r.train.resolution))
    outs = run.gen(torch.cat([prev, nxt]), run.style).float() / (AB_RANGE if mode == "colorize" else 1.0)
    return losses.video_temporal_loss(outs[len(prev):], outs[: len(prev)], flow, trust)


def _freeze_bn(m: torch.nn.Module) -> None:
    if isinstance(m, torch.nn.BatchNorm2d):
        m.eval()  # pretrained statistics; batches here are too small to re-estimate them


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


# ---------------------------------------------------------------- outputs: samples, validation, state


@torch.no_grad()
def predict_rgb(gen: Generator, style: int, rgb: torch.Tensor) -> torch.Tensor:
    """Grey version of rgb (N, 3, H, W) through the generator -> (N, 3, H, W) RGB [0,1]."""
    gen.eval()
    luma = rgb_to_luma(rgb)
    out = gen(luma, style).float()
    return luma_ab_to_rgb(luma, out) if gen.style_modes[style] == "colorize" else out


def write_samples(run: Run, inputs: torch.Tensor, targets: torch.Tensor, path: Path) -> None:
    """PNG grid: rows = grey input / output / target, one column per validation photo."""
    pred = predict_rgb(run.gen, run.style, inputs)
    grey = rgb_to_luma(inputs).expand(-1, 3, -1, -1)
    rows = [torch.cat(list(t), dim=2) for t in (grey, pred, targets)]
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


@torch.no_grad()
def validate(run: Run, val_set: PairSet) -> dict[str, float]:
    """Held-out figures: PSNR (vs the true colours or the teacher) and colourfulness, with the grey baseline."""
    from vidcolor.metrics import colorfulness, psnr

    if not len(val_set):
        return {}
    res = run.recipe.train.resolution * 2
    out: dict[str, list[float]] = {}
    for i in range(0, len(val_set), 16):
        inputs = centre_crops(val_set.inputs[i : i + 16], res).to(run.device)
        targets = centre_crops(val_set.targets[i : i + 16], res).to(run.device)
        pred = predict_rgb(run.gen, run.style, inputs)
        grey = rgb_to_luma(inputs).expand(-1, 3, -1, -1)
        for p, g, t in zip(_hwc(pred), _hwc(grey), _hwc(targets)):
            for key, value in (("psnr", psnr(p, t)), ("psnr_grey", psnr(g, t)), ("colorfulness", colorfulness(p)), ("colorfulness_target", colorfulness(t))):
                out.setdefault(key, []).append(float(value))
    return {k: float(np.mean(v)) for k, v in out.items()} | {"val_images": len(val_set)}


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) [0,1] -> (N, H, W, 3) float32 [0,1], quantized to 8 bits as a video would be."""
    return (x.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.float32) / 255


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {f"{prefix}/{i}/{k}": v for i, s in sd["state"].items() for k, v in s.items()}
    return tensors, {"groups": sd["param_groups"], "keys": [[i, list(s)] for i, s in sd["state"].items()]}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {int(i): {k: tensors[f"{prefix}/{i}/{k}"] for k in keys} for i, keys in meta["keys"]}
    return {"state": state, "param_groups": meta["groups"]}


def save_state(run: Run, path: Path) -> None:
    """Resumable state (no pickle): weights and optimizer tensors + JSON for the rest; atomic."""
    tensors = {f"gen/{k}": v for k, v in run.gen.state_dict().items()}
    tensors |= {f"disc/{k}": v for k, v in run.disc.state_dict().items()}
    tg, mg = _flatten_optimizer("opt_g", run.opt_g)
    td, md = _flatten_optimizer("opt_d", run.opt_d)
    tensors = {k: v.detach().cpu().contiguous() for k, v in (tensors | tg | td).items()}
    meta = {"step": run.step, "opt_g": mg, "opt_d": md, "styles": run.gen.style_names}
    if run.fitted:
        meta["fitted"] = {"steps": run.steps, "lr_drop_at": run.lr_drop_at}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"vidcolor_state": json.dumps(meta)})
    os.replace(tmp, path)


def load_state(run: Run, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["vidcolor_state"])
    tensors = load_file(str(path), device=str(run.device))
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("gen/")}
    missing = run.gen.load_state_dict(state, strict=False).missing_keys  # decoding buffers are set from the recipe
    if set(missing) - {"bin_log_weight", "prior_shift"} or len(state) > len(run.gen.state_dict()):
        run.gen.load_state_dict(state)  # raises with the exact mismatch
    run.disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc/")})
    run.opt_g.load_state_dict(_unflatten_optimizer("opt_g", tensors, meta["opt_g"]))
    run.opt_d.load_state_dict(_unflatten_optimizer("opt_d", tensors, meta["opt_d"]))
    run.step = meta["step"]
    if "fitted" in meta:  # a train.minutes run keeps the steps it fitted
        run.steps, run.lr_drop_at, run.fitted = meta["fitted"]["steps"], meta["fitted"]["lr_drop_at"], True


def _progress(quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"), disable=quiet,
    )
