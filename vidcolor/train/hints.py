"""Colour hints: sparse true-colour points the generator can be given beside the luma (Zhang et al. 2017).

A hint tensor is (N, 3, H, W): hint a/b in AB_RANGE units (a/b / 110) and a mask (1 where a hint is).
All zeros means "no hints", which is what `vidcolor run` gives today.
"""
from __future__ import annotations

import numpy as np
import torch

from vidcolor.models.generator import AB_RANGE


def hint_points(ab: torch.Tensor, points: list[tuple[int, int]], patch: int = 3) -> torch.Tensor:
    """(2, H, W) true a/b and (y, x) points -> (3, H, W) hints: each point's patch x patch square set
    to the square's mean a/b (patch odd, clipped at the borders), mask 1 there."""
    _, h, w = ab.shape
    out = ab.new_zeros(3, h, w)
    r = patch // 2
    for y, x in points:
        ys, xs = slice(max(0, y - r), min(h, y + r + 1)), slice(max(0, x - r), min(w, x + r + 1))
        out[:2, ys, xs] = ab[:, ys, xs].mean(dim=(1, 2), keepdim=True) / AB_RANGE
        out[2, ys, xs] = 1.0
    return out


def random_points(rng: np.random.Generator, h: int, w: int, count: int) -> list[tuple[int, int]]:
    """``count`` uniform random (y, x) pixel positions."""
    return [(int(rng.integers(0, h)), int(rng.integers(0, w))) for _ in range(count)]


def random_hints(ab: torch.Tensor, rng: np.random.Generator, fraction: float, mean_points: float = 8.0) -> torch.Tensor:
    """Training hints for a batch of true a/b (N, 2, H, W) -> (N, 3, H, W): each image gets hints
    with probability ``fraction``: a geometric number of points (mean ``mean_points``), patch 1-9 px."""
    n, _, h, w = ab.shape
    out = ab.new_zeros(n, 3, h, w)
    for i in range(n):
        if rng.random() >= fraction:
            continue
        count = int(rng.geometric(1 / mean_points))
        patch = int(rng.integers(0, 5)) * 2 + 1
        out[i] = hint_points(ab[i], random_points(rng, h, w, count), patch)
    return out
