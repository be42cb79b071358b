"""One `camviz explain` run end to end, as a plain function: select samples, batch, explain, write, summarise.

Decoding runs in DataLoader workers, the CAMs in this process, figure encoding and writing in a small
thread pool, so the model rarely waits on disk. Progress and warnings go to a `Progress` object; this
module prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from camviz.cam import CamBatch, CamEngine, canonical_method_name, explained_classes
from camviz.classes import class_names_for, match_class_folders
from camviz.cpus import default_batch_size, share_cpus
from camviz.data import (
    DecodedBatch, Preprocessing, Sample, batch_loader, display_name, select_samples, shard, stop_workers,
)
from camviz.errors import CamvizError, UsageError
from camviz.families import FAMILIES
from camviz.layers import resolve_targets
from camviz.memory import check_input_fits
from camviz.metrics import METRIC_NAMES, faithfulness_scores
from camviz.models import LoadedModel, load_model
from camviz.options import ExplainOptions, check_options, check_target_category
from camviz.distributed import Ranks, process_group, ranks_from_environment, sum_over_ranks, worst_exit_code
from camviz.gallery import write_gallery
from camviz.outdir import claim_output_dir, make_output_dir
from camviz.report import (
    MANIFEST_NAME,
    ManifestRow,
    ManifestWriter,
    Summary,
    manifest_name,
    merge_rank_manifests,
    summarize,
)
from camviz.resume import ResumeCheck, resumable_rows, run_settings, settings_key, sources
from camviz.outputs import BatchWriter, ClassMeans, SingleWriter, WritePool


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
    batch_size: int  # --batch-size, else the device's default


def explain(options: ExplainOptions, progress: Progress | None = None) -> ExplainResult:
    """Run Grad-CAM (or another method) for one image or an ImageFolder split and write the figures.

    Under torchrun (WORLD_SIZE > 1) each rank explains its shard of the selected samples and rank 0
    merges the manifests; the result's exit code is the worst over the ranks.
    """
    check_options(options)
    progress = progress or SilentProgress()
    samples, folder_classes = (
        ([Sample(0, options.image_path, display_name(options.image_path.name))], [])
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
    exclusive = options.data_dir is not None  # a batch run owns the folder; single-image runs share it
    device = select_device(options.cpu, ranks.local_rank)
    model = loaded.model.to(device).eval()
    spec = loaded.input
    batch_size = options.batch_size or default_batch_size(device)
    check_input_fits(*spec.size, batch=min(batch_size, len(samples)), channels=spec.channels)
    targets = resolve_targets(model, loaded.model_name, list(options.target_layers) or None, spec.size,
                              families=(*options.families, *FAMILIES))
    preprocessing = Preprocessing(spec.size, spec.mean, spec.std, spec.channels)
    method = canonical_method_name(options.method)
    with claim_output_dir(output_dir, exclusive, lock=ranks.is_main), process_group(ranks, device), CamEngine(
        model, targets.modules, targets.reshape_transform, method, on_warning=progress.warn,
        aug_smooth=options.aug_smooth, eigen_smooth=options.eigen_smooth, output=loaded.output,
        threshold=options.threshold,
    ) as engine:
        run = _Run(options, engine, preprocessing, class_names, loaded, output_dir, progress, ranks, device,
                   folder_classes, batch_size)
        return _run_single(run, samples) if options.image_path is not None else _run_batch(run, samples)


def _run_single(run: _Run, samples: list[Sample]) -> ExplainResult:
    options = run.options
    writer = SingleWriter(run.output_dir, run.engine.method, run.class_names, options.target_category,
                          options.save_raw, run.progress.warn, options.figure_format, output=run.loaded.output,
                          threshold=options.threshold)
    with WritePool() as pool:
        _drive(run, batch_loader(samples, run.preprocessing, 1, 0), writer, pool)
    return ExplainResult(run.output_dir, outputs=writer.outputs)


def _run_batch(run: _Run, samples: list[Sample]) -> ExplainResult:
    """Explain this rank's shard into its manifest; then agree on the exit code; rank 0 merges and tidies."""
    options, ranks = run.options, run.ranks
    mine = shard(samples, ranks.rank, ranks.world_size)
    manifest_path = run.output_dir / manifest_name(ranks.rank, ranks.world_size)
    settings = run_settings(options, run.engine.method, run.preprocessing, run.class_names)
    row_sources = sources(mine, settings_key(settings))
    check = resumable_rows(run.output_dir, mine, row_sources, options.save_raw) if options.resume else ResumeCheck()
    for note in check.notes():
        run.progress.warn(note)
    kept = check.rows
    done = {row.index for row in kept}
    todo = [s for s in mine if s.index not in done]
    manifest = ManifestWriter(manifest_path, kept, METRIC_NAMES if options.metrics else (), row_sources)
    class_means = ClassMeans(run.folder_classes, run.preprocessing.size)
    writer = BatchWriter(run.output_dir, run.engine.method, run.class_names, options.target_category,
                         options.save_raw, manifest, run.progress.warn, class_means, options.only_misclassified,
                         options.figure_format, output=run.loaded.output, threshold=options.threshold)
    run.progress.start(len(mine))
    run.progress.advance(len(mine) - len(todo))
    failure = None
    batch_size = run.batch_size
    cpus = share_cpus(options.num_workers)
    try:
        with WritePool(cpus.writer_threads, max_pending=max(16, 2 * batch_size)) as pool:
            workers = min(cpus.loader_workers, max(1, len(todo) // batch_size))
            loader = batch_loader(todo, run.preprocessing, batch_size, workers, pin_memory=run.device.type == "cuda")
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
    """Rank 0, once all ranks are done: merge manifests, write class means and the gallery."""
    if run.ranks.is_distributed:
        rows = merge_rank_manifests(run.output_dir, run.ranks.world_size)
    class_means.write(run.output_dir, run.engine.method, run.options.figure_format)
    write_gallery(run.output_dir, rows, run.class_names, run.engine.method)
    return rows


def _drive(run: _Run, loader: Iterable[DecodedBatch], writer: BatchWriter | SingleWriter,
           pool: WritePool) -> None:
    """Explain every decoded batch with the one CAM engine; hand results and failures to the writer."""
    target_category = run.options.target_category
    with closing(uploaded(loader, run.preprocessing, run.device)) as batches:  # closed: workers stop at once
        for batch, inputs in batches:
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
    iterator = iter(loader)
    try:
        for batch in iterator:
            inputs = preprocessing.normalize(batch.pixels.to(device, non_blocking=True)) if batch.samples else None
            if pending is not None:
                yield pending
            pending = (batch, inputs)
        if pending is not None:
            yield pending
    finally:
        stop_workers(iterator)


def _scores(run: _Run, inputs: torch.Tensor, result: CamBatch) -> list[dict[str, float]]:
    """--metrics: each sample's faithfulness scores for the class its CAM explains."""
    options = run.options
    explained = [explained_classes(p, run.loaded.output, options.threshold, options.target_category)[0]
                 for p in result.probabilities]
    scores = faithfulness_scores(run.engine.cam.model, inputs, result.cams, explained)
    return [{name: float(values[i]) for name, values in scores.items()} for i in range(len(inputs))]
