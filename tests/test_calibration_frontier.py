"""benchmarks/calibration_frontier.py: the equal-colour comparison and its paired standard error."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from calibration_frontier import frontier_setting, paired_difference  # noqa: E402
from eval_natural import against  # noqa: E402


def test_the_frontier_takes_the_most_accurate_setting_at_least_as_colourful_as_asked():
    means = {"muted": np.array([1.0, 30.0, 40.0]), "mid": np.array([0.8, 35.0, 40.0]), "vivid": np.array([0.2, 41.0, 40.0])}
    assert frontier_setting(means, 29.0) == "muted"
    assert frontier_setting(means, 33.0) == "mid"
    assert frontier_setting(means, 38.0) == "vivid"
    assert frontier_setting(means, 45.0) is None


def test_the_paired_difference_cancels_what_the_photos_share():
    """Photo difficulty varies by dB between photos; the weights differ by a steady 0.1 dB: the paired
    error sees only the 0.1 dB's own spread, far below the spread of either weights' scores."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 2.0, 200)
    a = difficulty + rng.normal(0, 0.05, 200)
    b = difficulty + 0.1 + rng.normal(0, 0.05, 200)
    mean, se = paired_difference(a, b)
    assert mean == pytest.approx(0.1, abs=0.02)
    assert se == pytest.approx(np.sqrt(2) * 0.05 / np.sqrt(200), rel=0.2)
    assert se < 0.05 * (np.std(b) / np.sqrt(200))
    assert paired_difference(a, a) == (0.0, 0.0)


def test_a_video_run_against_a_base_run_pairs_the_clips_both_scored():
    base = {"a": {"psnr_gain": 1.0}, "b": {"psnr_gain": -2.0}, "gone": {"psnr_gain": 9.0}}
    rows = {"a": {"psnr_gain": 1.5}, "b": {"psnr_gain": -1.0}, "new": {"psnr_gain": -9.0}}
    d, se, n = against(rows, base)
    assert n == 2 and d == pytest.approx(0.75) and se == pytest.approx(0.25)
    with pytest.raises(SystemExit, match="same --split"):
        against(rows, {"other": {"psnr_gain": 0.0}})
