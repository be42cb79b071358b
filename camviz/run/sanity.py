"""One `camviz sanity` run end to end: images, model, the cascading randomisation and random-logit tests, files.

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
from camviz.cam.randomise import Cascade, fresh_copy
from camviz.cam.sanity import (
    OriginalMaps,
    StepScores,
    Verdict,
    cascade_cams,
    class_cams,
    original_maps,
    random_other_classes,
    similarity_to,
    verdict,
)
from camviz.data.decode import decode_image
from camviz.data.listing import Sample
from camviz.data.options import InputOptions
from camviz.data.sampling import input_samples
from camviz.discovery.layers import get_submodule
from camviz.discovery.options import ModelOptions
from camviz.errors import CamvizError, ImageDecodeError, UsageError
from camviz.output.options import OutputOptions
from camviz.output.outdir import claim_output_dir, make_output_dir
from camviz.output.sanity import SanityImage, summary_lines, write_sanity_outputs
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


@dataclass(kw_only=True)
class SanityResult:
    """What a run found and wrote."""

    output_dir: Path
    outputs: list[Path]
    blocks: Blocks
    cascade: list[StepScores]  # step k: the first k blocks random
    random_logit: StepScores
    judged: list[float]  # per random initialisation of the blocks above the target: the median rank correlation
    verdict: Verdict
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
        blocks = cascade_blocks(resolved.model, resolved.targets.names, resolved.loaded.input.size)
        found = _run_tests(options, resolved, blocks, pixels, progress)
        conclusion = verdict(found.cascade, blocks, found.judged)
        lines = summary_lines(_heading(options, resolved, blocks, len(names)), found.cascade, found.random_logit,
                              conclusion, _never_randomised(resolved.model, blocks))
        rows = [SanityImage(name=name, pixels=one, explained=resolved.class_names[c], original=cam)
                for name, one, c, cam in zip(names, pixels, found.original.explained, found.original.cams, strict=True)]
        outputs = write_sanity_outputs(output_dir, rows, found.steps(), lines)
    return SanityResult(output_dir=output_dir, outputs=outputs, blocks=blocks, cascade=found.cascade,
                        random_logit=found.random_logit, judged=found.judged, verdict=conclusion, lines=lines,
                        skipped=skipped, exit_code=3 if skipped else 0)


@dataclass
class _Findings:
    """Both tests' maps and scores."""

    original: OriginalMaps
    cascade_maps: list[np.ndarray]  # item k - 1: the first k blocks random
    cascade: list[StepScores]
    random_maps: np.ndarray
    random_logit: StepScores
    judged: list[float]  # per random initialisation: the median rank correlation with every block above random

    def steps(self) -> list[tuple[StepScores, np.ndarray]]:
        """Every compared step with its maps: the cascade's, then the random logit."""
        return [*zip(self.cascade, self.cascade_maps, strict=True), (self.random_logit, self.random_maps)]


@dataclass(frozen=True, kw_only=True)
class _Job:
    """What every map of a run needs: the options, the resolved model, the inputs on its device, the progress."""

    options: SanityOptions
    resolved: ResolvedModel
    inputs: torch.Tensor
    progress: Progress

    @property
    def batch_size(self) -> int:
        return self.options.batch_size or default_batch_size(self.resolved.device)

    def engine(self, model: nn.Module) -> CamEngine:
        """A CAM engine on `model` (the user's or a fresh copy) at the resolved target layers, by name."""
        targets = self.resolved.targets
        return CamEngine(model, [get_submodule(model, name) for name in targets.names], targets.reshape_transform,
                         options=self.options.cam, output_kind=self.resolved.loaded.output_kind,
                         on_warning=self.progress.warn)

    def randomised_maps(self, blocks: Sequence[str], classes: Sequence[int], seed: int) -> list[np.ndarray]:
        """The maps of `classes` after each step of a cascade over `blocks`, on a fresh copy initialised by `seed`."""
        model, rebuild = self.resolved.model, self.resolved.loaded.rebuild
        cascade = Cascade(model, fresh_copy(model, rebuild, seed), blocks)
        return cascade_cams(cascade, self.engine, self.inputs, classes, self.batch_size,
                            on_step=lambda: self.progress.advance(len(self.inputs)))


def _run_tests(options: SanityOptions, resolved: ResolvedModel, blocks: Blocks, pixels: np.ndarray,
               progress: Progress) -> _Findings:
    """The original maps and the random logit's on the user's model, then the cascade on a fresh copy, then the
    other random initialisations of the blocks above the target layer."""
    job = _Job(options=options, resolved=resolved, progress=progress,
               inputs=resolved.preprocessing.normalize(torch.from_numpy(pixels).to(resolved.device)))
    count, draws = len(pixels), options.draws if blocks.above else 1
    progress.start(count * (len(blocks.names) + 2 + (draws - 1) * blocks.above_target))  # every map
    with job.engine(resolved.model) as engine:
        original = original_maps(engine, job.inputs, options.cam.target_category, resolved.loaded.output_kind,
                                 job.batch_size)
        progress.advance(count)
        others = random_other_classes(original.explained, resolved.loaded.num_classes, options.inputs.seed)
        random_maps = class_cams(engine, job.inputs, others, job.batch_size)
        progress.advance(count)
    maps = job.randomised_maps(blocks.names, original.explained, options.inputs.seed)
    scores = [similarity_to(original.cams, cams, str(k), block)
              for k, (block, cams) in enumerate(zip(blocks.names, maps, strict=True), start=1)]
    random_logit = similarity_to(original.cams, random_maps, "random_logit", "another class",
                                 [resolved.class_names[c] for c in others])
    judged = [scores[blocks.above_target - 1].median_spearman] if blocks.above else []
    for seed in range(options.inputs.seed + 1, options.inputs.seed + draws):  # the verdict's other draws
        above = job.randomised_maps(blocks.above, original.explained, seed)[-1]
        judged.append(similarity_to(original.cams, above, "", "").median_spearman)
    return _Findings(original, maps, scores, random_maps, random_logit, judged)


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


def _heading(options: SanityOptions, resolved: ResolvedModel, blocks: Blocks, count: int) -> str:
    """The summary's first line: what was tested on what."""
    method = canonical_method_name(options.cam.method)
    return (f"camviz sanity: {method} at {', '.join(resolved.targets.names)} of {resolved.loaded.model_name}, "
            f"{count} images, {len(blocks.names)} blocks randomised one at a time from the output side "
            f"(seed {options.inputs.seed})")


def _never_randomised(model: nn.Module, blocks: Blocks) -> list[str]:
    """Parameters outside every block (position embeddings, class tokens on the model itself): trained throughout."""
    return [name for name, _ in model.named_parameters()
            if not any(name.startswith(f"{block}.") for block in blocks.names)]
