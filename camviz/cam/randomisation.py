"""The randomisation tests for CAMs (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS), whole: are
the maps about what the network learned?

- Model-parameter randomisation, cascading: the model's blocks (`camviz.cam.blocks`) are re-initialised one at a
  time from the output side toward the input, on one fresh copy (`camviz.cam.randomise`), and after each step every
  image's CAM of its originally explained class is compared with the original map (`camviz.cam.similarity`).
- Random logit: each image's CAM of a random other class against the explained class's (Quantus' `RandomLogit`).
- Repeatability: each image's map computed a second time on the untouched model, against the first. A method that
  draws at random (`randomcam`) moves the maps without any weight changing; the verdict needs them repeatable.

Maps that stay alike once every block above the target layer is random would look the same for an untrained
network: they show the input's edges or the layer's activations, not the learned evidence for the class. The
result is numbers and a `Verdict` value; `camviz.output.sanity` puts them in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch
from torch import nn

from camviz.cam.blocks import Blocks
from camviz.cam.checks import is_constant
from camviz.cam.engine import CamEngine
from camviz.cam.randomise import Cascade, Drawn, fresh_copy
from camviz.cam.similarity import defined_median, rank_correlation, ssim
from camviz.discovery.output_kind import OutputKind

HIGH_RANK_CORRELATION = 0.5  # a median at or above it after the blocks above the target are random: the warning
REPEATABLE = 0.9  # the trained model's maps computed twice keep at least this median rank correlation, or no verdict
REPEAT_STEP = "repeat"  # the step of the maps computed again on the untouched model


class SanityTest(StrEnum):
    """The tests `camviz sanity` can run (`--test`)."""

    cascading = "cascading"  # Adebayo et al. 2018's cascading model-parameter randomisation (this module)
    emprt = "emprt"  # Efficient MPRT (`camviz.cam.mprt`)
    smprt = "smprt"  # Smooth MPRT (`camviz.cam.mprt`)
    random_logit = "random-logit"  # another class's map against the explained class's (this module)


DEFAULT_TESTS = (SanityTest.cascading, SanityTest.random_logit, SanityTest.emprt)


class Judged(StrEnum):
    """A single test's verdict."""

    passes = "passes"  # the maps change as the test asks once the model (or the class) is changed
    fails = "fails"  # they do not: the warning
    cannot_judge = "cannot_judge"  # no defined score (every map constant), or the maps are not repeatable


@dataclass(frozen=True, kw_only=True)
class RandomisationSetup:
    """What the tests run on: the trained model (explained as it is, never modified), how to build it afresh and to
    put a CAM engine on it or a copy, its blocks, its classes, and the seeded draws."""

    model: nn.Module
    rebuild: Callable[[], nn.Module] | None  # a fresh build of the architecture; None: a deep copy, reset
    engine_for: Callable[[nn.Module], CamEngine]  # a CAM engine at the target layers of that model
    blocks: Blocks
    output_kind: OutputKind
    class_names: Sequence[str]  # the random logit's other classes are named by it
    num_classes: int
    target_category: int | None = None  # None: each image's predicted class
    seed: int = 0  # the cascade's fresh copy and the other classes; seed + 1, ... the other draws
    draws: int = 3  # random initialisations of the blocks above the target layer that the verdict looks at
    batch_size: int = 8
    cascading: bool = True  # run the cascade (else only the original maps, their repeat and, if asked, the logit)
    random_logit: bool = True

    @property
    def judged_draws(self) -> int:
        """The draws that are run: one when no block is above the target layer."""
        return self.draws if self.blocks.above else 1

    def map_count(self, images: int) -> int:
        """How many maps the tests compute for `images` images (the progress total)."""
        blocks = self.blocks
        cascade = len(blocks.names) + (self.judged_draws - 1) * blocks.above_target if self.cascading else 0
        return images * (2 + int(self.random_logit) + cascade)


@dataclass(frozen=True, kw_only=True)
class OriginalMaps:
    """The trained model's maps: each image's explained class, its CAM of that class, and its probabilities."""

    explained: list[int]
    cams: np.ndarray  # float32 [N, H, W]
    probabilities: np.ndarray  # float32 [N, num_classes]

    @property
    def constant(self) -> np.ndarray:
        """bool [N]: the images whose map is constant (no rank correlation with it is defined, at any step)."""
        return np.array([is_constant(cam) for cam in self.cams], dtype=bool)


@dataclass(frozen=True, kw_only=True)
class StepScores:
    """One step's similarity of each image's map to its original: Spearman rank correlation and SSIM."""

    step: str  # "1", "2", ... for the cascade; "random_logit"; `REPEAT_STEP`
    block: str  # the block randomised at this step ("none" for the repeat)
    spearman: np.ndarray  # float [N]; NaN where a map is constant
    ssim: np.ndarray  # float [N]
    classes: list[str] | None = None  # the random logit: each image's other class

    def label(self, image: int) -> str:
        """What this step changed for one image: the block, or the other class."""
        return self.block if self.classes is None else self.classes[image]

    @property
    def median_spearman(self) -> float:
        """The median over images with a defined correlation (NaN when none has one)."""
        return defined_median(self.spearman)

    @property
    def median_ssim(self) -> float:
        return float(np.median(self.ssim))


