"""DIS flow on synthetic motion with a known answer."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidcolor.flow import DIS_PRESETS, DISFlow, load_flow, to_uint8


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(h, w) float32 [0, 1]: smooth random texture that flow can lock on to."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def shifted_pair(dx: int, dy: int, height: int = 64, width: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of one texture with next[y, x] == prev[y + dy, x + dx]."""
    big = texture(height + 20, width + 20)
    prev = big[10:10 + height, 10:10 + width]
    nxt = big[10 + dy:10 + dy + height, 10 + dx:10 + dx + width]
    return prev.copy(), nxt.copy()


@pytest.mark.parametrize("preset", sorted(DIS_PRESETS))
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-4, 1)])
def test_flow_recovers_known_translation(preset: str, dx: int, dy: int) -> None:
    prev, nxt = shifted_pair(dx, dy)
    flow = load_flow(preset).estimate(prev, nxt)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    interior = flow[12:-12, 12:-12].reshape(-1, 2)
    np.testing.assert_allclose(np.median(interior, axis=0), [dx, dy], atol=0.25)


def test_identical_frames_give_zero_flow() -> None:
    frame = texture(64, 96)
    flow = DISFlow("fast").estimate(frame, frame)
    assert np.abs(flow).max() < 0.05


def test_one_instance_is_reused_across_sizes() -> None:
    estimator = DISFlow("ultrafast")
    for height, width in [(64, 96), (48, 64)]:
        prev, nxt = shifted_pair(2, 0, height, width)
        assert estimator.estimate(prev, nxt).shape == (height, width, 2)


def test_bad_preset_and_mismatched_frames_raise() -> None:
    with pytest.raises(ValueError, match="unknown DIS preset"):
        DISFlow("slow")
    with pytest.raises(ValueError, match="differ in size"):
        DISFlow().estimate(np.zeros((8, 8), np.float32), np.zeros((8, 9), np.float32))


def test_to_uint8_rounds_and_clips() -> None:
    out = to_uint8(np.array([[-0.5, 0.0, 0.5, 1.0, 2.0]], np.float32))
    np.testing.assert_array_equal(out, [[0, 0, 128, 255, 255]])
    with pytest.raises(ValueError):
        to_uint8(np.zeros((2, 2, 3), np.float32))
