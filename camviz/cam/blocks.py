"""The blocks a cascading randomisation walks through, named after the model's own modules, output side first.

Adebayo et al. 2018 ("Sanity Checks for Saliency Maps", NeurIPS, §3.1) re-initialise a network one layer at a time
from the logits toward the input. camviz steps by blocks: the module tree is opened along the target layer's
ancestors (and along every module whose name has the same pattern, `layer3` beside `layer4`, `stages.0` beside
`stages.3`) down to the target's block, the deepest ancestor whose parent is an `nn.Sequential`/`nn.ModuleList`
(`layer4.2`, `blocks.11`). Every other module with parameters found on the way is one block (`fc`, `conv1`,
`layer3.5`); their order is the call order of one dry forward pass, and blocks the forward never calls are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from camviz.discovery.spec import ImageSize, height_width, input_channels


@dataclass(frozen=True)
class Blocks:
    """A model's blocks with parameters, output side first: `names[0]` is the classifier head."""

    names: list[str]
    above_target: int  # the first `above_target` names come after every target layer's block in the forward pass
    target_blocks: list[str]  # the blocks holding the target layers

    @property
    def above(self) -> list[str]:
        """The blocks whose randomisation leaves the target layers' activations as they are."""
        return self.names[: self.above_target]


def cascade_blocks(model: nn.Module, target_names: Sequence[str], img_size: int | ImageSize) -> Blocks:
    """The blocks of `model` (output side first) around the target layers at `target_names` (dotted names)."""
    targets = [target_block(model, name) for name in target_names]
    expand = {_pattern(ancestor) for name in targets for ancestor in _ancestors(name)}
    candidates = _candidates(model, expand)
    order = _call_order(model, {**dict(candidates), **{name: model.get_submodule(name) for name in targets}}, img_size)
    last_target = max(order.get(name, -1) for name in targets)
    called = sorted((name for name, _ in candidates if name in order), key=order.__getitem__, reverse=True)
    above = sum(1 for name in called if order[name] > last_target)
    return Blocks(called, above, targets)


def target_block(model: nn.Module, target_name: str) -> str:
    """The block holding a target layer: its deepest ancestor (or itself) that is an item of a Sequential/ModuleList."""
    parts = target_name.split(".")
    for depth in range(len(parts), 0, -1):
        parent = model.get_submodule(".".join(parts[: depth - 1]))
        if isinstance(parent, (nn.Sequential, nn.ModuleList)):
            return ".".join(parts[:depth])
    return target_name


def _ancestors(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: the dotted names strictly above `name`."""
    parts = name.split(".")
    return [".".join(parts[:depth]) for depth in range(1, len(parts))]


def _pattern(name: str) -> str:
    """A module name with its numbers as `#`, so that `layer3` matches `layer4` and `stages.0` matches `stages.3`."""
    return re.sub(r"\d+", "#", name)


def _candidates(model: nn.Module, expand: set[str]) -> list[tuple[str, nn.Module]]:
    """Modules with parameters, opening those whose name pattern is in `expand`, in registration order."""
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if _pattern(full) in expand:
                walk(f"{full}.", child)
            elif next(child.parameters(), None) is not None:
                found.append((full, child))

    walk("", model)
    return found


def _call_order(model: nn.Module, modules: dict[str, nn.Module], img_size: int | ImageSize) -> dict[str, int]:
    """The position of each module's first call in one dry forward pass (eval mode, no gradients); mode restored."""
    order: dict[str, int] = {}

    def record(name: str):
        def hook(module: nn.Module, args: object) -> None:
            order.setdefault(name, len(order))

        return hook

    handles = [module.register_forward_pre_hook(record(name)) for name, module in modules.items()]
    was_training = model.training
    first = next(model.parameters())
    try:
        model.eval()
        x = torch.zeros(1, input_channels(model) or 3, *height_width(img_size), device=first.device, dtype=first.dtype)
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return order
