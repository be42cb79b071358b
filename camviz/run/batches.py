"""The batch loop: decoded batches uploaded one ahead, explained by the one engine, handed to the writer."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import torch

from camviz.cam.engine import CamBatch, CamEngine
from camviz.cam.faithfulness_baselines import BASELINE_METRICS, BASELINES, FaithfulnessTally, baseline_maps
from camviz.cam.metrics import Scoring, faithfulness_scores, timed_faithfulness_scores
from camviz.data.ground_truth import GroundTruth, ObjectTruth
from camviz.data.listing import Sample
from camviz.data.loader import DecodedBatch, stop_workers
from camviz.data.preprocessing import Preprocessing
from camviz.output.detection_writer import DetectedImage
from camviz.output.region_writer import SegmentedImage
from camviz.output.result import ImageResult, RowKey
from camviz.output.writers import ExplainedImage
from camviz.run.model import ResolvedModel
from camviz.run.options import ExplainOptions
from camviz.run.progress import NoteLog


@dataclass(kw_only=True)
class Done:
    """What a run has finished so far, kept as it goes, so that `run.json` counts it however the run ends."""

    rows: Mapping[RowKey, ImageResult] | None = None  # batch mode: the manifest's rows (kept and new), live
    resumed: int = 0  # of those, rows kept from an earlier run
    files: list[Path] | None = None  # single mode: the files written, live
    faithfulness: FaithfulnessTally | None = None  # --metrics: seconds per metric and the baselines' scores


@dataclass(frozen=True, kw_only=True)
class Job:
    """What the loop of one run needs once the model, its engine and the output folder are ready."""

    options: ExplainOptions
    resolved: ResolvedModel
    engine: CamEngine
    progress: NoteLog  # progress, and every note said, for the terminal and run.json
    batch_size: int  # --batch-size, else the device's default
    settings_key: str = ""  # what shapes the outputs, hashed (`camviz.run.resume.settings_key`)
    record: dict = field(default_factory=dict)  # run.json as the run started (`camviz.run.provenance`)
    ground_truth: GroundTruth | None = None  # --masks / --boxes
    baseline_images: frozenset[int] = frozenset()  # --metrics: the indices whose baseline maps are scored too
    said: set[str] = field(default_factory=set)  # the kinds of ground-truth notes already said
    done: Done = field(default_factory=Done)  # what is finished so far

    @property
    def output_dir(self) -> Path:
        """The run's output folder (made before the job starts)."""
        return self.options.output.output_dir


class SampleWriter(Protocol):
    """Where explained and failed samples go (`camviz.output.writers`)."""

    def failed(self, sample: Sample, error: str) -> None: ...

    def done(self, image: ExplainedImage) -> None: ...


class RegionSampleWriter(Protocol):
    """Where a segmentation model's explained and failed samples go (`camviz.output.region_writer`)."""

    def failed(self, sample: Sample, error: str) -> None: ...

    def done(self, image: SegmentedImage) -> None: ...


class DetectionSampleWriter(Protocol):
    """Where a detector's explained and failed samples go (`camviz.output.detection_writer`)."""

    def failed(self, sample: Sample, error: str) -> None: ...

    def done(self, image: DetectedImage) -> None: ...


AnyWriter = SampleWriter | RegionSampleWriter | DetectionSampleWriter


def drive(job: Job, loader: Iterable[DecodedBatch], writer: AnyWriter) -> None:
    """Explain every decoded batch with the one CAM engine; hand results and failures to the writer."""
    with closing(uploaded(loader, job.resolved.preprocessing, job.resolved.device)) as batches:  # closed: workers stop
        for batch, inputs in batches:
            for sample, error in batch.failures:
                writer.failed(sample, error)
            _say_notes(job, batch.truths)
            if inputs is not None:  # the batch has decoded samples
                _write_batch(job, batch, inputs, writer)
            job.progress.advance(len(batch.samples) + len(batch.failures))


