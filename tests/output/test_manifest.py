"""camviz.output.manifest: rows on disk as they arrive (a killed run keeps them), sorted at the end, read back up to
a cut; hostile text is quoted, defused for spreadsheets and restored on reading."""

from __future__ import annotations

import csv
from pathlib import Path

from camviz.output.manifest import MANIFEST_FIELDS, ManifestRow, ManifestWriter, read_manifest


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


def test_hostile_text_round_trips_quoted_and_defused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    names = ["a\rb.png", "=1+2", "+x", "-y", "@z", "'=q", "'plain", "ok"]
    writer = ManifestWriter(path)
    for index, name in enumerate(names):
        writer.add(ManifestRow(index, name, name, error=name))
    writer.close()
    with path.open(newline="") as file:
        records = list(csv.DictReader(file))
    assert len(records) == len(names)
    assert not [r for r in records if r["path"].startswith(("=", "+", "-", "@"))]
    assert [(r.path, r.true, r.error) for r in read_manifest(path)] == [(n, n, n) for n in names]


def test_a_manifest_cut_inside_a_character_reads_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path, [ManifestRow(0, "猫/a.png", "猫", source="k:1:2"),
                                   ManifestRow(1, "猫/b.png", "猫", source="k:1:2")])
    writer.close()
    path.write_bytes(path.read_bytes()[:-9])  # inside the last row's source or its last character
    assert [row.index for row in read_manifest(path)] == [0]
    path.write_bytes(path.read_bytes()[: path.read_bytes().rindex("猫".encode()) + 2])
    assert [row.index for row in read_manifest(path)] == [0]
