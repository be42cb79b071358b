"""`index.html`: a static, offline gallery of a batch run's figures (accuracy, confusion matrix, filters).

One self-contained file: the page `gallery.html` (HTML, CSS and vanilla JS) with the data embedded as JSON; thumbnails are the figure
PNGs themselves by relative path. It opens from a `file://` URL with no server and no network.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import quote

from PIL import Image

from camviz.output.files import write_atomic
from camviz.output.manifest import ManifestRow
from camviz.output.summary import is_correct, summarize

GALLERY_NAME = "index.html"


@functools.cache
def _page() -> Template:
    """The page (`gallery.html`, package data): `$title` and `$data` are filled in per run."""
    return Template(resources.files(__package__).joinpath("gallery.html").read_text(encoding="utf-8"))

def write_gallery(output_dir: Path, rows: Sequence[ManifestRow], class_names: Sequence[str], method: str,
                  title: str | None = None, *, run: Mapping[str, object] | None = None,
                  multilabel: bool = False) -> Path:
    """Write `output_dir/index.html` (atomically) for a batch run's manifest rows; return its path.

    `run` is the run's `run.json` record, shown in the page's "run" panel.
    """
    output_dir = Path(output_dir)
    title = title or f"camviz {method}: {output_dir.resolve().name}"
    data = gallery_data(output_dir, rows, class_names, method, multilabel=multilabel)
    data["run"] = run_panel(run) if run else None
    html = _page().substitute(title=escape(title), data=_script_json(data))
    path = output_dir / GALLERY_NAME
    write_atomic(path, html.encode("utf-8"))
    return path


def gallery_data(output_dir: Path, rows: Sequence[ManifestRow], class_names: Sequence[str],
                 method: str, *, multilabel: bool = False) -> dict:
    """What the page shows: class axis, sorted figure records, confusion counts, skipped rows, summary.

    Rows without a figure (`--only-misclassified` writes none for correct predictions) are counted and shown
    as such, never as missing files; `figures` counts the figures on disk."""
    labels = list(class_names) if multilabel else None
    ok = sorted((row for row in rows if row.status == "ok"), key=lambda row: _sort_key(row, labels))
    axis = class_axis(class_names, ok)
    position = {name: i for i, name in enumerate(axis)}
    matrix = [[0] * len(axis) for _ in axis]
    for row in ok:
        if row.true and row.pred:
            matrix[position[row.true]][position[row.pred]] += 1
    summary = summarize(rows, classes=class_names, multilabel=multilabel)
    records = [_record(output_dir, row, position, labels) for row in ok]
    pointing = summary.localization.overall
    return {
        "pointing": {"hits": pointing.hits, "count": pointing.count} if pointing.count else None,
        "method": method,
        "classes": axis,
        "rows": records,
        "matrix": matrix,
        "errors": [{"index": row.index, "path": row.path, "error": row.error or "error"}
                   for row in sorted(rows, key=lambda r: r.index) if row.status != "ok"],
        "summary": {"processed": summary.processed, "skipped": summary.skipped, "correct": summary.correct,
                    "labelled": summary.labelled, "accuracy": summary.accuracy,
                    "mistakes": sum(record["mistake"] for record in records),
                    "figures": sum(bool(record["output"]) and not record["missing"] for record in records),
                    "without_figure": sum(not record["output"] for record in records)},
    }


def run_panel(record: Mapping[str, object]) -> list[list[str]]:
    """The "run" panel's rows (label, text) from a `run.json` record: what made these figures."""
    model = record.get("model") or {}
    versions = record.get("versions") or {}
    spec = model.get("input") or {}
    size = "x".join(str(v) for v in spec.get("size", []))
    rows = [
        ["model", f"{model.get('name')} ({model.get('family')})"],
        ["target layers", ", ".join(model.get("target_layers") or [])],
        ["input", f"{size}, {spec.get('channels')} channels" if size else ""],
        ["output", str((model.get("output") or {}).get("kind", ""))],
        ["method", str(record.get("method", ""))], ["device", str(record.get("device", ""))],
        ["settings key", str(record.get("settings_key", ""))],
        ["started", str(record.get("started") or "")], ["ended", str(record.get("ended") or "")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items() if version)],
        ["command", str(record.get("command", ""))],
    ]
    return [row for row in rows if row[1]]


def class_axis(class_names: Sequence[str], rows: Sequence[ManifestRow]) -> list[str]:
    """The model's class names in order, then any other label the rows use (e.g. an unknown folder)."""
    axis = list(dict.fromkeys(class_names))
    seen = set(axis)
    for row in rows:
        for name in (row.true, row.pred):
            if name and name not in seen:
                seen.add(name)
                axis.append(name)
    return axis


def _record(output_dir: Path, row: ManifestRow, position: dict[str, int], labels: Sequence[str] | None) -> dict:
    """One figure's card data; `src` is the figure's URL relative to `index.html` (empty: no figure was made)."""
    size = _image_size(output_dir / row.output) if row.output else None
    return {
        "index": row.index, "path": row.path, "true": row.true, "pred": row.pred,
        "ti": position.get(row.true, -1), "pi": position.get(row.pred, -1),
        "conf": _confidence(row), "target": row.target, "output": row.output, "src": quote(row.output),
        "w": size[0] if size else None, "h": size[1] if size else None, "missing": bool(row.output) and size is None,
        "labelled": bool(row.true), "mistake": _is_mistake(row, labels), "warn": row.error,
        **_localization(row),
    }


def _localization(row: ManifestRow) -> dict:
    """The pointing game's outcome and the energy in the object (None without ground truth), for tags and filters."""
    hit = row.scores.get("pointing_hit", "")
    try:
        energy = float(row.scores.get("energy_in_object", ""))
    except ValueError:
        energy = None
    return {"hit": (hit == "1") if hit else None, "energy": energy}


def _is_mistake(row: ManifestRow, labels: Sequence[str] | None) -> bool:
    return bool(row.true) and not is_correct(row.true, row.pred, labels)


def _confidence(row: ManifestRow) -> float | None:
    try:
        value = float(row.confidence)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _sort_key(row: ManifestRow, labels: Sequence[str] | None) -> tuple[bool, float, int]:
    """Mistakes first, then the least confident, then by index."""
    confidence = _confidence(row)
    return (not _is_mistake(row, labels), confidence if confidence is not None else -1.0, row.index)


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
