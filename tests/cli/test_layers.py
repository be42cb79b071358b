"""camviz.cli.commands `layers`, through the entry point: the documented JSON keys, the human view with resolution
and candidates, and one-line errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import timm
import torch
import torchvision
from safetensors.torch import save_file

from tests.support.checkpoints import save_timm_weights

PLUGIN = '''
from torch import nn
from timm.models import build_model_with_cfg, register_model


class StarNeXt(nn.Module):
    def __init__(self, num_classes=1000, in_chans=3):
        super().__init__()
        self.stages = nn.Sequential(*[nn.Sequential(nn.Conv2d(c, 8, 3, stride=2), nn.ReLU()) for c in (in_chans, 8)])
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.stages(x).mean((2, 3)))


@register_model
def starnext_cli(pretrained=False, **kwargs):
    return build_model_with_cfg(StarNeXt, "starnext_cli", pretrained, **kwargs)
'''


def test_layers_json_has_exactly_the_documented_keys(tmp_path: Path, camviz_main) -> None:
    """A timm train.py checkpoint (argparse args, EMA weights) with classes and input size recorded."""
    weights = timm.create_model("resnet18", num_classes=3).state_dict()
    path = tmp_path / "model_best.pth.tar"
    torch.save({"arch": "resnet18", "args": argparse.Namespace(model="resnet18", input_size=(3, 64, 64)),
                "state_dict": weights, "state_dict_ema": weights, "class_to_idx": {"cat": 0, "dog": 1, "eel": 2}}, path)

    result = camviz_main("layers", "--model-path", path, "--ema", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "model_name": "resnet18", "family": "resnet", "target_layers": ["layer4.1"], "reshape": None,
        "num_classes": 3, "class_names": ["cat", "dog", "eel"], "img_size": 64, "channels": 3, "output": "softmax", "task": "classification",
        "decided_by": "family row 'resnet'", "reshape_detail": "NCHW 2x2 as is", "warning": None,
    }


def test_layers_human_output_shows_resolution_and_candidates(tmp_path: Path, camviz_main) -> None:
    """A plugin model found by name, a bracket-form override, and the candidates with their shapes."""
    plugin = tmp_path / "my_models.py"
    plugin.write_text(PLUGIN)
    path = tmp_path / "starnext.safetensors"
    save_file({f"stages.{i}.0.weight": torch.randn(8, c, 3, 3) for i, c in enumerate((3, 8))}
              | {f"stages.{i}.0.bias": torch.zeros(8) for i in range(2)}
              | {"head.weight": torch.randn(4, 8), "head.bias": torch.zeros(4)}, str(path))

    result = camviz_main("layers", "--model-path", path, "--model-name", "starnext_cli", "--plugin", plugin,
                         "--target-layer", "stages[-1][0]")

    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[:2])
    assert lines == {"model": "starnext_cli", "family": "override"}
    assert "target layers  stages.1.0" in result.stdout and "num classes    4" in result.stdout
    assert "stages.1.1                               (1, 8, 55, 55)" in result.stdout  # 224 px in, two stride-2 convs


def test_layers_without_model_name_is_a_one_line_usage_error(tmp_path: Path, camviz_main) -> None:
    path = tmp_path / "bare.pth"
    save_timm_weights(path, num_classes=2)

    result = camviz_main("layers", "--model-path", path)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--model-name" in result.stderr


def test_layers_refuses_a_pickled_payload_without_trust(tmp_path: Path, camviz_main) -> None:
    target = tmp_path / "pwned.txt"

    class CreatesFile:
        def __reduce__(self) -> tuple:
            return (open, (str(target), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"model": torchvision.models.resnet18(num_classes=2), "payload": CreatesFile()}, path)

    result = camviz_main("layers", "--model-path", path, "--json")

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--trust-checkpoint" in result.stderr
    assert not target.exists()


def test_layers_prints_the_rule_the_reshape_and_a_warning(tmp_path: Path, camviz_main) -> None:
    """A ViT at 64 px: its row decides, tokens reshaped on its 4x4 grid; a `--target-layer` whose output is no map
    (the head) is kept, as asked, with a warning on stderr and in `--json`."""
    path = tmp_path / "vit.pth"
    torch.save({"model_name": "test_vit", "img_size": 64, "num_classes": 3,
                "state_dict": timm.create_model("test_vit", num_classes=3, img_size=64).state_dict()}, path)

    result = camviz_main("layers", "--model-path", path)
    override = camviz_main("layers", "--model-path", path, "--target-layer", "head", "--json")

    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "decided by     family row 'vit'" in result.stdout
    assert "reshape        vit (tokens: 1 prefix + 4x4 grid)" in result.stdout
    info = json.loads(override.stdout)
    assert (info["family"], info["target_layers"], info["decided_by"]) == ("override", ["head"], "--target-layer")
    assert "head: its output (1, 3) is not a spatial map" in info["warning"]
    assert override.returncode == 0 and override.stderr == ""  # --json: the warning is in the record


def test_layers_on_a_feature_encoder_is_one_line_naming_it(tmp_path: Path, camviz_main) -> None:
    """A model without its classification head returns tokens, not logits: one line naming the model, exit 1."""
    path = tmp_path / "encoder.pth"
    torch.save({"model_name": "test_vit", "img_size": 64, "model_args": {"global_pool": "", "num_classes": 0},
                "state_dict": timm.create_model("test_vit", num_classes=0, img_size=64).state_dict()}, path)

    result = camviz_main("layers", "--model-path", path)

    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot find target layer for test_vit: the model returns (1, 17, " in result.stderr
