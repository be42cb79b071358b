"""camviz.explain_image: the CLI's CAM and figure for a checkpoint, model objects (timm ViT, transformers ViT),
every kind of image, the caller's no_grad/inference_mode, and 100 calls that leave no hooks and no memory."""

from __future__ import annotations

import copy
import gc
import pickle
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import torch
from PIL import Image

from camviz import CamvizError, explain_image, load_model
from camviz.cam.options import CamOptions
from camviz.data.preprocessing import Preprocessing
from camviz.discovery.options import ModelOptions, OutputName
from camviz.errors import UsageError
from camviz.integrations.state import hook_count
from tests.support.checkpoints import tiny_timm
from tests.support.hf import VIT, label_config, save_folder


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.process
def test_importing_camviz_and_its_integrations_imports_no_lightning_and_no_tensorboard() -> None:
    code = ("import sys, camviz; camviz.explain_image, camviz.log_cams; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', 'tensorboard')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_model_object_gives_its_checkpoints_cam_under_no_grad_and_inference_mode(trained_checkpoint: Path,
                                                                                    circle_image: Path) -> None:
    expected = explain_image(trained_checkpoint, circle_image)
    model = load_model(trained_checkpoint).model
    for context in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with context():
            from_checkpoint = explain_image(trained_checkpoint, circle_image)
            from_model = explain_image(model, circle_image,
                                       options=ModelOptions(class_names=("circle", "square", "triangle")))
        for explained in (from_checkpoint, from_model):
            assert np.abs(explained.cam - expected.cam).max() <= 1e-6, context
            assert explained.prediction == "circle"
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


@pytest.mark.slow
def test_a_timm_vit_object_gives_its_checkpoints_cam(tmp_path: Path, circle_image: Path) -> None:
    model = tiny_timm("test_vit", num_classes=3, img_size=64)
    torch.save({"model_name": "test_vit", "img_size": 64, "state_dict": model.state_dict()}, tmp_path / "vit.pth")
    from_model = explain_image(model, circle_image, options=ModelOptions(img_size=64))
    from_checkpoint = explain_image(tmp_path / "vit.pth", circle_image)
    assert from_model.cam.shape == (64, 64) and np.ptp(from_model.cam) > 0.5
    assert np.abs(from_model.cam - from_checkpoint.cam).max() <= 1e-6
    assert from_model.prediction == from_checkpoint.prediction
    assert hook_count(model) == 0


def test_a_transformers_vit_object_gives_its_folders_cam(tmp_path: Path, circle_image: Path) -> None:
    import transformers as T

    torch.manual_seed(0)
    model = T.ViTForImageClassification(T.ViTConfig(**VIT, image_size=[32, 48], patch_size=8, **label_config()))
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
    folder = save_folder(tmp_path, "vit", model, {"size": {"height": 32, "width": 48}, "image_mean": mean,
                                                   "image_std": std})
    from_model = explain_image(model, circle_image, options=ModelOptions(mean=mean, std=std))
    from_folder = explain_image(folder, circle_image)
    assert from_model.cam.shape == (32, 48) and np.ptp(from_model.cam) > 0.5
    assert np.abs(from_model.cam - from_folder.cam).max() <= 1e-6
    assert from_model.prediction == from_folder.prediction in ("triangle", "circle", "square")  # id2label names
    assert model._camviz_explainers.by_key.popitem()[1].setup.targets.family == "hf_vit"
    assert hook_count(model) == 0


def test_every_kind_of_image_gives_the_same_cam(trained_checkpoint: Path, circle_image: Path) -> None:
    model = load_model(trained_checkpoint).model
    expected = explain_image(model, circle_image)
    pixels = np.asarray(Image.open(circle_image).convert("RGB"))
    normalised = Preprocessing((96, 96), (0.5,) * 3, (0.5,) * 3).normalize(torch.from_numpy(pixels)[None])[0]
    kinds = {"str": str(circle_image), "PIL": Image.open(circle_image), "uint8 HWC": pixels,
             "float HWC": pixels / 255.0, "uint8 CHW tensor": torch.from_numpy(pixels).permute(2, 0, 1),
             "RGBA": Image.open(circle_image).convert("RGBA"), "float CHW tensor (model input)": normalised}
    for kind, image in kinds.items():
        explained = explain_image(model, image)
        assert np.abs(explained.cam - expected.cam).max() <= 1e-6, kind
        assert np.array_equal(explained.pixels, expected.pixels), kind


