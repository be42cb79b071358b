"""One `camviz sanity` run end to end, wired: options → images → the resolved model → the tests asked for (the
cascade and the random logit: `camviz.cam.randomisation`; eMPRT and sMPRT: `camviz.run.mprt`) → the figures,
tables and summary (`camviz.output.sanity`, `camviz.output.mprt`).

The user's model is explained as it is (the engine's hooks and gradient flags are restored); the randomisation
runs on one fresh copy (`camviz.cam.randomise`), so the checkpoint and the loaded model are never modified.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from camviz.cam.blocks import Blocks, cascade_blocks
from camviz.cam.engine import CamEngine
from camviz.cam.methods import canonical_method_name
from camviz.cam.mprt import SMOOTH_SAMPLES, EmprtScores, SmoothSettings, SmprtResult
from camviz.cam.options import CamOptions
from camviz.cam.randomisation import (
    DEFAULT_TESTS,
    Judged,
    RandomisationResult,
    RandomisationSetup,
    SanityTest,
    StepScores,
    Verdict,
    randomisation_test,
)
from camviz.cam.randomise import Drawn
from camviz.data.decode import decode_image
from camviz.data.listing import Sample
from camviz.data.options import InputOptions
from camviz.data.sampling import input_samples
from camviz.discovery.describe import require_classifier
from camviz.discovery.layers import get_submodule
from camviz.discovery.options import ModelOptions
from camviz.errors import CamvizError, ImageDecodeError, UsageError
from camviz.output.mprt import emprt_lines, emprt_table, smprt_lines, write_emprt_outputs, write_smprt_outputs
from camviz.output.options import OutputOptions
from camviz.output.outdir import claim_output_dir, make_output_dir
from camviz.output.sanity import (
    SanityHeading,
    SanityImage,
    heading_line,
    summary_lines,
    write_sanity_outputs,
    write_summary,
)
from camviz.run.cpus import default_batch_size
from camviz.run.model import ResolvedModel, resolve_model
from camviz.run.mprt import run_emprt, run_smprt
from camviz.run.options import check_batch_size, check_images_exist, check_model_options, check_target_category
from camviz.run.progress import Progress, SilentProgress

SANITY_SAMPLES = 16  # --data-dir: images in the seeded subset when --num-samples is not given (eMPRT alone: all)


@dataclass(frozen=True, kw_only=True)
class SanityOptions:
    """What one `camviz sanity` run is asked to do: the model, the images, the CAM, where the files go."""

    model: ModelOptions
    inputs: InputOptions  # its seed also seeds the fresh initialisations (seed, seed + 1, ...) and the other classes
    cam: CamOptions = field(default_factory=CamOptions)
    output: OutputOptions = field(default_factory=lambda: OutputOptions(output_dir=Path("sanity_results")))  # the folder of sanity.png/csv/txt
    batch_size: int | None = None
    draws: int = 3  # random initialisations of the blocks above the target layer that the verdict looks at
    tests: tuple[SanityTest, ...] = DEFAULT_TESTS
    smooth_samples: int = SMOOTH_SAMPLES  # sMPRT: noisy copies of each input its maps are averaged over

    @property
    def num_samples(self) -> int | None:
        """--data-dir: how many images the seeded subset holds (None: all; the default when eMPRT runs alone, the
        one test that streams)."""
        if self.inputs.num_samples is not None:
            return self.inputs.num_samples
        return None if set(self.tests) == {SanityTest.emprt} else SANITY_SAMPLES

    @property
    def in_memory(self) -> bool:
        """Whether a test asked for compares every image's maps across steps (all images decoded at once)."""
        return bool(set(self.tests) - {SanityTest.emprt})


@dataclass(frozen=True, kw_only=True)
class SanityResult:
    """What a run found and wrote."""

    output_dir: Path
    outputs: list[Path]
    blocks: Blocks
    cascade: list[StepScores]  # step k: the first k blocks random (empty: not asked for)
    random_logit: StepScores | None
    repeat: StepScores | None  # the trained model's maps computed again, against the first computation
    judged: list[float]  # per random initialisation of the blocks above the target: the median rank correlation
    verdict: Verdict | None  # the cascade's
    drawn: dict[str, Drawn]  # the blocks' parameters whose random values camviz drew itself (name: why)
    lines: list[str]  # the summary, as in sanity.txt
    random_logit_verdict: Judged | None = None
    emprt: EmprtScores | None = None
    smprt: SmprtResult | None = None
    skipped: list[str] = field(default_factory=list)  # images that could not be decoded, with why
    exit_code: int = 0  # 0 done; 3 some images skipped


