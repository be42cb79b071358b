"""ROAD combined (Rong, Leemann, Borisov, Kasneci and Kasneci, "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022) with the numbers of pytorch-grad-cam's `ROADCombined`, at a fraction of its cost.

The definition is the library's (`pytorch_grad_cam/metrics/road.py`, `perturbation_confidence.py`), step by step:

- for each percentile p, least relevant first (LeRF: the pixels with `1 - cam < percentile(1 - cam, p)` are kept)
  and most relevant first (MoRF: `cam < percentile(cam, p)` are kept), every other pixel is imputed by
  `NoisyLinearImputer`: the value that equals the weighted mean of its 8 neighbours inside the image (weights 1/6
  for the 4 nearest, 1/12 for the diagonals), one sparse linear system per image, percentile and channel, plus
  0.01 x standard normal noise;
- the score of a perturbed image is its class probability (`ClassifierOutputSoftmaxTarget`) minus the original
  image's; each order's scores are averaged over the percentiles; ROAD combined = (LeRF - MoRF) / 2.

What differs is only how the work is done: on the CPU the systems are built with vectorised index arithmetic (no
`lil_matrix` element assignment) and factorised by SuperLU in single precision with a symmetric ordering (the matrix
is symmetric: the same weight joins i to j and j to i), as many at once as torch has threads (SuperLU releases the
GIL); on a CUDA device they are solved together by conjugate gradients in float64 (`camviz.cam.road_iterative`); the
noise is drawn from torch's generator in the library's order (LeRF percentiles, then MoRF, image by image), so the
same seed gives the same noise; the original probabilities come from one forward pass instead of one per percentile
and order; the perturbed images of all percentiles, both orders and the whole batch go through the model
`batch_size` at a time, channels-last. Per image, the scores equal the library's to float32 precision
(tests/cam/test_road.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu
from torch import nn

from camviz.cam.road_iterative import linear_fill

NOISE = 0.01  # `NoisyLinearImputer(noise=0.01)`
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (  # (row offset, column offset, weight): the library's `neighbors_weights`
    (1, 1, 1 / 12), (0, 1, 1 / 6), (-1, 1, 1 / 12), (1, -1, 1 / 12),
    (0, -1, 1 / 6), (-1, -1, 1 / 12), (1, 0, 1 / 6), (-1, 0, 1 / 6),
)


@dataclass(frozen=True, kw_only=True)
class Road:
    """ROAD's percentiles, how many perturbed images go through the model at a time, and how the imputation's
    systems are solved: `direct` (SuperLU, on the CPU), `iterative` (conjugate gradients on the inputs' device,
    `camviz.cam.road_iterative`), or `auto` (iterative on a CUDA device, direct elsewhere)."""

    percentiles: Sequence[int] = (20, 40, 60, 80)
    batch_size: int = 32
    solver: str = "auto"


def keep_mask(cam: np.ndarray, percentile: int, *, most_relevant_first: bool) -> np.ndarray:
    """1 where a pixel is kept, 0 where it is imputed: `RemoveMostRelevantFirst` / `RemoveLeastRelevantFirst`."""
    mask = cam if most_relevant_first else 1 - cam
    return (mask < np.percentile(mask, percentile)).astype(np.float32)


def impute(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`NoisyLinearImputer`'s noiseless fill of `image` [C, H, W] where `keep` [H, W] is 0: float32 [C, missing]."""
    height, width = keep.shape
    missing = keep.ravel() < 0.5
    indices = np.flatnonzero(missing)
    if not len(indices):
        return np.zeros((image.shape[0], 0), np.float32)
    variable = np.full(height * width, -1)
    variable[indices] = np.arange(len(indices))
    rows, cols = indices // width, indices % width
    flat = image.reshape(image.shape[0], -1)
    diagonal = np.ones(len(indices))
    right = np.zeros((len(indices), image.shape[0]))
    entries = []
    for down, across, weight in NEIGHBOURS:
        row, col = rows + down, cols + across
        inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
        diagonal[~inside] -= weight
        neighbour = np.where(inside, row * width + col, 0)
        known, unknown = inside & ~missing[neighbour], inside & missing[neighbour]
        right[known] -= weight * flat[:, neighbour[known]].T
        entries.append((np.flatnonzero(unknown), variable[neighbour[unknown]], weight))
    at = np.concatenate([np.arange(len(indices)), *(e[0] for e in entries)])
    to = np.concatenate([np.arange(len(indices)), *(e[1] for e in entries)])
    values = np.concatenate([-diagonal, *(np.full(len(e[0]), e[2]) for e in entries)])
    system = coo_matrix((values, (at, to)), shape=(len(indices), len(indices))).tocsc().astype(np.float32)
    solved = splu(system, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(right.astype(np.float32))
    return np.asarray(solved, np.float32).T


def perturbed(inputs: torch.Tensor, cams: np.ndarray, road: Road = Road()) -> torch.Tensor:
    """Every image ROAD scores: [2 * P * B, C, H, W] on the inputs' device, LeRF then MoRF, percentile by percentile,
    image by image (the library's order, so torch's generator gives each the library's noise)."""
    systems = [(position, keep_mask(cam, percentile, most_relevant_first=most_relevant_first))
               for most_relevant_first in (False, True) for percentile in road.percentiles
               for position, cam in enumerate(cams)]
    noise = [NOISE * torch.randn(inputs.shape[1], int((keep == 0).sum())) for _, keep in systems]
    iterative = road.solver == "iterative" or (road.solver == "auto" and inputs.device.type == "cuda")
    fill = _iterative_fill if iterative else _direct_fill
    return fill(inputs.detach().float(), systems, noise, road.batch_size)


def _direct_fill(inputs: torch.Tensor, systems: list[tuple[int, np.ndarray]], noise: list[torch.Tensor],
                 _: int) -> torch.Tensor:
    """The systems factorised by SuperLU on the CPU (`impute`), as many at a time as torch has CPU threads (SuperLU
    releases the GIL while it factorises)."""
    images = inputs.cpu().numpy()
    out = np.empty((len(systems), *images.shape[1:]), np.float32)

    def fill(row: int) -> None:
        (position, keep), drawn = systems[row], noise[row]
        image = images[position]
        filled = out[row].reshape(image.shape[0], -1)
        filled[:] = image.reshape(image.shape[0], -1)
        filled[:, np.flatnonzero(keep.ravel() == 0)] = impute(image, keep) + drawn.numpy()

    largest_first = sorted(range(len(systems)), key=lambda row: -int((systems[row][1] == 0).sum()))
    with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
        list(pool.map(fill, largest_first))
    return torch.from_numpy(out).to(inputs.device)


def _iterative_fill(inputs: torch.Tensor, systems: list[tuple[int, np.ndarray]], noise: list[torch.Tensor],
                    batch_size: int) -> torch.Tensor:
    """The systems solved by conjugate gradients on the inputs' device, `batch_size` at a time."""
    out = []
    for start in range(0, len(systems), batch_size):
        chunk = systems[start:start + batch_size]
        keep = torch.from_numpy(np.stack([mask for _, mask in chunk]))[:, None]
        dense = torch.zeros(len(chunk), inputs.shape[1], keep[0].numel())
        for row, ((_, mask), drawn) in enumerate(zip(chunk, noise[start:start + batch_size], strict=True)):
            dense[row][:, torch.from_numpy(mask.ravel() == 0)] = drawn
        keep = keep.to(inputs.device)
        solved = linear_fill(inputs[[position for position, _ in chunk]], keep).float()
        out.append(torch.where(keep > 0.5, solved, solved + dense.reshape(solved.shape).to(inputs.device)))
    return torch.cat(out)


def road_combined(model: nn.Module, inputs: torch.Tensor, cams: np.ndarray, categories: Sequence[int],
                  road: Road = Road()) -> np.ndarray:
    """ROAD combined for each image of `inputs` [B, C, H, W] (on the model's device) and its map `cams` [B, H, W]
    (float32), explaining `categories[i]`: float32 [B], as `ROADCombined(percentiles)` gives. Under `no_grad`;
    the noise comes from torch's global generator, as the library's does."""
    classes = torch.tensor([int(c) for c in categories], device=inputs.device)
    with torch.no_grad():
        before = _probabilities(model, inputs, classes, road.batch_size)
        images = perturbed(inputs, np.asarray(cams, np.float32), road)
        after = _probabilities(model, images.to(inputs.device), classes.repeat(2 * len(road.percentiles)),
                               road.batch_size)
    changes = (after.reshape(2, len(road.percentiles), len(inputs)) - before).astype(np.float32)
    lerf, morf = (np.mean(changes[order], axis=0) for order in (0, 1))
    return np.asarray((lerf - morf) / 2, np.float32)


def _probabilities(model: nn.Module, images: torch.Tensor, classes: torch.Tensor, batch_size: int) -> np.ndarray:
    """Each image's softmax probability of its class (`ClassifierOutputSoftmaxTarget`), `batch_size` at a time. The
    images go in channels-last (NHWC): CPU convolutions take a fifth less time, and the logits stay the same to
    float32 rounding."""
    parts = []
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size].contiguous(memory_format=torch.channels_last))
        chosen = classes[start:start + batch_size, None]
        parts.append(torch.softmax(logits, dim=-1).gather(1, chosen)[:, 0].float().cpu().numpy())
    return np.concatenate(parts)
