"""camviz.discovery.hf: Hugging Face transformers classifiers (issue 13), read from the folders `save_pretrained`
writes.

Tiny random-init ViT (non-square, with its own preprocessor_config.json), ConvNeXt, Swin, ResNet (size and
mean/std from a preprocessor's `shortest_edge`) and a multi-label ResNet (`tests.support.hf`): `camviz layers
--json` and `camviz explain` (single and batch) with no flags; probabilities are checked against the model's own
`model(pixel_values).logits`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.hf import VIT, Folder, label_config, save_folder

transformers = pytest.importorskip("transformers", reason='needs the transformers extra: pip install -e ".[transformers]"')

@pytest.mark.parametrize(("config", "model", "prefix"), [
    ("DeiTConfig", "DeiTForImageClassificationWithTeacher", 2),  # class + distillation tokens
    ("Dinov2WithRegistersConfig", "Dinov2WithRegistersForImageClassification", 5),  # class + 4 registers
    ("BeitConfig", "BeitForImageClassification", 1),
])
def test_token_models_use_their_own_prefix_tokens_and_grid(config: str, model: str, prefix: int) -> None:
    """DeiT, Dinov2 with registers, BEiT in memory: the row, the prefix count, the grid, a usable GradCAM map."""
    from pytorch_grad_cam import GradCAM

    from camviz import find_target_layers, logits_only, resolve_targets

    extra = {"num_register_tokens": 4, "mlp_ratio": 2} if "Dinov2" in config else {"intermediate_size": 64}
    settings = {k: v for k, v in VIT.items() if k != "intermediate_size"}
    torch.manual_seed(0)
    net = logits_only(getattr(transformers, model)(getattr(transformers, config)(
        **settings, **extra, image_size=32, patch_size=8, num_labels=3)).eval())
    targets = resolve_targets(net, model, img_size=32)
    assert targets.family.startswith(("hf_deit", "hf_dinov2", "hf_beit")) and targets.reshape == "vit"
    assert (targets.reshape_transform.prefix_tokens, targets.reshape_transform.grid) == (prefix, (4, 4))
    with GradCAM(net, target_layers=find_target_layers(net, model, img_size=32)) as cam:
        maps = cam(input_tensor=torch.randn(2, 3, 32, 32), targets=None)
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_find_target_layers_alone_follows_the_input_size(hf_folders: dict[str, Folder], name: str, tmp_path: Path) -> None:
    """Issue 17 case 13: the README's call with no size (`find_target_layers(loaded.model)`) on a transformers ViT
    trained at 32 px and a Swin at 40 px, both loaded and run at 48x64: the token grid follows the input."""
    from pytorch_grad_cam import GradCAM

    from camviz import find_target_layers, load_model
    from camviz.discovery.options import ModelOptions

    torch.manual_seed(0)
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(**VIT, image_size=32, patch_size=8,
                                                                        **label_config()))
    path = save_folder(tmp_path, "vit32", vit) if name == "vit" else hf_folders["swin"].path
    loaded = load_model(ModelOptions(path=path, img_size=(48, 64)))
    assert loaded.input.size == (48, 64)
    x = torch.randn(2, 3, 48, 64)
    x[..., :32] += 2.0
    with GradCAM(loaded.model, target_layers=find_target_layers(loaded.model)) as cam:
        maps = cam(input_tensor=x, targets=None)
        grid = tuple(cam.activations_and_grads.activations[0].shape[-2:])
    assert grid == (6, 8)  # ViT: 8 px patches; Swin: 4 px patches, halved once (two stages)
    assert maps.shape == (2, 48, 64) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0
