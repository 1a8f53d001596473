"""Fitting the per-picture colour amount (``GeneratorConfig.image_gain``, ``PictureGain``) on a
frozen, trained natural generator.

One global vividness gives every picture the same boldness, yet the best amount differs a lot
from picture to picture, and PSNR is averaged per picture: a scene the network reads well can
take bold colour, a scene it guesses at loses dB for every unit of colour. For each training
photo (grey, at model short side ``load_size``) we score the generator's decoded a/b scaled by
every k of ``GAIN_GRID``: (PSNR - the grey photo's PSNR, colourfulness), merged as `vidcolor run`
merges. ``PictureGain`` (a linear map of the pooled encoder features and five colour statistics
of the logits) is then fitted to maximise

    mean over photos of  dB(k_i) + lambda * colourfulness(k_i),      k_i = PictureGain(photo i)

with dB(k) and colourfulness(k) interpolated linearly on the grid. ``lambda`` trades accuracy for
colour like --vividness does. The fitted amount is then used at a calibrated ``mix`` and ``scale``
(k = scale * ((1 - mix) + mix * fitted k), PictureGain.set_mix): the objective's lambda favours
the pictures where colour is cheap, and ``mix`` keeps some colour on the others. All three are
picked on the calibration photos (benchmarks/calibrate_picture_gain.py). The per-photo tables are cached in the run folder, so a
new lambda refits in seconds.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from vidcolor.color import luma_ab_to_rgb, rgb_to_luma
from vidcolor.errors import RecipeError
from vidcolor.metrics import colorfulness, psnr
from vidcolor.models.checkpoint import load_generator, read_header, save_generator
from vidcolor.models.generator import MAX_PICTURE_GAIN, Generator, PictureGain, ScenePalette
from vidcolor.train.palette import model_input, palette_photos

GAIN_GRID = tuple(round(0.1 * i, 1) for i in range(17))  # chroma scales scored per photo: 0 .. MAX_PICTURE_GAIN
assert GAIN_GRID[-1] == MAX_PICTURE_GAIN
TABLES_FILE = "gain_tables.safetensors"


def quantized(rgb: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) RGB -> (H, W, 3) float64 in [0, 1] on the 8-bit grid, as a saved picture is."""
    return (rgb[0].clamp(0, 1).permute(1, 2, 0).double().numpy() * 255).round() / 255


