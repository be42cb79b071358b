"""camviz.discovery.layers: each family, loaded from a real checkpoint file, resolves to its documented layer, and
Grad-CAM on that layer gives a non-constant map on the expected feature grid; overrides, timm's feature_info and
the spatial fallback."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from safetensors.torch import save_file
from torch import nn

from camviz import CamEngine, find_target_layers, load_model, resolve_targets
from camviz.cam.randomise import fill_zero_init
from camviz.discovery.layers import candidate_layers, get_submodule
from camviz.discovery.options import ModelOptions
from camviz.errors import TargetLayerError, UsageError
from tests.support.cams import assert_gradcam_map
from tests.support.checkpoints import tiny_timm

PLUGIN = '''
from torch import nn
from timm.models import build_model_with_cfg, register_model


def _block(chans):
    return nn.Sequential(nn.Conv2d(chans, chans, 3, padding=1), nn.BatchNorm2d(chans), nn.GELU())


def _stage(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 2, stride=2), _block(c_out), _block(c_out)[:2])


class _FourStages(nn.Module):
    """Four plain Sequential stages (downsample, block, block)."""

    def __init__(self, num_classes=1000, in_chans=3, dims=(8, 16, 24, 32)):
        super().__init__()
        self.num_classes = num_classes
        chans = (in_chans,) + tuple(dims)
        self.stages = nn.Sequential(*[_stage(chans[i], chans[i + 1]) for i in range(4)])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        return self.head(self.stages(x).mean((2, 3)))


class StarNeXt(_FourStages):
    """Like the private StarNeXt: `stages` is a Sequential of Sequentials."""


class StarNet(_FourStages):
    """The official StarNet keeps its stages in a ModuleList."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stages = nn.ModuleList(list(self.stages))

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.head(x.mean((2, 3)))


class MogaNet(_FourStages):
    """The official MogaNet names its stages patch_embed{i}, blocks{i} (a ModuleList) and norm{i}."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for i, stage in enumerate(self.stages, 1):
            self.add_module(f"patch_embed{i}", stage[0])
            self.add_module(f"blocks{i}", nn.ModuleList(list(stage)[1:]))
            self.add_module(f"norm{i}", nn.BatchNorm2d(stage[0].out_channels))
        del self.stages

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"blocks{i}"):
                x = block(x)
            x = getattr(self, f"norm{i}")(x)
        return self.head(x.mean((2, 3)))


@register_model
def starnext_test(pretrained=False, **kwargs):
    return build_model_with_cfg(StarNeXt, "starnext_test", pretrained, **kwargs)


@register_model
def starnet_test(pretrained=False, **kwargs):
    return build_model_with_cfg(StarNet, "starnet_test", pretrained, **kwargs)


@register_model
def moganet_test(pretrained=False, **kwargs):
    return build_model_with_cfg(MogaNet, "moganet_test", pretrained, **kwargs)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A user plugin file registering StarNeXt/StarNet/MogaNet-style models with timm."""
    path = tmp_path_factory.mktemp("plugin") / "my_models.py"
    path.write_text(PLUGIN)
    return str(path)


