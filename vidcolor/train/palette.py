"""Fitting the scene palette (``GeneratorConfig.palette``): a small MLP from a photo's pooled encoder
features to its a/b histogram over the bins, on a frozen, trained generator.

The bins head predicts each pixel's colour from what it sees around it; the palette adds what the
whole scene suggests (a beach: sand and sea; a face crop: skin and hair; a street: grey, brick,
sky). Its output, the log-ratio of the predicted histogram to the training photos' mean histogram,
is added to every pixel's logits at ``palette_strength`` (calibrated with the vividness on the
calibration split). Fitting takes a minute on the CPU once the descriptors are computed (one
encoder pass a photo).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.color import rgb_to_lab, rgb_to_luma
from vidcolor.errors import RecipeError
from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import AB_STRIDE, Generator, ScenePalette, vividness_to_prior_shift
from vidcolor.train.data import is_greyscale, list_images, read_rgb, split

PALETTE_HIDDEN = 512


def model_input(luma: torch.Tensor, short: int = 256) -> torch.Tensor:
    """(1, 1, H, W) luma -> area-resized so the short side is ``short``, both sides multiples of 32."""
    h, w = luma.shape[-2:]
    s = short / min(h, w)
    return F.interpolate(luma, size=(max(32, round(h * s / 32) * 32), max(32, round(w * s / 32) * 32)), mode="area")


def ab_histogram(rgb: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB [0,1] -> (Q,) share of its pixels (at 1/AB_STRIDE size) whose nearest bin is each bin."""
    ab = rgb_to_lab(F.interpolate(rgb, scale_factor=1 / AB_STRIDE, mode="area"))[0, 1:].reshape(2, -1).T
    return torch.bincount(torch.cdist(ab, bins).argmin(1), minlength=len(bins)).float() / len(ab)


@torch.no_grad()
def descriptors(gen: Generator, images: list[np.ndarray], short: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos (H, W, 3) uint8 -> (descriptors (N, C16 + C32), histograms (N, Q)): the palette's input
    (the grey photo's pooled encoder features at model short side ``short``) and its target."""
    xs, hs = [], []
    for img in images:
        rgb = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        f = gen.encode(model_input(rgb_to_luma(rgb), short), None)
        xs.append(ScenePalette.pooled(f[3], f[4])[0])
        hs.append(ab_histogram(rgb, gen.bins.cpu()))
    return torch.stack(xs), torch.stack(hs)


def fit_palette(x: torch.Tensor, hist: torch.Tensor, seed: int, hidden: int = PALETTE_HIDDEN, epochs: int = 60,
                holdout: int = 500, smoothing: float = 0.01) -> tuple[dict[str, torch.Tensor], dict]:
    """Descriptors (N, C) and histograms (N, Q) -> (ScenePalette state dict, fit report).

    Cross-entropy of softmax(MLP(x) + log mean histogram) against each histogram (smoothed 1 % towards
    the mean), AdamW 1e-3, weight decay 0.05, dropout 0.5, batches of 128; ``holdout`` photos (seeded)
    pick the epoch (it overfits within ~10). The input standardisation is folded into the first layer.
    """
    if len(x) < 2:
        raise ValueError(f"fitting a palette needs at least 2 photos, got {len(x)}")
    holdout = max(1, min(holdout, len(x) // 5))
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    val, train = perm[:holdout], perm[holdout:]
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    xn = (x - mu) / sd
    mean_hist = hist[train].mean(0).clamp_min(1e-6)
    target = (1 - smoothing) * hist + smoothing * mean_hist
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(), torch.nn.Dropout(0.5), torch.nn.Linear(hidden, hist.shape[1]))
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)

    def ce(idx: torch.Tensor) -> torch.Tensor:
        return -(target[idx] * torch.log_softmax(net(xn[idx]) + mean_hist.log(), 1)).sum(1).mean()

    best = (float("inf"), None, -1)
    for epoch in range(epochs):
        net.train()
        for b in torch.split(train[torch.randperm(len(train), generator=g)], 128):
            opt.zero_grad()
            ce(b).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            loss = float(ce(val))
        if loss < best[0]:
            best = (loss, {k: v.clone() for k, v in net.state_dict().items()}, epoch)
    net.load_state_dict(best[1])
    w1, b1 = net[0].weight / sd, net[0].bias - (net[0].weight / sd) @ mu
    state = {"net.0.weight": w1, "net.0.bias": b1, "net.2.weight": net[3].weight.detach().clone(), "net.2.bias": net[3].bias.detach().clone()}
    with torch.no_grad():
        prior_ce = float(-(target[val] * mean_hist.log()).sum(1).mean())
    return {k: v.detach().float() for k, v in state.items()}, {"val_ce": best[0], "val_ce_mean_histogram": prior_ce, "epoch": best[2] + 1,
                                                              "photos": len(train), "holdout": len(val)}


def palette_photos(recipe) -> list[np.ndarray]:
    """The recipe's training photos, once each (no repeats), colour only, at data.load_size."""
    train_files, _ = split(list_images(list(recipe.data.photos)), recipe.data.val_fraction)
    images = [img for img in (read_rgb(f, recipe.data.load_size) for f in train_files) if not is_greyscale(img)]
    if not images:
        raise RecipeError("every training photo is black and white: there is no colour to learn from", "add colour photos to data.photos")
    return images


def palette_stage(recipe, quiet: bool = False) -> Path:
    """The recipe's palette stage: init weights (kept as they are) + a scene palette fitted on the
    recipe's training photos, decoding from the recipe (vividness, export_temperature,
    palette_strength, video_vividness), written to recipe.output. RecipeError before any photo is
    read when init has no bins head."""
    base = load_generator(recipe.init)
    if base.config.ab_head != "bins":
        raise RecipeError(f"train.palette needs init weights with a bins head; {recipe.init.name} has a {base.config.ab_head} head",
                          "set init to natural weights trained with ab_head = \"bins\"")
    train_images = palette_photos(recipe)
    gen = Generator(replace(base.config, palette=True, pretrained=False))
    missing, unexpected = gen.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("palette") for k in missing), (missing, unexpected)
    gen.eval()
    if not quiet:
        print(f"palette: descriptors of {len(train_images)} photos", flush=True)
    x, hist = descriptors(gen, train_images, recipe.data.load_size)
    state, report = fit_palette(x, hist, recipe.seed)
    gen.palette.load_state_dict(state)
    t = recipe.train
    gen.temperature.fill_(t.export_temperature or t.temperature)
    gen.prior_shift.fill_(vividness_to_prior_shift(t.vividness))
    gen.palette_strength.fill_(t.palette_strength)
    if not quiet:
        print(f"palette: held-out cross-entropy {report['val_ce']:.3f} (mean histogram {report['val_ce_mean_histogram']:.3f}), epoch {report['epoch']}")
    meta = {k: v for k, v in base.metadata.items() if k not in ("format", "config", "sha256")}
    meta["palette"] = {"recipe": recipe.to_dict(), **report}
    meta.pop("video_vividness", None)
    if t.video_vividness:
        meta["video_vividness"] = t.video_vividness
    return save_generator(recipe.output, gen, meta, dtype=torch.float16)
