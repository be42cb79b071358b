"""camviz.demo's segmentation model and data: the generator is deterministic and its label maps match its shapes; the
shipped checkpoint (`shapenet_seg.pth`) loads through `load_model` as a 4-class segmentation model, segments fresh
images well, and plain pytorch-grad-cam's CAM for each present class lies mostly inside that class's predicted
region at the layer timm's `feature_info` names (the decoder's last block)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

from camviz.cam.segmentation_scores import iou_per_class
from camviz.demo import SEGMENTATION_CHECKPOINT_PATH, SEGMENTATION_CLASS_NAMES, write_segmentation_folder
from camviz.demo.segmentation_shapes import make_segmentation_arrays, make_segmentation_sample
from camviz.demo.train import to_tensor
from camviz.demo.train_segmentation import predict
from camviz.discovery.layers import resolve_targets
from camviz.discovery.models import LoadedModel, load_model
from camviz.discovery.options import Task
from camviz.discovery.timm_meta import feature_info_module

FRESH_SEED = 20_261_205  # differs from every seed the training script uses
MIN_IOU = 0.8  # each shape class's IoU over the fresh images (measured: see the checkpoint's train_info)
MIN_ENERGY = 0.7  # the mean share of a class's CAM inside its predicted region (measured 0.82, median 0.88)


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return load_model(SEGMENTATION_CHECKPOINT_PATH)


@pytest.fixture(scope="module")
def fresh() -> tuple[np.ndarray, np.ndarray]:
    return make_segmentation_arrays(40, seed=FRESH_SEED)


def test_generator_is_deterministic_and_masks_label_each_shape() -> None:
    a, b = (make_segmentation_sample(np.random.default_rng(7)) for _ in range(2))
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and np.array_equal(a.mask, b.mask)
    for seed in range(20):
        sample = make_segmentation_sample(np.random.default_rng(seed))
        pixels = np.asarray(sample.image).reshape(-1, 3)
        assert sample.classes == tuple(sorted(set(np.unique(sample.mask).tolist()) - {0}))
        assert 1 <= len(sample.classes) <= 3 and set(np.unique(sample.mask).tolist()) <= {0, 1, 2, 3}
        for c in sample.classes:  # a shape is drawn in flat colours: few of them under its label
            assert len(np.unique(pixels[sample.mask.ravel() == c], axis=0)) <= 3


def test_write_segmentation_folder_pairs_each_image_with_its_label_map(tmp_path) -> None:
    root = tmp_path / "seg"
    write_segmentation_folder(root, count=5, seed=3)
    shown = write_segmentation_folder(root, count=3, seed=3)  # a smaller second call leaves only its own files
    names = sorted(p.name for p in (root / "images").iterdir())
    assert names == sorted(p.name for p in (root / "masks").iterdir()) == sorted(shown) == ["0000.png", "0001.png",
                                                                                            "0002.png"]
    for name, classes in shown.items():
        mask = Image.open(root / "masks" / name)
        assert mask.mode == "P" and mask.size == Image.open(root / "images" / name).size == (96, 96)
        assert tuple(sorted(set(np.unique(np.asarray(mask)).tolist()) - {0})) == classes


def test_checkpoint_loads_as_a_segmentation_model(loaded: LoadedModel) -> None:
    ckpt = torch.load(SEGMENTATION_CHECKPOINT_PATH, map_location="cpu", weights_only=True)  # loads safely
    assert (ckpt["model_name"], ckpt["plugins"], ckpt["img_size"]) == ("camviz_segnet", ["camviz.demo.seg_net"], 96)
    assert SEGMENTATION_CHECKPOINT_PATH.stat().st_size < 1_000_000
    assert loaded.task is Task.segmentation and loaded.num_classes == 4
    assert loaded.class_names == list(SEGMENTATION_CLASS_NAMES) == ["background", "circle", "square", "triangle"]
    assert loaded.input.size == (96, 96)
    assert loaded.model(torch.zeros(2, 3, 96, 96)).shape == (2, 4, 96, 96)


def test_feature_info_names_the_decoders_last_block(loaded: LoadedModel) -> None:
    assert feature_info_module(loaded.model) == ("decoder.1", "decoder.1")
    assert loaded.model.get_submodule("decoder.1") is loaded.model.decoder[-1]


def test_the_generic_lookup_picks_the_decoders_last_block(loaded: LoadedModel) -> None:
    targets = resolve_targets(loaded.model, "camviz_segnet", None, (96, 96))
    assert (targets.family, targets.names, targets.warning) == ("feature_info", ["decoder.1"], None)


def test_fresh_images_are_segmented_well(loaded: LoadedModel, fresh: tuple[np.ndarray, np.ndarray]) -> None:
    images, masks = fresh
    ious = list(iou_per_class(predict(loaded.model, to_tensor(images)), masks, range(4)).values())
    assert min(ious) > MIN_IOU, dict(zip(SEGMENTATION_CLASS_NAMES, ious, strict=True))


def _energy_inside(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per (image, class in its predicted mask): the share of the CAM's sum inside that class's predicted region,
    and the region's share of the image. One batch: each pair is one row, its target its own."""
    predicted = predict(model, x)
    pairs = [(i, c) for i, labels in enumerate(predicted) for c in sorted(set(np.unique(labels).tolist()) - {0})]
    regions = [(predicted[i] == c).astype(np.float32) for i, c in pairs]
    with GradCAM(model, target_layers=[layer]) as cam:
        maps = cam(x[[i for i, _ in pairs]], targets=[SemanticSegmentationTarget(c, r) for (_, c), r in
                                                      zip(pairs, regions, strict=True)])
    assert (maps.reshape(len(maps), -1).std(axis=1) > 0).all()
    inside = np.array([(m * r).sum() / m.sum() for m, r in zip(maps, regions, strict=True)])
    return inside, np.array([r.mean() for r in regions])


@pytest.mark.slow  # two CAM batches: 2-9 s on the shared 2-core CPU
def test_each_present_class_cam_lies_in_its_predicted_region(loaded: LoadedModel,
                                                             fresh: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = fresh
    x = to_tensor(images[:16])
    inside, shares = _energy_inside(loaded.model, loaded.model.decoder[-1], x)
    assert len(inside) >= 20
    assert inside.mean() > MIN_ENERGY and np.median(inside) > MIN_ENERGY, inside
    assert (inside > 4 * shares).all(), (inside, shares)  # regions cover 6% of an image on average
    coarse, _ = _energy_inside(loaded.model, loaded.model.stages[-1][-1], x)
    assert inside.mean() > coarse.mean() + 0.2  # why feature_info ends at the decoder, not the encoder