# (source, model name, build kwargs, input size, family, resolved layer, feature grid side)
MATRIX = [
    ("timm", "resnet18", {}, 64, "resnet", "layer4.1", 2),
    ("torchvision", "resnet18", {}, 64, "resnet", "layer4.1", 2),
    ("timm", "densenet121", {}, 64, "densenet", "features.norm5", 2),
    ("torchvision", "densenet121", {}, 64, "densenet", "features.norm5", 2),
    ("timm", "mobilenetv3_small_050", {}, 64, "mobilenet", "blocks.5", 2),
    ("torchvision", "mobilenet_v3_small", {}, 64, "mobilenet", "features.12", 2),
    ("torchvision", "mobilenet_v2", {}, 64, "mobilenet", "features.18", 2),
    ("timm", "efficientnet_b0", {}, 64, "efficientnet", "blocks.6", 2),
    ("torchvision", "efficientnet_b0", {}, 64, "efficientnet", "features.8", 2),
    ("timm", "inception_v3", {}, 128, "inception_v3", "Mixed_7c", 2),
    ("torchvision", "inception_v3", {"init_weights": False}, 128, "inception_v3", "Mixed_7c", 2),  # with AuxLogits
    ("torchvision", "googlenet", {"init_weights": False}, 64, "googlenet", "inception5b", 2),  # with aux1/aux2
    ("timm", "convnextv2_atto", {}, 64, "convnext", "stages.3.blocks.1", 2),
    ("torchvision", "convnext_tiny", {}, 64, "convnext", "features.7.2", 2),
    ("timm", "vit_tiny_patch16_224", {"img_size": 64}, 64, "vit", "blocks.11.norm1", 4),
    ("timm", "deit_tiny_distilled_patch16_224", {"img_size": 96}, 96, "vit", "blocks.11.norm1", 6),  # 2 prefix tokens
    ("timm", "swin_tiny_patch4_window7_224", {"img_size": 96}, 96, "swin", "layers.3.blocks.1", 3),
    ("torchvision", "swin_t", {}, 64, "swin", "features.7.1", 2),
    ("plugin", "starnext_test", {}, 64, "starnext", "stages.3.2", 4),
    ("plugin", "starnet_test", {}, 64, "starnet", "stages.3.2", 4),
    ("plugin", "moganet_test", {}, 64, "moganet", "blocks4.1", 4),
]


# torchvision checkpoints whose key layout timm's same-named model shares load through timm (timm comes first)
BUILT_BY = {("torchvision", "resnet18"): "timm", ("torchvision", "densenet121"): "timm"}


