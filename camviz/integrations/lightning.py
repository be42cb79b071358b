"""`CamCallback`: a fixed image set explained with the module being trained, at the end of validation.

Needs the `lightning` package (`pip install "camviz[lightning]"`); only `camviz.lightning` imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

try:
    import lightning.pytorch as pl
except ImportError as error:  # an optional extra
    raise ImportError('camviz.lightning needs Lightning: pip install "camviz[lightning]"') from error

from camviz.cam.options import CamOptions
from camviz.discovery.layers import get_submodule
from camviz.discovery.logits import uncompiled
from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.integrations.explainer import Explainer, module_explainer
from camviz.integrations.images import ImageLike, Prepared
from camviz.integrations.loops import log_figures
from camviz.integrations.sinks import FigureSink, FolderSink, TensorBoardSink, WandbSink

FOLDER_NAME = "camviz"


class CamCallback(pl.Callback):
    """Log the three-panel CAM figures of a fixed image set every `every_n_epochs` validations, on rank 0.

    `images`: paths (or any image `explain_image` takes), a float BCHW batch of the model's inputs, or a number N:
    the first N inputs of the validation loader, chosen once (a batch is a tensor or a tuple/list starting with
    one). `model`: the attribute path of the classifier inside the LightningModule (e.g. `"model"`, for the family
    lookup); default the LightningModule itself, whose forward returns logits. Figures go to every logger that
    takes images: TensorBoard (`add_image`, tag `camviz/{name}`), W&B (`log_image`, key `camviz`); other loggers
    (CSVLogger), or none, get PNGs in `folder`, else `{log dir or trainer root}/camviz/step_{global_step}/`.
    One engine pass per call; the module's modes, `requires_grad` flags, gradients, hooks and random state are
    as they were before it, and the optimizer is never touched.
    """

    def __init__(self, images: int | torch.Tensor | Sequence[ImageLike], every_n_epochs: int = 1, *,  # noqa: PLR0913 (public: the images, when, then the same values as explain_image)
                 model: str | None = None, cam: CamOptions = CamOptions(), options: ModelOptions = ModelOptions(),
                 folder: str | Path | None = None) -> None:
        if every_n_epochs < 1:
            raise UsageError(f"every_n_epochs must be at least 1 (got {every_n_epochs})")
        if isinstance(images, int) and images < 1:
            raise UsageError(f"images must be at least 1 image from the validation loader (got {images})")
        self.images = images
        self.every_n_epochs = every_n_epochs
        self.model_path = model
        self.cam = cam
        self.options = options
        self.folder = Path(folder) if folder is not None else None
        self._collected: list[torch.Tensor] = []  # images=N: the validation inputs seen so far
        self._explainer: Explainer | None = None
        self._prepared: Prepared | None = None

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,  # noqa: PLR0913, PLR0917 (Lightning's hook)
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """images=N: keep the first N inputs of the first validation loader (once, on rank 0)."""
        if not isinstance(self.images, int) or trainer.sanity_checking or not trainer.is_global_zero:
            return
        wanted = self.images - sum(len(inputs) for inputs in self._collected)
        if wanted > 0 and dataloader_idx == 0:
            with torch.inference_mode(False):
                self._collected.append(_inputs_of(batch)[:wanted].detach().cpu().clone())

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every `every_n_epochs` epochs, on rank 0: explain the image set with the module as it is now and log it."""
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        explainer = self._explainer_for(pl_module)
        prepared = self._prepared_for(explainer)
        if prepared is not None:
            log_figures(explainer, prepared, self._sinks(trainer), trainer.global_step)

    def _explainer_for(self, pl_module: pl.LightningModule) -> Explainer:
        """The explainer made at the first call, kept while the classifier's layers stay the same."""
        model = uncompiled(get_submodule(pl_module, self.model_path) if self.model_path else pl_module)
        if self._explainer is None or not self._explainer.still_fits(model):
            self._explainer = module_explainer(model, self.options, self.cam, owner=pl_module)
            self._prepared = None
        return self._explainer

    def _prepared_for(self, explainer: Explainer) -> Prepared | None:
        """The image set as model inputs, prepared once (images=N: once N are seen, or at the end of the epoch)."""
        if self._prepared is None:
            if isinstance(self.images, int):
                if not self._collected:
                    return None
                self._prepared = explainer.prepare(torch.cat(self._collected))
                self._collected = []
            else:
                self._prepared = explainer.prepare(self.images)
        return self._prepared

    def _sinks(self, trainer: pl.Trainer) -> list[FigureSink]:
        """A sink per logger that takes images; one folder of PNGs if another logger (or none) is there."""
        sinks: list[FigureSink] = []
        folder = None if trainer.loggers else Path(trainer.default_root_dir) / FOLDER_NAME
        for logger in trainer.loggers:
            if callable(getattr(logger, "log_image", None)):
                sinks.append(WandbSink(logger))
            elif callable(getattr(experiment := getattr(logger, "experiment", None), "add_image", None)):
                sinks.append(TensorBoardSink(experiment))
            elif folder is None:
                folder = Path(logger.log_dir or trainer.default_root_dir) / FOLDER_NAME
        if folder is not None:
            sinks.append(FolderSink(self.folder or folder))
        return sinks


def _inputs_of(batch: Any) -> torch.Tensor:
    """The inputs of a validation batch: the batch itself, or the first item of a tuple or list."""
    inputs = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if not isinstance(inputs, torch.Tensor) or inputs.ndim != 4:
        raise UsageError("CamCallback(images=N) reads image batches as a BCHW tensor or a tuple/list starting with "
                         "one; pass images= (paths or a tensor batch) instead")
    return inputs
