"""camviz.discovery.build: a model name becomes an `nn.Module` (timm, then torchvision) fitted to its weights, or
one line that names the mismatch or the names that are close."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from camviz import load_model
from camviz.discovery.options import ModelOptions
from camviz.errors import CheckpointError, UsageError
from tests.support.checkpoints import save_timm_weights
from tests.support.lightning_checkpoints import lightning_checkpoint


def test_model_name_overrides_the_checkpoint_and_mismatches_name_keys(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, model_name="resnet34")

    with pytest.raises(CheckpointError, match=r"resnet34 \(timm\) does not fit its weights: missing layer1\.2\.conv1\.weight"):
        load_model(path)
    assert load_model(ModelOptions(path=path, name="resnet18")).model_name == "resnet18"


def test_recorded_class_count_that_disagrees_with_the_weights_names_the_shapes(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, num_classes=7, model_name="resnet18")
    torch.save({**torch.load(path), "num_classes": 5}, path)

    with pytest.raises(CheckpointError, match=r"shape fc\.weight \(7, 512\) vs model \(5, 512\)"):
        load_model(path)


def test_unknown_model_name_suggests_close_names(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    save_timm_weights(path)

    with pytest.raises(UsageError, match=r"unknown model 'resnet_18'.*did you mean.*resnet18.*--plugin"):
        load_model(ModelOptions(path=path, name="resnet_18"))


@pytest.mark.slow
def test_googlenet_without_aux_heads_builds_without_them(tmp_path: Path) -> None:
    path = tmp_path / "googlenet.pth"
    model = torchvision.models.googlenet(weights=None, num_classes=4, aux_logits=False, init_weights=False)
    torch.save({"model_name": "googlenet", "state_dict": model.state_dict()}, path)

    loaded = load_model(path)

    assert loaded.model.aux1 is None and loaded.num_classes == 4


def _same_weights(loaded: torch.nn.Module, network: torch.nn.Module) -> bool:
    ours = loaded.state_dict()
    return all(torch.equal(ours[key], value) for key, value in network.state_dict().items())


@pytest.mark.slow
def test_lightning_student_and_teacher_is_one_line_naming_both_and_state_prefix_chooses(tmp_path: Path) -> None:
    path = tmp_path / "distill.ckpt"
    networks = lightning_checkpoint(path, ("student", "teacher"))
    assert not _same_weights(networks["student"], networks["teacher"]), "training moved the student"

    with pytest.raises(UsageError, match=r"several prefixes: `student\.`, `teacher\.`; choose one with --state-prefix"):
        load_model(path)
    for name in ("teacher", "student."):
        loaded = load_model(ModelOptions(path=path, state_prefix=name))
        assert _same_weights(loaded.model, networks[name.rstrip(".")]), name
    with pytest.raises(UsageError, match=r"--state-prefix 'tutor' does not hold.*`student\.`, `teacher\.`"):
        load_model(ModelOptions(path=path, state_prefix="tutor"))


@pytest.mark.slow
def test_lightning_model_beside_a_plain_ema_copy_loads_the_live_network_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ema.ckpt"
    networks = lightning_checkpoint(path, ("model", "ema"))
    assert not _same_weights(networks["model"], networks["ema"])

    loaded = load_model(path)
    assert _same_weights(loaded.model, networks["model"])
    assert any("`model.`" in note and "`ema.`" in note for note in loaded.notes), loaded.notes
    assert _same_weights(load_model(ModelOptions(path=path, ema=True)).model, networks["ema"])


@pytest.mark.slow
def test_ema_flag_picks_a_lightning_model_ema_prefix(tmp_path: Path) -> None:
    path = tmp_path / "model_ema.ckpt"
    networks = lightning_checkpoint(path, ("model", "model_ema"))

    assert _same_weights(load_model(ModelOptions(path=path, ema=True)).model, networks["model_ema"])
    assert _same_weights(load_model(path).model, networks["model"])


def test_ema_flag_without_any_ema_weights_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.ckpt"
    lightning_checkpoint(path, ("model",))

    with pytest.raises(CheckpointError, match=r"no EMA weights .*drop --ema"):
        load_model(ModelOptions(path=path, ema=True))