def _build(source: str, name: str, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    if source == "torchvision":
        return torchvision.models.get_model(name, weights=None, num_classes=3, **kwargs)
    return timm.create_model(name, pretrained=False, num_classes=3, **kwargs)


@pytest.mark.parametrize(
    ("source", "name", "kwargs", "size", "family", "layer", "grid"), MATRIX, ids=[f"{m[0]}-{m[1]}" for m in MATRIX]
)
@pytest.mark.slow
def test_family_checkpoint_resolves_and_explains(
    *, tmp_path: Path, plugin: str, source: str, name: str, kwargs: dict, size: int, family: str, layer: str, grid: int
) -> None:
    plugins = [plugin] if source == "plugin" else []
    if plugins:
        from camviz.discovery.plugins import import_plugins

        import_plugins(plugins)
    model = _build(source, name, **kwargs)
    path = tmp_path / f"{name}.pth"
    extra = {"img_size": size} if "img_size" in kwargs else {}
    torch.save({"model_name": name, "state_dict": model.state_dict(), **extra}, path)  # num_classes left out

    loaded = load_model(ModelOptions(path=path, plugins=tuple(plugins)))
    targets = resolve_targets(loaded.model, loaded.model_name, img_size=size)

    assert (targets.family, targets.names, loaded.num_classes) == (family, [layer], 3)
    assert targets.modules == [get_submodule(loaded.model, layer)]
    assert type(loaded.model).__module__.startswith(BUILT_BY.get((source, name), source.replace("plugin", "camviz_plugin")))
    assert_gradcam_map(loaded.model, targets, size, grid)


def _formats(model: nn.Module) -> dict[str, tuple[str, object, str | None]]:
    """The same resnet18 weights as real training scripts and wrappers save them: (suffix, content, --model-name)."""
    weights = model.state_dict()
    args = argparse.Namespace(model="resnet18", num_classes=3, input_size=None, mean=None)
    return {
        "timm-train": (".pth.tar", {"epoch": 1, "arch": "resnet18", "args": args, "state_dict": weights,
                                    "state_dict_ema": {k: v.clone() for k, v in weights.items()}}, None),
        "dataparallel": (".pth", {"model_name": "resnet18", "state_dict": {f"module.{k}": v for k, v in weights.items()}}, None),
        "torch-compile": (".pt", {"model_name": "resnet18", "model": {f"_orig_mod.{k}": v for k, v in weights.items()}}, None),
        "bare": (".pth", weights, "resnet18"),
        "safetensors": (".safetensors", weights, "resnet18"),
    }


@pytest.mark.parametrize("kind", ["timm-train", "timm-train-ema", "dataparallel", "torch-compile", "bare", "safetensors"])
@pytest.mark.slow
def test_checkpoint_formats_resolve_and_explain(tmp_path: Path, kind: str) -> None:
    use_ema = kind.endswith("-ema")
    model = _build("timm", "resnet18")
    suffix, content, model_name = _formats(model)[kind.removesuffix("-ema")]
    path = tmp_path / f"ckpt{suffix}"
    save_file(content, str(path)) if suffix == ".safetensors" else torch.save(content, path)

    loaded = load_model(ModelOptions(path=path, name=model_name, ema=use_ema))
    targets = resolve_targets(loaded.model, loaded.model_name, img_size=64)

    assert torch.equal(loaded.model.fc.weight, model.fc.weight)
    assert (loaded.model_name, targets.family, targets.names) == ("resnet18", "resnet", ["layer4.1"])
    assert_gradcam_map(loaded.model, targets, 64, 2)


@pytest.mark.parametrize(
    ("build", "layer"),
    [(torchvision.models.resnet18, "layer4.1"), (torchvision.models.densenet121, "features.norm5")],
    ids=["resnet18", "densenet121"],
)
@pytest.mark.slow
def test_torchvision_classes_are_recognised_without_a_name(build: object, layer: str) -> None:
    assert resolve_targets(build(num_classes=3)).names == [layer]


@pytest.mark.parametrize(
    ("path", "name"),
    [("layer4.-1", "layer4.1"), ("layer4[-1]", "layer4.1"), ("layer3[0].conv1", "layer3.0.conv1"), ("layer2.1", "layer2.1")],
)
def test_override_paths_accept_dotted_negative_and_bracket_forms(path: str, name: str) -> None:
    model = torchvision.models.resnet18(num_classes=3)

    targets = resolve_targets(model, override=[path, "layer3"])

    assert (targets.family, targets.names) == ("override", [name, "layer3"])


def test_unknown_override_path_lists_nearby_names() -> None:
    model = torchvision.models.resnet18(num_classes=3)

    with pytest.raises(UsageError, match=r"'layer5'.*children: conv1.*did you mean layer"):
        resolve_targets(model, override=["layer5.-1"])
    with pytest.raises(UsageError, match="not a child of layer4"):
        get_submodule(model, "layer4.7")


@pytest.mark.slow
def test_feature_info_is_used_when_no_family_matches() -> None:
    model = timm.create_model("regnetx_002", num_classes=3)  # RegNet: not in the table

    targets = resolve_targets(model, "regnetx_002")

    assert (targets.family, targets.names) == ("feature_info", [model.feature_info[-1]["module"]])


def test_fallback_finds_last_spatial_output_and_restores_training_mode() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2)).train()

    targets = resolve_targets(model, img_size=16)

    assert (targets.family, targets.names) == ("fallback", ["2"])
    assert find_target_layers(model) == [model[2]]
    assert candidate_layers(model, 16) == [("0", (1, 4, 16, 16)), ("1", (1, 4, 16, 16)), ("2", (1, 6, 7, 7))]
    assert model.training


def test_no_spatial_layer_gives_the_target_layer_advice() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()

    with pytest.raises(TargetLayerError, match=r"cannot find target layer.*1, 192.*--target-layer"):
        resolve_targets(model, img_size=8)
    assert not model.training


