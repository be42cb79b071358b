"""camviz.lightning.CamCallback in real Lightning training runs: TensorBoard, W&B (offline), CSVLogger and no
logger; the figures per epoch, heatmaps on the objects, and training left bit-identical."""

from __future__ import annotations

from pathlib import Path

import cv2
import lightning
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from camviz import log_cams
from camviz.lightning import CamCallback
from tests.support.figures import cam_from_figure, peak_inside
from tests.support.training import ImageListLogger, RankFolderCamCallback, ShapesClassifier, shapes_data, train

pytestmark = pytest.mark.slow  # the fast tier leaves this module out (pyproject.toml)

FIGURE_SHAPE = (336, 944, 3)  # three 96 px panels enlarged to 288, their titles, the colour bar


def _decoded(png: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two epochs with the callback (the first 12 validation inputs) and TensorBoard, and the same run without it."""
    root = tmp_path_factory.mktemp("lightning")
    callback = CamCallback(images=12, model="model")
    with_cams, trainer = train(root / "with", [callback])
    without, plain_trainer = train(root / "without")
    return {"with": with_cams, "trainer": trainer, "without": without, "plain_trainer": plain_trainer}


def test_the_event_file_holds_each_images_figure_for_each_epoch(runs: dict) -> None:
    events = EventAccumulator(runs["trainer"].logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    tags = sorted(events.Tags()["images"])
    assert tags == [f"camviz/image_{i:02d}" for i in range(12)]
    steps_per_epoch = len(shapes_data().train)
    for tag in tags:
        logged = events.Images(tag)
        assert [event.step for event in logged] == [steps_per_epoch, 2 * steps_per_epoch]
        assert all((event.height, event.width) == FIGURE_SHAPE[:2] for event in logged)
        assert _decoded(logged[0].encoded_image_string).shape == FIGURE_SHAPE


def test_the_last_epochs_heatmaps_peak_on_the_objects(runs: dict) -> None:
    events = EventAccumulator(runs["trainer"].logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    boxes = shapes_data().val_boxes
    hits = [peak_inside(cam_from_figure(_decoded(events.Images(f"camviz/image_{i:02d}")[-1].encoded_image_string), 96),
                        tuple(boxes[i])) for i in range(12)]
    assert sum(hits) >= 11, f"pointing game {sum(hits)}/12"
    first = _decoded(events.Images("camviz/image_00")[0].encoded_image_string)
    assert not np.array_equal(first, _decoded(events.Images("camviz/image_00")[-1].encoded_image_string)), \
        "each epoch explains the module as it is then"


def test_training_with_the_callback_is_bit_identical_to_training_without(runs: dict) -> None:
    trained, plain = runs["with"].state_dict(), runs["without"].state_dict()
    assert trained.keys() == plain.keys()
    assert all(torch.equal(trained[key], plain[key]) for key in trained)
    states = [trainer.optimizers[0].state_dict()["state"] for trainer in (runs["trainer"], runs["plain_trainer"])]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert all(torch.equal(torch.as_tensor(states[0][key][name]), torch.as_tensor(states[1][key][name]))
                   for name in states[0][key])
    module = runs["with"]
    assert module.training and all(p.requires_grad for p in module.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_paths_with_a_csv_logger_and_no_logger_become_png_folders(tmp_path: Path, circle_image: Path,
                                                                 small_split: Path) -> None:
    images = [circle_image, small_split / "square" / "square_000.png"]
    csv = lightning.pytorch.loggers.CSVLogger(tmp_path / "csv")
    _, trainer = train(tmp_path / "csv", [CamCallback(images=images, model="model", every_n_epochs=2)], logger=csv)
    logged = sorted(p.relative_to(tmp_path / "csv") for p in (tmp_path / "csv").rglob("*.png"))
    step = 2 * len(shapes_data().train)  # every_n_epochs=2: the second epoch only
    folder = Path(trainer.logger.log_dir).relative_to(tmp_path / "csv") / "camviz" / f"step_{step:08d}"
    assert logged == [folder / "circle_000.png", folder / "square_000.png"]
    _, trainer = train(tmp_path / "none", [CamCallback(images=images[:1], model="model")], epochs=1, logger=False)
    figure = cv2.imread(str(tmp_path / "none" / "camviz" / f"step_{step // 2:08d}" / "circle_000.png"))
    assert figure is not None and figure.shape == FIGURE_SHAPE


def test_a_wandb_style_logger_gets_the_figures_through_log_image(tmp_path: Path) -> None:
    logger = ImageListLogger()
    train(tmp_path, [CamCallback(images=3, model="model")], logger=logger)
    steps = len(shapes_data().train)
    assert [(key, step) for key, _, step, _ in logger.calls] == [("camviz", steps), ("camviz", 2 * steps)]
    for _, images, _, extra in logger.calls:
        assert extra == {"caption": ["image_00", "image_01", "image_02"]}
        assert all(image.dtype == np.uint8 and image.shape == FIGURE_SHAPE for image in images)


@pytest.mark.distributed
def test_under_ddp_only_rank_zero_explains_and_logs(tmp_path: Path) -> None:
    """Two real DDP ranks (CPU, gloo, spawned): figures appear in rank 0's folder only."""
    callback = RankFolderCamCallback(tmp_path / "cams", images=2, model="model")
    lightning.seed_everything(0, verbose=False)
    data = shapes_data(train_count=64, val_count=4)
    trainer = lightning.Trainer(max_epochs=1, accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
                                callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(ShapesClassifier(), data.train, data.val)
    logged = sorted(p.relative_to(tmp_path / "cams").as_posix() for p in (tmp_path / "cams").rglob("*.png"))
    steps = len(data.train) // 2  # each rank trains on half the batches
    assert logged == [f"rank0/step_{steps:08d}/image_00.png", f"rank0/step_{steps:08d}/image_01.png"]


class _DictForward(ShapesClassifier):
    """Returns `{"logits": ...}`, as many LightningModules do."""

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"logits": self.model(inputs)}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        inputs, labels = batch
        return torch.nn.functional.cross_entropy(self(inputs)["logits"], labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        pass


class _TupleForward(_DictForward):
    """Returns `(logits, features)`."""

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        features = self.model.forward_features(inputs)
        return self.model.forward_head(features), features

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        inputs, labels = batch
        return torch.nn.functional.cross_entropy(self(inputs)[0], labels)


class _CompiledInside(ShapesClassifier):
    """Its classifier `torch.compile`d (the eager backend: the same wrapper, no compiler needed)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = torch.compile(self.model, backend="eager")


def _fit_one_epoch(root: Path, module: lightning.LightningModule, callback: CamCallback) -> ImageListLogger:
    lightning.seed_everything(0, verbose=False)
    data = shapes_data(train_count=32, val_count=3)
    logger = ImageListLogger()
    trainer = lightning.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=logger, callbacks=[callback],
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                num_sanity_val_steps=0, default_root_dir=root)
    trainer.fit(module, data.train, data.val)
    return logger


@pytest.mark.parametrize("module_type", [_DictForward, _TupleForward, _CompiledInside])
@pytest.mark.parametrize("model_path", [None, "model"])
def test_dict_tuple_and_compiled_forwards_give_the_classifiers_figures(tmp_path: Path, module_type: type,
                                                                       model_path: str | None) -> None:
    module = module_type()
    logger = _fit_one_epoch(tmp_path, module, CamCallback(images=3, model=model_path))
    [(_, logged, _, _)] = logger.calls
    classifier = module.model._orig_mod if module_type is _CompiledInside else module.model
    reference = ShapesClassifier()  # a plain module (a logits tensor, nothing compiled) with the trained weights
    reference.model.load_state_dict(classifier.state_dict())
    inputs = torch.cat([inputs for inputs, _ in shapes_data(train_count=32, val_count=3).val])
    expected = log_cams(reference.model if model_path else reference, inputs, tmp_path / "plain", step=0)
    assert len(logged) == 3
    for figure, plain in zip(logged, expected, strict=True):
        assert np.array_equal(figure, plain.figure), "the figures of a plain module with the same weights"
    assert module.training and all(p.requires_grad for p in module.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_a_lightning_module_compiled_whole_trains_with_the_callback(tmp_path: Path) -> None:
    module = ShapesClassifier()
    logger = _fit_one_epoch(tmp_path, torch.compile(module, backend="eager"), CamCallback(images=2, model="model"))
    [(_, logged, _, _)] = logger.calls
    inputs = torch.cat([inputs for inputs, _ in shapes_data(train_count=32, val_count=3).val])[:2]
    expected = log_cams(module.model, inputs, tmp_path / "plain", step=0)
    assert all(np.array_equal(figure, plain.figure) for figure, plain in zip(logged, expected, strict=True))
