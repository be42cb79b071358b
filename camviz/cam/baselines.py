"""Trivial maps to read the localization scores against (`camviz.cam.localization`): what a map that knows nothing
about the image scores on the same objects. No forward pass; the maps are made at the object mask's size.

- `center`: a Gaussian at the image centre, sigma a quarter of the height and of the width. Its maximum is the
  centre pixel, so its pointing game is TorchRay's "center" baseline (TorchRay's pointing-game benchmark, Fong,
  Patrick and Vedaldi, ICCV 2019, after Zhang et al. 2016: 69.6 % on VOC07 where Grad-CAM on ResNet-50 gets 90.4 %); its
  energy and IoU say how much a centred blob covers the object.
- `random`: uniform noise in [0, 1), seeded by the image's index in the listing (the same map on every run, shard
  and resume). Its pointing is a pixel drawn at random; its energy in the object is about the object's share of
  the image.

`paired_better` decides whether the CAM beats a baseline on the same images: one-sided paired tests at
`SIGNIFICANCE` (pointing: the exact McNemar test, a binomial test on the images where exactly one of the two hits;
energy and IoU: the Wilcoxon signed-rank test), so that 71 % against 70 % on a few dozen images is no better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest, wilcoxon

from camviz.cam.localization import LOCALIZATION_NAMES, energy_in_object, pointing_hit, thresholded_iou

BASELINES: tuple[str, ...] = ("center", "random")
BASELINE_NAMES: tuple[str, ...] = tuple(f"{baseline}_{name}" for baseline in BASELINES for name in LOCALIZATION_NAMES)
CENTER_SIGMA = 0.25  # the Gaussian's sigma as a fraction of the image's height and width
SIGNIFICANCE = 0.05


def center_map(height: int, width: int) -> np.ndarray:
    """A Gaussian in [0, 1] with its peak (1) at pixel (height // 2, width // 2), the point TorchRay's "center"
    baseline sets, float32 [height, width]."""
    rows = (np.arange(height, dtype=np.float32) - height // 2) / max(CENTER_SIGMA * height, 1e-6)
    cols = (np.arange(width, dtype=np.float32) - width // 2) / max(CENTER_SIGMA * width, 1e-6)
    return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2)).astype(np.float32)


def random_map(height: int, width: int, seed: int) -> np.ndarray:
    """Uniform noise in [0, 1), float32 [height, width], seeded."""
    return np.random.default_rng(seed).random((height, width), dtype=np.float32)


def baseline_scores(mask: np.ndarray, seed: int) -> dict[str, float]:
    """Each baseline's `pointing_hit`, `energy_in_object` and `iou` against an object mask (bool [H, W]), named
    `center_pointing_hit`, ..., `random_iou`; `seed` (the image's index) seeds the random map."""
    height, width = mask.shape
    scores: dict[str, float] = {}
    for name, cam in (("center", center_map(height, width)), ("random", random_map(height, width, seed))):
        scores |= {f"{name}_pointing_hit": float(pointing_hit(cam, mask)),
                   f"{name}_energy_in_object": energy_in_object(cam, mask), f"{name}_iou": thresholded_iou(cam, mask)}
    return scores


def paired_p(cam: Sequence[float], baseline: Sequence[float], *, hits: bool) -> float:
    """The p-value of a one-sided paired test that the CAM's scores are higher than the baseline's on the same
    images: `hits` (pointing, 0/1): the exact McNemar test; else the Wilcoxon signed-rank test (zero differences
    dropped). 1.0 when the two never differ."""
    a, b = np.asarray(cam, np.float64), np.asarray(baseline, np.float64)
    if hits:
        wins, losses = int(((a > 0) & (b == 0)).sum()), int(((a == 0) & (b > 0)).sum())
        return float(binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0
    differences = a - b
    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, alternative="greater").pvalue)


def paired_better(cam: Sequence[float], baseline: Sequence[float], *, hits: bool) -> bool:
    """Whether the CAM beats the baseline on the same images: `paired_p` below `SIGNIFICANCE`."""
    return paired_p(cam, baseline, hits=hits) < SIGNIFICANCE
