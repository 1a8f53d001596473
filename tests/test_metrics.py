"""Metrics: known values, the Sharma et al. CIEDE2000 pairs, warping error on synthetic motion,
evaluate_videos on clips written with PyAV, and the real flicker sanity set."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import make_clip
from test_flow import texture

from vidcolor.errors import InputError
from vidcolor.metrics import (
    MAX_PSNR_DB,
    ciede2000,
    colorfulness,
    evaluate_videos,
    motion_boundaries,
    psnr,
    srgb_to_lab,
    ssim,
    warping_error,
)

# Sharma, Wu & Dalal (2005), Table 1: (Lab 1, Lab 2, CIEDE2000).
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, -1.1848, -84.8006), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, -0.9009, -85.5211), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, -1.0, 2.0), (50.0, 0.0, 0.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0010), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0012), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0010, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 3.2972, 0.0), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 1.8634, 0.5757), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_matches_sharma_test_pairs_vectorised() -> None:
    lab1 = np.array([p[0] for p in SHARMA_PAIRS])
    lab2 = np.array([p[1] for p in SHARMA_PAIRS])
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    np.testing.assert_allclose(ciede2000(lab1, lab2), expected, atol=1e-4)
    np.testing.assert_allclose(ciede2000(lab2, lab1), expected, atol=1e-4)  # symmetric
    np.testing.assert_array_equal(ciede2000(lab1, lab1), 0.0)


def test_srgb_to_lab_known_value() -> None:
    red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(srgb_to_lab(red)[0, 0], [53.24, 80.09, 67.20], atol=0.05)


def test_colorfulness_known_values() -> None:
    grey = np.repeat(texture(32, 48)[..., None], 3, axis=2)
    assert colorfulness(grey) == pytest.approx(0.0, abs=1e-9)
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))  # only the mean term
    half = np.zeros((8, 8, 3), np.float32)
    half[:4, :, 0] = 1.0  # half red, half black: rg and yb each have std = mean
    assert colorfulness(half) == pytest.approx(1.3 * np.hypot(127.5, 63.75))


def test_psnr_of_known_noise() -> None:
    clean = np.full((16, 16, 3), 0.5, np.float32)
    noise = np.where(np.indices(clean.shape).sum(0) % 2, 0.01, -0.01).astype(np.float32)
    assert psnr(clean, clean + noise) == pytest.approx(40.0, abs=1e-3)  # MSE 1e-4
    assert psnr(clean, clean) == MAX_PSNR_DB
    with pytest.raises(ValueError):
        psnr(clean, clean[:8])


def test_ssim_identity_and_degradation() -> None:
    image = np.stack([texture(48, 64, seed=s) for s in range(3)], axis=2)
    assert ssim(image, image) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 0.2, image.shape), 0, 1)
    assert 0.3 < ssim(image, blurred) < 0.99
    assert ssim(image, noisy) < ssim(image, blurred)
    assert ssim(image, noisy) == pytest.approx(ssim(noisy, image))


def colour_pan(frames: int, flicker: float, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A texture panning 2 px/frame: its RGB colourization (optionally flickering) and its luma."""
    h, w = 48, 64
    big = texture(h, w + 2 * frames + 4, seed=seed)
    rng = np.random.default_rng(seed)
    rgbs, lumas = [], []
    for i in range(frames):
        luma = big[:, 2 * i: 2 * i + w].copy()
        tint = np.array([1.0, 0.8, 0.6]) + flicker * rng.normal(0, 1, 3)
        rgbs.append(np.clip(luma[..., None] * tint, 0, 1).astype(np.float32))
        lumas.append(luma)
    return rgbs, lumas


def test_warping_error_separates_steady_from_flickering_colour() -> None:
    steady, lumas = colour_pan(10, flicker=0.0)
    flickering, _ = colour_pan(10, flicker=0.15)
    steady_error = warping_error(steady, lumas)
    assert steady_error < 2e-4
    assert warping_error(flickering, lumas) > 20 * steady_error
    assert warping_error(steady) == pytest.approx(steady_error, rel=0.5)  # flow from the output's luma


def test_colour_warping_error_ignores_the_luma_and_catches_colour_flicker() -> None:
    from vidcolor.metrics import WarpingError

    _, lumas = colour_pan(10, flicker=0.0)
    rng = np.random.default_rng(3)
    noisy = [np.clip(y + rng.normal(0, 0.03, y.shape), 0, 1).astype(np.float32) for y in lumas]  # grain
    grey, flickering = WarpingError(), WarpingError()
    for i, (y, n) in enumerate(zip(lumas, noisy)):
        grey.update(np.repeat(n[..., None], 3, axis=2), y)
        tint = np.array([0.04, 0.0, -0.04], np.float32) * (1 if i % 2 else -1)  # colour flips every frame
        flickering.update(np.clip(n[..., None] + tint, 0, 1), y)
    assert grey.value() > 1e-3  # the grain is flicker of the picture...
    assert grey.color_value() == pytest.approx(0.0, abs=1e-9)  # ...but not of its colour
    assert flickering.color_value() > 0.5 * 3 * 0.08**2 - 1e-4  # most of the +-0.04 swing is seen


def test_warping_error_of_identical_frames_is_zero() -> None:
    frame = np.stack([texture(32, 48, seed=s) for s in range(3)], axis=2)
    assert warping_error([frame] * 4) == pytest.approx(0.0, abs=1e-10)
    assert warping_error([frame]) == 0.0


