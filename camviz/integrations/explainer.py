"""One CAM engine per model and settings, reused call after call, its hooks on the model only during a call.

pytorch-grad-cam objects made per step and never released pile up hooks and memory (grad-cam #483); one
released after every call and made again costs nothing but is another object each time. An `Explainer` keeps
one engine, `reopen`s it for a call and `close`s it after, all inside `model_state_kept`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from camviz.cam.engine import CamBatch, CamEngine
from camviz.cam.methods import canonical_method_name
from camviz.cam.options import CamOptions
from camviz.discovery.layers import get_submodule
from camviz.discovery.logits import uncompiled
from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.integrations.images import ImageLike, Prepared, prepare_images
from camviz.integrations.setup import ModelSetup, setup_for_checkpoint, setup_for_module
from camviz.integrations.state import model_lock, model_state_kept
from camviz.run.options import check_target_category


class Explainer:
    """Explains batches with one model's one engine; every call leaves the model as it found it."""

    def __init__(self, setup: ModelSetup, cam: CamOptions) -> None:
        self.setup = setup
        self.cam = cam
        self._engine: CamEngine | None = None

    @property
    def method(self) -> str:
        """The method's canonical name (as in file names and titles)."""
        return self._engine.method if self._engine is not None else canonical_method_name(self.cam.method)

    def prepare(self, images: ImageLike | Sequence[ImageLike]) -> Prepared:
        """The images as this model's input batch and the pixels its figures show."""
        return prepare_images(images, self.setup.preprocessing)

    def compute(self, prepared: Prepared) -> CamBatch:
        """CAMs and probabilities for the batch in one pass of the engine; hooks on only meanwhile."""
        check_target_category(self.cam.target_category, len(self.setup.class_names))
        with model_state_kept(self.setup.owner):
            engine = self._open_engine()
            try:
                return engine.compute(prepared.inputs, self.cam.target_category)
            finally:
                engine.close()

    def _open_engine(self) -> CamEngine:
        """The engine with its hooks attached: made on first use, reopened after."""
        if self._engine is None:
            targets = self.setup.targets
            self._engine = CamEngine(self.setup.forward, targets.modules, targets.reshape_transform, options=self.cam,
                                     output_kind=self.setup.output_kind)
        else:
            self._engine.reopen()
        return self._engine

    def still_fits(self, model: nn.Module) -> bool:
        """Whether the resolved layers are still the model's (a replaced head or block needs a new setup)."""
        try:
            return all(get_submodule(model, name) is module
                       for name, module in zip(self.setup.targets.names, self.setup.targets.modules, strict=True))
        except UsageError:
            return False


def module_explainer(model: nn.Module, options: ModelOptions, cam: CamOptions,
                     owner: nn.Module | None = None) -> Explainer:
    """A new explainer for a model in memory (resolved with its state kept); a `torch.compile`d model is explained
    by the module it compiled (the same layers and weights)."""
    model, owner = uncompiled(model), owner and uncompiled(owner)
    with model_state_kept(owner or model):
        return Explainer(setup_for_module(model, options, owner), cam)


def checkpoint_explainer(options: ModelOptions, cam: CamOptions) -> Explainer:
    """A new explainer for the checkpoint at `options.path`, read as `camviz explain` reads it (its weights
    ordinary tensors, also when loaded under the caller's `inference_mode`)."""
    with torch.inference_mode(False):
        return Explainer(setup_for_checkpoint(options), cam)


class _Explainers:
    """A model's explainers by settings and device, kept on the model; copies and pickles of it start empty."""

    def __init__(self) -> None:
        self.by_key: dict[tuple, Explainer] = {}

    def __reduce__(self) -> tuple:
        return (_Explainers, ())


_SLOT = "_camviz_explainers"


def cached_explainer(model: nn.Module, options: ModelOptions, cam: CamOptions) -> Explainer:
    """The model's explainer for these options on its current device: one engine for every call on it (the
    compiled module's, for a `torch.compile`d model); threads sharing the model share it."""
    model = uncompiled(model)
    parameter = next(model.parameters(), None)
    if parameter is None:
        raise UsageError(f"{type(model).__name__} has no parameters: there is nothing to explain")
    with model_lock(model):
        slot = model.__dict__.get(_SLOT)
        if slot is None:
            slot = _Explainers()
            object.__setattr__(model, _SLOT, slot)
        key = (options, cam, parameter.device)
        explainer = slot.by_key.get(key)
        if explainer is None or not explainer.still_fits(model):
            explainer = slot.by_key[key] = module_explainer(model, options, cam)
        return explainer

