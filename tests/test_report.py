"""camviz.report: the manifest survives a killed run and ends sorted; the summary counts."""

from __future__ import annotations

import csv
from pathlib import Path

from camviz.report import MANIFEST_FIELDS, ManifestRow, ManifestWriter, read_manifest, summarize


def test_manifest_is_written_as_rows_arrive_and_sorted_at_close(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path, kept_rows=[ManifestRow(5, "b/5.png", "b", "b", "0.9", "b", "f5.png")])
    writer.add(ManifestRow(2, "a/2.png", "a", "b", "0.6", "b", "f2.png"))
    assert [r.index for r in read_manifest(path)] == [5, 2]  # on disk before close
    writer.add(ManifestRow(1, "a/1.png", "a", status="error", error="cannot decode 1.png"))
    writer.close()
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames) == MANIFEST_FIELDS
        assert [int(row["index"]) for row in reader] == [1, 2, 5]


def test_read_manifest_drops_a_row_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text(",".join(MANIFEST_FIELDS) + "\n3,a/3.png,a,a,0.5,a,f3.png,ok,,k:1:2\n4,a/4.png,a,a,0.")
    assert [r.index for r in read_manifest(path)] == [3]
    assert read_manifest(tmp_path / "none.csv") == []


def test_summary_counts_accuracy_on_processed_rows_only() -> None:
    rows = [
        ManifestRow(0, "a", "cat", "cat"), ManifestRow(1, "b", "cat", "dog"),
        ManifestRow(2, "c", "dog", "dog"), ManifestRow(3, "d", "dog", status="error", error="x"),
    ]
    summary = summarize(rows, resumed=1)
    assert (summary.processed, summary.skipped, summary.correct, summary.labelled) == (3, 1, 2, 3)
    assert summary.accuracy == 2 / 3
    assert any("66.7%" in line for line in summary.lines())
