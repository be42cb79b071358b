"""Signals sent to a real `camviz` process: it stops cleanly, once, with no worker or partial file left behind."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from camviz.demo import CHECKPOINT_PATH


@pytest.fixture(scope="module")
def many(small_split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 images (copies of the small split's), enough to still be running when the signal comes."""
    data = tmp_path_factory.mktemp("many") / "data"
    for source in sorted(small_split.rglob("*.png")):
        (data / source.parent.name).mkdir(parents=True, exist_ok=True)
        for copy in range(15 // 2 + 1):
            shutil.copy(source, data / source.parent.name / f"{source.stem}_{copy}.png")
    return data


def _children(pid: int) -> set[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _start(camviz_executable: Path, data: Path, out: Path) -> tuple[subprocess.Popen, set[int]]:
    """A batch run with two decoding workers, in its own process group, once it has written two figures."""
    env = {key: value for key, value in os.environ.items() if key != "CAMVIZ_DEBUG"}
    process = subprocess.Popen(
        [str(camviz_executable), "explain", "--model-path", str(CHECKPOINT_PATH), "--data-dir", str(data),
         "--output-dir", str(out), "--num-workers", "2", "--batch-size", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env,
    )
    deadline = time.time() + 120
    while len(list(out.glob("gradcam_*.png"))) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the signal"
    return process, _children(process.pid)


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


def test_sigterm_stops_like_ctrl_c_and_resume_finishes(camviz_executable, camviz_main, many, tmp_path) -> None:
    out = tmp_path / "out"
    process, workers = _start(camviz_executable, many, out)
    second = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", many, "--output-dir", out,
                         "--num-workers", 0)  # another run into the same folder, meanwhile
    assert second.returncode == 1 and "another camviz run is writing to --output-dir" in second.stderr
    process.send_signal(signal.SIGTERM)
    _stopped_cleanly(process, workers, out, signal.SIGTERM)
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", many, "--output-dir", out,
                         "--num-workers", 0, "--batch-size", 8, "--resume")
    assert result.returncode == 0, result.stderr
    with (out / "manifest.csv").open(newline="") as file:
        assert [int(row["index"]) for row in csv.DictReader(file)] == list(range(48))


def test_repeated_ctrl_c_prints_no_worker_traceback(camviz_executable, many, tmp_path) -> None:
    process, workers = _start(camviz_executable, many, tmp_path / "out")
    for _ in range(3):  # the terminal sends SIGINT to the whole process group, workers included
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.15)
    _stopped_cleanly(process, workers, tmp_path / "out", signal.SIGINT)
