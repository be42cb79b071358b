"""camviz.discovery.reshapes: token (ViT) layer outputs read as NCHW maps on the model's own patch grid."""

from __future__ import annotations

import torchvision
from torch import nn

from camviz import resolve_targets
from tests.support.cams import assert_gradcam_map


def test_vit_reshape_uses_the_models_own_grid_and_prefix_tokens() -> None:
    """torchvision's ViT (not a table name): 32 px / 8 px patches = a 4×4 grid after the class token."""
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                                                 hidden_dim=16, mlp_dim=32, num_classes=3)
    nn.init.normal_(model.heads.head.weight)  # torchvision zero-initialises the head: no gradient to map

    targets = resolve_targets(model)

    assert (targets.family, targets.names, targets.reshape) == ("vit", ["encoder.layers.encoder_layer_0.ln_1"], "vit")
    assert_gradcam_map(model, targets, 32, 4)
