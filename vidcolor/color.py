"""Colour maths: pure functions, no state.

Two families:
- torch functions on float images ``(*, C, H, W)`` used by the model side (training, losses);
- numpy functions on video planes (uint8/uint16 at the stream's bit depth) used by the pipeline:
  model input, and the merge of low-resolution model output with the full-resolution source luma.

Conventions: RGB is gamma-encoded sRGB in [0, 1]; luma is BT.709 Y' in [0, 1] (full range);
Lab is CIE L*a*b* (D65) with L in [0, 100] and a, b in roughly [-110, 110].
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

_D65 = (0.95047, 1.0, 1.08883)
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
# (Kr, Kb) of the Y'CbCr matrices we write; the model is trained on BT.709 luma.
_MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


def _check_channels(x: torch.Tensor, c: int, name: str) -> None:
    if x.dim() < 3 or x.shape[-3] != c:
        raise ValueError(f"{name} must have shape (*, {c}, H, W), got {tuple(x.shape)}")


# The piecewise curves below are written branch-free, as the sum of their two pieces each clamped
# to its side of the knot, minus the value at the knot (the pieces meet there): same values as
# torch.where, which was the slowest op of the video merge on CPU (about 1.2 ms per 256x352x3).
_SRGB_KNOT, _LINEAR_KNOT = 0.04045, 0.0031308


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB transfer function inverse, elementwise: [0, 1] -> [0, 1]."""
    knot = ((_SRGB_KNOT + 0.055) / 1.055) ** 2.4
    return x.clamp(max=_SRGB_KNOT) / 12.92 + ((x.clamp(min=_SRGB_KNOT) + 0.055) / 1.055) ** 2.4 - knot


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """sRGB transfer function, elementwise: [0, 1] -> [0, 1]."""
    knot = 1.055 * _LINEAR_KNOT ** (1 / 2.4) - 0.055
    return 12.92 * x.clamp(max=_LINEAR_KNOT) + 1.055 * x.clamp(min=_LINEAR_KNOT) ** (1 / 2.4) - 0.055 - knot


def rgb_to_luma(rgb: torch.Tensor) -> torch.Tensor:
    """BT.709 luma Y' of gamma-encoded RGB: (*, 3, H, W) [0,1] -> (*, 1, H, W) [0,1]."""
    _check_channels(rgb, 3, "rgb")
    r, g, b = rgb.unbind(-3)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b).unsqueeze(-3)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    delta = 6 / 29  # the two pieces meet at t = delta**3 with value delta
    return t.clamp(max=delta**3) / (3 * delta**2) + 4 / 29 + t.clamp(min=delta**3) ** (1 / 3) - delta


def _lab_f_inv(t: torch.Tensor) -> torch.Tensor:
    delta = 6 / 29  # the two pieces meet at t = delta with value delta**3
    return 3 * delta**2 * (t.clamp(max=delta) - 4 / 29) + t.clamp(min=delta) ** 3 - delta**3


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel 3x3 colour matrix: (3, 3) and (*, 3, H, W) -> (*, 3, H, W)."""
    return (matrix @ x.flatten(-2)).unflatten(-1, x.shape[-2:])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (*, 3, H, W) [0,1] -> Lab (*, 3, H, W), L in [0,100], a/b in about [-110, 110]."""
    _check_channels(rgb, 3, "rgb")
    lin = srgb_to_linear(rgb)
    xyz = _mix(_RGB_TO_XYZ.to(rgb), lin)
    fx, fy, fz = (_lab_f(xyz[..., i, :, :] / _D65[i]) for i in range(3))
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab (*, 3, H, W) -> sRGB (*, 3, H, W) clamped to [0, 1]."""
    _check_channels(lab, 3, "lab")
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    xyz = torch.stack([_lab_f_inv(fy + a / 500) * _D65[0], _lab_f_inv(fy) * _D65[1], _lab_f_inv(fy - b / 200) * _D65[2]], dim=-3)
    lin = _mix(_XYZ_TO_RGB.to(lab), xyz)
    return linear_to_srgb(lin.clamp(0, 1)).clamp(0, 1)


def luma_to_lightness(luma: torch.Tensor) -> torch.Tensor:
    """Lab L of a grey with this luma: (*, 1, H, W) [0,1] -> (*, 1, H, W) [0,100]."""
    return 116 * _lab_f(srgb_to_linear(luma)) - 16


def luma_ab_to_rgb(luma: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Colour from luma + predicted chroma: (*, 1, H, W) [0,1] and (*, 2, H, W) Lab -> (*, 3, H, W) [0,1]."""
    _check_channels(luma, 1, "luma")
    _check_channels(ab, 2, "ab")
    return lab_to_rgb(torch.cat([luma_to_lightness(luma), ab], dim=-3))


def rgb_to_ycbcr(rgb: torch.Tensor, matrix: str = "bt709") -> torch.Tensor:
    """(*, 3, H, W) [0,1] -> Y'CbCr (*, 3, H, W): Y in [0,1], Cb and Cr in [-0.5, 0.5]."""
    _check_channels(rgb, 3, "rgb")
    kr, kb = _MATRICES[matrix]
    r, g, b = rgb.unbind(-3)
    y = kr * r + (1 - kr - kb) * g + kb * b
    return torch.stack([y, (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))], dim=-3)


def ycbcr_to_rgb(ycc: torch.Tensor, matrix: str = "bt709") -> torch.Tensor:
    """Inverse of rgb_to_ycbcr: (*, 3, H, W) -> (*, 3, H, W), not clamped."""
    _check_channels(ycc, 3, "ycc")
    kr, kb = _MATRICES[matrix]
    y, cb, cr = ycc.unbind(-3)
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return torch.stack([r, g, b], dim=-3)


# ---------------------------------------------------------------- video planes (numpy)


