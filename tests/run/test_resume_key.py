"""camviz.run.resume.settings_key: derived from the run's values, not listed by hand. Changing any field of any
options type changes the key, unless `NOT_IN_KEY` names it with why; a new field fails here until it is one or the
other."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from camviz.cam.detection_cams import DetectionChoice
from camviz.cam.options import CamOptions
from camviz.data.options import InputOptions
from camviz.demo import CHECKPOINT_PATH
from camviz.discovery.families import Family
from camviz.discovery.options import ModelOptions, OutputName
from camviz.output.options import FigureFormat, OutputOptions
from camviz.run.model import ResolvedModel, resolve_model
from camviz.run.options import ExplainOptions
from camviz.run.resume import NOT_IN_KEY, settings_key


@pytest.fixture(scope="module")
def resolved() -> ResolvedModel:
    return resolve_model(ModelOptions(path=CHECKPOINT_PATH, cpu=True))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real files for the path-valued fields: another checkpoint, an image, a masks folder, a boxes file."""
    root = tmp_path_factory.mktemp("key")
    shutil.copy(CHECKPOINT_PATH, root / "copy.pth")
    (root / "masks").mkdir()
    (root / "boxes.csv").write_text("path,x_min,y_min,x_max,y_max\n")
    (root / "image.png").write_bytes(b"")
    return {"checkpoint": root / "copy.pth", "masks": root / "masks", "boxes": root / "boxes.csv",
            "image": root / "image.png", "folder": root}


def _changes(files: dict[str, Path]) -> dict[str, object]:
    """Another value for every field of every options type."""
    return {
        "ExplainOptions.detection": DetectionChoice(score_threshold=0.3),  # a detector's key has it (test_detection)
        "ExplainOptions.batch_size": 3, "ExplainOptions.num_workers": 2, "ExplainOptions.resume": True,
        "ModelOptions.path": files["checkpoint"], "ModelOptions.name": "camviz_shapenet", "ModelOptions.img_size": 64,
        "ModelOptions.output": OutputName.multilabel, "ModelOptions.threshold": 0.3,
        "ModelOptions.mean": (0.4, 0.4, 0.4), "ModelOptions.std": (0.2, 0.2, 0.2),
        "ModelOptions.class_names": ("a", "b", "c"), "ModelOptions.target_layers": ("stages.1",),
        "ModelOptions.families": (Family(name="mine", patterns=("^x$",), paths=("stages.1",)),),
        "ModelOptions.plugins": ("camviz.demo.net",), "ModelOptions.trust_checkpoint": True, "ModelOptions.ema": True,
        "ModelOptions.state_prefix": "model.", "ModelOptions.cpu": False,
        "InputOptions.images": (files["image"],), "InputOptions.data_dir": files["folder"],
        "InputOptions.num_samples": 4, "InputOptions.classes": ("circle",), "InputOptions.seed": 7,
        "CamOptions.method": "gradcam++", "CamOptions.aug_smooth": True, "CamOptions.eigen_smooth": True,
        "CamOptions.target_category": 1,
        "OutputOptions.output_dir": files["folder"], "OutputOptions.figure_format": FigureFormat.webp,
        "OutputOptions.save_raw": True, "OutputOptions.only_misclassified": True, "OutputOptions.iou_threshold": 0.7, "OutputOptions.metrics": ("road_combined",),
        "OutputOptions.masks": files["masks"], "OutputOptions.boxes": files["boxes"], "OutputOptions.audit": True,
    }


def _base() -> ExplainOptions:
    return ExplainOptions(model=ModelOptions(path=CHECKPOINT_PATH, cpu=True), inputs=InputOptions(data_dir=Path(".")))


def _changed(options: ExplainOptions, part: str | None, name: str, value: object) -> ExplainOptions:
    if part is None:
        return dataclasses.replace(options, **{name: value})
    return dataclasses.replace(options, **{part: dataclasses.replace(getattr(options, part), **{name: value})})


def _every_field() -> list[tuple[str | None, str, str]]:
    """(the ExplainOptions field holding the type or None, the field, `Type.field`) for every leaf field."""
    found = []
    for outer in dataclasses.fields(ExplainOptions):
        kind = {"model": ModelOptions, "inputs": InputOptions, "cam": CamOptions, "output": OutputOptions}.get(outer.name)
        if kind is None:
            found.append((None, outer.name, f"ExplainOptions.{outer.name}"))
        else:
            found += [(outer.name, inner.name, f"{kind.__name__}.{inner.name}") for inner in dataclasses.fields(kind)]
    return found


def test_every_field_changes_the_key_or_is_listed_with_why(resolved: ResolvedModel, files: dict[str, Path]) -> None:
    changes, base = _changes(files), _base()
    key = settings_key(base, resolved, "gradcam")
    unlisted = [label for _, _, label in _every_field() if label not in changes]
    assert not unlisted, f"give these fields another value here: {unlisted}"
    for part, name, label in _every_field():
        changed = settings_key(_changed(base, part, name, changes[label]), resolved, "gradcam")
        excluded = label in NOT_IN_KEY or f"ExplainOptions.{part}" in NOT_IN_KEY
        assert (changed == key) == excluded, f"{label}: {'in the key though listed' if excluded else 'not in the key'}"
    assert all(why for why in NOT_IN_KEY.values())


def test_the_resolved_values_change_the_key(resolved: ResolvedModel) -> None:
    key = settings_key(_base(), resolved, "gradcam")
    assert settings_key(_base(), resolved, "gradcam++") != key
    other = dataclasses.replace(resolved, class_names=["x", "y", "z"])
    assert settings_key(_base(), other, "gradcam") != key
    assert settings_key(_base(), resolved, "gradcam") == key  # and it is stable


def test_a_rewritten_checkpoint_changes_the_key(resolved: ResolvedModel, tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    shutil.copy(CHECKPOINT_PATH, path)
    options = dataclasses.replace(_base(), model=ModelOptions(path=path, cpu=True))
    key = settings_key(options, resolved, "gradcam")
    path.write_bytes(path.read_bytes() + b"\0")
    assert settings_key(options, resolved, "gradcam") != key