def check_sanity_options(options: SanityOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    if bool(options.inputs.images) == (options.inputs.data_dir is not None):
        raise UsageError("give exactly one of --image-path (repeatable) or --data-dir (an ImageFolder split)")
    check_images_exist(options.inputs)
    if not options.tests:
        raise UsageError("give at least one --test")
    if options.smooth_samples < 1:
        raise UsageError(f"--smooth-samples must be at least 1 (got {options.smooth_samples})")
    if options.num_samples is not None and options.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {options.num_samples})")
    if options.draws < 1:
        raise UsageError(f"--draws must be at least 1 (got {options.draws})")
    check_batch_size(options.batch_size)
    check_model_options(options.model)
    canonical_method_name(options.cam.method)


def sanity(options: SanityOptions, progress: Progress | None = None) -> SanityResult:
    """Run the tests asked for (`options.tests`); write their figures and tables and the summary."""
    check_sanity_options(options)
    progress = progress or SilentProgress()
    samples, folder_classes = input_samples(replace(options.inputs, num_samples=options.num_samples))
    resolved = resolve_model(options.model, folder_classes)
    require_classifier(resolved.loaded.task, "camviz sanity")
    for note in resolved.notes:
        progress.warn(note)
    check_target_category(options.cam.target_category, resolved.loaded.num_classes)
    output_dir = make_output_dir(options.output.output_dir)
    with claim_output_dir(output_dir, exclusive=True):
        return _run_tests(options, resolved, samples, output_dir, progress)


@dataclass(frozen=True, kw_only=True)
class _Job:
    """One run's resolved parts, as its tests share them."""

    options: SanityOptions
    resolved: ResolvedModel
    setup: RandomisationSetup
    smooth: SmoothSettings
    output_dir: Path
    progress: Progress

    @property
    def tests(self) -> set[SanityTest]:
        return set(self.options.tests)

    def map_count(self, images: int) -> int:
        """How many maps the tests compute for `images` images (the progress total)."""
        tests, setup = self.tests, self.setup
        count = setup.map_count(images) if tests & {SanityTest.cascading, SanityTest.random_logit} else 0
        count += 2 * images if SanityTest.emprt in tests else 0
        return count + (self.smooth_count(images) if SanityTest.smprt in tests else 0)

    def smooth_count(self, images: int) -> int:
        """sMPRT's maps: each image's smoothed maps (samples each) for the reference, the repeat and every block."""
        return images * self.smooth.samples * (2 + len(self.setup.blocks.names))


def _run_tests(options: SanityOptions, resolved: ResolvedModel, samples: Sequence[Sample], output_dir: Path,
               progress: Progress) -> SanityResult:
    """The tests on the decoded images, then the files."""
    tests = set(options.tests)
    setup = replace(_setup(options, resolved, progress), cascading=SanityTest.cascading in tests,
                    random_logit=SanityTest.random_logit in tests)
    job = _Job(options=options, resolved=resolved, setup=setup, output_dir=output_dir, progress=progress,
               smooth=SmoothSettings(samples=options.smooth_samples, batch_size=setup.batch_size,
                                     seed=options.inputs.seed))
    held = _decode(samples, resolved, progress) if options.in_memory else None
    progress.start(job.map_count(len(held[0]) if held is not None else len(samples)))
    found, smprt, outputs = _held_tests(job, held) if held is not None else (None, None, [])
    emprt, skipped = None, list(held[2]) if held is not None else []
    if SanityTest.emprt in tests:
        chunks = [(held[0], held[1])] if held is not None else _chunks(samples, resolved, progress, skipped)
        emprt = run_emprt(setup, resolved, chunks, progress.advance)
        outputs += write_emprt_outputs(output_dir, emprt.shown, emprt.shown_randomised,
                                       emprt_table(emprt.names, emprt.explained, emprt.scores))
    images = len(held[0]) if held is not None else len(emprt.names) if emprt is not None else 0
    heading = SanityHeading(method=canonical_method_name(options.cam.method),
                            target_layers=tuple(resolved.targets.names), model_name=resolved.loaded.model_name,
                            images=images, seed=options.inputs.seed)
    lines = summary_lines(heading, found) if found is not None else [heading_line(heading)]
    lines += (smprt_lines(smprt, job.smooth) if smprt is not None else []) + (
        emprt_lines(emprt.scores) if emprt is not None else [])
    if found is not None and held is not None:
        originals = [SanityImage(name=name, pixels=one, explained=resolved.class_names[c], original=cam)
                     for name, one, c, cam in zip(held[0], held[1], found.original.explained, found.original.cams,
                                                  strict=True)]
        outputs = write_sanity_outputs(output_dir, originals, found, lines) + outputs
    else:
        outputs = [write_summary(output_dir, lines), *outputs]
    return SanityResult(output_dir=output_dir, outputs=outputs, blocks=setup.blocks,
                        cascade=found.cascade if found else [], random_logit=found.random_logit if found else None,
                        repeat=found.repeat if found else None, judged=found.judged if found else [],
                        verdict=found.verdict if found else None, drawn=found.drawn if found else {}, lines=lines,
                        random_logit_verdict=found.random_logit_verdict if found else None,
                        emprt=emprt.scores if emprt else None, smprt=smprt, skipped=skipped,
                        exit_code=3 if skipped else 0)


