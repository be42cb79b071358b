"""Spearman and SSIM of CAMs against the field's reference implementations (Quantus' similarity functions, which
its MPRT and RandomLogit use) and the textbook definitions, on the same arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from quantus.functions.similarity_func import correlation_spearman
from quantus.functions.similarity_func import ssim as quantus_ssim
from scipy.ndimage import uniform_filter

from camviz.cam.similarity import rank_correlation, ssim


def _cam_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Map pairs in [0, 1] (each reaching 0 and 1, as pytorch-grad-cam scales them): smooth, noisy, with ties."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:56, 0:56]
    blob = np.exp(-((x - 20) ** 2 + (y - 30) ** 2) / 80.0)
    noisy = np.clip(blob + rng.normal(0, 0.2, blob.shape), 0, None)
    relu_ties = np.maximum(rng.normal(0, 1, (56, 56)), 0)  # many exact zeros: ties
    pairs = [(blob, noisy), (blob, relu_ties), (noisy, relu_ties), (blob, blob[::-1])]
    return [tuple((m - m.min()) / (m.max() - m.min()) for m in pair) for pair in pairs]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values at their mean rank (Spearman's definition), without scipy."""
    flat = values.ravel()
    order = np.argsort(flat, kind="stable")
    ranks = np.empty(flat.size)
    sorted_values = flat[order]
    start = 0
    while start < flat.size:
        end = start
        while end + 1 < flat.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _ssim_by_definition(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 with a 7x7 mean window, sample covariance, C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1,
    averaged over the pixels whose window lies inside the map."""
    win, n = 7, 49
    mean = lambda m: uniform_filter(m, size=win)  # noqa: E731
    mu_a, mu_b = mean(a), mean(b)
    cov = n / (n - 1)
    var_a = cov * (mean(a * a) - mu_a**2)
    var_b = cov * (mean(b * b) - mu_b**2)
    cov_ab = cov * (mean(a * b) - mu_a * mu_b)
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov_ab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    pad = (win - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


@pytest.mark.parametrize("pair", range(4))
def test_rank_correlation_matches_quantus_and_the_definition(pair: int) -> None:
    a, b = _cam_pairs()[pair]
    ours = rank_correlation(a, b)
    assert ours == pytest.approx(float(correlation_spearman(a.ravel(), b.ravel())), abs=1e-4)
    assert ours == pytest.approx(float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1]), abs=1e-4)


@pytest.mark.parametrize("pair", range(4))
def test_ssim_matches_quantus_and_the_definition(pair: int) -> None:
    a, b = _cam_pairs()[pair]
    ours = ssim(a, b)
    assert ours == pytest.approx(float(quantus_ssim(a, b)), abs=1e-4)
    assert ours == pytest.approx(_ssim_by_definition(a, b), abs=1e-4)


def test_identical_maps_score_one_and_reversed_ranks_minus_one() -> None:
    a = _cam_pairs()[0][0]
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert ssim(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, 1.0 - a) == pytest.approx(-1.0)


def test_a_constant_map_has_no_rank_correlation() -> None:
    a = _cam_pairs()[0][0]
    assert math.isnan(rank_correlation(a, np.zeros_like(a)))
    assert 0.0 < ssim(a, np.zeros_like(a)) < ssim(a, a)  # SSIM stays defined (the background agrees)
