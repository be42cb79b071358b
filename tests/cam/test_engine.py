"""camviz.cam.engine: pytorch-grad-cam driven batch by batch, with the backward pass stopped at the target layers,
and the batch halved on out-of-memory."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torchvision

from camviz.cam.engine import CamEngine, gradients_from_targets_only
from camviz.cam.options import CamOptions
from camviz.errors import CamvizError


def _vit_tokens_to_grid(tokens: torch.Tensor) -> torch.Tensor:
    return tokens[:, 1:, :].reshape(tokens.size(0), 4, 4, tokens.size(2)).permute(0, 3, 1, 2)


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=4), lambda m: [m.layer4[-1]], None),
    # torchvision's DenseNet applies an in-place ReLU right after the target layer
    "densenet121": (lambda: torchvision.models.densenet121(num_classes=4), lambda m: [m.features[-1]], None),
    "convnextv2_atto": (
        lambda: timm.create_model("convnextv2_atto", num_classes=4), lambda m: [m.stages[-1].blocks[-1]], None
    ),
    "vit_tiny": (
        lambda: timm.create_model("vit_tiny_patch16_224", num_classes=4, img_size=64),
        lambda m: [m.blocks[-1].norm1],
        _vit_tokens_to_grid,
    ),
    "two_layers": (lambda: torchvision.models.resnet18(num_classes=4), lambda m: [m.layer3[-1], m.layer4[-1]], None),
}


CASES = [(name, "gradcam") for name in MODELS] + [
    ("resnet18", method) for method in ("gradcam++", "hirescam", "xgradcam", "layercam", "eigengradcam")
]


@pytest.mark.parametrize(("name", "method"), CASES)
@pytest.mark.slow
def test_target_only_backward_gives_bit_identical_cams(name: str, method: str) -> None:
    torch.manual_seed(0)
    build, layers, reshape = MODELS[name]
    model = build().eval()
    inputs = torch.randn(3, 3, 64, 64)
    results = []
    for full_backward in (True, False):
        with CamEngine(model, layers(model), reshape, options=CamOptions(method=method),
                       full_backward=full_backward) as engine:
            results.append(engine.compute(inputs))
    assert results[0].cams.shape == (3, 64, 64) and results[0].cams.dtype == np.float32
    assert np.ptp(results[0].cams) > 0
    assert np.array_equal(results[0].cams, results[1].cams)
    assert np.array_equal(results[0].probabilities, results[1].probabilities)


def test_engine_restores_parameters_and_releases_hooks() -> None:
    model = torchvision.models.resnet18(num_classes=3).eval()
    model.fc.weight.requires_grad_(False)  # a flag the user set must survive
    with CamEngine(model, [model.layer4[-1]]) as engine:
        assert not any(p.requires_grad for p in model.parameters())
        engine.compute(torch.randn(2, 3, 32, 32))
    assert not model.fc.weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if n != "fc.weight")
    assert all(not m._forward_hooks for m in model.modules())


def test_a_closed_engine_reopens_its_same_cam_object_and_gives_the_same_maps() -> None:
    model = torchvision.models.resnet18(num_classes=3).eval()
    inputs = torch.randn(2, 3, 32, 32)
    engine = CamEngine(model, [model.layer4[-1]])
    first, cam = engine.compute(inputs), engine.cam
    engine.close()
    assert all(p.requires_grad for p in model.parameters()) and not model.layer4[-1]._forward_hooks
    assert engine.cam.outputs is None  # the last pass's graph is let go
    engine.reopen()
    assert engine.cam is cam and len(model.layer4[-1]._forward_hooks) == 3  # the library's two, the graph start
    assert not any(p.requires_grad for p in model.parameters())
    again = engine.compute(inputs)
    engine.close()
    assert np.array_equal(first.cams, again.cams) and not model.layer4[-1]._forward_hooks


def test_explain_returns_probabilities_of_the_same_pass_and_explains_a_given_class() -> None:
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=3).eval()
    inputs = torch.randn(2, 3, 64, 64)
    with CamEngine(model, [model.layer4[-1]]) as engine:
        predicted = engine.compute(inputs)
        forced = engine.compute(inputs, target_category=int(predicted.probabilities[0].argmin()))
    with torch.no_grad():
        expected = torch.softmax(model(inputs), dim=-1).numpy()
    np.testing.assert_allclose(predicted.probabilities, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predicted.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.array_equal(predicted.cams[0], forced.cams[0])


def test_gradient_free_methods_are_left_alone() -> None:
    model = torchvision.models.resnet18(num_classes=3).eval()
    with CamEngine(model, [model.layer4[-1]], options=CamOptions(method="eigencam")) as engine:
        assert engine._frozen is None
        assert np.ptp(engine.compute(torch.randn(1, 3, 64, 64)).cams) > 0


def test_freezing_context_restores_on_error() -> None:
    model = torchvision.models.resnet18(num_classes=3)
    with pytest.raises(RuntimeError), gradients_from_targets_only(model, [model.layer4[-1]]):
        raise RuntimeError("boom")
    assert all(p.requires_grad for p in model.parameters())
    assert not model.layer4[-1]._forward_hooks


class _MemoryBoundNet(torch.nn.Module):
    """A real network on a device that holds at most `limit` images: bigger batches raise CUDA's OOM error."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.head(self.features(x).mean((2, 3)))


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size() -> None:
    torch.manual_seed(0)
    model = _MemoryBoundNet(limit=2).eval()
    warnings: list[str] = []
    inputs = torch.randn(7, 3, 16, 16)
    with CamEngine(model, [model.features], say=warnings.append) as engine:
        result = engine.compute(inputs)
        assert engine.max_batch == 1  # 7 -> 3 -> 1: halved until it fits
        model.batch_sizes.clear()
        engine.compute(inputs)
    assert result.cams.shape == (7, 16, 16) and result.probabilities.shape == (7, 3)
    assert warnings and "out of GPU memory" in warnings[0]
    assert max(model.batch_sizes) <= 2, "the smaller batch is kept for later batches"
    with torch.no_grad():
        expected = torch.softmax(model(inputs[:2]), dim=-1).numpy()
    np.testing.assert_allclose(result.probabilities[:2], expected, rtol=1e-5)


def test_out_of_memory_even_for_one_image_is_a_clear_error() -> None:
    model = _MemoryBoundNet(limit=0).eval()
    with CamEngine(model, [model.features]) as engine, pytest.raises(CamvizError, match="--cpu"):
        engine.compute(torch.randn(2, 3, 16, 16))


class _CpuMemoryBoundNet(_MemoryBoundNet):
    """On the CPU, a batch over `limit` asks the real allocator for more memory than any machine has."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(x))
        if len(x) > self.limit:
            torch.empty(len(x) << 50, dtype=torch.uint8)  # the genuine DefaultCPUAllocator failure
        return self.head(self.features(x).mean((2, 3)))


def test_cpu_out_of_memory_backs_off_like_cuda_then_says_so_in_one_line() -> None:
    model = _CpuMemoryBoundNet(limit=2).eval()
    warnings: list[str] = []
    with CamEngine(model, [model.features], say=warnings.append) as engine:
        assert engine.compute(torch.randn(5, 3, 16, 16)).cams.shape == (5, 16, 16)
    assert warnings and "out of CPU memory" in warnings[0]
    model = _CpuMemoryBoundNet(limit=0).eval()
    with CamEngine(model, [model.features]) as engine, pytest.raises(
            CamvizError, match="out of CPU memory even for one image: try a smaller --img-size"):
        engine.compute(torch.randn(2, 3, 16, 16))
