"""`camviz compare-runs OUT_A OUT_B`: two runs' trust tables (`camviz.output.trust`) side by side, e.g. two
checkpoints or two methods on the same split. A run folder from before `trust.csv` existed is read from its
`manifest.csv` (the same summary, counted again)."""

from __future__ import annotations

from pathlib import Path

from camviz.errors import UsageError
from camviz.output.manifest import MANIFEST_NAME, read_manifest
from camviz.output.run_record import read_run_record
from camviz.output.summary import summarize
from camviz.output.trust import TRUST_NAME, read_trust, side_by_side, trust_rows


def run_trust(folder: Path) -> dict[str, float]:
    """A run folder's trust numbers: its `trust.csv`, else counted from its `manifest.csv`; a folder that is
    neither is a one-line `UsageError`."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder: give two output folders of camviz explain runs")
    table = read_trust(folder)
    if table is not None:
        return table
    if (folder / MANIFEST_NAME).is_file():
        return trust_rows(summarize(read_manifest(folder / MANIFEST_NAME)))
    raise UsageError(f"{folder} is not a camviz explain run (no {TRUST_NAME} or {MANIFEST_NAME} in it)")


def compare_runs(first: Path, second: Path) -> list[str]:
    """The lines `compare-runs` prints: what each run was (from its run.json, when there is one), then the table."""
    tables = (run_trust(first), run_trust(second))
    lines = [f"{label}: {folder} ({_described(folder)})" for label, folder in (("first", first), ("second", second))]
    return lines + side_by_side((first.name or str(first), second.name or str(second)), tables)


def _described(folder: Path) -> str:
    """`gradcam on resnet18` from the folder's run.json, or that it has none."""
    record = read_run_record(folder)
    if record is None:
        return "no run.json"
    model = record.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    return f"{record.get('method', '?')} on {name or '?'}"
