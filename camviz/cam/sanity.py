"""Sanity checks for CAMs (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS): are the maps about
what the network learned?

- Model-parameter randomisation, cascading: the model's blocks are re-initialised one at a time from the output
  side toward the input (`camviz.cam.blocks`, on a fresh copy: `camviz.cam.randomise`), and after each step every
  image's CAM of its originally explained class is compared with the original map.
- Random logit: each image's CAM of a random other class against the explained class's (Quantus' `RandomLogit`).

Maps that stay alike once every block above the target layer is random would look the same for an untrained
network: they show the input's edges or the layer's activations, not the learned evidence for the class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from camviz.cam.blocks import Blocks
from camviz.cam.engine import CamEngine
from camviz.cam.randomise import Cascade
from camviz.cam.similarity import rank_correlation, ssim
from camviz.discovery.output_kind import OutputKind

HIGH_RANK_CORRELATION = 0.5  # a median at or above it after the blocks above the target are random: the warning


@dataclass
class OriginalMaps:
    """The trained model's maps: each image's explained class, its CAM of that class, and its probabilities."""

    explained: list[int]
    cams: np.ndarray  # float32 [N, H, W]
    probabilities: np.ndarray  # float32 [N, num_classes]


def original_maps(engine: CamEngine, inputs: torch.Tensor, target_category: int | None, kind: OutputKind,
                  batch_size: int) -> OriginalMaps:
    """CAMs of `target_category`, else of each image's predicted class, with the probabilities of the same pass."""
    parts = [engine.compute(chunk, target_category) for chunk in inputs.split(batch_size)]
    probabilities = np.concatenate([part.probabilities for part in parts])
    explained = [kind.explained(p, target_category)[0] for p in probabilities]
    return OriginalMaps(explained, np.concatenate([part.cams for part in parts]), probabilities)


def class_cams(engine: CamEngine, inputs: torch.Tensor, classes: Sequence[int], batch_size: int) -> np.ndarray:
    """Each image's CAM of its own class in `classes` (images of one class go through together, `batch_size` at a time)."""
    cams: np.ndarray | None = None
    for category in sorted(set(classes)):
        rows = torch.tensor([i for i, c in enumerate(classes) if c == category], dtype=torch.long)
        for chunk in rows.split(batch_size):
            batch = engine.compute(inputs[chunk.to(inputs.device)], category).cams
            if cams is None:
                cams = np.zeros((len(inputs), *batch.shape[1:]), np.float32)
            cams[chunk.numpy()] = batch
    assert cams is not None, "no images"
    return cams


def cascade_cams(cascade: Cascade, engine_for: Callable[[nn.Module], CamEngine], inputs: torch.Tensor,
                 classes: Sequence[int], batch_size: int, *,
                 on_step: Callable[[], None] = lambda: None) -> list[np.ndarray]:
    """The CAMs of `classes` after each cascade step: item k - 1 has the first k blocks (output side) random."""
    maps: dict[int, np.ndarray] = {}
    with engine_for(cascade.model) as engine:
        for k, _ in cascade.steps():
            maps[k] = class_cams(engine, inputs, classes, batch_size)
            on_step()
    return [maps[k] for k in sorted(maps)]


def random_other_classes(explained: Sequence[int], num_classes: int, seed: int = 0) -> list[int]:
    """For each explained class, another class drawn uniformly from the rest (seeded)."""
    rng = np.random.default_rng(seed)
    return [int(rng.choice([c for c in range(num_classes) if c != own])) for own in explained]


@dataclass(frozen=True)
class StepScores:
    """One step's similarity of each image's map to its original: Spearman rank correlation and SSIM."""

    step: str  # "1", "2", ... for the cascade; "random_logit"
    block: str  # the block randomised at this step
    spearman: np.ndarray  # float [N]; NaN where a map is constant
    ssim: np.ndarray  # float [N]
    classes: list[str] | None = None  # the random logit: each image's other class

    def label(self, image: int) -> str:
        """What this step changed for one image: the block, or the other class."""
        return self.block if self.classes is None else self.classes[image]

    @property
    def median_spearman(self) -> float:
        """The median over images with a defined correlation (NaN when none has one)."""
        finite = self.spearman[np.isfinite(self.spearman)]
        return float(np.median(finite)) if finite.size else float("nan")

    @property
    def median_ssim(self) -> float:
        return float(np.median(self.ssim))


def similarity_to(original: np.ndarray, cams: np.ndarray, step: str, block: str,
                  classes: list[str] | None = None) -> StepScores:
    """Each map of `cams` against the same image's `original` map."""
    pairs = list(zip(original, cams, strict=True))
    return StepScores(step, block, np.array([rank_correlation(a, b) for a, b in pairs]),
                      np.array([ssim(a, b) for a, b in pairs]), classes)


@dataclass(frozen=True)
class Verdict:
    """The cascade's conclusion: whether the maps depend on the learned weights, in words."""

    depends_on_weights: bool | None  # None: no block above the target layer to judge by
    text: str


def verdict(cascade: Sequence[StepScores], blocks: Blocks, judged: Sequence[float]) -> Verdict:
    """Judge by the step after which every block above the target layer is random, over independent random
    initialisations of those blocks (`judged`: that step's median rank correlation in each; the first is the
    cascade's own). It stays at or above `HIGH_RANK_CORRELATION` in every one: the warning. One draw alone can
    keep a map by chance (a random head row whose sum is positive where the target layer fires)."""
    if not blocks.above:
        return Verdict(None, "no block with weights comes after the target layer: randomising the model above it "
                             "cannot be tested; pick an earlier --target-layer")
    above = ", ".join(blocks.above)
    values = ", ".join(_shown(value) for value in judged)
    draws = f"{len(judged)} random initialisation{'s' if len(judged) > 1 else ''}"
    if all(np.isfinite(value) and value >= HIGH_RANK_CORRELATION for value in judged):
        return Verdict(False, f"WARNING: the maps barely change when every block above the target layer ({above}) is "
                              f"randomised (median rank correlation {values} over {draws}, each >= "
                              f"{HIGH_RANK_CORRELATION}): they would look the same with those blocks untrained, so "
                              "they show the target layer's activations rather than what this model learned to tell "
                              "the classes apart")
    falls = next((s for s in cascade if not s.median_spearman >= HIGH_RANK_CORRELATION), None)  # NaN falls too
    cascade_text = ("in the cascade it stays at or above that down to the input" if falls is None else
                    f"in the cascade it falls to {_shown(falls.median_spearman)} once {falls.block} is randomised "
                    f"(step {falls.step})")
    return Verdict(True, f"the maps depend on the learned weights: with every block above the target layer ({above}) "
                         f"random, the median rank correlation is {values} over {draws}; {cascade_text}")


def _shown(value: float) -> str:
    """A median as text: two decimals, or why there is none."""
    return f"{value:.2f}" if np.isfinite(value) else "undefined (constant maps)"
