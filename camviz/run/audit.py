"""The audit, wired: a finished batch run's small maps (`cam_maps.bin`) clustered per explained class (SpRAy,
`camviz.cam.audit`), each cluster described and flagged (`camviz.cam.audit_flags`), written as `audit.csv` and the
manifest's `cluster` column (`camviz.output.audit`). No CAM is computed again: `camviz audit OUTPUT_DIR` and
`camviz explain --audit` read the same files and give the same clusters for the same seed.

Each map counts towards the class it explains (the manifest's `target`; multi-label: each explained label's map
towards that label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from camviz.cam.audit import AuditOptions, check_audit_options
from camviz.cam.audit_flags import ClassAudit, ClassMaps, audit_class
from camviz.data.decode import decode_image
from camviz.errors import CamvizError, UsageError
from camviz.output.audit import audit_lines, write_audit_table
from camviz.output.audit_figure import ClusterRow, TypicalImage, class_figure, write_class_figure
from camviz.output.gallery import GALLERY_NAME, Page, write_gallery
from camviz.output.manifest import MANIFEST_NAME, joined, read_manifest_table, write_manifest
from camviz.output.names import distinct_safe_names
from camviz.output.outdir import claim_output_dir
from camviz.output.result import ImageResult
from camviz.output.run_record import RUN_RECORD_NAME, read_run_record
from camviz.output.small_maps import MAPS_NAME, read_run_maps


@dataclass(frozen=True, kw_only=True)
class FinishedRun:
    """A finished batch run's folder, and what its run.json says the audit needs besides its files."""

    output_dir: Path
    labels: tuple[str, ...] | None = None  # a multi-label model's labels, by which the manifest is read
    data_dir: Path | None = None  # where its images are, for the overlays of the class figures (None: maps only)
    size: tuple[int, int] = (96, 96)  # the model's input height and width
    figure_format: str = "png"


@dataclass(frozen=True, kw_only=True)
class AuditResult:
    """What an audit found (a `ClassAudit` per explained class, in class order) and wrote, and its summary lines."""

    classes: tuple[ClassAudit, ...]
    output_dir: Path | None = None  # None: maps given in memory, nothing written
    outputs: tuple[Path, ...] = ()
    lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the user should know about the input (rows without a small map)
    cells: Mapping[int, str] = field(default_factory=dict)  # written runs: each manifest index's `cluster` cell

    @property
    def flagged(self) -> tuple[str, ...]:
        """The flagged clusters' names (`<class>/<n>`)."""
        return tuple(one.cluster_name(stats.number) for one in self.classes for stats in one.flagged)


def audit(source: Path | str | Sequence[np.ndarray] | np.ndarray, labels: Sequence[str] | None = None, *,
          clusters: int | None = None, seed: int = 0) -> AuditResult:
    """Is it right for the right reasons? SpRAy (Lapuschkin et al. 2019) per explained class, with each cluster's
    statistics and flags, returned as data (`AuditResult.classes`).

    `source`: a finished batch run's output folder (as `camviz audit OUTPUT_DIR`: writes audit.csv, the manifest's
    `cluster` column and the class figures), or maps in memory, [N, H, W] in [0, 1], with `labels` the class each
    map explains (nothing is written). `clusters`: per class, instead of the eigengap's choice; `seed`: k-means'.
    """
    options = AuditOptions(clusters=clusters, seed=seed)
    if isinstance(source, (str, Path)):
        if labels is not None:
            raise UsageError("audit(output_dir) reads the classes from the run; give labels only with maps")
        return audit_run(Path(source), options)
    if labels is None:
        raise UsageError("audit(maps, labels): give the class each map explains")
    return audit_maps(source, labels, options)


def audit_maps(maps: Sequence[np.ndarray] | np.ndarray, labels: Sequence[str], options: AuditOptions = AuditOptions(),
               known: Mapping[str, np.ndarray] | None = None) -> AuditResult:
    """The audit of maps in memory: `maps` [N, H, W] (each in [0, 1]), `labels` the class each explains; `known`:
    optional per-map `correct`, `confidence` and `energy_in_object` arrays [N]. Keys are positions in `maps`."""
    check_audit_options(options)
    stacked = np.asarray(maps, np.float32)
    if stacked.ndim != 3 or len(stacked) != len(labels):
        raise CamvizError(f"the audit takes N maps [N, H, W] and N labels (got maps {stacked.shape}, "
                          f"{len(labels)} labels)")
    known = known or {}
    found = []
    for name in dict.fromkeys(labels):
        inside = np.array([label == name for label in labels])
        group = ClassMaps(maps=stacked[inside], **{key: np.asarray(value)[inside] for key, value in known.items()})
        found.append(audit_class(name, tuple(int(i) for i in np.flatnonzero(inside)), group, options))
    classes = tuple(found)
    return AuditResult(classes=classes, lines=tuple(audit_lines(classes)))


