"""Dry forward passes that tell what a layer gives: every module's output (in order of its last call), and whether
the logits depend on a layer's map at all (its gradient on a probe input). Both restore the model's mode."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from camviz.discovery.logits import logits_of
from camviz.discovery.reshapes import LayerReshape, map_tensors
from camviz.discovery.spec import ImageSize, input_channels
from camviz.errors import TargetLayerError


class NotLogitsError(TargetLayerError):
    """The model's forward does not return class logits (a feature encoder): no target layer can help."""


@dataclass(frozen=True)
class Traced:
    """One module's output on the dry forward: a shape-only stand-in (tensors become empty ones of that shape,
    on the meta device), and when it was last called."""

    order: int
    output: object
    calls: int = 1  # how many times the forward called it (a shared module: more than once)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The output's shape when it is one tensor."""
        return tuple(self.output.shape) if torch.is_tensor(self.output) else None


def trace_outputs(model: nn.Module, size: ImageSize) -> dict[str, Traced]:
    """Each named module's output from one dry forward pass at `size` (modules never called are absent)."""
    traced: dict[str, Traced] = {}
    calls = itertools.count()

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> None:
            before = traced.get(name)
            traced[name] = Traced(next(calls), _shapes_only(output), before.calls + 1 if before else 1)

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    try:
        with _evaluating(model), torch.no_grad():
            _first_tensor(_run(model, _probe_input(model, size, zeros=True), size))
    finally:
        for handle in handles:
            handle.remove()
    return dict(sorted(traced.items(), key=lambda item: item[1].order))


def gradient_reaches(model: nn.Module, size: ImageSize, layers: Mapping[str, tuple[nn.Module, LayerReshape]]) -> dict[str, bool]:
    """For each named layer, whether the top logit's gradient at its map is non-zero on a probe input (a random
    image): a layer whose output the logits do not read (a class-token model's patch tokens) gives zero."""
    grads: dict[str, torch.Tensor] = {}

    def keep(name: str, reshape: LayerReshape) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> object:
            try:
                mapped = reshape(output)
            except (IndexError, RuntimeError, TypeError):  # a shared module's other call, of another shape
                return None
            if not mapped.requires_grad:  # the graph starts here (a clone: in-place ops after it work)
                mapped = mapped.detach().requires_grad_(True).clone()
            mapped.register_hook(lambda grad: grads.setdefault(name, grad))  # backward meets the last call first
            return reshape.inverse(output, mapped)

        return hook

    handles = [module.register_forward_hook(keep(name, reshape)) for name, (module, reshape) in layers.items()]
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        for parameter, _ in flags:  # no weight gradients: the graph starts at the maps, the user's .grad stay
            parameter.requires_grad_(False)
        with _evaluating(model), torch.enable_grad():
            generator = torch.Generator().manual_seed(0)
            pixels = _probe_input(model, size, zeros=False, generator=generator)
            logits = _first_tensor(_run(model, pixels, size))
            logits.reshape(len(logits), -1).max(dim=1).values.sum().backward()
    finally:
        for handle in handles:
            handle.remove()
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
    return {name: name in grads and bool(grads[name].abs().amax() > 0) for name in layers}


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _probe_input(model: nn.Module, size: ImageSize, *, zeros: bool,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    first = next(model.parameters(), None)
    shape = (1, input_channels(model) or 3, *size)
    pixels = torch.zeros(shape) if zeros else torch.randn(shape, generator=generator)
    return pixels.to(first.device if first is not None else "cpu")


def _run(model: nn.Module, pixels: torch.Tensor, size: ImageSize) -> object:
    try:
        return model(pixels)
    except Exception as error:
        raise TargetLayerError(f"dry forward pass at {size[0]}x{size[1]}px failed ({error}); pass --target-layer "
                               "or --img-size") from error


def _first_tensor(output: object) -> torch.Tensor:
    """The logits a forward returned: the tensor, a transformers `ModelOutput`'s `logits` (a dict's `out`), or a
    tuple's first; class logits (batch, classes) or a segmentation model's per-pixel logits (batch, classes, H, W)."""
    output = logits_of(output)
    tensors = [output] if torch.is_tensor(output) else map_tensors(output) or []
    if not tensors or not torch.is_tensor(tensors[0]) or tensors[0].ndim not in (2, 4):
        what = tuple(tensors[0].shape) if tensors and torch.is_tensor(tensors[0]) else type(output).__name__
        raise NotLogitsError(f"the model returns {what}, not class logits (batch, classes) or per-pixel logits "
                             "(batch, classes, height, width): Grad-CAM explains a classifier's or a segmentation "
                             "model's score; give a model with its head (no --target-layer helps here)")
    return tensors[0]


def _shapes_only(output: object) -> object:
    if torch.is_tensor(output):
        return torch.empty(output.shape, device="meta")
    if isinstance(output, (tuple, list)) and map_tensors(output) is not None:
        return tuple(_shapes_only(item) for item in output)
    return None