def test_options_follow_the_cli(trained_checkpoint: Path, circle_image: Path) -> None:
    model = load_model(trained_checkpoint).model
    named = ModelOptions(class_names=("circle", "square", "triangle"))
    default = explain_image(model, circle_image, options=named)
    forced = explain_image(model, circle_image, cam=CamOptions(target_category=2), options=named)
    assert forced.prediction == "circle" and forced.explained == "triangle"
    assert "explained: triangle" in forced.titles[0][1] and not np.array_equal(forced.cam, default.cam)
    shallower = explain_image(model, circle_image, options=ModelOptions(target_layers=("stages.1",)))
    assert not np.array_equal(shallower.cam, default.cam)
    eigen = explain_image(model, circle_image, cam=CamOptions(method="EigenCAM"))
    assert eigen.method == "eigencam" and eigen.titles[0][1].startswith("eigencam heatmap")
    with pytest.raises(UsageError, match="out of range"):
        explain_image(model, circle_image, cam=CamOptions(target_category=3))
    with pytest.raises(UsageError, match="unknown --method"):
        explain_image(model, circle_image, cam=CamOptions(method="nope"))


def test_a_multilabel_model_gets_a_cam_and_a_figure_row_per_label(circle_image: Path) -> None:
    model = tiny_timm("test_resnet", num_classes=5)
    with torch.no_grad():  # two labels clearly on, three clearly off
        model.fc.bias.copy_(torch.tensor([3.0, -3.0, 2.0, -3.0, -4.0]))
    explained = explain_image(model, circle_image, options=ModelOptions(
        output=OutputName.multilabel, img_size=48, class_names=("car", "person", "dog", "tree", "sky")))
    assert explained.prediction == "car+dog" and explained.explained == "car+dog"
    assert explained.label_cams.shape == (2, 48, 48) and np.array_equal(explained.label_cams[0], explained.cam)
    single = explain_image(model, circle_image, options=ModelOptions(img_size=48))
    assert explained.figure().shape[0] == 2 * single.figure().shape[0] + 12  # two rows and the gap between


def test_the_figure_saves_and_shows_itself_as_png(trained_checkpoint: Path, circle_image: Path, tmp_path: Path) -> None:
    explained = explain_image(trained_checkpoint, circle_image)
    figure = explained.figure()
    assert figure.dtype == np.uint8 and figure.shape == (336, 944, 3)
    assert np.array_equal(_rgb(explained.save(tmp_path / "figures" / "circle.png")), figure)
    assert np.array_equal(cv2.cvtColor(cv2.imdecode(np.frombuffer(explained._repr_png_(), np.uint8),
                                                    cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), figure)
    with pytest.raises(UsageError, match=r"\.png, \.jpg, \.webp"):
        explained.save(tmp_path / "circle.gif")


def test_images_it_cannot_read_are_one_clear_error(trained_checkpoint: Path, tmp_path: Path) -> None:
    model = load_model(trained_checkpoint).model
    cases = {"cannot decode": tmp_path / "broken.png", "an image array must be": np.zeros((2, 3, 4, 5)),
             "cannot read an image from a dict": {}, "must be uint8, or float": np.zeros((8, 8), np.int64),
             "a uint8 image tensor must be": torch.zeros(5, 8, 8, dtype=torch.uint8)}
    (tmp_path / "broken.png").write_bytes(b"not a png")
    for words, image in cases.items():
        with pytest.raises(CamvizError, match=words):
            explain_image(model, image)
    with pytest.raises(UsageError, match=r"checkpoint path or an nn\.Module"):
        explain_image(42, tmp_path / "broken.png")


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if torch.is_tensor(item))


