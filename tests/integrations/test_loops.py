"""camviz.log_cams in a plain PyTorch loop: figures to a real SummaryWriter or a folder, called between a training
step's backward and its optimizer step, leaving the training exactly as it would have been."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from camviz import log_cams
from camviz.discovery.options import ModelOptions
from camviz.integrations.state import hook_count
from tests.support.training import ShapesClassifier, shapes_data


def _two_steps(log: object | None) -> tuple[ShapesClassifier, torch.optim.Optimizer, list]:
    """Two training steps of the demo classifier (dropout on, one BN frozen in eval mode, one frozen weight);
    `log(model, step)` is called after each backward, before the optimizer step. Returns what each call saw."""
    torch.manual_seed(0)
    module = ShapesClassifier()
    model = module.model.train()
    model.stem[0][1].eval()
    model.stem[0][0].weight.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    seen = []
    for step, (inputs, labels) in zip(range(2), shapes_data().train, strict=False):
        optimizer.zero_grad()
        F.cross_entropy(model(inputs), labels).backward()
        if log is not None:
            grads = [p.grad for p in model.parameters()]
            rng = torch.get_rng_state()
            log(model, step)
            seen.append((all(a is b for a, b in zip(grads, (p.grad for p in model.parameters()), strict=True)),
                         torch.equal(rng, torch.get_rng_state()), hook_count(model)))
        optimizer.step()
    return module, optimizer, seen


@pytest.mark.slow
def test_a_summary_writer_gets_each_figure_and_training_goes_on_unchanged(tmp_path: Path, circle_image: Path,
                                                                         small_split: Path) -> None:
    images = [circle_image, small_split / "triangle" / "triangle_001.png"]
    writer = SummaryWriter(str(tmp_path))
    trained, optimizer, seen = _two_steps(lambda model, step: log_cams(model, images, writer, step))
    writer.close()
    plain, plain_optimizer, _ = _two_steps(None)
    assert seen == [(True, True, 0), (True, True, 0)]  # the gradients themselves, the random state, no hooks
    model = trained.model
    assert model.training and not model.stem[0][1].training and all(m.training for m in model.stages.modules())
    assert not model.stem[0][0].weight.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.model.state_dict().values(),
                                                 strict=True))
    assert str(optimizer.state_dict()) == str(plain_optimizer.state_dict())
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == ["camviz/circle_000", "camviz/triangle_001"]
    assert [event.step for event in events.Images("camviz/circle_000")] == [0, 1]


def test_a_folder_gets_pngs_under_the_step_also_under_inference_mode(tmp_path: Path, circle_image: Path) -> None:
    module = ShapesClassifier()
    batch = next(iter(shapes_data().val))[0][:3]  # float model inputs, as a validation loader gives them
    with torch.inference_mode():
        logged = log_cams(module.model, batch, tmp_path / "cams", step=7)
        log_cams(module, [circle_image], tmp_path / "cams", step=8,
                 options=ModelOptions(target_layers=("model.stages.-1",)))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "cams/step_00000007/image_00.png", "cams/step_00000007/image_01.png", "cams/step_00000007/image_02.png",
        "cams/step_00000008/circle_000.png"]
    assert [item.figure.shape for item in logged] == [(336, 944, 3)] * 3 and logged[0].figure.dtype == np.uint8


def test_something_that_takes_no_images_is_refused(circle_image: Path) -> None:
    with pytest.raises(TypeError, match="SummaryWriter"):
        log_cams(ShapesClassifier().model, [circle_image], object(), step=0)
