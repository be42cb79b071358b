"""One `camviz explain` run end to end, as a plain function: select samples, batch, explain, write, summarise.

Decoding runs in DataLoader workers, the CAMs in this process, figure encoding and writing in a small
thread pool, so the model rarely waits on disk. Progress and warnings go to a `Progress` object; this
module prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from camviz.cam import CamBatch, CamEngine, canonical_method_name, explained_classes
from camviz.classes import class_names_for, match_class_folders
from camviz.data import DecodedBatch, Preprocessing, Sample, batch_loader, select_samples, shard
from camviz.errors import CamvizError, UsageError
from camviz.layers import FAMILIES, Family, resolve_targets
from camviz.metrics import METRIC_NAMES, faithfulness_scores
from camviz.models import ImageSize, LoadedModel, as_size, load_model
from camviz.distributed import Ranks, process_group, ranks_from_environment, sum_over_ranks, worst_exit_code
from camviz.gallery import write_gallery
from camviz.render import remove_partial_files
from camviz.report import (
    MANIFEST_NAME,
    ManifestRow,
    ManifestWriter,
    Summary,
    manifest_name,
    merge_rank_manifests,
    resumable_rows,
    summarize,
)
from camviz.outputs import BatchWriter, ClassMeans, SingleWriter, WritePool


@dataclass
class ExplainOptions:
    """Everything one run needs; the defaults are the CLI's."""

    model_path: Path
    image_path: Path | None = None
    data_dir: Path | None = None
    model_name: str | None = None
    target_category: int | None = None
    img_size: int | ImageSize | None = None  # one number (square) or (height, width)
    output_dir: Path = Path("gradcam_results")
    num_samples: int | None = None
    batch_size: int = 8
    num_workers: int = 4
    cpu: bool = False
    method: str = "gradcam"
    target_layers: Sequence[str] = ()
    classes: Sequence[str] = ()
    seed: int = 0
    save_raw: bool = False
    plugins: Sequence[str] = ()
    trust_checkpoint: bool = False
    ema: bool = False
    resume: bool = False
    aug_smooth: bool = False
    eigen_smooth: bool = False
    only_misclassified: bool = False
    metrics: bool = False
    families: Sequence[Family] = ()  # extra family-table rows (e.g. from a --config preset), tried first
    multi_label: bool = False  # a sigmoid per label (also when the checkpoint records it)
    threshold: float = 0.5  # multilabel: labels at or above it are the prediction


class Progress(Protocol):
    """Where a run reports progress and warnings (the CLI draws a bar; the API default is silent)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentProgress:
    """A `Progress` that collects warnings and shows nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class ExplainResult:
    """What a run produced: files written, the manifest (batch mode) and the counts."""

    output_dir: Path
    outputs: list[Path] = field(default_factory=list)
    manifest: Path | None = None
    summary: Summary = field(default_factory=Summary)
    exit_code: int = 0  # 0 all done, 3 some inputs skipped (DESIGN.md); under torchrun, the worst rank's


def check_options(options: ExplainOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    if (options.image_path is None) == (options.data_dir is None):
        raise UsageError("give exactly one of --image-path (one image) or --data-dir (an ImageFolder split)")
    if options.image_path is not None and not options.image_path.is_file():
        raise UsageError(f"--image-path {options.image_path} does not exist or is not a file")
    if options.num_samples is not None and options.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {options.num_samples}); omit it for all images")
    for name, value, least in (("--batch-size", options.batch_size, 1), ("--num-workers", options.num_workers, 0)):
        if value < least:
            raise UsageError(f"{name} must be at least {least} (got {value})")
    if options.metrics and options.data_dir is None:
        raise UsageError("--metrics needs --data-dir: the scores are columns of manifest.csv")
    as_size(options.img_size)
    if not 0.0 < options.threshold < 1.0:
        raise UsageError(f"--threshold must be between 0 and 1 (got {options.threshold})")
    canonical_method_name(options.method)


def select_device(force_cpu: bool, local_rank: int = 0) -> torch.device:
    """`--cpu`, else CUDA (GPU `local_rank` under torchrun), else Apple's MPS, else the CPU."""
    if not force_cpu and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if not force_cpu and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class _Run:
    """What every part of one run needs once the model, targets and output folder are resolved."""

    options: ExplainOptions
    engine: CamEngine
    preprocessing: Preprocessing
    class_names: list[str]
    loaded: LoadedModel
    output_dir: Path
    progress: Progress
    ranks: Ranks
    device: torch.device
    folder_classes: list[str]


