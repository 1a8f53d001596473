"""PatchGAN discriminator with spectral norm (Isola et al. 2017; Miyato et al. 2018)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


class PatchDiscriminator(nn.Module):
    """(N, 3, H, W) RGB [0,1] -> (N, 1, H/8, W/8) realness logits, one per ~70 px patch."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, c in enumerate(channels):
            stride = 2 if i < len(channels) - 1 else 1
            layers += [spectral_norm(nn.Conv2d(cin, c, 4, stride, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(rgb * 2 - 1)
