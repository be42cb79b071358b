"""Object detectors' CAMs: which detections of an image are explained, and one CAM per detection.

One forward pass without gradients gives each image's detections (`camviz.cam.detection.detections_of`): those
scoring at least `score_threshold`, best first, at most `max_detections`. Each then gets the CAM of its own score
(`camviz.cam.detection.matched_score_target`, which is the same batched or alone), one batched pass per rank: every
image's best detection, then every image's second, ... as a segmentation model's classes (`camviz.cam.regions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from camviz.cam.detection import Detection, detections_of, matched_score_target


@dataclass(frozen=True, kw_only=True)
class DetectionChoice:
    """Which detections of an image get a CAM: scoring at least `score_threshold`, the best `max_detections`."""

    score_threshold: float = 0.5
    max_detections: int = 20


@dataclass(frozen=True, kw_only=True)
class DetectionCams:
    """One image's explained detections (best first) and the CAM of each."""

    detections: tuple[Detection, ...]
    cams: np.ndarray  # float32 [K, H, W] in [0, 1], one per detection, at the model-input size


def chosen_detections(outputs: Sequence[Mapping[str, torch.Tensor]], choice: DetectionChoice) -> list[list[Detection]]:
    """Each image's explained detections, from the detector's eval-mode outputs (one dict per image)."""
    return [detections_of(output, choice.score_threshold, choice.max_detections) for output in outputs]


def detection_cams(inputs: torch.Tensor, found: Sequence[Sequence[Detection]],
                   cams_of: Callable[[torch.Tensor, list], np.ndarray]) -> list[DetectionCams]:
    """A CAM per detection: `cams_of(inputs, targets)` (one pytorch-grad-cam call) once per rank, on the images that
    have a detection of that rank, each with its detection's `MatchedScoreTarget`."""
    height, width = inputs.shape[-2:]
    stacks: list[list[np.ndarray]] = [[] for _ in found]
    for rank in range(max((len(detections) for detections in found), default=0)):
        rows = [i for i, detections in enumerate(found) if len(detections) > rank]
        targets = [matched_score_target(found[i][rank]) for i in rows]
        for i, cam in zip(rows, cams_of(inputs[rows], targets), strict=True):
            stacks[i].append(cam)
    return [DetectionCams(detections=tuple(detections),
                          cams=np.stack(stacks[i]) if stacks[i] else np.zeros((0, height, width), np.float32))
            for i, detections in enumerate(found)]
