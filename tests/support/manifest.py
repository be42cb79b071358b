"""Reading a run's `manifest.csv` in tests: the documented header first, then the rows as dicts."""

from __future__ import annotations

import csv
from pathlib import Path

from camviz.output.manifest import MANIFEST_FIELDS


def manifest_rows(output_dir: Path, extra_fields: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The rows of `output_dir/manifest.csv`, after asserting its header is exactly the documented one."""
    with (output_dir / "manifest.csv").open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames) == (*MANIFEST_FIELDS, *extra_fields)
        return list(reader)