def _held_tests(job: _Job, held: tuple[list[str], np.ndarray, list[str]]
                ) -> tuple[RandomisationResult | None, SmprtResult | None, list[Path]]:
    """The tests that compare every image's maps across steps: the cascade and the random logit, then sMPRT (its
    figure and table written)."""
    names, pixels, _ = held
    setup, progress = job.setup, job.progress
    inputs = job.resolved.preprocessing.normalize(torch.from_numpy(pixels).to(job.resolved.device))
    found = None
    if job.tests & {SanityTest.cascading, SanityTest.random_logit}:
        found = randomisation_test(setup, inputs, on_maps=progress.advance)
    if SanityTest.smprt not in job.tests:
        return found, None, []
    explained, smprt = run_smprt(setup, inputs, found.original.explained if found else None, job.smooth)
    progress.advance(job.smooth_count(len(names)))
    rows = [SanityImage(name=n, pixels=p, explained=setup.class_names[c], original=m)
            for n, p, c, m in zip(names, pixels, explained, smprt.reference, strict=True)]
    return found, smprt, write_smprt_outputs(job.output_dir, rows, smprt)


def _setup(options: SanityOptions, resolved: ResolvedModel, progress: Progress) -> RandomisationSetup:
    """The randomisation tests' setup from the options and the resolved model: engines at its target layers."""
    targets, loaded = resolved.targets, resolved.loaded

    def engine_for(model: nn.Module) -> CamEngine:  # the user's model or a fresh copy: the target layers by name
        return CamEngine(model, [get_submodule(model, name) for name in targets.names], targets.reshape_transform,
                         options=options.cam, output_kind=loaded.output_kind, say=progress.warn)

    return RandomisationSetup(
        model=resolved.model, rebuild=loaded.rebuild, engine_for=engine_for,
        blocks=cascade_blocks(resolved.model, targets.names, loaded.input.size), output_kind=loaded.output_kind,
        class_names=resolved.class_names, num_classes=loaded.num_classes, target_category=options.cam.target_category,
        seed=options.inputs.seed, draws=options.draws,
        batch_size=options.batch_size or default_batch_size(resolved.device))


def _chunks(samples: Sequence[Sample], resolved: ResolvedModel, progress: Progress, skipped: list[str],
            size: int = 64) -> Iterator[tuple[list[str], np.ndarray]]:
    """The images `size` at a time, decoded as they are needed (eMPRT over a whole split); the undecodable ones go
    to `skipped`, said."""
    for start in range(0, len(samples), size):
        names, pixels = [], []
        for sample in samples[start : start + size]:
            try:
                pixels.append(resolved.preprocessing.pixels(decode_image(sample.path)))
            except ImageDecodeError as error:
                skipped.append(str(error))
                progress.warn(f"skipped: {error}")
                continue
            names.append(sample.relative_path)
        if names:
            yield names, np.stack(pixels)
    if len(skipped) == len(samples):
        raise CamvizError(f"none of the {len(samples)} images could be decoded ({skipped[0]})")


def _decode(samples: Sequence[Sample], resolved: ResolvedModel,
            progress: Progress) -> tuple[list[str], np.ndarray, list[str]]:
    """Names and uint8 pixels of the images that decode; those that do not are skipped and said (not fatal)."""
    skipped: list[str] = []
    [(names, pixels)] = _chunks(samples, resolved, progress, skipped, size=max(len(samples), 1))
    return names, pixels, skipped
