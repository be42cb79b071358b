"""Several CAM methods side by side: one figure, a row per image, a column per method (the input first).

The maps are pytorch-grad-cam's (one `CamEngine` per method, closed before the next starts), the overlays
its `show_cam_on_image`; the grid is composed with numpy and OpenCV like the three-panel figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from camviz.cam import METHODS, CamEngine, canonical_method_name, explained_classes, predicted_classes
from camviz.classes import class_names_for
from camviz.data import Preprocessing, decode_image, display_image
from camviz.errors import UsageError
from camviz.explain import check_target_category, select_device
from camviz.layers import resolve_targets
from camviz.models import ImageSize, as_size, load_model
from camviz.outdir import make_output_dir
from camviz.render import encode_image, enlarge, join, overlay, titled, write_atomic

DEFAULT_METHODS: tuple[str, ...] = tuple(
    name for name in ("gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam") if name in METHODS
)


def compare_methods(
    model_path: Path,
    images: Sequence[Path],
    methods: Sequence[str],
    output: Path,
    *,
    model_name: str | None = None,
    target_layers: Sequence[str] = (),
    target_category: int | None = None,
    img_size: int | ImageSize | None = None,
    plugins: Sequence[str] = (),
    cpu: bool = False,
) -> Path:
    """Write one PNG comparing `methods` on `images` (a row per image, the input first) and return its path.

    Each method explains `target_category`, or each image's predicted class. Titles name the image, the
    predicted class with its probability, and per column the method and the explained class.
    """
    names = _check(images, methods, output, img_size)
    loaded = load_model(model_path, model_name, img_size=img_size, plugins=plugins)
    check_target_category(target_category, loaded.num_classes)
    class_names = class_names_for(loaded, [])
    device = select_device(cpu)
    model = loaded.model.to(device).eval()
    spec = loaded.input
    targets = resolve_targets(model, loaded.model_name, list(target_layers) or None, spec.size)
    preprocessing = Preprocessing(spec.size, spec.mean, spec.std, spec.channels)
    pixels = np.stack([preprocessing.pixels(decode_image(path)) for path in images])
    inputs = preprocessing.normalize(torch.from_numpy(pixels).to(device))
    displays = [display_image(one) for one in pixels]
    cams: dict[str, np.ndarray] = {}
    for name in names:  # one engine (hooks, frozen parameters) at a time
        with CamEngine(model, targets.modules, targets.reshape_transform, name, output=loaded.output) as engine:
            batch = engine.explain(inputs, target_category)
        cams[name], probabilities = batch.cams, batch.probabilities  # the same model outputs for every method
    rows = []
    for i, (path, display) in enumerate(zip(images, displays)):
        pred = (predicted_classes(probabilities[i], loaded.output) or [int(probabilities[i].argmax())])[0]
        explained = class_names[explained_classes(probabilities[i], loaded.output, target_category=target_category)[0]]
        input_title = f"{path.name} | pred: {class_names[pred]} ({probabilities[i, pred]:.0%})"
        method_titles = [f"{name} | explains: {explained}" for name in names]
        rows.append(_row(display, [cams[name][i] for name in names], [input_title, *method_titles]))
    make_output_dir(output.parent)
    write_atomic(output, encode_image(join(rows, axis=0)))
    return output


def _check(images: Sequence[Path], methods: Sequence[str], output: Path, img_size: int | ImageSize | None) -> list[str]:
    """Canonical method names (duplicates dropped); usage errors before any model is loaded."""
    if not images:
        raise UsageError("give at least one --image-path")
    missing = [str(path) for path in images if not Path(path).is_file()]
    if missing:
        raise UsageError(f"--image-path {', '.join(missing)}: no such file")
    if not methods:
        raise UsageError(f"give at least one --method (available: {', '.join(METHODS)})")
    if output.suffix.lower() != ".png":
        raise UsageError(f"--output {output} must end in .png")
    as_size(img_size)
    return list(dict.fromkeys(canonical_method_name(method) for method in methods))


def _row(display: np.ndarray, cams: Sequence[np.ndarray], titles: Sequence[str]) -> np.ndarray:
    """The input and one overlay per CAM, enlarged for legibility, each under its title."""
    panels = [np.uint8(np.round(display * 255)), *(overlay(display, cam) for cam in cams)]
    return join([titled(enlarge(panel), title) for panel, title in zip(panels, titles)], axis=1)
