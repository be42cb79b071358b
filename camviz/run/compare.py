"""Several CAM methods side by side: one figure, a row per image, a column per method (the input first).

The maps are pytorch-grad-cam's (one `CamEngine` per method, closed before the next starts), the overlays
its `show_cam_on_image`; the grid is composed like the three-panel figure (`camviz.output.figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from camviz.cam.engine import CamEngine
from camviz.cam.methods import METHODS, canonical_method_name
from camviz.cam.options import CamOptions
from camviz.cam.regions import RegionCams, RegionChoice, background_classes
from camviz.data.decode import decode_image
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions, Task
from camviz.errors import UsageError
from camviz.output.figures import comparison_row, display_image, encode_image, join
from camviz.output.files import write_atomic
from camviz.output.outdir import make_output_dir
from camviz.output.prediction import Prediction, prediction
from camviz.run.model import resolve_model
from camviz.run.options import check_images_exist, check_model_options, check_target_category

DEFAULT_METHODS: tuple[str, ...] = tuple(
    name for name in ("gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam") if name in METHODS
)


def compare_methods(
    model: ModelOptions,
    images: Sequence[Path],
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    destination: Path = Path("compare.png"),
    cam: CamOptions = CamOptions(),
) -> Path:
    """Write one PNG comparing `methods` on `images` (a row per image, the input first) and return its path.

    Each method explains `cam.target_category`, or each image's predicted class, with `cam`'s smoothing (its
    `method` is not used: `methods` are). Titles name the image, the prediction with its probability, and per
    column the method and the explained class.
    """
    names = _check(images, methods, destination, model)
    target_category = cam.target_category
    resolved = resolve_model(model)
    if resolved.loaded.task is Task.detection:
        raise UsageError("camviz compare lays out one map per image and method; a detector has one per detection: "
                         "run camviz explain --method NAME per method")
    check_target_category(target_category, resolved.loaded.num_classes)
    pixels = np.stack([resolved.preprocessing.pixels(decode_image(path)) for path in images])
    inputs = resolved.preprocessing.normalize(torch.from_numpy(pixels).to(resolved.device))
    regions = RegionChoice(background=background_classes(resolved.class_names)) \
        if resolved.loaded.task is Task.segmentation else None
    cams: dict[str, np.ndarray] = {}
    for name in names:  # one engine (hooks, frozen parameters) at a time
        with CamEngine(resolved.model, resolved.targets.modules, resolved.targets.reshape_transform,
                       options=replace(cam, method=name), output_kind=resolved.loaded.output_kind,
                       regions=regions) as engine:
            batch = engine.compute(inputs, target_category)
        cams[name], probabilities = batch.cams, batch.probabilities  # the same model outputs for every method
    kind = resolved.loaded.output_kind
    shown = [_region_prediction(found, resolved.class_names) for found in batch.regions] if batch.regions is not None \
        else [prediction(kind, p, resolved.class_names, target_category) for p in probabilities]
    rows = [comparison_row(display_image(one), [cams[name][i] for name in names], _titles(path, shown[i], names))
            for i, (path, one) in enumerate(zip(images, pixels, strict=True))]
    make_output_dir(destination.parent)
    write_atomic(destination, encode_image(join(rows, axis=0)))
    return destination


def _region_prediction(found: RegionCams, class_names: Sequence[str]) -> Prediction:
    """A segmentation model's image as a row's titles name it: the classes it predicts; the columns show the first
    explained class's CAM (over its predicted region)."""
    names = tuple(class_names[c] for c in found.classes)
    shown = " + ".join(f"{name} {p:.1%}" for name, p in zip(names, found.probability, strict=True))
    return Prediction(predicted=names, confidence=found.probability, explained=names[:1] or ("nothing",),
                      shown=shown or "background only")


def _titles(path: Path, prediction: Prediction, methods: Sequence[str]) -> list[str]:
    """One row's titles: the input with the image's prediction, then each method with the class it explains."""
    return [f"{path.name} | pred: {prediction.shown}", *(f"{name} | explains: {prediction.explained[0]}"
                                                        for name in methods)]


def _check(images: Sequence[Path], methods: Sequence[str], destination: Path, model: ModelOptions) -> list[str]:
    """Canonical method names (duplicates dropped); usage errors before any model is loaded."""
    if not images:
        raise UsageError("give at least one --image-path")
    check_images_exist(InputOptions(images=tuple(Path(path) for path in images)))
    if not methods:
        raise UsageError(f"give at least one --method (available: {', '.join(METHODS)})")
    if destination.suffix.lower() != ".png":
        raise UsageError(f"--output {destination} must end in .png")
    check_model_options(model)
    return list(dict.fromkeys(canonical_method_name(method) for method in methods))
