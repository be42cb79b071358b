"""camviz.output.outdir: the output folder is made or is one line saying why not; one batch run holds it at a time
(single runs share it), and leaving it removes this process's and dead processes' temporary files only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from camviz.errors import CamvizError
from camviz.output.files import partial_name
from camviz.output.outdir import OutputDirBusy, claim_output_dir, make_output_dir


def test_the_folder_and_its_parents_are_made_and_a_file_in_the_way_is_one_line(tmp_path: Path) -> None:
    made = make_output_dir(tmp_path / "a" / "b")
    assert made.is_dir() and make_output_dir(made) == made  # an existing folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(CamvizError, match="cannot create --output-dir") as refused:
        make_output_dir(tmp_path / "file" / "out")
    assert "\n" not in str(refused.value)


def test_a_batch_run_holds_the_folder_alone_and_single_runs_share_it(tmp_path: Path) -> None:
    with (claim_output_dir(tmp_path, exclusive=False), claim_output_dir(tmp_path, exclusive=False),
          pytest.raises(OutputDirBusy, match="another camviz run is writing to --output-dir"),
          claim_output_dir(tmp_path, exclusive=True)):
        pass
    with claim_output_dir(tmp_path, exclusive=True):
        for exclusive in (True, False):
            with pytest.raises(OutputDirBusy), claim_output_dir(tmp_path, exclusive=exclusive):
                pass
        with claim_output_dir(tmp_path, exclusive=True, lock=False):  # unlocked: never refused
            pass
    with claim_output_dir(tmp_path, exclusive=True):  # released on the way out
        pass


def test_leaving_removes_own_and_dead_processes_partial_files_only(tmp_path: Path) -> None:
    live = subprocess.Popen(["sleep", "60"])  # another run, still going
    try:
        dead_pid = int(subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True).stdout)
        names = {who: partial_name(f"{who}.png", pid) for who, pid in
                 (("own", None), ("dead", dead_pid), ("live", live.pid))}
        for name in names.values():
            (tmp_path / name).write_bytes(b"half")
        (tmp_path / "kept.png").write_bytes(b"done")
        with claim_output_dir(tmp_path, exclusive=True):
            assert len(list(tmp_path.iterdir())) == 4
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["kept.png", names["live"]])
    finally:
        live.kill()
        live.wait()