def audit_run(output_dir: Path, options: AuditOptions = AuditOptions()) -> AuditResult:
    """`camviz audit OUTPUT_DIR`: check that it is a finished batch run with small maps, then audit it (holding the
    folder's lock, as a batch run does)."""
    check_audit_options(options)
    output_dir = Path(output_dir)
    record = read_run_record(output_dir) if output_dir.is_dir() else None
    manifest = output_dir / MANIFEST_NAME
    if record is None and not manifest.is_file():
        raise CamvizError(f"{output_dir} is not a camviz output folder (no {RUN_RECORD_NAME} or {MANIFEST_NAME}); "
                          "give the --output-dir of a camviz explain --data-dir run")
    if record is not None and record.get("mode") == "single":
        raise CamvizError(f"{output_dir} holds a single-image run: the audit compares the maps of a whole split "
                          "(camviz explain --data-dir)")
    if not manifest.is_file():
        raise CamvizError(f"{output_dir} has no {MANIFEST_NAME}: the run did not finish; run it again with --resume")
    run = _finished_run(output_dir, record or {})
    with claim_output_dir(output_dir, exclusive=True):
        result = audit_finished(run, options)
        if record is not None and (output_dir / GALLERY_NAME).is_file():
            result = replace(result, outputs=(*result.outputs, _rewrite_gallery(run, record, result)))
        return result


def _rewrite_gallery(run: FinishedRun, record: Mapping[str, object], result: AuditResult) -> Path:
    """The run's gallery written again from its manifest (clusters included), with the "Audit" view."""
    model = record.get("model")
    names = model.get("class_names") if isinstance(model, dict) else None
    _, results = read_manifest_table(run.output_dir / MANIFEST_NAME, run.labels)
    page = Page(class_names=list(names or []), method=str(record.get("method", "")), run=record, audit=result.classes)
    return write_gallery(run.output_dir, results, page)


def audit_finished(run: FinishedRun, options: AuditOptions) -> AuditResult:
    """Audit a finished batch run's folder (the caller holds its lock) and write `audit.csv`, the manifest's
    `cluster` column and a figure per audited class."""
    output_dir = run.output_dir
    maps = read_run_maps(output_dir)
    if maps is None:
        raise CamvizError(f"{output_dir} has no small maps ({MAPS_NAME}): the run was made by an older camviz; run "
                          "the same camviz explain again with --resume to make them (finished figures are kept)")
    score_names, results = read_manifest_table(output_dir / MANIFEST_NAME, run.labels)
    if "region_energy" in score_names:
        raise UsageError(f"{output_dir} is a segmentation model's run (a row per image and class): the audit "
                         "clusters a classifier's maps per class and is not defined for region maps yet")
    usable = [result for result in results if result.ok and result.explained]
    missing = [result for result in usable if len(maps.get(result.index, ())) < len(result.explained)]
    if usable and len(missing) == len(usable):
        raise CamvizError(f"{output_dir}: none of the manifest's {len(usable)} explained images has a small map in "
                          f"{MAPS_NAME}; run the same camviz explain again with --resume to make them")
    left_out = {result.index for result in missing}
    paths = {result.index: result.path for result in results}
    classes, pictures = [], []
    safe = distinct_safe_names(list(dict.fromkeys(name for result in usable for name in result.explained)))
    for name, rows in _grouped([result for result in usable if result.index not in left_out], maps).items():
        keys, group = _class_maps(rows)  # one class's maps as floats at a time: memory stays that of the small maps
        one = audit_class(name, keys, group, options)
        classes.append(one)
        if one.clusters:
            figure = class_figure(_rows(one, group, paths, run), run.size[1] / run.size[0])
            pictures.append(write_class_figure(output_dir / f"audit_{safe[name]}.{run.figure_format}", figure))
    cells = {one.name: one.cluster_of() for one in classes}
    names = {result.index: _cluster_cell(result, cells) for result in results}
    write_manifest(output_dir / MANIFEST_NAME, [replace(result, cluster=names[result.index]) for result in results],
                   score_names)
    table = write_audit_table(output_dir, classes, paths)
    notes = (f"audit: {len(missing)} explained images have no small map and are left out (run the same camviz "
             "explain again with --resume to make them)",) if missing else ()
    return AuditResult(classes=tuple(classes), output_dir=output_dir, outputs=(table, output_dir / MANIFEST_NAME, *pictures),
                       lines=tuple(audit_lines(classes)), notes=notes, cells=names)


