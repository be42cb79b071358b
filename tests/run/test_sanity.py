"""camviz.run.sanity on the trained shapes classifier: the maps depend on its weights under Grad-CAM, EigenCAM's
do not depend on the head (the warning), the checkpoint stays as it was, and corrupt images are skipped."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest

from camviz.cam.options import CamOptions
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.output.options import OutputOptions
from camviz.run.sanity import SanityOptions, SanityResult, sanity


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(trained_checkpoint: Path, shapes_split, tmp_path_factory) -> dict[str, tuple[SanityResult, bool]]:
    """Grad-CAM and EigenCAM on 12 unseen images each; whether the checkpoint file kept its bytes."""
    data_dir, _ = shapes_split
    before = _digest(trained_checkpoint)
    found = {}
    for method in ("gradcam", "eigencam"):
        out = tmp_path_factory.mktemp(method)
        result = sanity(SanityOptions(model=ModelOptions(path=trained_checkpoint, cpu=True),
                                      inputs=InputOptions(data_dir=data_dir, num_samples=12),
                                      cam=CamOptions(method=method), output=OutputOptions(output_dir=out)))
        found[method] = (result, _digest(trained_checkpoint) == before)
    return found


@pytest.mark.slow
def test_gradcam_maps_fall_apart_once_head_and_last_stage_are_random(runs) -> None:
    result, checkpoint_kept = runs["gradcam"]
    names = result.blocks.names
    last_stage = max(i for i, name in enumerate(names) if name.startswith("stages.2."))
    assert names[0] == "head" and last_stage == 3
    after_head_and_last_stage = result.cascade[last_stage]  # step 4: head, stages.2.3, stages.2.2, stages.2.0
    assert after_head_and_last_stage.median_spearman < 0.3
    assert result.random_logit.median_spearman < 0.3  # another class's map is another map
    assert len(result.judged) == 3 and result.judged[0] == result.cascade[0].median_spearman
    assert min(result.judged) < 0.5 and result.verdict.depends_on_weights is True  # some random head moves the maps
    assert checkpoint_kept and result.exit_code == 0


@pytest.mark.slow
def test_eigencam_does_not_see_the_head_so_the_warning_appears(runs) -> None:
    result, checkpoint_kept = runs["eigencam"]
    head = result.cascade[0]
    assert head.block == "head" and head.median_spearman > 0.999  # the head cannot change EigenCAM's maps
    assert result.random_logit.median_spearman > 0.999  # nor can the class
    assert result.verdict.depends_on_weights is False and min(result.judged) > 0.999  # in every draw
    assert result.lines[-1].startswith("verdict: WARNING") and "(head)" in result.lines[-1]
    assert checkpoint_kept


@pytest.mark.slow
def test_the_outputs_hold_a_row_per_image_and_step(runs) -> None:
    result, _ = runs["gradcam"]
    figure, table, summary = result.outputs
    assert [p.name for p in result.outputs] == ["sanity.png", "sanity.csv", "sanity.txt"]
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    steps = 1 + len(result.blocks.names) + 1  # the repeat, the cascade and the random logit
    assert len(rows) == 12 * steps
    assert list(rows[0]) == ["image", "step", "block", "spearman", "ssim", "drawn_by_camviz"]
    assert {row["spearman"] for row in rows if row["step"] == "repeat"} == {"1.000000"}
    assert {row["block"] for row in rows if row["step"] == "1"} == {"head"}
    assert {row["block"] for row in rows if row["step"] == "random_logit"} <= {"circle", "square", "triangle"}
    medians = [line for line in summary.read_text(encoding="utf-8").splitlines() if line.strip().startswith("4 ")]
    assert medians and f"{result.cascade[3].median_spearman:.3f}" in medians[0]
    assert figure.stat().st_size > 10_000


@pytest.mark.slow
def test_a_corrupt_image_is_skipped_and_said(trained_checkpoint: Path, small_split: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_split, data)
    (data / "circle" / "broken.png").write_bytes(b"\x89PNG not really")
    result = sanity(SanityOptions(model=ModelOptions(path=trained_checkpoint, cpu=True), inputs=InputOptions(data_dir=data),
                                  output=OutputOptions(output_dir=tmp_path / "out")))
    assert result.exit_code == 3 and len(result.skipped) == 1 and "broken.png" in result.skipped[0]
    images = {row["image"] for row in csv.DictReader((tmp_path / "out" / "sanity.csv").open(encoding="utf-8"))}
    assert len(images) == 6 and "circle/broken.png" not in images  # the 6 good images of the split


def test_options_that_make_no_sense_are_refused_before_the_model_loads(trained_checkpoint: Path,
                                                                       circle_image: Path, tmp_path: Path) -> None:
    model, output = ModelOptions(path=trained_checkpoint), OutputOptions(output_dir=tmp_path)
    with pytest.raises(UsageError, match="exactly one of --image-path"):
        sanity(SanityOptions(model=model, inputs=InputOptions(), output=output))
    with pytest.raises(UsageError, match="--num-samples must be at least 1"):
        sanity(SanityOptions(model=model, inputs=InputOptions(images=(circle_image,), num_samples=0), output=output))
    assert not list(tmp_path.iterdir())
