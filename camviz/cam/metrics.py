"""Per-sample faithfulness scores for CAMs, by pytorch-grad-cam's own metrics (`pytorch_grad_cam.metrics`).

Both scores are changes in the explained class's softmax probability, so higher is better and they are
comparable across images and models:

- `road_combined`: ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution
  Methods") as `ROADCombined(percentiles=[20, 40, 60, 80])`: the mean of (probability after imputing the
  least relevant pixels) - (probability after imputing the most relevant ones), over the percentiles, / 2.
  In [-0.5, 0.5]. The library's numbers, computed faster: see `camviz.cam.road`.
- `cam_confidence_change`: `CamMultImageConfidenceChange`: probability of the (normalised) input multiplied
  by the CAM minus probability of the input. In [-1, 1]; near 0 when the map keeps all the evidence.
- `deletion_auc` (lower is better) and `insertion_auc` (higher is better): RISE's deletion and insertion
  (Petsiuk et al. 2018), which pytorch-grad-cam does not have: see `camviz.cam.deletion`. In [0, 1].

The targets are `ClassifierOutputSoftmaxTarget`, as pytorch-grad-cam's README does for its metrics: a raw
logit can rise while the class loses to another, and logit scales differ between models.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from camviz.cam.deletion import Curve, Ranked, deletion_auc, insertion_auc, relevance_ranks
from camviz.cam.road import Road, road_combined
from camviz.errors import UsageError

METRIC_NAMES: tuple[str, ...] = ("road_combined", "cam_confidence_change", "deletion_auc", "insertion_auc")
METRIC_FLAGS: dict[str, str] = {"road": "road_combined", "confidence": "cam_confidence_change",
                                "deletion": "deletion_auc", "insertion": "insertion_auc"}  # `--metrics` names
ROAD_PERCENTILES: tuple[int, ...] = (20, 40, 60, 80)
_SEED = 0  # ROAD's imputer adds noise from torch's global generator: seeded (in a forked RNG) for repeatable scores


@dataclass(frozen=True, kw_only=True)
class Scoring:
    """Which metrics score the maps, and how many images go through them at a time."""

    metrics: Sequence[str] = METRIC_NAMES
    batch_size: int = 32


def metric_names(text: str) -> tuple[str, ...]:
    """`--metrics road,deletion` -> ("road_combined", "deletion_auc"), in `METRIC_NAMES` order; `all` (a bare
    `--metrics`) -> every metric. Each part is a short name (`METRIC_FLAGS`) or a column name."""
    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    if parts == ["all"]:
        return METRIC_NAMES
    unknown = [part for part in parts if part not in METRIC_FLAGS and part not in METRIC_NAMES]
    if unknown or not parts:
        raise UsageError(f"--metrics: unknown metric {', '.join(unknown) or repr(text)}; choose from "
                         f"{', '.join(METRIC_FLAGS)} (comma-separated), or all")
    chosen = {METRIC_FLAGS.get(part, part) for part in parts}
    return tuple(name for name in METRIC_NAMES if name in chosen)


def faithfulness_scores(model: nn.Module, inputs: torch.Tensor, cams: np.ndarray, target_categories: Sequence[int],
                        scoring: Scoring = Scoring()) -> dict[str, np.ndarray]:
    """One float32 array of length B per metric name, for CAMs [B, H, W] in [0, 1] of `inputs` [B, C, H, W].

    `target_categories[i]` is the class that `cams[i]` explains. The model should be in eval mode. Runs under
    `torch.no_grad()` (no graph, no parameter gradients) in chunks of `scoring.batch_size`; the caller's RNG state
    is left as it was.
    """
    return timed_faithfulness_scores(model, inputs, cams, target_categories, scoring)[0]


def timed_faithfulness_scores(model: nn.Module, inputs: torch.Tensor, cams: np.ndarray,
                              target_categories: Sequence[int],
                              scoring: Scoring = Scoring()) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """`faithfulness_scores`, and the seconds each metric took (wall clock, results back on the host)."""
    metrics, batch_size = scoring.metrics, scoring.batch_size
    unknown = [name for name in metrics if name not in METRIC_NAMES]
    if unknown:
        raise UsageError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}")
    cams = np.asarray(cams, dtype=np.float32)
    if cams.shape != (inputs.shape[0], *inputs.shape[-2:]) or len(target_categories) != len(inputs):
        raise ValueError(
            f"cams {cams.shape}, inputs {tuple(inputs.shape)} and {len(target_categories)} targets do not match"
        )
    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {name: [] for name in metrics}
    seconds = dict.fromkeys(metrics, 0.0)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        for start in range(0, len(inputs), batch_size):
            chunk = slice(start, start + batch_size)
            batch = inputs[chunk].detach().to(device)
            for name in metrics:
                began = time.perf_counter()
                parts[name].append(_score(name, model, batch, cams[chunk], list(target_categories[chunk])))
                seconds[name] += time.perf_counter() - began
    return {name: np.concatenate(arrays).astype(np.float32) for name, arrays in parts.items()}, seconds


def _score(name: str, model: nn.Module, batch: torch.Tensor, cams: np.ndarray, categories: list[int]) -> np.ndarray:
    """One metric on one chunk, by the library's metric object (which takes the whole chunk) or `cam.deletion`."""
    if name in ("deletion_auc", "insertion_auc"):
        area = deletion_auc if name == "deletion_auc" else insertion_auc
        ranks = relevance_ranks(rank_with_random_ties(cams), batch.device)
        return area(model, batch, Ranked(ranks=ranks, categories=categories), Curve(batch_size=max(32, len(batch))))
    targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in categories]
    with warnings.catch_warnings():  # the library calls np.float32() on torch tensors: NumPy 2 deprecation noise
        warnings.filterwarnings("ignore", "__array_wrap__ must accept context", DeprecationWarning)
        if name == "road_combined":
            return road_combined(model, batch, rank_with_random_ties(cams), categories,
                                 Road(percentiles=ROAD_PERCENTILES, batch_size=len(batch)))
        metric = CamMultImageConfidenceChange()
        return np.asarray(metric(batch, cams, targets, model, return_visualization=False), dtype=np.float32)


def rank_with_random_ties(cams: np.ndarray, seed: int = _SEED) -> np.ndarray:
    """Each map replaced by its pixels' ranks scaled to [0, 1], equal values ordered at random (seeded).

    ROAD only compares pixels with percentile thresholds (`cam < np.percentile(cam, p)`), so ranks keep
    the order it sees. Without this, a map that is 0 on more than p% of the image (common after Grad-CAM's
    ReLU) makes "remove the top (100 - p)%" remove the whole image, and methods would be scored at
    different removal fractions.
    """
    rng = np.random.default_rng(seed)
    flat = cams.reshape(len(cams), -1)
    ranked = np.empty_like(flat, dtype=np.float32)
    scale = max(flat.shape[1] - 1, 1)
    for row, values in enumerate(flat):
        order = np.lexsort((rng.random(values.size), values))
        ranked[row, order] = np.arange(values.size, dtype=np.float32) / scale
    return ranked.reshape(cams.shape)
