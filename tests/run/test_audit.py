"""camviz.run.audit: the audit of maps in memory (a notebook user's own CAMs) returns the clusters as data, and
checks what it is given."""

from __future__ import annotations

import numpy as np
import pytest

from camviz.cam.audit import AuditOptions, TooFew
from camviz.errors import CamvizError, UsageError
from camviz.run.audit import audit_maps
from tests.cam.test_audit import blob


def test_maps_in_memory_are_audited_per_label() -> None:
    rng = np.random.default_rng(1)
    tagged = [blob(0.2, 0.2)] * 6 + [blob(*rng.uniform(0.45, 0.75, 2)) for _ in range(14)]
    clean = [blob(*rng.uniform(0.25, 0.75, 2)) for _ in range(10)]
    maps = [*clean[:5], *tagged, *clean[5:], blob(0.5, 0.5)]
    labels = ["cat"] * 5 + ["dog"] * 20 + ["cat"] * 5 + ["eel"]
    result = audit_maps(maps, labels, known={"correct": np.ones(31, bool)})
    assert [one.name for one in result.classes] == ["cat", "dog", "eel"]
    assert result.classes[0].keys == (*range(5), *range(25, 30)) and isinstance(result.classes[2].clustering, TooFew)
    dog = result.classes[1]
    assert len(result.flagged) == 1 and result.flagged[0].startswith("dog/")
    assert sorted(dog.keys[i] for i in dog.flagged[0].members) == list(range(5, 11))
    assert dog.flagged[0].accuracy == 1.0 and result.output_dir is None and result.lines[0].startswith("audit: ")


def test_what_the_audit_is_given_is_checked() -> None:
    with pytest.raises(CamvizError, match="N maps"):
        audit_maps(np.zeros((3, 8, 8)), ["a", "b"])
    with pytest.raises(UsageError, match="--clusters"):
        audit_maps(np.zeros((3, 8, 8)), ["a"] * 3, AuditOptions(clusters=0))


def test_the_public_audit_takes_a_folder_or_maps_with_labels(tmp_path) -> None:
    import camviz

    rng = np.random.default_rng(2)
    maps = [blob(0.2, 0.2)] * 6 + [blob(*rng.uniform(0.45, 0.75, 2)) for _ in range(14)]
    result = camviz.audit(maps, ["dog"] * 20, seed=1)
    assert isinstance(result, camviz.AuditResult) and result.flagged and result.classes[0].name == "dog"
    assert len(camviz.audit(maps, ["dog"] * 20, clusters=2).classes[0].clusters) == 2
    with pytest.raises(UsageError, match="labels"):
        camviz.audit(maps)
    with pytest.raises(UsageError, match="labels only with maps"):
        camviz.audit(tmp_path, ["dog"])
    with pytest.raises(CamvizError, match="not a camviz output folder"):
        camviz.audit(tmp_path)


def _multilabel_run(folder, count: int = 30) -> None:
    """A finished multi-label run as camviz leaves it: each image explained for `cat` and `dog+` (two small maps),
    half of the `dog+` maps on a tag in the top-left corner."""
    from camviz.output.manifest import write_manifest
    from camviz.output.result import ImageResult
    from camviz.output.run_record import write_run_record
    from camviz.output.small_maps import MAPS_NAME, SmallMapWriter

    folder.mkdir()
    rng = np.random.default_rng(3)
    writer, results = SmallMapWriter(folder / MAPS_NAME), []
    for index in range(count):
        dog = blob(0.15, 0.2) if index % 2 else blob(*rng.uniform(0.45, 0.8, 2))
        writer.add(index, np.stack([blob(*rng.uniform(0.3, 0.7, 2)), dog]))
        results.append(ImageResult(index=index, path=f"x/{index}.png", true="cat", predicted=("cat", "dog+"),
                                   confidence=(0.9, 0.8), explained=("cat", "dog+"), output=""))
    writer.close()
    write_manifest(folder / "manifest.csv", results)
    write_run_record(folder, {"mode": "batch", "method": "gradcam", "model": {
        "class_names": ["cat", "dog+"], "output": {"kind": "multilabel"}, "input": {"size": [48, 48]}}})


def test_a_multi_label_run_counts_each_labels_map_for_that_label(tmp_path) -> None:
    from camviz.run.audit import audit_run
    from tests.support.manifest import manifest_rows

    _multilabel_run(tmp_path / "run")
    result = audit_run(tmp_path / "run", AuditOptions(seed=0))
    assert [one.name for one in result.classes] == ["cat", "dog+"]
    assert [len(one.keys) for one in result.classes] == [30, 30]
    assert result.flagged and all(name.startswith("dog+/") for name in result.flagged)
    rows = manifest_rows(tmp_path / "run", ("cluster",))
    cells = [row["cluster"].split("+", 1) for row in rows]  # `cat/n+dog+/m`: a cluster of each label's map
    assert all(cat.startswith("cat/") and dog.startswith("dog+/") for cat, dog in cells)
    tagged = {dog for (_, dog), row in zip(cells, rows, strict=True) if int(row["index"]) % 2}
    assert tagged == set(result.flagged)
    assert sorted(p.name for p in (tmp_path / "run").glob("audit*")) == ["audit.csv", "audit_cat.png", "audit_dog+.png"]
