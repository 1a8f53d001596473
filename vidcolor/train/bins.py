"""Training side of the a/b bins head (Zhang et al. 2016): soft-encoded targets, the smoothed
empirical prior, class-rebalancing weights and the weighted cross-entropy.

Bin centres come from ``vidcolor.models.generator.ab_bins`` (Q ~ 261, 10 a/b units apart).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.color import rgb_to_lab
from vidcolor.models.generator import AB_STRIDE


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, neighbours: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """True a/b (N, 2, h, w) -> target distribution (N, Q, h, w): a Gaussian (sigma a/b units) over
    the ``neighbours`` nearest bins, normalised to sum to 1 per pixel."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, bins.to(flat)) ** 2  # (P, Q)
    near, idx = d2.topk(neighbours, dim=1, largest=False)
    weights = torch.softmax(-near / (2 * sigma**2), dim=1)
    target = torch.zeros_like(d2).scatter_(1, idx, weights)
    return target.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def target_ab(ab: torch.Tensor) -> torch.Tensor:
    """True a/b (N, 2, H, W) -> averaged over AB_STRIDE x AB_STRIDE cells (N, 2, H/4, W/4)."""
    return F.avg_pool2d(ab, AB_STRIDE)


def ab_prior(images: list[np.ndarray], bins: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Empirical distribution (Q,) of the nearest bin over photos (H, W, 3) uint8, each resized so its
    short side is ``size``; every bin gets at least one count."""
    import cv2

    counts = torch.ones(len(bins), dtype=torch.float64)
    for img in images:
        h, w = img.shape[:2]
        s = size / min(h, w)
        small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        rgb = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255
        flat = rgb_to_lab(rgb)[0, 1:].reshape(2, -1).T
        nearest = torch.cdist(flat, bins).argmin(dim=1)
        counts += torch.bincount(nearest, minlength=len(bins)).double()
    return (counts / counts.sum()).float()


def rebalance_weights(prior: torch.Tensor, bins: torch.Tensor, mix: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Per-bin loss weights (Q,): w ~ 1 / ((1 - mix) * smoothed prior + mix / Q), scaled so that the
    prior-weighted mean is 1. mix = 1 means no rebalancing (all ones); Zhang et al. use 0.5."""
    kernel = torch.exp(-torch.cdist(bins, bins) ** 2 / (2 * sigma**2))
    smooth = kernel @ prior
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - mix) * smooth + mix / len(bins))
    return w / (smooth * w).sum()


def bins_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rebalanced cross-entropy: logits and soft target (N, Q, h, w), weights (Q,) -> scalar.
    Each pixel's cross-entropy is weighted by the weight of its most likely target bin."""
    ce = -(target * torch.log_softmax(logits.float(), dim=1)).sum(1)  # (N, h, w)
    return (ce * weights.to(ce)[target.argmax(1)]).mean()
