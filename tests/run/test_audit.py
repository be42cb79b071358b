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
