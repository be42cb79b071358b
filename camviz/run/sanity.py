"""One `camviz sanity` run end to end, wired: options → images → the resolved model → the randomisation tests
(`camviz.cam.randomisation`) → the figure, table and summary (`camviz.output.sanity`).

The user's model is explained as it is (the engine's hooks and gradient flags are restored); the randomisation
runs on one fresh copy (`camviz.cam.randomise`), so the checkpoint and the loaded model are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from camviz.cam.blocks import Blocks, cascade_blocks
from camviz.cam.engine import CamEngine
from camviz.cam.methods import canonical_method_name
from camviz.cam.options import CamOptions
from camviz.cam.randomisation import RandomisationSetup, StepScores, Verdict, randomisation_test
from camviz.cam.randomise import Drawn
from camviz.data.decode import decode_image
from camviz.data.listing import Sample
from camviz.data.options import InputOptions
from camviz.data.sampling import input_samples
from camviz.discovery.layers import get_submodule
from camviz.discovery.options import ModelOptions
from camviz.errors import CamvizError, ImageDecodeError, UsageError
from camviz.output.options import OutputOptions
from camviz.output.outdir import claim_output_dir, make_output_dir
from camviz.output.sanity import SanityHeading, SanityImage, summary_lines, write_sanity_outputs
from camviz.run.cpus import default_batch_size
from camviz.run.model import ResolvedModel, resolve_model
from camviz.run.options import check_batch_size, check_images_exist, check_model_options, check_target_category
from camviz.run.progress import Progress, SilentProgress

SANITY_SAMPLES = 16  # --data-dir: images in the seeded subset when --num-samples is not given


@dataclass(frozen=True, kw_only=True)
class SanityOptions:
    """What one `camviz sanity` run is asked to do: the model, the images, the CAM, where the files go."""

    model: ModelOptions
    inputs: InputOptions  # its seed also seeds the fresh initialisations (seed, seed + 1, ...) and the other classes
    cam: CamOptions = field(default_factory=CamOptions)
    output: OutputOptions = field(default_factory=lambda: OutputOptions(output_dir=Path("sanity_results")))  # the folder of sanity.png/csv/txt
    batch_size: int | None = None
    draws: int = 3  # random initialisations of the blocks above the target layer that the verdict looks at

    @property
    def num_samples(self) -> int:
        """--data-dir: how many images the seeded subset holds."""
        return SANITY_SAMPLES if self.inputs.num_samples is None else self.inputs.num_samples


@dataclass(frozen=True, kw_only=True)
class SanityResult:
    """What a run found and wrote."""

    output_dir: Path
    outputs: list[Path]
    blocks: Blocks
    cascade: list[StepScores]  # step k: the first k blocks random
    random_logit: StepScores
    repeat: StepScores  # the trained model's maps computed again, against the first computation
    judged: list[float]  # per random initialisation of the blocks above the target: the median rank correlation
    verdict: Verdict
    drawn: dict[str, Drawn]  # the blocks' parameters whose random values camviz drew itself (name: why)
    lines: list[str]  # the summary, as in sanity.txt
    skipped: list[str] = field(default_factory=list)  # images that could not be decoded, with why
    exit_code: int = 0  # 0 done; 3 some images skipped


def check_sanity_options(options: SanityOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    if bool(options.inputs.images) == (options.inputs.data_dir is not None):
        raise UsageError("give exactly one of --image-path (repeatable) or --data-dir (an ImageFolder split)")
    check_images_exist(options.inputs)
    if options.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {options.num_samples})")
    if options.draws < 1:
        raise UsageError(f"--draws must be at least 1 (got {options.draws})")
    check_batch_size(options.batch_size)
    check_model_options(options.model)
    canonical_method_name(options.cam.method)


def sanity(options: SanityOptions, progress: Progress | None = None) -> SanityResult:
    """Run the cascading model-parameter randomisation and the random-logit tests; write figure, table, summary."""
    check_sanity_options(options)
    progress = progress or SilentProgress()
    samples, folder_classes = input_samples(replace(options.inputs, num_samples=options.num_samples))
    resolved = resolve_model(options.model, folder_classes)
    for note in resolved.notes:
        progress.warn(note)
    check_target_category(options.cam.target_category, resolved.loaded.num_classes)
    output_dir = make_output_dir(options.output.output_dir)
    with claim_output_dir(output_dir, exclusive=True):
        names, pixels, skipped = _decode(samples, resolved, progress)
        setup = _setup(options, resolved, progress)
        progress.start(setup.map_count(len(pixels)))
        inputs = resolved.preprocessing.normalize(torch.from_numpy(pixels).to(resolved.device))
        found = randomisation_test(setup, inputs, on_maps=progress.advance)
        lines = summary_lines(SanityHeading(method=canonical_method_name(options.cam.method),
                                            target_layers=tuple(resolved.targets.names),
                                            model_name=resolved.loaded.model_name, images=len(names),
                                            seed=options.inputs.seed), found)
        rows = [SanityImage(name=name, pixels=one, explained=resolved.class_names[c], original=cam)
                for name, one, c, cam in zip(names, pixels, found.original.explained, found.original.cams, strict=True)]
        outputs = write_sanity_outputs(output_dir, rows, found, lines)
    return SanityResult(output_dir=output_dir, outputs=outputs, blocks=found.blocks, cascade=found.cascade,
                        random_logit=found.random_logit, repeat=found.repeat, judged=found.judged,
                        verdict=found.verdict, drawn=found.drawn, lines=lines, skipped=skipped,
                        exit_code=3 if skipped else 0)


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


def _decode(samples: Sequence[Sample], resolved: ResolvedModel,
            progress: Progress) -> tuple[list[str], np.ndarray, list[str]]:
    """Names and uint8 pixels of the images that decode; those that do not are skipped and said (not fatal)."""
    names, pixels, skipped = [], [], []
    for sample in samples:
        try:
            pixels.append(resolved.preprocessing.pixels(decode_image(sample.path)))
        except ImageDecodeError as error:
            skipped.append(str(error))
            progress.warn(f"skipped: {error}")
            continue
        names.append(sample.relative_path)
    if not names:
        raise CamvizError(f"none of the {len(samples)} images could be decoded ({skipped[0]})")
    return names, np.stack(pixels), skipped
