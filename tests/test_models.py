"""camviz.models: building the architecture from a name (timm, torchvision, plugins) and loading weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision

from camviz import load_model
from camviz.errors import CamvizError, CheckpointError, UsageError
from camviz.discovery.plugins import import_plugins

IMAGENET_MEAN = (0.485, 0.456, 0.406)

PLUGIN = '''
from pathlib import Path
from torch import nn
from timm.models import build_model_with_cfg, register_model

Path(__file__).with_suffix(".imported").open("a").write("x")  # counts imports


class TinyNet(nn.Module):
    def __init__(self, num_classes=1000, in_chans=3):
        super().__init__()
        self.num_classes = num_classes
        self.stages = nn.Sequential(nn.Sequential(nn.Conv2d(in_chans, 4, 3, stride=2), nn.ReLU()))
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.stages(x).mean((2, 3)))


@register_model
def {name}(pretrained=False, **kwargs):
    return build_model_with_cfg(TinyNet, "{name}", pretrained, **kwargs)
'''


def _save_resnet18(path: Path, num_classes: int = 7, **meta: object) -> dict[str, torch.Tensor]:
    weights = timm.create_model("resnet18", num_classes=num_classes).state_dict()
    torch.save({"state_dict": weights, **meta} if meta else weights, path)
    return weights


def test_bare_state_dict_needs_a_model_name_and_infers_the_class_count(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    weights = _save_resnet18(path)

    with pytest.raises(UsageError, match="--model-name"):
        load_model(path)
    loaded = load_model(path, "resnet18")

    assert (loaded.model_name, loaded.num_classes, loaded.class_names) == ("resnet18", 7, None)
    assert torch.equal(loaded.model.fc.weight, weights["fc.weight"]) and not loaded.model.training


def test_model_name_overrides_the_checkpoint_and_mismatches_name_keys(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    _save_resnet18(path, model_name="resnet34")

    with pytest.raises(CheckpointError, match=r"resnet34 \(timm\) does not fit its weights: missing layer1\.2\.conv1\.weight"):
        load_model(path)
    assert load_model(path, model_name="resnet18").model_name == "resnet18"


def test_recorded_class_count_that_disagrees_with_the_weights_names_the_shapes(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    _save_resnet18(path, num_classes=7, model_name="resnet18")
    torch.save({**torch.load(path), "num_classes": 5}, path)

    with pytest.raises(CheckpointError, match=r"shape fc\.weight \(7, 512\) vs model \(5, 512\)"):
        load_model(path)


def test_unknown_model_name_suggests_close_names(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    _save_resnet18(path)

    with pytest.raises(UsageError, match=r"unknown model 'resnet_18'.*did you mean.*resnet18.*--plugin"):
        load_model(path, "resnet_18")


def test_input_config_comes_from_checkpoint_then_model_then_imagenet(tmp_path: Path) -> None:
    plain, recorded, vit = tmp_path / "plain.pth", tmp_path / "recorded.pth", tmp_path / "vit.pth"
    _save_resnet18(plain, model_name="resnet18")
    _save_resnet18(recorded, model_name="resnet18", img_size=96, mean=(0.1, 0.2, 0.3), std=[0.5])
    torch.save({"arch": "vit_tiny_patch16_224", "img_size": 64,
                "state_dict": timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=2).state_dict()}, vit)

    defaults, custom, token = load_model(plain), load_model(recorded), load_model(vit)

    assert (defaults.input.img_size, defaults.input.mean) == (224, IMAGENET_MEAN)
    assert (custom.input.img_size, custom.input.mean, custom.input.std) == (96, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    assert (token.input.img_size, token.input.mean, token.num_classes) == (64, (0.5, 0.5, 0.5), 2)  # mean: vit's own config
    assert tuple(token.model.patch_embed.grid_size) == (4, 4)  # built at the checkpoint's size


def test_googlenet_without_aux_heads_builds_without_them(tmp_path: Path) -> None:
    path = tmp_path / "googlenet.pth"
    model = torchvision.models.googlenet(weights=None, num_classes=4, aux_logits=False, init_weights=False)
    torch.save({"model_name": "googlenet", "state_dict": model.state_dict()}, path)

    loaded = load_model(path)

    assert loaded.model.aux1 is None and loaded.num_classes == 4


def test_pickled_module_loads_only_when_trusted(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(torchvision.models.resnet18(num_classes=3), path)

    with pytest.raises(CheckpointError, match="--trust-checkpoint"):
        load_model(path)
    loaded = load_model(path, trust_checkpoint=True)

    assert (loaded.model_name, loaded.num_classes, loaded.model.training) == ("ResNet", 3, False)


def test_plugin_file_registers_its_model_and_is_imported_once(tmp_path: Path) -> None:
    plugin = tmp_path / "my_models.py"
    plugin.write_text(PLUGIN.replace("{name}", "tinynet_filetest"))
    import_plugins([str(plugin)])
    weights = timm.create_model("tinynet_filetest", num_classes=2).state_dict()
    torch.save({"model_name": "tinynet_filetest", "state_dict": weights}, tmp_path / "ckpt.pth")

    loaded = load_model(tmp_path / "ckpt.pth", plugins=[str(plugin)])

    assert type(loaded.model).__name__ == "TinyNet" and loaded.num_classes == 2
    assert plugin.with_suffix(".imported").read_text() == "x"


def test_plugin_module_is_imported_by_dotted_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "camviz_test_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(PLUGIN.replace("{name}", "tinynet_pkgtest"))
    monkeypatch.syspath_prepend(str(tmp_path))

    import_plugins(["camviz_test_pkg.nets"])

    assert timm.is_model("tinynet_pkgtest")


def test_plugin_errors_are_one_line_and_name_the_plugin(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ValueError('boom')\n")

    with pytest.raises(UsageError, match="plugin file not found"):
        import_plugins([str(tmp_path / "absent.py")])
    with pytest.raises(UsageError, match="cannot import plugin 'no_such_pkg.models'"):
        import_plugins(["no_such_pkg.models"])
    with pytest.raises(CamvizError, match="broken.py failed while importing: ValueError: boom"):
        import_plugins([str(broken)])
