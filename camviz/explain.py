"""One `camviz explain` run end to end, as a plain function: select samples, batch, explain, write, summarise.

Decoding runs in DataLoader workers, the CAMs in this process, figure encoding and writing in a small
thread pool, so the model rarely waits on disk. Progress and warnings go to a `Progress` object; this
module prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from camviz.cam import CamEngine, canonical_method_name
from camviz.data import LoadedItem, Preprocessing, Sample, batch_loader, filter_classes, list_image_folder, sample_subset
from camviz.errors import CamvizError, UsageError
from camviz.layers import resolve_targets
from camviz.models import LoadedModel, load_model
from camviz.render import remove_partial_files
from camviz.report import MANIFEST_NAME, ManifestWriter, Summary, read_manifest, summarize
from camviz.outputs import BatchWriter, SingleWriter, WritePool


@dataclass
class ExplainOptions:
    """Everything one run needs; the defaults are the CLI's."""

    model_path: Path
    image_path: Path | None = None
    data_dir: Path | None = None
    model_name: str | None = None
    target_category: int | None = None
    img_size: int | None = None
    output_dir: Path = Path("gradcam_results")
    num_samples: int | None = None
    batch_size: int = 8
    num_workers: int = 4
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


class Progress(Protocol):
    """Where a run reports progress and warnings (the CLI draws a bar; the API default is silent)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentProgress:
    """A `Progress` that collects warnings and shows nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class ExplainResult:
    """What a run produced: files written, the manifest (batch mode) and the counts."""

    output_dir: Path
    outputs: list[Path] = field(default_factory=list)
    manifest: Path | None = None
    summary: Summary = field(default_factory=Summary)

    @property
    def exit_code(self) -> int:
        """0 when every input was explained, 3 when some were skipped (DESIGN.md)."""
        return 3 if self.summary.skipped else 0


def check_options(options: ExplainOptions) -> None:
    """Reject option combinations and numbers that make no sense, before any work is done."""
    if (options.image_path is None) == (options.data_dir is None):
        raise UsageError("give exactly one of --image-path (one image) or --data-dir (an ImageFolder split)")
    if options.image_path is not None and not options.image_path.is_file():
        raise UsageError(f"--image-path {options.image_path} does not exist or is not a file")
    if options.num_samples is not None and options.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {options.num_samples}); omit it for all images")
    for name, value, least in (("--batch-size", options.batch_size, 1), ("--num-workers", options.num_workers, 0)):
        if value < least:
            raise UsageError(f"{name} must be at least {least} (got {value})")
    if options.img_size is not None and options.img_size < 8:
        raise UsageError(f"--img-size must be at least 8 pixels (got {options.img_size})")
    canonical_method_name(options.method)


def select_device(force_cpu: bool) -> torch.device:
    """`--cpu`, else CUDA, else Apple's MPS, else the CPU."""
    if not force_cpu and torch.cuda.is_available():
        return torch.device("cuda")
    if not force_cpu and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def class_names_for(loaded: LoadedModel, folder_classes: Sequence[str]) -> list[str]:
    """The checkpoint's class names, else the data dir's sub-folders, else the indices (when counts match)."""
    for names in (loaded.class_names, folder_classes):
        if names and len(names) == loaded.num_classes:
            return list(names)
    return [str(i) for i in range(loaded.num_classes)]


def select_samples(options: ExplainOptions) -> tuple[list[Sample], list[str]]:
    """The batch-mode samples after `--classes` and `--num-samples`, and the data dir's class folders."""
    assert options.data_dir is not None
    listing = list_image_folder(options.data_dir)
    samples = listing.samples
    if options.classes:
        samples = filter_classes(samples, options.classes, listing.classes)
    return sample_subset(samples, options.num_samples, options.seed), listing.classes


