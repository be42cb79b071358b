"""The `camviz` commands: plain typed functions whose options are the docs; each builds options, calls
`camviz.run` and prints what came back. `camviz.cli.main` runs them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from camviz.cli.parsing import IMG_SIZE_HELP, FigureFormat, SizedCommand, parse_img_size, read_config, split_classes

if TYPE_CHECKING:
    from camviz.run.job import ExplainResult
    from camviz.run.model import ResolvedModel

app = typer.Typer(
    name="camviz",
    help="Grad-CAM figures for image classifiers, straight from a checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_CHECKPOINT_HELP = ("Checkpoint (.pth, .pth.tar, .pt, .ckpt, .safetensors) or a folder: timm hub, Hugging Face "
                    "transformers (save_pretrained).")
ModelPath = Annotated[Path, typer.Option(help=_CHECKPOINT_HELP)]
ModelName = Annotated[Optional[str], typer.Option(help="timm/torchvision/plugin model name; overrides the checkpoint's.")]
ImgSize = Annotated[Optional[str], typer.Option(help=IMG_SIZE_HELP)]
TargetCategory = Annotated[Optional[int], typer.Option(help="Class index to explain (default: each image's predicted class).")]
TargetLayer = Annotated[Optional[list[str]], typer.Option(help="Target layer as a dotted path (layer4.-1 or layer4[-1]); repeatable. Default: the family lookup.")]
Plugin = Annotated[Optional[list[str]], typer.Option(help="Python file or module to import first (registers custom models); repeatable.")]
TrustCheckpoint = Annotated[bool, typer.Option("--trust-checkpoint", help="Allow unpickling arbitrary objects (runs code from the file!).")]
Ema = Annotated[bool, typer.Option("--ema", help="Use the checkpoint's EMA weights (state_dict_ema / model_ema, or a Lightning prefix naming ema).")]
StatePrefix = Annotated[Optional[str], typer.Option(help="The network's key prefix in a checkpoint that holds several (a Lightning module's student./teacher.).")]
AugSmooth = Annotated[bool, typer.Option("--aug-smooth", help="Average the CAM over flips and scalings (test-time augmentation).")]
EigenSmooth = Annotated[bool, typer.Option("--eigen-smooth", help="Keep the first principal component of the weighted activations.")]
BatchSize = Annotated[Optional[int], typer.Option(help="Images per CAM batch (default: 64 on CUDA, else 8).")]
Method = Annotated[str, typer.Option(help="pytorch-grad-cam method: gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam, scorecam, ...")]
Threshold = Annotated[float, typer.Option(help="--multi-label: labels with a probability at or above it are predicted.")]
MultiLabel = Annotated[bool, typer.Option("--multi-label", help="A sigmoid per label (default: the checkpoint's flag).")]
Cpu = Annotated[bool, typer.Option("--cpu", help="Force the CPU (default: CUDA, then MPS, when present).")]


@app.callback()
def _camviz() -> None:
    """Grad-CAM figures for image classifiers, straight from a checkpoint."""


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(help="Where the demo images and figures go.")] = Path("camviz_demo"),
    per_class: Annotated[int, typer.Option(min=1, help="Synthetic images per class.")] = 4,
) -> None:
    """Run the real pipeline offline on a small shipped classifier and synthetic shape images."""
    from camviz.cli.console import ConsoleProgress
    from camviz.demo import CHECKPOINT_PATH, write_image_folder
    from camviz.errors import OutputError
    from camviz.output.outdir import make_output_dir
    from camviz.run.job import explain as run_explain
    from camviz.run.options import ExplainOptions

    data_dir = make_output_dir(output_dir / "data")
    try:
        write_image_folder(data_dir, per_class=per_class, seed=2024)
    except OSError as error:
        raise OutputError(f"cannot write the demo images under --output-dir {output_dir}: "
                          f"{error.strerror or error}") from error
    typer.echo(f"demo: {per_class} synthetic images per class in {data_dir}/ (the class is the shape)")
    options = ExplainOptions(
        model_path=CHECKPOINT_PATH, data_dir=data_dir, output_dir=output_dir / "gradcam", num_workers=0
    )
    with ConsoleProgress() as progress:
        result = run_explain(options, progress)
    _report(result)
    typer.echo(f"open {result.output_dir.resolve()}/ to see the figures")
    raise typer.Exit(result.exit_code)


@app.command(cls=SizedCommand)
def explain(
    ctx: typer.Context,
    model_path: ModelPath,
    image_path: Annotated[Optional[Path], typer.Option(help="Explain one image (single mode).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Explain an ImageFolder split: one sub-folder per class (batch mode).")] = None,
    model_name: ModelName = None,
    target_category: TargetCategory = None,
    img_size: ImgSize = None,
    output_dir: Annotated[Path, typer.Option(help="Where figures (and manifest.csv) go.")] = Path("gradcam_results"),
    num_samples: Annotated[Optional[int], typer.Option(help="Explain a seeded random subset covering all classes (default: all).")] = None,
    batch_size: BatchSize = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes for decoding (default: a quarter of the CPUs this run may use, 1..8).")] = None,
    cpu: Cpu = False,
    method: Method = "gradcam",
    target_layer: TargetLayer = None,
    classes: Annotated[Optional[str], typer.Option(help="Only these classes (batch mode), comma-separated: A,B.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --num-samples.")] = 0,
    save_raw: Annotated[bool, typer.Option("--save-raw", help="Also save each CAM as float32 .npy in [0, 1].")] = False,
    plugin: Plugin = None,
    trust_checkpoint: TrustCheckpoint = False,
    ema: Ema = False,
    state_prefix: StatePrefix = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished figures and manifest rows; do the rest.")] = False,
    aug_smooth: AugSmooth = False,
    eigen_smooth: EigenSmooth = False,
    only_misclassified: Annotated[bool, typer.Option("--only-misclassified", help="Batch mode: write figures only for mistakes (the manifest keeps every row).")] = False,
    metrics: Annotated[bool, typer.Option("--metrics", help="Batch mode: faithfulness scores (ROAD combined, CAM-multiplied confidence change, RISE deletion and insertion AUC) as manifest columns.")] = False,
    figure_format: Annotated[FigureFormat, typer.Option(help="Image format of the figures: png, jpg or webp (smaller files for large splits).")] = FigureFormat.png,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A sigmoid per label (default: the checkpoint's flag): one CAM per predicted label.")] = False,
    threshold: Threshold = 0.5,
    config: Annotated[Optional[Path], typer.Option(help="TOML preset; flags given here win.", is_eager=True, callback=read_config)] = None,
    masks: Annotated[Optional[Path], typer.Option(help="Batch mode: a folder of object masks, one per image at the same relative path and stem (any image format; nonzero = object): adds pointing_hit, energy_in_object and iou columns.")] = None,
    boxes: Annotated[Optional[Path], typer.Option(help="Batch mode: a CSV of path,x_min,y_min,x_max,y_max rows (the image's pixels; several per image) as the objects: adds the localization columns.")] = None,
) -> None:
    """Explain one image (--image-path) or a whole ImageFolder split (--data-dir) with Grad-CAM figures."""
    from camviz.cli.console import ConsoleProgress
    from camviz.run.job import explain as run_explain
    from camviz.run.options import ExplainOptions
    from camviz.run.ranks import ranks_from_environment

    options = ExplainOptions(
        model_path=model_path, image_path=image_path, data_dir=data_dir, model_name=model_name,
        target_category=target_category, img_size=parse_img_size(img_size), output_dir=output_dir, num_samples=num_samples,
        batch_size=batch_size, num_workers=num_workers, cpu=cpu, method=method,
        target_layers=tuple(target_layer or ()), classes=split_classes(classes), seed=seed, save_raw=save_raw,
        plugins=tuple(plugin or ()), trust_checkpoint=trust_checkpoint, ema=ema, resume=resume,
        aug_smooth=aug_smooth, eigen_smooth=eigen_smooth, only_misclassified=only_misclassified, metrics=metrics,
        figure_format=figure_format.value,
        families=ctx.meta.get("camviz.families", ()), multi_label=multi_label, threshold=threshold,
        state_prefix=state_prefix,
        masks=masks, boxes=boxes,
    )
    is_main = ranks_from_environment().is_main  # under torchrun only rank 0 draws and reports
    with ConsoleProgress(show_progress=is_main) as progress:
        result = run_explain(options, progress)
    if is_main:
        _report(result)
    raise typer.Exit(result.exit_code)


def _report(result: ExplainResult) -> None:
    """Print where the outputs are and the closing summary."""
    if result.manifest is None:
        for path in result.outputs:
            typer.echo(f"wrote {path}")
        return
    typer.echo(f"figures in {result.output_dir}/, manifest {result.manifest}")
    for line in result.summary.lines():
        typer.echo(f"  {line}")


@app.command(cls=SizedCommand)
def layers(
    model_path: ModelPath,
    model_name: ModelName = None,
    img_size: ImgSize = None,
    multi_label: MultiLabel = False,
    target_layer: Annotated[Optional[list[str]], typer.Option(help="Check a target layer path (layer4.-1 or layer4[-1]); repeatable.")] = None,
    plugin: Plugin = None,
    trust_checkpoint: TrustCheckpoint = False,
    ema: Ema = False,
    state_prefix: StatePrefix = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: model_name, family, target_layers, reshape, num_classes, class_names, img_size (HEIGHT, WIDTH when not square), channels, output, decided_by, reshape_detail, warning.")] = False,
) -> None:
    """Show what camviz resolves for a checkpoint: model, family, target layers, classes, input size."""
    import json

    from camviz.run.model import ModelRequest, resolve_model

    resolved = resolve_model(ModelRequest(
        model_path, model_name, parse_img_size(img_size), multi_label, target_layers=tuple(target_layer or ()),
        plugins=tuple(plugin or ()), trust_checkpoint=trust_checkpoint, ema=ema, cpu=True, state_prefix=state_prefix,
    ))
    for note in resolved.loaded.notes:
        typer.echo(f"warning: {note}", err=True)
    if json_output:
        typer.echo(json.dumps(_layers_record(resolved)))
        return
    _print_layers(resolved)
    if resolved.targets.warning:
        typer.echo(f"warning: {resolved.targets.warning}", err=True)


def _layers_record(resolved: ResolvedModel) -> dict:
    """`resolved.record()` plus how the target was decided: the rule, the reshape in words, the warning."""
    targets = resolved.targets
    return {**resolved.record(), "decided_by": targets.decided_by, "reshape_detail": targets.reshape_detail,
            "warning": targets.warning}


def _print_layers(resolved: ResolvedModel) -> None:
    """The `layers` record as aligned lines, then the last candidate layers with their output shapes."""
    from camviz.discovery.layers import candidate_layers

    info, spec = _layers_record(resolved), resolved.loaded.input
    names = ", ".join(info["class_names"]) if info["class_names"] else "not recorded (data-dir folders, then indices)"
    for label, value in (("model", info["model_name"]), ("family", info["family"]),
                         ("target layers", ", ".join(info["target_layers"])), ("decided by", info["decided_by"]),
                         ("reshape", f"{info['reshape'] or 'none'} ({info['reshape_detail']})"),
                         ("num classes", info["num_classes"]), ("class names", names),
                         ("img size", "x".join(map(str, spec.size))), ("channels", info["channels"]),
                         ("output", info["output"])):
        typer.echo(f"{label:<14} {value}")
    typer.echo("last candidate layers (4-D outputs of a dry forward pass):")
    for name, shape in candidate_layers(resolved.model, spec.size):
        typer.echo(f"  {name:<40} {tuple(shape)}")


@app.command()
def families(
    model_path: Annotated[Optional[Path], typer.Option(help="Also say which rule decides the target for this checkpoint.")] = None,
    model_name: ModelName = None,
    plugin: Plugin = None,
) -> None:
    """Print the per-family target-layer table (first matching family whose path exists wins), then the rules after it."""
    from camviz.discovery.families import FAMILIES

    typer.echo(f"{'family':<13} {'recognised by (class names; name patterns)':<66} {'target layer paths':<48} reshape")
    for family in FAMILIES:
        recognised = f"{', '.join(family.classes)}; {', '.join(family.patterns)}"
        typer.echo(f"{family.name:<13} {recognised:<66} {' | '.join(family.paths):<48} {family.reshape or '-'}")
    typer.echo("then timm's metadata: global_pool='token' → the last block's pre-norm (timm_token_pool), "
               "feature_info[-1] (found under a parent when nested); then the last layer whose output reads as a "
               "spatial map with a gradient (fallback); --target-layer overrides all")
    if model_path is None:
        return
    from camviz.run.model import ModelRequest, resolve_model

    resolved = resolve_model(ModelRequest(model_path, model_name, plugins=tuple(plugin or ()), cpu=True))
    targets = resolved.targets
    typer.echo(f"{resolved.loaded.model_name}: rule {targets.family} ({targets.decided_by}) → "
               f"{', '.join(targets.names)}, reshape {targets.reshape or 'none'} ({targets.reshape_detail})")
    if targets.warning:
        typer.echo(f"warning: {targets.warning}", err=True)


@app.command(cls=SizedCommand)
def compare(
    model_path: Annotated[Path, typer.Option(help="Checkpoint (.pth, .pth.tar, .pt, .safetensors).")],
    image_path: Annotated[list[Path], typer.Option(help="An image to explain; repeatable (a row each).")],
    method: Annotated[Optional[list[str]], typer.Option(help="A pytorch-grad-cam method; repeatable (a column each). Default: gradcam, gradcam++, hirescam, layercam, eigencam, scorecam.")] = None,
    output: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("compare.png"),
    model_name: ModelName = None,
    target_layer: TargetLayer = None,
    target_category: TargetCategory = None,
    img_size: ImgSize = None,
    plugin: Plugin = None,
    cpu: Cpu = False,
) -> None:
    """One figure comparing CAM methods side by side: a row per image, a column per method."""
    from camviz.run.compare import DEFAULT_METHODS, compare_methods
    from camviz.run.model import ModelRequest

    request = ModelRequest(model_path, model_name, parse_img_size(img_size), target_layers=tuple(target_layer or ()),
                           plugins=tuple(plugin or ()), cpu=cpu)
    written = compare_methods(request, image_path, method or DEFAULT_METHODS, output, target_category=target_category)
    typer.echo(f"wrote {written}")


@app.command(cls=SizedCommand)
def sanity(
    model_path: ModelPath,
    image_path: Annotated[Optional[list[Path]], typer.Option(help="An image to test on; repeatable.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Test on a seeded subset of an ImageFolder split (one sub-folder per class).")] = None,
    num_samples: Annotated[int, typer.Option(help="--data-dir: how many images (a seeded subset covering the classes).")] = 16,
    classes: Annotated[Optional[str], typer.Option(help="--data-dir: only these classes, comma-separated: A,B.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the subset, the fresh initialisations and the random other classes.")] = 0,
    draws: Annotated[int, typer.Option(help="Random initialisations of the blocks above the target layer that the verdict looks at (the warning needs the maps to survive every one).")] = 3,
    model_name: ModelName = None,
    target_category: TargetCategory = None,
    img_size: ImgSize = None,
    output_dir: Annotated[Path, typer.Option(help="Where sanity.png, sanity.csv and sanity.txt go.")] = Path("sanity_results"),
    batch_size: BatchSize = None,
    cpu: Cpu = False,
    method: Method = "gradcam",
    target_layer: TargetLayer = None,
    plugin: Plugin = None,
    trust_checkpoint: TrustCheckpoint = False,
    ema: Ema = False,
    aug_smooth: AugSmooth = False,
    eigen_smooth: EigenSmooth = False,
    multi_label: MultiLabel = False,
    threshold: Threshold = 0.5,
) -> None:
    """Can these maps be trusted? Randomise the model block by block from the output side (Adebayo et al. 2018)
    and compare each step's CAMs with the originals; also a random other class's CAM against the explained one's."""
    from camviz.cli.console import ConsoleProgress
    from camviz.run.sanity import SanityOptions
    from camviz.run.sanity import sanity as run_sanity

    options = SanityOptions(
        model_path=model_path, image_paths=tuple(image_path or ()), data_dir=data_dir, num_samples=num_samples,
        classes=split_classes(classes), seed=seed, draws=draws, model_name=model_name, target_category=target_category,
        img_size=parse_img_size(img_size), output_dir=output_dir, batch_size=batch_size, cpu=cpu, method=method,
        target_layers=tuple(target_layer or ()), plugins=tuple(plugin or ()), trust_checkpoint=trust_checkpoint,
        ema=ema, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth, multi_label=multi_label, threshold=threshold,
    )
    with ConsoleProgress() as progress:
        result = run_sanity(options, progress)
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"wrote {', '.join(str(path) for path in result.outputs)}")
    raise typer.Exit(result.exit_code)