class CannotJudge(StrEnum):
    """Why the cascade gives no verdict."""

    constant_originals = "constant_originals"  # every map of the trained model is constant
    not_repeatable = "not_repeatable"  # the untouched model's maps differ between two computations
    no_block_above = "no_block_above"  # no block with weights comes after the target layer
    undefined = "undefined"  # with the blocks above the target random, no rank correlation is defined in any draw


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The cascade's conclusion: whether the maps depend on the learned weights, and the numbers it rests on."""

    depends_on_weights: bool | None  # None: cannot judge (`cannot_judge` says why)
    above: tuple[str, ...]  # the blocks above the target layer
    judged: tuple[float, ...]  # per random initialisation of those blocks: the median rank correlation (NaN: none
    #                            defined, every map constant; such a draw is left out, neither fallen nor kept)
    falls: StepScores | None  # the first cascade step whose median falls below the threshold (None: none does)
    repeatability: float  # the median rank correlation of the trained model's maps computed twice
    cannot_judge: CannotJudge | None = None
    threshold: float = HIGH_RANK_CORRELATION


@dataclass(frozen=True, kw_only=True)
class RandomisationResult:
    """Both tests' maps and scores, and the verdict."""

    blocks: Blocks
    original: OriginalMaps
    cascade: list[StepScores]  # step k: the first k blocks random (empty: the cascade was not asked for)
    cascade_maps: list[np.ndarray]  # item k - 1: the first k blocks random
    random_logit: StepScores | None  # None: not asked for
    random_maps: np.ndarray | None
    repeat: StepScores  # the trained model's maps computed again, against the first computation
    repeat_maps: np.ndarray
    judged: list[float]  # per random initialisation of the blocks above the target: the median rank correlation
    verdict: Verdict | None  # the cascade's; None: not asked for
    never_randomised: list[str]  # parameters outside every block (trained throughout)
    drawn: dict[str, Drawn]  # the blocks' parameters whose random values camviz drew itself (name: why)

    def steps(self) -> list[tuple[StepScores, np.ndarray]]:
        """Every compared step with its maps: the repeat, the cascade's, then the random logit."""
        logit = [] if self.random_logit is None or self.random_maps is None else [(self.random_logit,
                                                                                     self.random_maps)]
        return [(self.repeat, self.repeat_maps), *zip(self.cascade, self.cascade_maps, strict=True), *logit]

    @property
    def random_logit_verdict(self) -> Judged | None:
        """The random logit's: another class's maps fall below `HIGH_RANK_CORRELATION` (median) against the explained
        class's; None when not asked for."""
        if self.random_logit is None:
            return None
        median = self.random_logit.median_spearman
        if not np.isfinite(median) or not self.repeat.median_spearman >= REPEATABLE:
            return Judged.cannot_judge
        return Judged.passes if median < HIGH_RANK_CORRELATION else Judged.fails


def randomisation_test(setup: RandomisationSetup, inputs: torch.Tensor, *,
                       on_maps: Callable[[int], None] = lambda count: None) -> RandomisationResult:
    """The original maps, the same again and the random logit's on the trained model, then the cascade on a fresh
    copy, then the other random initialisations of the blocks above the target layer; `on_maps` hears each batch of
    maps done."""
    run, blocks, seed = _Run(setup=setup, inputs=inputs, on_maps=on_maps), setup.blocks, setup.seed
    random_maps, random_logit = None, None
    with setup.engine_for(setup.model) as engine:
        original = original_maps(engine, inputs, setup.target_category, setup.output_kind, setup.batch_size)
        on_maps(len(inputs))
        repeat_maps = class_cams(engine, inputs, original.explained, setup.batch_size)  # as each step computes them
        on_maps(len(inputs))
        if setup.random_logit:
            others = random_other_classes(original.explained, setup.num_classes, seed)
            random_maps = class_cams(engine, inputs, others, setup.batch_size)
            on_maps(len(inputs))
            random_logit = similarity_to(original.cams, random_maps, step="random_logit", block="another class",
                                         classes=[setup.class_names[c] for c in others])
    repeat = similarity_to(original.cams, repeat_maps, step=REPEAT_STEP, block="none")
    maps: list[np.ndarray] = []
    drawn: dict[str, Drawn] = {}
    scores: list[StepScores] = []
    judged: list[float] = []
    found: Verdict | None = None
    if setup.cascading:
        maps, drawn = run.randomised(blocks.names, original.explained, seed)
        scores = [similarity_to(original.cams, cams, step=str(k), block=block)
                  for k, (block, cams) in enumerate(zip(blocks.names, maps, strict=True), start=1)]
        judged = [scores[blocks.above_target - 1].median_spearman] if blocks.above else []
        for draw in range(seed + 1, seed + setup.judged_draws):  # the verdict's other draws
            above = run.randomised(blocks.above, original.explained, draw)[0][-1]
            judged.append(similarity_to(original.cams, above, step="", block="").median_spearman)
        found = verdict(scores, blocks, judged, repeatability=repeat.median_spearman,
                        constant_originals=bool(original.constant.all()))
    return RandomisationResult(blocks=blocks, original=original, cascade=scores, cascade_maps=maps,
                               random_logit=random_logit, random_maps=random_maps, repeat=repeat,
                               repeat_maps=repeat_maps, judged=judged, verdict=found,
                               never_randomised=never_randomised(setup.model, blocks) if setup.cascading else [],
                               drawn=drawn)


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One run's inputs (normalised, on the model's device) and its progress, for the cascades it walks."""

    setup: RandomisationSetup
    inputs: torch.Tensor
    on_maps: Callable[[int], None]

    def randomised(self, blocks: Sequence[str], classes: Sequence[int],
                   seed: int) -> tuple[list[np.ndarray], dict[str, Drawn]]:
        """The CAMs of `classes` after each step of a cascade over `blocks` on a fresh copy initialised by `seed`
        (item k - 1 has the first k blocks, output side, random), and the blocks' parameters camviz drew itself."""
        setup = self.setup
        fresh = fresh_copy(setup.model, setup.rebuild, seed)
        cascade = Cascade(setup.model, fresh.model, blocks)
        kept = set(cascade.kept)
        maps: dict[int, np.ndarray] = {}
        with setup.engine_for(cascade.model) as engine:
            for k, _ in cascade.steps():
                maps[k] = class_cams(engine, self.inputs, classes, setup.batch_size)
                self.on_maps(len(self.inputs))
        return [maps[k] for k in sorted(maps)], {name: why for name, why in fresh.drawn.items() if name not in kept}


