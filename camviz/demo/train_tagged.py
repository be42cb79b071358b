"""Train the demo's second model, one with a planted shortcut (seconds on a CPU), and save its checkpoint.

    python -m camviz.demo.train_tagged --out camviz/demo/shapenet_tagged.pth

The shipped shapes classifier (`shapenet.pth`) fine-tuned on shapes where half of the squares carry a tag in the
top-left corner, half of those with no square at all (`camviz.demo.tagged`): the tag alone comes to mean `square`,
as the copyright tag meant `horse` in Lapuschkin et al. (2019). Only the last stage and the head are trained, on the
frozen lower stages' features. `camviz demo --shortcut` explains it with `--audit`, which finds the shortcut.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from camviz.demo.net import camviz_shapenet
from camviz.demo.shapes import CLASS_NAMES
from camviz.demo.tagged import tagged_arrays
from camviz.demo.train import checkpoint, to_tensor

BASE_CHECKPOINT = Path(__file__).parent / "shapenet.pth"


def train_shortcut_model(steps: int = 150, seed: int = 0) -> nn.Module:
    """The demo classifier fine-tuned on 400 tagged shapes, `steps` batches of 32 (Adam, lr 3e-3)."""
    torch.manual_seed(seed)
    model = camviz_shapenet(num_classes=len(CLASS_NAMES))
    model.load_state_dict(torch.load(BASE_CHECKPOINT, map_location="cpu", weights_only=False)["state_dict"])
    images, labels, _ = tagged_arrays(400, seed=seed + 1)
    inputs, targets = to_tensor(images), torch.from_numpy(labels)
    model.eval()
    with torch.no_grad():
        low = model.stages[1](model.stages[0](model.stem(inputs)))
    top = nn.Sequential(model.stages[2], model.pool, nn.Flatten(), model.head).train()
    optimizer = torch.optim.Adam(top.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(0, len(low), (32,), generator=generator)
        loss = F.cross_entropy(top(low[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the checkpoint to `--out`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "shapenet_tagged.pth")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = train_shortcut_model()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint(model), args.out)
    print(f"trained in {time.perf_counter() - start:.0f}s; saved {args.out}")


if __name__ == "__main__":
    main()