_Row = tuple[int, np.ndarray, bool, float, float]  # index, small map (uint8), correct, confidence, energy in object


def _grouped(results: Sequence[ImageResult], maps: Mapping[int, np.ndarray]) -> dict[str, list[_Row]]:
    """Per explained class (in order of first appearance by index): each image's index and small map, whether it is
    correct, its confidence and its map's energy in the objects (nan without ground truth)."""
    rows: dict[str, list[_Row]] = {}
    for result in sorted(results, key=lambda one: one.index):
        for position, name in enumerate(result.explained):
            energy = result.scores.get("energy_in_object", np.nan) if position == 0 else np.nan
            rows.setdefault(name, []).append((result.index, maps[result.index][position], result.correct,
                                              result.confidence[0] if result.confidence else np.nan, energy))
    return rows


def _class_maps(rows: Sequence[_Row]) -> tuple[tuple[int, ...], ClassMaps]:
    """One class's keys and maps (floats in [0, 1]) with what is known of their images."""
    keys, small, correct, confidence, energy = zip(*rows, strict=True)
    energies = np.array(energy, np.float64)
    return tuple(keys), ClassMaps(maps=np.stack(small).astype(np.float32) / 255.0, correct=np.array(correct),
                                  confidence=np.array(confidence),
                                  energy_in_object=energies if np.isfinite(energies).any() else None)


def _cluster_cell(result: ImageResult, cells: Mapping[str, Mapping[int, str]]) -> str:
    """The image's `cluster` cell: the cluster of each of its maps (multi-label: joined with `+`), empty if none."""
    names = [cells.get(name, {}).get(result.index, "") for name in result.explained]
    return joined([name for name in names if name])


def _rows(one: ClassAudit, found: ClassMaps, paths: Mapping[int, str], run: FinishedRun) -> list[ClusterRow]:
    """The rows of a class's figure: each cluster's mean map and its typical images, flagged clusters first."""
    rows = []
    for stats in one.clusters:
        flagged = " flagged" if stats.flagged else ""
        typical = [TypicalImage(name=Path(paths[one.keys[i]]).name, pixels=_pixels(run, paths[one.keys[i]]),
                                cam=found.maps[i]) for i in stats.typical]
        rows.append(ClusterRow(title=f"{one.cluster_name(stats.number)}{flagged}: {stats.size}/{len(one.keys)}",
                               flagged=stats.flagged, mean=found.maps[stats.members].mean(axis=0), typical=typical))
    return rows


def _pixels(run: FinishedRun, path: str) -> np.ndarray | None:
    """An image as the model saw it (RGB, at its input size), or None when it cannot be read now."""
    if run.data_dir is None:
        return None
    try:
        image = decode_image(run.data_dir / path)
    except (CamvizError, OSError):
        return None
    height, width = run.size
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), np.uint8)


def _finished_run(output_dir: Path, record: Mapping[str, object]) -> FinishedRun:
    """What run.json says of a finished run: a multi-label model's labels, its data dir, input size, figure format."""
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    options = record.get("options") if isinstance(record.get("options"), dict) else {}
    assert isinstance(model, dict) and isinstance(options, dict)
    output = model.get("output")
    multilabel = isinstance(output, dict) and output.get("kind") == "multilabel"
    labels = tuple(model.get("class_names") or ()) if multilabel else None
    inputs = options.get("inputs") if isinstance(options.get("inputs"), dict) else {}
    data_dir = inputs.get("data_dir") if isinstance(inputs, dict) else None
    size = (model.get("input") or {}).get("size") if isinstance(model.get("input"), dict) else None
    written = options.get("output") if isinstance(options.get("output"), dict) else {}
    figure_format = written.get("figure_format") if isinstance(written, dict) else None
    return FinishedRun(output_dir=output_dir, labels=labels or None,
                       data_dir=Path(data_dir).expanduser() if isinstance(data_dir, str) else None,
                       size=(int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else (96, 96),
                       figure_format=figure_format if figure_format in ("png", "jpg", "webp") else "png")
