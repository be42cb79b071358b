"""Shared fixtures: the shipped trained demo classifier, a synthetic ImageFolder split with known object
boxes, and a runner for the installed `camviz` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camviz.demo import CHECKPOINT_PATH, write_image_folder

CAMVIZ = Path(sys.executable).parent / "camviz"


@pytest.fixture(scope="session")
def trained_checkpoint() -> Path:
    """The small shapes classifier that ships with camviz (trained by `python -m camviz.demo.train`)."""
    return CHECKPOINT_PATH


@pytest.fixture(scope="session")
def shapes_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, int, int, int]]]:
    """An ImageFolder test split the model never saw: 12 images per class, and each object's box."""
    root = tmp_path_factory.mktemp("shapes") / "test"
    boxes = write_image_folder(root, per_class=12, seed=777)
    return root, boxes


def _run_camviz(*args: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "CAMVIZ_DEBUG"}
    return subprocess.run(
        [str(CAMVIZ), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )


@pytest.fixture(scope="session")
def camviz_executable() -> Path:
    """The installed `camviz` console script."""
    return CAMVIZ


@pytest.fixture(scope="session")
def camviz():
    """Run the installed `camviz` console script: `camviz("explain", "--model-path", p, ...)`.

    Returns the CompletedProcess (text stdout/stderr); never raises on a non-zero exit.
    """
    return _run_camviz


@pytest.fixture
def camviz_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run the `camviz` entry point (`camviz.cli.main`) in this process: no interpreter start, same code path.

    Returns a CompletedProcess (text stdout/stderr); asserts camviz never ends with "internal error".
    """
    from camviz.cli.main import main

    monkeypatch.delenv("CAMVIZ_DEBUG", raising=False)

    def run(*args: object) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "argv", ["camviz", *map(str, args)])
        with pytest.raises(SystemExit) as stop:
            main()
        captured = capsys.readouterr()
        assert "internal error" not in captured.err and "Traceback" not in captured.err, captured.err
        return subprocess.CompletedProcess(sys.argv, stop.value.code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def small_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ImageFolder split (2 images per class) to copy and vary."""
    root = tmp_path_factory.mktemp("small") / "data"
    write_image_folder(root, per_class=2, seed=5)
    return root
