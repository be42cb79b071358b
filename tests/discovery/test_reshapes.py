"""camviz.discovery.reshapes: layer outputs (tokens, channels-last, tuples) read as NCHW maps on the image grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import timm
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from torch import nn

from camviz import find_target_layers, resolve_targets
from camviz.discovery.reshapes import LayerReshape, Layout, decide_reshape, reshape_spelling, token_grid
from tests.support.cams import assert_gradcam_map


def test_one_spelling_of_the_reshape_for_layers_json() -> None:
    """`layers --json` key `reshape`: null, "vit", "nhwc", "item1", "item0+vit", from the layers' layouts."""
    tokens = LayerReshape(layout=Layout.TOKENS)
    assert reshape_spelling([LayerReshape(), None]) is None
    assert reshape_spelling([tokens, tokens]) == "vit" and reshape_spelling([LayerReshape(layout=Layout.NHWC)]) == "nhwc"
    assert reshape_spelling([LayerReshape(item=1)]) == "item1" and reshape_spelling([replace(tokens, item=0)]) == "item0+vit"
    assert reshape_spelling([tokens, LayerReshape(layout=Layout.NHWC), LayerReshape()]) == "nhwc+vit"
    assert Layout("vit") is Layout.TOKENS and f"{Layout.NHWC}" == "nhwc"  # a preset's spelling, the table's print


def test_vit_reshape_uses_the_models_own_grid_and_prefix_tokens() -> None:
    """torchvision's ViT (not a table name): 32 px / 8 px patches = a 4×4 grid after the class token."""
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                                                 hidden_dim=16, mlp_dim=32, num_classes=3)
    nn.init.normal_(model.heads.head.weight)  # torchvision zero-initialises the head: no gradient to map

    targets = resolve_targets(model)

    assert (targets.family, targets.names, targets.reshape) == ("vit", ["encoder.layers.encoder_layer_0.ln_1"], "vit")
    assert_gradcam_map(model, targets, 32, 4)


def test_token_counts_split_into_prefix_tokens_and_the_input_grid() -> None:
    """No prefix (Mixer, XCiT's blocks), a class token, class + 4 registers, a non-square input, Swin-style padding."""
    assert token_grid(196, (224, 224)) == (0, (14, 14))
    assert token_grid(784, (224, 224)) == (0, (28, 28))  # XCiT p8: no class token in its blocks
    assert token_grid(197, (224, 224)) == (1, (14, 14))
    assert token_grid(201, (224, 224), prefix_hint=5) == (5, (14, 14))
    assert token_grid(13, (48, 64)) == (1, (3, 4))
    assert token_grid(4, (40, 40)) == (0, (2, 2))  # 40 px / 16, rounded up: a padded window grid
    assert token_grid(320, (224, 224)) is None  # 320 channels of a (B, C, N) hidden state are no token grid


def test_outputs_read_as_maps_on_the_image_grid() -> None:
    """NCHW as is, NHWC permuted, tokens laid on the grid, the highest-resolution branch of a list; attention
    matrices and pooled vectors are no maps."""
    size = (64, 64)
    nchw, nhwc = torch.randn(2, 8, 4, 4), torch.randn(2, 4, 4, 24)
    assert decide_reshape(nchw, size).name is None and torch.equal(decide_reshape(nchw, size)(nchw), nchw)
    assert decide_reshape(nhwc, size).name == "nhwc" and decide_reshape(nhwc, size)(nhwc).shape == (2, 24, 4, 4)
    tokens = torch.randn(2, 17, 8)
    reading = decide_reshape(tokens, size)
    assert (reading.name, reading.grid) == ("vit", (4, 4)) and reading(tokens).shape == (2, 8, 4, 4)
    assert torch.equal(reading.inverse(tokens, reading(tokens)), tokens)
    branches = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    reading = decide_reshape(branches, size)
    assert (reading.name, reading.branches) == ("item0", 2) and "highest-resolution of 2" in reading.describe()
    assert decide_reshape(torch.randn(2, 2, 65, 65), size) is None  # (B, heads, N, N) attention
    assert decide_reshape(torch.randn(2, 8), size) is None


def test_a_wrapped_token_layer_follows_the_size_of_each_input() -> None:
    """`find_target_layers` on a timm ViT that takes any size (`dynamic_img_size`): decided at 32 px, run at 64x48
    (12 tokens: 4 rows of 3, which the token count alone cannot tell from 3 rows of 4)."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=3, img_size=32, dynamic_img_size=True).eval()
    layers = find_target_layers(model)
    with GradCAM(model, target_layers=layers) as cam:
        maps = cam(input_tensor=torch.randn(1, 3, 64, 48), targets=None)
        assert tuple(cam.activations_and_grads.activations[0].shape[-2:]) == (4, 3)  # test_vit: 16 px patches
    assert maps.shape == (1, 64, 48) and np.ptp(maps) > 0
    with torch.no_grad():  # the size hook went with GradCAM's
        assert torch.equal(model(torch.ones(1, 3, 32, 32)), model(torch.ones(1, 3, 32, 32)))
    assert not model._forward_pre_hooks
