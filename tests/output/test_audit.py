"""camviz.output.audit: places in words, the summary lines of flagged clusters and small classes, and audit.csv with
flagged clusters first."""

from __future__ import annotations

import csv
import io

import numpy as np

from camviz.cam.audit import AuditOptions
from camviz.cam.audit_flags import ClassMaps, audit_class
from camviz.output.audit import AUDIT_TABLE_FIELDS, audit_lines, audit_table, place
from tests.cam.test_audit import blob


def test_places_in_words() -> None:
    assert [place(0.1, 0.1), place(0.5, 0.5), place(0.9, 0.5), place(0.5, 0.95), place(0.2, 0.5)] == [
        "top left", "centre", "bottom", "middle right", "top"]


def _classes() -> list:
    rng = np.random.default_rng(0)
    tagged = np.concatenate([np.stack([blob(0.2, 0.2)] * 6),
                             np.stack([blob(*rng.uniform(0.45, 0.75, 2)) for _ in range(14)])])
    clean = np.stack([blob(*rng.uniform(0.25, 0.75, 2)) for _ in range(12)])
    return [audit_class("cat", tuple(range(12)), ClassMaps(maps=clean), AuditOptions()),
            audit_class("dog", tuple(range(12, 32)), ClassMaps(maps=tagged), AuditOptions()),
            audit_class("eel", (40, 41), ClassMaps(maps=clean[:2]), AuditOptions())]


def test_summary_lines_name_each_flagged_cluster_and_each_small_class() -> None:
    classes = _classes()
    flagged = classes[1].flagged[0]
    lines = audit_lines(classes)
    assert lines[0].startswith(f"audit: {len(classes[0].clusters) + len(classes[1].clusters)} clusters in 2 classes, "
                               "1 flagged")
    assert lines[1:] == [f"dog/{flagged.number}: {flagged.size} of 20 images, maps peak at the same place (top left), "
                         f"unlike the class's other {20 - flagged.size}", "eel: 2 images, too few to cluster (at least 8)"]


def test_the_table_puts_flagged_clusters_first() -> None:
    classes = _classes()
    rows = list(csv.DictReader(io.StringIO(audit_table(classes, {12: "dog/a.png"}).decode())))
    assert tuple(rows[0]) == AUDIT_TABLE_FIELDS
    size = classes[1].flagged[0].size
    assert rows[0]["class"] == "dog" and rows[0]["flagged"] == "1" and rows[0]["images"] == str(size)
    assert rows[0]["peak_place"] == "top left" and rows[0]["share"] == f"{size / 20:.4f}" and rows[0]["accuracy"] == ""
    assert all(row["flagged"] == "0" for row in rows[1:])
    assert rows[-1] == {**dict.fromkeys(AUDIT_TABLE_FIELDS, ""), "class": "eel", "flagged": "0", "images": "2",
                        "reason": "too few images to cluster (at least 8)"}
    assert "dog/a.png" in rows[0]["typical"].split(" | ")
