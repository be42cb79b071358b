"""`index.html`: a static, offline gallery of a batch run's figures (accuracy, confusion matrix, filters).

One self-contained file: the page `gallery.html` (HTML, CSS and vanilla JS) with the data embedded as JSON; thumbnails are the figure
PNGs themselves by relative path. It opens from a `file://` URL with no server and no network.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from PIL import Image

from camviz.cam.audit import TooFew
from camviz.cam.audit_flags import ClassAudit
from camviz.output.audit import reasons
from camviz.output.detection_summary import DetectionSummary
from camviz.output.files import write_atomic
from camviz.output.localization_summary import localization_panel
from camviz.output.manifest import joined
from camviz.output.region_summary import RegionSummary
from camviz.output.result import ImageResult
from camviz.output.summary import summarize

GALLERY_NAME = "index.html"


@functools.cache
def _page() -> Template:
    """The page (`gallery.html`, package data): `$title` and `$data` are filled in per run."""
    return Template(resources.files(__package__).joinpath("gallery.html").read_text(encoding="utf-8"))

@dataclass(frozen=True, kw_only=True)
class Page:
    """What the page says beside the results: the model's classes, the method, its title and the run's record."""

    class_names: Sequence[str]
    method: str
    title: str | None = None  # None: `camviz {method}: {output folder}`
    run: Mapping[str, object] | None = None  # the run's `run.json` record, shown in the page's "run" panel
    audit: Sequence[ClassAudit] = ()  # --audit / camviz audit: the clusters of each class, for the "Audit" view


def write_gallery(output_dir: Path, results: Sequence[ImageResult], page: Page) -> Path:
    """Write `output_dir/index.html` (atomically) for a batch run's results; return its path."""
    output_dir = Path(output_dir)
    title = page.title or f"camviz {page.method}: {output_dir.resolve().name}"
    data = gallery_data(output_dir, results, page.class_names, page.method)
    data["run"] = run_panel(page.run) if page.run else None
    data["audit"] = audit_panel(page.audit) if page.audit else None
    html = _page().substitute(title=escape(title), data=_script_json(data))
    path = output_dir / GALLERY_NAME
    write_atomic(path, html.encode("utf-8"))
    return path


def gallery_data(output_dir: Path, results: Sequence[ImageResult], class_names: Sequence[str], method: str) -> dict:
    """What the page shows: class axis, sorted figure records, confusion counts, skipped results, summary.

    Results without a figure (`--only-misclassified` writes none for correct predictions) are counted and shown
    as such, never as missing files; `figures` counts the figures on disk. Predictions are named as the manifest
    names them (multi-label: the labels joined with `+`)."""
    ok = sorted((result for result in results if result.ok), key=_sort_key)
    axis = class_axis(class_names, ok)
    position = {name: i for i, name in enumerate(axis)}
    matrix = [[0] * len(axis) for _ in axis]
    for result in ok:
        if result.true and result.predicted:
            matrix[position[result.true]][position[joined(result.predicted)]] += 1
    summary = summarize(results, classes=class_names)
    records = [_record(output_dir, result, position) for result in ok]
    pointing = summary.localization.overall
    return {
        "pointing": {"hits": pointing.hits, "count": pointing.count} if pointing.count else None,
        "localization": localization_panel(summary.localization),
        "segmentation": region_panel(summary.regions) if summary.regions is not None else None,
        **({"detection": detection_panel(summary.detections)} if summary.detections is not None else {}),
        "method": method,
        "classes": axis,
        "rows": records,
        "matrix": matrix,
        "errors": [{"index": result.index, "path": result.path, "error": result.note or "error"}
                   for result in sorted(results, key=lambda r: r.index) if not result.ok],
        "summary": {"processed": summary.processed, "skipped": summary.skipped, "correct": summary.correct,
                    "labelled": summary.labelled, "accuracy": summary.accuracy,
                    "mistakes": sum(record["mistake"] for record in records),
                    "figures": sum(bool(record["output"]) and not record["missing"] for record in records),
                    "without_figure": sum(not record["output"] for record in records)},
    }


def region_panel(regions: RegionSummary) -> list[list[str]]:
    """The gallery's segmentation panel (label, text rows): per explained class its rows and means, then the mean IoU."""
    rows = []
    for name, found in regions.per_class.items():
        text = f"{found.rows} images \u00b7 energy in region {found.energy:.3f}"
        if not math.isnan(found.iou):
            text += f" \u00b7 IoU {found.iou:.3f} \u00b7 energy in true region {found.truth_energy:.3f}"
        rows.append([name, text])
    if not math.isnan(regions.mean_iou):
        rows.append(["mean IoU", f"{regions.mean_iou:.3f} over {len(regions.per_class)} classes"])
    return rows