def explain(options: ExplainOptions, progress: Progress | None = None) -> ExplainResult:
    """Run Grad-CAM (or another method) for one image or an ImageFolder split and write the figures."""
    check_options(options)
    progress = progress or SilentProgress()
    samples, folder_classes = (
        ([Sample(0, options.image_path, options.image_path.name)], [])
        if options.image_path is not None
        else select_samples(options)
    )
    loaded = load_model(
        options.model_path,
        options.model_name,
        plugins=options.plugins,
        trust_checkpoint=options.trust_checkpoint,
        use_ema=options.ema,
    )
    class_names = class_names_for(loaded, folder_classes)
    if options.target_category is not None and not 0 <= options.target_category < loaded.num_classes:
        raise UsageError(
            f"--target-category {options.target_category} is out of range: the model has "
            f"{loaded.num_classes} classes (0..{loaded.num_classes - 1})"
        )
    output_dir = make_output_dir(options.output_dir)
    device = select_device(options.cpu)
    model = loaded.model.to(device).eval()
    img_size = options.img_size or loaded.img_size
    targets = resolve_targets(model, loaded.model_name, list(options.target_layers) or None, img_size)
    preprocessing = Preprocessing(img_size, loaded.mean, loaded.std)
    method = canonical_method_name(options.method)
    with CamEngine(model, targets.modules, targets.reshape_transform, method, on_warning=progress.warn) as engine:
        if options.image_path is not None:
            return _run_single(options, samples, preprocessing, engine, class_names, output_dir, progress)
        return _run_batch(options, samples, preprocessing, engine, class_names, output_dir, progress)


def make_output_dir(path: Path) -> Path:
    """Create the output folder (and parents); a folder that cannot be made is a one-line error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CamvizError(f"cannot create --output-dir {path}: {error.strerror or error}") from error
    return path


def _run_single(options, samples, preprocessing, engine, class_names, output_dir, progress) -> ExplainResult:
    writer = SingleWriter(output_dir, engine.method, class_names, options.target_category, options.save_raw,
                          progress.warn)
    with WritePool() as pool:
        _drive(engine, batch_loader(samples, preprocessing, 1, 0), options.target_category, writer, pool, progress)
    return ExplainResult(output_dir, outputs=writer.outputs, summary=summarize([]))


def _run_batch(options, samples, preprocessing, engine, class_names, output_dir, progress) -> ExplainResult:
    manifest_path = output_dir / MANIFEST_NAME
    kept = []
    if options.resume:
        remove_partial_files(output_dir)
        kept = _resumable_rows(manifest_path, output_dir, options.save_raw)
    done = {row.index for row in kept}
    todo = [s for s in samples if s.index not in done]
    manifest = ManifestWriter(manifest_path, kept)
    writer = BatchWriter(
        output_dir, engine.method, class_names, options.target_category, options.save_raw,
        options.resume, manifest, progress.warn,
    )
    progress.start(len(samples))
    progress.advance(len(samples) - len(todo))
    workers = min(options.num_workers, max(1, len(todo) // options.batch_size))
    try:
        with WritePool() as pool:
            loader = batch_loader(todo, preprocessing, options.batch_size, workers)
            _drive(engine, loader, options.target_category, writer, pool, progress)
    finally:
        manifest.close()
    rows = list(manifest.rows.values())
    return ExplainResult(output_dir, writer.outputs, manifest_path, summarize(rows, resumed=len(kept)))


def _drive(engine: CamEngine, loader: Iterable[list[LoadedItem]], target_category: int | None,
           writer: BatchWriter | SingleWriter, pool: WritePool, progress: Progress) -> None:
    """Explain every decoded batch with the one CAM engine; hand results and failures to the writer."""
    for items in loader:
        good = [item for item in items if item.error is None]
        for item in items:
            if item.error is not None:
                writer.failed(item)
        if good:
            result = engine.explain(torch.stack([item.tensor for item in good]), target_category)
            for item, cam, probabilities in zip(good, result.cams, result.probabilities):
                writer.done(item, cam, probabilities, pool)
        progress.advance(len(items))


def _resumable_rows(manifest_path: Path, output_dir: Path, save_raw: bool) -> list:
    """Rows of a previous run whose outputs are all on disk (writes are atomic, so present means complete)."""
    kept = []
    for row in read_manifest(manifest_path):
        figure = output_dir / row.output
        if row.status == "ok" and row.output and figure.is_file():
            if not save_raw or figure.with_suffix(".npy").is_file():
                kept.append(row)
    return kept