def _write_batch(job: Job, batch: DecodedBatch, inputs: torch.Tensor, writer: AnyWriter) -> None:
    """CAMs (and --metrics scores) for one decoded batch, each sample handed to the writer."""
    result = job.engine.compute(inputs, job.options.cam.target_category)
    scores = _scores(job, inputs, result, batch.samples) if job.options.output.metrics \
        else [{} for _ in batch.samples]
    pixels = batch.pixels.numpy()
    if result.detections is not None:  # a detector: its detections and a CAM per detection
        for position, sample in enumerate(batch.samples):
            cast(DetectionSampleWriter, writer).done(DetectedImage(sample=sample, pixels=pixels[position],
                                                                   found=result.detections[position]))
        return
    if result.regions is not None:  # a segmentation model: its label map and a CAM per explained class
        for position, sample in enumerate(batch.samples):
            cast(RegionSampleWriter, writer).done(SegmentedImage(sample=sample, pixels=pixels[position], regions=result.regions[position]))
        return
    cams = result.cams if result.label_cams is None else result.label_cams  # multilabel: [K, H, W] each
    truths = batch.truths or [None] * len(batch.samples)
    for position, sample in enumerate(batch.samples):
        cast(SampleWriter, writer).done(ExplainedImage(sample=sample, pixels=pixels[position], cam=cams[position],
                                   probabilities=result.probabilities[position], scores=scores[position],
                                   truth=truths[position]))


def _say_notes(job: Job, truths: list[ObjectTruth | None]) -> None:
    """Warn about the ground truth of a batch (a resized mask, a clipped box): each kind of note once per run."""
    for truth in truths:
        for kind, text in truth.notes if truth is not None else ():
            if kind not in job.said:
                job.said.add(kind)
                job.progress.warn(text)


def uploaded(loader: Iterable[DecodedBatch], preprocessing: Preprocessing,
             device: torch.device) -> Generator[tuple[DecodedBatch, torch.Tensor | None], None, None]:
    """Each batch with its normalised input on `device`, one batch ahead: the next upload is queued
    (non-blocking from pinned memory on CUDA) before the current batch is explained. A batch the workers
    already normalised (CPU device) is used as it came; a batch of failures only has no input (None)."""
    pending = None
    iterator = iter(loader)
    try:
        for batch in iterator:
            inputs = _model_input(batch, preprocessing, device) if batch.samples else None
            if pending is not None:
                yield pending
            pending = (batch, inputs)
        if pending is not None:
            yield pending
    finally:
        stop_workers(iterator)


def _model_input(batch: DecodedBatch, preprocessing: Preprocessing, device: torch.device) -> torch.Tensor:
    """The batch's float input on `device`: the workers' when they normalised, else normalised on the device."""
    if batch.inputs is not None:
        return batch.inputs.to(device, non_blocking=True)
    return preprocessing.normalize(batch.pixels.to(device, non_blocking=True))


def _scores(job: Job, inputs: torch.Tensor, result: CamBatch, samples: list[Sample]) -> list[dict[str, float]]:
    """--metrics: each sample's faithfulness scores for the class its CAM explains; their time, and the baselines'
    scores on the samples of the baseline subset, added to the run's tally."""
    kind = job.resolved.loaded.output_kind
    explained = [kind.explained(p, job.options.cam.target_category)[0] for p in result.probabilities]
    scores, seconds = timed_faithfulness_scores(job.resolved.model, inputs, result.cams, explained,
                                                Scoring(metrics=job.options.output.metrics, batch_size=job.batch_size))
    tally = job.done.faithfulness
    if tally is not None:
        tally.timed(seconds, len(inputs))
        chosen = [position for position, sample in enumerate(samples) if sample.index in job.baseline_images]
        metrics = [name for name in job.options.output.metrics if name in BASELINE_METRICS]
        if chosen and metrics:
            tally.scored(None, {name: scores[name][chosen] for name in metrics})
            for baseline in BASELINES:
                maps = baseline_maps(baseline, [samples[p].index for p in chosen], *inputs.shape[-2:])
                tally.scored(baseline, faithfulness_scores(job.resolved.model, inputs[chosen], maps,
                                                           [explained[p] for p in chosen], Scoring(metrics=metrics)))
    return [{name: float(values[i]) for name, values in scores.items()} for i in range(len(inputs))]
