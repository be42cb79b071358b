"""What one `camviz explain` run is asked to do: the concepts' values together, and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from camviz.cam.detection_cams import DetectionChoice
from camviz.cam.memory import check_figure_fits
from camviz.cam.methods import canonical_method_name
from camviz.cam.metrics import METRIC_NAMES
from camviz.cam.options import CamOptions
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.discovery.spec import as_size
from camviz.errors import UsageError
from camviz.output.figures import FigureFormat, figure_bytes
from camviz.output.options import OutputOptions


class RunMode(StrEnum):
    """`single`: one image, its figure and overlay; `batch`: a split, with manifest, gallery and class means."""

    single = "single"
    batch = "batch"


@dataclass(frozen=True, kw_only=True)
class ExplainOptions:
    """Everything one run needs: the model, the images, the CAM, the files, and how the work is batched."""

    model: ModelOptions
    inputs: InputOptions
    cam: CamOptions = field(default_factory=CamOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    batch_size: int | None = None  # None: 64 on CUDA, 8 elsewhere
    num_workers: int | None = None  # None: a share of the CPUs (camviz.run.cpus.share_cpus)
    resume: bool = False  # keep the rows and files an earlier run finished with these same settings
    detection: DetectionChoice = field(default_factory=DetectionChoice)  # a detector's: which detections are explained

    @property
    def mode(self) -> RunMode:
        """Batch mode for a data dir, else single mode."""
        return RunMode.batch if self.inputs.data_dir is not None else RunMode.single


def check_options(options: ExplainOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    inputs, output = options.inputs, options.output
    if len(inputs.images) + (inputs.data_dir is not None) != 1:
        raise UsageError("give exactly one of --image-path (one image) or --data-dir (an ImageFolder split)")
    check_images_exist(inputs)
    if inputs.num_samples is not None and inputs.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {inputs.num_samples}); omit it for all images")
    check_batch_size(options.batch_size)
    if options.num_workers is not None and options.num_workers < 0:
        raise UsageError(f"--num-workers must be at least 0 (got {options.num_workers})")
    if output.metrics and inputs.data_dir is None:
        raise UsageError("--metrics needs --data-dir: the scores are columns of manifest.csv")
    if not 0.0 <= output.iou_threshold <= 1.0:
        raise UsageError(f"--iou-threshold must be between 0 and 1 (got {output.iou_threshold})")
    unknown = [name for name in output.metrics if name not in METRIC_NAMES]
    if unknown:
        raise UsageError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}")
    if output.audit and inputs.data_dir is None:
        raise UsageError("--audit needs --data-dir: it compares the maps of a whole split")
    if (output.masks or output.boxes) and inputs.data_dir is None:
        raise UsageError("--masks and --boxes need --data-dir: the localization scores are columns of manifest.csv")
    size = check_model_options(options.model)
    if size is not None:
        check_figure_fits(*size, figure_bytes(*size))  # up front: before the model is read or run at that size
    if output.figure_format not in tuple(FigureFormat):
        raise UsageError(f"--figure-format must be one of {', '.join(FigureFormat)} (got {output.figure_format!r})")
    canonical_method_name(options.cam.method)


def check_images_exist(inputs: InputOptions) -> None:
    """Every `--image-path` is a file."""
    missing = [str(path) for path in inputs.images if not path.is_file()]
    if missing:
        raise UsageError(f"--image-path {', '.join(missing)} does not exist or is not a file")


def check_batch_size(batch_size: int | None) -> None:
    """`--batch-size`, when given, is at least 1."""
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1 (got {batch_size})")


def check_model_options(model: ModelOptions) -> tuple[int, int] | None:
    """The loading options' numbers: the threshold inside (0, 1), the size as (height, width) (returned)."""
    if not 0.0 < model.threshold < 1.0:
        raise UsageError(f"--threshold must be between 0 and 1 (got {model.threshold})")
    return as_size(model.img_size)


def check_target_category(target_category: int | None, num_classes: int) -> None:
    """`--target-category` must name one of the model's classes."""
    if target_category is not None and not 0 <= target_category < num_classes:
        raise UsageError(
            f"--target-category {target_category} is out of range: the model has "
            f"{num_classes} classes (0..{num_classes - 1})"
        )


def refuse_classifier_scores(output: OutputOptions, *, scored: str, maps: str) -> None:
    """--metrics and --audit, defined on a classifier's maps only, refused for another task's (`scored`: what its
    maps explain; `maps`: what they are)."""
    if output.metrics:
        raise UsageError("--metrics scores a classifier's class probability under perturbation (ROAD, deletion, "
                         f"insertion, confidence); camviz does not define them for {scored} yet")
    if output.audit:
        raise UsageError(f"--audit clusters a classifier's maps per class; it is not defined for {maps} yet")


def check_segmentation_options(options: ExplainOptions) -> None:
    """Options a segmentation model cannot honour (yet), refused before any work with what to do instead."""
    output = options.output
    refuse_classifier_scores(output, scored="a segmentation model's regions", maps="a segmentation model's region maps")
    if output.boxes is not None:
        raise UsageError("--boxes is a classifier's ground truth; a segmentation model's is --masks DIR (a label "
                         "map per image)")
    if output.only_misclassified and output.masks is None:
        raise UsageError("--only-misclassified for a segmentation model keeps the images whose IoU for some class "
                         "is below --iou-threshold: it needs --masks (a label map per image)")


def check_detection_options(options: ExplainOptions) -> None:
    """Options a detector cannot honour (yet), refused before any work with why; its own numbers in range."""
    output, choice = options.output, options.detection
    if not 0.0 <= choice.score_threshold <= 1.0:
        raise UsageError(f"--score-threshold must be between 0 and 1 (got {choice.score_threshold})")
    if choice.max_detections < 1:
        raise UsageError(f"--max-detections must be at least 1 (got {choice.max_detections})")
    refuse_classifier_scores(output, scored="a detector's boxes", maps="a detector's per-box maps")
    if output.masks is not None:
        raise UsageError("--masks is a classifier's or segmentation model's ground truth; a detector's is --boxes FILE "
                         "(path,x_min,y_min,x_max,y_max,label rows)")
    if output.only_misclassified and output.boxes is None:
        raise UsageError("--only-misclassified for a detector keeps the images with a false positive or a missed "
                         "object: it needs --boxes (path,x_min,y_min,x_max,y_max,label rows)")
    if options.cam.target_category is not None:
        raise UsageError("--target-category picks a classifier's class; a detector explains each detection's own "
                         "label (filter with --score-threshold and --max-detections)")
