"""The command line's option groups, one per concept, each declared once: every command that loads a model takes
`MODEL`, every command that makes CAMs takes `CAM`, and so on (`camviz.cli.groups`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from camviz.cam.options import CamOptions
from camviz.cli.groups import OptionGroup
from camviz.cli.parsing import IMG_SIZE_HELP, parse_floats, parse_img_size, parse_metrics, split_classes
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions, OutputName
from camviz.output.options import FigureFormat, OutputOptions

_CHECKPOINT_HELP = ("Checkpoint (.pth, .pth.tar, .pt, .ckpt, .safetensors) or a folder: timm hub, Hugging Face "
                    "transformers (save_pretrained).")


def model_options(
    ctx: typer.Context,
    model_path: Annotated[Path, typer.Option(help=_CHECKPOINT_HELP)],
    model_name: Annotated[Optional[str], typer.Option(help="timm/torchvision/plugin model name; overrides the checkpoint's.")] = None,
    img_size: Annotated[Optional[str], typer.Option(help=IMG_SIZE_HELP)] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A sigmoid per label (default: the checkpoint's flag): one CAM per predicted label.")] = False,
    threshold: Annotated[float, typer.Option(help="--multi-label: labels with a probability at or above it are predicted.")] = 0.5,
    mean: Annotated[Optional[str], typer.Option(help="Input normalisation mean, comma-separated (default: the checkpoint's, else the model's, else ImageNet's).")] = None,
    std: Annotated[Optional[str], typer.Option(help="Input normalisation std, comma-separated (default: as --mean).")] = None,
    class_names: Annotated[Optional[str], typer.Option(help="The head's class names in order, comma-separated (default: the checkpoint's, else the data dir's folders, else the indices).")] = None,
    target_layer: Annotated[Optional[list[str]], typer.Option(help="Target layer as a dotted path (layer4.-1 or layer4[-1]); repeatable. Default: the family lookup.")] = None,
    plugin: Annotated[Optional[list[str]], typer.Option(help="Python file or module to import first (registers custom models); repeatable.")] = None,
    trust_checkpoint: Annotated[bool, typer.Option("--trust-checkpoint", help="Allow unpickling arbitrary objects (runs code from the file!).")] = False,
    ema: Annotated[bool, typer.Option("--ema", help="Use the checkpoint's EMA weights (state_dict_ema / model_ema, or a Lightning prefix naming ema).")] = False,
    state_prefix: Annotated[Optional[str], typer.Option(help="The network's key prefix in a checkpoint that holds several (a Lightning module's student./teacher.).")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Force the CPU (default: CUDA, then MPS, when present).")] = False,
) -> ModelOptions:
    """Which model and how it is read (`camviz.discovery.options.ModelOptions`)."""
    return ModelOptions(
        path=model_path, name=model_name, img_size=parse_img_size(img_size),
        output=OutputName.multilabel if multi_label else None, threshold=threshold,
        mean=parse_floats(mean, "--mean"), std=parse_floats(std, "--std"),
        class_names=split_classes(class_names) or None, target_layers=tuple(target_layer or ()),
        families=ctx.meta.get("camviz.families", ()), plugins=tuple(plugin or ()), trust_checkpoint=trust_checkpoint,
        ema=ema, state_prefix=state_prefix, cpu=cpu,
    )


def cam_options(
    method: Annotated[str, typer.Option(help="pytorch-grad-cam method: gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam, scorecam, ...")] = "gradcam",
    aug_smooth: Annotated[bool, typer.Option("--aug-smooth", help="Average the CAM over flips and scalings (test-time augmentation).")] = False,
    eigen_smooth: Annotated[bool, typer.Option("--eigen-smooth", help="Keep the first principal component of the weighted activations.")] = False,
    target_category: Annotated[Optional[int], typer.Option(help="Class index to explain (default: each image's predicted class).")] = None,
) -> CamOptions:
    """How the CAM is made (`camviz.cam.options.CamOptions`)."""
    return CamOptions(method=method, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth, target_category=target_category)


def input_options(
    image_path: Annotated[Optional[list[Path]], typer.Option(help="An image to explain: explain takes one (single mode); sanity and compare take several (repeat it).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="An ImageFolder split: one sub-folder per class (batch mode); a segmentation model's or a detector's: any folder of images.")] = None,
    num_samples: Annotated[Optional[int], typer.Option(help="A seeded random subset covering all classes (default: all).")] = None,
    classes: Annotated[Optional[str], typer.Option(help="Only these classes (batch mode), comma-separated: A,B.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --num-samples (sanity: also its fresh initialisations and random other classes; --audit: its clustering).")] = 0,
) -> InputOptions:
    """Which images (`camviz.data.options.InputOptions`)."""
    return InputOptions(images=tuple(image_path or ()), data_dir=data_dir, num_samples=num_samples,
                        classes=split_classes(classes), seed=seed)


def output_options(
    output_dir: Annotated[Path, typer.Option(help="Where figures (and manifest.csv) go.")] = Path("gradcam_results"),
    figure_format: Annotated[FigureFormat, typer.Option(help="Image format of the figures: png, jpg or webp (smaller files for large splits).")] = FigureFormat.png,
    save_raw: Annotated[bool, typer.Option("--save-raw", help="Also save each CAM as float32 .npy in [0, 1].")] = False,
    only_misclassified: Annotated[bool, typer.Option("--only-misclassified", help="Batch mode: write figures only for mistakes (the manifest keeps every row); a segmentation model's: images where some class's IoU against --masks is below --iou-threshold; a detector's: images with a false positive or a missed box (--boxes).")] = False,
    iou_threshold: Annotated[float, typer.Option(help="A segmentation model with --only-misclassified: an image is a mistake when some class's IoU against its label map is below this.")] = 0.5,
    metrics: Annotated[Optional[str], typer.Option(help="Batch mode: faithfulness scores as manifest columns: a comma-separated list of road (ROAD combined), confidence (CAM-multiplied confidence change), deletion and insertion (RISE AUC); a bare --metrics scores all four.")] = None,
    masks: Annotated[Optional[Path], typer.Option(help="Batch mode: a folder of object masks, one per image at the same relative path and stem (any image format; nonzero colour = object): adds pointing_hit, energy_in_object and iou columns, and the same of a centre and a random map (center_*, random_*) as baselines. A segmentation model's: label maps (an index PNG per image; VOC's palette PNGs work): adds class_iou and truth_energy.")] = None,
    boxes: Annotated[Optional[Path], typer.Option(help="Batch mode: a CSV of path,x_min,y_min,x_max,y_max rows (the image's pixels as decoded, after its EXIF orientation; several per image) as the objects: adds the localization columns. An object detector's: path,x_min,y_min,x_max,y_max,label rows (label: a class name): adds matched and true_iou, and a row per missed box.")] = None,
    audit: Annotated[bool, typer.Option("--audit", help="Batch mode: after the run, cluster the maps of each explained class (SpRAy) and flag clusters that look at a fixed place, the border or outside the objects: audit.csv and a cluster column (seeded by --seed; camviz audit does the same later).")] = False,
) -> OutputOptions:
    """What is written (`camviz.output.options.OutputOptions`)."""
    return OutputOptions(output_dir=output_dir, figure_format=figure_format, save_raw=save_raw,
                         only_misclassified=only_misclassified, iou_threshold=iou_threshold, metrics=parse_metrics(metrics),
                         masks=masks, boxes=boxes, audit=audit)


MODEL = OptionGroup(model_options)
CAM = OptionGroup(cam_options)
INPUTS = OptionGroup(input_options)
OUTPUT = OptionGroup(output_options)

BatchSize = Annotated[Optional[int], typer.Option(help="Images per CAM batch (default: 64 on CUDA, else 8).")]
