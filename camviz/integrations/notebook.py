"""`explain_image`: one call, one image, everything in memory (the notebook's Grad-CAM)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from torch import nn

from camviz.cam.options import CamOptions
from camviz.data.listing import display_name
from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.integrations.explainer import Explainer, cached_explainer, checkpoint_explainer
from camviz.integrations.explanation import ImageExplanation
from camviz.integrations.images import ImageLike, Prepared
from camviz.output.manifest import joined
from camviz.output.prediction import prediction, titles


def explain_image(
    model_or_checkpoint: nn.Module | str | Path,
    image: ImageLike,
    *,
    cam: CamOptions = CamOptions(),
    options: ModelOptions = ModelOptions(),
) -> ImageExplanation:
    """Explain one image with a checkpoint (read as `camviz explain` reads it) or a model in memory.

    `image`: a path, a PIL image, an HWC numpy array, a uint8 CHW tensor (pixels) or a float CHW tensor (the
    model's normalised input). `cam`: the method, smoothing and explained class, as `camviz explain`'s options;
    `options`: how the model is read (`target_layers`, `output`, `threshold`, `img_size`, `mean`, `std`,
    `class_names`, ...), overriding what the checkpoint or the model says of itself. Repeated calls on a model in
    memory reuse one CAM engine, whose hooks are on the model only while it runs. Works under the caller's
    `torch.no_grad()` and `torch.inference_mode()`.
    """
    explainer = _explainer(model_or_checkpoint, options, cam)
    prepared = explainer.prepare(image)
    if len(prepared.inputs) != 1:
        raise UsageError(f"explain_image explains one image (got {len(prepared.inputs)}): call it once per image, "
                         "or log_cams for a batch")
    return explain_prepared(explainer, prepared, [_subject(image)])[0]


def _explainer(model_or_checkpoint: nn.Module | str | Path, options: ModelOptions, cam: CamOptions) -> Explainer:
    if isinstance(model_or_checkpoint, nn.Module):
        return cached_explainer(model_or_checkpoint, options, cam)
    if isinstance(model_or_checkpoint, (str, Path)):
        return checkpoint_explainer(replace(options, path=Path(model_or_checkpoint)), cam)
    raise UsageError(f"explain a checkpoint path or an nn.Module (got a {type(model_or_checkpoint).__name__})")


def explain_prepared(explainer: Explainer, prepared: Prepared, subjects: Sequence[str]) -> list[ImageExplanation]:
    """Each image of the batch explained in one engine pass, titled as the CLI titles single-mode figures."""
    batch = explainer.compute(prepared)
    kind, class_names = explainer.setup.output_kind, explainer.setup.class_names
    explained = []
    for position, subject in enumerate(subjects):
        probabilities = batch.probabilities[position]
        named = prediction(kind, probabilities, class_names, explainer.cam.target_category)
        top = kind.predicted(probabilities) or [int(probabilities.argmax())]
        label_cams = None if batch.label_cams is None else batch.label_cams[position]
        explained.append(ImageExplanation(
            cam=batch.cams[position], pixels=prepared.pixels[position], probabilities=probabilities,
            prediction=joined(named.predicted), probability=float(probabilities[top[0]]),
            explained=joined(named.explained), method=explainer.method,
            titles=titles(explainer.method, subject, named), label_cams=label_cams))
    return explained


def _subject(image: ImageLike) -> str:
    """How the figure's input panel names the image: the file name (as the CLI), else `image`."""
    return display_name(Path(image).name) if isinstance(image, (str, Path)) else "image"
