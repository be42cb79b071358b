"""camviz.run.sanity on the trained shapes classifier: the maps depend on its weights under Grad-CAM, EigenCAM's
do not depend on the head (the warning), the checkpoint stays as it was, and corrupt images are skipped."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest

from camviz.cam.mprt import emprt_verdict
from camviz.cam.options import CamOptions
from camviz.cam.randomisation import Judged, SanityTest
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
    verdict = next(line for line in result.lines if line.startswith("verdict: "))
    assert verdict.startswith("verdict: WARNING") and "(head)" in verdict
    assert result.random_logit_verdict is Judged.fails  # the random logit warns too
    assert any(line.startswith("random logit verdict: WARNING") for line in result.lines)
    # eMPRT randomises every block at once, the features EigenCAM reads included: its maps do change, so it passes
    assert result.emprt is not None and emprt_verdict(result.emprt) is Judged.passes
    assert checkpoint_kept


@pytest.mark.slow
def test_emprt_alone_streams_over_the_whole_split(trained_checkpoint: Path, shapes_split, tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    result = sanity(SanityOptions(model=ModelOptions(path=trained_checkpoint, cpu=True),
                                  inputs=InputOptions(data_dir=data_dir), output=OutputOptions(output_dir=tmp_path),
                                  tests=(SanityTest.emprt,), batch_size=5))
    assert result.emprt is not None and result.emprt.scores.size == 36  # every image, not the 16-image subset
    assert result.cascade == [] and result.verdict is None and result.random_logit is None
    assert [p.name for p in result.outputs] == ["sanity.txt", "emprt.png", "emprt.csv"]
    rows = list(csv.DictReader((tmp_path / "emprt.csv").open(encoding="utf-8")))
    assert len(rows) == 36 and float(rows[0]["emprt"]) == pytest.approx(result.emprt.scores[0], abs=1e-6)
    assert result.lines[-1].startswith("eMPRT verdict: ") and "36 images" in result.lines[1]


@pytest.mark.slow
def test_smprt_and_the_random_logit_without_the_cascade(trained_checkpoint: Path, small_split: Path,
                                                        tmp_path: Path) -> None:
    result = sanity(SanityOptions(model=ModelOptions(path=trained_checkpoint, cpu=True),
                                  inputs=InputOptions(data_dir=small_split), output=OutputOptions(output_dir=tmp_path),
                                  tests=(SanityTest.smprt, SanityTest.random_logit), smooth_samples=2))
    assert result.cascade == [] and result.verdict is None and result.emprt is None
    assert result.smprt is not None and [s.block for s in result.smprt.steps] == list(reversed(result.blocks.names))
    assert result.random_logit is not None and result.random_logit_verdict is Judged.passes
    rows = list(csv.DictReader((tmp_path / "smprt.csv").open(encoding="utf-8")))
    assert len(rows) == 6 * (1 + len(result.blocks.names))  # the repeat and each bottom-up step, per image
    assert {row["step"] for row in rows if row["block"] == "stem"} == {"1"}  # the input side first
    assert result.lines[-1].startswith("sMPRT verdict: ") and not any(line.startswith("verdict: ") for line in result.lines)


@pytest.mark.slow
def test_the_outputs_hold_a_row_per_image_and_step(runs) -> None:
    result, _ = runs["gradcam"]
    figure, table, summary = result.outputs[:3]
    assert [p.name for p in result.outputs] == ["sanity.png", "sanity.csv", "sanity.txt", "emprt.png", "emprt.csv"]
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
    with pytest.raises(UsageError, match="give at least one --test"):
        sanity(SanityOptions(model=model, inputs=InputOptions(images=(circle_image,)), output=output, tests=()))
    with pytest.raises(UsageError, match="--num-samples must be at least 1"):
        sanity(SanityOptions(model=model, inputs=InputOptions(images=(circle_image,), num_samples=0), output=output))
    assert not list(tmp_path.iterdir())
