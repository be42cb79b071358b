"""The demo detector: its scenes, the shipped checkpoint (small, loadable, torchvision's detections in eval mode, its
recall on held-out scenes) and CAMs whose energy lies inside each detection's box far beyond the box's area share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, HiResCAM

from camviz.cam.detection import box_energy, box_mask, box_score_target, detections_of
from camviz.demo import DETECTOR_PATH
from camviz.demo.det_shapes import GAP, MAX_OBJECTS, make_scene, make_scenes
from camviz.demo.shapes import CLASS_NAMES
from camviz.demo.train_detection import Scores, average_precision, evaluate, main, to_inputs, to_targets
from camviz.discovery.detectors import detector_target_layers
from camviz.discovery.models import LoadedModel, load_model
from camviz.discovery.options import Task


@pytest.fixture(scope="module")
def detector() -> LoadedModel:
    return load_model(DETECTOR_PATH)


def test_scenes_hold_one_to_three_separate_shapes_deterministically() -> None:
    scenes = make_scenes(40, 3)
    assert {len(s.labels) for s in scenes} == {1, 2, 3}
    for scene in scenes:
        assert 1 <= len(scene.labels) == len(scene.boxes) <= MAX_OBJECTS
        assert all(0 <= label < len(CLASS_NAMES) for label in scene.labels)
        for i, a in enumerate(scene.boxes):
            assert 0 <= a[0] < a[2] <= 96 and 0 <= a[1] < a[3] <= 96
            for b in scene.boxes[i + 1:]:
                assert a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1]
    again = make_scenes(40, 3)
    assert [s.boxes for s in again] == [s.boxes for s in scenes]
    assert make_scene(np.random.default_rng(0), count=2).labels.__len__() == 2


def test_average_precision_is_voc_s_area_under_the_envelope() -> None:
    assert average_precision([(0.9, True), (0.8, True)], 2) == pytest.approx(1.0)
    assert average_precision([(0.9, False), (0.8, True)], 1) == pytest.approx(0.5)
    assert average_precision([(0.9, True), (0.8, False)], 2) == pytest.approx(0.5)
    assert average_precision([], 0) == 0.0


def test_the_shipped_detector_is_small_and_loads_as_a_detector(detector: LoadedModel) -> None:
    assert DETECTOR_PATH.stat().st_size < 2 * 1024 * 1024
    assert detector.task is Task.detection
    assert detector.num_classes == 3
    assert detector.class_names == list(CLASS_NAMES)
    assert detector.input.size == (96, 96)
    assert detector.input.mean == (0.0, 0.0, 0.0)
    assert not detector.model.training
    output = detector.model(to_inputs(make_scenes(2, 5)))
    assert len(output) == 2
    assert all(set(o) == {"boxes", "labels", "scores"} and o["boxes"].shape[1] == 4 for o in output)


def test_it_finds_held_out_shapes(detector: LoadedModel) -> None:
    scores = evaluate(detector.model, make_scenes(80, 20_001))  # measured on 400 held-out: recall 0.994, mAP 1.000
    assert scores.recall >= 0.95
    assert scores.precision >= 0.95
    assert scores.map50 >= 0.95
    truths = to_targets(make_scenes(1, 5))
    assert truths[0]["boxes"].dtype == torch.float32
    assert isinstance(scores, Scores)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: small CAMs run faster so on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # seconds: three CAM methods on 21 detections
@pytest.mark.usefixtures("one_thread")
def test_each_detections_cam_lies_inside_its_box(detector: LoadedModel) -> None:
    """Measured on these 21 detections (10 scenes, seed 4242), the energy inside the box: HiResCAM mean 0.55, median
    0.63; GradCAM mean 0.37; EigenCAM (one map per image, not per box) 0.14; the box's area share 0.082. On 116
    detections of 60 scenes: HiResCAM 0.53, GradCAM 0.40, EigenCAM 0.17 (0.33 inside the union of an image's boxes,
    whose area share is 0.16)."""
    layers, reshape = detector_target_layers(detector.model, detector.model_name)
    energies: dict[str, list[float]] = {"GradCAM": [], "HiResCAM": [], "EigenCAM": []}
    areas = []
    for scene in make_scenes(10, 4242):
        pixels = to_inputs([scene])
        with torch.no_grad():
            found = detections_of(detector.model(pixels)[0], score_threshold=0.5)
        for detection in found:
            areas.append(float(box_mask(detection.box, 96, 96).mean()))
            for method in (GradCAM, HiResCAM, EigenCAM):
                with method(model=detector.model, target_layers=layers, reshape_transform=reshape) as cam:
                    grayscale = cam(input_tensor=pixels, targets=[box_score_target(detection)])[0]
                energies[method.__name__].append(box_energy(grayscale, detection.box))
    area = float(np.mean(areas))
    assert len(areas) >= 18
    assert np.mean(energies["HiResCAM"]) >= 0.45 > 5 * area
    assert np.median(energies["HiResCAM"]) >= 0.5
    assert np.mean(energies["GradCAM"]) >= 0.30 > 3 * area
    assert np.mean(energies["EigenCAM"]) >= 0.11 > area


@pytest.mark.slow  # seconds: one short epoch and a held-out evaluation
def test_the_training_script_trains_and_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "det.pth"
    main(["--out", str(out), "--epochs", "1", "--per-epoch", "64", "--batch", "32",
          "--threads", str(torch.get_num_threads())])  # the session's own count kept
    saved = torch.load(out, weights_only=True)
    assert saved["train_info"]["epochs"] == 1
    assert 0.0 <= saved["train_info"]["recall"] <= 1.0
    loaded = load_model(out)
    assert loaded.task is Task.detection
    assert loaded.num_classes == 3
