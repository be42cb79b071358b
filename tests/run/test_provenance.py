"""camviz.run.provenance: `run.json`'s content for the shipped classifier as resolved: the installed versions, the
command line, the model's name, layers, input and output, the settings key; then the end, the status and the counts.
(`run.json` written by real runs: tests/cli/test_run_json.py.)"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from importlib import metadata

import pytest

from camviz.demo import CHECKPOINT_PATH
from camviz.discovery.options import ModelOptions
from camviz.output.result import ImageResult, Status
from camviz.output.summary import summarize
from camviz.run.model import resolve_model
from camviz.run.options import RunMode
from camviz.run.provenance import finish_record, start_record


def test_a_record_says_what_made_the_outputs_and_how_the_run_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["camviz", "explain", "--data-dir", "my data", "--method", "gradcam++"])
    resolved = resolve_model(ModelOptions(path=CHECKPOINT_PATH, cpu=True))
    record = start_record(resolved, "gradcam++", "0123456789ab", RunMode.batch)
    for name in ("camviz", "torch", "timm", "grad-cam"):
        assert record["versions"][name] == metadata.version(name)
    assert record["command"] == "camviz explain --data-dir 'my data' --method gradcam++"
    model = record["model"]
    assert model["name"] == "camviz_shapenet" and model["target_layers"] == list(resolved.targets.names)
    assert model["input"]["size"] == [96, 96] and model["input"]["channels"] == 3
    assert model["output"] == {"kind": "softmax"} and model["class_names"] == ["circle", "square", "triangle"]
    assert (record["mode"], record["device"], record["status"], record["ended"]) == ("batch", "cpu", "running", None)

    rows = [ImageResult(index=0, path="circle/a.png", true="circle", predicted=("circle",)),
            ImageResult(index=1, path="square/b.png", true="square", predicted=("circle",)),
            ImageResult(index=2, path="square/c.png", true="square", status=Status.error, note="cannot decode")]
    ended = finish_record(record, "exit 3", ["a note"], summarize(rows, resumed=1))
    assert ended["counts"] == {"processed": 2, "skipped": 1, "resumed": 1, "correct": 1, "labelled": 2}
    assert ended["status"] == "exit 3" and ended["notes"] == ["a note"] and record["ended"] is None
    assert datetime.fromisoformat(ended["started"]) <= datetime.fromisoformat(ended["ended"])
    assert json.loads(json.dumps(ended)) == ended  # JSON as it is
    assert finish_record(record, "exit 0", [], outputs=2)["counts"] == {"files": 2}
    assert finish_record(record, "error: x", [])["counts"] is None
