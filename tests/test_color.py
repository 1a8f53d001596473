"""vidcolor.color: round trips, known values, plane merges that keep the source luma."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcolor import color


def test_lab_round_trip():
    rgb = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)), rgb, atol=1e-4)


def test_lab_known_values():
    white = color.rgb_to_lab(torch.ones(3, 1, 1)).flatten()
    red = color.rgb_to_lab(torch.tensor([1.0, 0, 0]).view(3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0, 0]), atol=0.05)
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)  # standard sRGB red


@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
def test_ycbcr_round_trip(matrix):
    rgb = torch.rand(3, 5, 5)
    ycc = color.rgb_to_ycbcr(rgb, matrix)
    assert ycc[1:].abs().max() <= 0.5 + 1e-6
    assert torch.allclose(color.ycbcr_to_rgb(ycc, matrix), rgb, atol=1e-5)


def test_grey_luma_with_zero_chroma_is_grey():
    luma = torch.linspace(0, 1, 11).view(1, 1, 11)
    rgb = color.luma_ab_to_rgb(luma, torch.zeros(2, 1, 11))
    assert torch.allclose(rgb[0], rgb[1], atol=1e-4) and torch.allclose(rgb[1], rgb[2], atol=1e-4)
    assert torch.allclose(color.rgb_to_luma(rgb), luma, atol=2e-3)


def test_bad_channel_count_raises():
    with pytest.raises(ValueError, match=r"\(\*, 3, H, W\)"):
        color.rgb_to_lab(torch.rand(2, 4, 4))


@pytest.mark.parametrize(("h", "w", "expected"), [(1080, 1920, (256, 448)), (480, 640, (256, 352)), (144, 176, (256, 320)), (1920, 1080, (256, 160))])
def test_model_size_keeps_aspect_in_multiples_of_32(h, w, expected):
    assert color.model_size(h, w, 256) == expected


def test_model_size_rejects_bad_height():
    with pytest.raises(ValueError, match="multiple of 32"):
        color.model_size(480, 640, 250)


@pytest.mark.parametrize(("depth", "full"), [(8, False), (10, False), (8, True)])
def test_luma_levels_round_trip(depth, full):
    top = (1 << depth) - 1
    y = np.random.default_rng(0).integers(0 if full else 16 << (depth - 8), top if full else 235 << (depth - 8), (6, 5))
    y = y.astype(np.uint8 if depth == 8 else np.uint16)
    assert np.array_equal(color.quantize_luma(color.normalize_luma(y, depth, full), depth, full), y)


def test_neutral_chroma_is_mid_code():
    luma = np.full((32, 64), 0.4, np.float32)
    cb, cr = color.chroma_planes(luma, np.zeros((2, 32, 64), np.float32), (12, 20))
    assert cb.shape == (12, 20) and cb.dtype == np.uint8
    assert np.abs(cb.astype(int) - 128).max() <= 1 and np.abs(cr.astype(int) - 128).max() <= 1


def test_positive_a_makes_red_chroma():
    luma = np.full((32, 32), 0.5, np.float32)
    ab = np.zeros((2, 32, 32), np.float32)
    ab[0] = 40  # towards red
    cb, cr = color.chroma_planes(luma, ab, (16, 16))
    assert cr.mean() > 140  # red raises Cr


def test_stylized_planes_shapes_and_detail():
    rng = np.random.default_rng(1)
    y = rng.integers(16, 236, (45, 61)).astype(np.uint8)
    rgb = np.full((3, 32, 64), 0.5, np.float32)
    flat = color.stylized_planes(y, rgb, (23, 31), detail=0.0)
    detailed = color.stylized_planes(y, rgb, (23, 31), detail=1.0)
    assert [p.shape for p in flat] == [(45, 61), (23, 31), (23, 31)]
    assert flat[0].std() < 1 < detailed[0].std()  # flat grey output gains the source's texture


def test_chroma_fits_gamut_so_black_stays_black():
    luma = torch.tensor([0.0, 0.02, 0.5, 1.0]).view(1, 1, 4)
    cbcr = torch.full((2, 1, 4), 0.3)
    fitted = color.fit_chroma_to_gamut(luma, cbcr)
    assert fitted[:, 0, 0].abs().max() == 0 and fitted[:, 0, 3].abs().max() == 0
    rgb = color.ycbcr_to_rgb(torch.cat([luma, fitted]))
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5
    small = torch.full((2, 1, 4), 0.01)
    assert torch.allclose(color.fit_chroma_to_gamut(torch.full((1, 1, 4), 0.5), small), small)  # in gamut: unchanged
