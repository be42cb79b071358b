"""camviz.run.ranks: `torchrun --nproc-per-node 2 -m camviz explain` on CPU (gloo) writes the figures one process
writes, one manifest, one file of small maps, and the audit one process makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camviz.output.small_maps import read_run_maps
from tests.support.manifest import manifest_rows

TORCHRUN = Path(sys.executable).parent / "torchrun"


def _torchrun(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "camviz", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600, check=False)


def _outputs(folder: Path) -> tuple[list[str], list[int]]:
    audited = "cluster" in (folder / "manifest.csv").read_text().splitlines()[0]  # some class had images to cluster
    indices = [int(row["index"]) for row in manifest_rows(folder, ("cluster",) if audited else ())]
    return sorted(p.name for p in folder.glob("gradcam_*.png")), indices


@pytest.mark.process
@pytest.mark.distributed
@pytest.mark.parametrize("selection", [[], ["--num-samples", "7", "--classes", "circle,triangle", "--seed", "2"]],
                         ids=["all", "sampled-and-filtered"])
def test_two_ranks_write_what_one_process_writes(camviz_main, trained_checkpoint, shapes_split, tmp_path, selection):
    data_dir, _ = shapes_split
    common = ["--model-path", trained_checkpoint, "--data-dir", data_dir, "--num-workers", "0", "--audit", *selection]
    single = camviz_main("explain", *common, "--output-dir", tmp_path / "one")
    assert single.returncode == 0, single.stderr
    ranked = _torchrun("explain", *common, "--output-dir", tmp_path / "two", cwd=tmp_path)
    assert ranked.returncode == 0, ranked.stderr[-3000:]
    one_names, one_indices = _outputs(tmp_path / "one")
    two_names, two_indices = _outputs(tmp_path / "two")
    assert two_names == one_names and two_indices == one_indices
    assert len(set(two_indices)) == len(two_indices)
    assert not list((tmp_path / "two").glob("manifest.rank*.csv"))
    assert ranked.stdout.count("processed:") == 1, "only rank 0 reports"
    # the small maps of both ranks merged into one file, and the audit (rank 0) as one process makes it
    assert sorted(p.name for p in (tmp_path / "two").glob("cam_maps*.bin")) == ["cam_maps.bin"]
    assert sorted(read_run_maps(tmp_path / "two") or {}) == two_indices
    audit = (tmp_path / "one" / "audit.csv").read_text()
    assert (tmp_path / "two" / "audit.csv").read_text() == audit and ranked.stdout.count("audit:") == 1
    assert camviz_main("audit", tmp_path / "two").returncode == 0
    assert (tmp_path / "two" / "audit.csv").read_text() == audit



@pytest.mark.process
@pytest.mark.distributed
def test_two_ranks_explain_a_segmentation_model_as_one_process_does(camviz_main, tmp_path):
    from camviz.demo import SEGMENTATION_CHECKPOINT_PATH
    from camviz.demo.segmentation_shapes import write_segmentation_folder

    write_segmentation_folder(tmp_path / "data", count=6, seed=31)
    common = ["--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", tmp_path / "data" / "images", "--masks",
              tmp_path / "data" / "masks", "--num-workers", "0"]
    single = camviz_main("explain", *common, "--output-dir", tmp_path / "one")
    assert single.returncode == 0, single.stderr
    ranked = _torchrun("explain", *common, "--output-dir", tmp_path / "two", cwd=tmp_path)
    assert ranked.returncode == 0, ranked.stderr[-3000:]
    one, two = ((tmp_path / name / "manifest.csv").read_text().splitlines() for name in ("one", "two"))
    def cells(lines: list[str]) -> list[list[str]]:  # index, path, true, pred, target, output, status
        return [[line.split(",")[i] for i in (0, 1, 2, 3, 5, 6, 7)] for line in lines]

    assert cells(two) == cells(one)
    assert len(two) > 7  # a row per image and class: more rows than images
    assert sorted(p.name for p in (tmp_path / "two").glob("gradcam_*.png")) == \
        sorted(p.name for p in (tmp_path / "one").glob("gradcam_*.png"))
