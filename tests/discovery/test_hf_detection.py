"""Hugging Face object detectors (DETR, YOLOS, RT-DETR: tiny random configs saved with `save_pretrained`) load as
detectors returning torchvision's detections, equal to their image processor's post-processing, and their target
layers give a non-constant Grad-CAM for one detection's box score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from pytorch_grad_cam import EigenCAM, GradCAM

from camviz.cam.detection import box_score_target, detections_of
from camviz.discovery.detectors import detector_target_layers
from camviz.discovery.hf_detection import HFDetector, is_detection_config
from camviz.discovery.models import LoadedModel, load_model
from camviz.discovery.options import Task

LABELS = {0: "cat", 1: "dog", 2: "bird"}


def _detr() -> transformers.PreTrainedModel:
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                                         out_features=["stage2"])
    config = transformers.DetrConfig(use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
                                     d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=10,
                                     id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    return transformers.DetrForObjectDetection(config)


def _yolos() -> transformers.PreTrainedModel:
    config = transformers.YolosConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                      image_size=[64, 96], patch_size=8, num_detection_tokens=5, id2label=LABELS,
                                      label2id={v: k for k, v in LABELS.items()})
    return transformers.YolosForObjectDetection(config)


def _rt_detr() -> transformers.PreTrainedModel:
    backbone = transformers.RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                               layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    config = transformers.RTDetrConfig(backbone_config=backbone, use_pretrained_backbone=False, encoder_hidden_dim=16,
                                       encoder_in_channels=[16, 24, 32], decoder_in_channels=[16, 16, 16], d_model=16,
                                       encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_layers=1, decoder_layers=1,
                                       encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10,
                                       num_denoising=0, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    return transformers.RTDetrForObjectDetection(config)


def _detr_timm() -> transformers.PreTrainedModel:
    """DETR as its hub checkpoints have it: a timm ResNet backbone (its stages `layer1`..`layer4`)."""
    config = transformers.DetrConfig(use_timm_backbone=True, backbone="resnet18", use_pretrained_backbone=False,
                                     **_SMALL_DETR)
    return transformers.DetrForObjectDetection(config)


def _conditional_detr() -> transformers.PreTrainedModel:
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                                         out_features=["stage2"])
    config = transformers.ConditionalDetrConfig(use_timm_backbone=False, backbone_config=backbone,
                                                use_pretrained_backbone=False, **_SMALL_DETR)
    return transformers.ConditionalDetrForObjectDetection(config)


def _deformable_detr() -> transformers.PreTrainedModel:
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                         layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    config = transformers.DeformableDetrConfig(use_timm_backbone=False, backbone_config=backbone,
                                               use_pretrained_backbone=False, num_feature_levels=3, encoder_n_points=2,
                                               decoder_n_points=2, **{**_SMALL_DETR, "d_model": 32, "decoder_layers": 2})
    return transformers.DeformableDetrForObjectDetection(config)


_SMALL_DETR = {"d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
               "decoder_attention_heads": 2, "encoder_ffn_dim": 16, "decoder_ffn_dim": 16, "num_queries": 10,
               "id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()}}
BUILDERS = {"detr": _detr, "detr_timm": _detr_timm, "conditional_detr": _conditional_detr,
            "deformable_detr": _deformable_detr, "yolos": _yolos, "rt_detr": _rt_detr}
LAYERS = {"detr": ["model.model.backbone.model.encoder.stages.1"], "detr_timm": ["model.model.backbone.model.layer4"],
          "conditional_detr": ["model.model.backbone.model.encoder.stages.1"],
          "deformable_detr": [f"model.model.backbone.model.encoder.stages.{i}" for i in (1, 2, 3)],
          "yolos": ["model.vit.encoder.layer.0.layernorm_before"],
          "rt_detr": [f"model.model.backbone.model.encoder.stages.{i}" for i in (1, 2, 3)]}
PROCESSORS = {"detr": transformers.DetrImageProcessor, "detr_timm": transformers.DetrImageProcessor,
              "conditional_detr": transformers.ConditionalDetrImageProcessor,
              "deformable_detr": transformers.DeformableDetrImageProcessor, "yolos": transformers.YolosImageProcessor,
              "rt_detr": transformers.RTDetrImageProcessor}


@pytest.fixture(scope="module", params=[
    "detr", "conditional_detr", "yolos", *(pytest.param(family, marks=pytest.mark.slow)  # seconds to build or run
                                            for family in ("detr_timm", "deformable_detr", "rt_detr"))])
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, LoadedModel]:
    """A tiny random detector of each family, saved and read back by `load_model`."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(request.param)
    BUILDERS[request.param]().save_pretrained(folder)
    return request.param, load_model(folder)


def test_a_detection_config_is_told_from_a_classifier_config() -> None:
    assert is_detection_config({"architectures": ["DetrForObjectDetection"]})
    assert not is_detection_config({"architectures": ["ViTForImageClassification"]})
    assert not is_detection_config({})


def test_a_saved_detector_loads_as_a_detector_with_its_classes(saved: tuple[str, LoadedModel]) -> None:
    family, loaded = saved
    assert loaded.task is Task.detection
    assert isinstance(loaded.model, HFDetector)
    assert loaded.num_classes == 3
    assert loaded.class_names == ["cat", "dog", "bird"]
    assert not loaded.model.training
    assert [n for n, _ in loaded.model.named_modules() if n in LAYERS[family]] == LAYERS[family]


def test_its_detections_are_the_image_processors_post_processing(saved: tuple[str, LoadedModel]) -> None:
    family, loaded = saved
    pixels = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = loaded.model(pixels)
        raw = loaded.model.model(pixel_values=pixels)
    processor = PROCESSORS[family]()
    expected = processor.post_process_object_detection(raw, threshold=0.0, target_sizes=[(64, 96)] * 2)
    assert len(ours) == 2
    for got, want in zip(ours, expected, strict=True):
        assert set(got) >= {"boxes", "labels", "scores"}
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(got[key], want[key])
        assert len(got["scores"]) > 0
        assert got["boxes"][:, 2:].max() <= 96 + 1e-4  # in the input's pixels, not normalised
        assert got["boxes"][:, 2:].max() > 1.0


def test_the_target_layers_give_a_non_constant_cam_for_a_box(saved: tuple[str, LoadedModel]) -> None:
    family, loaded = saved
    layers, reshape = detector_target_layers(loaded.model, loaded.model_name)
    assert layers == [loaded.model.get_submodule(n) for n in LAYERS[family]]
    assert (reshape is None) == (family != "yolos")
    pixels = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        best = detections_of(loaded.model(pixels)[0], score_threshold=0.0, max_detections=1)[0]
    for method in (GradCAM, EigenCAM):
        with method(model=loaded.model, target_layers=layers, reshape_transform=reshape) as cam:
            grayscale = cam(input_tensor=pixels, targets=[box_score_target(best)])
        assert grayscale.shape == (1, 64, 96)
        assert np.ptp(grayscale[0]) > 0.1, (family, method.__name__)
