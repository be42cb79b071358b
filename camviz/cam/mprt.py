"""The repaired model-parameter randomisation tests, whole: Efficient MPRT and Smooth MPRT (Hedström et al. 2023,
"Sanity Checks Revisited: An Exploration to Repair the Model Parameter Randomisation Test", XAI in Action workshop at
NeurIPS 2023, arXiv:2401.06465), computed as Quantus 0.6 computes them (`quantus.EfficientMPRT`,
`quantus.SmoothMPRT`; `tests/cam/test_mprt.py` checks both against Quantus on the same model, inputs and noise).

Binder et al. (CVPR 2023, "Shortcomings of Top-Down Randomization-Based Sanity Checks for Evaluations of Deep
Neural Network Explanations") show that the cascading test's similarity rewards noisy, uninformative maps: a map
that changes into noise after randomisation scores as well as one that changes into another meaningful map, and a
top-down cascade leaves the lower layers' strong signal in place. The two repairs:

- eMPRT: compare the maps' *complexity* (the discrete entropy of their values in `N_BINS` equal bins) before and
  after every block is random: `(H(random) - H(original)) / H(original)` per image. Maps that follow what the model
  learned should turn more chaotic when nothing was learned; higher is better, and 0 or below is no rise. Two
  model states only (the trained one and one fully random copy), so it is cheap enough for a whole split.
- sMPRT: randomise bottom-up (input side first, one block more per step, as the authors recommend) and compare
  SmoothGrad-style averaged maps (`SMOOTH_SAMPLES` maps of noisy copies of the input, noise std `NOISE_MAGNITUDE`
  times the input's range, the last copy noise-free), so that noise in the maps is not read as a change. The
  score is each step's Spearman rank correlation with the trained model's smoothed maps; lower is better.

Both are filters, not rankings (Binder et al.): a method that fails them is not explaining the model's learned
function; one that passes is not thereby a good explanation. The result is numbers and verdict values;
`camviz.output.mprt` puts them in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch
from torch import nn

from camviz.cam.engine import CamEngine
from camviz.cam.randomisation import HIGH_RANK_CORRELATION, Judged, class_cams, original_maps
from camviz.cam.similarity import defined_median, rank_correlation
from camviz.discovery.output_kind import OutputKind

N_BINS = 100  # quantus.EfficientMPRT's bins when no binning rule is given
SMOOTH_SAMPLES = 50  # quantus.SmoothMPRT's nr_samples (the paper's ImageNet setting)
NOISE_MAGNITUDE = 0.1  # quantus.SmoothMPRT's noise_magnitude: noise std as a fraction of each input's value range
EMPRT_RISE = 0.0  # a median eMPRT above it: the maps grow more complex once the model is random (the paper: > 0)


def discrete_entropy(cam: np.ndarray, n_bins: int = N_BINS) -> float:
    """The entropy (nats) of a map's values binned into `n_bins` equal-width bins over its own range, as Quantus'
    `discrete_entropy`: 0 for a constant map."""
    histogram, _ = np.histogram(cam, bins=n_bins)
    return float(scipy.stats.entropy(histogram))


@dataclass(frozen=True, kw_only=True)
class EmprtScores:
    """Per image: the entropy of the trained model's map, of the fully random model's, and the eMPRT score."""

    original: np.ndarray  # float [N], nats
    randomised: np.ndarray  # float [N]
    scores: np.ndarray  # float [N]: (randomised - original) / original; NaN where the original map is constant

    @classmethod
    def of(cls, original: np.ndarray, randomised: np.ndarray, n_bins: int = N_BINS) -> EmprtScores:
        """The scores of maps `original` and `randomised` ([N, H, W] each, the same images and classes)."""
        before = np.array([discrete_entropy(cam, n_bins) for cam in original])
        after = np.array([discrete_entropy(cam, n_bins) for cam in randomised])
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(before > 0, (after - before) / np.where(before > 0, before, 1.0), np.nan)
        return cls(original=before, randomised=after, scores=scores)

    @classmethod
    def joined(cls, parts: Sequence[EmprtScores]) -> EmprtScores:
        """Batches' scores as one run's."""
        return cls(original=np.concatenate([p.original for p in parts]),
                   randomised=np.concatenate([p.randomised for p in parts]),
                   scores=np.concatenate([p.scores for p in parts]))

    @property
    def median(self) -> float:
        """The median over images with a defined score (NaN when none has one)."""
        return defined_median(self.scores)

    @property
    def flat_randomised(self) -> int:
        """How many of the random model's maps are constant (entropy 0, a score of -1)."""
        return int((self.randomised == 0).sum())


def emprt_verdict(scores: EmprtScores) -> Judged:
    """Passes when the median eMPRT is above `EMPRT_RISE`: the maps grow more complex once every block is random."""
    median = scores.median
    if not np.isfinite(median):
        return Judged.cannot_judge
    return Judged.passes if median > EMPRT_RISE else Judged.fails


@dataclass(frozen=True, kw_only=True)
class EmprtBatch:
    """One batch's explained classes, its maps on the trained and on the fully random model, and their scores."""

    explained: list[int]
    original: np.ndarray  # float32 [B, H, W]
    randomised: np.ndarray  # float32 [B, H, W]
    scores: EmprtScores