def explain(options: ExplainOptions, progress: Progress | None = None) -> ExplainResult:
    """Run Grad-CAM (or another method) for one image or an ImageFolder split and write the figures.

    Under torchrun (WORLD_SIZE > 1) each rank explains its shard of the selected samples and rank 0
    merges the manifests; the result's exit code is the worst over the ranks.
    """
    check_options(options)
    progress = progress or SilentProgress()
    samples, folder_classes = (
        ([Sample(0, options.image_path, options.image_path.name)], [])
        if options.image_path is not None
        else select_samples(options.data_dir, options.classes, options.num_samples, options.seed)
    )
    loaded = load_model(
        options.model_path, options.model_name, img_size=options.img_size, multi_label=options.multi_label,
        plugins=options.plugins, trust_checkpoint=options.trust_checkpoint, use_ema=options.ema,
    )
    class_names = class_names_for(loaded, folder_classes)
    if options.data_dir is not None:
        samples, folder_classes = match_class_folders(samples, folder_classes, class_names, options.data_dir,
                                                      loaded.class_names is not None, progress.warn)
    check_target_category(options.target_category, loaded.num_classes)
    if options.metrics and loaded.output != "softmax":
        raise UsageError(f"--metrics scores softmax classifiers only; this model's output is {loaded.output}")
    output_dir = make_output_dir(options.output_dir)
    ranks = ranks_from_environment()
    device = select_device(options.cpu, ranks.local_rank)
    model = loaded.model.to(device).eval()
    spec = loaded.input
    targets = resolve_targets(model, loaded.model_name, list(options.target_layers) or None, spec.size,
                              families=(*options.families, *FAMILIES))
    preprocessing = Preprocessing(spec.size, spec.mean, spec.std, spec.channels)
    method = canonical_method_name(options.method)
    with process_group(ranks, device), CamEngine(
        model, targets.modules, targets.reshape_transform, method, on_warning=progress.warn,
        aug_smooth=options.aug_smooth, eigen_smooth=options.eigen_smooth, output=loaded.output,
        threshold=options.threshold,
    ) as engine:
        run = _Run(options, engine, preprocessing, class_names, loaded, output_dir, progress, ranks, device,
                   folder_classes)
        return _run_single(run, samples) if options.image_path is not None else _run_batch(run, samples)


def check_target_category(target_category: int | None, num_classes: int) -> None:
    """`--target-category` must name one of the model's classes."""
    if target_category is not None and not 0 <= target_category < num_classes:
        raise UsageError(
            f"--target-category {target_category} is out of range: the model has "
            f"{num_classes} classes (0..{num_classes - 1})"
        )


