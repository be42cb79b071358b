"""Train the demo detector on synthetic shapes scenes (CPU, about three minutes) and save a checkpoint.

    python -m camviz.demo.train_detection --out camviz/demo/shapenet_det.pth

Every epoch draws fresh scenes (one to three shapes each); recall and AP at IoU 0.5 are measured on held-out scenes
drawn from their own seed. The checkpoint follows camviz's dict convention (`camviz.demo.det_net` is its plugin).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.ops import box_iou

from camviz.demo.det_net import camviz_shapedet
from camviz.demo.det_shapes import DetectionSample, make_scenes
from camviz.demo.shapes import CLASS_NAMES
from camviz.demo.train import checkpoint

IOU = 0.5


def to_inputs(samples: Sequence[DetectionSample]) -> torch.Tensor:
    """Scenes as the detector's input: float (N, 3, H, W) in [0, 1] (it normalises them itself)."""
    images = np.stack([np.asarray(sample.image) for sample in samples])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def to_targets(samples: Sequence[DetectionSample]) -> list[dict[str, torch.Tensor]]:
    """Scenes' objects as torchvision's training targets (boxes xyxy as floats, labels)."""
    return [{"boxes": torch.tensor(sample.boxes, dtype=torch.float32).reshape(-1, 4),
             "labels": torch.tensor(sample.labels, dtype=torch.int64)} for sample in samples]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How the demo detector is trained: seed, epochs of fresh scenes, batch size and peak learning rate."""

    seed: int = 0
    epochs: int = 5
    per_epoch: int = 1600
    batch: int = 32
    lr: float = 3e-3


@dataclass(frozen=True, kw_only=True)
class Scores:
    """Held-out detection quality at IoU 0.5: recall at a score threshold, and mean AP over the classes."""

    recall: float
    precision: float
    map50: float


def train(schedule: Schedule, *, log: Callable[[str], None] = print) -> tuple[nn.Module, Scores]:
    """Train a fresh `camviz_shapedet`; returns it in eval mode and its held-out scores."""
    torch.manual_seed(schedule.seed)
    model = camviz_shapedet(num_classes=len(CLASS_NAMES))
    opt = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=1e-4)
    steps = schedule.epochs * (schedule.per_epoch // schedule.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=schedule.lr, total_steps=steps, pct_start=0.15)
    held_out = make_scenes(400, schedule.seed + 10_000)
    gen = torch.Generator().manual_seed(schedule.seed)
    scores = Scores(recall=0.0, precision=0.0, map50=0.0)
    for epoch in range(schedule.epochs):
        scenes = make_scenes(schedule.per_epoch, schedule.seed + 1 + epoch)
        inputs, targets = to_inputs(scenes), to_targets(scenes)
        model.train()
        order = torch.randperm(len(scenes), generator=gen).tolist()
        for i in range(0, len(order) - schedule.batch + 1, schedule.batch):
            idx = order[i:i + schedule.batch]
            losses = model(inputs[idx], [targets[j] for j in idx])
            loss: torch.Tensor = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        scores = evaluate(model, held_out)
        log(f"epoch {epoch + 1}/{schedule.epochs}: loss {loss.item():.3f}, held-out recall@0.5 {scores.recall:.3f}, "
            f"precision {scores.precision:.3f}, mAP@0.5 {scores.map50:.3f}")
    return model.eval(), scores


@torch.no_grad()
def evaluate(model: nn.Module, samples: Sequence[DetectionSample], score_threshold: float = 0.5) -> Scores:
    """Recall and precision (detections scoring at least `score_threshold`, same class, IoU >= 0.5) and mAP@0.5."""
    model.eval()
    outputs = [out for i in range(0, len(samples), 100) for out in model(to_inputs(samples[i:i + 100]))]
    truths = to_targets(samples)
    hits = found = kept = 0
    ranked: dict[int, list[tuple[float, bool]]] = {c: [] for c in range(len(CLASS_NAMES))}
    for output, truth in zip(outputs, truths, strict=True):
        matched = _matches(output, truth)
        confident = output["scores"] >= score_threshold
        kept += int(confident.sum())
        hits += int((matched & confident).sum())
        found += len(truth["labels"])
        for score, label, hit in zip(output["scores"].tolist(), output["labels"].tolist(), matched.tolist(), strict=True):
            ranked[label].append((score, hit))
    counts = [sum(int((t["labels"] == c).sum()) for t in truths) for c in range(len(CLASS_NAMES))]
    aps = [average_precision(ranked[c], counts[c]) for c in range(len(CLASS_NAMES))]
    return Scores(recall=hits / max(found, 1), precision=hits / max(kept, 1), map50=float(np.mean(aps)))


def _matches(output: dict[str, torch.Tensor], truth: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per detection (in score order, as VOC matches): whether it takes a still unmatched true box of its class
    at IoU >= 0.5."""
    hit = torch.zeros(len(output["scores"]), dtype=torch.bool)
    if not len(truth["boxes"]) or not len(hit):
        return hit
    ious = box_iou(output["boxes"], truth["boxes"])
    ious[output["labels"][:, None] != truth["labels"][None, :]] = 0
    taken: set[int] = set()
    for i in output["scores"].argsort(descending=True).tolist():
        best = next((j for j in ious[i].argsort(descending=True).tolist() if j not in taken and ious[i, j] >= IOU),
                    None)
        if best is not None:
            taken.add(best)
            hit[i] = True
    return hit


def average_precision(ranked: list[tuple[float, bool]], positives: int) -> float:
    """VOC's all-point AP: the area under the precision envelope of detections ranked by score."""
    if positives == 0:
        return 0.0
    order = sorted(ranked, key=lambda pair: -pair[0])
    hits = np.cumsum([hit for _, hit in order], dtype=np.float64)
    recall = np.concatenate([[0.0], hits / positives, [1.0]])
    precision = np.concatenate([[1.0], hits / np.arange(1, len(order) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the checkpoint to `--out`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "shapenet_det.pth")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=Schedule.epochs)
    p.add_argument("--per-epoch", type=int, default=Schedule.per_epoch)
    p.add_argument("--batch", type=int, default=Schedule.batch)
    p.add_argument("--lr", type=float, default=Schedule.lr)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    schedule = Schedule(seed=args.seed, epochs=args.epochs, per_epoch=args.per_epoch, batch=args.batch, lr=args.lr)
    model, scores = train(schedule)
    seconds = time.perf_counter() - start
    ckpt = {**checkpoint(model, model_name="camviz_shapedet", plugin="camviz.demo.det_net", class_names=CLASS_NAMES,
                         normalisation=((0.0,) * 3, (1.0,) * 3)),  # torchvision's detector transform normalises itself
            "train_info": {**asdict(schedule), **{k: round(v, 4) for k, v in asdict(scores).items()},
                           "val_n": 400, "train_seconds": round(seconds, 1), "torch": str(torch.__version__)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"held-out recall@0.5 {scores.recall:.4f}, mAP@0.5 {scores.map50:.4f}; trained in {seconds:.0f}s; "
          f"saved {args.out}")


if __name__ == "__main__":
    main()
