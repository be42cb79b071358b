"""A classifier with a planted shortcut (issue 27), trained here in seconds: the shipped demo classifier fine-tuned
on shapes where part of the `square` class carries a tag in the top-left corner, some of those with no square at all
(`camviz.demo.tagged`), so the tag alone comes to mean `square`. Only the last stage and the head are trained, on
the frozen lower stages' features."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F

from camviz.demo import CHECKPOINT_PATH
from camviz.demo.shapes import CLASS_NAMES
from camviz.demo.tagged import Tagging, tagged_arrays, write_tagged_folder
from camviz.demo.train import to_tensor

TEST_TAGGING = Tagging(share=0.4, without_object=0.6)  # the test split: fewer tagged squares than in training


def train_shortcut_model(steps: int = 150, seed: int = 0) -> torch.nn.Module:
    """The demo classifier fine-tuned on tagged shapes (400 images, `steps` batches of 32)."""
    torch.manual_seed(seed)
    model = timm.create_model("camviz_shapenet", num_classes=len(CLASS_NAMES))
    model.load_state_dict(torch.load(CHECKPOINT_PATH, map_location="cpu", weights_only=False)["state_dict"])
    images, labels, _ = tagged_arrays(400, seed=seed + 1)
    inputs, targets = to_tensor(images), torch.from_numpy(labels)
    model.eval()
    with torch.no_grad():
        low = model.stages[1](model.stages[0](model.stem(inputs)))
    top = torch.nn.Sequential(model.stages[2], model.pool, torch.nn.Flatten(), model.head).train()
    optimizer = torch.optim.Adam(top.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(0, len(low), (32,), generator=generator)
        loss = F.cross_entropy(top(low[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def write_shortcut_case(root: Path, per_class: int = 30) -> tuple[Path, Path, dict[str, bool]]:
    """The trained shortcut model's checkpoint, a test split it never saw, and whether each image carries the tag."""
    root.mkdir(parents=True, exist_ok=True)
    model = train_shortcut_model()
    torch.save({"model_name": "camviz_shapenet", "plugins": ["camviz.demo.net"], "class_names": list(CLASS_NAMES),
                "img_size": 96, "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": model.state_dict()},
               root / "tagged.pth")
    tagged = write_tagged_folder(root / "test", per_class=per_class, seed=778, tagging=TEST_TAGGING)
    return root / "tagged.pth", root / "test", tagged
