"""What explaining a segmentation model costs (issue 29): img/s of `camviz explain` on a folder against a plain
pytorch-grad-cam loop doing the same per image, side by side in one run, on this machine's CPU.

The plain loop is the library's segmentation tutorial, per image: read and normalise the image, one forward pass for
the predicted mask, then per explained class (the same classes camviz explains: `camviz.cam.regions.RegionChoice`) a
`GradCAM` call with `SemanticSegmentationTarget(class, predicted region)` and its overlay (`show_cam_on_image`)
written as a PNG. camviz writes its four-panel figure per class, the manifest, the gallery and run.json besides.

Models: the shipped demo (`camviz_segnet`, 96 px) and torchvision's `deeplabv3_mobilenet_v3_large` (random weights, 6
classes, saved as a checkpoint) at 512 px. Rounds alternate the two sides; the fastest round of each is reported.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/segmentation_cost.py [--images 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

from camviz.cam.regions import RegionChoice, background_classes
from camviz.data.options import InputOptions
from camviz.demo import SEGMENTATION_CHECKPOINT_PATH
from camviz.demo.segmentation_shapes import write_segmentation_folder
from camviz.discovery.options import ModelOptions
from camviz.output.options import OutputOptions
from camviz.run.job import explain
from camviz.run.model import ResolvedModel, resolve_model
from camviz.run.options import ExplainOptions


def deeplab_checkpoint(folder: Path) -> Path:
    """torchvision's deeplabv3_mobilenet_v3_large, random weights, 6 classes, recorded at 512 px."""
    torch.manual_seed(0)
    model = torchvision.models.get_model("deeplabv3_mobilenet_v3_large", weights=None, weights_backbone=None,
                                         num_classes=6, aux_loss=False)
    path = folder / "deeplab.pth"
    torch.save({"model_name": "deeplabv3_mobilenet_v3_large", "state_dict": model.state_dict(), "num_classes": 6,
                "img_size": 512}, path)
    return path


def camviz_seconds(checkpoint: Path, images: Path, out: Path, batch_size: int) -> tuple[float, int]:
    """Wall seconds of one `camviz explain` of the folder, and the figures it wrote."""
    options = ExplainOptions(model=ModelOptions(path=checkpoint, cpu=True), inputs=InputOptions(data_dir=images),
                             output=OutputOptions(output_dir=out), batch_size=batch_size, num_workers=0)
    start = time.perf_counter()
    result = explain(options)
    return time.perf_counter() - start, len(result.outputs)


def plain_seconds(resolved: ResolvedModel, images: Path, out: Path) -> tuple[float, int]:
    """Wall seconds of the plain per-image loop over the folder, and the overlays it wrote."""
    model, spec = resolved.model, resolved.loaded.input
    choice = RegionChoice(background=background_classes(resolved.class_names))
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    start = time.perf_counter()
    with GradCAM(model, list(resolved.targets.modules), reshape_transform=resolved.targets.reshape_transform) as cam:
        for path in sorted(images.glob("*.png")):
            rgb = np.asarray(Image.open(path).convert("RGB").resize(spec.size[::-1], Image.BILINEAR), np.float32) / 255
            inputs = torch.from_numpy(((rgb - mean) / std).transpose(2, 0, 1)).unsqueeze(0)
            with torch.no_grad():
                predicted = model(inputs).argmax(1)[0].numpy()
            for category in choice.classes(predicted):
                mask = (predicted == category).astype(np.float32)
                grayscale = cam(inputs, targets=[SemanticSegmentationTarget(category, mask)])[0]
                overlay = show_cam_on_image(rgb, grayscale, use_rgb=True)
                cv2.imwrite(str(out / f"{path.stem}_{category}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
                written += 1
    return time.perf_counter() - start, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_segmentation_folder(work / "small", count=args.images, seed=7)
        write_segmentation_folder(work / "large", count=args.images, seed=7, size=512)
        cases = [("camviz_segnet (demo), 96 px", SEGMENTATION_CHECKPOINT_PATH, work / "small" / "images"),
                 ("deeplabv3_mobilenet_v3_large, 512 px", deeplab_checkpoint(work), work / "large" / "images")]
        print(f"{args.images} images, batch size {args.batch_size}, {torch.get_num_threads()} threads, fastest of "
              f"{args.rounds} rounds\n")
        print("| model | camviz img/s | plain loop img/s | camviz / plain | figures (camviz, plain) |")
        print("| --- | --- | --- | --- | --- |")
        for label, checkpoint, images in cases:
            resolved = resolve_model(ModelOptions(path=checkpoint, cpu=True))
            ours, theirs = [], []
            for round_ in range(args.rounds):
                ours.append(camviz_seconds(checkpoint, images, work / f"camviz{round_}{label[:4]}", args.batch_size))
                theirs.append(plain_seconds(resolved, images, work / f"plain{round_}{label[:4]}"))
            best_ours, best_theirs = min(t for t, _ in ours), min(t for t, _ in theirs)
            print(f"| {label} | {args.images / best_ours:.2f} | {args.images / best_theirs:.2f} | "
                  f"{best_theirs / best_ours:.2f}x | {ours[0][1]}, {theirs[0][1]} |")


if __name__ == "__main__":
    main()
