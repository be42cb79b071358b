"""camviz.integrations.state: a model explained and left exactly as found, also when the CAM fails."""

from __future__ import annotations

import pytest
import torch
import torchvision

from camviz.integrations.state import hook_count, model_state_kept


def test_modes_flags_gradients_and_random_state_come_back_even_after_an_error() -> None:
    model = torchvision.models.resnet18(num_classes=3).train()
    model.layer1.eval()  # a frozen block the user keeps in eval mode
    model.fc.weight.requires_grad_(False)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    rng = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"), torch.inference_mode(), model_state_kept(model):
        assert not model.training and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert all(p.grad is None for p in model.parameters())
        torch.rand(3)  # a method that draws random numbers
        model(torch.randn(1, 3, 32, 32)).sum().backward()  # weight gradients of its own
        raise RuntimeError("boom")
    assert model.training and not model.layer1.training and all(not m.training for m in model.layer1.modules())
    assert all(m.training for m in model.layer4.modules())
    assert not model.fc.weight.requires_grad and model.fc.bias.requires_grad
    assert all(p.grad is grads[name] for name, p in model.named_parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_hook_count_sees_every_kind_of_module_hook() -> None:
    model = torchvision.models.resnet18(num_classes=3)
    handles = [model.layer4.register_forward_hook(lambda *args: None),
               model.fc.register_forward_pre_hook(lambda *args: None),
               model.conv1.register_full_backward_hook(lambda *args: None)]
    assert hook_count(model) == 3
    for handle in handles:
        handle.remove()
    assert hook_count(model) == 0
