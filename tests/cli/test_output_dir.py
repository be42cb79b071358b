"""`camviz explain --output-dir` as the user's file system has it: read-only is one line, a full disk is the
user's to fix and --resume finishes, a second batch run into a busy folder is refused, and other processes'
temporary files are left alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from camviz.demo import CHECKPOINT_PATH
from camviz.output.files import partial_name
from camviz.output.outdir import claim_output_dir
from tests.support.manifest import manifest_rows
from tests.support.mounts import remount, small_tmpfs


def _explain(camviz_main, data: Path, out: Path, *extra: object) -> subprocess.CompletedProcess:
    return camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--output-dir", out,
                       "--num-workers", 0, "--batch-size", 2, *extra)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("camviz:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_read_only_output_dir_is_one_line(camviz_main, small_split, tmp_path) -> None:
    with small_tmpfs(tmp_path / "ro", "1m") as out:
        remount(out, "ro")
        result = _explain(camviz_main, small_split, out)
    assert result.returncode == 1
    assert "cannot write to --output-dir" in _one_line(result) and "read-only" in _one_line(result)


def test_a_full_disk_is_the_users_to_fix_and_resume_finishes(camviz_main, small_split, tmp_path) -> None:
    with small_tmpfs(tmp_path / "small", "600k") as out:
        result = _explain(camviz_main, small_split, out)
        assert result.returncode == 1
        line = _one_line(result)
        assert "disk full" in line and "No space left on device" in line and "--resume" in line, line
        assert not list(out.glob(".*.part")), "no temporary file is left behind"
        remount(out, "size=16m")
        result = _explain(camviz_main, small_split, out, "--resume")
        assert result.returncode == 0, result.stderr
        rows = manifest_rows(out)
        assert [row["status"] for row in rows] == ["ok"] * 6 and all((out / row["output"]).is_file() for row in rows)


def test_a_second_batch_run_into_a_busy_output_dir_is_refused(camviz_main, small_split, tmp_path) -> None:
    tmp_path.joinpath("out").mkdir()
    with claim_output_dir(tmp_path / "out", exclusive=True):  # what a running batch run holds
        result = _explain(camviz_main, small_split, tmp_path / "out")
        single = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--output-dir", tmp_path / "out",
                             "--image-path", small_split / "circle" / "circle_000.png")
    assert result.returncode == 1 and "another camviz run is writing to --output-dir" in _one_line(result)
    assert single.returncode == 1 and "another camviz run" in _one_line(single)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_a_run_leaves_other_live_processes_temporary_files_alone(camviz_main, small_split, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen(["sleep", "60"])
    try:
        theirs = out / partial_name("gradcam_0000_true_circle_pred_circle.png", pid=other.pid)
        theirs.write_bytes(b"in flight")
        assert _explain(camviz_main, small_split, out).returncode == 0
        assert theirs.read_bytes() == b"in flight"
    finally:
        other.kill()
        other.wait()
