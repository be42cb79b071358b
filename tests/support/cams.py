"""Checking that pytorch-grad-cam gives a usable map on resolved target layers."""

from __future__ import annotations

import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from camviz.discovery.layers import TargetLayers


def assert_gradcam_map(model: nn.Module, targets: TargetLayers, size: int, grid: int) -> None:
    """Grad-CAM on the resolved layer: a `grid`×`grid` feature map and, for some class, a non-constant map.

    Random-init nets give nearly uniform features on noise, so the input has a bright left half, and the
    classes are tried in turn (one whose evidence is negative everywhere maps to all zeros after the ReLU).
    """
    seen: list[tuple[int, ...]] = []
    hook = targets.modules[0].register_forward_hook(
        lambda module, args, output: seen.append(tuple((targets.reshape_transform or (lambda t: t))(output).shape))
    )
    torch.manual_seed(1)
    image = torch.randn(1, 3, size, size) * 0.5
    image[..., : size // 2] += 2.0
    try:
        with GradCAM(model=model, target_layers=targets.modules, reshape_transform=targets.reshape_transform) as cam:
            for k in range(3):
                maps = cam(input_tensor=image, targets=[ClassifierOutputTarget(k)])
                if maps.max() > maps.min():
                    break
    finally:
        hook.remove()
    assert seen[0][-2:] == (grid, grid)
    assert maps.shape == (1, size, size)
    assert maps.max() > maps.min()
