"""`trust.csv`: the summary's trust lines as one table a person reads first and a script compares, with stable keys
(`key,value`, one number a row): accuracy, the faithfulness means (`--metrics`), localization and its baselines
(`--masks`/`--boxes`), overall and per class. A key is absent when the run has no such number (no ground truth: no
`localization.*`), never zero. `side_by_side` lays two runs' tables out as `camviz compare-runs` prints them.

Keys: `images`, `skipped`, `accuracy`; `faithfulness.<score>` (each `--metrics` score's mean); `localization.images`,
`localization.{pointing,energy,iou}` (the CAM's), `localization.{center,random}.{pointing,energy,iou}` (the
baselines' on the same images), `localization.beats.{center,random}.{pointing,energy,iou}` (1: better by the
one-sided paired test, 0: not); `class.<name>.localization.{pointing,energy,iou}` and
`class.<name>.localization.{center,random}.pointing` per true class. A segmentation model's run:
`segmentation.mean_iou` (with label maps), and per explained class `class.<name>.segmentation.{energy,iou,
truth_energy}` (the CAM's energy in the predicted region; with label maps the IoU and the energy in the true region).
A detector's run: `detection.{energy,matched,empty_images}` and per label `class.<name>.detection.{detections,energy,
matched,missed}` (the CAM's mean energy inside the box; with --boxes the share matched to a true box).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

from camviz.output.files import write_atomic
from camviz.output.localization_summary import Compared, Pointing
from camviz.output.manifest import defuse, restore
from camviz.output.summary import Summary

TRUST_NAME = "trust.csv"
MEASURE_KEYS = ("pointing", "energy", "iou")


def trust_rows(summary: Summary) -> dict[str, float]:
    """The run's trust numbers by stable key, in the order `trust.csv` lists them."""
    rows: dict[str, float] = {"images": summary.processed, "skipped": summary.skipped}
    if summary.accuracy is not None:
        rows["accuracy"] = summary.accuracy
    rows |= {f"faithfulness.{name}": value for name, value in summary.score_means.items()}
    localization = summary.localization
    if localization.overall.count:
        rows["localization.images"] = localization.overall.count
        rows |= _measures("localization", localization.overall)
        rows |= _baselines("localization", localization.compared, beats=True)
        for name, pointing in localization.per_class.items():
            rows |= _measures(f"class.{name}.localization", pointing)
            compared = localization.compared_per_class.get(name)
            if compared is not None:
                rows |= {f"class.{name}.localization.{baseline}.pointing": base.accuracy
                         for baseline, base in compared.baselines.items() if base.count}
    return rows | _region_rows(summary) | _detection_rows(summary)


def _region_rows(summary: Summary) -> dict[str, float]:
    """A segmentation run's keys (absent where a number is NaN: no label maps)."""
    regions = summary.regions
    if regions is None:
        return {}
    rows = {"segmentation.mean_iou": regions.mean_iou}
    for name, found in regions.per_class.items():
        rows |= {f"class.{name}.segmentation.{key}": value
                 for key, value in (("energy", found.energy), ("iou", found.iou), ("truth_energy", found.truth_energy))}
    return {key: value for key, value in rows.items() if not math.isnan(value)}


def _detection_rows(summary: Summary) -> dict[str, float]:
    """A detector run's keys (absent where a number is NaN: no --boxes, no detection)."""
    found = summary.detections
    if found is None:
        return {}
    rows = {"detection.energy": found.energy, "detection.matched": found.matched,
            "detection.empty_images": float(found.empty_images)}
    for name, label in found.per_label.items():
        rows |= {f"class.{name}.detection.{key}": value
                 for key, value in (("detections", float(label.detections)), ("energy", label.energy),
                                    ("matched", label.matched), ("missed", float(label.missed)))}
    return {key: value for key, value in rows.items() if not math.isnan(value)}


def _measures(prefix: str, pointing: Pointing) -> dict[str, float]:
    return dict(zip((f"{prefix}.{key}" for key in MEASURE_KEYS), pointing.means, strict=True))


def _baselines(prefix: str, compared: Compared, *, beats: bool) -> dict[str, float]:
    """Each baseline's measures on the compared images and, with `beats`, whether the CAM beats it on each."""
    if not compared.cam.count:
        return {}
    rows: dict[str, float] = {}
    for name, base in compared.baselines.items():
        rows |= _measures(f"{prefix}.{name}", base)
    if beats:
        missed = {(name, k) for name, k, _ in compared.not_beaten()}
        rows |= {f"{prefix}.beats.{name}.{key}": float((name, k) not in missed)
                 for name in compared.baselines for k, key in enumerate(MEASURE_KEYS)}
    return rows


def write_trust(output_dir: Path, rows: Mapping[str, float]) -> Path:
    """Write `output_dir/trust.csv` (`key,value`; six decimals) atomically; return its path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("key", "value"))
    for key, value in rows.items():
        writer.writerow((defuse(key), _number(value)))
    path = Path(output_dir) / TRUST_NAME
    write_atomic(path, buffer.getvalue().encode("utf-8", "backslashreplace"))
    return path


def read_trust(output_dir: Path) -> dict[str, float] | None:
    """The folder's `trust.csv` by key, or None when there is none or it is not one."""
    try:
        with (Path(output_dir) / TRUST_NAME).open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames != ["key", "value"]:
                return None
            return {restore(row["key"]): float(row["value"]) for row in reader}
    except (OSError, ValueError, TypeError, csv.Error):
        return None


def side_by_side(names: tuple[str, str], tables: tuple[Mapping[str, float], Mapping[str, float]]) -> list[str]:
    """Two runs' trust numbers as aligned lines: key, the first run's, the second's, and the second minus the first
    (`-` where a run has no such number)."""
    first, second = tables
    keys = [*first, *(key for key in second if key not in first)]
    width = max([len(key) for key in keys] + [3])
    columns = [max(len(name), 10) for name in names]
    lines = [f"{'key':<{width}}  {names[0]:>{columns[0]}}  {names[1]:>{columns[1]}}  {'second - first':>14}"]
    for key in keys:
        a, b = first.get(key), second.get(key)
        change = _number(round(round(b, 6) - round(a, 6), 6)) if a is not None and b is not None else "-"  # as written
        lines.append(f"{key:<{width}}  {_shown(a):>{columns[0]}}  {_shown(b):>{columns[1]}}  {change:>14}")
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6f}"


def _shown(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else _number(value)

