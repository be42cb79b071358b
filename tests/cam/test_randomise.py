"""The cascade's fresh copy: initialised as a new build would be, taking back trained weights one block per step,
while the trained model stays exactly as it was."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.models.mlp_mixer import MlpMixer

from camviz.cam.blocks import cascade_blocks
from camviz.cam.randomise import Cascade, Drawn, bottom_up, fill_zero_init, fresh_copy
from camviz.discovery.models import LoadedModel
from camviz.errors import CamvizError


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_fresh_copy_is_a_seeded_new_build_and_leaves_the_random_state_alone(loaded: LoadedModel) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    fresh = fresh_copy(loaded.model, loaded.rebuild, seed=7).model
    assert torch.equal(torch.rand(3), expected_next)  # the caller's generator did not move
    torch.manual_seed(7)
    built = timm.create_model("camviz_shapenet", num_classes=3)
    for key, value in built.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_each_step_has_exactly_the_blocks_above_it_random_and_the_trained_model_is_untouched(
        loaded: LoadedModel) -> None:
    model = loaded.model
    trained, flags = _snapshot(model), [p.requires_grad for p in model.parameters()]
    names = cascade_blocks(model, ["stages.2.3"], 96).names
    fresh = fresh_copy(model, loaded.rebuild, seed=0).model
    initial = _snapshot(fresh)
    seen = []
    for k, stepped in Cascade(model, fresh, names).steps():
        seen.append(k)
        state = stepped.state_dict()
        for index, block in enumerate(names):
            source = initial if index < k else trained
            keys = [key for key in state if key.startswith(f"{block}.")]
            assert keys and all(torch.equal(state[key], source[key]) for key in keys), (k, block)
    assert seen == list(range(len(names), 0, -1))
    assert all(torch.equal(value, trained[key]) for key, value in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags


def test_without_a_builder_every_module_is_reset_by_its_own_initialisation(loaded: LoadedModel) -> None:
    fresh = fresh_copy(loaded.model, None, seed=0).model  # a pickled module: PyTorch's reset_parameters()
    trained = loaded.model.state_dict()
    for name, parameter in fresh.named_parameters():
        if parameter.numel() > 1:
            assert not torch.equal(parameter, trained[name]), name
    bn = fresh.get_submodule("stages.2.3.conv1.1")
    assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
    assert loaded.model.get_submodule("stages.2.3.conv1.1").running_var.ne(1).any()


def test_a_fresh_build_that_does_not_fit_the_weights_is_one_line(loaded: LoadedModel) -> None:
    other = timm.create_model("camviz_shapenet", num_classes=5)
    with pytest.raises(CamvizError, match="does not match the checkpoint's weights"):
        Cascade(loaded.model, other, ["head"])


def test_zero_initialised_tensors_get_values_and_biases_stay_zero() -> None:
    """timm's ResNet zero-initialises each block's last BatchNorm scale, MLP-Mixer its head, NF-Net its gains."""
    torch.manual_seed(0)
    resnet, nfnet = (timm.create_model(name, num_classes=3) for name in ("test_resnet", "test_nfnet"))
    mixer = MlpMixer(num_classes=3, img_size=64, num_blocks=2, embed_dim=32)
    assert fill_zero_init(resnet) == ["layer1.0.bn2.weight", "layer2.0.bn2.weight", "layer3.0.bn3.weight",
                                      "layer4.0.bn2.weight"]
    assert torch.equal(resnet.layer4[0].bn2.weight, torch.ones(96)) and not resnet.layer4[0].bn2.bias.any()
    assert fill_zero_init(mixer) == ["head.weight"] and 0.01 < mixer.head.weight.std() < 0.03
    assert not mixer.head.bias.any()
    assert fill_zero_init(nfnet) == [f"stages.{i}.0.conv3.gain" for i in range(4)]
    assert all(torch.equal(nfnet.get_parameter(f"stages.{i}.0.conv3.gain"), torch.ones_like(
        nfnet.get_parameter(f"stages.{i}.0.conv3.gain"))) for i in range(4))


def test_a_randomised_residual_block_is_not_an_identity() -> None:
    """A fresh test_resnet's layer4.0 has its last BatchNorm scale at zero: randomised so, its residual branch adds
    nothing and the block passes its input through (the shortcut alone). The copy's branch must add something."""
    torch.manual_seed(1)
    trained = timm.create_model("test_resnet", num_classes=3).eval()
    fill_zero_init(trained)  # trained weights are not zero
    fresh = fresh_copy(trained, lambda: timm.create_model("test_resnet", num_classes=3), seed=0)
    assert fresh.drawn == dict.fromkeys(["layer1.0.bn2.weight", "layer2.0.bn2.weight", "layer3.0.bn3.weight",
                                         "layer4.0.bn2.weight"], Drawn.zero_init)
    branch: list[torch.Tensor] = []
    for k, model in Cascade(trained, fresh.model, ["fc", "layer4.0"]).steps():
        if k == 2:  # fc and layer4.0 random
            handle = model.layer4[0].bn2.register_forward_hook(lambda _m, _i, out: branch.append(out.clone()))
            with torch.no_grad():
                model(torch.randn(2, 3, 64, 64))
            handle.remove()
    assert branch and branch[0].abs().amax() > 0.1


def test_a_pickled_modules_own_parameters_are_drawn_too(tmp_path) -> None:
    """A head of plain nn.Parameters has no reset_parameters(): its trained values used to stay in the copy."""
    from camviz import load_model
    from camviz.discovery.options import ModelOptions
    from tests.support.plain_head import save_demo_with_plain_head

    save_demo_with_plain_head(tmp_path / "whole.pth")
    model = load_model(ModelOptions(path=tmp_path / "whole.pth", trust_checkpoint=True)).model
    fresh = fresh_copy(model, None, seed=0)
    assert fresh.drawn == {"head.weight": Drawn.no_reset, "head.bias": Drawn.no_reset}
    trained = dict(model.named_parameters())
    assert all(not torch.equal(parameter, trained[name]) for name, parameter in fresh.model.named_parameters()
               if parameter.numel() > 1)
    bound = 1 / 3 ** 0.5  # the weight is [48 features, 3 classes]: fan_in 3 as PyTorch reads a matrix
    assert fresh.model.head.weight.abs().max() <= bound and fresh.model.head.weight.std() > bound / 4
    assert torch.equal(fresh_copy(model, None, seed=0).model.head.weight, fresh.model.head.weight)  # seeded


def test_bottom_up_randomises_one_more_block_from_the_input_side_each_step(loaded: LoadedModel) -> None:
    model = loaded.model
    trained = _snapshot(model)
    names = list(reversed(cascade_blocks(model, ["stages.2.3"], 96).names))  # input side first: stem, ...
    fresh = fresh_copy(model, loaded.rebuild, seed=0).model
    random_values = _snapshot(fresh)
    seen = []
    for k, (block, stepped) in enumerate(bottom_up(model, fresh, names), start=1):
        seen.append(block)
        state = stepped.state_dict()
        assert stepped is not model and not stepped.training
        for index, name in enumerate(names):
            source = random_values if index < k else trained
            keys = [key for key in state if key.startswith(f"{name}.")]
            assert keys and all(torch.equal(state[key], source[key]) for key in keys), (k, name)
        outside = [key for key in state if not any(key.startswith(f"{name}.") for name in names)]
        assert all(torch.equal(state[key], trained[key]) for key in outside)
    assert seen == names and seen[0] == "stem"
    assert all(torch.equal(value, trained[key]) for key, value in model.state_dict().items())  # untouched