@pytest.mark.slow
def test_find_target_layers_alone_works_with_gradcam_on_vit_and_swin() -> None:
    """The README's API example: `GradCAM(model, target_layers=find_target_layers(model))`, no reshape given."""
    for name, size in (("test_vit", 64), ("swin_tiny_patch4_window7_224", 64)):
        model = tiny_timm(name, num_classes=3, img_size=size) if name == "test_vit" else tiny_timm(
            name, num_classes=3, img_size=size, window_size=2, embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
        x = torch.randn(2, 3, size, size)
        with GradCAM(model, target_layers=find_target_layers(model, name, img_size=size)) as cam:
            maps = cam(input_tensor=x, targets=None)
        assert maps.shape == (2, size, size) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0
        targets = resolve_targets(model, name, img_size=size)  # the same maps as with an explicit reshape_transform
        with GradCAM(model, target_layers=targets.modules, reshape_transform=targets.reshape_transform) as cam:
            np.testing.assert_allclose(maps, cam(input_tensor=x, targets=None), atol=1e-5)
        with torch.no_grad():  # the hooks are gone and the model's outputs are its own
            assert torch.allclose(model(torch.ones(1, 3, size, size)), model(torch.ones(1, 3, size, size)))




def _timm(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, pretrained=False, num_classes=3, **kwargs)


def _timm_class(module: str, cls: str, *args: object, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: getattr(importlib.import_module(f"timm.models.{module}"), cls)(*args, num_classes=3, **kwargs)


# issue 21, each cause on a small real timm model of that family:
# (id, build, input size, rule that decides, target layer, reshape, the map's grid at that size)
CAUSES = [
    # token outputs: split into prefix tokens and a grid from the input size and the token count
    ("mixer", _timm_class("mlp_mixer", "MlpMixer", img_size=64, num_blocks=2, embed_dim=32), 64,
     "feature_info", "blocks.1", "vit", (4, 4)),
    ("levit", _timm("levit_128s", img_size=128), 128, "feature_info", "stages.2", "vit", (2, 2)),
    ("efficientformer", _timm("efficientformer_l1", depths=(1, 1, 1, 1), embed_dims=(16, 16, 16, 32), num_vit=1), 224,
     "feature_info", "stages.3", "vit", (7, 7)),
    ("hiera", _timm("hiera_tiny_224", img_size=(64, 64), embed_dim=16, stages=(1, 1, 1, 1)), 64,
     "feature_info", "blocks.3", "vit", (2, 2)),
    # tuple and list outputs: the element holding the map, the highest-resolution branch
    ("pit", _timm("pit_ti_224", img_size=64), 64, "timm_token_pool", "transformers.2.blocks.3.norm1", "vit", (2, 2)),
    ("efficientvim", _timm("efficientvim_m1"), 128, "feature_info", "stages.2", "item0", (2, 2)),
    ("crossvit", _timm("crossvit_tiny_240", depth=[[1, 1, 0]], embed_dim=[16, 32], num_heads=[1, 1]), 240,
     "timm_token_pool", "blocks.0.fusion.1.norm1", "vit", (20, 20)),
    ("hrnet", _timm("hrnet_w18_small"), 64, "feature_info", "stage4", "item0", (16, 16)),
    ("tnt", _timm("tnt_s_legacy_patch16_224", img_size=64, depth=2), 64, "timm_token_pool", "blocks.1.norm_out", "vit",
     (4, 4)),
    # prefix tokens: none in XCiT's and CaiT's blocks, the class token joins later (the last pre-norm reads it)
    ("xcit", _timm("xcit_nano_12_p8_224", img_size=32, depth=2), 32, "timm_token_pool", "cls_attn_blocks.1.norm1",
     "vit", (4, 4)),
    ("cait", _timm("cait_xxs24_224", img_size=32, depth=2, embed_dim=48, num_heads=2), 32, "timm_token_pool",
     "blocks_token_only.1.norm1", "vit", (2, 2)),
    # channels-last outputs, permuted
    ("volo", _timm_class("volo", "VOLO", img_size=64, layers=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32),
                         num_heads=(1, 1, 1, 1)), 64, "timm_token_pool", "post_network.1.norm1", "vit", (4, 4)),
    ("samvit", _timm("samvit_base_patch16_224", img_size=64, depth=2, embed_dim=32, num_heads=2,
                     global_attn_indexes=(1,), window_size=2, neck_chans=16), 64, "feature_info", "blocks.1", "nhwc",
     (4, 4)),
    ("mambaout", _timm("mambaout_femto", depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)), 64, "feature_info", "stages.3",
     "nhwc", (2, 2)),
    ("sequencer", _timm("sequencer2d_s", layers=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32), hidden_sizes=(8, 16, 16, 16)),
     64, "feature_info", "stages.3", "nhwc", (4, 4)),
    ("hieradet", _timm("sam2_hiera_tiny", embed_dim=16, stages=(1, 1, 1, 1), global_att_blocks=(), global_pos_size=(2, 2)),
     64, "feature_info", "blocks.3", "nhwc", (2, 2)),
    # feature_info names: nested under `encoder.` (found), stale (MViTv2's `block.3`: the dry forward decides)
    ("gemma4", _timm("gemma4_vit_167m", depth=2, embed_dim=32, num_heads=2), 64, "feature_info", "encoder.blocks.1",
     "vit", (4, 4)),
    ("mvitv2", _timm_class("mvitv2", "MultiScaleVit", importlib.import_module("timm.models.mvitv2").MultiScaleVitCfg(
        depths=(1, 1, 1, 1), embed_dim=16, num_heads=1), img_size=(64, 64)), 64, "fallback", "norm", "vit", (2, 2)),
    # targets the output does not depend on (the class token decides) or never called (CoaT's parallel_blocks)
    ("convit", _timm("convit_tiny", img_size=32, depth=2, local_up_to_layer=1, embed_dim=48), 32, "timm_token_pool",
     "blocks.1.norm1", "vit", (2, 2)),
    ("coat", _timm("coat_tiny", embed_dims=[32] * 4, serial_depths=[1] * 4, parallel_depth=1, num_heads=8, img_size=64),
     64, "timm_token_pool", "parallel_blocks.0.norm14", "vit", (2, 2)),
]


