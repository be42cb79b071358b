"""What goes into `run.json`: the software, camviz's own settings (and its command line when camviz is the program),
the resolved model, the times and the counts.

`run.json` and the gallery are files users share, so what they show of a path keeps the home folder and the Python
environment out (`shown_text`: `~/...`, `<venv>/...`), and a run started from Python (a notebook, a training or
evaluation script) records its options, never the host process's `sys.argv` (that script's own arguments, secrets
included).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from importlib import metadata
from pathlib import Path, PurePath

from camviz.output.faithfulness_summary import faithfulness_record
from camviz.output.summary import Summary
from camviz.run.model import ResolvedModel
from camviz.run.options import ExplainOptions

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


def start_record(options: ExplainOptions, resolved: ResolvedModel, method: str, settings: str,
                 command_line: Sequence[str] | None = None) -> dict[str, object]:
    """`run.json` as a run starts: versions, camviz's options (and command line, when camviz is the program), model,
    device, settings key; no end time or counts yet. `command_line`: the arguments after `camviz`, given only by the
    command-line entry point; None for a run called from Python."""
    return {
        "versions": package_versions(), "command": shown_command(command_line), "mode": options.mode.value,
        "options": option_record(options), "model": model_record(resolved, method), "method": method,
        "device": str(resolved.device), "settings_key": settings, "started": utc_now(), "ended": None,
        "status": "running", "counts": None,
    }


def shown_command(command_line: Sequence[str] | None) -> str | None:
    """`camviz ARGS...` as a shell would read it, paths shown as `shown_text` shows them; None without one."""
    if command_line is None:
        return None
    return shlex.join(["camviz", *(shown_text(argument) for argument in command_line)])


def option_record(options: ExplainOptions) -> object:
    """The run's option values as JSON data: each options type field by field, enums by value, paths as given
    (`shown_text`)."""
    return _shown(dataclasses.asdict(options))


def _shown(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _shown(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    if isinstance(value, Enum):
        return _shown(value.value)
    if isinstance(value, (str, PurePath)):
        return shown_text(str(value))
    return value


def shown_text(text: str) -> str:
    """`text` with the Python environment's folder (a virtual environment's) as `<venv>` and the home folder as `~`,
    wherever they start a path."""
    for folder, shown in _private_folders():
        text = re.sub(rf"{re.escape(folder)}(?=$|[\\/\s'\",;:)])", shown, text)
    return text


def _private_folders() -> list[tuple[str, str]]:
    """(folder, how it is shown), the innermost first: the active virtual environment, then the home folder."""
    folders = []
    if sys.prefix != sys.base_prefix:  # a virtual environment (never the system's own prefix, such as /usr)
        folders.append((str(Path(sys.prefix)), "<venv>"))
    try:
        home = str(Path.home())
    except RuntimeError:  # no home folder can be found
        return folders
    if home not in ("", "/"):
        folders.append((home, "~"))
    return folders


def finish_record(record: dict[str, object], status: str, notes: Sequence[str], summary: Summary | None = None,
                  outputs: int | None = None) -> dict[str, object]:
    """The record once the run has ended: the end time, how it ended, what it told the user and what it counted."""
    counts: dict[str, object] = {}
    if summary is not None:
        counts = {"processed": summary.processed, "skipped": summary.skipped, "resumed": summary.resumed,
                  "correct": summary.correct, "labelled": summary.labelled}
    if outputs is not None:
        counts["files"] = outputs
    faithfulness = summary.faithfulness if summary is not None else None
    return {**record, "ended": utc_now(), "status": shown_text(status), "notes": [shown_text(note) for note in notes],
            "counts": counts or None, **({"faithfulness": faithfulness_record(faithfulness)} if faithfulness else {})}
