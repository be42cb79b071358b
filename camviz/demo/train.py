"""Train the demo classifier on synthetic shapes (CPU, a couple of minutes) and save a checkpoint.

    python -m camviz.demo.train --out camviz/demo/shapenet.pth

Every epoch draws fresh samples, so the model never sees an image twice; accuracy is measured on a
held-out set drawn from its own seed. The checkpoint follows camviz's dict convention.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camviz.demo.net import IMG_SIZE, MEAN, STD, camviz_shapenet
from camviz.demo.shapes import CLASS_NAMES, make_arrays


def to_tensor(images: np.ndarray, mean: Sequence[float] = MEAN,
              std: Sequence[float] = STD) -> torch.Tensor:
    """uint8 (N,H,W,3) images -> normalised float (N,3,H,W)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on ``x``/``y``."""
    model.eval()
    preds = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return float((preds == y).float().mean())


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How the demo classifier is trained: the seed, epochs of fresh samples, batch size and peak learning rate."""

    seed: int = 0
    epochs: int = 5
    per_epoch: int = 3600  # fresh samples per epoch
    batch: int = 64
    lr: float = 3e-3


def train(schedule: Schedule, *, log: Callable[[str], None] = print) -> tuple[nn.Module, float]:
    """Train a fresh ``camviz_shapenet``; returns the model and its final held-out accuracy."""
    seed, epochs, per_epoch, batch, lr = (schedule.seed, schedule.epochs, schedule.per_epoch, schedule.batch,
                                          schedule.lr)
    torch.manual_seed(seed)
    model = camviz_shapenet(num_classes=len(CLASS_NAMES))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (per_epoch // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    val_images, val_labels, _ = make_arrays(900, seed + 10_000)
    val_x, val_y = to_tensor(val_images), torch.from_numpy(val_labels)
    gen = torch.Generator().manual_seed(seed)
    acc = 0.0
    for epoch in range(epochs):
        images, labels, _ = make_arrays(per_epoch, seed + 1 + epoch)
        x, y = to_tensor(images), torch.from_numpy(labels)
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, val_x, val_y)
        log(f"epoch {epoch + 1}/{epochs}: last loss {loss.item():.3f}, held-out acc {acc:.4f}")
    return model, acc


def checkpoint(model: nn.Module, *, model_name: str = "camviz_shapenet", plugin: str = "camviz.demo.net",
               class_names: Sequence[str] = CLASS_NAMES,
               normalisation: tuple[Sequence[float], Sequence[float]] = (MEAN, STD)) -> dict:
    """The checkpoint camviz reads for a demo network: its plugin, classes, size, normalisation (mean, std) and
    weights (the defaults: the shapes classifier's)."""
    mean, std = normalisation
    return {"model_name": model_name, "plugins": [plugin], "num_classes": len(class_names),
            "class_names": list(class_names), "img_size": IMG_SIZE, "mean": list(mean), "std": list(std),
            "state_dict": model.state_dict()}


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the checkpoint to ``--out``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "shapenet.pth")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--per-epoch", type=int, default=3600)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    schedule = Schedule(seed=args.seed, epochs=args.epochs, per_epoch=args.per_epoch, batch=args.batch, lr=args.lr)
    model, acc = train(schedule)
    seconds = time.perf_counter() - start
    ckpt = {**checkpoint(model),
            "train_info": {**asdict(schedule), "val_acc": round(acc, 4), "val_n": 900,
                           "train_seconds": round(seconds, 1), "torch": str(torch.__version__)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"held-out accuracy {acc:.4f}; trained in {seconds:.0f}s; saved {args.out}")


if __name__ == "__main__":
    main()
