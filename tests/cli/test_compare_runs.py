"""`camviz compare-runs`: two real explain runs (Grad-CAM and EigenCAM with masks) side by side from their
trust.csv, an older run read from its manifest, and folders that are not runs as one line with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.demo import CHECKPOINT_PATH
from camviz.output.trust import read_trust
from tests.support.cli import one_error_line, run_in_process
from tests.support.shape_masks import write_shapes_with_masks


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Grad-CAM and EigenCAM runs of the trained shapes model on 6 images with exact masks."""
    root = tmp_path_factory.mktemp("runs")
    data, masks, _ = write_shapes_with_masks(root, per_class=2, seed=3)
    outs = []
    for method in ("gradcam", "eigencam"):
        out = root / method
        result = run_in_process("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                                "--output-dir", out, "--method", method, "--num-workers", 0, "--cpu")
        assert result.returncode == 0, result.stderr
        outs.append(out)
    return outs[0], outs[1]


def test_two_runs_side_by_side(camviz_main, two_runs) -> None:
    first, second = two_runs
    result = camviz_main("compare-runs", first, second)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"first: {first} (gradcam on camviz_shapenet)"
    assert lines[1] == f"second: {second} (eigencam on camviz_shapenet)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    a, b = read_trust(first), read_trust(second)
    assert a is not None and b is not None
    assert rows["images"] == ["6", "6", "0"]
    assert float(rows["localization.energy"][2]) == pytest.approx(b["localization.energy"] - a["localization.energy"],
                                                                  abs=1e-6)
    assert rows["localization.center.pointing"][2] == "0"  # the same images: the same baseline


def test_a_run_without_trust_csv_is_read_from_its_manifest(camviz_main, two_runs, tmp_path: Path) -> None:
    import shutil

    first, _ = two_runs
    old = tmp_path / "old"
    shutil.copytree(first, old)
    (old / "trust.csv").unlink()
    result = camviz_main("compare-runs", first, old)
    assert result.returncode == 0, result.stderr
    changes = [line.split()[-1] for line in result.stdout.splitlines()[3:]]
    assert changes and all(change == "0" for change in changes)


@pytest.mark.parametrize("case", [("nothing", "is not a folder"), ("empty", "is not a camviz explain run")])
def test_a_folder_that_is_not_a_run_is_one_line(camviz_main, two_runs, tmp_path: Path, case) -> None:
    name, words = case
    if name == "empty":
        (tmp_path / name).mkdir()
    result = camviz_main("compare-runs", two_runs[0], tmp_path / name)
    one_error_line(result, 2, words, name)