def detection_panel(found: DetectionSummary) -> list[list[str]]:
    """The gallery's detection panel (label, text rows): the summary's lines, per label then the totals."""
    rows = []
    for line in found.lines():
        head, _, text = line.partition(": ")
        rows.append([head.removeprefix("label "), text])
    return rows


def run_panel(record: Mapping[str, object]) -> list[list[str]]:
    """The "run" panel's rows (label, text) from a `run.json` record: what made these figures."""
    model, versions = _mapping(record.get("model")), _mapping(record.get("versions"))
    spec = _mapping(model.get("input"))
    size = "x".join(str(v) for v in spec.get("size", []))
    rows = [
        ["model", f"{model.get('name')} ({model.get('family')})"],
        ["target layers", ", ".join(model.get("target_layers") or [])],
        ["input", f"{size}, {spec.get('channels')} channels" if size else ""],
        ["output", str(_mapping(model.get("output")).get("kind", ""))],
        ["method", str(record.get("method", ""))], ["device", str(record.get("device", ""))],
        ["settings key", str(record.get("settings_key", ""))],
        ["started", str(record.get("started") or "")], ["ended", str(record.get("ended") or "")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items() if version)],
        ["command", str(record.get("command") or "none: called from Python (its options are in run.json)")],
    ]
    return [row for row in rows if row[1]]


def audit_panel(classes: Sequence[ClassAudit]) -> list[dict]:
    """The "Audit" view: per class (classes with a flagged cluster first) its clusters, flagged first, with their
    size and the flags in words; a class too small to cluster says so."""
    panel = []
    for one in sorted(classes, key=lambda audited: not audited.flagged):
        total = len(one.keys)
        clusters = [{"name": one.cluster_name(stats.number), "flagged": stats.flagged, "images": stats.size,
                     "reason": "; ".join(reasons(stats, total - stats.size))} for stats in one.clusters]
        panel.append({"name": one.name, "images": total, "clusters": clusters,
                      "too_few": isinstance(one.clustering, TooFew)})
    return panel


def _mapping(value: object) -> Mapping[str, Any]:
    """A record's part that is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def class_axis(class_names: Sequence[str], results: Sequence[ImageResult]) -> list[str]:
    """The model's class names in order, then any other label the results use (e.g. an unknown folder)."""
    axis = list(dict.fromkeys(class_names))
    seen = set(axis)
    for result in results:
        for name in (result.true, joined(result.predicted)):
            if name and name not in seen:
                seen.add(name)
                axis.append(name)
    return axis


def _record(output_dir: Path, result: ImageResult, position: dict[str, int]) -> dict:
    """One figure's card data; `src` is the figure's URL relative to `index.html` (empty: no figure was made)."""
    size = _image_size(output_dir / result.output) if result.output else None
    pred = joined(result.predicted)
    return {
        "index": result.index, "path": result.path, "true": result.true, "pred": pred,
        "ti": position.get(result.true, -1), "pi": position.get(pred, -1),
        "conf": _confidence(result), "target": joined(result.explained), "output": result.output,
        "src": quote(result.output), "w": size[0] if size else None, "h": size[1] if size else None,
        "missing": bool(result.output) and size is None, "labelled": bool(result.true), "mistake": result.mistake,
        "warn": result.note, "cluster": result.cluster, **_localization(result),
    }


def _localization(result: ImageResult) -> dict:
    """The pointing game's outcome and the energy in the object (None without ground truth; a segmentation row's:
    the energy in its predicted region), for tags and filters."""
    hit = result.scores.get("pointing_hit")
    energy = result.scores.get("energy_in_object", result.scores.get("region_energy", result.scores.get("box_energy")))
    return {"hit": None if hit is None else hit == 1, "energy": None if energy is None or math.isnan(energy) else energy}


def _confidence(result: ImageResult) -> float | None:
    """The one predicted class's probability (None for several labels, or one that is not a number)."""
    if len(result.confidence) != 1:
        return None
    value = result.confidence[0]
    return value if math.isfinite(value) else None


def _sort_key(result: ImageResult) -> tuple[bool, float, int]:
    """Mistakes first, then the least confident, then by index; a segmentation row with a label map: the lowest IoU
    first."""
    iou = result.scores.get("class_iou")
    if iou is not None and not math.isnan(iou):
        return (False, iou, result.index)
    confidence = _confidence(result)
    return (not result.mistake, confidence if confidence is not None else -1.0, result.index)


def _image_size(path: Path) -> tuple[int, int] | None:
    """Width and height of a figure (PIL reads only the header), or None when it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def _script_json(data: dict) -> str:
    """JSON that is safe inside a `<script>` element: no `<`, `>` or `&` that could end or open a tag."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text