def test_motion_boundaries_mark_flow_edges() -> None:
    flow = np.zeros((20, 20, 2), np.float32)
    flow[:, 10:, 0] = 5.0
    edges = motion_boundaries(flow)
    assert edges[:, 9:11].all() and not edges[:, :8].any() and not edges[:, 12:].any()


def write_rgb_clip(path: Path, frames: list[np.ndarray], rate: int = 25) -> Path:
    """Encode (h, w, 3) float [0, 1] frames nearly losslessly (x264 4:4:4, crf 0)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_evaluate_videos_scores_flicker_and_reference(tmp_path: Path) -> None:
    steady, lumas = colour_pan(12, flicker=0.0)
    flickering, _ = colour_pan(12, flicker=0.15)
    grey = [np.repeat(luma[..., None], 3, axis=2) for luma in lumas]
    steady_path = write_rgb_clip(tmp_path / "steady.mp4", steady)
    flicker_path = write_rgb_clip(tmp_path / "flicker.mp4", flickering)
    source_path = write_rgb_clip(tmp_path / "grey.mp4", grey)

    steady_scores = evaluate_videos(steady_path, source=source_path, reference=steady_path)
    assert steady_scores["frames"] == 12
    assert steady_scores["psnr"] > 45 and steady_scores["ssim"] > 0.999 and steady_scores["ciede2000"] < 0.5
    assert steady_scores["colorfulness"] == pytest.approx(steady_scores["reference_colorfulness"])
    assert steady_scores["colorfulness"] > 10

    flicker_scores = evaluate_videos(flicker_path, source=source_path, reference=steady_path)
    assert flicker_scores["warping_error"] > 10 * steady_scores["warping_error"]
    assert flicker_scores["psnr"] < steady_scores["psnr"] - 10
    assert flicker_scores["ciede2000"] > 2

    grey_scores = evaluate_videos(source_path)
    assert grey_scores["colorfulness"] < 1.0
    assert set(grey_scores) == {"frames", "warping_error", "color_warping_error", "colorfulness"}
    assert grey_scores["color_warping_error"] < 1e-5


def test_mismatched_frame_counts_raise_naming_both(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", frames=12)
    b = make_clip(tmp_path / "b.mp4", frames=10)
    with pytest.raises(InputError, match=r"12 frames.*has 10"):
        evaluate_videos(a, reference=b)


def test_mismatched_counts_found_while_decoding(tmp_path: Path) -> None:
    # Matroska keeps no frame count in its header: the mismatch shows only at the end.
    a = make_clip(tmp_path / "a.mkv", frames=12)
    b = make_clip(tmp_path / "b.mkv", frames=9)
    with pytest.raises(InputError, match=r"12 frames.*has 9"):
        evaluate_videos(a, source=b)
    with pytest.raises(InputError, match=r"9 frames.*has 12"):
        evaluate_videos(b, source=a)


def test_mismatched_sizes_raise_naming_both(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", width=64, height=48)
    b = make_clip(tmp_path / "b.mp4", width=48, height=32)
    with pytest.raises(InputError, match=r"64x48.*48x32"):
        evaluate_videos(a, source=b)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        evaluate_videos(tmp_path / "nope.mp4")


def first_frames(path: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first ``count`` frames of a video as (h, w, 3) float [0, 1], area-resized to size (w, h)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            out.append(rgb.astype(np.float32) / 255)
            if len(out) == count:
                break
    return out


def test_real_per_frame_colourization_scores_far_worse_than_a_steady_one(shared_data: Path, tmp_path: Path) -> None:
    size = (428, 240)  # half of 854x480: same content, a quarter of the work
    processed = first_frames(shared_data / "flicker" / "goat_processed.mp4", 16, size)
    grey = first_frames(shared_data / "flicker" / "goat_input.mp4", 16, size)
    steady = [np.clip(g * np.array([1.0, 0.85, 0.65], np.float32), 0, 1) for g in grey]
    source = write_rgb_clip(tmp_path / "goat_grey.mp4", grey)
    processed_error = evaluate_videos(write_rgb_clip(tmp_path / "processed.mp4", processed), source=source)
    steady_error = evaluate_videos(write_rgb_clip(tmp_path / "steady.mp4", steady), source=source)
    assert processed_error["warping_error"] > 3 * steady_error["warping_error"]
    assert steady_error["colorfulness"] > 10  # the steady one is not just grey


def test_cli_eval_for_real(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from vidcolor.cli import app

    steady, lumas = colour_pan(8, flicker=0.0)
    output = write_rgb_clip(tmp_path / "out.mp4", steady)
    source = write_rgb_clip(tmp_path / "grey.mp4", [np.repeat(luma[..., None], 3, axis=2) for luma in lumas])
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(output), "--source", str(source), "--reference", str(output), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["frames"] == 8 and scores["ssim"] > 0.999 and scores["colorfulness"] > 10

    short = write_rgb_clip(tmp_path / "short.mp4", steady[:5])
    result = runner.invoke(app, ["eval", str(output), "--reference", str(short)])
    assert result.exit_code == 1
    assert "frame counts differ" in result.output and "8" in result.output and "5" in result.output
    assert "Traceback" not in result.output
