"""How alike two CAMs are: the two similarity measures of Adebayo et al. 2018 ("Sanity Checks for Saliency Maps").

- Spearman rank correlation of the maps' pixels (`scipy.stats.spearmanr`): the Pearson correlation of their
  ranks, ties at their mean rank. NaN when either map is constant (no ranking to compare).
- SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural Similarity") as
  scikit-image's `structural_similarity` computes it: a 7x7 uniform window, K1 = 0.01, K2 = 0.03, the sample
  covariance, over the data range of the maps (pytorch-grad-cam's maps are scaled to [0, 1]: range 1).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ConstantInputWarning, spearmanr
from skimage.metrics import structural_similarity

CAM_RANGE = 1.0  # pytorch-grad-cam scales every map to [0, 1]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape, over their pixels; NaN if either is constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two [0, 1] maps of the same 2-D shape (scikit-image's defaults: 7x7 window)."""
    return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=CAM_RANGE))


def defined_median(values: np.ndarray) -> float:
    """The median over the values that are defined (not NaN: a constant map's correlation or score); NaN when none is."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")
