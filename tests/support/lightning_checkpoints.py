"""A real Lightning checkpoint whose module holds several networks (a student and a teacher, a model and its EMA)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch


def lightning_checkpoint(path: Path, networks: tuple[str, ...]) -> dict[str, torch.nn.Module]:
    """A real Lightning run (two steps, the first network trained, the others left as built) whose module holds a
    `test_resnet` under each attribute name in `networks`, saved by the trainer; returns the networks by name."""
    import lightning
    import timm

    class Wrapper(lightning.LightningModule):
        def __init__(self, model_name: str = "test_resnet", num_classes: int = 3) -> None:
            super().__init__()
            self.save_hyperparameters()
            first = timm.create_model(model_name, pretrained=False, num_classes=num_classes)
            setattr(self, networks[0], first)
            for name in networks[1:]:
                setattr(self, name, copy.deepcopy(first).requires_grad_(False))

        def training_step(self, batch: tuple, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(getattr(self, networks[0])(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(getattr(self, networks[0]).parameters(), lr=0.5)

    torch.manual_seed(0)
    module = Wrapper()
    data = torch.utils.data.TensorDataset(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    trainer = lightning.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=2))
    trainer.save_checkpoint(path)
    return {name: getattr(module, name) for name in networks}
