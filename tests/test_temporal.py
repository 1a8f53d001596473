"""Temporal stabilization on synthetic motion with a known flow."""
from __future__ import annotations

import numpy as np
import pytest
from test_flow import shifted_pair, texture

from vidcolor.flow import DISFlow
from vidcolor.options import TemporalOptions
from vidcolor.temporal import (
    TemporalStabilizer,
    blend,
    is_scene_cut,
    luma_agreement,
    occlusion_mask,
    restore_detail,
    scene_change,
    warp,
)

H, W = 64, 96


def constant_flow(dx: float, dy: float) -> np.ndarray:
    return np.broadcast_to(np.array([dx, dy], np.float32), (H, W, 2)).copy()


def test_warp_with_known_flow_recovers_the_next_frame() -> None:
    prev, nxt = shifted_pair(3, -2)
    warped = warp(prev[None], constant_flow(3, -2))[0]
    np.testing.assert_allclose(warped[2:, : W - 3], nxt[2:, : W - 3], atol=1e-5)


def test_warp_with_estimated_flow_recovers_the_next_frame() -> None:
    prev, nxt = shifted_pair(3, -2)
    flow = DISFlow("fast").estimate(prev, nxt)
    warped = warp(prev[None], flow)[0]
    assert np.abs(warped - nxt)[8:-8, 8:-8].mean() < 0.01
    assert np.abs(prev - nxt)[8:-8, 8:-8].mean() > 0.05  # the frames really differ


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_zero_flow_warp_is_identity_for_any_channel_count(channels: int) -> None:
    image = np.random.default_rng(1).normal(0, 50, (channels, H, W)).astype(np.float32)
    out = warp(image, np.zeros((H, W, 2), np.float32))
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_warp_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        warp(np.zeros((2, H, W), np.float32), np.zeros((H, W + 1, 2), np.float32))


def test_occlusion_mask_marks_disoccluded_border_only() -> None:
    # next[y, x] = prev[y, x + 3]: the 3 right-most columns of next were outside prev.
    mask = occlusion_mask(constant_flow(-3, 0), constant_flow(3, 0), threshold_px=1.0)
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert (mask[:, W - 3:] == 1).all()
    assert (mask[:, : W - 3] == 0).all()


def test_occlusion_mask_from_estimated_flow_marks_the_entering_border() -> None:
    prev, nxt = shifted_pair(4, 0)
    flow = DISFlow("fast")
    mask = occlusion_mask(flow.estimate(nxt, prev), flow.estimate(prev, nxt), threshold_px=1.0)
    assert mask[:, W - 3:].mean() > 0.9
    assert mask[8:-8, 8:-8].mean() < 0.05


def test_inconsistent_flows_are_occluded() -> None:
    mask = occlusion_mask(np.zeros((H, W, 2), np.float32), constant_flow(0, 5), threshold_px=1.0)
    assert (mask[: H - 5] == 1).all()  # round trip misses by 5 px


def test_luma_agreement_ramps_from_tolerance() -> None:
    luma = np.zeros((1, 4), np.float32)
    out = luma_agreement(luma, np.array([[0.0, 0.05, 0.09, 0.2]], np.float32), tolerance=0.06)
    np.testing.assert_allclose(out, [[1, 1, 0.5, 0]], atol=1e-6)


def test_scene_cut_detects_a_new_picture_but_not_motion_or_flicker() -> None:
    prev, nxt = shifted_pair(4, 2)
    other = texture(H, W, seed=7)
    assert is_scene_cut(prev, other, threshold=0.8)
    assert not is_scene_cut(prev, nxt, threshold=0.8)
    assert not is_scene_cut(prev, np.clip(prev * 0.6 + 0.1, 0, 1), threshold=0.8)  # film flicker
    assert scene_change(prev, prev) == pytest.approx(0, abs=1e-3)


def test_blend_weights() -> None:
    current = np.zeros((2, 4, 4), np.float32)
    past = np.full((2, 4, 4), 10, np.float32)
    trust = np.ones((4, 4), np.float32)
    np.testing.assert_array_equal(blend(current, past, trust, 0.0), current)
    np.testing.assert_array_equal(blend(current, past, trust * 0, 0.9), current)
    np.testing.assert_allclose(blend(current, past, trust * 0.5, 0.8), 4.0)


def test_restore_detail_matches_the_current_detail_energy() -> None:
    smooth = np.stack([np.linspace(-20, 20, W, dtype=np.float32)[None].repeat(H, 0)] * 2)
    texture_ab = np.random.default_rng(0).normal(0, 5, (2, H, W)).astype(np.float32)  # fine detail only
    current = smooth + texture_ab
    np.testing.assert_allclose(restore_detail(current, current, 2.0), current, atol=1e-4)  # nothing lost
    washed = smooth + 0.5 * texture_ab  # averaging halved the detail
    restored = restore_detail(washed, current, 2.0)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert np.abs(restored - current)[inner].mean() < 0.2 * np.abs(washed - current)[inner].mean()
    flat = smooth.copy()  # no detail at all: nothing to scale, and the gain is capped
    assert np.isfinite(restore_detail(flat, current, 2.0)).all()


