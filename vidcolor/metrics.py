"""Quality metrics for colourized video, and ``evaluate_videos`` behind ``vidcolor eval``.

Frames are (h, w, 3) float32 sRGB in [0, 1] unless stated otherwise; lumas (h, w) float32 [0, 1].

- warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): flow and occlusion
  from the SOURCE frames; for each frame t >= 1, the squared difference between output t and
  output t-1 warped onto t, summed over RGB and averaged over non-occluded pixels; then averaged
  over frames. Lower = steadier. Flow is never perfect, so even the grey source scores above 0
  (its luma alone); a grey output has no colour to flicker: read it beside colourfulness.
- colourfulness (Hasler & Süsstrunk 2003) on the 0-255 scale: 0 for grey, ~100+ for vivid.
- PSNR (dB), SSIM (Wang et al. 2004, Gaussian window) and CIEDE2000 (Sharma et al. 2005) against
  a reference, averaged over frames.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidcolor.color import normalize_luma, rgb_to_lab
from vidcolor.errors import InputError
from vidcolor.flow import FlowEstimator, load_flow
from vidcolor.temporal import occlusion_mask, warp
from vidcolor.video.reader import VideoInfo, luma_plane, probe

# Lai et al. use FlowNet2; DIS "fine" is the most accurate flow we ship. Its error floor matters:
# on a grey video (nothing to flicker) it scores 0.0011 on DAVIS goat at 854x480, "medium" 0.0017.
METRIC_FLOW_PRESET = "fine"
# Taller videos are area-downscaled to this height for the warping error only (flow cost grows
# with the pixel count; flicker is visible at this size). PSNR, SSIM, CIEDE2000 use full frames.
WARP_MAX_HEIGHT = 480
MAX_PSNR_DB = 100.0  # identical frames would be +inf; capped so averages stay finite


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's M = sigma_rgyb + 0.3 mu_rgyb of (h, w, 3) RGB [0, 1], on the 0-255 scale."""
    rgb = np.asarray(rgb, np.float64) * 255.0
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    sigma = math.hypot(float(rg.std()), float(yb.std()))
    mu = math.hypot(float(rg.mean()), float(yb.mean()))
    return sigma + 0.3 * mu


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape arrays; capped at MAX_PSNR_DB."""
    _check_same_shape(a, b)
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    if mse <= 0:
        return MAX_PSNR_DB
    return min(MAX_PSNR_DB, 10.0 * math.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of (h, w) or (h, w, C) images, averaged over channels.

    Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, the 5-px border
    where the window does not fit left out.
    """
    _check_same_shape(a, b)
    a = np.asarray(a, np.float64).reshape(*a.shape[:2], -1)
    b = np.asarray(b, np.float64).reshape(*b.shape[:2], -1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        scores.append(float(s.mean()))
    return float(np.mean(scores))


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of (..., 3) Lab arrays -> (...) float64.

    Follows Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation
    notes, supplementary test data, and mathematical observations", eqs. 1-17.
    """
    _check_same_shape(lab1, lab2)
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360  # atan2(0, 0) = 0 as the paper asks
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma_product = c1p * c2p
    dhp = h2p - h1p
    dhp = np.where(dhp > 180, dhp - 360, np.where(dhp < -180, dhp + 360, dhp))
    dhp = np.where(chroma_product == 0, 0.0, dhp)
    dLp, dCp = L2 - L1, c2p - c1p
    dHp = 2 * np.sqrt(chroma_product) * np.sin(np.radians(dhp) / 2)
    Lp, Cp = (L1 + L2) / 2, (c1p + c2p) / 2
    hp = (h1p + h2p) / 2
    hp = np.where(np.abs(h1p - h2p) > 180, np.where(h1p + h2p < 360, hp + 180, hp - 180), hp)
    hp = np.where(chroma_product == 0, h1p + h2p, hp)
    t = (
        1
        - 0.17 * np.cos(np.radians(hp - 30))
        + 0.24 * np.cos(np.radians(2 * hp))
        + 0.32 * np.cos(np.radians(3 * hp + 6))
        - 0.20 * np.cos(np.radians(4 * hp - 63))
    )
    d_theta = 30 * np.exp(-(((hp - 275) / 25) ** 2))
    rc = 2 * np.sqrt(Cp**7 / (Cp**7 + 25.0**7))
    sl = 1 + 0.015 * (Lp - 50) ** 2 / np.sqrt(20 + (Lp - 50) ** 2)
    sc, sh = 1 + 0.045 * Cp, 1 + 0.015 * Cp * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    dl, dc, dh = dLp / sl, dCp / sc, dHp / sh
    return np.sqrt(dl**2 + dc**2 + dh**2 + rt * dc * dh)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) sRGB [0, 1] -> (h, w, 3) CIE Lab (D65), via vidcolor.color.rgb_to_lab."""
    x = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)
    return rgb_to_lab(x).permute(1, 2, 0).numpy()


