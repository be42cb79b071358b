"""camviz.discovery.probe: the dry forward passes the lookup checks its answer with."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from camviz.discovery.probe import NotLogitsError, gradient_reaches, trace_outputs
from camviz.discovery.reshapes import decide_reshape


class _Net(nn.Module):
    """One ReLU called twice, one convolution never called."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.act, self.conv2 = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)
        self.unused, self.head = nn.Conv2d(4, 4, 1), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv2(self.act(self.conv1(x)))).mean((2, 3)))


def test_trace_records_each_output_its_call_count_and_restores_the_mode() -> None:
    model = _Net().train()

    traced = trace_outputs(model, (16, 16))

    assert model.training
    assert list(traced) == ["conv1", "conv2", "act", "head"]  # in order of last call; `unused` never called
    assert (traced["act"].calls, traced["act"].shape, traced["conv1"].calls) == (2, (1, 4, 12, 12), 1)


def test_the_gradient_probe_finds_what_the_head_reads() -> None:
    """ConViT's head reads the class token only: the patch tokens of the last block's output get no gradient, the
    last block's pre-norm (read by the class token's attention) does."""
    torch.manual_seed(0)
    model = timm.create_model("convit_tiny", num_classes=3, img_size=32, depth=2, local_up_to_layer=1, embed_dim=48)
    traced = trace_outputs(model, (32, 32))
    layers = {name: (model.get_submodule(name), decide_reshape(traced[name].output, (32, 32), prefix_hint=1))
              for name in ("blocks.1", "blocks.1.norm1")}

    model.head.weight.grad = torch.ones_like(model.head.weight)  # a user's gradients, mid-training

    assert gradient_reaches(model, (32, 32), layers) == {"blocks.1": False, "blocks.1.norm1": True}
    assert torch.equal(model.head.weight.grad, torch.ones_like(model.head.weight))
    assert all(p.grad is None and p.requires_grad for n, p in model.named_parameters() if n != "head.weight")


def test_a_model_that_returns_features_is_refused_in_one_line() -> None:
    """An encoder (tokens out, no head) is no classifier: no target layer can help."""
    model = timm.create_model("test_vit", num_classes=0, global_pool="")

    with pytest.raises(NotLogitsError, match=r"returns \(1, \d+, \d+\), not class logits.*no --target-layer"):
        trace_outputs(model, (160, 160))