@torch.no_grad()
def gain_inputs(gen: Generator, luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-size luma (1, 1, h, w) -> (PictureGain's input (C + 5,): pooled features and colour
    statistics, the decoded a/b before any picture gain (1, 2, h/4, w/4)), at the weights' decoding."""
    maps = gen.encode(luma, None)
    logits = gen.bin_logits(gen.decode(luma, 0, None, full_res=False, features=maps), maps)
    ab = gen.logits_to_ab(logits)
    stats = PictureGain.statistics(logits, ab, gen.bins, gen.bin_log_weight)
    return torch.cat([ScenePalette.pooled(maps[3], maps[4]), stats], dim=1)[0], ab


@torch.no_grad()
def gain_table(gen: Generator, image: np.ndarray, short: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """A colour photo (H, W, 3) uint8 -> (PictureGain's input (C + 5,), table (len(GAIN_GRID), 2)):
    for each k, the PSNR gain over the grey photo (dB) and the colourfulness of the picture whose
    a/b are k times the generator's, upsampled and merged with the photo's luma."""
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    luma = rgb_to_luma(rgb)
    x, ab = gain_inputs(gen, model_input(luma, short))
    up = F.interpolate(ab, size=luma.shape[-2:], mode="bilinear", align_corners=False)
    truth = image / 255.0
    grey = psnr(quantized(luma.expand(-1, 3, -1, -1)), truth)
    rows = []
    for k in GAIN_GRID:
        pred = quantized(luma_ab_to_rgb(luma, up * k))
        rows.append((psnr(pred, truth) - grey, colorfulness(pred)))
    return x, torch.tensor(rows, dtype=torch.float32)


def interpolate_table(tables: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Tables (N, K, 2) on GAIN_GRID and scales k (N,) -> (N, 2), linear between grid points."""
    step = GAIN_GRID[1]
    x = k.clamp(0, GAIN_GRID[-1]) / step
    i0 = x.detach().floor().long().clamp(0, len(GAIN_GRID) - 2)
    w = (x - i0.float())[:, None]
    rows = torch.arange(len(k))
    return tables[rows, i0] * (1 - w) + tables[rows, i0 + 1] * w


def fit_gain(x: torch.Tensor, tables: torch.Tensor, lam: float, seed: int, epochs: int = 300,
             weight_decay: float = 1e-2) -> dict[str, torch.Tensor]:
    """Inputs (N, C + 5) and tables (N, K, 2) -> PictureGain's state dict: the linear map maximising
    mean dB + ``lam`` * mean colourfulness (full batch, AdamW 1e-2, from k = 1 everywhere), its input
    standardisation (PictureGain.mean, .std) that of the photos."""
    if len(x) < 2:
        raise ValueError(f"fitting a picture gain needs at least 2 photos, got {len(x)}")
    torch.manual_seed(seed)
    model = PictureGain(x.shape[1] - 5)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0) + 1e-6)
    opt = torch.optim.AdamW(model.parameters(), 1e-2, weight_decay=weight_decay)
    for _ in range(epochs):
        k = model(x[:, :-5], x[:, -5:])[:, 0, 0, 0]
        v = interpolate_table(tables, k)
        loss = -(v[:, 0] + lam * v[:, 1]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def scores(x: torch.Tensor, tables: torch.Tensor, state: dict[str, torch.Tensor], mix: float = 1.0, scale: float = 1.0) -> tuple[float, float]:
    """(mean dB gain, mean colourfulness) of photos (inputs (N, C + 5), tables (N, K, 2)) under a fitted
    gain used at ``mix`` and ``scale`` (PictureGain.set_mix)."""
    model = PictureGain(x.shape[1] - 5)
    model.load_state_dict(state)
    model.set_mix(mix, scale)
    with torch.no_grad():
        v = interpolate_table(tables, model(x[:, :-5], x[:, -5:])[:, 0, 0, 0]).mean(0)
    return float(v[0]), float(v[1])


def training_tables(gen: Generator, recipe, quiet: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (N, C + 5), tables (N, K, 2)) of the recipe's colour training photos, cached in its run folder
    (keyed by the init weights' checksum: other weights score again)."""
    cache = recipe.run_dir / TABLES_FILE
    key = weights_checksum(recipe.init)
    if cache.is_file():
        saved = load_file(str(cache))
        if bytes(saved["key"].tolist()).decode() == key:
            return saved["inputs"], saved["tables"]
    images = palette_photos(recipe)
    xs, ts = [], []
    for i, image in enumerate(images):
        x, t = gain_table(gen, image, recipe.data.load_size)
        xs.append(x)
        ts.append(t)
        if not quiet and (i + 1) % 500 == 0:
            print(f"picture gain: {i + 1} / {len(images)} photos scored", flush=True)
    inputs, tables = torch.stack(xs), torch.stack(ts)
    recipe.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.tmp")
    save_file({"inputs": inputs, "tables": tables, "key": torch.tensor(list(key.encode()), dtype=torch.uint8)}, str(tmp))
    tmp.replace(cache)
    return inputs, tables


def weights_checksum(path: Path) -> str:
    """The tensor checksum a weights file records (what the cached tables were scored with)."""
    return str(read_header(path)["sha256"])


def gain_stage(recipe, quiet: bool = False) -> Path:
    """The recipe's picture-gain stage: init weights (kept as they are, decoding included) + a
    PictureGain fitted at ``train.picture_gain_lambda`` on the recipe's training photos, written to
    recipe.output. RecipeError before any photo is read when init has no bins head."""
    base = load_generator(recipe.init)
    if base.config.ab_head != "bins":
        raise RecipeError(f"train.picture_gain needs init weights with a bins head; {recipe.init.name} has a {base.config.ab_head} head",
                          "set init to natural weights trained with ab_head = \"bins\"")
    gen = Generator(replace(base.config, image_gain=True, pretrained=False))
    missing, unexpected = gen.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("picture_gain") for k in missing), (missing, unexpected)
    gen.eval()
    base.eval()
    x, tables = training_tables(base, recipe, quiet)
    lam = recipe.train.picture_gain_lambda
    state = fit_gain(x, tables, lam, recipe.seed)
    gen.picture_gain.load_state_dict(state)
    t = recipe.train
    gen.picture_gain.set_mix(t.picture_gain_mix, t.picture_gain_scale)
    before = tables[:, GAIN_GRID.index(1.0)].mean(0)
    after = scores(x, tables, state, t.picture_gain_mix, t.picture_gain_scale)
    if not quiet:
        print(f"picture gain (lambda {lam}, mix {t.picture_gain_mix}, scale {t.picture_gain_scale}) on {len(x)} training photos: {after[0]:+.2f} dB at colourfulness {after[1]:.1f} "
              f"(without: {float(before[0]):+.2f} dB at {float(before[1]):.1f})")
    meta = {k: v for k, v in base.metadata.items() if k not in ("format", "config", "sha256")}  # init's video default kept...
    if t.video_vividness:
        meta["video_vividness"] = t.video_vividness  # ...unless the recipe sets one
    meta["picture_gain"] = {"recipe": recipe.to_dict(), "lambda": lam, "mix": t.picture_gain_mix, "scale": t.picture_gain_scale, "photos": len(x), "train_db": after[0], "train_colorfulness": after[1],
                            "train_db_without": float(before[0]), "train_colorfulness_without": float(before[1])}
    return save_generator(recipe.output, gen, meta, dtype=torch.float16)
