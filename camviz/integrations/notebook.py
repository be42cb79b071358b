"""`explain_image`: one call, one image, everything in memory (the notebook's Grad-CAM)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from camviz.data.listing import display_name
from camviz.discovery.spec import ImageSize
from camviz.errors import UsageError
from camviz.integrations.explainer import Explainer, cached_explainer, checkpoint_explainer
from camviz.integrations.explanation import ImageExplanation
from camviz.integrations.images import ImageLike, Prepared
from camviz.integrations.setup import CamSettings
from camviz.output.writers import WriterSettings


def explain_image(
    model_or_checkpoint: nn.Module | str | Path,
    image: ImageLike,
    *,
    method: str = "gradcam",
    target_category: int | None = None,
    target_layers: Sequence[str] = (),
    output: str | None = None,
    threshold: float = 0.5,
    img_size: int | ImageSize | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    model_name: str | None = None,
    cpu: bool = False,
) -> ImageExplanation:
    """Explain one image with a checkpoint (read as `camviz explain` reads it) or a model in memory.

    `image`: a path, a PIL image, an HWC numpy array, a uint8 CHW tensor (pixels) or a float CHW tensor (the
    model's normalised input). `method`, `target_category`, `target_layers` (dotted paths), `output` (softmax,
    binary, multilabel) and `threshold` are `camviz explain`'s options. For a model in memory, `img_size`, `mean`,
    `std` and `class_names` override what it says of itself; repeated calls on it reuse one CAM engine, whose hooks
    are on the model only while it runs. Works under the caller's `torch.no_grad()` and `torch.inference_mode()`.
    """
    settings = CamSettings(method, tuple(target_layers), output, threshold, img_size,
                           tuple(mean) if mean is not None else None, tuple(std) if std is not None else None,
                           tuple(class_names) if class_names is not None else None, model_name, cpu=cpu)
    explainer = _explainer(model_or_checkpoint, settings)
    return explain_prepared(explainer, explainer.prepare(image), target_category, [_subject(image)])[0]


def _explainer(model_or_checkpoint: nn.Module | str | Path, settings: CamSettings) -> Explainer:
    if isinstance(model_or_checkpoint, nn.Module):
        return cached_explainer(model_or_checkpoint, settings)
    if isinstance(model_or_checkpoint, (str, Path)):
        return checkpoint_explainer(Path(model_or_checkpoint), settings)
    raise UsageError(f"explain a checkpoint path or an nn.Module (got a {type(model_or_checkpoint).__name__})")


def explain_prepared(explainer: Explainer, prepared: Prepared, target_category: int | None,
                     subjects: Sequence[str]) -> list[ImageExplanation]:
    """Each image of the batch explained in one engine pass, titled as the CLI titles single-mode figures."""
    batch = explainer.compute(prepared, target_category)
    setup = explainer.setup
    words = WriterSettings(Path(), explainer.method, tuple(setup.class_names), setup.output_kind, target_category)
    explained = []
    for position, subject in enumerate(subjects):
        probabilities = batch.probabilities[position]
        prediction = words.prediction(probabilities)
        top = setup.output_kind.predicted(probabilities) or [int(probabilities.argmax())]
        label_cams = None if batch.label_cams is None else batch.label_cams[position]
        explained.append(ImageExplanation(
            batch.cams[position], prepared.pixels[position], probabilities, prediction.pred,
            float(probabilities[top[0]]), "+".join(prediction.explained), explainer.method,
            words.titles(subject, prediction), label_cams))
    return explained


def _subject(image: ImageLike) -> str:
    """How the figure's input panel names the image: the file name (as the CLI), else `image`."""
    return display_name(Path(image).name) if isinstance(image, (str, Path)) else "image"
