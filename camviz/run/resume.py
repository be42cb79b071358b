"""`--resume` that cannot lie: a finished row counts only if this run would produce exactly that row.

Each result carries its `Source` (the manifest's `source` column): the settings key
is a short hash of every value that shapes an output, derived from the run's options themselves (every field of
`ExplainOptions` and the types it holds, but those listed in `NOT_IN_KEY` with why) and from what the model
resolved to (method, output kind, classes, preprocessing, target layers); the rest identifies the image file as it
was read, and the last identifies the image's own ground truth (its `--masks` file and `--boxes` rows, `STAMPED_PER_IMAGE`),
so a fixed, added or removed mask redoes that image's row and no other. `--resume` keeps an earlier row only if its
index, path and source match this run's and its files are on disk; anything else is redone, and why is said in one
line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from camviz.data.ground_truth import GivenTruth, GroundTruth
from camviz.data.listing import Sample
from camviz.discovery.formats import model_files
from camviz.discovery.options import Task
from camviz.output.manifest import read_manifest
from camviz.output.result import ImageResult, Source
from camviz.output.small_maps import MAPS_NAME, read_run_maps
from camviz.run.model import ResolvedModel
from camviz.run.options import ExplainOptions

NOT_IN_KEY: dict[str, str] = {  # `Type.field`: why it changes no row and no file (every other field is in the key)
    "ExplainOptions.inputs": "which images are explained, not what one image's row holds (rows are matched by "
                             "index, path and the image file's own stamp)",
    "ExplainOptions.batch_size": "how many images share a pass; each image's CAM is its own",
    "ExplainOptions.num_workers": "how many processes decode the same pixels",
    "ExplainOptions.resume": "whether earlier rows are kept, not what a row holds",
    "OutputOptions.output_dir": "where the files are; a resumed run reads the rows that are there",
    "OutputOptions.audit": "the audit reads the finished rows and small maps (kept in every batch run) after the "
                           "run; its `cluster` column is recomputed each time, never resumed",
    "ModelOptions.trust_checkpoint": "a permission to unpickle, not which weights are read (the files' stamps are)",
    "ModelOptions.cpu": "the device: the same rows up to float rounding, as on another machine",
    "ExplainOptions.detection": "a detector's run only: `settings_key` adds it beside the options there, so the "
                                "keys of other models' runs stay as they were",
}


STAMPED_PER_IMAGE: dict[str, str] = {  # `Type.field`: in the key by its path only; its content is in each row's source
    "OutputOptions.masks": "each image's own mask file is stamped into that image's source (`truth_stamp`)",
    "OutputOptions.boxes": "each image's own box rows are stamped into that image's source (`truth_stamp`)",
}


def settings_key(options: ExplainOptions, resolved: ResolvedModel, method: str) -> str:
    """12 hex digits that change whenever any value that shapes an output changes."""
    settings = {"options": option_values(options), "resolved": resolved_values(resolved, method)}
    if resolved.loaded.task is Task.detection:
        settings["detection"] = option_values(options.detection)
    text = json.dumps(settings, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def option_values(value: object, owner: str = "") -> object:
    """`value` as JSON-ready data for the key: dataclasses field by field (skipping `NOT_IN_KEY`), the checkpoint
    as the stamps of the files it is read from, other paths resolved with their stamp, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        return {item.name: _field_value(name, item.name, getattr(value, item.name))
                for item in dataclasses.fields(value) if f"{name}.{item.name}" not in NOT_IN_KEY}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return [str(value.resolve()), file_stamp(value)]
    if isinstance(value, (tuple, list)):
        return [option_values(item) for item in value]
    return value


def _field_value(owner: str, name: str, value: object) -> object:
    if owner == "ModelOptions" and name == "path" and isinstance(value, (str, Path)):
        return [str(Path(value).resolve()), *model_stamps(Path(value))]
    if f"{owner}.{name}" in STAMPED_PER_IMAGE and isinstance(value, Path):
        return str(value.resolve())
    return option_values(value)


def resolved_values(resolved: ResolvedModel, method: str) -> dict[str, object]:
    """What the model resolved to that shapes an output: the method, output kind, classes, input and layers."""
    kind = resolved.loaded.output_kind
    return {"method": method, "model_name": resolved.loaded.model_name, "output": [kind.name.value, kind.threshold],
            "classes": list(resolved.class_names), "preprocessing": repr(resolved.preprocessing),
            "target_layers": list(resolved.targets.names), "reshape": resolved.targets.reshape}


def model_stamps(model_path: Path) -> list[str]:
    """`{name}:{size}:{mtime}` of every file the model is read from (a folder's weights and configs, not the
    folder's own entry, which does not change when a file in it is overwritten)."""
    try:
        files = model_files(model_path)
    except OSError:
        return [file_stamp(model_path)]
    return [f"{file.name}:{file_stamp(file)}" for file in files]


