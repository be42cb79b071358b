"""Detections as CAM targets: what a detector found in one image, the box-score target that explains one of them,
and how much of a CAM lies inside its box.

A detector camviz loaded returns torchvision's form in eval mode, one dict per image: `boxes` `[N, 4]` (x0, y0, x1, y1
in the input's pixels), `labels` `[N]`, `scores` `[N]` (torchvision's detectors; Hugging Face ones through
`camviz.discovery.hf_detection`). pytorch-grad-cam's `FasterRCNNBoxScoreTarget` reads exactly that form, so it is the
target for every family: on a forward pass it finds the output box that overlaps the explained one most and, when
their IoU passes the threshold and the label is the same, scores IoU + score (else 0). `MatchedScoreTarget` matches
the same way and scores the score alone: its CAMs do not change when an image is batched (see its notes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
from torchvision.ops import box_iou

from camviz.cam.localization import energy_in_object

IOU_THRESHOLD = 0.5  # a forward's box is the explained detection when it overlaps it this much (and has its label)
Box = tuple[float, float, float, float]


@dataclass(frozen=True, kw_only=True)
class Detection:
    """One detected object: its box (x0, y0, x1, y1 in the input's pixels), class index and score."""

    box: Box
    label: int
    score: float


def detections_of(output: Mapping[str, torch.Tensor], score_threshold: float = 0.5,
                  max_detections: int | None = None) -> list[Detection]:
    """One image's detections scoring at least `score_threshold`, best first, at most `max_detections` (None: all)."""
    scores = output["scores"].detach().float().cpu()
    order = [i for i in scores.argsort(descending=True, stable=True).tolist() if scores[i] >= score_threshold]
    boxes = output["boxes"].detach().float().cpu()
    labels = output["labels"].detach().cpu()
    return [Detection(box=(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
                      label=int(labels[i]), score=float(scores[i]))
            for i in order[:max_detections]]


def box_score_target(detection: Detection, iou_threshold: float = IOU_THRESHOLD) -> FasterRCNNBoxScoreTarget:
    """pytorch-grad-cam's target for one detection: IoU + score of the forward's best-overlapping box of its label."""
    return FasterRCNNBoxScoreTarget(labels=[detection.label], bounding_boxes=[np.asarray(detection.box, np.float32)],
                                    iou_threshold=iou_threshold)


@dataclass(frozen=True, kw_only=True)
class MatchedScoreTarget:
    """The score of the forward's box that matches one detection: among the boxes of its label, the one that overlaps
    it most, when their IoU passes the threshold; else 0 (still on the graph: a backward pass runs, the CAM is zero).

    It differs from `FasterRCNNBoxScoreTarget` twice. That target adds the IoU, which peaks, with a kink, at the
    explained box itself (explaining a detection from its own forward): float32 rounding then decides the gradient,
    and the same image batched otherwise gives another CAM; the score alone has no kink, so a detection's CAM is the
    same alone or batched with copies of its image. And that target takes the best-overlapping box of any label and
    scores 0 when its label differs, which is what happens where one anchor puts the same box in two classes."""

    label: int
    box: Box
    iou_threshold: float = IOU_THRESHOLD

    def __call__(self, output: Mapping[str, torch.Tensor]) -> torch.Tensor:
        boxes, scores = output["boxes"], output["scores"]
        same = (output["labels"] == self.label).nonzero().flatten()
        if len(same) == 0:
            return scores.sum() * 0.0
        explained = torch.tensor([self.box], dtype=boxes.dtype, device=boxes.device)
        ious = box_iou(explained, boxes[same].detach())[0]
        best = int(ious.argmax())
        return scores[same[best]] if float(ious[best]) > self.iou_threshold else scores.sum() * 0.0


def matched_score_target(detection: Detection, iou_threshold: float = IOU_THRESHOLD) -> MatchedScoreTarget:
    """The target that explains one detection's score, stable under batching (see `MatchedScoreTarget`)."""
    return MatchedScoreTarget(label=detection.label, box=detection.box, iou_threshold=iou_threshold)


def box_mask(box: Box, height: int, width: int) -> np.ndarray:
    """A `height` x `width` boolean mask of the pixels the box covers (any part of the pixel), clipped to the image."""
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def box_energy(cam: np.ndarray, box: Box) -> float:
    """The share of the CAM's sum (a `[H, W]` map at the input's size, non-negative) inside the box; 0 for an all-zero
    map (`camviz.cam.localization.energy_in_object` with the box as the object)."""
    return energy_in_object(cam, box_mask(box, *cam.shape))
