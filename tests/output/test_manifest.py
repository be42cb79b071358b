"""camviz.output.manifest: rows on disk as they arrive (a killed run keeps them), sorted at the end, read back up to
a cut; hostile text is quoted, defused for spreadsheets and restored on reading."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from camviz.output.manifest import (
    AUDIT_FIELDS,
    MANIFEST_FIELDS,
    ManifestWriter,
    merge_rank_manifests,
    read_manifest,
    read_manifest_table,
    write_manifest,
)
from camviz.output.result import ImageResult, Source, Status


def _ok(index: int, true: str, pred: str, output: str = "") -> ImageResult:
    return ImageResult(index=index, path=f"{true}/{index}.png", true=true, predicted=(pred,), confidence=(0.5,),
                       explained=(pred,), output=output)


def test_manifest_is_written_as_rows_arrive_and_sorted_at_close(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path, kept=[_ok(5, "b", "b", "f5.png")])
    writer.add(_ok(2, "a", "b", "f2.png"))
    assert [r.index for r in read_manifest(path)] == [5, 2]  # on disk before close
    writer.add(ImageResult(index=1, path="a/1.png", true="a", status=Status.error, note="cannot decode 1.png"))
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
        writer.add(ImageResult(index=index, path=name, true=name, note=name))
    writer.close()
    with path.open(newline="") as file:
        records = list(csv.DictReader(file))
    assert len(records) == len(names)
    assert not [r for r in records if r["path"].startswith(("=", "+", "-", "@"))]
    assert [(r.path, r.true, r.note) for r in read_manifest(path)] == [(n, n, n) for n in names]


def test_a_manifest_cut_inside_a_character_reads_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    source = Source("k", "1:2")
    writer = ManifestWriter(path, kept=[ImageResult(index=0, path="猫/a.png", true="猫", source=source),
                                        ImageResult(index=1, path="猫/b.png", true="猫", source=source)])
    writer.close()
    path.write_bytes(path.read_bytes()[:-9])  # inside the last row's source or its last character
    assert [row.index for row in read_manifest(path)] == [0]
    path.write_bytes(path.read_bytes()[: path.read_bytes().rindex("猫".encode()) + 2])
    assert [row.index for row in read_manifest(path)] == [0]


SCORES = ("deletion", "pointing_hit", "energy_in_object")


def _results() -> list[ImageResult]:
    """A softmax-like result with scores and a source, a multi-label one whose labels hold `+`, one with no label,
    a warning on a formula-like name, and a skipped image."""
    return [
        ImageResult(index=0, path="cat/0.png", true="cat", predicted=("cat",), confidence=(0.9123456789,),
                    explained=("cat",), scores={"deletion": 0.1234567, "pointing_hit": 1.0, "energy_in_object": 0.5},
                    output="gradcam_0000_true_cat_pred_cat.png", source=Source("abc123", "10:20")),
        ImageResult(index=1, path="HER2+/1.png", true="HER2+", predicted=("HER2+", "car"), confidence=(0.8, 0.6),
                    explained=("HER2+", "car"), output="f1.png"),
        ImageResult(index=2, path="car/2.png", true="car", confidence=(0.4,), explained=("car",), output="f2.png"),
        ImageResult(index=3, path="=x/3.png", true="=x", predicted=("HER2",), confidence=(0.7,), explained=("HER2",),
                    note="warning: constant heatmap", scores={"deletion": 0.5}),
        ImageResult(index=4, path="car/broken.png", true="car", status=Status.error, note="cannot decode"),
    ]


def test_results_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path, score_names=SCORES)
    for result in _results():
        writer.add(result)
    writer.close()
    assert read_manifest(path, labels=["HER2", "HER2+", "car", "cat", "=x"]) == _results()


def test_results_keep_what_the_manifest_records(tmp_path: Path) -> None:
    """Probabilities and scores at six decimals, a hit as 1, a multi-label prediction joined with `+`, the source as
    `key:stamp`, a formula defused; a softmax class named with `+` reads back whole without labels."""
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path, score_names=SCORES)
    for result in _results():
        writer.add(result)
    writer.close()
    with path.open(newline="") as file:
        records = list(csv.DictReader(file))
    assert records[0]["confidence"] == "0.912346" and records[0]["deletion"] == "0.123457"
    assert (records[0]["pointing_hit"], records[0]["source"], records[3]["pointing_hit"]) == ("1", "abc123:10:20", "")
    assert (records[1]["pred"], records[1]["confidence"]) == ("HER2++car", "0.800000+0.600000")
    assert (records[2]["pred"], records[2]["target"], records[3]["path"]) == ("", "car", "'=x/3.png")
    assert [result.predicted for result in read_manifest(path)][:3] == [("cat",), ("HER2++car",), ()]
    assert _results()[0].confidence == (0.912346,)  # a result keeps what the manifest records


def test_merged_rank_manifests_keep_every_score_column(tmp_path: Path) -> None:
    results = _results()
    for rank, part in enumerate((results[:2], results[2:])):
        writer = ManifestWriter(tmp_path / f"manifest.rank{rank}.csv", score_names=SCORES[rank:])
        for result in part:
            writer.add(result)
        writer.close()
    merged = merge_rank_manifests(tmp_path, 2, labels=["HER2", "HER2+", "car", "cat"])
    assert [result.index for result in merged] == [0, 1, 2, 3, 4]
    with (tmp_path / "manifest.csv").open(newline="") as file:
        assert tuple(csv.DictReader(file).fieldnames) == (*MANIFEST_FIELDS, *sorted(SCORES))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv"]


def test_the_audit_cluster_column_follows_the_scores_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    results = [replace(_ok(1, "a", "a"), scores={"iou": 0.5}, cluster="a/2"), replace(_ok(0, "b", "b"), cluster=""),
               replace(_ok(2, "c", "c"), cluster="=c/1")]
    write_manifest(path, results, ["iou"])
    with path.open(newline="") as file:
        records = list(csv.DictReader(file))
    assert tuple(records[0]) == (*MANIFEST_FIELDS, "iou", *AUDIT_FIELDS)
    assert [record["cluster"] for record in records] == ["", "a/2", "'=c/1"]
    assert read_manifest_table(path) == (("iou",), sorted(results, key=lambda result: result.index))
    write_manifest(path, [replace(result, cluster="") for result in results], ["iou"])
    with path.open(newline="") as file:
        assert tuple(csv.DictReader(file).fieldnames) == (*MANIFEST_FIELDS, "iou")  # no audit: no column
    assert all(result.cluster == "" for result in ManifestWriter(path, kept=results).results.values())
