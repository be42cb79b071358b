"""Cascading randomisation on one freshly initialised copy: the trained model itself is never touched.

Step k of the cascade has blocks[:k] (output side first) re-initialised and the rest trained. Walking the steps
from the last (every block fresh) to the first, the copy only ever *takes back* trained weights, one block per
step; so the fresh values never need a second copy, and memory stays at one extra model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from camviz.errors import CamvizError


def fresh_copy(model: nn.Module, rebuild: Callable[[], nn.Module] | None, seed: int = 0) -> nn.Module:
    """The architecture freshly initialised, as a new build of it would be (`rebuild`, from the same builder and
    arguments), else a deep copy whose modules' `reset_parameters()` ran; seeded, on the model's device, eval mode.

    The caller's random state is left as it was.
    """
    first = next(model.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = rebuild() if rebuild is not None else _reset_copy(model)
    return fresh.to(device=first.device).eval()


def _reset_copy(model: nn.Module) -> nn.Module:
    """A deep copy with every module's `reset_parameters()` called (PyTorch's own initialisation)."""
    fresh = copy.deepcopy(model)
    for module in fresh.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return fresh


class Cascade:
    """A fresh copy of `trained` that walks the cascade's steps backwards: `steps()` yields (k, model) with
    `blocks[:k]` fresh, for k = len(blocks) .. 1; weights outside every block are the trained ones throughout."""

    def __init__(self, trained: nn.Module, fresh: nn.Module, blocks: Sequence[str]) -> None:
        self.trained = trained.state_dict()  # references, not copies
        self.model = fresh
        self.blocks = list(blocks)
        own = fresh.state_dict()
        if {k: v.shape for k, v in own.items()} != {k: v.shape for k, v in self.trained.items()}:
            raise CamvizError("a fresh build of this architecture does not match the checkpoint's weights; "
                              "cannot randomise it (is --model-name the checkpoint's architecture?)")
        self.kept = [key for key in own if not any(_under(key, block) for block in self.blocks)]
        self._take_back(self.kept)

    def steps(self) -> Iterator[tuple[int, nn.Module]]:
        """(k, the model with the first k blocks fresh), from k = len(blocks) down to 1."""
        for k in range(len(self.blocks), 0, -1):
            yield k, self.model
            self._take_back([key for key in self.trained if _under(key, self.blocks[k - 1])])

    def _take_back(self, keys: Sequence[str]) -> None:
        """Copy the trained values of `keys` (parameters and buffers) into the fresh model."""
        own = self.model.state_dict()
        with torch.no_grad():
            for key in keys:
                own[key].copy_(self.trained[key])


def _under(key: str, block: str) -> bool:
    """Whether a state-dict key belongs to the block named `block`."""
    return key.startswith(f"{block}.")
