"""camviz.run.signals: SIGTERM or Ctrl-C sent to a real `camviz` process stops it cleanly, once, with no worker or
partial file left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from camviz.demo import CHECKPOINT_PATH
from tests.support.manifest import manifest_rows
from tests.support.processes import children, start_run

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def many(small_split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 images (copies of the small split's), enough to still be running when the signal comes (the CPU path
    explains the demo's 96 px images at well over 100 per second)."""
    data = tmp_path_factory.mktemp("many") / "data"
    for source in sorted(small_split.rglob("*.png")):
        (data / source.parent.name).mkdir(parents=True, exist_ok=True)
        for copy in range(40):
            shutil.copy(source, data / source.parent.name / f"{source.stem}_{copy}.png")
    return data


def _start(data: Path, out: Path) -> tuple[subprocess.Popen, set[int]]:
    """A batch run with two decoding workers, in its own process group, once it has written two figures."""
    process = start_run(["explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--output-dir", out,
                         "--num-workers", "2", "--batch-size", "2"], out, figures=2,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return process, children(process.pid)


def _stopped_cleanly(process: subprocess.Popen, workers: set[int], out: Path, signum: int) -> None:
    try:
        _, stderr = process.communicate(timeout=90)  # returns only once nothing holds the pipes open
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("camviz (or a worker holding its pipes) was still running 90 s after the signal")
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"camviz: stopped by {signal.Signals(signum).name}"), stderr
    assert workers and not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "decoding workers are gone"
    assert not list(out.glob(".*.part")), "no partial file is left behind"


def test_sigterm_stops_like_ctrl_c_and_resume_finishes(camviz_main, many, tmp_path) -> None:
    out = tmp_path / "out"
    process, workers = _start(many, out)
    second = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", many, "--output-dir", out,
                         "--num-workers", 0)  # another run into the same folder, meanwhile
    assert second.returncode == 1 and "another camviz run is writing to --output-dir" in second.stderr
    process.send_signal(signal.SIGTERM)
    _stopped_cleanly(process, workers, out, signal.SIGTERM)
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted" and record["ended"], record  # run.json says how the run ended
    kept = manifest_rows(out)
    assert 2 <= len(kept) < 240 and record["counts"] == {  # and counts what it had done, as the manifest keeps it
        "processed": len(kept), "skipped": 0, "resumed": 0, "correct": sum(r["true"] == r["pred"] for r in kept),
        "labelled": len(kept)}, record["counts"]
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", many, "--output-dir", out,
                         "--num-workers", 0, "--batch-size", 8, "--resume")
    assert result.returncode == 0, result.stderr
    assert [int(row["index"]) for row in manifest_rows(out)] == list(range(240))
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "exit 0" and 0 < record["counts"]["resumed"] < 240


def test_repeated_ctrl_c_prints_no_worker_traceback(many, tmp_path) -> None:
    process, workers = _start(many, tmp_path / "out")
    for _ in range(3):  # the terminal sends SIGINT to the whole process group, workers included
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.15)
    _stopped_cleanly(process, workers, tmp_path / "out", signal.SIGINT)
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted" and record["counts"]["processed"] == len(manifest_rows(tmp_path / "out"))