@pytest.mark.slow
def test_a_hundred_calls_reuse_one_engine_and_grow_no_hooks_and_no_memory(trained_checkpoint: Path,
                                                                          circle_image: Path) -> None:
    model = load_model(trained_checkpoint).model
    image = np.asarray(Image.open(circle_image).convert("RGB"))
    explain_image(model, image)
    explainer = model._camviz_explainers.by_key[next(iter(model._camviz_explainers.by_key))]
    engine = explainer._engine
    for _ in range(10):  # warm-up: allocator pools, caches
        explain_image(model, image)
    tensors, rss = _live_tensors(), psutil.Process().memory_info().rss
    tracemalloc.start()
    gc.collect()  # a full collection also empties CPython's free lists, which fill up call by call: not a leak
    before = tracemalloc.take_snapshot()
    for _ in range(100):
        explain_image(model, image)
        assert hook_count(model) == 0
    gc.collect()
    growth = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert len(model._camviz_explainers.by_key) == 1 and explainer._engine is engine
    assert _live_tensors() == tensors
    assert growth < 64 * 1024, f"Python allocations grew by {growth} bytes over 100 calls"
    assert psutil.Process().memory_info().rss - rss < 8 * 2**20
    copied, pickled = copy.deepcopy(model), pickle.loads(pickle.dumps(model))  # the engines stay with the original
    assert copied._camviz_explainers.by_key == {} and pickled._camviz_explainers.by_key == {}
    assert np.array_equal(explain_image(copied, image).cam, explain_image(model, image).cam)


def test_several_images_are_refused_not_cut_to_the_first(trained_checkpoint: Path, small_split: Path) -> None:
    model = load_model(trained_checkpoint).model
    images = sorted(small_split.rglob("*.png"))[:3]
    for batch in (images, torch.rand(2, 3, 96, 96)):
        with pytest.raises(UsageError, match=r"explain_image explains one image \(got \d\).*log_cams"):
            explain_image(model, batch)
    assert explain_image(model, images[:1]).cam.shape == (96, 96)


def test_a_model_shared_by_threads_gives_each_call_its_own_images_map_and_is_left_as_found(
        trained_checkpoint: Path, small_split: Path) -> None:
    model = load_model(trained_checkpoint).model.train()
    frozen = model.stem[0][0].weight.requires_grad_(False)
    images = sorted(small_split.rglob("*.png"))
    alone = {path: explain_image(model, path).cam for path in images}
    barrier = threading.Barrier(3)
    failures: list[str] = []

    def explain_each(paths: list[Path]) -> None:
        barrier.wait()
        for _ in range(4):
            for path in paths:
                try:
                    cam = explain_image(model, path).cam
                except Exception as error:  # a failure in a thread must reach the assertion
                    failures.append(f"{path.name}: {type(error).__name__}: {error}")
                    continue
                if np.abs(cam - alone[path]).max() > 1e-6:
                    failures.append(f"{path.name}: another image's map")

    threads = [threading.Thread(target=explain_each, args=(images[i::3],)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(module.training for module in model.modules())
    assert not frozen.requires_grad and all(p.requires_grad for p in model.parameters() if p is not frozen)
    assert hook_count(model) == 0


def test_a_compiled_model_is_explained_as_the_module_it_compiled(trained_checkpoint: Path, circle_image: Path) -> None:
    model = load_model(trained_checkpoint).model
    expected = explain_image(model, circle_image)
    compiled = torch.compile(model, backend="eager")
    assert np.abs(explain_image(compiled, circle_image).cam - expected.cam).max() <= 1e-6
    torch.manual_seed(0)
    sequential = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                     torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    plain = explain_image(sequential, circle_image, options=ModelOptions(img_size=96))
    from_compiled = explain_image(torch.compile(sequential, backend="eager"), circle_image,
                                  options=ModelOptions(img_size=96))
    assert np.ptp(plain.cam) > 0.1 and np.abs(from_compiled.cam - plain.cam).max() <= 1e-6
    assert hook_count(model) == 0 and hook_count(sequential) == 0