def moving_clip(frames: int, dx: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lumas of a texture panning by dx px/frame, and 'model outputs' aligned with them (C=2)."""
    big = texture(H, W + dx * frames + 8, seed=3)
    lumas = [big[:, i * dx: i * dx + W].copy() for i in range(frames)]
    outputs = [np.stack([luma * 40 - 20, 30 - luma * 20]) for luma in lumas]
    return lumas, outputs


def test_strength_zero_is_identity() -> None:
    stab = TemporalStabilizer(TemporalOptions(strength=0.0))
    lumas, outputs = moving_clip(6)
    rng = np.random.default_rng(0)
    for luma, out in zip(lumas, outputs):
        noisy = out + rng.normal(0, 5, out.shape).astype(np.float32)
        np.testing.assert_array_equal(stab(luma, noisy), noisy)


def test_identical_frames_and_outputs_are_identity() -> None:
    stab = TemporalStabilizer(TemporalOptions(strength=0.9))
    luma = texture(H, W)
    out = np.stack([luma * 50, -luma * 30, luma])
    for _ in range(5):
        np.testing.assert_allclose(stab(luma, out), out, atol=1e-4)


def test_first_frame_passes_through_and_motion_is_followed() -> None:
    stab = TemporalStabilizer(TemporalOptions(strength=0.9))
    lumas, outputs = moving_clip(8)
    np.testing.assert_array_equal(stab(lumas[0], outputs[0]), outputs[0])
    for luma, out in zip(lumas[1:], outputs[1:]):
        result = stab(luma, out)
        # Output that moves with the picture is consistent already: nothing to change, no ghost.
        assert np.abs(result - out)[:, 4:-4, 4:-4].mean() < 0.3


def test_flicker_is_reduced_on_moving_content() -> None:
    lumas, outputs = moving_clip(20)
    rng = np.random.default_rng(0)
    flicker = [out + rng.normal(0, 6, (2, 1, 1)).astype(np.float32) for out in outputs]
    stab = TemporalStabilizer(TemporalOptions(strength=0.8))
    result = [stab(luma, out) for luma, out in zip(lumas, flicker)]
    raw_error = np.mean([np.abs(a - b).mean() for a, b in zip(flicker, outputs)])
    stab_error = np.mean([np.abs(a - b)[:, :, : W - 8].mean() for a, b in zip(result[5:], outputs[5:])])
    assert stab_error < 0.6 * raw_error


def test_scene_cut_resets_to_the_model_output() -> None:
    stab = TemporalStabilizer(TemporalOptions(strength=0.9))
    lumas, outputs = moving_clip(4)
    for luma, out in zip(lumas, outputs):
        stab(luma, out + 10)
    new_shot = texture(H, W, seed=11)
    new_out = np.stack([new_shot * -30, new_shot * 10])
    np.testing.assert_array_equal(stab(new_shot, new_out), new_out)
    assert stab.cuts == 1


def test_reset_forgets_the_past() -> None:
    stab = TemporalStabilizer(TemporalOptions(strength=0.9))
    luma = texture(H, W)
    stab(luma, np.zeros((2, H, W), np.float32))
    stab.reset()
    out = np.ones((2, H, W), np.float32)
    np.testing.assert_array_equal(stab(luma, out), out)


def test_long_static_shot_does_not_drift_from_the_per_frame_colours() -> None:
    # 300 frames: the model's colour slowly changes (a true change) under per-frame noise.
    stab = TemporalStabilizer(TemporalOptions(strength=0.9), flow=ZeroFlow())
    luma = texture(16, 24)
    rng = np.random.default_rng(0)
    worst = 0.0
    for t in range(300):
        truth = np.full((2, 16, 24), 0.1 * t, np.float32)  # drifts 30 Lab units in total
        result = stab(luma, truth + rng.normal(0, 3, (2, 1, 1)).astype(np.float32))
        worst = max(worst, float(np.abs(result - truth).mean())) if t > 20 else worst
    assert worst < 3.0  # lags a true change by at most ~strength/(1-strength) * 0.1 = 0.9


class ZeroFlow:
    """A still camera: the flow a perfect estimator gives for identical frames."""

    name = "zero"

    def estimate(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        return np.zeros((*prev.shape, 2), np.float32)


def test_options_reject_strength_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TemporalOptions(strength=1.5)
    with pytest.raises(ValueError):
        TemporalOptions(strength=-0.1)


def test_strength_one_still_lets_the_present_in() -> None:
    current = np.zeros((1, 2, 2), np.float32)
    out = blend(current, np.ones_like(current), np.ones((2, 2), np.float32), 1.0)
    np.testing.assert_allclose(out, 0.95)


def test_stabilizer_rejects_mismatched_shapes() -> None:
    stab = TemporalStabilizer(TemporalOptions())
    with pytest.raises(ValueError):
        stab(np.zeros((H, W), np.float32), np.zeros((2, H, W + 1), np.float32))


def davis_lumas(root, sequence: str, frames: slice) -> list[np.ndarray]:
    """Model-size (256x448) BT.709 lumas of real DAVIS frames."""
    import cv2

    paths = sorted((root / "video_frames" / "davis" / sequence).glob("*.jpg"))[frames]
    lumas = []
    for path in paths:
        rgb = cv2.imread(str(path))[..., ::-1].astype(np.float32) / 255
        luma = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        lumas.append(cv2.resize(luma, (448, 256), interpolation=cv2.INTER_AREA))
    return lumas


@pytest.mark.parametrize(("first", "second"), [("blackswan", "cows"), ("motocross-jump", "drift-straight")])
def test_real_cut_between_two_shots_is_detected_once(shared_data, first: str, second: str) -> None:
    # The fastest-moving DAVIS shots are included: their own frames must not count as cuts.
    lumas = davis_lumas(shared_data, first, slice(-4, None)) + davis_lumas(shared_data, second, slice(0, 4))
    stab = TemporalStabilizer(TemporalOptions())
    outputs = [np.full((2, 256, 448), float(i), np.float32) for i in range(len(lumas))]
    results = [stab(luma, out) for luma, out in zip(lumas, outputs)]
    assert stab.cuts == 1
    np.testing.assert_array_equal(results[4], outputs[4])  # the new shot starts clean
    assert np.abs(results[3] - outputs[3]).mean() > 0.5  # within the first shot the past is used