def file_stamp(path: Path) -> str:
    """`{size}:{mtime in ns}` of a file, or empty if it cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return ""
    return f"{status.st_size}:{status.st_mtime_ns}"


def truth_stamp(ground_truth: GroundTruth | None, sample: Sample) -> str:
    """12 hex digits that change whenever the image's own ground truth does: its mask file (which file, its size and
    modification time) and its box rows; empty when it has none."""
    given = ground_truth.given(sample) if ground_truth is not None else GivenTruth()
    if not given.any:
        return ""
    mask = [given.mask_file.name, file_stamp(given.mask_file)] if given.mask_file is not None else None
    text = json.dumps({"mask": mask, "boxes": [list(box) for box in given.boxes]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def sources(samples: Sequence[Sample], key: str, ground_truth: GroundTruth | None = None) -> dict[int, Source]:
    """Each sample's source for this run (with `--masks`/`--boxes`, its ground truth's stamp too)."""
    return {sample.index: Source(key, file_stamp(sample.path), truth_stamp(ground_truth, sample))
            for sample in samples}


@dataclass(kw_only=True)
class ResumeCheck:
    """The results an earlier run finished that still hold, and how many did not (and why)."""

    results: list[ImageResult] = field(default_factory=list)
    data_changed: int = 0  # the image at that index is another file, or was modified
    settings_changed: int = 0  # same image, other settings (or a manifest from an older camviz)
    truth_changed: int = 0  # same image and settings, but its mask or boxes were changed, added or removed
    maps_missing: int = 0  # same image, settings and ground truth, but no small map kept (an older camviz)
    maps: dict[int, np.ndarray] = field(default_factory=dict)  # the kept rows' small maps (`cam_maps.bin`)

    def notes(self) -> list[str]:
        """One line per reason rows are redone."""
        notes = []
        if self.data_changed:
            notes.append(f"--resume: the data dir changed since the earlier run: {self.data_changed} earlier rows "
                         "no longer match their image and are redone")
        if self.settings_changed:
            notes.append(f"--resume: {self.settings_changed} earlier rows were made with other settings (checkpoint, "
                         "method, target, image size or outputs) and are redone")
        if self.truth_changed:
            notes.append(f"--resume: the ground truth (--masks / --boxes) of {self.truth_changed} images changed since "
                         "the earlier run (a mask or box fixed, added or removed): their rows are redone")
        if self.maps_missing:
            notes.append(f"--resume: {self.maps_missing} earlier rows have no small map in {MAPS_NAME} (made by an "
                         "older camviz, or cut short) and are redone, so that the audit sees every image")
        return notes


def resumable_rows(output_dir: Path, samples: Sequence[Sample], sources: Mapping[int, Source], *,
                   save_raw: bool, labels: Sequence[str] | None = None) -> ResumeCheck:
    """Results of earlier runs (merged or per-rank manifests) for `samples` that this run would write unchanged;
    `labels`: a multi-label model's labels, by which the manifest's predictions are read. An image is kept whole or
    redone whole: every row of it in one manifest (a segmentation model's: one per class) must hold."""
    by_index = {sample.index: sample for sample in samples}
    kept: dict[int, list[ImageResult]] = {}
    changed: dict[str, set[int]] = {"data": set(), "settings": set(), "truth": set(), "maps": set()}
    maps = read_run_maps(output_dir) or {}
    for path in sorted(output_dir.glob("manifest*.csv")):
        rows: dict[int, list[ImageResult]] = {}
        unusable: set[int] = set()
        for result in read_manifest(path, labels):
            sample = by_index.get(result.index)
            if sample is None:
                continue
            if not result.ok or not _files_present(output_dir, result, save_raw):
                unusable.add(result.index)
                continue
            reason = _changed(result, sample, sources[result.index])
            if reason is None and result.index not in maps:
                reason = "maps"
            if reason is None:
                rows.setdefault(result.index, []).append(result)
            else:
                changed[reason].add(result.index)
                unusable.add(result.index)
        kept |= {index: found for index, found in rows.items() if index not in unusable}
    redone = {reason: len(indices - set(kept)) for reason, indices in changed.items()}
    return ResumeCheck(results=[row for found in kept.values() for row in found], data_changed=redone["data"],
                       settings_changed=redone["settings"], truth_changed=redone["truth"], maps_missing=redone["maps"],
                       maps={index: maps[index] for index in kept})


def _changed(result: ImageResult, sample: Sample, expected: Source) -> str | None:
    """Why an earlier row no longer holds ("data", "settings" or "truth"), or None when this run would write it."""
    source = result.source
    if result.path != sample.relative_path or (source is not None and source.image != expected.image):
        return "data"
    if source is None or source.key != expected.key:  # None: a manifest from before camviz kept a source
        return "settings"
    if source.truth != expected.truth:
        return "truth"
    return None


def _files_present(output_dir: Path, result: ImageResult, save_raw: bool) -> bool:
    """A result without a figure (--only-misclassified) needs nothing; else its figure (and raw CAM). Writes are
    atomic, so a file under its final name is complete."""
    if not result.output:
        return True
    figure = output_dir / result.output
    return figure.is_file() and (not save_raw or figure.with_suffix(".npy").is_file())
