"""Sigmoid heads on trained models (issue 11), trained here in seconds on the synthetic shapes.

A one-logit binary "is there a circle?" model and a multi-label "which shapes are in this picture?" model. Both
reuse the shipped demo classifier's backbone (it already tells the shapes apart) and train only a new head on its
frozen features; each comes with a test split it never saw and the boxes of the objects in it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from camviz.demo.shapes import CLASS_NAMES, make_sample
from camviz.demo.train import to_tensor
from tests.support.checkpoints import demo_checkpoint

Box = tuple[int, int, int, int]


def _demo_backbone(num_outputs: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("camviz_shapenet", num_classes=num_outputs)
    state = demo_checkpoint()["state_dict"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=False)
    return model.eval()


def _train_head(model: torch.nn.Module, images: np.ndarray, targets: np.ndarray, steps: int = 300) -> torch.nn.Module:
    """Fit the head (BCE with logits) on the frozen backbone's pooled features."""
    head = model.head
    model.reset_classifier(0)
    with torch.no_grad():
        x = to_tensor(images)
        features = torch.cat([model(x[i : i + 64]) for i in range(0, len(x), 64)])
    y = torch.from_numpy(targets).reshape(len(targets), -1)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(head(features), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.head = head
    return model.eval()


def _circle_or_not(count: int, seed: int) -> tuple[list, np.ndarray]:
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, i % 3) for i in range(count)]
    return samples, np.array([s.label == 0 for s in samples], np.float32)


def _pairs(count: int, seed: int) -> tuple[list[tuple[Image.Image, dict[str, Box]]], np.ndarray]:
    """96x192 images: two different shapes side by side; the labels are the shapes present, with their boxes."""
    rng = np.random.default_rng(seed)
    pictures, targets = [], np.zeros((count, 3), np.float32)
    for i in range(count):
        a, b = (int(v) for v in rng.choice(3, size=2, replace=False))
        left, right = make_sample(rng, a), make_sample(rng, b)
        joined = Image.fromarray(np.concatenate([np.asarray(left.image), np.asarray(right.image)], axis=1))
        x0, y0, x1, y1 = right.box
        pictures.append((joined, {CLASS_NAMES[a]: left.box, CLASS_NAMES[b]: (x0 + 96, y0, x1 + 96, y1)}))
        targets[i, [a, b]] = 1
    return pictures, targets


def write_binary_case(root: Path) -> tuple[Path, Path, dict[str, Box]]:
    """A trained one-logit circle detector and a test split (`circle`, `not_circle`) it never saw, with the boxes."""
    samples, targets = _circle_or_not(150, seed=1)
    model = _train_head(_demo_backbone(1), np.stack([np.asarray(s.image) for s in samples]), targets)
    torch.save({"model_name": "camviz_shapenet", "class_names": ["not_circle", "circle"], "img_size": 96,
                "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": model.state_dict()}, root / "circle.pth")
    boxes = {}
    for i, sample in enumerate(_circle_or_not(8, seed=777)[0]):
        folder = "circle" if sample.label == 0 else "not_circle"
        (root / "test" / folder).mkdir(parents=True, exist_ok=True)
        sample.image.save(root / "test" / folder / f"{i}.png")
        boxes[f"{folder}/{i}.png"] = sample.box
    return root / "circle.pth", root / "test", boxes


def write_multilabel_case(root: Path) -> tuple[Path, Path, dict[str, dict[str, Box]]]:
    """A trained 3-label "which shapes" model (the flag recorded) and 96x192 test pictures, filed by the left shape."""
    pictures, targets = _pairs(150, seed=2)
    model = _train_head(_demo_backbone(3), np.stack([np.asarray(p) for p, _ in pictures]), targets)
    torch.save({"model_name": "camviz_shapenet", "class_names": list(CLASS_NAMES), "multi_label": True,
                "img_size": [96, 192], "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": model.state_dict()},
               root / "shapes.pth")
    boxes = {}
    for i, (picture, labels) in enumerate(_pairs(6, seed=778)[0]):
        left = min(labels, key=lambda name: labels[name][0])
        (root / "test" / left).mkdir(parents=True, exist_ok=True)
        picture.save(root / "test" / left / f"{i}.png")
        boxes[f"{left}/{i}.png"] = labels
    return root / "shapes.pth", root / "test", boxes
