"""`log_cams`: a fixed image set's figures from any PyTorch training loop, to TensorBoard or a folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from camviz.cam.options import CamOptions
from camviz.discovery.options import ModelOptions
from camviz.integrations.explainer import Explainer, cached_explainer
from camviz.integrations.images import ImageLike, Prepared
from camviz.integrations.notebook import explain_prepared
from camviz.integrations.sinks import FigureSink, NamedFigure, sink_for


def log_cams(model: nn.Module, images: ImageLike | Sequence[ImageLike], writer: Any, step: int, *,  # noqa: PLR0913 (public: what, where, when, then explain_image's two values)
             cam: CamOptions = CamOptions(), options: ModelOptions = ModelOptions()) -> list[NamedFigure]:
    """Explain `images` with `model` as it is now, in one engine pass, and log each three-panel figure at `step`.

    `writer`: a `torch.utils.tensorboard.SummaryWriter` (`add_image`, tag `camviz/{name}`), a W&B-like logger
    (`log_image`), or a folder (`{folder}/step_{step:08d}/{name}.png`). Images as `explain_image` takes them,
    or a BCHW batch; `cam` and `options` as `explain_image` takes them. The model is left as found: modes,
    `requires_grad`, gradients, hooks, random state; repeated calls reuse one CAM engine. Returns what was logged.
    """
    explainer = cached_explainer(model, options, cam)
    return log_figures(explainer, explainer.prepare(images), [sink_for(writer)], step)


def log_figures(explainer: Explainer, prepared: Prepared, sinks: Sequence[FigureSink], step: int) -> list[NamedFigure]:
    """A prepared batch explained in one engine pass, each figure handed to every sink at `step`."""
    explained = explain_prepared(explainer, prepared, prepared.names)
    figures = [NamedFigure(name, item.figure()) for name, item in zip(prepared.names, explained, strict=True)]
    for sink in sinks:
        sink.write(figures, step)
    return figures
