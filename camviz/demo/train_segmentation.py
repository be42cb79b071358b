"""Train the demo segmentation model on synthetic shapes (CPU, about a minute) and save its checkpoint.

    python -m camviz.demo.train_segmentation --out camviz/demo/shapenet_seg.pth

The encoder starts from the shipped shapes classifier (`shapenet.pth`: the same stem and stages), the decoder and
head from scratch; every step draws a fresh batch of one to three shapes per image (`camviz.demo.segmentation_shapes`)
and the loss is the per-pixel cross-entropy. The IoU per class is measured on a held-out set drawn from its own seed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camviz.cam.segmentation_scores import iou_per_class
from camviz.demo.seg_net import camviz_segnet
from camviz.demo.segmentation_shapes import SEGMENTATION_CLASS_NAMES, make_segmentation_arrays
from camviz.demo.train import checkpoint, to_tensor

CLASSIFIER_CHECKPOINT = Path(__file__).parent / "shapenet.pth"
HELD_OUT = 300  # held-out images, drawn from seed + 10_000


@dataclass(frozen=True, kw_only=True)
class SegmentationSchedule:
    """How the demo segmentation model is trained: the seed, steps of fresh batches, batch size, peak learning rate."""

    seed: int = 0
    steps: int = 200
    batch: int = 24
    lr: float = 5e-3


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 100) -> np.ndarray:
    """The predicted label maps (N, H, W) of `model` (in eval mode) for normalised images `x`."""
    model.eval()
    return torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)]).numpy()


def _from_classifier(model: nn.Module) -> None:
    """Load the shipped classifier's stem and stages into `model`'s encoder (same names, same shapes)."""
    state = torch.load(CLASSIFIER_CHECKPOINT, map_location="cpu", weights_only=True)["state_dict"]
    encoder = {k: v for k, v in state.items() if k.startswith(("stem.", "stages."))}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    if unexpected or any(k.startswith(("stem.", "stages.")) for k in missing):
        raise RuntimeError(f"the classifier's encoder does not fit: {unexpected or missing}")


def train_segmentation(schedule: SegmentationSchedule, *,
                       log: Callable[[str], None] = print) -> tuple[nn.Module, list[float]]:
    """Train a fresh `camviz_segnet` (encoder from the classifier); returns it and its held-out IoU per class."""
    torch.manual_seed(schedule.seed)
    model = camviz_segnet(num_classes=len(SEGMENTATION_CLASS_NAMES))
    _from_classifier(model)
    opt = torch.optim.Adam(model.parameters(), lr=schedule.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=schedule.lr, total_steps=schedule.steps, pct_start=0.15)
    model.train()
    for step in range(schedule.steps):
        images, masks = make_segmentation_arrays(schedule.batch, schedule.seed + 1 + step)
        loss = F.cross_entropy(model(to_tensor(images)), torch.from_numpy(masks).long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 40 == 0:
            log(f"step {step + 1}/{schedule.steps}: loss {loss.item():.3f}")
    images, masks = make_segmentation_arrays(HELD_OUT, schedule.seed + 10_000)
    ious = list(iou_per_class(predict(model, to_tensor(images)), masks, range(len(SEGMENTATION_CLASS_NAMES))).values())
    log("held-out IoU: " + ", ".join(f"{n} {v:.3f}" for n, v in zip(SEGMENTATION_CLASS_NAMES, ious, strict=True)))
    return model.eval(), ious


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the checkpoint to `--out`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "shapenet_seg.pth")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=SegmentationSchedule.steps)
    p.add_argument("--batch", type=int, default=SegmentationSchedule.batch)
    p.add_argument("--lr", type=float, default=SegmentationSchedule.lr)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    schedule = SegmentationSchedule(seed=args.seed, steps=args.steps, batch=args.batch, lr=args.lr)
    model, ious = train_segmentation(schedule)
    seconds = time.perf_counter() - start
    ckpt = {**checkpoint(model, model_name="camviz_segnet", plugin="camviz.demo.seg_net",
                         class_names=SEGMENTATION_CLASS_NAMES),
            "train_info": {**asdict(schedule), "val_iou": [round(v, 4) for v in ious], "val_n": HELD_OUT,
                           "train_seconds": round(seconds, 1), "torch": str(torch.__version__)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"held-out mean IoU {np.nanmean(ious):.4f}; trained in {seconds:.0f}s; saved {args.out}")


if __name__ == "__main__":
    main()
