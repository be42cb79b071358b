"""camviz.output.result: one image's result keeps what the manifest records (floats at six decimals, tuples of
names), says whether it is correct, and cannot be changed."""

from __future__ import annotations

import dataclasses

import pytest

from camviz.output.result import ImageResult, Source, Status


def test_a_result_keeps_what_the_manifest_records() -> None:
    result = ImageResult(index=3, path="cat/3.png", true="cat", predicted=["cat"], confidence=[0.12345678],
                         explained=["cat"], status="ok", scores={"deletion_auc": 0.3333333333, "pointing_hit": True})
    assert (result.predicted, result.explained, result.confidence) == (("cat",), ("cat",), (0.123457,))
    assert result.scores == {"deletion_auc": 0.333333, "pointing_hit": 1.0}
    assert result.status is Status.ok and result.ok and result.correct and not result.mistake
    assert result == dataclasses.replace(result)  # normalising twice changes nothing


def test_skipped_and_unlabelled_results() -> None:
    skipped = ImageResult(index=0, path="a.png", status=Status.error, note="cannot decode a.png")
    assert not skipped.ok and not skipped.correct and not skipped.mistake
    unlabelled = ImageResult(index=1, path="b.png", predicted=("dog",), source=Source("k", "1:2"))
    assert unlabelled.ok and not unlabelled.correct and not unlabelled.mistake
    with pytest.raises(dataclasses.FrozenInstanceError):
        unlabelled.output = "x.png"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ImageResult(index=2, path="c.png", status="maybe")
