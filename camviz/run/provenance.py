"""What goes into `run.json`: the software, the command, the resolved model and settings, the times and the counts."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata

from camviz.output.summary import Summary
from camviz.run.model import ResolvedModel
from camviz.run.options import RunMode

RECORDED_PACKAGES: tuple[str, ...] = ("camviz", "torch", "torchvision", "timm", "grad-cam", "transformers")


def package_versions() -> dict[str, str | None]:
    """Installed version of each recorded package (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def utc_now() -> str:
    """The time now, ISO 8601 in UTC to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def model_record(resolved: ResolvedModel, method: str) -> dict[str, object]:
    """The model as this run resolved it: name, family, target layers, input spec, output kind and the method."""
    loaded, spec = resolved.loaded, resolved.loaded.input
    output: dict[str, object] = {"kind": loaded.output_kind.name}
    if loaded.output_kind.is_multilabel:
        output["threshold"] = loaded.output_kind.threshold
    return {
        "name": loaded.model_name, "family": resolved.targets.family, "target_layers": list(resolved.targets.names),
        "reshape": resolved.targets.reshape, "num_classes": loaded.num_classes, "class_names": resolved.class_names,
        "input": {"channels": spec.channels, "size": list(spec.size), "mean": list(spec.mean), "std": list(spec.std)},
        "output": output, "method": method,
    }


def start_record(resolved: ResolvedModel, method: str, settings: str, mode: RunMode) -> dict[str, object]:
    """`run.json` as a run starts: versions, command line, model, device, settings key; no end time or counts yet."""
    return {
        "versions": package_versions(), "command": shlex.join(sys.argv), "mode": mode.value,
        "model": model_record(resolved, method), "method": method, "device": str(resolved.device),
        "settings_key": settings, "started": utc_now(), "ended": None, "status": "running", "counts": None,
    }


def finish_record(record: dict[str, object], status: str, notes: Sequence[str], summary: Summary | None = None,
                  outputs: int | None = None) -> dict[str, object]:
    """The record once the run has ended: the end time, how it ended, what it told the user and what it counted."""
    counts: dict[str, object] = {}
    if summary is not None:
        counts = {"processed": summary.processed, "skipped": summary.skipped, "resumed": summary.resumed,
                  "correct": summary.correct, "labelled": summary.labelled}
    if outputs is not None:
        counts["files"] = outputs
    return {**record, "ended": utc_now(), "status": status, "notes": list(notes), "counts": counts or None}
