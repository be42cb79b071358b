"""A classifier head as some training code writes one: plain `nn.Parameter`s, no `nn.Linear`, no
`reset_parameters()`. A model holding it is saved whole (`torch.save(model)`) and read with `--trust-checkpoint`."""

from __future__ import annotations

import torch
from torch import nn


class PlainHead(nn.Module):
    """`x @ weight + bias` with the trained values of `linear` (weight stored transposed: [features, classes])."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().t().contiguous())
        self.bias = nn.Parameter(linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


def save_demo_with_plain_head(path: object) -> nn.Module:
    """The shipped demo classifier with its head as a `PlainHead` (same function), saved whole to `path`."""
    from camviz import load_model
    from camviz.demo import CHECKPOINT_PATH

    model = load_model(CHECKPOINT_PATH).model
    model.head = PlainHead(model.head)
    torch.save(model, path)
    return model
