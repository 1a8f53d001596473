"""Old-film degradations for the grey training input: the network learns to be as sure of itself
on a scratched, grainy, flickering 1930s reel as on a clean photo. Targets stay clean.

Every function is pure: (H, W) float32 luma in [0, 1] and a numpy Generator -> a new array.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch


def tone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma 0.6-1.6, contrast 0.6-1.4 about the mean, brightness -0.1..0.1 (also what flicker does to a frame)."""
    x = x ** float(np.exp(rng.uniform(-0.5, 0.5)))
    m = float(x.mean())
    return (x - m) * rng.uniform(0.6, 1.4) + m + rng.uniform(-0.1, 0.1)


def blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma 0.3-1.5 px: soft lenses, copied prints."""
    return cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.5))


def grain(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Film grain: Gaussian noise, sigma 0.01-0.05, clumped by a 0-0.8 px blur, stronger in the mid-tones."""
    noise = rng.normal(0, rng.uniform(0.01, 0.05), x.shape).astype(np.float32)
    clump = rng.uniform(0, 0.8)
    if clump > 0.2:
        noise = cv2.GaussianBlur(noise, (0, 0), clump) * 1.5
    return x + noise * (0.5 + 2 * x * (1 - x))


def vignette(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darkened corners: x * (1 - s r^2), s 0.1-0.5, r = 1 at the corners."""
    h, w = x.shape
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    return x * (1 - rng.uniform(0.1, 0.5) * (xs**2 + ys**2) / 2).astype(np.float32)


def scratches(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-4 thin vertical lines (1-2 px), bright or dark, over part or all of the height."""
    x = x.copy()
    h, w = x.shape
    for _ in range(int(rng.integers(1, 5))):
        col, width = int(rng.integers(0, w)), int(rng.integers(1, 3))
        top = int(rng.integers(0, h // 2))
        bottom = int(rng.integers(top + h // 4, h + 1))
        x[top:bottom, col : col + width] += rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)
    return x


def dust(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-20 small specks (radius 1-3 px), black or white."""
    x = x.copy()
    h, w = x.shape
    for _ in range(int(rng.integers(1, 21))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(x, centre, int(rng.integers(1, 4)), float(rng.choice([0.0, 1.0])), -1)
    return x


def blocking(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """JPEG compression at quality 10-50: 8x8 blocks and ringing, as on web copies of old films."""
    u8 = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(10, 51))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


# (degradation, probability that a degraded photo gets it), applied in this order
DEGRADATIONS = ((tone, 0.9), (blur, 0.5), (vignette, 0.4), (grain, 0.7), (scratches, 0.3), (dust, 0.3), (blocking, 0.3))


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One old-film look: (H, W) float32 [0, 1] -> (H, W) float32 [0, 1], a random subset of DEGRADATIONS."""
    for fn, p in DEGRADATIONS:
        if rng.random() < p:
            x = fn(x.astype(np.float32), rng)
    return np.clip(x, 0, 1).astype(np.float32)


def degrade_batch(luma: torch.Tensor, rng: np.random.Generator, fraction: float) -> torch.Tensor:
    """(N, 1, H, W) [0, 1] -> (N, 1, H, W): each image degraded with probability ``fraction``."""
    out = luma.clone()
    for i in range(luma.shape[0]):
        if rng.random() < fraction:
            out[i, 0] = torch.from_numpy(degrade(luma[i, 0].cpu().numpy(), rng)).to(luma)
    return out
