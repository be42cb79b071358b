"""The `camviz` commands: plain typed functions whose options are the docs; each builds options, calls
`camviz.run` and prints what came back. `camviz.cli.main` runs them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from camviz.cam.options import CamOptions
from camviz.cli.groups import grouped
from camviz.cli.options import CAM, INPUTS, MODEL, OUTPUT, BatchSize
from camviz.cli.parsing import SizedCommand, read_config
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.options import OutputOptions

if TYPE_CHECKING:
    from camviz.run.audit import AuditResult
    from camviz.run.job import ExplainResult
    from camviz.run.model import ResolvedModel

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


@dataclass(frozen=True, kw_only=True)
class CommandLine:
    """The arguments after `camviz`, handed to the app (as the Click context's `obj`) by the console entry point
    only: a command run by camviz itself records them; one invoked any other way records none."""

    arguments: tuple[str, ...]


def command_line(context: typer.Context) -> tuple[str, ...] | None:
    """This command's own command line when camviz is the program, else None."""
    given = context.obj
    return given.arguments if isinstance(given, CommandLine) else None


@app.command()
def demo(
    ctx: typer.Context,
    output_dir: Annotated[Path, typer.Option(help="Where the demo images and figures go.")] = Path("camviz_demo"),
    per_class: Annotated[Optional[int], typer.Option(min=1, help="Synthetic images per class (default 4; 30 with --shortcut; with --segmentation, images in all).")] = None,
    shortcut: Annotated[bool, typer.Option("--shortcut", help="The second demo model, trained where a tag in the top-left corner often means square: explained with --audit, which finds the shortcut.")] = False,
    segmentation: Annotated[bool, typer.Option("--segmentation", help="The demo segmentation model (a label per pixel) on images of one to three shapes, scored against their label maps.")] = False,
) -> None:
    """Run the real pipeline offline on a small shipped model and synthetic shape images."""
    from camviz.cli.console import ConsoleProgress
    from camviz.demo import CHECKPOINT_PATH, SEGMENTATION_CHECKPOINT_PATH, TAGGED_CHECKPOINT_PATH
    from camviz.errors import UsageError
    from camviz.output.outdir import make_output_dir
    from camviz.run.job import explain as run_explain
    from camviz.run.options import ExplainOptions

    if shortcut and segmentation:
        raise UsageError("--shortcut and --segmentation are two different demos: choose one")
    data_dir = make_output_dir(output_dir / "data")
    masks = _write_demo_images(data_dir, per_class, shortcut=shortcut, segmentation=segmentation)
    checkpoint = SEGMENTATION_CHECKPOINT_PATH if segmentation else TAGGED_CHECKPOINT_PATH if shortcut \
        else CHECKPOINT_PATH
    options = ExplainOptions(model=ModelOptions(path=checkpoint),
                             inputs=InputOptions(data_dir=data_dir / "images" if segmentation else data_dir),
                             output=OutputOptions(output_dir=output_dir / "gradcam", audit=shortcut, masks=masks),
                             num_workers=0)
    with ConsoleProgress() as progress:
        result = run_explain(options, progress, command_line=command_line(ctx))
    _report(result)
    typer.echo(f"open {result.output_dir.resolve()}/ to see the figures")
    raise typer.Exit(result.exit_code)


def _write_demo_images(data_dir: Path, count: Optional[int], *, shortcut: bool, segmentation: bool) -> Optional[Path]:
    """Write the demo's synthetic images (and says what they are); the label maps' folder for --segmentation."""
    from camviz.demo import write_image_folder
    from camviz.demo.segmentation_shapes import write_segmentation_folder
    from camviz.demo.tagged import DEMO_TAGGING, write_tagged_folder
    from camviz.errors import OutputError

    try:
        if segmentation:
            write_segmentation_folder(data_dir, count=count or 12, seed=2024)
        elif shortcut:
            write_tagged_folder(data_dir, per_class=count or 30, seed=778, tagging=DEMO_TAGGING)
        else:
            write_image_folder(data_dir, per_class=count or 4, seed=2024)
    except OSError as error:
        raise OutputError(f"cannot write the demo images under {data_dir}: {error.strerror or error}") from error
    if segmentation:
        typer.echo(f"demo: {count or 12} synthetic images of one to three shapes in {data_dir}/images/, their label "
                   f"maps in {data_dir}/masks/")
        return data_dir / "masks"
    what = "; some squares carry a tag in the top-left corner" if shortcut else ""
    typer.echo(f"demo: {count or (30 if shortcut else 4)} synthetic images per class in {data_dir}/ (the class is "
               f"the shape{what})")
    return None


@app.command(cls=SizedCommand)
@grouped
def explain(
    ctx: typer.Context,
    model: Annotated[ModelOptions, MODEL],
    inputs: Annotated[InputOptions, INPUTS],
    cam: Annotated[CamOptions, CAM],
    output: Annotated[OutputOptions, OUTPUT],
    batch_size: BatchSize = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes for decoding (default: a quarter of the CPUs this run may use, 1..8).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished figures and manifest rows; do the rest.")] = False,
    score_threshold: Annotated[float, typer.Option(help="An object detector: explain the detections scoring at least this.")] = 0.5,
    max_detections: Annotated[int, typer.Option(help="An object detector: explain at most this many detections per image (the best).")] = 20,
    config: Annotated[Optional[Path], typer.Option(help="TOML preset; flags given here win.", is_eager=True, callback=read_config)] = None,
) -> None:
    """Explain one image (--image-path) or a whole ImageFolder split (--data-dir) with Grad-CAM figures."""
    from camviz.cam.detection_cams import DetectionChoice
    from camviz.cli.console import ConsoleProgress
    from camviz.run.job import explain as run_explain
    from camviz.run.options import ExplainOptions
    from camviz.run.ranks import ranks_from_environment

    options = ExplainOptions(model=model, inputs=inputs, cam=cam, output=output, batch_size=batch_size,
                             num_workers=num_workers, resume=resume,
                             detection=DetectionChoice(score_threshold=score_threshold, max_detections=max_detections))
    is_main = ranks_from_environment().is_main  # under torchrun only rank 0 draws and reports
    with ConsoleProgress(show_progress=is_main) as progress:
        result = run_explain(options, progress, command_line=command_line(ctx))
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
    if result.audit is not None:
        _report_audit(result.audit)


def _report_audit(audit: AuditResult) -> None:
    """The audit's summary: the counts, then a line per flagged cluster and per class too small to cluster."""
    first, *rest = audit.lines
    typer.echo(f"  {first}")
    for line in rest:
        typer.echo(f"    {line}")
    if audit.outputs:
        typer.echo(f"  wrote {audit.outputs[0]}")


@app.command()
def audit(
    output_dir: Annotated[Path, typer.Argument(help="The --output-dir of a finished camviz explain --data-dir run.")],
    clusters: Annotated[Optional[int], typer.Option(help="Clusters per class (default: chosen by the eigengap, at most 8).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the clustering (camviz explain --audit uses its --seed).")] = 0,
) -> None:
    """Is it right for the right reasons? Cluster a finished run's maps per explained class (SpRAy, Lapuschkin et al.
    2019) and flag clusters that look at a fixed place, the border or outside the objects; no CAM is computed again."""
    from camviz.cam.audit import AuditOptions
    from camviz.run.audit import audit_run

    result = audit_run(output_dir, AuditOptions(clusters=clusters, seed=seed))
    for note in result.notes:
        typer.echo(f"warning: {note}", err=True)
    _report_audit(result)


@app.command(cls=SizedCommand)
@grouped
def layers(
    model: Annotated[ModelOptions, MODEL],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: model_name, family, target_layers, reshape, num_classes, class_names, img_size (HEIGHT, WIDTH when not square), channels, output, decided_by, reshape_detail, warning.")] = False,
) -> None:
    """Show what camviz resolves for a checkpoint: model, family, target layers, classes, input size."""
    import json

    from camviz.run.model import resolve_model

    resolved = resolve_model(replace(model, cpu=True))  # the dry forward passes it shows run on the CPU
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
    if resolved.loaded.task.value == "detection":  # its output is boxes, not logits: no dry forward to list
        return
    typer.echo("last candidate layers (4-D outputs of a dry forward pass):")
    for name, shape in candidate_layers(resolved.model, spec.size):
        typer.echo(f"  {name:<40} {tuple(shape)}")


@app.command(cls=SizedCommand)
@grouped
def families(model: Annotated[ModelOptions, MODEL.with_defaults(model_path=None)]) -> None:
    """Print the per-family target-layer table (first matching family whose path exists wins), then the rules after it.
    With --model-path, also say which rule decides the target for that checkpoint."""
    from camviz.discovery.families import FAMILIES

    typer.echo(f"{'family':<13} {'recognised by (class names; name patterns)':<66} {'target layer paths':<48} reshape")
    for family in FAMILIES:
        recognised = f"{', '.join(family.classes)}; {', '.join(family.patterns)}"
        typer.echo(f"{family.name:<13} {recognised:<66} {' | '.join(family.paths):<48} {family.reshape or '-'}")
    typer.echo("then timm's metadata: global_pool='token' → the last block's pre-norm (timm_token_pool), "
               "feature_info[-1] (found under a parent when nested); then the last layer whose output reads as a "
               "spatial map with a gradient (fallback); --target-layer overrides all")
    if model.path is None:
        return
    from camviz.run.model import resolve_model

    resolved = resolve_model(replace(model, cpu=True))
    targets = resolved.targets
    typer.echo(f"{resolved.loaded.model_name}: rule {targets.family} ({targets.decided_by}) → "
               f"{', '.join(targets.names)}, reshape {targets.reshape or 'none'} ({targets.reshape_detail})")
    for note in resolved.notes:
        typer.echo(f"warning: {note}", err=True)


@app.command(cls=SizedCommand)
@grouped
def compare(
    model: Annotated[ModelOptions, MODEL],
    inputs: Annotated[InputOptions, INPUTS.without("data_dir", "num_samples", "classes", "seed")],
    cam: Annotated[CamOptions, CAM.without("method")],
    method: Annotated[Optional[list[str]], typer.Option(help="A pytorch-grad-cam method; repeatable (a column each). Default: gradcam, gradcam++, hirescam, layercam, eigencam, scorecam.")] = None,
    output: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("compare.png"),
) -> None:
    """One figure comparing CAM methods side by side: a row per image (--image-path, repeatable), a column per method."""
    from camviz.run.compare import DEFAULT_METHODS, compare_methods

    written = compare_methods(model, inputs.images, method or DEFAULT_METHODS, destination=output, cam=cam)
    typer.echo(f"wrote {written}")


@app.command(cls=SizedCommand)
@grouped
def sanity(
    model: Annotated[ModelOptions, MODEL],
    inputs: Annotated[InputOptions, INPUTS],
    cam: Annotated[CamOptions, CAM],
    output: Annotated[OutputOptions, OUTPUT.without("figure_format", "save_raw", "only_misclassified", "iou_threshold",
                                           "metrics", "masks", "boxes", "audit").with_defaults(output_dir=Path("sanity_results"))],
    batch_size: BatchSize = None,
    draws: Annotated[int, typer.Option(help="Random initialisations of the blocks above the target layer that the verdict looks at (the warning needs the maps to survive every one).")] = 3,
    test: Annotated[Optional[list[str]], typer.Option(help="Which tests: cascading, random-logit, emprt, smprt; repeatable or comma-separated (default: cascading,random-logit,emprt). --data-dir: a seeded subset of 16 images unless --num-samples is given; emprt alone streams over every image.")] = None,
    smooth_samples: Annotated[int, typer.Option(help="sMPRT: noisy copies of each input its maps are averaged over (Hedström et al. 2023 and Quantus: 50).")] = 50,
) -> None:
    """Can these maps be trusted? Randomise the model block by block from the output side (Adebayo et al. 2018)
    and compare each step's CAMs with the originals; a random other class's CAM against the explained one's; and
    the repaired tests of Hedström et al. 2023 (eMPRT: the maps' complexity before and after every block is
    random; sMPRT: smoothed maps, blocks randomised from the input side)."""
    from camviz.cam.randomisation import DEFAULT_TESTS, SanityTest
    from camviz.cli.console import ConsoleProgress
    from camviz.cli.parsing import parse_tests
    from camviz.run.sanity import SanityOptions
    from camviz.run.sanity import sanity as run_sanity

    tests = parse_tests(test, tuple(SanityTest), tuple(DEFAULT_TESTS))
    options = SanityOptions(model=model, inputs=inputs, cam=cam, output=output, batch_size=batch_size, draws=draws,
                            tests=tuple(SanityTest(name) for name in tests), smooth_samples=smooth_samples)
    with ConsoleProgress() as progress:
        result = run_sanity(options, progress)
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"wrote {', '.join(str(path) for path in result.outputs)}")
    raise typer.Exit(result.exit_code)


@app.command("compare-runs")
def compare_runs(
    first: Annotated[Path, typer.Argument(help="An output folder of camviz explain (its trust.csv, else its manifest.csv).")],
    second: Annotated[Path, typer.Argument(help="Another one, e.g. another checkpoint or method on the same split.")],
) -> None:
    """Print two runs' trust numbers side by side (trust.csv: accuracy, faithfulness means, localization and its
    centre and random baselines), with the second minus the first."""
    from camviz.run.compare_runs import compare_runs as run_compare_runs

    for line in run_compare_runs(first, second):
        typer.echo(line)