def emprt_batch(trained: CamEngine, randomised: CamEngine, inputs: torch.Tensor, kind: OutputKind,
                target_category: int | None = None) -> EmprtBatch:
    """eMPRT on one batch: the trained model's maps of each image's explained class (`target_category`, else its
    prediction), the fully random model's maps of the same classes, and the scores."""
    original = original_maps(trained, inputs, target_category, kind, len(inputs))
    after = class_cams(randomised, inputs, original.explained, len(inputs))
    return EmprtBatch(explained=original.explained, original=original.cams, randomised=after,
                      scores=EmprtScores.of(original.cams, after))


@dataclass(frozen=True, kw_only=True)
class SmoothSettings:
    """How the smoothed maps are made and drawn: Quantus' `SmoothMPRT` defaults, batched as it batches."""

    samples: int = SMOOTH_SAMPLES
    noise_magnitude: float = NOISE_MAGNITUDE
    batch_size: int = 8
    seed: int = 0  # seeds the noise (a `numpy.random.RandomState`, the generator `np.random.randn` draws from)


def smooth_maps(engine: CamEngine, inputs: np.ndarray, classes: Sequence[int], settings: SmoothSettings,
                noise: np.random.RandomState) -> np.ndarray:
    """Each image's map of its class in `classes`, averaged over `settings.samples` noisy copies of its input (the
    last one noise-free), batch by batch, the noise drawn for a whole batch per sample (Quantus'
    `SmoothMPRT.explain_smooth_batch`). `inputs`: normalised float32 [N, C, H, W] on the host."""
    device = next(engine.cam.model.parameters()).device
    parts = []
    for start in range(0, len(inputs), settings.batch_size):
        x = inputs[start : start + settings.batch_size]
        own = list(classes[start : start + settings.batch_size])
        dims = tuple(range(1, x.ndim))
        std = settings.noise_magnitude * (x.max(axis=dims, keepdims=True) - x.min(axis=dims, keepdims=True))
        smooth: np.ndarray | None = None
        for n in range(settings.samples):
            epsilon = np.zeros_like(x) if n == settings.samples - 1 else noise.randn(*x.shape) * std
            noisy = torch.from_numpy(np.asarray(x + epsilon, np.float32)).to(device)
            cams = class_cams(engine, noisy, own, len(own)) / settings.samples
            smooth = cams if smooth is None else smooth + cams
        assert smooth is not None, "samples >= 1"
        parts.append(smooth)
    return np.concatenate(parts)


@dataclass(frozen=True, kw_only=True)
class SmoothStep:
    """One sMPRT step: the block randomised last (with every block before it) and each image's rank correlation of
    the smoothed map to the trained model's smoothed map."""

    block: str  # "none": the trained model's smoothed maps drawn again (how far the smoothing alone moves them)
    spearman: np.ndarray  # float [N]; NaN where a map is constant

    @property
    def median(self) -> float:
        return defined_median(self.spearman)


@dataclass(frozen=True, kw_only=True)
class SmprtResult:
    """The smoothed maps' similarity at every step, bottom-up, and the verdict."""

    repeat: SmoothStep  # the trained model's smoothed maps drawn again against the reference
    steps: list[SmoothStep]  # step k: the first k blocks from the input side random
    reference: np.ndarray  # the trained model's smoothed maps, float32 [N, H, W]
    randomised: np.ndarray  # the smoothed maps with every block random
    verdict: Judged

    @property
    def score(self) -> float:
        """The median rank correlation once every block is random (lower is better)."""
        return self.steps[-1].median if self.steps else float("nan")


def smooth_mprt(engine_for: Callable[[nn.Module], CamEngine], trained: nn.Module,  # noqa: PLR0913 -- the models, the images, how
                randomised: Iterable[tuple[str, nn.Module]], inputs: np.ndarray, classes: Sequence[int], *,
                settings: SmoothSettings) -> SmprtResult:
    """sMPRT: the trained model's smoothed maps (the reference), drawn again, then after each step of `randomised`
    ((block, the model with it and every earlier one random), input side first), each against the reference.

    The noise is drawn in Quantus' order: the reference, the repeat, then each step."""
    noise = np.random.RandomState(settings.seed)
    with engine_for(trained) as engine:
        reference = smooth_maps(engine, inputs, classes, settings, noise)
        repeat = SmoothStep(block="none", spearman=_correlations(reference, smooth_maps(engine, inputs, classes,
                                                                                         settings, noise)))
    steps, last = [], reference
    for block, model in randomised:
        with engine_for(model) as engine:
            last = smooth_maps(engine, inputs, classes, settings, noise)
        steps.append(SmoothStep(block=block, spearman=_correlations(reference, last)))
    score = steps[-1].median if steps else float("nan")
    verdict = (Judged.cannot_judge if not np.isfinite(score) else
               Judged.passes if score < HIGH_RANK_CORRELATION else Judged.fails)
    return SmprtResult(repeat=repeat, steps=steps, reference=reference, randomised=last, verdict=verdict)


def _correlations(reference: np.ndarray, maps: np.ndarray) -> np.ndarray:
    return np.array([rank_correlation(a, b) for a, b in zip(reference, maps, strict=True)])
