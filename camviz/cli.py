"""The `camviz` command line: Typer commands that parse options, call the API and report.

No logic lives here that the Python API lacks. Every command runs through `main()`, which turns
camviz's own errors into one line on stderr and the exit code the error carries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from camviz.cli_options import IMG_SIZE_HELP, FigureFormat, SizedCommand, parse_img_size, read_config
from camviz.errors import CamvizError

if TYPE_CHECKING:
    from camviz.explain import ExplainResult

app = typer.Typer(
    name="camviz",
    help="Grad-CAM figures for image classifiers, straight from a checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _camviz() -> None:
    """Grad-CAM figures for image classifiers, straight from a checkpoint."""


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(help="Where the demo images and figures go.")] = Path("camviz_demo"),
    per_class: Annotated[int, typer.Option(help="Synthetic images per class.")] = 4,
) -> None:
    """Run the real pipeline offline on a small shipped classifier and synthetic shape images."""
    from camviz.console import ConsoleProgress
    from camviz.demo import CHECKPOINT_PATH, write_image_folder
    from camviz.explain import ExplainOptions, explain as run_explain

    data_dir = output_dir / "data"
    write_image_folder(data_dir, per_class=per_class, seed=2024)
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
    model_path: Annotated[Path, typer.Option(help="Checkpoint (.pth, .pth.tar, .pt, .ckpt, .safetensors) or a folder: timm hub, Hugging Face transformers (save_pretrained).")],
    image_path: Annotated[Optional[Path], typer.Option(help="Explain one image (single mode).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Explain an ImageFolder split: one sub-folder per class (batch mode).")] = None,
    model_name: Annotated[Optional[str], typer.Option(help="timm/torchvision/plugin model name; overrides the checkpoint's.")] = None,
    target_category: Annotated[Optional[int], typer.Option(help="Class index to explain (default: each image's predicted class).")] = None,
    img_size: Annotated[Optional[str], typer.Option(help=IMG_SIZE_HELP)] = None,
    output_dir: Annotated[Path, typer.Option(help="Where figures (and manifest.csv) go.")] = Path("gradcam_results"),
    num_samples: Annotated[Optional[int], typer.Option(help="Explain a seeded random subset covering all classes (default: all).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per CAM batch (default: 64 on CUDA, else 8).")] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes for decoding (default: a quarter of the CPUs this run may use, 1..8).")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Force the CPU (default: CUDA, then MPS, when present).")] = False,
    method: Annotated[str, typer.Option(help="pytorch-grad-cam method: gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam, scorecam, ...")] = "gradcam",
    target_layer: Annotated[Optional[list[str]], typer.Option(help="Target layer as a dotted path (layer4.-1 or layer4[-1]); repeatable. Default: the family lookup.")] = None,
    classes: Annotated[Optional[str], typer.Option(help="Only these classes (batch mode), comma-separated: A,B.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --num-samples.")] = 0,
    save_raw: Annotated[bool, typer.Option("--save-raw", help="Also save each CAM as float32 .npy in [0, 1].")] = False,
    plugin: Annotated[Optional[list[str]], typer.Option(help="Python file or module to import first (registers custom models); repeatable.")] = None,
    trust_checkpoint: Annotated[bool, typer.Option("--trust-checkpoint", help="Allow unpickling arbitrary objects (runs code from the file!).")] = False,
    ema: Annotated[bool, typer.Option("--ema", help="Use the checkpoint's EMA weights.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished figures and manifest rows; do the rest.")] = False,
    aug_smooth: Annotated[bool, typer.Option("--aug-smooth", help="Average the CAM over flips and scalings (test-time augmentation).")] = False,
    eigen_smooth: Annotated[bool, typer.Option("--eigen-smooth", help="Keep the first principal component of the weighted activations.")] = False,
    only_misclassified: Annotated[bool, typer.Option("--only-misclassified", help="Batch mode: write figures only for mistakes (the manifest keeps every row).")] = False,
    metrics: Annotated[bool, typer.Option("--metrics", help="Batch mode: faithfulness scores (ROAD combined, CAM-multiplied confidence change) as manifest columns.")] = False,
    figure_format: Annotated[FigureFormat, typer.Option(help="Image format of the figures: png, jpg or webp (smaller files for large splits).")] = FigureFormat.png,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A sigmoid per label (default: the checkpoint's flag): one CAM per predicted label.")] = False,
    threshold: Annotated[float, typer.Option(help="--multi-label: labels with a probability at or above it are predicted.")] = 0.5,
    config: Annotated[Optional[Path], typer.Option(help="TOML preset; flags given here win.", is_eager=True, callback=read_config)] = None,
) -> None:
    """Explain one image (--image-path) or a whole ImageFolder split (--data-dir) with Grad-CAM figures."""
    from camviz.console import ConsoleProgress
    from camviz.distributed import ranks_from_environment
    from camviz.explain import ExplainOptions, explain as run_explain

    options = ExplainOptions(
        model_path=model_path, image_path=image_path, data_dir=data_dir, model_name=model_name,
        target_category=target_category, img_size=parse_img_size(img_size), output_dir=output_dir, num_samples=num_samples,
        batch_size=batch_size, num_workers=num_workers, cpu=cpu, method=method,
        target_layers=tuple(target_layer or ()), classes=_split_classes(classes), seed=seed, save_raw=save_raw,
        plugins=tuple(plugin or ()), trust_checkpoint=trust_checkpoint, ema=ema, resume=resume,
        aug_smooth=aug_smooth, eigen_smooth=eigen_smooth, only_misclassified=only_misclassified, metrics=metrics,
        figure_format=figure_format.value,
        families=ctx.meta.get("camviz.families", ()), multi_label=multi_label, threshold=threshold,
    )
    is_main = ranks_from_environment().is_main  # under torchrun only rank 0 draws and reports
    with ConsoleProgress(show_progress=is_main) as progress:
        result = run_explain(options, progress)
    if is_main:
        _report(result)
    raise typer.Exit(result.exit_code)


def _split_classes(classes: Optional[str]) -> tuple[str, ...]:
    """`A,B` -> ("A", "B")."""
    return tuple(name.strip() for name in (classes or "").split(",") if name.strip())


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
    model_path: Annotated[Path, typer.Option(help="Checkpoint (.pth, .pth.tar, .pt, .ckpt, .safetensors) or a folder: timm hub, Hugging Face transformers (save_pretrained).")],
    model_name: Annotated[Optional[str], typer.Option(help="timm/torchvision/plugin model name; overrides the checkpoint's.")] = None,
    img_size: Annotated[Optional[str], typer.Option(help=IMG_SIZE_HELP)] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A sigmoid per label (default: the checkpoint's flag).")] = False,
    target_layer: Annotated[Optional[list[str]], typer.Option(help="Check a target layer path (layer4.-1 or layer4[-1]); repeatable.")] = None,
    plugin: Annotated[Optional[list[str]], typer.Option(help="Python file or module to import first (registers custom models); repeatable.")] = None,
    trust_checkpoint: Annotated[bool, typer.Option("--trust-checkpoint", help="Allow unpickling arbitrary objects (runs code from the file!).")] = False,
    ema: Annotated[bool, typer.Option("--ema", help="Use the checkpoint's EMA weights.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: model_name, family, target_layers, reshape, num_classes, class_names, img_size (HEIGHT, WIDTH when not square), channels, output.")] = False,
) -> None:
    """Show what camviz resolves for a checkpoint: model, family, target layers, classes, input size."""
    import json

    from camviz.layers import candidate_layers, resolve_targets
    from camviz.models import load_model

    loaded = load_model(model_path, model_name, img_size=parse_img_size(img_size), multi_label=multi_label,
                        plugins=plugin or (), trust_checkpoint=trust_checkpoint, use_ema=ema)
    spec = loaded.input
    targets = resolve_targets(loaded.model, loaded.model_name, target_layer or None, spec.size)
    info = {
        "model_name": loaded.model_name, "family": targets.family, "target_layers": targets.names,
        "reshape": targets.reshape, "num_classes": loaded.num_classes, "class_names": loaded.class_names,
        "img_size": loaded.img_size, "channels": spec.channels, "output": loaded.output,
    }
    if json_output:
        typer.echo(json.dumps(info))
        return
    names = ", ".join(loaded.class_names) if loaded.class_names else "not recorded (data-dir folders, then indices)"
    for label, value in (("model", info["model_name"]), ("family", info["family"]),
                         ("target layers", ", ".join(targets.names)), ("reshape", targets.reshape or "none"),
                         ("num classes", loaded.num_classes), ("class names", names),
                         ("img size", "x".join(map(str, spec.size))), ("channels", spec.channels),
                         ("output", loaded.output)):
        typer.echo(f"{label:<14} {value}")
    typer.echo("last candidate layers (4-D outputs of a dry forward pass):")
    for name, shape in candidate_layers(loaded.model, spec.size):
        typer.echo(f"  {name:<40} {tuple(shape)}")


@app.command()
def families() -> None:
    """Print the per-family target-layer table (first matching family whose path exists wins)."""
    from camviz.families import FAMILIES

    typer.echo(f"{'family':<13} {'recognised by (class names; name patterns)':<66} {'target layer paths':<48} reshape")
    for family in FAMILIES:
        recognised = f"{', '.join(family.classes)}; {', '.join(family.patterns)}"
        typer.echo(f"{family.name:<13} {recognised:<66} {' | '.join(family.paths):<48} {family.reshape or '-'}")
    typer.echo("then: timm feature_info[-1], then the last module with a 4-D spatial output; --target-layer overrides all")


@app.command(cls=SizedCommand)
def compare(
    model_path: Annotated[Path, typer.Option(help="Checkpoint (.pth, .pth.tar, .pt, .safetensors).")],
    image_path: Annotated[list[Path], typer.Option(help="An image to explain; repeatable (a row each).")],
    method: Annotated[Optional[list[str]], typer.Option(help="A pytorch-grad-cam method; repeatable (a column each). Default: gradcam, gradcam++, hirescam, layercam, eigencam, scorecam.")] = None,
    output: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("compare.png"),
    model_name: Annotated[Optional[str], typer.Option(help="timm/torchvision/plugin model name; overrides the checkpoint's.")] = None,
    target_layer: Annotated[Optional[list[str]], typer.Option(help="Target layer as a dotted path (layer4.-1 or layer4[-1]); repeatable. Default: the family lookup.")] = None,
    target_category: Annotated[Optional[int], typer.Option(help="Class index to explain (default: each image's predicted class).")] = None,
    img_size: Annotated[Optional[str], typer.Option(help=IMG_SIZE_HELP)] = None,
    plugin: Annotated[Optional[list[str]], typer.Option(help="Python file or module to import first (registers custom models); repeatable.")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Force the CPU (default: CUDA, then MPS, when present).")] = False,
) -> None:
    """One figure comparing CAM methods side by side: a row per image, a column per method."""
    from camviz.compare import DEFAULT_METHODS, compare_methods

    written = compare_methods(
        model_path, image_path, method or DEFAULT_METHODS, output, model_name=model_name,
        target_layers=tuple(target_layer or ()), target_category=target_category, img_size=parse_img_size(img_size),
        plugins=tuple(plugin or ()), cpu=cpu,
    )
    typer.echo(f"wrote {written}")


def main() -> None:
    """Console entry point: errors become one line on stderr and an exit code (CAMVIZ_DEBUG=1: tracebacks).

    SIGINT and SIGTERM end a run cleanly (see `camviz.signals`): one line, exit 130 or 143.
    """
    from camviz.signals import Interrupted, interruptible

    with interruptible():
        try:
            code = _run_app(debug_enabled())
        except Interrupted as stop:
            typer.echo(f"camviz: stopped by {stop}: finished figures and manifest rows are kept "
                       "(run the same command with --resume to finish a batch)", err=True)
            code = stop.exit_code
    sys.exit(code)


def debug_enabled() -> bool:
    """`CAMVIZ_DEBUG` set to anything but empty, 0, false, no or off."""
    return os.environ.get("CAMVIZ_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def _run_app(debug: bool) -> int:
    """Run the Typer app; camviz's errors and bugs become one line on stderr and the exit code."""
    from camviz.signals import Interrupted, received

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # Typer's (vendored click's) usage errors: bad flags, values, files
        if error.format_message():  # empty when the help was just shown (no arguments)
            typer.echo(f"camviz: usage error: {error.format_message()} (see --help)", err=True)
        code = error.exit_code
    except typer.Abort:
        typer.echo("camviz: aborted", err=True)
        code = 130
    except CamvizError as error:
        if received() is not None:  # an error while stopping (a worker killed by the same signal, say)
            raise Interrupted(received()) from error
        if debug:
            raise
        typer.echo(f"camviz: error: {error}", err=True)
        code = error.exit_code
    except Exception as error:  # a bug: one line for users, the traceback with CAMVIZ_DEBUG=1
        if received() is not None:
            raise Interrupted(received()) from error
        if debug:
            raise
        typer.echo(f"camviz: internal error: {type(error).__name__}: {error} (CAMVIZ_DEBUG=1 shows the traceback)",
                   err=True)
        code = 1
    return code if isinstance(code, int) else 0
