"""camviz.discovery.plugins: a `.py` file or an importable module registers models with timm, imported once; a
plugin that fails, exits or is missing is one line that names it."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from camviz import load_model
from camviz.discovery.options import ModelOptions
from camviz.discovery.plugins import import_plugins
from camviz.errors import CamvizError, UsageError

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


def test_plugin_file_registers_its_model_and_is_imported_once(tmp_path: Path) -> None:
    plugin = tmp_path / "my_models.py"
    plugin.write_text(PLUGIN.replace("{name}", "tinynet_filetest"))
    import_plugins([str(plugin)])
    weights = timm.create_model("tinynet_filetest", num_classes=2).state_dict()
    torch.save({"model_name": "tinynet_filetest", "state_dict": weights}, tmp_path / "ckpt.pth")

    loaded = load_model(ModelOptions(path=tmp_path / "ckpt.pth", plugins=(str(plugin),)))

    assert type(loaded.model).__name__ == "TinyNet" and loaded.num_classes == 2
    assert plugin.with_suffix(".imported").read_text() == "x"


def _plugin_package(package: Path, model_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An importable package `{package.name}.nets` whose import registers `model_name` with timm."""
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(PLUGIN.replace("{name}", model_name))
    monkeypatch.syspath_prepend(str(package.parent))


def test_plugin_module_is_imported_by_dotted_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_package(tmp_path / "camviz_test_pkg", "tinynet_pkgtest", monkeypatch)

    import_plugins(["camviz_test_pkg.nets"])

    assert timm.is_model("tinynet_pkgtest")


def test_a_plugin_the_checkpoint_records_registers_its_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "camviz_recorded_pkg"
    _plugin_package(package, "tinynet_recorded", monkeypatch)
    source = tmp_path / "source.py"  # built from a file, so the module itself is imported only by the checkpoint
    source.write_text(PLUGIN.replace("{name}", "tinynet_recorded_source"))
    import_plugins([str(source)])
    weights = timm.create_model("tinynet_recorded_source", num_classes=2).state_dict()
    torch.save({"model_name": "tinynet_recorded", "plugins": ["camviz_recorded_pkg.nets"], "state_dict": weights},
               tmp_path / "ckpt.pth")
    assert not timm.is_model("tinynet_recorded")

    loaded = load_model(ModelOptions(path=tmp_path / "ckpt.pth"))

    assert type(loaded.model).__name__ == "TinyNet" and loaded.num_classes == 2
    assert (package / "nets.imported").read_text() == "x"


def test_plugin_errors_are_one_line_and_name_the_plugin(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ValueError('boom')\n")

    with pytest.raises(UsageError, match="plugin file not found"):
        import_plugins([str(tmp_path / "absent.py")])
    with pytest.raises(UsageError, match=r"cannot import plugin 'no_such_pkg\.models'"):
        import_plugins(["no_such_pkg.models"])
    with pytest.raises(CamvizError, match=r"broken\.py failed while importing: ValueError: boom"):
        import_plugins([str(broken)])