def model_size(height: int, width: int, model_height: int = 256) -> tuple[int, int]:
    """Model input (h, w) for a frame of (height, width): h = model_height, w keeps the aspect, both % 32 == 0."""
    if model_height <= 0 or model_height % 32:
        raise ValueError(f"model_height must be a positive multiple of 32, got {model_height}")
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    w = max(32, int(model_height * width / height / 32 + 0.5) * 32)  # round half up
    return model_height, w


def _levels(bit_depth: int, full_range: bool) -> tuple[float, float, float]:
    """(luma black, luma span, chroma span) in code values for this depth and range."""
    scale = 1 << (bit_depth - 8)
    if full_range:
        top = (1 << bit_depth) - 1
        return 0.0, float(top), float(top)
    return 16.0 * scale, 219.0 * scale, 224.0 * scale


def normalize_luma(y: np.ndarray, bit_depth: int = 8, full_range: bool = False) -> np.ndarray:
    """Code values (H, W) uint8/uint16 -> float32 (H, W) in [0, 1]."""
    black, span, _ = _levels(bit_depth, full_range)
    return np.clip((y.astype(np.float32) - black) * (1.0 / span), 0.0, 1.0)


def quantize_luma(y: np.ndarray, bit_depth: int = 8, full_range: bool = False) -> np.ndarray:
    """float (H, W) [0, 1] -> code values uint8 (8-bit) or uint16 (deeper)."""
    black, span, _ = _levels(bit_depth, full_range)
    top = (1 << bit_depth) - 1
    out = np.clip(np.rint(y * span + black), 0, top)
    return out.astype(np.uint8 if bit_depth == 8 else np.uint16)


def quantize_chroma(c: np.ndarray, bit_depth: int = 8, full_range: bool = False) -> np.ndarray:
    """float Cb or Cr (H, W) [-0.5, 0.5] -> code values uint8/uint16 centred on 2**(bit_depth-1)."""
    _, _, span = _levels(bit_depth, full_range)
    top = (1 << bit_depth) - 1
    out = np.clip(np.rint(c * span + (1 << (bit_depth - 1))), 0, top)
    return out.astype(np.uint8 if bit_depth == 8 else np.uint16)


def to_model_input(y: np.ndarray, size: tuple[int, int], bit_depth: int = 8, full_range: bool = False) -> np.ndarray:
    """Source luma plane (H, W) code values -> model input (h, w) float32 [0, 1], area-resized."""
    h, w = size
    return cv2.resize(normalize_luma(y, bit_depth, full_range), (w, h), interpolation=cv2.INTER_AREA)


def _resize_planes(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(C, h, w) float32 -> (C, H, W) bilinear; C <= 4."""
    h, w = size
    out = cv2.resize(np.ascontiguousarray(x.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(h, w, -1).transpose(2, 0, 1)


def fit_chroma_to_gamut(luma: torch.Tensor, cbcr: torch.Tensor, matrix: str = "bt709") -> torch.Tensor:
    """Shrink chroma (2, h, w) towards grey until Y' (1, h, w) + chroma is a displayable RGB.

    Near black and white little chroma fits; without this, dark borders of old film turn red-brown.
    """
    d = ycbcr_to_rgb(torch.cat([torch.zeros_like(luma), cbcr]), matrix)  # how far R, G, B move from grey
    room_up = (1 - luma) / d.amax(dim=0, keepdim=True).clamp(min=1e-6)  # until the highest channel is white
    room_down = luma / (-d).amax(dim=0, keepdim=True).clamp(min=1e-6)  # until the lowest channel is black
    return cbcr * torch.minimum(room_up, room_down).clamp(max=1)


def chroma_planes(
    luma: np.ndarray,
    ab: np.ndarray,
    chroma_size: tuple[int, int],
    matrix: str = "bt709",
    bit_depth: int = 8,
    full_range: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Natural merge: model-res luma (h, w) [0,1] + Lab ab (2, h, w) -> Cb, Cr planes at chroma_size.

    The colour is computed at model resolution and only the chroma is upsampled, so the
    source's full-resolution Y plane can be written back untouched.
    """
    rgb = luma_ab_to_rgb(torch.from_numpy(luma)[None], torch.from_numpy(ab))
    cbcr = fit_chroma_to_gamut(torch.from_numpy(luma)[None], rgb_to_ycbcr(rgb, matrix)[1:], matrix).numpy()
    cb, cr = _resize_planes(cbcr, chroma_size)
    return quantize_chroma(cb, bit_depth, full_range), quantize_chroma(cr, bit_depth, full_range)


def stylized_planes(
    y: np.ndarray,
    rgb: np.ndarray,
    chroma_size: tuple[int, int],
    matrix: str = "bt709",
    bit_depth: int = 8,
    full_range: bool = False,
    detail: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stylized merge: source Y plane (H, W) + model RGB (3, h, w) [0,1] -> Y, Cb, Cr planes.

    The stylized luma is upsampled and the source's fine detail (what the model resolution
    cannot hold) is added back with weight ``detail``.
    """
    H, W = y.shape
    h, w = rgb.shape[-2:]
    ycc = rgb_to_ycbcr(torch.from_numpy(rgb), matrix).numpy()
    source = normalize_luma(y, bit_depth, full_range)
    blurred = cv2.resize(cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA), (W, H), interpolation=cv2.INTER_LINEAR)
    luma = cv2.resize(ycc[0], (W, H), interpolation=cv2.INTER_LINEAR) + detail * (source - blurred)
    cb, cr = _resize_planes(ycc[1:], chroma_size)
    return (
        quantize_luma(luma, bit_depth, full_range),
        quantize_chroma(cb, bit_depth, full_range),
        quantize_chroma(cr, bit_depth, full_range),
    )
