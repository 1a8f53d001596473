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
    if patch == 1 and points:  # one pixel each: no squares to average (vidcolor.reference's hundreds a frame)
        ys, xs = (torch.tensor(c) for c in zip(*points))
        out[:2, ys, xs] = ab[:, ys, xs] / AB_RANGE
        out[2, ys, xs] = 1.0
        return out
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


def similar_region(luma: np.ndarray, ab: np.ndarray, seed: tuple[int, int], ab_tol: float = 12.0, luma_tol: float = 0.12) -> np.ndarray:
    """luma (H, W) in [0, 1], true a/b (2, H, W) in a/b units and a seed (y, x) -> (H, W) bool: the
    pixels 8-connected to the seed whose a/b lies within ``ab_tol`` and luma within ``luma_tol`` of
    the seed's (the seed's object, roughly: a jacket, a car, a patch of sky)."""
    import cv2

    y, x = seed
    close = (np.linalg.norm(ab - ab[:, y, x, None, None], axis=0) < ab_tol) & (np.abs(luma - luma[y, x]) < luma_tol)
    _, labels = cv2.connectedComponents(close.astype(np.uint8), connectivity=8)
    return labels == labels[y, x]


def recoloured_hints(ab: torch.Tensor, luma: torch.Tensor, hints: torch.Tensor, rng: np.random.Generator, fraction: float,
                     area: tuple[float, float] = (0.01, 0.6), tries: int = 4, context: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The user's case, for training the hint branch: a hint of a colour the picture does not have.
    True a/b (N, 2, H, W), luma (N, 1, H, W), true-colour hints (N, 3, H, W) -> (target a/b, hints,
    regions (N, 1, H, W) bool: the recoloured pixels, none in an image left as it was).
    With probability ``fraction`` an image's region around a random seed (``similar_region``, covering
    ``area`` of the picture; else the image is left as it was) is recoloured in the target by one
    shift of its a/b (its texture kept) to a random in-gamut colour at least 30 a/b units away; its
    hints become 1-3 points of that colour inside the region (patch 1 or 3 px) plus, with ``context``,
    a few (0 or more, mean 2) true-colour points outside it. Everywhere else the target stays the truth, so a
    hint that is pulled beyond its region costs."""
    from vidcolor.models.generator import ab_bins

    palette = ab_bins()
    palette = palette[palette.norm(dim=1) >= 20]
    target, hints = ab.clone(), hints.clone()
    n, _, h, w = ab.shape
    regions = torch.zeros(n, 1, h, w, dtype=torch.bool, device=ab.device)
    for i in range(n):
        if rng.random() >= fraction:
            continue
        lum, ab_i = luma[i, 0].cpu().numpy(), ab[i].cpu().numpy()
        for _ in range(tries):
            seed = (int(rng.integers(0, h)), int(rng.integers(0, w)))
            region = similar_region(lum, ab_i, seed)
            if area[0] <= region.mean() <= area[1]:
                break
        else:
            continue
        mask = torch.from_numpy(region).to(ab.device)
        regions[i, 0] = mask
        mean = ab[i][:, mask].mean(dim=1)
        far = palette[(palette - mean.cpu()).norm(dim=1) >= 30]
        colour = far[int(rng.integers(0, len(far)))].to(ab)
        target[i] = torch.where(mask, ab[i] + (colour - mean).view(2, 1, 1), ab[i]).clamp(-AB_RANGE, AB_RANGE)
        inside = np.argwhere(region)
        points = [tuple(int(v) for v in inside[j]) for j in rng.integers(0, len(inside), int(rng.integers(1, 4)))]
        outside = np.argwhere(~region)
        count = int(rng.geometric(1 / 3)) - 1 if context else 0
        others = [tuple(int(v) for v in outside[j]) for j in rng.integers(0, len(outside), count)] if len(outside) else []
        hints[i] = hint_points(target[i], others, int(rng.integers(0, 5)) * 2 + 1) if others else torch.zeros_like(hints[i])
        inside_hints = hint_points(target[i], points, int(rng.integers(0, 2)) * 2 + 1)
        hints[i] = torch.where(inside_hints[2:] > 0, inside_hints, hints[i])
    return target, hints, regions


def region_weights(regions: torch.Tensor, balance: float) -> torch.Tensor:
    """Per-pixel loss weights (N, 1, H, W) for regions (N, 1, H, W) bool (``recoloured_hints``): in an
    image with a region covering a share s, (1 - balance) + balance * 0.5 / s inside it and
    (1 - balance) + balance * 0.5 / (1 - s) outside, so at balance 1 the region and the rest count
    half each however small the region (filling a small hinted object matters as much as keeping
    the rest); 1 everywhere in an image without one. Mean 1 per image."""
    share = regions.float().mean(dim=(1, 2, 3), keepdim=True)
    has = (share > 0) & (share < 1)
    inside = 0.5 / share.clamp(min=1e-6)
    outside = 0.5 / (1 - share).clamp(min=1e-6)
    balanced = torch.where(regions, inside, outside)
    return torch.where(has, (1 - balance) + balance * balanced, torch.ones_like(balanced))
