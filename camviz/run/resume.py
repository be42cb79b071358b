"""`--resume` that cannot lie: a finished row counts only if this run would produce exactly that row.

Each manifest row carries a `source` column, `{settings key}:{image size}:{image mtime in ns}`: the settings key
is a short hash of everything that shapes an output (the files the model is read from, model, method, target, image size,
normalisation, layers, output set); the rest identifies the image file as it was read. `--resume` keeps an
earlier row only if its index, path and source match this run's and its files are on disk; anything else is
redone, and why is said in one line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from camviz.data.listing import Sample
from camviz.data.preprocessing import Preprocessing
from camviz.discovery.formats import model_files
from camviz.output.manifest import ManifestRow, read_manifest

if TYPE_CHECKING:
    from camviz.run.options import ExplainOptions


def settings_key(settings: Mapping[str, object]) -> str:
    """12 hex digits that change whenever any setting that shapes an output changes."""
    text = json.dumps(settings, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_settings(options: ExplainOptions, method: str, preprocessing: Preprocessing,
                 class_names: Sequence[str]) -> dict[str, object]:
    """Everything that shapes a batch run's outputs (not which samples it picks): hashed by `settings_key`."""
    return {
        "checkpoint": [str(options.model_path.resolve()), *model_stamps(options.model_path)],
        "model": [options.model_name, options.ema, [str(family) for family in options.families]]
        + ([options.state_prefix] if options.state_prefix is not None else []),
        "method": [method, options.aug_smooth, options.eigen_smooth, list(options.target_layers)],
        "target": options.target_category, "classes": list(class_names), "preprocessing": repr(preprocessing),
        "outputs": {"save_raw": options.save_raw, "only_misclassified": options.only_misclassified,
                    "metrics": options.metrics, "figure_format": options.figure_format},
        **_ground_truth_settings(options),
    }


def model_stamps(model_path: Path) -> list[str]:
    """`{name}:{size}:{mtime}` of every file the model is read from (a folder's weights and configs, not the
    folder's own entry, which does not change when a file in it is overwritten)."""
    try:
        files = model_files(model_path)
    except OSError:
        return [file_stamp(model_path)]
    return [f"{file.name}:{file_stamp(file)}" for file in files]


def _ground_truth_settings(options: ExplainOptions) -> dict[str, object]:
    """--masks and --boxes (the folder, the file and its stamp) when given: they add columns and outlines."""
    if options.masks is None and options.boxes is None:
        return {}  # the key of a run without ground truth is unchanged
    masks = str(options.masks.resolve()) if options.masks else None
    boxes = [str(options.boxes.resolve()), file_stamp(options.boxes)] if options.boxes else None
    return {"ground_truth": [masks, boxes]}


def file_stamp(path: Path) -> str:
    """`{size}:{mtime in ns}` of a file, or empty if it cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return ""
    return f"{status.st_size}:{status.st_mtime_ns}"


def sources(samples: Sequence[Sample], key: str) -> dict[int, str]:
    """Each sample's `source` value for this run."""
    return {sample.index: f"{key}:{file_stamp(sample.path)}" for sample in samples}


@dataclass
class ResumeCheck:
    """The rows an earlier run finished that still hold, and how many did not (and why)."""

    rows: list[ManifestRow] = field(default_factory=list)
    data_changed: int = 0  # the image at that index is another file, or was modified
    settings_changed: int = 0  # same image, other settings (or a manifest from an older camviz)

    def notes(self) -> list[str]:
        """One line per reason rows are redone."""
        notes = []
        if self.data_changed:
            notes.append(f"--resume: the data dir changed since the earlier run: {self.data_changed} earlier rows "
                         "no longer match their image and are redone")
        if self.settings_changed:
            notes.append(f"--resume: {self.settings_changed} earlier rows were made with other settings (checkpoint, "
                         "method, target, image size or outputs) and are redone")
        return notes


def resumable_rows(output_dir: Path, samples: Sequence[Sample], sources: Mapping[int, str],
                   save_raw: bool) -> ResumeCheck:
    """Rows of earlier runs (merged or per-rank manifests) for `samples` that this run would write unchanged."""
    by_index = {sample.index: sample for sample in samples}
    kept: dict[int, ManifestRow] = {}
    other_data, other_settings = set(), set()
    for path in sorted(output_dir.glob("manifest*.csv")):
        for row in read_manifest(path):
            sample = by_index.get(row.index)
            if sample is None or row.status != "ok" or not _files_present(output_dir, row, save_raw):
                continue
            expected = sources[row.index]
            if row.path != sample.relative_path or (row.source and _stamp(row.source) != _stamp(expected)):
                other_data.add(row.index)
            elif row.source != expected:  # an empty source: a manifest from before camviz kept one
                other_settings.add(row.index)
            else:
                kept[row.index] = row
    return ResumeCheck(list(kept.values()), len(other_data - set(kept)), len(other_settings - set(kept)))


def _stamp(source: str) -> str:
    """The image part of a `source` value."""
    return source.partition(":")[2]


def _files_present(output_dir: Path, row: ManifestRow, save_raw: bool) -> bool:
    """A row without a figure (--only-misclassified) needs nothing; else its figure (and raw CAM). Writes are
    atomic, so a file under its final name is complete."""
    if not row.output:
        return True
    figure = output_dir / row.output
    return figure.is_file() and (not save_raw or figure.with_suffix(".npy").is_file())
