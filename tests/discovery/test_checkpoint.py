"""camviz.discovery.checkpoint: weights and metadata from real checkpoint files and folders, and safe unpickling."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from camviz.discovery.checkpoint import read_checkpoint
from camviz.errors import CheckpointError


def _weights(fill: float) -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.full((4, 3, 3, 3), fill), "fc.weight": torch.full((5, 4), fill), "fc.bias": torch.zeros(5)}


def test_timm_train_checkpoint_reads_without_flags_and_picks_plain_or_ema(tmp_path: Path) -> None:
    """timm's train.py layout: arch, argparse args, optimizer state, state_dict and state_dict_ema."""
    net = nn.Linear(4, 5)
    args = argparse.Namespace(model="resnet18", num_classes=None, img_size=None, input_size=(3, 96, 96), mean=None,
                              std=None, data_dir=Path("/data"))
    path = tmp_path / "model_best.pth.tar"
    torch.save({"epoch": 3, "arch": "resnet18", "args": args, "state_dict": _weights(1.0), "metric": np.float64(0.5),
                "optimizer": torch.optim.SGD(net.parameters(), lr=0.1).state_dict(), "version": 2,
                "state_dict_ema": _weights(2.0)}, path)

    plain = read_checkpoint(path)
    ema = read_checkpoint(path, use_ema=True)

    assert plain.model_name == "resnet18" and plain.img_size == (96, 96) and plain.module is None
    assert plain.state_dict["fc.weight"].eq(1.0).all() and ema.state_dict["fc.weight"].eq(2.0).all()


def test_metadata_keys_are_read_and_class_to_idx_is_ordered_by_index(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"model_state_dict": _weights(1.0), "model_name": "densenet121", "num_classes": 5,
                "class_to_idx": {"zebra": 0, "cat": 2, "dog": 1}, "img_size": 128,
                "mean": [0.5, 0.5, 0.5], "std": torch.tensor([0.25, 0.25, 0.25])}, path)

    ckpt = read_checkpoint(path)

    assert (ckpt.model_name, ckpt.num_classes, ckpt.img_size) == ("densenet121", 5, (128, 128))
    assert ckpt.class_names == ["zebra", "dog", "cat"]
    assert ckpt.mean == (0.5, 0.5, 0.5) and ckpt.std == (0.25, 0.25, 0.25)


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("module.", "state_dict"), ("_orig_mod.", "model"), ("_orig_mod.module.", "state_dict"), ("", None)],
    ids=["dataparallel", "torch.compile", "compiled-ddp", "bare"],
)
def test_wrapper_prefixes_are_stripped(tmp_path: Path, prefix: str, key: str | None) -> None:
    weights = {prefix + name: value for name, value in _weights(1.0).items()}
    path = tmp_path / "ckpt.pt"
    torch.save({key: weights, "classes": ["a", "b"]} if key else weights, path)

    ckpt = read_checkpoint(path)

    assert sorted(ckpt.state_dict) == sorted(_weights(1.0))
    assert ckpt.class_names == (["a", "b"] if key else None)


def test_legacy_non_zip_pth_tar_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.pth.tar"
    torch.save({"state_dict": _weights(3.0), "arch": "resnet18"}, path, _use_new_zipfile_serialization=False)

    assert read_checkpoint(path).state_dict["conv.weight"].eq(3.0).all()


def test_safetensors_weights_and_header_metadata(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(_weights(1.0), str(path), metadata={"model_name": "resnet18", "num_classes": "5",
                                                  "class_names": '["a", "b", "c", "d", "e"]'})

    ckpt = read_checkpoint(path)

    assert sorted(ckpt.state_dict) == sorted(_weights(1.0))
    assert (ckpt.model_name, ckpt.num_classes, ckpt.class_names) == ("resnet18", 5, list("abcde"))


def test_ema_flag_without_an_ema_entry_looks_for_an_ema_prefix(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": _weights(1.0)}, path)

    ckpt = read_checkpoint(path, use_ema=True)
    assert ckpt.ema_by_prefix and sorted(ckpt.state_dict) == sorted(_weights(1.0))  # the build picks the prefix
    assert not read_checkpoint(path).ema_by_prefix


@pytest.mark.parametrize("content", [{"epoch": 3, "note": "hello"}, [1, 2, 3]], ids=["no-weights", "a-list"])
def test_files_without_weights_are_errors(tmp_path: Path, content: object) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save(content, path)

    with pytest.raises(CheckpointError, match=str(path)):
        read_checkpoint(path)


def test_missing_and_corrupt_files_are_checkpoint_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")

    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "broken.pth")


class _CreatesFile:
    """Unpickling this calls open(target, "w"): a stand-in for any code a hostile checkpoint runs."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (open, (str(self.target), "w"))


def test_pickle_payload_does_not_run_without_trust(tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _weights(1.0), "payload": _CreatesFile(target)}, path)

    with pytest.raises(CheckpointError, match="--trust-checkpoint"):
        read_checkpoint(path)
    assert not target.exists()

    read_checkpoint(path, trust=True)  # the payload is real: trusting the file runs it
    assert target.exists()


def test_pickled_module_needs_trust(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(nn.DataParallel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())), path)  # the wrapper is unwrapped

    with pytest.raises(CheckpointError, match=r"unpickling runs code.*--trust-checkpoint"):
        read_checkpoint(path)
    ckpt = read_checkpoint(path, trust=True)

    assert isinstance(ckpt.module, nn.Sequential) and ckpt.state_dict is None


def test_folders_that_are_not_timm_folders_say_what_is_missing(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"folder without config\.json"):
        read_checkpoint(tmp_path / "empty")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text('{"architecture": "resnet18"}')
    with pytest.raises(CheckpointError, match=r"has config\.json but no weights"):
        read_checkpoint(tmp_path / "config_only")
