"""camviz.run.options: an `explain` run's options are checked before any work (inputs, sizes, threshold, counts,
outputs that need a data dir, the method), each bad one a usage error of one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.cam.options import CamOptions
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.output.options import OutputOptions
from camviz.run.options import ExplainOptions, RunMode, check_options, check_target_category


@pytest.mark.parametrize(("change", "message"), [
    ({"inputs": "none"}, "give exactly one of --image-path"),
    ({"inputs": "missing"}, "does not exist or is not a file"),
    ({"num_samples": 0}, "--num-samples must be at least 1"),
    ({"batch_size": 0}, "--batch-size must be at least 1"),
    ({"num_workers": -1}, "--num-workers must be at least 0"),
    ({"metrics": ("road_combined",)}, "--metrics needs --data-dir"),
    ({"metrics": ("nonsense",), "inputs": "dir"}, "unknown metric nonsense; choose from road_combined"),
    ({"threshold": 1.5}, "--threshold must be between 0 and 1"),
    ({"img_size": 4}, "at least 8 pixels"),
    ({"img_size": (8, 1_000_000_000)}, "is too large for this machine"),
    ({"method": "nosuchcam"}, "nosuchcam"),
], ids=lambda value: "-".join(map(str, value)) if isinstance(value, dict) else None)
def test_each_bad_option_is_one_usage_line(trained_checkpoint: Path, circle_image: Path, tmp_path: Path,
                                           change: dict, message: str) -> None:
    images = {"none": (), "missing": (tmp_path / "gone.png",), "dir": ()}.get(change.get("inputs"), (circle_image,))
    options = ExplainOptions(
        model=ModelOptions(path=trained_checkpoint, threshold=change.get("threshold", 0.5),
                           img_size=change.get("img_size")),
        inputs=InputOptions(images=images, num_samples=change.get("num_samples"),
                            data_dir=tmp_path if change.get("inputs") == "dir" else None),
        cam=CamOptions(method=change.get("method", "gradcam")),
        output=OutputOptions(output_dir=tmp_path / "out", metrics=change.get("metrics", ())),
        batch_size=change.get("batch_size"), num_workers=change.get("num_workers"))
    with pytest.raises(UsageError, match=message) as refused:
        check_options(options)
    assert "\n" not in str(refused.value) and not (tmp_path / "out").exists()


def test_good_options_pass_and_decide_the_mode(trained_checkpoint: Path, circle_image: Path, small_split: Path,
                                               tmp_path: Path) -> None:
    model, output = ModelOptions(path=trained_checkpoint, img_size=(96, 128)), OutputOptions(output_dir=tmp_path)
    single = ExplainOptions(model=model, inputs=InputOptions(images=(circle_image,)), output=output, batch_size=1)
    batch = ExplainOptions(model=model, inputs=InputOptions(data_dir=small_split, num_samples=2), output=output,
                           cam=CamOptions(method="GradCAMPlusPlus"))
    check_options(single)
    check_options(batch)
    assert (single.mode, batch.mode) == (RunMode.single, RunMode.batch)
    check_target_category(2, 3)
    with pytest.raises(UsageError, match=r"--target-category 3 is out of range: the model has 3 classes \(0..2\)"):
        check_target_category(3, 3)
