"""What one `camviz explain` run is asked to do: its options, with the defaults the CLI shows, and their checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camviz.cam.memory import check_figure_fits
from camviz.cam.methods import canonical_method_name
from camviz.discovery.families import Family
from camviz.discovery.spec import ImageSize, as_size
from camviz.errors import UsageError
from camviz.output.figures import FIGURE_FORMATS, figure_bytes
from camviz.run.model import ModelRequest


@dataclass
class ExplainOptions:
    """Everything one run needs; the defaults are the CLI's."""

    model_path: Path
    image_path: Path | None = None
    data_dir: Path | None = None
    model_name: str | None = None
    target_category: int | None = None
    img_size: int | ImageSize | None = None  # one number (square) or (height, width)
    output_dir: Path = Path("gradcam_results")
    num_samples: int | None = None
    batch_size: int | None = None  # None: 64 on CUDA, 8 elsewhere
    num_workers: int | None = None  # None: a share of the CPUs (camviz.run.cpus.share_cpus)
    cpu: bool = False
    method: str = "gradcam"
    target_layers: Sequence[str] = ()
    classes: Sequence[str] = ()
    seed: int = 0
    save_raw: bool = False
    plugins: Sequence[str] = ()
    trust_checkpoint: bool = False
    ema: bool = False
    resume: bool = False
    aug_smooth: bool = False
    eigen_smooth: bool = False
    only_misclassified: bool = False
    metrics: bool = False
    figure_format: str = "png"  # png | jpg | webp
    families: Sequence[Family] = ()  # extra family-table rows (e.g. from a --config preset), tried first
    multi_label: bool = False  # a sigmoid per label (also when the checkpoint records it)
    threshold: float = 0.5  # multilabel: labels at or above it are the prediction
    state_prefix: str | None = None  # the wrapped network's prefix in a checkpoint that holds several
    masks: Path | None = None  # batch mode: a mask per image, same relative path and stem (nonzero = object)
    boxes: Path | None = None  # batch mode: a CSV of path,x_min,y_min,x_max,y_max rows in the image's pixels

    def model_request(self) -> ModelRequest:
        """The model these options ask for."""
        return ModelRequest(self.model_path, self.model_name, self.img_size, self.multi_label, self.threshold,
                            tuple(self.target_layers), tuple(self.families), tuple(self.plugins),
                            self.trust_checkpoint, self.ema, self.cpu, self.state_prefix)


def check_options(options: ExplainOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    if (options.image_path is None) == (options.data_dir is None):
        raise UsageError("give exactly one of --image-path (one image) or --data-dir (an ImageFolder split)")
    if options.image_path is not None and not options.image_path.is_file():
        raise UsageError(f"--image-path {options.image_path} does not exist or is not a file")
    if options.num_samples is not None and options.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {options.num_samples}); omit it for all images")
    for name, value, least in (("--batch-size", options.batch_size, 1), ("--num-workers", options.num_workers, 0)):
        if value is not None and value < least:
            raise UsageError(f"{name} must be at least {least} (got {value})")
    if options.metrics and options.data_dir is None:
        raise UsageError("--metrics needs --data-dir: the scores are columns of manifest.csv")
    if (options.masks or options.boxes) and options.data_dir is None:
        raise UsageError("--masks and --boxes need --data-dir: the localization scores are columns of manifest.csv")
    size = as_size(options.img_size)
    if size is not None:
        check_figure_fits(*size, figure_bytes(*size))  # up front: before the model is read or run at that size
    if not 0.0 < options.threshold < 1.0:
        raise UsageError(f"--threshold must be between 0 and 1 (got {options.threshold})")
    if options.figure_format not in FIGURE_FORMATS:
        raise UsageError(f"--figure-format must be one of {', '.join(FIGURE_FORMATS)} (got {options.figure_format!r})")
    canonical_method_name(options.method)


def check_target_category(target_category: int | None, num_classes: int) -> None:
    """`--target-category` must name one of the model's classes."""
    if target_category is not None and not 0 <= target_category < num_classes:
        raise UsageError(
            f"--target-category {target_category} is out of range: the model has "
            f"{num_classes} classes (0..{num_classes - 1})"
        )