def motion_boundaries(flow: np.ndarray) -> np.ndarray:
    """(h, w, 2) flow -> (h, w) bool: where the flow changes sharply (Lai et al.'s second test)."""
    du_y, du_x = np.gradient(flow[..., 0])
    dv_y, dv_x = np.gradient(flow[..., 1])
    gradient = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    return gradient > 0.01 * np.sum(flow**2, axis=2) + 0.002


def trusted_pixels(prev_luma: np.ndarray, luma: np.ndarray, flow: FlowEstimator) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow (h, w, 2) of ``luma`` and its non-occluded pixels (h, w) bool, per Lai et al.

    Occluded: forward-backward round trip off by more than sqrt(0.01 (|w|^2 + |w'|^2) + 0.5) px
    (Ruder et al. 2016), a motion boundary, or a source outside the frame.
    """
    bwd = flow.estimate(prev_luma, luma)
    fwd = flow.estimate(luma, prev_luma)
    occluded = (occlusion_mask(fwd, bwd, threshold_px=math.sqrt(0.5)) > 0) | motion_boundaries(bwd)
    return bwd, ~occluded


def pair_warping_error(prev_output: np.ndarray, output: np.ndarray, bwd: np.ndarray, trusted: np.ndarray) -> float:
    """Mean over ``trusted`` (h, w) bool pixels of the squared difference, summed over channels,
    between ``output`` and ``prev_output`` (both (h, w, C)) warped along ``bwd`` (h, w, 2)."""
    warped = warp(np.ascontiguousarray(prev_output.transpose(2, 0, 1)), bwd).transpose(1, 2, 0)
    return float(np.sum((output - warped) ** 2, axis=2)[trusted].mean())


class WarpingError:
    """Streaming warping error: ``update`` once per frame in order, then ``value()``.

    Tracks two figures over the same flow and occlusion: the warping error of the frames as given
    (``value()``) and of their colour alone, each frame minus its own BT.709 luma
    (``color_value()``). A colourizer that keeps the film's own luma (``natural``) cannot bring the
    first below the source's own warping error (grain, flow mistakes); the second is the flicker
    of the colour it added.
    """

    def __init__(self, flow: FlowEstimator | None = None, max_height: int = WARP_MAX_HEIGHT) -> None:
        self.flow = flow if flow is not None else load_flow(METRIC_FLOW_PRESET)
        self.max_height = max_height
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._total, self._color_total, self._pairs = 0.0, 0.0, 0

    def update(self, output: np.ndarray, source_luma: np.ndarray) -> None:
        """output: (h, w, C) float [0, 1] (RGB: C = 3); source_luma: (h, w) float32 [0, 1]."""
        output = np.asarray(output, np.float32)
        source_luma = np.asarray(source_luma, np.float32)
        if output.shape[0] > self.max_height:
            size = (round(output.shape[1] * self.max_height / output.shape[0]), self.max_height)
            output = cv2.resize(output, size, interpolation=cv2.INTER_AREA)
            source_luma = cv2.resize(source_luma, size, interpolation=cv2.INTER_AREA)
        if self._prev is not None:
            prev_output, prev_luma = self._prev
            bwd, trusted = trusted_pixels(prev_luma, source_luma, self.flow)
            if trusted.any():
                self._total += pair_warping_error(prev_output, output, bwd, trusted)
                if output.shape[2] == 3:
                    self._color_total += pair_warping_error(color_part(prev_output), color_part(output), bwd, trusted)
                self._pairs += 1
        self._prev = (output, source_luma)

    def value(self) -> float:
        """Mean over frame pairs; 0.0 for a video of one frame."""
        return self._total / self._pairs if self._pairs else 0.0

    def color_value(self) -> float:
        """The same for the frames' colour (RGB minus luma); 0.0 for grey frames."""
        return self._color_total / self._pairs if self._pairs else 0.0


def warping_error(
    outputs: Iterable[np.ndarray], sources: Iterable[np.ndarray] | None = None, flow: FlowEstimator | None = None
) -> float:
    """Lai et al.'s warping error of (h, w, 3) RGB [0, 1] frames; flow from the (h, w) [0, 1]
    source lumas, or from the outputs' own BT.709 luma when ``sources`` is None."""
    metric = WarpingError(flow)
    if sources is None:
        pairs = ((output, rgb_luma(output)) for output in outputs)
    else:
        pairs = zip(outputs, sources, strict=True)
    for output, luma in pairs:
        metric.update(output, luma)
    return metric.value()


def color_part(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) RGB -> (h, w, 3) RGB minus its BT.709 luma: the colour added to a grey picture."""
    return rgb - rgb_luma(rgb)[..., None]


def rgb_luma(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) RGB -> (h, w) float32 BT.709 luma Y', same scale (numpy twin of color.rgb_to_luma)."""
    return (np.asarray(rgb, np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"shapes differ: {np.shape(a)} vs {np.shape(b)}")


# ---- videos ---------------------------------------------------------------------------------


def decode_frames(info: VideoInfo) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every frame of a probed video, streamed: ((H, W, 3) float32 RGB [0, 1], (H, W) float32 luma).

    Rotation metadata is applied, as vidcolor.video.reader does; the luma is the decoded Y plane.
    """
    with av.open(str(info.path)) as container:
        stream = container.streams[info.stream_index]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            if info.rotation:
                rgb = np.rot90(rgb, info.rotation // 90)
            luma = normalize_luma(luma_plane(frame, info.rotation), info.bit_depth, info.full_range)
            yield np.ascontiguousarray(rgb, np.float32) / 255.0, luma


def evaluate_videos(output: Path, source: Path | None = None, reference: Path | None = None, skip: int = 0) -> dict[str, float]:
    """Score a colourized video: {'frames', 'warping_error', 'color_warping_error', 'colorfulness'} always, plus
    {'psnr', 'ssim', 'ciede2000', 'reference_colorfulness'} with a reference (ground-truth colour).
    The first ``skip`` frames are read but not scored (nor counted in 'frames').

    ``source`` (the grey input) gives the flow for the warping error; without it, the output's
    own luma does. Frames are streamed, never all held in memory. Raises InputError when a file
    cannot be read or the videos differ in frame size or count.
    """
    paths = {"output": output, "source": source, "reference": reference}
    infos = {name: probe(Path(path)) for name, path in paths.items() if path is not None}
    _check_sizes(infos)
    if all(info.frame_count_exact for info in infos.values()):
        _check_counts(infos, {name: info.frame_count for name, info in infos.items()})

    streams = {name: decode_frames(info) for name, info in infos.items()}
    counts = dict.fromkeys(infos, 0)
    warp_metric = WarpingError()
    totals: dict[str, float] = {}
    try:
        while True:
            got = {name: next(frames, None) for name, frames in streams.items()}
            if any(item is None for item in got.values()):
                break
            for name in counts:
                counts[name] += 1
            if counts["output"] <= skip:
                continue
            rgb, luma = got["output"]
            warp_metric.update(rgb, got["source"][1] if "source" in got else luma)
            reference_rgb = got["reference"][0] if "reference" in got else None
            for key, value in frame_scores(rgb, reference_rgb).items():
                totals[key] = totals.get(key, 0.0) + value
        for name, item in got.items():  # count what is left where one video ended early
            counts[name] += (item is not None) + sum(1 for _ in streams[name])
        _check_counts(infos, counts)
    finally:
        for frames in streams.values():
            frames.close()
    frames = max(0, counts["output"] - skip)
    return {"frames": float(frames), "warping_error": warp_metric.value(), "color_warping_error": warp_metric.color_value()} | {
        key: total / frames for key, total in totals.items()
    }


def frame_scores(rgb: np.ndarray, reference: np.ndarray | None) -> dict[str, float]:
    """Per-frame scores of (h, w, 3) RGB [0, 1]: colourfulness, and the reference metrics."""
    scores = {"colorfulness": colorfulness(rgb)}
    if reference is not None:
        scores["psnr"] = psnr(rgb, reference)
        scores["ssim"] = ssim(rgb, reference)
        scores["ciede2000"] = float(ciede2000(srgb_to_lab(rgb), srgb_to_lab(reference)).mean())
        scores["reference_colorfulness"] = colorfulness(reference)
    return scores


def _check_sizes(infos: dict[str, VideoInfo]) -> None:
    out = infos["output"]
    for name, info in infos.items():
        if (info.width, info.height) != (out.width, out.height):
            raise InputError(
                f"frame sizes differ: output {out.path.name} is {out.width}x{out.height}, "
                f"{name} {info.path.name} is {info.width}x{info.height}",
                f"give the {name} video the output was made from, at the same size",
            )


def _check_counts(infos: dict[str, VideoInfo], counts: dict[str, int]) -> None:
    out = infos["output"]
    for name, count in counts.items():
        if count != counts["output"]:
            raise InputError(
                f"frame counts differ: output {out.path.name} has {counts['output']} frames, "
                f"{name} {infos[name].path.name} has {count}",
                f"give the {name} video the output was made from, uncut",
            )
