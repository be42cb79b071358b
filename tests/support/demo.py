"""The shipped demo classifier on fresh synthetic shapes (seeds it was not trained on)."""

from __future__ import annotations

import numpy as np
import torch

from camviz.cam.engine import CamBatch, CamEngine
from camviz.cam.options import CamOptions
from camviz.data.preprocessing import Preprocessing
from camviz.demo.shapes import make_arrays
from camviz.discovery.models import LoadedModel


def fresh_shapes(loaded: LoadedModel, count: int, seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """`count` fresh images as the model's normalised inputs, their labels and object boxes (x0, y0, x1, y1)."""
    images, labels, boxes = make_arrays(count, seed=seed)
    preprocessing = Preprocessing.for_input(loaded.input)
    inputs = preprocessing.normalize(torch.from_numpy(np.stack(images).astype(np.uint8)))
    return inputs, labels, boxes


def explained_shapes(loaded: LoadedModel, count: int, seed: int) -> tuple[torch.Tensor, CamBatch]:
    """`count` fresh shapes images (the model never saw them) and their Grad-CAMs at the demo's last stage."""
    inputs, _, _ = fresh_shapes(loaded, count, seed)
    model = loaded.model
    with CamEngine(model, [model.stages[-1][-1]], None, options=CamOptions(method="gradcam")) as engine:
        return inputs, engine.compute(inputs)
