"""Training losses: colour, perceptual, style (Gram), adversarial (hinge) and temporal consistency."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from vidcolor.models.efficientnet import EfficientNetLite0, load_imagenet_state

FEATURE_LEVELS = (1, 2, 3)  # encoder maps at strides 4, 8, 16


class FeatureNet(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0: (N, 3, H, W) RGB [0,1] -> feature maps at strides 4, 8, 16."""

    def __init__(self) -> None:
        super().__init__()
        net = EfficientNetLite0()
        net.load_state_dict(load_imagenet_state())
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "FeatureNet":
        return super().train(False)  # BatchNorm stays in inference mode

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        feats = self.net.features(rgb)
        return [feats[i] for i in FEATURE_LEVELS]


def perceptual_loss(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between matching feature maps."""
    return sum(F.l1_loss(x, y) for x, y in zip(a, b)) / len(a)


def gram(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) normalised by C*H*W."""
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(output: list[torch.Tensor], style_grams: list[torch.Tensor]) -> torch.Tensor:
    """Squared error between the outputs' Gram matrices and the style image's (1, C, C) ones."""
    return sum(F.mse_loss(gram(f), g.expand(f.shape[0], -1, -1)) for f, g in zip(output, style_grams)) / len(output)


def d_hinge_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_hinge_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward warp: out(p) = image(p + flow(p)). (N, C, H, W), (N, 2, H, W) px (dx, dy) ->
    warped (N, C, H, W) and in-frame mask (N, 1, H, W) in {0, 1}."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device), torch.arange(w, device=image.device), indexing="ij")
    x = xs[None].float() + flow[:, 0]
    y = ys[None].float() + flow[:, 1]
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    warped = F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True)
    inside = ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(image.dtype)[:, None]
    return warped, inside


def temporal_loss(output: torch.Tensor, output_of_warped: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """||G(warp(x)) - warp(G(x))||_1 over pixels that stay inside the frame."""
    warped_output, mask = warp(output, flow)
    return ((output_of_warped - warped_output).abs() * mask).sum() / (mask.sum() * output.shape[1]).clamp(min=1)


def video_temporal_loss(output_next: torch.Tensor, output_prev: torch.Tensor, flow: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
    """||G(x_t+1) - warp(G(x_t))||_1 over trusted pixels: outputs (N, C, H, W), backward flow of
    frame t+1 (N, 2, H, W) px, trust (N, 1, H, W) in [0, 1] (non-occluded, from the real frames)."""
    warped_prev, inside = warp(output_prev, flow)
    mask = trust * inside
    return ((output_next - warped_prev).abs() * mask).sum() / (mask.sum() * output_next.shape[1]).clamp(min=1)


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB [0,1] -> (N,) colourfulness on the 0-255 scale (Hasler & Suesstrunk, as
    ``vidcolor.metrics.colorfulness``), differentiable."""
    r, g, b = (rgb * 255).unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    sigma = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False) + 1e-6).sqrt()
    mu = (rg.mean(1).pow(2) + yb.mean(1).pow(2) + 1e-6).sqrt()
    return sigma + 0.3 * mu


def decoded_measures(rgb: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out measures as losses: (N, 3, H, W) predicted and true RGB [0,1] -> (minus the mean
    per-photo PSNR in dB, minus the mean per-photo colourfulness of the prediction on the 0-255 scale
    (Hasler & Suesstrunk, as ``vidcolor.metrics.colorfulness``)). The prediction is clamped to [0, 1]
    as a saved picture is."""
    rgb = rgb.clamp(0, 1)
    mse = (rgb - target).pow(2).flatten(1).mean(1)
    psnr = -10 * torch.log10(mse.clamp(min=1e-8))
    return -psnr.mean(), -colourfulness(rgb).mean()


def colour_match(rgb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-photo |colourfulness of the prediction - the truth's| (0-255 scale): (N, 3, H, W)
    predicted and true RGB [0,1] -> scalar. Unlike minus the colourfulness it asks each picture for
    as much colour as its truth has (a portrait in a grey room little, a market stall much)."""
    return (colourfulness(rgb.clamp(0, 1)) - colourfulness(target)).abs().mean()
