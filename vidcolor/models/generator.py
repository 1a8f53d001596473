"""The generator: one U-Net that colourizes (natural) or colourizes and stylizes (artistic styles).

Encoder: EfficientNet-Lite0 (ImageNet weights) on the grey frame. Decoder: bilinear upsample +
conv stages whose normalisation is conditioned on the style (conditional instance norm: one
learned scale/shift per style). Two heads: Lab a/b for "colorize" styles, RGB for "stylize" ones.

The colorize head is either a regression of a/b at full model resolution (``ab_head="regress"``,
v1) or a distribution over quantized a/b at 1/4 of the model resolution (``ab_head="bins"``,
Zhang et al. 2016): 261 in-gamut bins of 10 a/b units, decoded by the annealed mean at a
temperature after a shift of the logits by the training's class-rebalancing weights (the
vividness knob), then upsampled bilinearly (chroma is upsampled anyway).
With ``hints`` the encoder also sees hint a/b planes and a hint mask (zeros when absent). With
``hint_branch`` a small branch spreads given hints over the stride-4 features (by learned feature
affinity, then dilated convs) and mixes its a/b into the automatic result by a learned confidence; without hints it is not run, so
the automatic output is exactly that of the same weights without the branch.

With ``palette`` (bins head) a small MLP maps the frame's pooled encoder features (strides 32 and
16) to an offset of the bin logits, the same everywhere in the frame: a learned scene palette
(a beach: sand and sea; a portrait: skin; a street: grey and brick) that lets the per-pixel head be
more colourful where the scene's colours are likely and less where they are not. It is fitted on
the frozen network's features against each training photo's a/b histogram and added to the logits
scaled by ``palette_strength`` (a buffer, calibrated like the vividness).

With ``context`` a transformer block (self-attention over the stride-32 map, ``GlobalContext``)
follows the bottleneck, so every place of the frame sees all of it; it starts as a no-op.

``Generator.for_style(name)`` returns a single-style module with ``forward(luma)``: the shape that
gets exported to ONNX / TensorRT (the style index is a constant there, no control flow on data).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import torch
from torch import nn
import torch.nn.functional as F

from vidcolor.models.efficientnet import ENCODERS, EfficientNetLite0, load_imagenet_state
from vidcolor.styles import get_style

AB_RANGE = 110.0  # the colorize head's tanh is scaled to Lab a/b units
BIN_SIZE = 10.0  # a/b units per quantization bin (ab_head "bins")
AB_STRIDE = 4  # the bins head predicts at 1/4 of the model resolution
HINT_CHANNELS = 3  # hint a/b (in AB_RANGE units) + hint mask
MASKED_LOGIT = -1e4  # the affinity of an empty hint slot (HintBranch.propagate): no weight after the softmax, finite in fp16


def ab_bins() -> torch.Tensor:
    """Centres (Q, 2) in Lab a/b units of the 10x10 a/b bins that hold some sRGB colour (Q = 261).

    Deterministic: the sRGB cube sampled 48^3 times, converted to Lab, a/b rounded to the grid."""
    return _ab_bins().clone()


@functools.cache
def _ab_bins() -> torch.Tensor:
    from vidcolor.color import rgb_to_lab

    g = torch.linspace(0, 1, 48, dtype=torch.float64)
    rgb = torch.stack(torch.meshgrid(g, g, g, indexing="ij")).reshape(3, -1, 1)
    ab = torch.round(rgb_to_lab(rgb)[1:].reshape(2, -1).T / BIN_SIZE)
    return torch.unique(ab, dim=0).float() * BIN_SIZE


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """Expected a/b under softmax(logits / T): (N, Q, h, w), (Q, 2), T > 0 -> (N, 2, h, w) a/b units.

    T = 1 is the distribution's mean (accurate, muted); T -> 0 its mode (vivid, may be wrong).

    Computed channels-last (softmax over the last axis, then a matmul): the same numbers as a softmax
    over dim 1 and an einsum, but ONNX Runtime's CPU kernels for a softmax over a non-last axis and
    that einsum took ~60 % of the whole natural model's time (docs/BENCHMARKS.md, session 19)."""
    p = torch.softmax(logits.permute(0, 2, 3, 1) / temperature, dim=-1)  # (N, h, w, Q)
    return torch.matmul(p, bins).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class GeneratorConfig:
    styles: tuple[str, ...] = ("natural",)  # style names, index = conditioning slot
    decoder: tuple[int, ...] = (96, 64, 48, 32, 24)  # channels at strides 16, 8, 4, 2, 1
    pretrained: bool = True  # start the encoder from ImageNet weights (training only)
    chroma_gain: float = 1.0  # colorize: scale on the predicted a/b (1 while training; see docs/MODEL.md)
    ab_head: str = "regress"  # colorize head: "regress" (a/b, full res) | "bins" (a/b distribution, 1/4 res)
    hints: bool = False  # the encoder takes hint a/b + mask planes beside the luma (zeros when absent)
    encoder: str = "lite0"  # EfficientNet-Lite variant: "lite0" | "lite2" (1.1x wider, 1.2x deeper)
    hint_branch: bool = False  # bins head: a branch at stride 4 that spreads given hints (run only when hints are given)
    hint_null: bool = False  # hint branch: the affinity softmax has a "like no hint" entry that keeps the automatic colour
    hint_cues: bool = False  # hint branch: the affinity also falls with the difference in luma and in automatic a/b from the hint
    palette: bool = False  # bins head: a scene-palette MLP (pooled encoder features -> bin logit offset, see the module docstring)
    context: bool = False  # a self-attention block over the stride-32 map (every place sees the whole frame), see GlobalContext
    image_gain: bool = False  # bins head: a per-picture chroma scale from the picture's features, see PictureGain

    @classmethod
    def tiny(cls, styles: tuple[str, ...] = ("natural", "ukiyoe")) -> "GeneratorConfig":
        """A small random-initialised generator for tests."""
        return cls(styles=tuple(styles), decoder=(16, 16, 8, 8, 8), pretrained=False)

    def to_dict(self) -> dict:
        return {"styles": list(self.styles), "decoder": list(self.decoder), "chroma_gain": self.chroma_gain, "ab_head": self.ab_head, "hints": self.hints,
                "encoder": self.encoder, "hint_branch": self.hint_branch, "hint_null": self.hint_null, "hint_cues": self.hint_cues,
                "palette": self.palette, "context": self.context, "image_gain": self.image_gain}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(
            styles=tuple(d["styles"]), decoder=tuple(d["decoder"]), pretrained=False, chroma_gain=float(d.get("chroma_gain", 1.0)),
            ab_head=str(d.get("ab_head", "regress")), hints=bool(d.get("hints", False)), encoder=str(d.get("encoder", "lite0")),
            hint_branch=bool(d.get("hint_branch", False)), hint_null=bool(d.get("hint_null", False)),
            hint_cues=bool(d.get("hint_cues", False)), palette=bool(d.get("palette", False)),
            context=bool(d.get("context", False)), image_gain=bool(d.get("image_gain", False)),
        )

    def __post_init__(self) -> None:
        if self.ab_head not in ("regress", "bins"):
            raise ValueError(f"ab_head must be 'regress' or 'bins', got {self.ab_head!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.hint_branch and not (self.hints and self.ab_head == "bins"):
            raise ValueError("hint_branch needs hints=True and ab_head='bins'")
        if (self.hint_null or self.hint_cues) and not self.hint_branch:
            raise ValueError("hint_null and hint_cues need hint_branch=True")
        if self.palette and self.ab_head != "bins":
            raise ValueError("palette needs ab_head='bins'")
        if self.image_gain and self.ab_head != "bins":
            raise ValueError("image_gain needs ab_head='bins'")


class CondInstanceNorm(nn.Module):
    """Instance norm with a learned scale and shift per style: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale = nn.Parameter(torch.ones(num_styles, channels))
        self.shift = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, style: "int | torch.Tensor") -> torch.Tensor:
        """``style``: a style index, or blend weights (num_styles,) summing to 1 (Dumoulin et al. 2017)."""
        if isinstance(style, torch.Tensor):
            scale, shift = style.to(x) @ self.scale, style.to(x) @ self.shift
        else:
            scale, shift = self.scale[style], self.shift[style]
        return self.norm(x) * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


class UpBlock(nn.Module):
    """Upsample x2 (bilinear), concat the skip, conv: (N, cin, h, w) + (N, cskip, 2h, 2w) -> (N, cout, 2h, 2w).

    Full 3x3 convs at coarse strides; depthwise-separable ones at fine strides, where pixels are many.
    """

    def __init__(self, cin: int, cskip: int, cout: int, num_styles: int, separable: bool) -> None:
        super().__init__()
        c = cin + cskip
        if separable:
            self.conv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, cout, 1, bias=False))
        else:
            self.conv = nn.Conv2d(c, cout, 3, padding=1, bias=False)
        self.norm = CondInstanceNorm(cout, num_styles)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, style: "int | torch.Tensor") -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.norm(self.conv(torch.cat([x, skip], dim=1)), style))


def downsample_hints(hints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Hints (N, 3, H, W) -> (N, 3, h, w): max-pooled mask, mask-weighted mean a/b (no hint is lost)."""
    mask = F.adaptive_max_pool2d(hints[:, 2:], size)
    wsum = F.adaptive_avg_pool2d(hints[:, 2:], size).clamp(min=1e-6)
    ab = F.adaptive_avg_pool2d(hints[:, :2] * hints[:, 2:], size) / wsum
    return torch.cat([ab * mask, mask], dim=1)


class ScenePalette(nn.Module):
    """Encoder maps at strides 16 and 32 (N, C16, h, w), (N, C32, h', w') -> bin logit offset (N, Q, 1, 1):
    global average pools, concatenated (N, C16 + C32), then Linear -> GELU -> Linear. The input
    normalisation of fitting is folded into the first Linear, so there are no extra buffers."""

    def __init__(self, channels: int, bins: int, hidden: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, bins))
        with torch.no_grad():  # starts with no say
            self.net[2].weight.zero_()
            self.net[2].bias.zero_()

    @staticmethod
    def pooled(f16: torch.Tensor, f32: torch.Tensor) -> torch.Tensor:
        """(N, C32 + C16) frame descriptor: the palette's input."""
        return torch.cat([f32.mean((2, 3)), f16.mean((2, 3))], dim=1)

    def forward(self, f16: torch.Tensor, f32: torch.Tensor) -> torch.Tensor:
        return self.net(self.pooled(f16, f32))[:, :, None, None]


