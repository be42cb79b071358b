"""Segmentation checkpoints from each source (issue 29) load offline as segmentation models, with their classes, and
their target layer comes from the family lookup: plain pytorch-grad-cam with `SemanticSegmentationTarget` there gives
a non-constant CAM of the input's size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from camviz.discovery.checkpoint import read_checkpoint
from camviz.discovery.formats import FileKind, model_file
from camviz.discovery.layers import resolve_targets
from camviz.discovery.metadata import read_metadata
from camviz.discovery.models import LoadedModel, load_model
from camviz.discovery.options import ModelOptions, Task
from camviz.errors import CheckpointError
from tests.support.cli import invoke_ok
from tests.support.segmentation_sources import (
    CLASSES,
    SIZE,
    Written,
    hf_folder,
    reference_logits,
    segmentation_cam,
    smp_folder,
    smp_state_dict,
    torchvision_pickled,
    torchvision_seed,
)


def _assert_explained(loaded: LoadedModel, written: Written, *, class_names: list[str] | None = CLASSES) -> None:
    """The loaded model is the written one, read as a segmentation model at 64 px, and the family's layer gives a
    non-constant CAM of the input's size."""
    assert loaded.task is Task.segmentation
    assert loaded.num_classes == len(CLASSES) and loaded.class_names == class_names
    pixels = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = loaded.model(pixels)
    assert logits.shape == (1, len(CLASSES), SIZE, SIZE)
    torch.testing.assert_close(logits, reference_logits(written.model, pixels), atol=1e-5, rtol=1e-5)
    targets = resolve_targets(loaded.model, loaded.model_name, img_size=SIZE)
    assert (targets.family, targets.names, targets.warning) == (written.family, [written.layer], None)
    cam, category = segmentation_cam(loaded.model, targets, pixels)
    assert cam.shape == (SIZE, SIZE) and 0 <= category < len(CLASSES)
    assert np.ptp(cam) > 0.1, "the CAM is constant"


@pytest.mark.parametrize(("name", "aux"), [("lraspp_mobilenet_v3_large", False),
                                           ("deeplabv3_mobilenet_v3_large", True)])
@pytest.mark.parametrize("record_classes", [True, False])
def test_a_torchvision_seed_checkpoint_is_explained_at_its_backbone(tmp_path: Path, name: str, aux: bool,
                                                                     record_classes: bool) -> None:
    """With or without `num_classes` recorded: the class count is the head's last convolution's."""
    written = torchvision_seed(tmp_path, name, record_classes=record_classes, aux=aux)
    _assert_explained(load_model(written.path), written)


@pytest.mark.slow
def test_an_fcn_resnet50_seed_checkpoint_is_explained_at_layer4(tmp_path: Path) -> None:
    written = torchvision_seed(tmp_path, "fcn_resnet50", record_classes=False)
    _assert_explained(load_model(written.path), written)


def test_a_pickled_torchvision_segmentation_module_loads_with_trust(tmp_path: Path) -> None:
    """Its forward's `{"out", "aux"}` dict becomes the logits; no class names recorded: none used."""
    written = torchvision_pickled(tmp_path)
    with pytest.raises(CheckpointError, match="--trust-checkpoint"):
        load_model(written.path)
    loaded = load_model(ModelOptions(path=written.path, trust_checkpoint=True, img_size=SIZE))
    _assert_explained(loaded, written, class_names=None)


@pytest.mark.parametrize("key", ["unet", "fpn", "deeplabv3plus"])
def test_an_smp_save_pretrained_folder_is_explained_at_its_encoders_last_stage(tmp_path: Path, key: str) -> None:
    written = smp_folder(tmp_path, key)
    loaded = load_model(ModelOptions(path=written.path, img_size=SIZE))
    assert loaded.model_name.startswith("smp.") and loaded.rebuild is not None
    _assert_explained(loaded, written, class_names=None)


@pytest.mark.slow
def test_an_smp_folder_with_smps_own_resnet_encoder_is_explained_at_layer_2_of_3(tmp_path: Path) -> None:
    written = smp_folder(tmp_path, "unet_resnet18")
    _assert_explained(load_model(ModelOptions(path=written.path, img_size=SIZE)), written, class_names=None)


@pytest.mark.parametrize(("key", "record_classes"), [("unet", True), ("deeplabv3plus", False)])
def test_an_smp_state_dict_naming_its_architecture_is_explained(tmp_path: Path, key: str,
                                                               record_classes: bool) -> None:
    """`model_name: "smp.<Arch>"` with the constructor's `model_args`; `classes` left out: the head's rows."""
    written = smp_state_dict(tmp_path, key, record_classes=record_classes)
    _assert_explained(load_model(written.path), written)


