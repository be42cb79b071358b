"""camviz.output.files: atomic writes under temporary names never longer than the final one, and each run removes
only its own (and dead runs') temporary files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.errors import OutputError
from camviz.output.figures import encode_image
from camviz.output.files import partial_name, remove_partial_files, write_atomic


def test_write_atomic_leaves_only_the_final_file(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    write_atomic(target, encode_image(np.zeros((4, 4, 3), np.uint8)))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    assert cv2.imread(str(target)).shape == (4, 4, 3)
    with pytest.raises(OutputError, match=r"cannot write .*y\.png: No such file"):
        write_atomic(tmp_path / "missing" / "y.png", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@pytest.mark.parametrize("name", ["x.png", "a" * 60 + ".png", "類" * 80 + ".png", "a" * 251 + ".png"])
def test_temporary_names_are_never_longer_than_the_final_name(name: str) -> None:
    temporary = partial_name(name)
    assert len(temporary.encode()) <= max(len(name.encode()), 40)
    assert temporary.startswith(".") and temporary.endswith(".part")
    temporary.encode("utf-8")  # never a split character


def test_write_atomic_fits_a_final_name_of_255_bytes(tmp_path: Path) -> None:
    target = tmp_path / ("é" * 125 + ".png")  # 254 bytes: fits, its old `.{name}.XXXXXXXX.part` did not
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_only_own_or_orphaned_temporary_files_are_removed(tmp_path: Path) -> None:
    """Files of a live process (a real one) are left alone; those of a process that has ended are orphans."""
    live = subprocess.Popen(["sleep", "60"])
    try:
        dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
        others = tmp_path / partial_name("b.png", pid=live.pid)
        orphan = tmp_path / partial_name("c.png", pid=int(dead.stdout))
        mine = tmp_path / partial_name("a.png", pid=os.getpid())
        foreign = tmp_path / ".d.png.tool.part"  # not camviz's spelling
        for path in (others, orphan, mine, foreign):
            path.write_bytes(b"x")
        remove_partial_files(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([others.name, foreign.name])
    finally:
        live.kill()
        live.wait()
