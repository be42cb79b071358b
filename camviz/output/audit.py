"""What the audit tells the user: `audit.csv` (a row per cluster, flagged first; a row per class too small to
cluster) and the summary lines, one per flagged cluster, in words."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from camviz.cam.audit import TooFew
from camviz.cam.audit_flags import ClassAudit, ClusterStats, Flag
from camviz.output.files import write_atomic
from camviz.output.manifest import defuse

AUDIT_NAME = "audit.csv"
AUDIT_TABLE_FIELDS = ("cluster", "class", "flagged", "reason", "images", "share", "accuracy", "mean_confidence",
                      "peak_row", "peak_column", "peak_place", "peak_spread", "others_at_peak", "border_mass",
                      "energy_in_object", "typical")


def place(row: float, column: float) -> str:
    """Where a position (fractions of height and width) lies, in words: `top left`, `centre`, `bottom right`, ..."""
    vertical = ("top", "middle", "bottom")[min(2, int(row * 3))]
    horizontal = ("left", "centre", "right")[min(2, int(column * 3))]
    if vertical == "middle":
        return "centre" if horizontal == "centre" else f"middle {horizontal}"
    return vertical if horizontal == "centre" else f"{vertical} {horizontal}"


def reasons(stats: ClusterStats, others: int) -> list[str]:
    """Each of a cluster's flags in words (`others`: how many of the class's images are not in it)."""
    said = []
    for flag in stats.flags:
        if flag is Flag.fixed_position:
            said.append(f"maps peak at the same place ({place(*stats.peak)}), unlike the class's other {others}")
        elif flag is Flag.border:
            said.append(f"maps put {stats.border_mass:.0%} of their mass at the image border, more than the class's "
                        f"other {others}")
        elif flag is Flag.outside_objects:
            said.append(f"maps lie mostly outside the objects ({stats.energy_in_object:.0%} of their mass inside), "
                        f"less than half as much inside as the class's other {others}")
    return said


def audit_lines(classes: Sequence[ClassAudit]) -> list[str]:
    """The terminal's audit summary: the counts, a line per flagged cluster, a line per class too small to cluster."""
    clustered = [one for one in classes if one.clusters]
    flagged = [(one, stats) for one in clustered for stats in one.flagged]
    count = sum(len(one.clusters) for one in clustered)
    lines = [f"audit: {count} clusters in {len(clustered)} classes, {len(flagged)} flagged (a reason to look, "
             "not a verdict)"]
    for one, stats in flagged:
        total = len(one.keys)
        lines.append(f"{one.cluster_name(stats.number)}: {stats.size} of {total} images, "
                     + "; ".join(reasons(stats, total - stats.size)))
    lines += [f"{one.name}: {one.clustering.images} images, too few to cluster (at least {one.clustering.needed})"
              for one in classes if isinstance(one.clustering, TooFew)]
    return lines


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _cluster_row(one: ClassAudit, stats: ClusterStats, paths: Mapping[int, str]) -> dict[str, object]:
    total = len(one.keys)
    return {"cluster": one.cluster_name(stats.number), "class": one.name, "flagged": int(stats.flagged),
            "reason": "; ".join(reasons(stats, total - stats.size)), "images": stats.size,
            "share": _number(stats.share), "accuracy": _number(stats.accuracy),
            "mean_confidence": _number(stats.mean_confidence), "peak_row": _number(stats.peak[0]),
            "peak_column": _number(stats.peak[1]), "peak_place": place(*stats.peak),
            "peak_spread": _number(stats.peak_spread), "others_at_peak": _number(stats.others_at_peak),
            "border_mass": _number(stats.border_mass), "energy_in_object": _number(stats.energy_in_object),
            "typical": " | ".join(paths.get(one.keys[i], str(one.keys[i])) for i in stats.typical)}


def audit_table(classes: Sequence[ClassAudit], paths: Mapping[int, str] | None = None) -> bytes:
    """`audit.csv` bytes: flagged clusters first (in class order), then the others, then classes too small to
    cluster; `paths`: each key's image path, for the `typical` column (else the keys)."""
    paths = paths or {}
    rows = [(not stats.flagged, position, _cluster_row(one, stats, paths))
            for position, one in enumerate(classes) for stats in one.clusters]
    ordered = [row for *_, row in sorted(rows, key=lambda item: (item[0], item[1]))]
    ordered += [{"class": one.name, "flagged": 0, "images": one.clustering.images,
                 "reason": f"too few images to cluster (at least {one.clustering.needed})"}
                for one in classes if isinstance(one.clustering, TooFew)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=AUDIT_TABLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in ordered:
        writer.writerow({name: defuse(str(value)) if isinstance(value, str) else value for name, value in row.items()})
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def remove_audit_outputs(output_dir: Path) -> None:
    """Remove an earlier audit's `audit.csv` and class figures (a new run's rows no longer match them)."""
    for path in (*Path(output_dir).glob(AUDIT_NAME), *Path(output_dir).glob("audit_*.*")):
        if path.suffix in (".csv", ".png", ".jpg", ".webp"):
            path.unlink(missing_ok=True)


def write_audit_table(output_dir: Path, classes: Sequence[ClassAudit], paths: Mapping[int, str] | None = None) -> Path:
    """Write `output_dir/audit.csv` (atomically); return its path."""
    path = Path(output_dir) / AUDIT_NAME
    write_atomic(path, audit_table(classes, paths))
    return path
