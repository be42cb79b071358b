"""Cascading randomisation on one freshly initialised copy: the trained model itself is never touched.

Step k of the cascade has blocks[:k] (output side first) re-initialised and the rest trained. Walking the steps
from the last (every block fresh) to the first, the copy only ever *takes back* trained weights, one block per
step; so the fresh values never need a second copy, and memory stays at one extra model.

A fresh build is not random everywhere: timm sets some tensors to exactly zero (each ResNet block's last BatchNorm
scale, MLP-Mixer's head, NF-Net gains, LeViT/BEiT position-bias tables), which makes a "randomised" residual block
pass its input through unchanged. Those get random values (`fill_zero_init`), and the copy says which
(`FreshCopy.drawn`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import nn

from camviz.errors import CamvizError

_SCALES = ("weight", "gamma", "gain", "scale", "alpha")  # a zero one of these, one value per channel, is set to 1


class Drawn(StrEnum):
    """Why camviz itself gave a fresh copy's parameter its values, rather than the architecture's initialisation."""

    zero_init = "zero-initialised"  # exactly zero in a fresh build: the block would pass its input through
    no_reset = "no reset_parameters"  # a pickled module's parameter that no module's reset_parameters() reaches


@dataclass(frozen=True, kw_only=True)
class FreshCopy:
    """The freshly initialised copy and the parameters whose values camviz drew itself (name: why)."""

    model: nn.Module
    drawn: dict[str, Drawn]


def fresh_copy(model: nn.Module, rebuild: Callable[[], nn.Module] | None, seed: int = 0) -> FreshCopy:
    """The architecture freshly initialised, as a new build of it would be (`rebuild`, from the same builder and
    arguments), else a deep copy whose modules' `reset_parameters()` ran and whose other parameters camviz drew
    (`_reset_copy`); its zero-initialised tensors given random values (`fill_zero_init`); seeded, on the model's
    device, eval mode.

    The caller's random state is left as it was.
    """
    first = next(model.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh, missed = (rebuild(), []) if rebuild is not None else _reset_copy(model)
        drawn = dict.fromkeys(missed, Drawn.no_reset) | dict.fromkeys(fill_zero_init(fresh), Drawn.zero_init)
    return FreshCopy(model=fresh.to(device=first.device).eval(), drawn=drawn)


def fill_zero_init(model: nn.Module) -> list[str]:
    """Give values to the parameters that are exactly zero (biases aside); return their names.

    timm zero-initialises residual branches' last norm scales, layer-scale and skip-init gains, some heads
    (MLP-Mixer) and attention-position bias tables (LeViT, BEiT): at init the branch adds nothing, no gradient
    reaches the head, or the attention is uniform. Trained such tensors are not zero. A scale (a name ending in
    weight, gamma, gain, scale or alpha, one value per channel) is set to 1, as PyTorch initialises a norm; a weight
    matrix or kernel gets N(0, 0.02) values, a bias table N(0, 1). A zero bias or shift is an ordinary init, kept.
    """
    filled = []
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            last = name.rsplit(".", 1)[-1]
            if parameter.numel() == 0 or parameter.any():
                continue
            if last.endswith(_SCALES) and parameter.numel() == (parameter.shape[0] if parameter.ndim else 1):
                parameter.fill_(1.0)
            elif parameter.ndim >= 2:
                parameter.normal_(std=0.02 if last.endswith("weight") else 1.0)
            else:
                continue
            filled.append(name)
    return filled


def _reset_copy(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A deep copy with every module's `reset_parameters()` called (PyTorch's own initialisation), and the names of
    the parameters no reset reached (a custom module's plain `nn.Parameter`s), which `_draw_uniform` gave values."""
    fresh = copy.deepcopy(model)
    reached: set[str] = set()
    for prefix, module in fresh.named_modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
            reached.update(f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters(recurse=False))
    trained = dict(model.named_parameters())
    missed = [name for name, parameter in fresh.named_parameters()
              if name not in reached and torch.equal(parameter, trained[name])]  # a parent's reset may reach it
    for name in missed:
        _draw_uniform(fresh.get_parameter(name))
    return fresh, missed


def _draw_uniform(parameter: torch.Tensor) -> None:
    """Values uniform in +-1/sqrt(fan_in), as PyTorch's `nn.Linear` and `nn.Conv2d` draw their weights
    (`kaiming_uniform_` with a = sqrt(5)) and biases; fan_in: a matrix's or kernel's size without its first
    dimension, a vector's length."""
    fan_in = parameter[0].numel() if parameter.ndim >= 2 else parameter.numel()
    bound = 1.0 / math.sqrt(max(1, fan_in))
    with torch.no_grad():
        parameter.uniform_(-bound, bound)


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


def bottom_up(trained: nn.Module, fresh: nn.Module, blocks: Sequence[str]) -> Iterator[tuple[str, nn.Module]]:
    """(block, model) for a bottom-up cascade: `blocks` (input side first) take `fresh`'s values one more per step,
    on one copy of `trained` (the trained model itself is never touched), as Hedström et al. 2023 randomise for
    Smooth MPRT. Yields the same copy each time; use it before the next step."""
    model = copy.deepcopy(trained).eval()
    own, values = model.state_dict(), fresh.state_dict()
    for block in blocks:
        with torch.no_grad():
            for key in own:
                if _under(key, block):
                    own[key].copy_(values[key])
        yield block, model
