"""What `camviz.lightning.CamCallback` costs per call: ms per image on torchvision's resnet18 at 224 px.

Side by side in one run, on the same 16 images: a plain eval forward pass (the floor), the CAM engine pass
(`Explainer.compute`, state kept), `log_cams` to a TensorBoard SummaryWriter (CAMs, figures, `add_image`'s PNG
encoding) and to a folder (OpenCV's PNG encoder), and the callback itself with a TensorBoardLogger inside a
real `lightning.Trainer` (timed around `on_validation_epoch_end`, first call excluded: it resolves the layers). Median of `--repeats`; the device is CUDA when there is one, else the CPU.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/callback_cost.py [--images 16] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightning
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

from camviz import log_cams
from camviz.cam.options import CamOptions
from camviz.demo.shapes import make_sample
from camviz.demo.train import to_tensor
from camviz.discovery.options import ModelOptions
from camviz.integrations.explainer import module_explainer
from camviz.lightning import CamCallback

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
NORMALISED = ModelOptions(mean=IMAGENET[0], std=IMAGENET[1])  # the inputs' normalisation


class Classifier(lightning.LightningModule):
    """resnet18 (random weights) trained with SGD: what the callback explains."""

    def __init__(self) -> None:
        super().__init__()
        self.model = torchvision.models.resnet18(weights=None, num_classes=3)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        return F.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        pass

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-3)


class TimedCamCallback(CamCallback):
    """The callback, each call's wall time recorded."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: list[float] = []

    def on_validation_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        start = time.perf_counter()
        super().on_validation_epoch_end(trainer, pl_module)
        _synchronize()
        if not trainer.sanity_checking:
            self.seconds.append(time.perf_counter() - start)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _images(count: int) -> torch.Tensor:
    rng = np.random.default_rng(0)
    pixels = np.stack([np.asarray(make_sample(rng, i % 3, size=224).image) for i in range(count)])
    return to_tensor(pixels, *IMAGENET)


def measure(count: int, repeats: int) -> dict[str, float]:
    """Seconds per call of each stage on `count` images."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    inputs = _images(count)
    model = Classifier().model.to(device).eval()
    explainer = module_explainer(model, NORMALISED, CamOptions())
    prepared = explainer.prepare(inputs)
    results = {}
    with torch.no_grad():
        results["forward pass (no_grad, eval)"] = _median_seconds(lambda: model(inputs.to(device)), repeats)
    results["CAM engine pass (state kept)"] = _median_seconds(lambda: explainer.compute(prepared), repeats)
    with tempfile.TemporaryDirectory() as folder:
        writer = SummaryWriter(folder)
        results["log_cams to a SummaryWriter"] = _median_seconds(
            lambda: log_cams(model, inputs, writer, 0, options=NORMALISED), repeats)
        writer.close()
        results["log_cams to a folder (OpenCV PNG)"] = _median_seconds(
            lambda: log_cams(model, inputs, Path(folder) / "pngs", 0, options=NORMALISED), repeats)
        results["CamCallback call in a Trainer (TB)"] = _callback_seconds(inputs, repeats, Path(folder))
    return results


def _callback_seconds(inputs: torch.Tensor, repeats: int, root: Path) -> float:
    """The callback's median call over `repeats` + 1 epochs of one training batch each (the first call excluded)."""
    callback = TimedCamCallback(images=inputs, model="model", options=NORMALISED)
    data = TensorDataset(inputs, torch.arange(len(inputs)) % 3)
    trainer = lightning.Trainer(max_epochs=repeats + 1, limit_train_batches=1, limit_val_batches=1,
                                logger=lightning.pytorch.loggers.TensorBoardLogger(root, name="tb"),
                                callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=root)
    trainer.fit(Classifier(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=4))
    return statistics.median(callback.seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = measure(args.images, args.repeats)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {args.threads} threads"
    print(f"resnet18 at 224x224, {args.images} images per call, {device}; median of {args.repeats}")
    floor = results["forward pass (no_grad, eval)"]
    for name, seconds in results.items():
        print(f"{name:<34} {1000 * seconds / args.images:8.1f} ms/image  {seconds / floor:5.1f}x the forward pass")


if __name__ == "__main__":
    main()
