"""What explaining a detector costs (issue 30): images per second of camviz's detection engine (one no-grad forward
for the detections, then one batched GradCAM pass per detection rank, backward stopping at the target layers) against
a plain per-detection loop (pytorch-grad-cam's GradCAM on one image and one `MatchedScoreTarget` at a time, as a user
would write it), on the same images, detections and target layers; and the largest difference between their maps.

Models: the demo detector (`camviz_shapedet`, FCOS, 96 px scenes of 1-3 shapes, detections scoring >= 0.5) and
torchvision's `fasterrcnn_mobilenet_v3_large_320_fpn` with random weights (320 px, its box score threshold set to 0 so
that it detects something; the best `--max-detections` boxes per image).

    PYTHONPATH=. .venv/bin/python tests/benchmarks/detection_cost.py [--images 16] [--batch-size 8] [--max-detections 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torchvision
from pytorch_grad_cam import GradCAM

from camviz.cam.detection import matched_score_target
from camviz.cam.detection_cams import DetectionChoice, chosen_detections
from camviz.cam.engine import CamEngine
from camviz.demo import DETECTOR_PATH
from camviz.demo.det_shapes import make_scenes
from camviz.discovery.detectors import detector_target_layers
from camviz.discovery.options import ModelOptions
from camviz.run.model import resolve_model


def engine_cams(model: torch.nn.Module, layers: list, inputs: torch.Tensor, choice: DetectionChoice,
                batch_size: int) -> tuple[float, list[np.ndarray]]:
    """camviz's engine: seconds and each image's [K, H, W] maps."""
    start = time.perf_counter()
    with CamEngine(model, layers, detections=choice) as engine:
        found = [d for chunk in inputs.split(batch_size) for d in engine.compute(chunk).detections or ()]
    return time.perf_counter() - start, [d.cams for d in found]


def loop_cams(model: torch.nn.Module, layers: list, inputs: torch.Tensor,
              choice: DetectionChoice) -> tuple[float, list[np.ndarray]]:
    """The plain loop: per image, its detections (a no-grad forward), then a GradCAM call per detection."""
    start = time.perf_counter()
    stacks = []
    with GradCAM(model=model, target_layers=layers) as cam:
        for image in inputs.split(1):
            with torch.no_grad():
                found = chosen_detections(model(image), choice)[0]
            maps = [cam(input_tensor=image, targets=[matched_score_target(d)])[0] for d in found]
            stacks.append(np.stack(maps) if maps else np.zeros((0, *image.shape[-2:]), np.float32))
    return time.perf_counter() - start, stacks


def compare(name: str, model: torch.nn.Module, layers: list, inputs: torch.Tensor, *, choice: DetectionChoice,
            batch_size: int) -> None:
    """Print images/s of both ways, the detections explained and the largest map difference."""
    model.eval()
    engine_cams(model, layers, inputs[:2], choice, batch_size)  # warm up
    engine_s, ours = engine_cams(model, layers, inputs, choice, batch_size)
    loop_s, plain = loop_cams(model, layers, inputs, choice)
    count = sum(len(m) for m in ours)
    diff = max((float(np.abs(a - b).max()) for a, b in zip(ours, plain, strict=True) if len(a) and len(a) == len(b)),
               default=0.0)
    print(f"{name}: {len(inputs)} images, {count} detections | camviz engine {len(inputs) / engine_s:.2f} img/s | "
          f"plain loop {len(inputs) / loop_s:.2f} img/s | speed-up {loop_s / engine_s:.2f}x | max |diff| {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-detections", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    resolved = resolve_model(ModelOptions(path=DETECTOR_PATH, cpu=True))
    pixels = np.stack([np.asarray(s.image, np.float32) / 255 for s in make_scenes(args.images, seed=5)])
    demo_inputs = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    compare("camviz_shapedet (FCOS, 96 px)", resolved.model, resolved.targets.layers, demo_inputs,
            choice=DetectionChoice(max_detections=args.max_detections), batch_size=args.batch_size)
    rcnn = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)
    rcnn.roi_heads.score_thresh = 0.0
    layers, _ = detector_target_layers(rcnn)
    rcnn_inputs = torch.nn.functional.interpolate(demo_inputs, size=(320, 320), mode="bilinear")
    compare("fasterrcnn_mobilenet_v3_large_320_fpn (random weights, 320 px)", rcnn, layers, rcnn_inputs,
            choice=DetectionChoice(score_threshold=0.0, max_detections=args.max_detections), batch_size=args.batch_size)


if __name__ == "__main__":
    main()
