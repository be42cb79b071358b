"""Explaining a model someone is using, and leaving it exactly as it was found.

pytorch-grad-cam puts the model in eval mode (grad-cam #488), zeroes its gradients, needs autograd (which
Lightning's validation turns off with `torch.inference_mode`, grad-cam #381), and camviz's engine flips
`requires_grad` flags. `model_state_kept` runs a CAM with autograd on and returns every one of those as it was;
one thread at a time per model (two interleaved calls would each restore what the other set), and eagerly where
parts of the model are `torch.compile`d (the CAM's hooks are on the original layers).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


@contextmanager
def model_lock(model: nn.Module) -> Iterator[None]:
    """Held by one thread at a time per model (re-entrant): a CAM's calls on a model shared by threads queue."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(model, threading.RLock())
    with lock:
        yield


@contextmanager
def model_state_kept(model: nn.Module) -> Iterator[None]:
    """Inside, one thread at a time per model: the model in eval mode, autograd on (also under the caller's
    `no_grad`/`inference_mode`), autocast off, compiled parts run eagerly, every parameter's gradient set aside.
    After, as found: each module's training flag, each parameter's `requires_grad` and gradient, and the random
    number generators (CPU and the model's CUDA device)."""
    with model_lock(model):  # before reading the state: another thread's call may be changing it
        modes = [(module, module.training) for module in model.modules()]
        parameters = list(model.parameters())
        flags = [p.requires_grad for p in parameters]
        grads = [p.grad for p in parameters]
        device = parameters[0].device if parameters else torch.device("cpu")
        with ExitStack() as stack:
            stack.enter_context(torch.compiler.set_stance("force_eager"))  # the CAM's hooks are on original layers
            stack.enter_context(torch.random.fork_rng(devices=[device] if device.type == "cuda" else []))
            stack.enter_context(torch.inference_mode(False))
            stack.enter_context(torch.enable_grad())
            stack.enter_context(torch.autocast(device.type, enabled=False))
            try:
                for parameter in parameters:
                    parameter.grad = None  # pytorch-grad-cam's zero_grad and weight gradients land on nothing of theirs
                model.eval()
                yield
            finally:
                for (module, training) in modes:
                    module.training = training
                for parameter, flag, grad in zip(parameters, flags, grads, strict=True):
                    parameter.requires_grad_(flag)
                    parameter.grad = grad


def hook_count(model: nn.Module) -> int:
    """Forward, pre-forward and backward hooks registered on the model's modules (what a CAM must not leave)."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(module, kind, {})) for module in model.modules() for kind in kinds)
