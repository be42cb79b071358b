"""`run.json`: what made an output folder (versions, command line, resolved model, settings, times, counts).

Written when a run starts and rewritten when it ends, atomically. It is a record, not a key: `--resume` decides by
the manifest's `source` column and never reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from camviz.output.files import write_atomic

RUN_RECORD_NAME = "run.json"


def write_run_record(output_dir: Path, record: Mapping[str, object]) -> Path:
    """Write `output_dir/run.json` (indented JSON, atomically); return its path."""
    path = Path(output_dir) / RUN_RECORD_NAME
    write_atomic(path, (json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    return path


def read_run_record(output_dir: Path) -> dict | None:
    """The folder's `run.json`, or None when there is none or it cannot be read as a JSON object."""
    try:
        record = json.loads((Path(output_dir) / RUN_RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
