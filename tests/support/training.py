"""A real Lightning training run of the demo classifier on fresh synthetic shapes, with or without callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning
import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from camviz.demo import CHECKPOINT_PATH
from camviz.demo.shapes import make_arrays
from camviz.demo.train import to_tensor
from camviz.lightning import CamCallback


class ShapesClassifier(lightning.LightningModule):
    """The demo backbone (its shipped weights) with a new, seeded head; dropout so that any random draw shows."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = timm.create_model("camviz_shapenet", num_classes=3, drop_rate=0.2)
        state = torch.load(CHECKPOINT_PATH, map_location="cpu", weights_only=False)["state_dict"]
        self.model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        inputs, labels = batch
        return F.cross_entropy(self(inputs), labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        inputs, labels = batch
        self.log("val_acc", (self(inputs).argmax(1) == labels).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=3e-3)


class ImageListLogger(lightning.pytorch.loggers.Logger):
    """A Lightning logger with `WandbLogger.log_image`'s signature and checks, keeping the images it is given.

    (wandb itself is not a test dependency: installed, timm imports it in every camviz process.)"""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list, int | None, dict]] = []

    @property
    def name(self) -> str:
        return "images"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        pass

    def log_hyperparams(self, params: object, *args: object, **kwargs: object) -> None:
        pass

    def log_image(self, key: str, images: list, step: int | None = None, **kwargs: list) -> None:
        if not isinstance(images, list) or any(len(values) != len(images) for values in kwargs.values()):
            raise ValueError("log_image takes a list of images and, per keyword, a list of as many values")
        self.calls.append((key, images, step, kwargs))


@dataclass
class ShapesData:
    """Training and validation loaders, and the validation images' object boxes."""

    train: DataLoader
    val: DataLoader
    val_boxes: np.ndarray  # [N, 4] (x0, y0, x1, y1)


def shapes_data(train_count: int = 384, val_count: int = 12) -> ShapesData:
    """Fresh shapes (seeds the demo never saw); a shuffled training loader, so any random draw shows."""
    images, labels, _ = make_arrays(train_count, seed=4242)
    val_images, val_labels, val_boxes = make_arrays(val_count, seed=4343)
    train = TensorDataset(to_tensor(images), torch.from_numpy(labels))
    val = TensorDataset(to_tensor(val_images), torch.from_numpy(val_labels))
    return ShapesData(DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=6), val_boxes)


def train(root: Path, callbacks: Sequence[lightning.Callback] = (), epochs: int = 2,
          logger: object | None = None) -> tuple[ShapesClassifier, lightning.Trainer]:
    """Seed everything, then fit for `epochs` epochs on the CPU with a TensorBoard logger under `root` (or `logger`)."""
    lightning.seed_everything(0, verbose=False)
    module = ShapesClassifier()
    data = shapes_data()
    logger = logger if logger is not None else lightning.pytorch.loggers.TensorBoardLogger(root, name="tb")
    trainer = lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=logger,
                                callbacks=list(callbacks), enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, num_sanity_val_steps=1, default_root_dir=root)
    trainer.fit(module, data.train, data.val)
    return module, trainer


class RankFolderCamCallback(CamCallback):
    """CamCallback whose PNG folder names the rank it runs on (`{root}/rank{N}`): which ranks logged shows on disk."""

    def __init__(self, root: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.root = root

    def setup(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule, stage: str) -> None:
        self.folder = self.root / f"rank{trainer.global_rank}"
