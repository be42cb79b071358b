"""Deletion and insertion scores (Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC 2018), on the device, many perturbed copies per forward pass.

Pixels are ordered by the CAM, most relevant first (equal values in a seeded random order, as for ROAD). A curve
follows the explained class's softmax probability as the first k pixels are changed, for k = 0, s, 2s, ..., H*W
with s = ceil(H*W / steps) (torchcam 0.5's `DeletionInsertionMetric` schedule); its area over the fraction of
pixels changed (trapezoidal rule) is the score:

- `deletion_auc` (lower is better): the first k pixels are set to zero *in the model's normalised input*, i.e.
  to the normalisation's mean colour (RISE's deletion substrate, `torch.zeros_like`; torchcam's default baseline).
- `insertion_auc` (higher is better): starting from a Gaussian-blurred copy of the input (RISE's insertion
  substrate: an 11-pixel kernel, sigma 5), the first k pixels are restored from the input.

Each score is in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

DELETION_STEPS = 20
BLUR_KERNEL = 11  # RISE's `gkern(klen=11, nsig=5)`
BLUR_SIGMA = 5.0


def removal_counts(num_pixels: int, steps: int = DELETION_STEPS) -> list[int]:
    """How many pixels are changed at each point of a curve: 0, s, 2s, ..., then all of them."""
    step = -(-num_pixels // steps)
    return [*range(0, num_pixels, step), num_pixels]


def relevance_ranks(ranked_cams: np.ndarray, device: torch.device) -> torch.Tensor:
    """Each pixel's place in its map's order, 0 for the most relevant: long [B, H*W] on `device`.

    `ranked_cams` [B, H, W] must hold distinct values per map (`camviz.cam.metrics.rank_with_random_ties`).
    """
    flat = torch.as_tensor(ranked_cams, device=device).flatten(1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    return torch.argsort(order, dim=1)


def blurred(inputs: torch.Tensor) -> torch.Tensor:
    """RISE's insertion start: the input under a Gaussian blur (11-pixel kernel, sigma 5), by torchvision."""
    return gaussian_blur(inputs, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])


@dataclass(frozen=True, kw_only=True)
class Ranked:
    """The maps being scored: each pixel's place in its map's order (`relevance_ranks`) and each map's class."""

    ranks: torch.Tensor  # long [B, H*W], 0 for the most relevant pixel
    categories: Sequence[int]  # the class each map explains


@dataclass(frozen=True, kw_only=True)
class Curve:
    """How a curve is sampled: its points (`removal_counts`), and perturbed copies per forward pass."""

    steps: int = DELETION_STEPS
    batch_size: int = 32


def deletion_auc(model: nn.Module, inputs: torch.Tensor, ranked: Ranked, curve: Curve = Curve()) -> np.ndarray:
    """Area under the probability curve as the most relevant pixels are set to zero (normalised input): [B]."""
    return curve_areas(model, torch.zeros_like(inputs), inputs, ranked, curve)


def insertion_auc(model: nn.Module, inputs: torch.Tensor, ranked: Ranked, curve: Curve = Curve()) -> np.ndarray:
    """Area under the probability curve as the most relevant pixels are restored into a blurred copy: [B]."""
    return curve_areas(model, inputs, blurred(inputs), ranked, curve)


def curve_areas(model: nn.Module, first: torch.Tensor, rest: torch.Tensor, ranked: Ranked,
                curve: Curve = Curve()) -> np.ndarray:
    """For each image, the area under its class probability curve, where the point for k takes its k most
    relevant pixels from `first` and the others from `rest` (both [B, C, H, W], on the model's device).

    Perturbed copies of all images and points go through the model `curve.batch_size` at a time, under `no_grad`.
    """
    ranks = ranked.ranks
    counts = removal_counts(ranks.shape[1], curve.steps)
    jobs = [(image, point) for image in range(len(first)) for point in range(len(counts))]
    curves = np.zeros((len(first), len(counts)), np.float64)
    limits = torch.tensor(counts, device=ranks.device)
    classes = torch.tensor([int(c) for c in ranked.categories], device=ranks.device)
    with torch.no_grad():
        for start in range(0, len(jobs), curve.batch_size):
            images, points = (torch.tensor(column, device=ranks.device)
                              for column in zip(*jobs[start:start + curve.batch_size], strict=True))
            take_first = (ranks[images] < limits[points][:, None]).reshape(len(images), 1, *first.shape[2:])
            probabilities = torch.softmax(model(torch.where(take_first, first[images], rest[images])).float(), dim=1)
            picked = probabilities.gather(1, classes[images][:, None])[:, 0]
            curves[images.cpu().numpy(), points.cpu().numpy()] = picked.cpu().numpy()
    fractions = np.asarray(counts, np.float64) / ranks.shape[1]
    return np.asarray(np.trapezoid(curves, fractions, axis=1), dtype=np.float32)
