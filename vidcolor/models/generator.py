"""The generator: one U-Net that colourizes (natural) or colourizes and stylizes (artistic styles).

Encoder: EfficientNet-Lite0 (ImageNet weights) on the grey frame. Decoder: bilinear upsample +
conv stages whose normalisation is conditioned on the style (conditional instance norm: one
learned scale/shift per style). Two heads: Lab a/b for "colorize" styles, RGB for "stylize" ones.

``Generator.for_style(name)`` returns a single-style module with ``forward(luma)``: the shape that
gets exported to ONNX / TensorRT (the style index is a constant there, no control flow on data).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from vidcolor.models.efficientnet import SKIP_CHANNELS, EfficientNetLite0, load_imagenet_state
from vidcolor.styles import get_style

AB_RANGE = 110.0  # the colorize head's tanh is scaled to Lab a/b units


@dataclass(frozen=True)
class GeneratorConfig:
    styles: tuple[str, ...] = ("natural",)  # style names, index = conditioning slot
    decoder: tuple[int, ...] = (96, 64, 48, 32, 24)  # channels at strides 16, 8, 4, 2, 1
    pretrained: bool = True  # start the encoder from ImageNet weights (training only)
    chroma_gain: float = 1.0  # colorize: scale on the predicted a/b (1 while training; see docs/MODEL.md)

    @classmethod
    def tiny(cls, styles: tuple[str, ...] = ("natural", "ukiyoe")) -> "GeneratorConfig":
        """A small random-initialised generator for tests."""
        return cls(styles=tuple(styles), decoder=(16, 16, 8, 8, 8), pretrained=False)

    def to_dict(self) -> dict:
        return {"styles": list(self.styles), "decoder": list(self.decoder), "chroma_gain": self.chroma_gain}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(styles=tuple(d["styles"]), decoder=tuple(d["decoder"]), pretrained=False, chroma_gain=float(d.get("chroma_gain", 1.0)))


class CondInstanceNorm(nn.Module):
    """Instance norm with a learned scale and shift per style: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale = nn.Parameter(torch.ones(num_styles, channels))
        self.shift = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, style: int) -> torch.Tensor:
        return self.norm(x) * self.scale[style].view(1, -1, 1, 1) + self.shift[style].view(1, -1, 1, 1)


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

    def forward(self, x: torch.Tensor, skip: torch.Tensor, style: int) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.norm(self.conv(torch.cat([x, skip], dim=1)), style))


class Generator(nn.Module):
    """(N, 1, H, W) luma [0,1], H and W multiples of 32, style index -> (N, 2, H, W) Lab ab or (N, 3, H, W) RGB."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.style_names = list(config.styles)
        self.style_modes = [get_style(s).mode for s in config.styles]
        n = len(config.styles)
        self.encoder = EfficientNetLite0(in_channels=1)
        del self.encoder._conv_head, self.encoder._bn1, self.encoder._fc  # classifier unused
        d16, d8, d4, d2, d1 = config.decoder
        s2, s4, s8, s16, s32 = SKIP_CHANNELS
        self.bottleneck = nn.Conv2d(s32, d16, 1)
        self.up16 = UpBlock(d16, s16, d16, n, separable=False)
        self.up8 = UpBlock(d16, s8, d8, n, separable=False)
        self.up4 = UpBlock(d8, s4, d4, n, separable=True)
        self.up2 = UpBlock(d4, s2, d2, n, separable=True)
        self.up1 = UpBlock(d2, 1, d1, n, separable=True)
        self.head_ab = nn.Conv2d(d1, 2, 3, padding=1)
        self.head_rgb = nn.Conv2d(d1, 3, 3, padding=1)

    def style_index(self, name: str) -> int:
        if name not in self.style_names:
            from vidcolor.errors import StyleError

            raise StyleError(f"these weights have no style {name!r}", f"they hold: {', '.join(self.style_names)}")
        return self.style_names.index(name)

    def decode(self, luma: torch.Tensor, style: int) -> torch.Tensor:
        """(N, 1, H, W) -> decoder features (N, d1, H, W) for style index ``style``."""
        f2, f4, f8, f16, f32 = self.encoder.features(luma)
        x = self.bottleneck(f32)
        x = self.up16(x, f16, style)
        x = self.up8(x, f8, style)
        x = self.up4(x, f4, style)
        x = self.up2(x, f2, style)
        return self.up1(x, luma, style)

    def forward(self, luma: torch.Tensor, style: int = 0) -> torch.Tensor:
        features = self.decode(luma, style)
        if self.style_modes[style] == "colorize":
            return torch.tanh(self.head_ab(features)) * (AB_RANGE * self.config.chroma_gain)
        return torch.sigmoid(self.head_rgb(features))

    def for_style(self, name: str) -> "StyleGenerator":
        return StyleGenerator(self, self.style_index(name))


class StyleGenerator(nn.Module):
    """One style of a Generator: (N, 1, H, W) luma [0,1] -> (N, C, H, W); C = 2 (Lab ab) or 3 (RGB)."""

    def __init__(self, generator: Generator, style: int) -> None:
        super().__init__()
        self.generator = generator
        self.style = style
        self.style_name = generator.style_names[style]
        self.mode = generator.style_modes[style]
        self.out_channels = 2 if self.mode == "colorize" else 3
        self.train(generator.training)  # a new Module defaults to train mode; exporters restore it on exit

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        return self.generator(luma, self.style)


def build_generator(config: GeneratorConfig, seed: int | None = 0) -> Generator:
    """A new generator; seeded init; ImageNet encoder weights when config.pretrained."""
    if seed is not None:
        torch.manual_seed(seed)
    gen = Generator(config)
    for m in gen.encoder.modules():  # He init: activations stay O(1) through depth (random-init tests)
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)  # fan_in: variance kept through ReLU6
    if config.pretrained:
        state = load_imagenet_state(in_channels=1)
        missing = gen.encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))})
        assert not missing.missing_keys and not missing.unexpected_keys, missing
    return gen
