"""Detections as CAM targets: reading one image's detections, the box-score target, the energy inside a box, and
camviz's path (load_model, the family's layer, `detections_of`, `box_score_target`) equal to plain pytorch-grad-cam
on the shipped demo detector."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from pytorch_grad_cam import EigenCAM, GradCAM
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

from camviz.cam.detection import (
    Detection,
    MatchedScoreTarget,
    box_energy,
    box_mask,
    box_score_target,
    detections_of,
    matched_score_target,
)
from camviz.demo import DETECTOR_PATH
from camviz.demo.det_net import camviz_shapedet
from camviz.demo.det_shapes import make_scenes
from camviz.demo.train_detection import to_inputs
from camviz.discovery.detectors import detector_target_layers
from camviz.discovery.models import load_model

OUTPUT = {"boxes": torch.tensor([[0.0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]]),
          "labels": torch.tensor([1, 2, 1]), "scores": torch.tensor([0.4, 0.9, 0.6])}


def test_detections_are_read_best_first_above_the_threshold() -> None:
    found = detections_of(OUTPUT, score_threshold=0.5)
    assert [d.label for d in found] == [2, 1]
    assert found[0] == Detection(box=(5.0, 5.0, 20.0, 30.0), label=2, score=pytest.approx(0.9))
    assert [d.score for d in detections_of(OUTPUT, 0.0, max_detections=2)] == pytest.approx([0.9, 0.6])
    assert detections_of(OUTPUT, 0.95) == []
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)}
    assert detections_of(empty) == []


def test_a_detection_is_a_frozen_keyword_only_value() -> None:
    detection = Detection(box=(0.0, 0.0, 1.0, 1.0), label=0, score=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        detection.label = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Detection((0.0, 0.0, 1.0, 1.0), 0, 0.5)  # type: ignore[misc]


def test_the_box_score_target_scores_the_matching_box_of_its_label() -> None:
    target = box_score_target(Detection(box=(5.0, 5.0, 20.0, 30.0), label=2, score=0.9))
    assert float(target(OUTPUT)) == pytest.approx(1.0 + 0.9)
    other_label = box_score_target(Detection(box=(5.0, 5.0, 20.0, 30.0), label=1, score=0.9))
    assert float(other_label(OUTPUT)) == 0.0
    elsewhere = box_score_target(Detection(box=(60.0, 60.0, 90.0, 90.0), label=2, score=0.9))
    assert float(elsewhere(OUTPUT)) == 0.0


def test_the_matched_score_target_scores_the_matching_box_s_score_alone() -> None:
    target = matched_score_target(Detection(box=(5.0, 5.0, 20.0, 30.0), label=2, score=0.9))
    assert target == MatchedScoreTarget(label=2, box=(5.0, 5.0, 20.0, 30.0))
    assert float(target(OUTPUT)) == pytest.approx(0.9)
    assert float(matched_score_target(Detection(box=(5.0, 5.0, 20.0, 30.0), label=1, score=0.9))(OUTPUT)) == 0.0
    assert float(matched_score_target(Detection(box=(6.0, 6.0, 21.0, 31.0), label=2, score=0.9))(OUTPUT)) == \
        pytest.approx(0.9)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)}
    assert float(target(empty)) == 0.0
    same_box = {"boxes": torch.tensor([[5.0, 5, 20, 30], [5, 5, 20, 30]]), "labels": torch.tensor([1, 2]),
                "scores": torch.tensor([0.3, 0.6], requires_grad=True)}
    assert float(target(same_box).detach()) == pytest.approx(0.6)  # its label's box, where another label's overlaps as much
    missed = matched_score_target(Detection(box=(60.0, 60.0, 90.0, 90.0), label=2, score=0.9))(same_box)
    assert float(missed.detach()) == 0.0
    assert missed.requires_grad  # a backward pass still runs (the CAM is zero)


@pytest.mark.slow  # seconds: a CAM per detection, then one batched
def test_matched_score_cams_are_the_same_alone_or_batched_with_copies() -> None:
    """One image, a copy per detection, one pass: each CAM equal to the detection's own single-image CAM (measured on
    30 scenes: at most 1.8e-6 apart; `FasterRCNNBoxScoreTarget`'s IoU + score differs by up to 1.0 batched)."""
    loaded = load_model(DETECTOR_PATH)
    layers, reshape = detector_target_layers(loaded.model, loaded.model_name)
    pixels = to_inputs(make_scenes(1, 31))
    found = detections_of(loaded.model(pixels)[0], score_threshold=0.5)
    assert len(found) >= 2
    for method in (GradCAM, EigenCAM):
        with method(model=loaded.model, target_layers=layers, reshape_transform=reshape) as cam:
            alone = np.stack([cam(input_tensor=pixels, targets=[matched_score_target(d)])[0] for d in found])
            batched = cam(input_tensor=pixels.repeat(len(found), 1, 1, 1),
                          targets=[matched_score_target(d) for d in found])
        assert np.ptp(alone) > 0.1
        np.testing.assert_allclose(batched, alone, atol=1e-5, rtol=0)


def test_the_energy_inside_a_box_is_the_share_of_the_maps_sum() -> None:
    cam = np.zeros((20, 30), np.float32)
    cam[2:6, 3:9] = 1.0
    assert box_energy(cam, (3.0, 2.0, 9.0, 6.0)) == pytest.approx(1.0)
    assert box_energy(cam, (3.0, 2.0, 6.0, 6.0)) == pytest.approx(0.5)
    assert box_energy(np.ones((20, 30), np.float32), (0.0, 0.0, 15.0, 10.0)) == pytest.approx(0.25)
    assert box_energy(np.zeros((20, 30), np.float32), (0.0, 0.0, 15.0, 10.0)) == 0.0
    assert box_mask((2.5, 1.2, 4.1, 2.0), 5, 6).sum() == 3 * 1  # columns 2, 3, 4; row 1
    assert box_mask((-5.0, -5.0, 100.0, 100.0), 5, 6).all()


@pytest.mark.slow  # seconds: loads the detector, four CAMs
def test_camviz_s_box_cam_equals_plain_pytorch_grad_cam_on_the_demo_detector() -> None:
    loaded = load_model(DETECTOR_PATH)
    layers, reshape = detector_target_layers(loaded.model, loaded.model_name)
    plain = camviz_shapedet(num_classes=3)
    plain.load_state_dict(torch.load(DETECTOR_PATH, weights_only=True)["state_dict"])
    plain.eval()
    pixels = to_inputs(make_scenes(1, 31))
    with torch.no_grad():
        output = plain(pixels)[0]
    detection = detections_of(loaded.model(pixels)[0], score_threshold=0.5)[0]
    hand_made = FasterRCNNBoxScoreTarget(labels=output["labels"][:1], bounding_boxes=output["boxes"][:1].numpy())
    for method in (GradCAM, EigenCAM):
        with method(model=loaded.model, target_layers=layers, reshape_transform=reshape) as cam:
            ours = cam(input_tensor=pixels, targets=[box_score_target(detection)])
        with method(model=plain, target_layers=[plain.backbone.body]) as cam:
            theirs = cam(input_tensor=pixels, targets=[hand_made])
        assert np.ptp(ours) > 0.1
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
