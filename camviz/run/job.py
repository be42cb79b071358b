"""One `camviz explain` run end to end, as a plain function: select samples, resolve the model, explain, write, summarise.

Decoding runs in DataLoader workers, the CAMs in this process, figure encoding and writing in a small
thread pool, so the model rarely waits on disk. Progress and warnings go to a `Progress` object; this
module prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from camviz.cam.audit import AuditOptions
from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.detection_cams import DetectionChoice
from camviz.cam.engine import CamEngine
from camviz.cam.faithfulness_baselines import FaithfulnessTally, baseline_subset
from camviz.cam.localization import LOCALIZATION_NAMES
from camviz.cam.memory import check_figure_fits, check_input_fits
from camviz.cam.options import CamOptions
from camviz.cam.regions import RegionChoice, background_classes
from camviz.data.classes import match_class_folders
from camviz.data.detection_boxes import read_labelled_boxes, stamped_truth
from camviz.data.ground_truth import GroundTruth, read_ground_truth
from camviz.data.label_maps import find_label_maps
from camviz.data.listing import ImageFolderListing, Sample
from camviz.data.loader import Loading, batch_loader
from camviz.data.sampling import input_images, input_samples, shard
from camviz.discovery.options import Task
from camviz.discovery.spec import as_size
from camviz.errors import CamvizError, UsageError
from camviz.output.audit import remove_audit_outputs
from camviz.output.class_means import ClassMeans
from camviz.output.detection_writer import (
    DETECTION_NAMES,
    MATCH_NAMES,
    DetectionSettings,
    DetectionWriter,
    SingleDetectionWriter,
)
from camviz.output.figures import figure_bytes
from camviz.output.gallery import Page, write_gallery
from camviz.output.manifest import MANIFEST_NAME, ManifestWriter, manifest_name, merge_rank_manifests
from camviz.output.options import OutputOptions
from camviz.output.outdir import claim_output_dir, make_output_dir
from camviz.output.pool import WritePool
from camviz.output.region_writer import REGION_NAMES, TRUTH_NAMES, RegionSettings, RegionWriter, SingleRegionWriter
from camviz.output.result import ImageResult
from camviz.output.run_record import write_run_record
from camviz.output.small_maps import SmallMapWriter, maps_name, merge_rank_maps
from camviz.output.summary import Summary, summarize
from camviz.output.trust import trust_rows, write_trust
from camviz.output.writers import BatchWriter, MapKeepers, SingleWriter, WriterSettings
from camviz.run.audit import AuditResult, FinishedRun, audit_finished
from camviz.run.batches import Job, drive
from camviz.run.cpus import default_batch_size, share_cpus
from camviz.run.model import ResolvedModel, resolve_model, select_device
from camviz.run.options import (
    ExplainOptions,
    RunMode,
    check_detection_options,
    check_options,
    check_segmentation_options,
    check_target_category,
)
from camviz.run.progress import NoteLog, Progress, SilentProgress
from camviz.run.provenance import finish_record, start_record
from camviz.run.ranks import Ranks, process_group, ranks_from_environment, sum_over_ranks, worst_exit_code
from camviz.run.resume import ResumeCheck, resumable_rows, settings_key, sources
from camviz.run.signals import Interrupted


@dataclass(kw_only=True)
class ExplainResult:
    """What a run produced: files written, the manifest (batch mode) and the counts."""

    output_dir: Path
    outputs: list[Path] = field(default_factory=list)
    manifest: Path | None = None
    summary: Summary = field(default_factory=Summary)
    exit_code: int = 0  # 0 all done, 3 some inputs skipped (DESIGN.md); under torchrun, the worst rank's
    audit: AuditResult | None = None  # --audit (rank 0)


def explain(options: ExplainOptions, progress: Progress | None = None, *,
            command_line: Sequence[str] | None = None) -> ExplainResult:
    """Run Grad-CAM (or another method) for one image or an ImageFolder split and write the figures.

    Under torchrun (WORLD_SIZE > 1) each rank explains its shard of the selected samples and rank 0
    merges the manifests; the result's exit code is the worst over the ranks. `command_line`: the arguments after
    `camviz` when camviz is the program (the CLI passes them; `run.json` records them); from Python, leave it out:
    `run.json` then records the options, never the calling process's own command line.
    """
    check_options(options)
    progress = NoteLog(progress or SilentProgress())
    samples, folder_classes, listing_error = _listed(options)
    ranks = ranks_from_environment()
    _check_explicit_size_fits(options, len(samples), ranks.local_rank)
    resolved = resolve_model(options.model, folder_classes, ranks.local_rank)
    loaded = resolved.loaded
    if loaded.task is Task.detection:
        check_detection_options(options)
    if loaded.task is not Task.classification:  # a folder of images, no class folders
        if loaded.task is Task.segmentation:
            check_segmentation_options(options)
        samples, folder_classes = input_images(options.inputs), []
    elif listing_error is not None:
        raise listing_error
    for note in resolved.notes:
        progress.warn(note)
    if options.inputs.data_dir is not None and loaded.task is Task.classification:
        matched = match_class_folders(ImageFolderListing(classes=folder_classes, samples=samples), resolved.class_names,
                                      options.inputs.data_dir, recorded=loaded.class_names is not None, say=progress.warn)
        samples, folder_classes = matched.samples, matched.classes
    check_target_category(options.cam.target_category, loaded.num_classes)
    ground_truth = _ground_truth(options.output, samples, progress, resolved)
    if options.output.metrics and not loaded.output_kind.is_softmax:
        raise UsageError(f"--metrics scores softmax classifiers only; this model's output is {loaded.output_kind.name}")
    output_dir = make_output_dir(options.output.output_dir)
    batch_size = options.batch_size or default_batch_size(resolved.device)
    check_input_fits(*loaded.input.size, batch=min(batch_size, len(samples)), channels=loaded.input.channels)
    check_figure_fits(*loaded.input.size, figure_bytes(*loaded.input.size))
    exclusive = options.mode is RunMode.batch  # a batch run owns the folder; single-image runs share it
    with claim_output_dir(output_dir, exclusive, lock=ranks.is_main), process_group(ranks, resolved.device), \
            _engine(resolved, options.cam, progress, options.detection) as engine:
        key = settings_key(options, resolved, engine.method)
        job = Job(options=options, resolved=resolved, engine=engine, progress=progress, batch_size=batch_size,
                  settings_key=key, record=start_record(options, resolved, engine.method, key, command_line),
                  ground_truth=ground_truth, baseline_images=_baseline_images(options, samples))
        if options.output.metrics:
            job.done.faithfulness = FaithfulnessTally()
        with _recorded(job, ranks.is_main) as outcome:
            outcome.result = _run_single(job, samples) if options.mode is RunMode.single \
                else _run_batch(job, samples, folder_classes, ranks)
        return outcome.result


def _listed(options: ExplainOptions) -> tuple[list[Sample], list[str], UsageError | None]:
    """The data dir as an ImageFolder (samples and class folders); a folder without class folders as its images,
    with the error a classifier gets for it (a segmentation model reads such a folder)."""
    try:
        samples, folder_classes = input_samples(options.inputs)
    except UsageError as error:
        if options.inputs.data_dir is None or not options.inputs.data_dir.is_dir():
            raise
        try:
            images = input_images(replace(options.inputs, classes=()))
        except UsageError:
            raise error from None  # no images at all: the classifier's error says what a data dir holds
        return images, [], error
    return samples, folder_classes, None


@dataclass
class _Outcome:
    result: ExplainResult | None = None


@contextmanager
def _recorded(job: Job, is_main: bool) -> Iterator[_Outcome]:
    """`run.json` written as the run starts and rewritten as it ends, however it ends (rank 0 only); a record that
    cannot be rewritten after a failure never hides the failure itself."""
    if is_main:
        write_run_record(job.output_dir, job.record)
    outcome = _Outcome()
    try:
        yield outcome
    except CamvizError as error:
        _record_end(job, is_main, f"error: {error}", None, quiet=True)
        raise
    except (KeyboardInterrupt, Interrupted):
        _record_end(job, is_main, "interrupted", None, quiet=True)
        raise
    except BaseException as error:
        _record_end(job, is_main, f"failed: {type(error).__name__}", None, quiet=True)
        raise
    assert outcome.result is not None, "the run's body sets its result"
    _record_end(job, is_main, f"exit {outcome.result.exit_code}", outcome.result)


def _record_end(job: Job, is_main: bool, status: str, result: ExplainResult | None, *, quiet: bool = False) -> None:
    """Rewrite run.json with the end time, status and counts (`quiet`: a failure to write it is dropped); a run
    that ended early (a signal, an error) counts what it had finished (this rank's rows, kept ones included)."""
    if not is_main:
        return
    if result is not None:
        summary = result.summary if result.manifest is not None else None
        outputs = len(result.outputs) if result.manifest is None else None
    else:
        done = job.done
        summary = summarize(done.rows.values(), done.resumed, job.resolved.class_names) if done.rows is not None \
            else None
        outputs = len(done.files) if done.files is not None else None
    try:
        write_run_record(job.output_dir, finish_record(job.record, status, job.progress.notes, summary, outputs))
    except CamvizError:
        if not quiet:
            raise


def _check_explicit_size_fits(options: ExplainOptions, count: int, local_rank: int) -> None:
    """An explicit --img-size whose batch could not fit, refused before the model is read and run at that size
    (one channel: a lower bound; the exact check follows once the model says its channels)."""
    size = as_size(options.model.img_size)
    if size is not None:
        batch_size = options.batch_size or default_batch_size(select_device(options.model.cpu, local_rank))
        check_input_fits(*size, batch=min(batch_size, count), channels=1)


def _baseline_images(options: ExplainOptions, samples: list[Sample]) -> frozenset[int]:
    """--metrics: the seeded subset of the selected images (`--seed`) whose baseline maps are scored too."""
    return baseline_subset((s.index for s in samples), options.inputs.seed) if options.output.metrics else frozenset()


def _ground_truth(output: OutputOptions, samples: list[Sample], progress: Progress,
                  resolved: ResolvedModel) -> GroundTruth | None:
    """--masks / --boxes read and matched to the selected images: none matching is an error, some is said (a
    detector's labelled boxes: their coordinates, `camviz.data.detection_boxes`)."""
    if output.masks is None and output.boxes is None:
        return None
    if output.boxes is not None and resolved.loaded.task is Task.detection:
        ground_truth = stamped_truth(read_labelled_boxes(output.boxes, resolved.class_names))
    else:
        ground_truth = read_ground_truth(output.masks, output.boxes)
    matched = sum(ground_truth.covers(sample) for sample in samples)
    given = " and ".join(f"{flag} {path}" for flag, path in (("--masks", output.masks), ("--boxes", output.boxes))
                         if path is not None)
    if not matched:
        raise UsageError(f"{given}: ground truth matches 0 of the {len(samples)} selected images (a mask is "
                         "MASKS/<same relative path and stem>.<any image format>; a box row names the image's path "
                         "relative to --data-dir)")
    if matched < len(samples):
        progress.warn(f"{given}: ground truth for {matched} of {len(samples)} selected images; the others get "
                      "empty localization cells")
    return ground_truth


def _engine(resolved: ResolvedModel, cam: CamOptions, progress: Progress,
            detection: DetectionChoice = DetectionChoice()) -> CamEngine:
    """The run's one CAM engine, on the resolved target layers (a segmentation model's: a CAM per predicted
    class, background set aside; a detector's: a CAM per detection `detection` chooses)."""
    targets = resolved.targets
    regions = RegionChoice(background=background_classes(resolved.class_names)) \
        if resolved.loaded.task is Task.segmentation else None
    return CamEngine(resolved.model, targets.modules, targets.reshape_transform, options=cam,
                     output_kind=resolved.loaded.output_kind, regions=regions,
                     detections=detection if resolved.loaded.task is Task.detection else None, say=progress.warn)


def _writer_settings(job: Job) -> WriterSettings:
    """The files' settings: the output options, and this run's method, classes, output kind and target."""
    return WriterSettings(output=job.options.output, method=job.engine.method,
                          class_names=tuple(job.resolved.class_names), output_kind=job.resolved.loaded.output_kind,
                          target_category=job.options.cam.target_category)


def _region_settings(job: Job) -> RegionSettings:
    """A segmentation run's file settings: the output options, method, classes and which are background."""
    names = tuple(job.resolved.class_names)
    masks = job.options.output.masks
    return RegionSettings(output=job.options.output, method=job.engine.method, class_names=names,
                          background=background_classes(names),
                          label_maps=find_label_maps(masks) if masks is not None else None)


def _detection_settings(job: Job) -> DetectionSettings:
    """A detector run's file settings: the output options, method, classes and the true boxes (--boxes)."""
    names = tuple(job.resolved.class_names)
    boxes = job.options.output.boxes
    return DetectionSettings(output=job.options.output, method=job.engine.method, class_names=names,
                             boxes=read_labelled_boxes(boxes, names) if boxes is not None else None)


def _is_segmentation(job: Job) -> bool:
    return job.resolved.loaded.task is Task.segmentation


def _is_detection(job: Job) -> bool:
    return job.resolved.loaded.task is Task.detection


def _run_single(job: Job, samples: list[Sample]) -> ExplainResult:
    writer: SingleWriter | SingleRegionWriter | SingleDetectionWriter
    if _is_detection(job):
        writer = SingleDetectionWriter(_detection_settings(job), job.progress.warn)
    elif _is_segmentation(job):
        writer = SingleRegionWriter(_region_settings(job), job.progress.warn)
    else:
        writer = SingleWriter(_writer_settings(job), job.progress.warn)
    job.done.files = writer.outputs
    drive(job, batch_loader(samples, job.resolved.preprocessing, Loading(batch_size=1)), writer)
    return ExplainResult(output_dir=job.output_dir, outputs=writer.outputs)


def _run_batch(job: Job, samples: list[Sample], folder_classes: list[str], ranks: Ranks) -> ExplainResult:
    """Explain this rank's shard into its manifest; then agree on the exit code; rank 0 merges and tidies."""
    mine = shard(samples, ranks.rank, ranks.world_size)
    row_sources = sources(mine, job.settings_key, job.ground_truth)
    check = resumable_rows(job.output_dir, mine, row_sources, save_raw=job.options.output.save_raw,
                           labels=_labels(job)) if job.options.resume else ResumeCheck()
    for note in check.notes():
        job.progress.warn(note)
    done = {result.index for result in check.results}
    score_names = _score_names(job)
    manifest = ManifestWriter(job.output_dir / manifest_name(ranks.rank, ranks.world_size), kept=check.results,
                              score_names=score_names, sources=row_sources)
    job.done.rows, job.done.resumed = manifest.results, len(done)
    class_means = ClassMeans(folder_classes, job.resolved.preprocessing.size)
    keepers = MapKeepers(class_means=class_means,
                         small_maps=SmallMapWriter(job.output_dir / maps_name(ranks.rank, ranks.world_size),
                                                   kept=check.maps))
    job.progress.start(len(mine))
    job.progress.advance(len(done))
    exit_code, outputs = _explain_shard(job, [s for s in mine if s.index not in done], manifest, keepers)
    if exit_code in (0, 3):  # every rank finished: the same decision everywhere, so the collective is safe
        class_means.sums = sum_over_ranks(class_means.sums, job.resolved.device)
        class_means.counts = sum_over_ranks(class_means.counts, job.resolved.device)
    results = list(manifest.results.values())
    if ranks.is_main and ranks.is_distributed:
        results = merge_rank_manifests(job.output_dir, ranks.world_size, _labels(job))
        merge_rank_maps(job.output_dir, ranks.world_size, [result.index for result in results])
    summary = summarize(results, len(done), job.resolved.class_names)
    if job.done.faithfulness is not None:
        summary.faithfulness = job.done.faithfulness.report()
    audit = None
    if ranks.is_main:
        remove_audit_outputs(job.output_dir)  # an earlier audit's table and figures describe other rows
    if ranks.is_main and job.options.output.audit:
        labels = _labels(job)
        run = FinishedRun(output_dir=job.output_dir, labels=tuple(labels) if labels else None,
                          data_dir=job.options.inputs.data_dir, size=job.resolved.preprocessing.size,
                          figure_format=job.options.output.figure_format)
        audit = audit_finished(run, AuditOptions(seed=job.options.inputs.seed))
        for note in audit.notes:
            job.progress.warn(note)
        results = [replace(result, cluster=audit.cells.get(result.index, "")) for result in results]
    if ranks.is_main:
        _finish_output_dir(job, results, summary, class_means, audit)
    return ExplainResult(output_dir=job.output_dir, outputs=outputs, manifest=job.output_dir / MANIFEST_NAME,
                         summary=summary, exit_code=exit_code, audit=audit)


def _score_names(job: Job) -> tuple[str, ...]:
    """The manifest's score columns: --metrics, then localization and its baselines with ground truth; a
    segmentation model's region scores (and with label maps, IoU and the energy in the true region)."""
    if _is_segmentation(job):
        return (*REGION_NAMES, *(TRUTH_NAMES if job.ground_truth else ()))
    if _is_detection(job):
        return (*DETECTION_NAMES, *(MATCH_NAMES if job.ground_truth else ()))
    return (*job.options.output.metrics, *((*LOCALIZATION_NAMES, *BASELINE_NAMES) if job.ground_truth else ()))


def _explain_shard(job: Job, todo: list[Sample], manifest: ManifestWriter,
                   keepers: MapKeepers) -> tuple[int, list[Path]]:
    """Explain `todo` into the manifest: the worst exit code over the ranks (a failure here is raised after
    the other ranks have heard it) and the figures written."""
    failure, outputs = None, []
    cpus = share_cpus(job.options.num_workers)
    try:
        with WritePool(cpus.writer_threads, max_pending=max(16, 2 * job.batch_size)) as pool:
            writer: BatchWriter | RegionWriter | DetectionWriter
            if _is_detection(job):
                writer = DetectionWriter(_detection_settings(job), manifest=manifest, pool=pool, say=job.progress.warn,
                                         small_maps=keepers.small_maps)
            elif _is_segmentation(job):
                writer = RegionWriter(_region_settings(job), manifest=manifest, pool=pool, say=job.progress.warn,
                                      small_maps=keepers.small_maps)
            else:
                writer = BatchWriter(_writer_settings(job), manifest=manifest, pool=pool, say=job.progress.warn,
                                     keepers=keepers)
            outputs = writer.outputs
            workers = min(cpus.loader_workers, max(1, len(todo) // job.batch_size))
            device = job.resolved.device.type  # on the CPU device the workers normalise
            loading = Loading(batch_size=job.batch_size, num_workers=workers, pin_memory=device == "cuda",
                              normalize=device == "cpu")
            objects = None if _is_segmentation(job) or _is_detection(job) else job.ground_truth  # read by the writer
            loader = batch_loader(todo, job.resolved.preprocessing, loading, objects)
            drive(job, loader, writer)
    except CamvizError as error:  # other ranks still wait for this rank's exit code
        failure = error
    finally:
        manifest.close()
        if keepers.small_maps is not None:
            keepers.small_maps.close()
    own_code = failure.exit_code if failure else (3 if any(not r.ok for r in manifest.results.values()) else 0)
    exit_code = worst_exit_code(own_code, job.resolved.device)
    if failure is not None:
        raise failure
    return exit_code, outputs


def _labels(job: Job) -> list[str] | None:
    """A multi-label model's labels, by which a manifest's predictions are read back; None: one class a row."""
    return job.resolved.class_names if job.resolved.loaded.output_kind.is_multilabel else None


def _finish_output_dir(job: Job, results: list[ImageResult], summary: Summary, class_means: ClassMeans,
                       audit: AuditResult | None) -> None:
    """Rank 0, once all ranks are done and their manifests merged: write class means, the gallery (with --audit,
    its "Audit" view) and trust.csv."""
    class_means.write(job.output_dir, job.engine.method, job.options.output.figure_format)
    record = finish_record(job.record, "finishing", job.progress.notes, summary)
    write_gallery(job.output_dir, results, Page(class_names=job.resolved.class_names, method=job.engine.method,
                                                run=record, audit=audit.classes if audit else ()))
    write_trust(job.output_dir, trust_rows(summary))