def original_maps(engine: CamEngine, inputs: torch.Tensor, target_category: int | None, kind: OutputKind,
                  batch_size: int) -> OriginalMaps:
    """CAMs of `target_category`, else of each image's predicted class, with the probabilities of the same pass."""
    parts = [engine.compute(chunk, target_category) for chunk in inputs.split(batch_size)]
    probabilities = np.concatenate([part.probabilities for part in parts])
    explained = [kind.explained(p, target_category)[0] for p in probabilities]
    return OriginalMaps(explained=explained, cams=np.concatenate([part.cams for part in parts]),
                        probabilities=probabilities)


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


def random_other_classes(explained: Sequence[int], num_classes: int, seed: int = 0) -> list[int]:
    """For each explained class, another class drawn uniformly from the rest (seeded)."""
    rng = np.random.default_rng(seed)
    return [int(rng.choice([c for c in range(num_classes) if c != own])) for own in explained]


def similarity_to(original: np.ndarray, cams: np.ndarray, *, step: str, block: str,
                  classes: list[str] | None = None) -> StepScores:
    """Each map of `cams` against the same image's `original` map."""
    pairs = list(zip(original, cams, strict=True))
    return StepScores(step=step, block=block, spearman=np.array([rank_correlation(a, b) for a, b in pairs]),
                      ssim=np.array([ssim(a, b) for a, b in pairs]), classes=classes)


def verdict(cascade: Sequence[StepScores], blocks: Blocks, judged: Sequence[float], *, repeatability: float,
            constant_originals: bool = False) -> Verdict:
    """Judge by the step after which every block above the target layer is random, over independent random
    initialisations of those blocks (`judged`: that step's median rank correlation in each; the first is the
    cascade's own). It stays at or above `HIGH_RANK_CORRELATION` in every draw with a defined one: the maps do not
    depend on the weights. One draw alone can keep a map by chance (a random head row whose sum is positive where
    the target layer fires).

    An undefined correlation (a constant map) is neither a fall nor a kept map. No verdict when every original map
    is constant, when no draw has a defined correlation, or when the trained model's maps computed twice
    (`repeatability`, their median rank correlation) fall below `REPEATABLE`: the method moves them by itself, so
    a change after randomising cannot be put on the weights."""
    falls = next((s for s in cascade if s.median_spearman < HIGH_RANK_CORRELATION), None)
    defined = [value for value in judged if np.isfinite(value)]
    cannot = (CannotJudge.constant_originals if constant_originals else
              CannotJudge.not_repeatable if not repeatability >= REPEATABLE else
              CannotJudge.no_block_above if not blocks.above else
              CannotJudge.undefined if not defined else None)
    depends = None if cannot else not all(value >= HIGH_RANK_CORRELATION for value in defined)
    return Verdict(depends_on_weights=depends, above=tuple(blocks.above), judged=tuple(judged), falls=falls,
                   repeatability=repeatability, cannot_judge=cannot)


def never_randomised(model: nn.Module, blocks: Blocks) -> list[str]:
    """Parameters outside every block (position embeddings, class tokens on the model itself): trained throughout."""
    return [name for name, _ in model.named_parameters()
            if not any(name.startswith(f"{block}.") for block in blocks.names)]
