"""README.md's Python API section: every example runs as written, on a real checkpoint and a real split."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import camviz
from camviz.demo import CHECKPOINT_PATH
from camviz.demo.shapes import make_sample

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_examples(title: str = "Python API") -> list[str]:
    """The ```python blocks of README's `## {title}` section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory as the README assumes it: `checkpoints/best_model.pth` and a `data/val/` split."""
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(CHECKPOINT_PATH, tmp_path / "checkpoints" / "best_model.pth")
    for label, folder in enumerate(("cat", "dog")):
        (tmp_path / "data" / "val" / folder).mkdir(parents=True)
        for index in range(2):
            make_sample(np.random.default_rng(index), label).image.save(tmp_path / "data" / "val" / folder / f"{index + 1:03d}.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_python_api_section_has_its_examples() -> None:
    assert len(_python_api_examples()) == 3


@pytest.mark.parametrize("position", range(3))
def test_each_python_api_example_runs_as_written(user_folder: Path, position: int) -> None:
    example = _python_api_examples()[position]
    namespace: dict = {}
    exec(compile(example, f"README.md example {position + 1}", "exec"), namespace)
    used = set(re.findall(r"from camviz import ([\w, ]+)", example)[0].replace(" ", "").split(","))
    assert used <= set(camviz.__all__)  # the README uses the public API only
    if position == 1:
        assert namespace["result"].exit_code == 0 and (user_folder / "gradcam_results" / "manifest.csv").is_file()
    if position == 2:
        assert (user_folder / "compare.png").stat().st_size > 0 and namespace["batch"].cams.shape[0] == 4


def test_the_notebook_and_training_examples_run_as_written(user_folder: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    examples = [*_python_api_examples("In a notebook"), *_python_api_examples("During training")]
    assert len(examples) == 3
    for position, example in enumerate(examples):
        exec(compile(example, f"README.md integration example {position + 1}", "exec"), {})
    assert (user_folder / "cat_gradcam.png").stat().st_size > 0
    events = EventAccumulator(str(user_folder / "runs" / "cams"), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == ["camviz/00_001", "camviz/01_001"]  # cat/001.png, dog/001.png
    assert [event.step for event in events.Images("camviz/01_001")] == [0, 1]


def test_every_public_name_resolves() -> None:
    for name in camviz.__all__:
        assert getattr(camviz, name) is not None, name


def test_the_layer_lookup_example_runs_on_a_vit_not_built_at_224(user_folder: Path) -> None:
    """Issue 17 case 13: the first example, as written, on a timm ViT trained at 48x64 (its checkpoint says so)."""
    import timm
    import torch

    torch.manual_seed(0)
    vit = timm.create_model("test_vit", pretrained=False, num_classes=2, img_size=(48, 64))
    torch.save({"model_name": "test_vit", "state_dict": vit.state_dict(), "img_size": [48, 64]},
               user_folder / "checkpoints" / "best_model.pth")
    namespace: dict = {}
    exec(compile(_python_api_examples()[0], "README.md example 1", "exec"), namespace)
    maps = namespace["maps"]
    assert namespace["targets"].names == [f"blocks.{len(vit.blocks) - 1}.norm1"]
    assert maps.shape == (2, 48, 64) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0


@pytest.mark.slow
def test_the_audit_example_runs_as_written(user_folder: Path, shortcut_case) -> None:
    """The audit section's Python example, on a finished run of the shortcut model and on maps in memory."""
    model, data, _ = shortcut_case
    camviz.explain(camviz.ExplainOptions(model=camviz.ModelOptions(path=model, cpu=True),
                                         inputs=camviz.InputOptions(data_dir=data), num_workers=0))
    [example] = _python_api_examples("Is it right for the right reasons?")
    rng = np.random.default_rng(0)
    maps = np.stack([np.pad(np.ones((4, 4)), ((1, 11), (1, 11)))] * 6 + [rng.uniform(0, 1, (16, 16)) for _ in range(6)])
    namespace: dict = {"maps": maps, "labels": ["dog"] * 12}
    exec(compile(example, "README.md audit example", "exec"), namespace)
    assert namespace["result"].flagged and (user_folder / "gradcam_results" / "audit.csv").is_file()
    assert namespace["mine"].lines[0].startswith("audit: ")
