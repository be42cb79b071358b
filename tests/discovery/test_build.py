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


def _lightning_ckpt(path: Path, networks: tuple[str, ...]) -> dict[str, torch.nn.Module]:
    """A real Lightning run (two steps, the first network trained, the others left as built) whose module holds a
    `test_resnet` under each attribute name in `networks`; returns the networks by name."""
    import copy

    import lightning
    import timm

    class Wrapper(lightning.LightningModule):
        def __init__(self, model_name: str = "test_resnet", num_classes: int = 3) -> None:
            super().__init__()
            self.save_hyperparameters()
            first = timm.create_model(model_name, pretrained=False, num_classes=num_classes)
            setattr(self, networks[0], first)
            for name in networks[1:]:
                setattr(self, name, copy.deepcopy(first).requires_grad_(False))

        def training_step(self, batch: tuple, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(getattr(self, networks[0])(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(getattr(self, networks[0]).parameters(), lr=0.5)

    torch.manual_seed(0)
    module = Wrapper()
    data = torch.utils.data.TensorDataset(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    trainer = lightning.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=2))
    trainer.save_checkpoint(path)
    return {name: getattr(module, name) for name in networks}


def _same_weights(loaded: torch.nn.Module, network: torch.nn.Module) -> bool:
    ours = loaded.state_dict()
    return all(torch.equal(ours[key], value) for key, value in network.state_dict().items())


@pytest.mark.slow
def test_lightning_student_and_teacher_is_one_line_naming_both_and_state_prefix_chooses(tmp_path: Path) -> None:
    path = tmp_path / "distill.ckpt"
    networks = _lightning_ckpt(path, ("student", "teacher"))
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
    networks = _lightning_ckpt(path, ("model", "ema"))
    assert not _same_weights(networks["model"], networks["ema"])

    loaded = load_model(path)
    assert _same_weights(loaded.model, networks["model"])
    assert any("`model.`" in note and "`ema.`" in note for note in loaded.notes), loaded.notes
    assert _same_weights(load_model(ModelOptions(path=path, ema=True)).model, networks["ema"])


@pytest.mark.slow
def test_ema_flag_picks_a_lightning_model_ema_prefix(tmp_path: Path) -> None:
    path = tmp_path / "model_ema.ckpt"
    networks = _lightning_ckpt(path, ("model", "model_ema"))

    assert _same_weights(load_model(ModelOptions(path=path, ema=True)).model, networks["model_ema"])
    assert _same_weights(load_model(path).model, networks["model"])


def test_ema_flag_without_any_ema_weights_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.ckpt"
    _lightning_ckpt(path, ("model",))

    with pytest.raises(CheckpointError, match=r"no EMA weights .*drop --ema"):
        load_model(ModelOptions(path=path, ema=True))