def make_output_dir(path: Path) -> Path:
    """Create the output folder (and parents); a folder that cannot be made is a one-line error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CamvizError(f"cannot create --output-dir {path}: {error.strerror or error}") from error
    return path


def _run_single(run: _Run, samples: list[Sample]) -> ExplainResult:
    options = run.options
    writer = SingleWriter(run.output_dir, run.engine.method, run.class_names, options.target_category,
                          options.save_raw, run.progress.warn, output=run.loaded.output, threshold=options.threshold)
    with WritePool() as pool:
        _drive(run, batch_loader(samples, run.preprocessing, 1, 0), writer, pool)
    return ExplainResult(run.output_dir, outputs=writer.outputs)


def _run_batch(run: _Run, samples: list[Sample]) -> ExplainResult:
    """Explain this rank's shard into its manifest; then agree on the exit code; rank 0 merges and tidies."""
    options, ranks = run.options, run.ranks
    mine = shard(samples, ranks.rank, ranks.world_size)
    manifest_path = run.output_dir / manifest_name(ranks.rank, ranks.world_size)
    kept = resumable_rows(run.output_dir, {s.index for s in mine}, options.save_raw) if options.resume else []
    done = {row.index for row in kept}
    todo = [s for s in mine if s.index not in done]
    manifest = ManifestWriter(manifest_path, kept, METRIC_NAMES if options.metrics else ())
    class_means = ClassMeans(run.folder_classes, run.preprocessing.size)
    writer = BatchWriter(run.output_dir, run.engine.method, run.class_names, options.target_category,
                         options.save_raw, options.resume, manifest, run.progress.warn, class_means,
                         options.only_misclassified, output=run.loaded.output, threshold=options.threshold)
    run.progress.start(len(mine))
    run.progress.advance(len(mine) - len(todo))
    failure = None
    try:
        with WritePool() as pool:
            workers = min(options.num_workers, max(1, len(todo) // options.batch_size))
            loader = batch_loader(todo, run.preprocessing, options.batch_size, workers,
                                  pin_memory=run.device.type == "cuda")
            _drive(run, loader, writer, pool)
    except CamvizError as error:  # other ranks still wait for this rank's exit code
        failure = error
    finally:
        manifest.close()
    rows = list(manifest.rows.values())
    own_code = failure.exit_code if failure else (3 if any(r.status != "ok" for r in rows) else 0)
    exit_code = worst_exit_code(own_code, run.device)
    if failure is not None:
        raise failure
    if exit_code in (0, 3):  # every rank finished: the same decision everywhere, so the collective is safe
        class_means.sums = sum_over_ranks(class_means.sums, run.device)
        class_means.counts = sum_over_ranks(class_means.counts, run.device)
    if ranks.is_main:
        rows = _finish_output_dir(run, rows, class_means)
    result_manifest = run.output_dir / MANIFEST_NAME
    summary = summarize(rows, len(kept), run.class_names)
    return ExplainResult(run.output_dir, writer.outputs, result_manifest, summary, exit_code)


def _finish_output_dir(run: _Run, rows: list[ManifestRow], class_means: ClassMeans) -> list[ManifestRow]:
    """Rank 0, once all ranks are done: merge manifests, tidy up, write class means and the gallery."""
    remove_partial_files(run.output_dir)
    if run.ranks.is_distributed:
        rows = merge_rank_manifests(run.output_dir, run.ranks.world_size)
    class_means.write(run.output_dir, run.engine.method)
    write_gallery(run.output_dir, rows, run.class_names, run.engine.method)
    return rows


def _drive(run: _Run, loader: Iterable[DecodedBatch], writer: BatchWriter | SingleWriter,
           pool: WritePool) -> None:
    """Explain every decoded batch with the one CAM engine; hand results and failures to the writer."""
    target_category = run.options.target_category
    for batch, inputs in uploaded(loader, run.preprocessing, run.device):
        for sample, error in batch.failures:
            writer.failed(sample, error)
        if batch.samples:
            result = run.engine.explain(inputs, target_category)
            scores = _scores(run, inputs, result) if run.options.metrics else [None] * len(batch.samples)
            pixels = batch.pixels.numpy()
            cams = result.cams if result.label_cams is None else result.label_cams  # multilabel: [K, H, W] each
            for position, sample in enumerate(batch.samples):
                writer.done(sample, pixels[position], cams[position], result.probabilities[position],
                            pool, scores[position])
        run.progress.advance(len(batch.samples) + len(batch.failures))


def uploaded(loader: Iterable[DecodedBatch], preprocessing: Preprocessing,
             device: torch.device) -> Iterator[tuple[DecodedBatch, torch.Tensor]]:
    """Each batch with its normalised input on `device`, one batch ahead: the next upload is queued
    (non-blocking from pinned memory on CUDA) before the current batch is explained."""
    pending = None
    for batch in loader:
        inputs = preprocessing.normalize(batch.pixels.to(device, non_blocking=True)) if batch.samples else None
        if pending is not None:
            yield pending
        pending = (batch, inputs)
    if pending is not None:
        yield pending


def _scores(run: _Run, inputs: torch.Tensor, result: CamBatch) -> list[dict[str, float]]:
    """--metrics: each sample's faithfulness scores for the class its CAM explains."""
    options = run.options
    explained = [explained_classes(p, run.loaded.output, options.threshold, options.target_category)[0]
                 for p in result.probabilities]
    scores = faithfulness_scores(run.engine.cam.model, inputs, result.cams, explained)
    return [{name: float(values[i]) for name, values in scores.items()} for i in range(len(inputs))]