@pytest.mark.parametrize(("build", "size", "rule", "layer", "reshape", "grid"), [c[1:] for c in CAUSES],
                         ids=[c[0] for c in CAUSES])
@pytest.mark.slow
def test_each_timm_cause_resolves_to_a_working_map(*, build: Callable[[], nn.Module], size: int, rule: str, layer: str,
                                                   reshape: str, grid: tuple[int, int]) -> None:
    """The rule, the layer and its reshape; the README's plain GradCAM call on `find_target_layers` and camviz's own
    (modules + reshape_transform) give the same non-constant map from a (B, C, H, W) feature map on that grid."""
    torch.manual_seed(0)
    model = build().eval()
    fill_zero_init(model)  # as a trained model, no tensor left at timm's zero init

    targets = resolve_targets(model, img_size=size)

    assert (targets.family, targets.names, targets.reshape) == (rule, [layer], reshape)
    assert targets.layer_reshapes[0].grid == grid
    image = torch.randn(1, 3, size, size) * 0.5
    image[..., : size // 2] += 2.0
    with GradCAM(model, target_layers=find_target_layers(model, img_size=size)) as cam:
        for k in range(3):  # random weights: a class whose evidence is negative everywhere maps to zeros
            maps = cam(input_tensor=image, targets=[ClassifierOutputTarget(k)])
            if np.ptp(maps) > 0:
                break
        seen = tuple(cam.activations_and_grads.activations[0].shape)
    assert seen[-2:] == grid and maps.shape == (1, size, size) and np.isfinite(maps).all() and np.ptp(maps) > 0
    with GradCAM(model, target_layers=targets.modules, reshape_transform=targets.reshape_transform) as cam:
        np.testing.assert_allclose(cam(input_tensor=image, targets=[ClassifierOutputTarget(k)]), maps, atol=1e-5)
    with CamEngine(model, targets.modules, targets.reshape_transform) as engine:  # `explain`: backward stops there
        np.testing.assert_allclose(engine.compute(image, k).cams, maps, atol=1e-4)