MAX_PICTURE_GAIN = 1.6  # the per-picture chroma scale lies in (0, MAX_PICTURE_GAIN)
GAIN_STATISTICS = 5  # colour statistics beside the pooled features, see PictureGain.statistics


class PictureGain(nn.Module):
    """How much colour this picture should get: pooled encoder features (N, C) and the colour
    statistics of ``statistics`` (N, 5) -> a chroma scale k (N, 1, 1, 1) in (0, MAX_PICTURE_GAIN),
    k = MAX * sigmoid(linear(features, statistics)).

    The annealed mean puts the same boldness on every picture; the best amount differs a lot from
    picture to picture (a street the network recognises can take bold colour, an indoor scene it
    guesses at cannot), and PSNR is averaged per picture. Fitted on a frozen network to maximise
    mean PSNR gain + lambda * mean colourfulness over the training photos (vidcolor.train.gain).
    The inputs are standardised by buffers (``mean``, ``std``) before the linear layer, so an fp16
    engine sees values near 1. It starts at k = 1 (no change). ``offset`` and
    ``scale`` (buffers, calibrated) give k = offset + scale * sigmoid(...): how much of the fitted
    per-picture amount is used, and a global scale on top (k_max = MAX, offset 0 by default)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels + GAIN_STATISTICS, 1)
        self.register_buffer("mean", torch.zeros(channels + GAIN_STATISTICS))
        self.register_buffer("std", torch.ones(channels + GAIN_STATISTICS))
        self.register_buffer("offset", torch.tensor(0.0))
        self.register_buffer("scale", torch.tensor(MAX_PICTURE_GAIN))
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.fill_(math.log(1 / (MAX_PICTURE_GAIN - 1)))  # sigmoid = 1 / MAX: k = 1

    def set_mix(self, mix: float, scale: float) -> None:
        """k = scale * ((1 - mix) + mix * fitted k): ``mix`` 0 gives every picture the same ``scale``, 1 the fitted amount."""
        self.offset.fill_(scale * (1 - mix))
        self.scale.fill_(scale * mix * MAX_PICTURE_GAIN)

    @staticmethod
    def statistics(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor, bin_log_weight: torch.Tensor) -> torch.Tensor:
        """Bin logits (N, Q, h, w) (palette offset included), the decoded a/b (N, 2, h, w), the bin
        centres (Q, 2) and the training's log rebalancing weights (Q,) -> (N, 5): log mean |ab|^2,
        log mean <ab, m>, log mean E|t|^2, log mean |m|^2 and the mean entropy of the plain posterior
        p = softmax(logits - log w) (the rebalancing undone), m its mean colour, t the colour under p."""
        p = torch.softmax(logits.permute(0, 2, 3, 1) - bin_log_weight, dim=-1)  # (N, h, w, Q), channels-last as annealed_mean
        m = torch.matmul(p, bins).permute(0, 3, 1, 2)
        second = torch.matmul(p, (bins * bins).sum(1))
        entropy = -(p * torch.log(p.clamp_min(1e-9))).sum(-1)
        energy = torch.stack([(ab * ab).sum(1).mean((1, 2)), (ab * m).sum(1).mean((1, 2)), second.mean((1, 2)), (m * m).sum(1).mean((1, 2))], dim=1)
        return torch.cat([torch.log(energy.clamp_min(1e-3)), entropy.mean((1, 2))[:, None]], dim=1)

    def forward(self, pooled: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([pooled, statistics], dim=1) - self.mean) / self.std
        return (self.offset + self.scale * torch.sigmoid(self.linear(x)))[:, :, None, None]


class GlobalContext(nn.Module):
    """Stride-32 map (N, C, h, w) -> (N, C, h, w): one pre-norm transformer block over its h*w places
    (multi-head self-attention, then a 2x MLP), both residual. Every place sees the whole frame, so a
    face's colour can follow from the clothes and the sky's from the street (the convolutions see a
    window). Both residual branches start at zero: a block added to trained weights changes nothing
    until it learns. Written with plain matmuls so that ONNX and TensorRT take it as it is; at
    256x448 it is 112 places, so its cost is negligible."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"GlobalContext: {channels} channels do not split over {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        with torch.no_grad():
            for last in (self.proj, self.mlp[2]):
                last.weight.zero_()
                last.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (N, L, C)
        q, k, v = self.qkv(self.norm1(t)).reshape(n, -1, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (N, heads, L, C/heads)
        att = torch.softmax(q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5, dim=-1)
        t = t + self.proj((att @ v).transpose(1, 2).reshape(n, -1, c))
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape(n, c, h, w)


class HintBranch(nn.Module):
    """Spreads sparse colour hints along the image: stride-4 decoder features (N, C, h, w), luma
    (N, 1, h, w), hints (N, 3, h, w) and the automatic a/b (N, 2, h, w) -> a/b (N, 2, h, w).

    Two steps. (1) Affinity: each pixel takes the hint colours weighted by a softmax over the hints
    of (cosine similarity of learned embeddings of the features) / T minus a learned multiple of
    the distance, so a hint colours the region that looks like it, across the picture. (2) Dilated
    3x3 convs (dilations 1..8) see the features, hints, automatic and propagated colours and predict
    a correction of the propagated colour and a confidence per pixel; the output is
    automatic * (1 - confidence) + corrected hint colour * confidence.

    ``null``: the softmax also has a "like none of the hints" entry (a learned similarity) whose
    colour is the automatic one, and the confidence is scaled by the hints' share of the softmax
    (1 - the null entry's weight): a pixel unlike every hint keeps its automatic colour, so one hint
    on a jacket colours the jacket, not the picture (with one hint, a softmax over hints alone is 1
    everywhere and only the confidence could keep the rest).

    ``cues``: the affinity logit also falls by learned multiples of the pixel's luma difference from
    the hint's and of the distance between their automatic a/b: a learned embedding of blurred
    stride-4 features can find bright white water as like a red jacket as the jacket's own folds;
    brightness and the automatic colour tell them apart (they are what makes a region in training).
    """

    def __init__(self, features: int, width: int = 32, embed: int = 32, null: bool = False, cues: bool = False) -> None:
        super().__init__()
        if null:
            self.null_similarity = nn.Parameter(torch.tensor(0.5))
        if cues:  # log of the logit units per unit of luma and of a/b / AB_RANGE (log: Adam moves it by factors)
            self.log_cue_weights = nn.Parameter(torch.log(torch.tensor([10.0, 10.0])))
        self.embed = nn.Sequential(nn.Conv2d(features + 1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, embed, 1))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.1)))
        self.distance_weight = nn.Parameter(torch.tensor(1.0))  # per unit of the long side (softplus'd)
        layers: list[nn.Module] = [nn.Conv2d(features + 1 + HINT_CHANNELS + 2 + 2 + 1, width, 3, padding=1), nn.ReLU()]
        for d in (2, 4, 8):
            layers += [nn.Conv2d(width, width, 3, padding=d, dilation=d), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, 3, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()

    def propagate(self, embedding: torch.Tensor, hints: torch.Tensor, auto: torch.Tensor,
                  luma: torch.Tensor | None = None, capacity: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, E, h, w) unit embeddings, (N, 3, h, w) hints, automatic a/b (N, 2, h, w) in hint units
        [, luma (N, 1, h, w), used with ``cues``] ->
        propagated a/b (N, 2, h, w) in hint units (a/b / AB_RANGE), the best hint's affinity logit
        (N, 1, h, w) and the hints' reach (N, 1, h, w): their share of the softmax (1 without the null
        entry); zeros where an image has no hint.

        The hinted pixels are the top ``capacity`` of each image's mask (K, padded with masked-out
        entries): None takes the most any image of the batch has (eager), a number makes the graph
        static for ONNX and TensorRT (hinted pixels beyond it are dropped: the caller sizes it,
        vidcolor.hints.HintSource.capacity)."""
        n, e, h, w = embedding.shape
        ys, xs = torch.meshgrid(torch.arange(h, device=embedding.device), torch.arange(w, device=embedding.device), indexing="ij")
        coords = torch.stack([ys, xs]).reshape(2, -1).to(embedding) / max(h, w)  # (2, hw)
        temperature, dist_w = self.log_temperature.exp(), F.softplus(self.distance_weight)
        mask = hints[:, 2].reshape(n, -1)
        k = min(h * w, capacity or int((mask > 0).sum(1).max()))
        if k == 0:  # no image has a hint
            zero = embedding.new_zeros(n, 1, h, w)
            return zero.expand(n, 2, h, w).clone(), zero, zero.clone()
        top, idx = mask.topk(k, dim=1)  # (N, K)
        valid = (top > 0)[:, None, :]  # (N, 1, K)

        def pick(x: torch.Tensor) -> torch.Tensor:  # (N, C, hw) -> (N, C, K) at the hinted pixels
            return torch.gather(x, 2, idx[:, None].expand(-1, x.shape[1], -1))

        # (N, hw, K): the hints on the last axis, where ONNX Runtime's softmax and max are fast
        emb, grid = embedding.reshape(n, e, -1), coords[None].expand(n, -1, -1)  # (N, E, hw), (N, 2, hw)
        logit = emb.transpose(1, 2) @ pick(emb) / temperature - dist_w * torch.cdist(grid.transpose(1, 2), pick(grid).transpose(1, 2))
        if hasattr(self, "log_cue_weights"):
            lum, ab_auto, cue_w = luma.reshape(n, 1, -1), auto.reshape(n, 2, -1), self.log_cue_weights.exp()
            logit = (logit - cue_w[0] * (lum.transpose(1, 2) - pick(lum)).abs()
                     - cue_w[1] * torch.cdist(ab_auto.transpose(1, 2), pick(ab_auto).transpose(1, 2)))
        logit = logit.masked_fill(~valid, MASKED_LOGIT)
        colours = pick(hints[:, :2].reshape(n, 2, -1)).transpose(1, 2)  # (N, K, 2)
        if hasattr(self, "null_similarity"):  # the K+1-th entry: this pixel's automatic colour
            weights = torch.softmax(torch.cat([logit, (self.null_similarity / temperature).expand(n, h * w, 1)], dim=2), dim=2)
            spread = (weights[..., :-1] @ colours).transpose(1, 2) + auto.reshape(n, 2, -1) * weights[..., -1:].transpose(1, 2)
            reach = 1 - weights[..., -1:].transpose(1, 2)
        else:
            spread = (torch.softmax(logit, dim=2) @ colours).transpose(1, 2)
            reach = torch.ones_like(spread[:, :1])
        best = logit.max(dim=2, keepdim=True).values.transpose(1, 2) * temperature  # back to similarity units
        has = valid.any(dim=2, keepdim=True).to(spread)  # (N, 1, 1): an image without a hint gets zeros
        return (spread * has).reshape(n, 2, h, w), (best * has).reshape(n, 1, h, w), (reach * has).reshape(n, 1, h, w)

    def forward(self, features: torch.Tensor, luma: torch.Tensor, hints: torch.Tensor, ab: torch.Tensor,
                capacity: int | None = None) -> torch.Tensor:
        embedding = F.normalize(self.embed(torch.cat([features, luma], dim=1)), dim=1)
        spread, best, reach = self.propagate(embedding, hints, ab / AB_RANGE, luma, capacity)
        z = self.out(self.body(torch.cat([features, luma, hints, ab / AB_RANGE, spread, best], dim=1)))
        confidence = torch.sigmoid(z[:, 2:]) * reach
        colour = (spread + 0.5 * torch.tanh(z[:, :2])) * AB_RANGE
        return ab * (1 - confidence) + colour * confidence


class Generator(nn.Module):
    """(N, 1, H, W) luma [0,1], H and W multiples of 32, style index [, hints (N, 3, H, W)] ->
    (N, 2, H, W) Lab ab or (N, 3, H, W) RGB."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.style_names = list(config.styles)
        self.style_modes = [get_style(s).mode for s in config.styles]
        n = len(config.styles)
        self.encoder = EfficientNetLite0(in_channels=1 + (HINT_CHANNELS if config.hints else 0), variant=config.encoder)
        del self.encoder._conv_head, self.encoder._bn1, self.encoder._fc  # classifier unused
        d16, d8, d4, d2, d1 = config.decoder
        s2, s4, s8, s16, s32 = self.encoder.skip_channels
        self.bottleneck = nn.Conv2d(s32, d16, 1)
        if config.context:
            self.context = GlobalContext(d16)
        self.up16 = UpBlock(d16, s16, d16, n, separable=False)
        self.up8 = UpBlock(d16, s8, d8, n, separable=False)
        self.up4 = UpBlock(d8, s4, d4, n, separable=True)
        # the two full-resolution stages (half the CPU time) only where a head needs full resolution
        self.full_res = config.ab_head == "regress" or "stylize" in self.style_modes
        if self.full_res:
            self.up2 = UpBlock(d4, s2, d2, n, separable=True)
            self.up1 = UpBlock(d2, 1, d1, n, separable=True)
            self.head_rgb = nn.Conv2d(d1, 3, 3, padding=1)
        if config.ab_head == "regress":
            self.head_ab = nn.Conv2d(d1, 2, 3, padding=1)
        else:
            self.register_buffer("bins", ab_bins())
            self.register_buffer("temperature", torch.tensor(1.0))  # annealed-mean T; set at export (vividness)
            # log of the class-rebalancing weights training used (Q,): the trained distribution is about
            # prior x weights, so adding prior_shift * this to the logits undoes (-1) or deepens (> 0) the rebalancing
            self.register_buffer("bin_log_weight", torch.zeros(len(self.bins)))
            self.register_buffer("prior_shift", torch.tensor(0.0))
            self.head_bins = nn.Conv2d(d4, len(self.bins), 1)
        if config.palette:
            self.palette = ScenePalette(s16 + s32, len(self.bins))
            self.register_buffer("palette_strength", torch.tensor(0.0))  # set at calibration
        if config.hint_branch:
            self.hint_net = HintBranch(d4, null=config.hint_null, cues=config.hint_cues)
        if config.image_gain:
            self.picture_gain = PictureGain(s16 + s32)

    def style_index(self, name: str) -> int:
        if name not in self.style_names:
            from vidcolor.errors import StyleError

            raise StyleError(f"these weights have no style {name!r}", f"they hold: {', '.join(self.style_names)}")
        return self.style_names.index(name)

    def encode(self, luma: torch.Tensor, hints: torch.Tensor | None) -> list[torch.Tensor]:
        """(N, 1, H, W) [+ hints (N, 3, H, W)] -> encoder maps at strides 2..32."""
        if self.config.hints:
            if hints is None:
                hints = luma.new_zeros(luma.shape[0], HINT_CHANNELS, *luma.shape[-2:])
            # the encoder normalises its input as (x - 0.5) / 0.5: shift hints so that 0 stays 0
            return self.encoder.features(torch.cat([luma, hints * 0.5 + 0.5], dim=1))
        return self.encoder.features(luma)

    def decode(self, luma: torch.Tensor, style: "int | torch.Tensor", hints: torch.Tensor | None = None, full_res: bool | None = None,
               features: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(N, 1, H, W) -> decoder features: (N, d1, H, W), or the stride-4 ones (N, d4, H/4, W/4)
        when ``full_res`` is False (default: whether this generator has full-resolution stages).
        ``features``: the encoder maps of ``encode`` if already computed (two styles, one encoder pass)."""
        f2, f4, f8, f16, f32 = self.encode(luma, hints) if features is None else features
        x = self.bottleneck(f32)
        if self.config.context:
            x = self.context(x)
        x = self.up16(x, f16, style)
        x = self.up8(x, f8, style)
        x = self.up4(x, f4, style)
        if not (self.full_res if full_res is None else full_res):
            return x
        x = self.up2(x, f2, style)
        return self.up1(x, luma, style)

    def ab_logits(self, luma: torch.Tensor, style: int = 0, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Bins head: (N, 1, H, W) -> logits (N, Q, H/4, W/4) over ``self.bins`` (the scene palette's
        offset included, at ``palette_strength``)."""
        features = self.encode(luma, hints)
        return self.bin_logits(self.decode(luma, style, hints, full_res=False, features=features), features)

    def bin_logits(self, decoded: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """Stride-4 decoder features (N, d4, h, w) and the encoder maps -> logits (N, Q, h, w)."""
        logits = self.head_bins(decoded)
        if self.config.palette:
            logits = logits + self.palette_strength * self.palette(features[3], features[4])
        return logits

    def logits_to_ab(self, logits: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """(N, Q, h, w) logits -> (N, 2, H, W) a/b: annealed mean at self.temperature, times the gain,
        upsampled to ``size`` (None: left at (h, w))."""
        ab = annealed_mean(logits + (self.prior_shift * self.bin_log_weight).view(1, -1, 1, 1), self.bins, self.temperature) * self.config.chroma_gain
        return ab if size is None else F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    def automatic_ab(self, logits: torch.Tensor, maps: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (N, Q, h, w) and the encoder maps they came from -> the automatic a/b (N, 2, h, w):
        ``logits_to_ab``, times the picture's own chroma scale when the weights have one (image_gain)."""
        ab = self.logits_to_ab(logits)
        if self.config.image_gain:
            if maps is None:
                raise ValueError("weights with a picture gain need the encoder maps (maps=) beside the logits")
            stats = PictureGain.statistics(logits, ab, self.bins, self.bin_log_weight)
            ab = ab * self.picture_gain(ScenePalette.pooled(maps[3], maps[4]), stats)
        return ab

    def ab_with_hints(self, features: torch.Tensor, luma: torch.Tensor, hints: torch.Tensor, logits: torch.Tensor,
                      maps: list[torch.Tensor] | None = None, capacity: int | None = None) -> torch.Tensor:
        """Hint branch: stride-4 features (N, d4, h, w), luma (N, 1, H, W), hints (N, 3, H, W) and
        the automatic bin logits of ``bin_logits`` (N, Q, h, w; the palette's offset included) -> a/b (N, 2, H, W).
        ``maps``: the encoder maps, for the picture gain (image_gain weights need them). ``capacity``:
        hinted stride-4 pixels per image in a static graph (HintBranch.propagate; None: eager)."""
        size = features.shape[-2:]
        ab = self.automatic_ab(logits, maps)
        ab = self.hint_net(features, F.adaptive_avg_pool2d(luma, size), downsample_hints(hints, size), ab, capacity)
        return F.interpolate(ab, size=luma.shape[-2:], mode="bilinear", align_corners=False)

    def style_mode(self, style: "int | torch.Tensor") -> str:
        """The mode of a style index, or of blend weights (num_styles,) (one mode: the blend's styles share it)."""
        if isinstance(style, torch.Tensor):
            return self.style_modes[int(torch.argmax(style))]
        return self.style_modes[style]

    def blend_weights(self, blend: dict[str, float]) -> torch.Tensor:
        """{style: weight} (weights summing to 1, styles of one mode) -> (num_styles,) conditioning weights."""
        weights = torch.zeros(len(self.style_names))
        for name, weight in blend.items():
            weights[self.style_index(name)] = weight
        if len({self.style_modes[self.style_index(n)] for n in blend}) > 1:
            from vidcolor.errors import StyleError

            raise StyleError("a blend mixes colorizing and stylizing styles", "blend stylizing styles with each other")
        return weights

    def forward(self, luma: torch.Tensor, style: "int | torch.Tensor" = 0, hints: torch.Tensor | None = None,
                features: list[torch.Tensor] | None = None, mode: str | None = None, hint_capacity: int | None = None) -> torch.Tensor:
        """``style``: an index, or blend weights (num_styles,) that mix the per-style norm parameters.
        ``features``: encoder maps already computed by ``encode(luma, hints)`` (shared by two styles).
        ``hint_capacity``: the hint branch's hinted pixels per image, fixed for a static export (ab_with_hints).
        ``mode``: the style's mode when the caller knows it; otherwise read from the blend weights,
        which on a GPU syncs with the host (and fails inside a CUDA graph capture)."""
        mode = mode or self.style_mode(style)
        if mode == "colorize" and self.config.ab_head == "bins":
            features = self.encode(luma, hints) if features is None else features
            decoded = self.decode(luma, style, hints, full_res=False, features=features)
            logits = self.bin_logits(decoded, features)
            if self.config.hint_branch and hints is not None:
                return self.ab_with_hints(decoded, luma, hints, logits, features, hint_capacity)
            return F.interpolate(self.automatic_ab(logits, features), size=luma.shape[-2:], mode="bilinear", align_corners=False)
        features = self.decode(luma, style, hints, features=features)
        if mode == "colorize":
            return torch.tanh(self.head_ab(features)) * (AB_RANGE * self.config.chroma_gain)
        return torch.sigmoid(self.head_rgb(features))

    def set_vividness(self, vividness: float) -> None:
        """Bins head: vividness v in [0, 1] sets the prior shift to -1 + 1.5 v (see ``vividness_to_prior_shift``);
        the annealed-mean temperature stays the weights' calibrated one."""
        if self.config.ab_head != "bins":
            from vidcolor.errors import StyleError

            raise StyleError("these weights have no vividness setting (a/b regression head)", "use weights with a bins head, or omit --vividness")
        if not 0.0 <= vividness <= 1.0:
            raise ValueError(f"vividness must be in [0, 1], got {vividness}")
        self.prior_shift.fill_(vividness_to_prior_shift(vividness))

    def vividness(self) -> float | None:
        """The vividness these weights decode at (None without a bins head)."""
        return prior_shift_to_vividness(float(self.prior_shift)) if self.config.ab_head == "bins" else None

    def for_style(self, name: str) -> "StyleGenerator":
        return StyleGenerator(self, self.style_index(name))

    def for_blend(self, blend: dict[str, float]) -> "StyleGenerator":
        """One style (a single entry) or a blend of styles: the blend weights become constants of the module."""
        if len(blend) == 1:
            return self.for_style(next(iter(blend)))
        return StyleGenerator(self, self.blend_weights(blend), name=",".join(f"{k}:{v:.4g}" for k, v in blend.items()))


def vividness_to_prior_shift(vividness: float) -> float:
    """The --vividness scale: v in [0, 1] -> prior shift -1 + 1.5 v. At 0 the class rebalancing of
    training is undone (the plain posterior: the most likely colours, muted); at 2/3 it is as
    trained; at 1 rare (vivid) colours are favoured half as much again."""
    return -1.0 + 1.5 * vividness


def prior_shift_to_vividness(shift: float) -> float:
    return (shift + 1.0) / 1.5


# Painting styles read their input through the encoder's stride-2 convolutions, which pad k // 2
# zeros on every side: on even sizes each stride's top row and left column see zeros and the
# bottom and right never do, and the full-resolution style stages turn that into a band along the
# top edge (ukiyoe yellow, storm orange) and a faint left column. Reflecting a few rows and columns
# of the picture above and to the left of the input and cropping them off the output removes it
# (docs/MODEL.md, session 16: the top band's step 0.094 -> 0.040 for ukiyoe at 8 px, where 32 px
# gave 0.045) for about 5 % more work at 256x448. Natural is left as trained.
EDGE_PAD = 8


def reflect_top_left(luma: torch.Tensor, pad: int = EDGE_PAD) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H + pad, W + pad): ``pad`` rows above and columns left reflected from the picture."""
    return F.pad(luma, (pad, 0, pad, 0), mode="reflect")


class StyleGenerator(nn.Module):
    """One style of a Generator: (N, 1, H, W) luma [0,1] -> (N, C, H, W); C = 2 (Lab ab) or 3 (RGB)."""

    def __init__(self, generator: Generator, style: "int | torch.Tensor", name: str | None = None) -> None:
        super().__init__()
        self.generator = generator
        # an index, or blend weights (num_styles,): a buffer, so constants of an exported graph that move
        # to the GPU with the module (a CUDA graph capture may not copy from host memory)
        self.style = None if isinstance(style, torch.Tensor) else style
        if self.style is None:
            self.register_buffer("style_weights", style.float().clone())
        self.style_name = name or generator.style_names[int(style)]
        self.mode = generator.style_mode(style)
        self.out_channels = 2 if self.mode == "colorize" else 3
        self.train(generator.training)  # a new Module defaults to train mode; exporters restore it on exit

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        style = self.style_weights if self.style is None else self.style
        if self.mode == "stylize":  # see EDGE_PAD
            return self.generator(reflect_top_left(luma), style, mode=self.mode)[..., EDGE_PAD:, EDGE_PAD:]
        return self.generator(luma, style, mode=self.mode)


def build_generator(config: GeneratorConfig, seed: int | None = 0) -> Generator:
    """A new generator; seeded init; ImageNet encoder weights when config.pretrained."""
    if seed is not None:
        torch.manual_seed(seed)
    gen = Generator(config)
    for m in gen.encoder.modules():  # He init: activations stay O(1) through depth (random-init tests)
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)  # fan_in: variance kept through ReLU6
    if config.hints:
        with torch.no_grad():
            gen.encoder._conv_stem.weight[:, 1:] = 0  # hint planes start with no say; zeros = no hints
    if config.pretrained:
        state = load_imagenet_state(in_channels=1, variant=config.encoder)
        state["_conv_stem.weight"] = _widen_stem(state["_conv_stem.weight"], gen.encoder._conv_stem.weight.shape[1])
        missing = gen.encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))})
        assert not missing.missing_keys and not missing.unexpected_keys, missing
    if config.ab_head == "bins":
        with torch.no_grad():
            gen.head_bins.weight.mul_(0.1)  # start near the uniform distribution over the bins
    return gen


def add_style_slots(base: Generator, names: list[str], seed: int = 0) -> Generator:
    """``base`` with new style slots appended: every tensor whose name and shape match is copied,
    the new slots' norm rows start as slot 0's, and modules the new styles bring (the
    full-resolution stages and RGB head for a first stylizing style) are freshly initialised."""
    config = replace(base.config, styles=(*base.style_names, *names), pretrained=False)
    torch.manual_seed(seed)
    gen = Generator(config)
    old = base.state_dict()
    state = gen.state_dict()
    for name, value in state.items():
        if name.endswith((".norm.scale", ".norm.shift")) and name in old:
            rows = old[name]
            state[name] = torch.cat([rows, rows[:1].expand(len(names), -1)])
        elif name in old and old[name].shape == value.shape:
            state[name] = old[name].clone()
    gen.load_state_dict(state)
    return gen


def _widen_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Stem filters (32, c, 3, 3) -> (32, in_channels, 3, 3): new input planes get zero weights."""
    extra = in_channels - weight.shape[1]
    return torch.cat([weight, weight.new_zeros(weight.shape[0], extra, *weight.shape[2:])], dim=1) if extra > 0 else weight


def convert_generator(base: Generator, config: GeneratorConfig, seed: int = 0) -> tuple[Generator, list[str]]:
    """A generator of ``config`` that starts from ``base``: every tensor whose name and shape match
    is copied, the stem is widened for hint planes, the rest (e.g. a new head) is freshly
    initialised. Returns (generator, names of the tensors that were not copied)."""
    gen = build_generator(replace(config, pretrained=False), seed=seed)
    state, fresh = gen.state_dict(), []
    for name, value in state.items():
        old = base.state_dict().get(name)
        if name == "encoder._conv_stem.weight" and old is not None:
            old = _widen_stem(old, value.shape[1])
        if old is not None and old.shape == value.shape and name not in ("temperature", "prior_shift", "bin_log_weight"):
            state[name] = old.clone()
        else:
            fresh.append(name)
    gen.load_state_dict(state)
    return gen, fresh