def test_an_smp_folder_is_not_read_as_a_timm_or_transformers_folder(tmp_path: Path) -> None:
    written = smp_folder(tmp_path, "unet")
    found = model_file(written.path)
    assert found.kind is FileKind.SAFETENSORS and found.path.name == "model.safetensors"
    assert found.config == written.path / "config.json"
    ckpt = read_checkpoint(written.path / "model.safetensors")  # the weights file given: its config beside it
    assert (ckpt.model_name, ckpt.num_classes, ckpt.in_chans) == ("smp.Unet", len(CLASSES), 3)
    assert ckpt.model_args is not None and ckpt.model_args["encoder_weights"] is None  # nothing is fetched


def test_an_smp_checkpoint_without_the_extra_says_what_to_install(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    written = smp_state_dict(tmp_path, "unet")
    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)  # as if not installed: import fails
    with pytest.raises(CheckpointError, match=r'segmentation_models_pytorch model \(smp\.Unet\).*'
                                              r'pip install "camviz\[segmentation\]"') as error:
        load_model(written.path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["segformer", "upernet", "dpt", "mobilevit"])
def test_a_transformers_segmentation_folder_is_explained(tmp_path: Path, name: str) -> None:
    """`architectures` choose `AutoModelForSemanticSegmentation`; `id2label` names the classes; the logits are read
    at the input's size; the preprocessor's size is the input's."""
    written = hf_folder(tmp_path, name)
    loaded = load_model(written.path)
    assert type(loaded.model).__name__.endswith("ForSemanticSegmentation")
    assert loaded.input.size == (SIZE, SIZE) and loaded.input.mean == (0.5,) * 3
    _assert_explained(loaded, written)


@pytest.mark.parametrize(("recorded", "task"), [("segmentation", Task.segmentation), ("classification", Task.classification),
                                                ("multiclass", None), (3, None)])
def test_a_recorded_task_is_read_when_it_names_one_of_camvizs(tmp_path: Path, recorded: object,
                                                              task: Task | None) -> None:
    """A top-level `task`; torchmetrics' `task="multiclass"` (or anything else) is someone else's word: left alone."""
    assert read_metadata({"task": recorded}, tmp_path / "ckpt.pth")["task"] is task


def test_a_recorded_task_wins_over_the_dry_forward(tmp_path: Path) -> None:
    """A segmentation checkpoint recorded as a classifier's is described as the checkpoint says."""
    written = torchvision_seed(tmp_path, "lraspp_mobilenet_v3_large")
    torch.save({**torch.load(written.path), "task": "classification"}, written.path)
    assert load_model(written.path).task is Task.classification
    torch.save({**torch.load(written.path), "task": "segmentation"}, written.path)
    assert load_model(written.path).task is Task.segmentation


@pytest.mark.parametrize("source", ["torchvision", "smp", "transformers"])
def test_camviz_layers_shows_a_segmentation_models_target(tmp_path: Path, source: str) -> None:
    """`camviz layers --json` on one checkpoint of each source: the family row and the layer it found."""
    written = {"torchvision": lambda: torchvision_seed(tmp_path, "lraspp_mobilenet_v3_large"),
               "smp": lambda: smp_folder(tmp_path, "unet"),
               "transformers": lambda: hf_folder(tmp_path, "segformer")}[source]()
    info = json.loads(invoke_ok("layers", "--model-path", written.path, "--img-size", SIZE, "--json").stdout)
    assert (info["family"], info["target_layers"], info["num_classes"]) == (written.family, [written.layer], 3)


def test_target_layer_still_overrides_the_lookup_for_a_segmentation_model(tmp_path: Path) -> None:
    """`--target-layer` on smp's decoder's last block: taken, read as a map at the input's size."""
    loaded = load_model(smp_state_dict(tmp_path, "unet").path)
    targets = resolve_targets(loaded.model, loaded.model_name, override=["decoder.blocks.-1"], img_size=SIZE)
    assert (targets.family, targets.names, targets.warning) == ("override", ["decoder.blocks.2"], None)
    assert targets.layer_reshapes[0] is not None and targets.layer_reshapes[0].grid == (SIZE, SIZE)


@pytest.mark.slow
@pytest.mark.parametrize(("encoder", "layer"), [("tu-convnext_atto", "encoder.model.stages_3"),
                                                ("mit_b0", "encoder.norm4"),  # smp's SegFormer encoder
                                                ("efficientnet-b0", "encoder._blocks.15")])
def test_an_smp_encoders_last_stage_is_found_without_a_table(encoder: str, layer: str) -> None:
    """The last encoder module whose output has the encoder's last channel count, on its coarsest grid."""
    import segmentation_models_pytorch as smp

    from camviz.discovery.logits import returning_logits

    torch.manual_seed(0)
    model = returning_logits(smp.create_model("Unet", encoder_name=encoder, encoder_weights=None, classes=3).eval())
    targets = resolve_targets(model, "smp.Unet", img_size=SIZE)
    assert (targets.family, targets.names, targets.warning) == ("smp", [layer], None)
