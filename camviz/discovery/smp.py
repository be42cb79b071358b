"""segmentation_models_pytorch (smp, PyPI `segmentation-models-pytorch`) checkpoints, and where their target layer is.

Two layouts are read:

- the folder smp's `save_pretrained` writes: `config.json` holding smp's `_model_class` (`Unet`, `FPN`,
  `DeepLabV3Plus`...) and the constructor's arguments (`encoder_name`, `classes`, `in_channels`, ...), beside
  `model.safetensors` (or `pytorch_model.bin`); it has neither timm's `architecture` nor transformers'
  `architectures`, so it is never read as one of theirs;
- a checkpoint dict naming the architecture: `model_name: "smp.<Architecture>"` (an architecture `smp.create_model`
  knows, in any case: `smp.Unet`, `smp.unetplusplus`, `smp.DeepLabV3Plus`), the constructor's keyword arguments under
  `model_args` (what an smp model's `config` holds: `{"encoder_name": "resnet18", "classes": 4, ...}`) and the
  weights under `state_dict`. `classes` and `in_channels` left out are read from the weights.

Both are built with `encoder_weights=None` (nothing is downloaded, whatever the config records), then loaded with
the weights as every other architecture is (`camviz.discovery.build`). smp is imported only when such a checkpoint
is read: `pip install "camviz[segmentation]"`.

The target layer is the encoder's last stage (the deepest map the decoder reads: `encoder.layer4` for smp's ResNets,
`encoder.model.layer4` for a timm `tu-` encoder), found from the dry forward as the last encoder module whose output
has the encoder's last channel count on its coarsest grid, so every encoder smp wraps is covered without a table. The
decoder's last block is one convolution away from the logits: its CAM would mostly redraw the predicted mask, where
the encoder's says what the model recognised there (as pytorch-grad-cam's segmentation tutorial reads DeepLabV3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camviz.discovery._json import read_json_object
from camviz.errors import CheckpointError

if TYPE_CHECKING:  # this module stays light: `formats` asks it whether a config.json is smp's
    import torch
    from torch import nn

    from camviz.discovery.probe import Traced
    from camviz.discovery.timm_meta import Candidate

PREFIX = "smp."  # a checkpoint's `model_name` for an smp architecture: `smp.Unet`
INSTALL_HINT = 'pip install "camviz[segmentation]"'
CLASS_KEY = "_model_class"  # what smp's `save_pretrained` adds to the constructor's arguments in config.json
HEAD_WEIGHT = "segmentation_head.0.weight"  # every smp architecture's last convolution: its rows are the classes


def is_smp_name(name: str) -> bool:
    """Whether a model name names an smp architecture (`smp.Unet`)."""
    return name.lower().startswith(PREFIX) and len(name) > len(PREFIX)


def is_smp_config(config: Mapping[str, Any]) -> bool:
    """Whether a `config.json`'s content is one smp's `save_pretrained` wrote."""
    return isinstance(config.get(CLASS_KEY), str)


def smp_metadata(config_path: Path) -> dict[str, Any]:
    """camviz's checkpoint keys from an smp `config.json`: the name (`smp.Unet`), the constructor's arguments,
    the class count and input channels."""
    config = read_json_object(config_path)
    return {"model_name": PREFIX + str(config[CLASS_KEY]), "model_args": constructor_arguments(config),
            "num_classes": config.get("classes"), "in_chans": config.get("in_channels")}


def constructor_arguments(config: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded arguments an smp constructor takes (smp's private `_...` keys left out), no weights to fetch."""
    return {key: value for key, value in config.items() if not key.startswith("_")} | {"encoder_weights": None}


def smp_builder(name: str, model_args: Mapping[str, Any] | None, where: Path) -> Callable[..., nn.Module]:
    """A factory for the smp architecture `name` (`smp.Unet`) with the recorded arguments; its keyword arguments
    (`classes`, `in_channels`) win. A one-line error when smp is not installed."""
    try:
        import segmentation_models_pytorch  # noqa: F401 (the error is raised here, before any build is tried)
    except ImportError as error:
        raise CheckpointError(f"{where} is a segmentation_models_pytorch model ({name}); reading it needs that "
                              f"package: {INSTALL_HINT}") from error
    return partial(_build, name[len(PREFIX):], dict(model_args or {}))


def _build(arch: str, recorded: dict[str, Any], **given: Any) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.create_model(arch, **constructor_arguments({**recorded, **given}))


def smp_arguments(weights: Mapping[str, torch.Tensor], num_classes: int | None,
                  in_chans: int | None) -> dict[str, int]:
    """`classes` and `in_channels` for the constructor: recorded, else read from the weights (the segmentation
    head's rows, the first convolution's input channels)."""
    head = weights.get(HEAD_WEIGHT)
    classes = num_classes or (int(head.shape[0]) if head is not None else None)
    first = next((value for key, value in weights.items() if key.startswith("encoder.") and value.ndim == 4), None)
    channels = in_chans or (int(first.shape[1]) if first is not None else None)
    return {key: value for key, value in (("classes", classes), ("in_channels", channels)) if value is not None}


def is_smp_model(model: nn.Module) -> bool:
    """Whether `model` is an smp architecture (its class defined in `segmentation_models_pytorch`)."""
    return any(cls.__module__.startswith("segmentation_models_pytorch") for cls in type(model).__mro__)


def encoder_last_stage(model: nn.Module, traced: Mapping[str, Traced]) -> list[Candidate]:
    """The smp encoder's last stage as a target candidate: of the encoder's modules the dry forward called, the
    last whose output has the encoder's last channel count on the coarsest grid; none for other models."""
    from camviz.discovery.timm_meta import Candidate

    channels = getattr(getattr(model, "encoder", None), "out_channels", None)
    if not is_smp_model(model) or not channels:
        return []
    maps = {name: t.shape for name, t in traced.items() if name.startswith("encoder.") and t.shape is not None
            and len(t.shape) == 4 and t.shape[1] == channels[-1]}
    if not maps:
        return []
    coarsest = min(shape[2] * shape[3] for shape in maps.values())
    name = [name for name, shape in maps.items() if shape[2] * shape[3] == coarsest][-1]
    return [Candidate(name, "smp", f"the smp encoder's last stage ({channels[-1]} channels, its coarsest map)")]
