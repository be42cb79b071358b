"""The one model-resolution step every job takes: checkpoint → model on its device, ready to explain.

`explain`, `sanity`, `compare`, `layers` and `families` all call `resolve_model` with one `ModelOptions`; its `ResolvedModel` holds the model, its input
spec and output kind, the target layers with their reshape, the preprocessing and the class names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from camviz.cam.memory import check_input_fits
from camviz.data.classes import class_names_for
from camviz.data.preprocessing import Preprocessing
from camviz.discovery.detectors import detector_layer_names, detector_target_layers
from camviz.discovery.families import FAMILIES
from camviz.discovery.layers import TargetLayers, resolve_targets
from camviz.discovery.models import LoadedModel, load_model
from camviz.discovery.options import ModelOptions, Task
from camviz.errors import TargetLayerError


@dataclass(frozen=True, kw_only=True)
class ResolvedModel:
    """A model on its device, with everything a job needs to explain it and name its outputs."""

    loaded: LoadedModel  # name, class count, recorded class names, input spec, output kind
    device: torch.device
    targets: TargetLayers
    preprocessing: Preprocessing
    class_names: list[str]  # the checkpoint's, else the data dir's folders, else the indices

    @property
    def notes(self) -> tuple[str, ...]:
        """What resolving decided that the user should hear: loading's notes, then the target lookup's warning."""
        return (*self.loaded.notes, *((self.targets.warning,) if self.targets.warning else ()))

    @property
    def model(self) -> torch.nn.Module:
        """The model itself, in eval mode on `device`."""
        return self.loaded.model

    def record(self) -> dict[str, Any]:
        """What `camviz layers --json` prints (keys are a contract: see DESIGN.md)."""
        loaded = self.loaded
        return {
            "model_name": loaded.model_name, "family": self.targets.family, "target_layers": self.targets.names,
            "reshape": self.targets.reshape, "num_classes": loaded.num_classes, "class_names": loaded.class_names,
            "img_size": loaded.input.img_size, "channels": loaded.input.channels, "output": loaded.output_kind.name,
            "task": loaded.task.value,
        }


def select_device(force_cpu: bool, local_rank: int = 0) -> torch.device:
    """`--cpu`, else CUDA (GPU `local_rank` under torchrun), else Apple's MPS, else the CPU."""
    if not force_cpu and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if not force_cpu and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_model(options: ModelOptions, folder_classes: Sequence[str] = (), local_rank: int = 0) -> ResolvedModel:
    """Load the checkpoint, move the model to its device, resolve its target layers and preprocessing.

    `folder_classes` (a data dir's class folders) name the classes when the checkpoint records none. An input
    size whose pixels alone would fill half the RAM is refused before the model ever runs.
    """
    loaded = load_model(options)
    device = select_device(options.cpu, local_rank)
    loaded.model.to(device).eval()
    spec = loaded.input
    check_input_fits(*spec.size, channels=spec.channels)
    if loaded.task is Task.detection:
        targets = detector_targets(loaded.model, loaded.model_name, list(options.target_layers))
    else:
        targets = resolve_targets(loaded.model, loaded.model_name, list(options.target_layers) or None, spec.size,
                                  families=(*options.families, *FAMILIES))
    return ResolvedModel(loaded=loaded, device=device, targets=targets, preprocessing=Preprocessing.for_input(spec),
                         class_names=class_names_for(loaded, folder_classes))


def detector_targets(model: torch.nn.Module, name: str, override: Sequence[str] = ()) -> TargetLayers:
    """A detector's target layers (`camviz.discovery.detectors`: every FPN level, SSD's source maps, ...), or the
    `--target-layer` paths given (NCHW maps; not probed: a detector's output is not logits); an unknown path is a
    one-line error."""
    layers, reshape = detector_target_layers(model, name)
    names = detector_layer_names(model) or []
    if override:
        try:
            layers = [model.get_submodule(path) for path in override]
        except AttributeError as error:
            raise TargetLayerError(f"--target-layer: {error} in the detector {name}") from None
        names = list(override)
    rule = "override" if override else "detector"
    return TargetLayers(family=rule, names=names, modules=layers, reshape_transform=reshape, layers=layers,
                        decided_by="--target-layer" if override else "the detector's feature maps "
                        "(camviz.discovery.detectors)")
