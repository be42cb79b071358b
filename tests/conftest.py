"""Shared fixtures: the shipped trained demo classifier, synthetic ImageFolder splits, the checkpoints users bring,
and two ways to run `camviz`: its entry point in this process, and the installed script in a real process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from camviz.demo import CHECKPOINT_PATH, write_image_folder
from tests.support.checkpoints import Source, write_sources
from tests.support.cli import run_in_process, run_script


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


@pytest.fixture(scope="session")
def small_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ImageFolder split (circle/, square/, triangle/ with 2 images each) to copy and vary."""
    root = tmp_path_factory.mktemp("small") / "data"
    write_image_folder(root, per_class=2, seed=5)
    return root


@pytest.fixture(scope="session")
def shortcut_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bool]]:
    """A classifier trained (seconds) with a planted shortcut: a tag in the top-left corner means `square`; its test
    split (30 images per class, 9 squares tagged) and whether each image carries the tag (`tests.support.shortcut`)."""
    from tests.support.shortcut import write_shortcut_case

    return write_shortcut_case(tmp_path_factory.mktemp("shortcut"))


@pytest.fixture
def camviz(request: pytest.FixtureRequest) -> Callable[..., object]:
    """Run the installed `camviz` console script in a real process: `camviz("explain", "--model-path", p, ...)`.

    Returns the CompletedProcess (text stdout/stderr); never raises on a non-zero exit. Only for tests marked
    `process` (so that `-m "not process"` leaves them out); anything else runs the entry point in this process
    with `camviz_main`.
    """
    assert request.node.get_closest_marker("process"), f"{request.node.nodeid} starts camviz: mark it `process`"
    return run_script


@pytest.fixture(scope="session")
def camviz_main() -> Iterator[Callable[..., object]]:
    """Run the `camviz` entry point (`camviz.cli.main.main`) in this process: no interpreter start, same code path.

    Returns a CompletedProcess (text stdout/stderr); asserts camviz never ends with "internal error". The
    environment's `CAMVIZ_DEBUG` is cleared for the session (a test may set it with `monkeypatch`).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CAMVIZ_DEBUG", raising=False)
        yield run_in_process


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    """Every checkpoint source of `tests.support.checkpoints` (Lightning, timm hub folder, grey, binary, ...)."""
    return write_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="session")
def sources_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 64 px image per shape class, for the checkpoint sources."""
    root = tmp_path_factory.mktemp("sources_data")
    write_image_folder(root, per_class=1, seed=11, size=64)
    return root


@pytest.fixture(scope="session")
def circle_image(small_split: Path) -> Path:
    """One image of the small split: `circle/circle_000.png`."""
    return small_split / "circle" / "circle_000.png"


@pytest.fixture(scope="session")
def hf_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The transformers folders of `tests.support.hf` (vit, convnext, swin, resnet, multilabel), written once."""
    pytest.importorskip("transformers", reason='needs the transformers extra: pip install -e ".[transformers]"')
    from tests.support.hf import write_hf_folders

    return write_hf_folders(tmp_path_factory.mktemp("hf"))
