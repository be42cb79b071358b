"""camviz.run.provenance: `run.json`'s content for the shipped classifier as resolved: the installed versions, the
command line, the model's name, layers, input and output, the settings key; then the end, the status and the counts.
(`run.json` written by real runs: tests/cli/test_run_json.py.)"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest

from camviz.cam.options import CamOptions
from camviz.data.options import InputOptions
from camviz.demo import CHECKPOINT_PATH
from camviz.discovery.options import ModelOptions
from camviz.output.result import ImageResult, Status
from camviz.output.summary import summarize
from camviz.run.model import resolve_model
from camviz.run.options import ExplainOptions
from camviz.run.provenance import finish_record, shown_text, start_record


def test_a_record_says_what_made_the_outputs_and_how_the_run_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--api-key=SECRET123"])  # the host process's own: never recorded
    resolved = resolve_model(ModelOptions(path=CHECKPOINT_PATH, cpu=True))
    options = ExplainOptions(model=ModelOptions(path=CHECKPOINT_PATH, cpu=True),
                             inputs=InputOptions(data_dir=Path("my data")), cam=CamOptions(method="gradcam++"))
    record = start_record(options, resolved, "gradcam++", "0123456789ab",
                          ["explain", "--data-dir", "my data", "--method", "gradcam++"])
    for name in ("camviz", "torch", "timm", "grad-cam"):
        assert record["versions"][name] == metadata.version(name)
    assert record["command"] == "camviz explain --data-dir 'my data' --method gradcam++"
    assert record["options"]["inputs"]["data_dir"] == "my data" and record["options"]["cam"]["method"] == "gradcam++"
    assert record["options"]["output"]["figure_format"] == "png" and record["options"]["batch_size"] is None
    from_python = start_record(options, resolved, "gradcam++", "0123456789ab")
    assert from_python["command"] is None and "SECRET123" not in json.dumps(from_python)
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


def test_the_home_folder_and_the_virtual_environment_are_kept_out_of_what_is_shown(monkeypatch: pytest.MonkeyPatch,
                                                                                    tmp_path: Path) -> None:
    home, venv = tmp_path / "alice", tmp_path / "alice" / "project" / ".venv"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sys, "prefix", str(venv))
    assert shown_text(f"--model-path {home}/ckpt.pth") == "--model-path ~/ckpt.pth"
    assert shown_text(f"{venv}/lib/python3.11/site-packages/camviz/demo/shapenet.pth") == \
        "<venv>/lib/python3.11/site-packages/camviz/demo/shapenet.pth"
    assert shown_text(f"cannot read '{home}'") == "cannot read '~'"
    assert shown_text(f"{home}x/data {tmp_path}/bob") == f"{home}x/data {tmp_path}/bob"  # another folder: as it is
