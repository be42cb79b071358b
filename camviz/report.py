"""What a batch run reports: `manifest.csv` (one row per sample) and the closing summary."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from camviz.render import write_atomic

MANIFEST_NAME = "manifest.csv"


def manifest_name(rank: int, world_size: int) -> str:
    """`manifest.csv`, or `manifest.rank{r}.csv` for one rank of a torchrun job (merged by rank 0)."""
    return MANIFEST_NAME if world_size == 1 else f"manifest.rank{rank}.csv"


@dataclass
class ManifestRow:
    """One sample's outcome; `status` is `ok` or `error`, `error` holds the reason or a warning."""

    index: int
    path: str
    true: str
    pred: str = ""
    confidence: str = ""
    target: str = ""
    output: str = ""
    status: str = "ok"
    error: str = ""
    scores: dict[str, str] = field(default_factory=dict)  # --metrics: extra numeric columns after `error`


MANIFEST_FIELDS = tuple(f.name for f in fields(ManifestRow) if f.name != "scores")


class ManifestWriter:
    """Appends each row as soon as its sample is done (so a killed run keeps them); `close` rewrites it sorted."""

    def __init__(self, path: Path, kept_rows: Iterable[ManifestRow] = (), score_names: Sequence[str] = ()) -> None:
        self.path = path
        self.rows = {row.index: row for row in kept_rows}
        self.score_names = tuple(score_names)
        self._lock = threading.Lock()
        write_atomic(path, _to_csv(self.rows.values(), header=True, score_names=self.score_names).encode())
        self._file = path.open("a", newline="", encoding="utf-8")

    def add(self, row: ManifestRow) -> None:
        """Record a finished sample, on disk at once."""
        with self._lock:
            self.rows[row.index] = row
            self._file.write(_to_csv([row], header=False, score_names=self.score_names))
            self._file.flush()

    def close(self) -> None:
        """Replace the appended file by the complete manifest, sorted by index."""
        if not self._file.closed:
            self._file.close()
            rows = sorted(self.rows.values(), key=lambda r: r.index)
            write_atomic(self.path, _to_csv(rows, header=True, score_names=self.score_names).encode())


def _to_csv(rows: Iterable[ManifestRow], header: bool, score_names: Sequence[str] = ()) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=(*MANIFEST_FIELDS, *score_names), lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        record = asdict(row)
        scores = record.pop("scores")
        writer.writerow({**record, **{name: scores.get(name, "") for name in score_names}})
    return buffer.getvalue()


def read_manifest(path: Path) -> list[ManifestRow]:
    """The rows of an existing manifest; rows cut short by a killed run are dropped."""
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as file:
        for record in csv.DictReader(file):
            if None in record.values() or None in record or not (record.get("index") or "").isdigit():
                continue
            if record.get("status") not in ("ok", "error"):
                continue
            base = {name: record.pop(name) for name in MANIFEST_FIELDS}
            rows.append(ManifestRow(**{**base, "index": int(base["index"])}, scores=record))
    return rows


def merge_rank_manifests(output_dir: Path, world_size: int) -> list[ManifestRow]:
    """Merge every rank's manifest into `manifest.csv` (sorted by index) and remove the per-rank files."""
    paths = [output_dir / manifest_name(rank, world_size) for rank in range(world_size)]
    rows = sorted((row for path in paths for row in read_manifest(path)), key=lambda row: row.index)
    score_names = sorted({name for row in rows for name in row.scores})
    write_atomic(output_dir / MANIFEST_NAME, _to_csv(rows, header=True, score_names=score_names).encode())
    for path in paths:
        path.unlink(missing_ok=True)
    return rows


@dataclass
class Summary:
    """Counts for the closing summary of a run, over every manifest row (resumed ones included)."""

    processed: int = 0
    skipped: int = 0
    resumed: int = 0
    correct: int = 0
    labelled: int = 0
    score_means: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        """Accuracy over processed samples whose true class is known, or None if there are none."""
        return self.correct / self.labelled if self.labelled else None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        lines = [f"processed: {self.processed}", f"skipped (errors): {self.skipped}"]
        if self.resumed:
            lines.append(f"of which already done before --resume: {self.resumed}")
        if self.accuracy is not None:
            lines.append(f"accuracy on processed samples: {self.accuracy:.1%} ({self.correct}/{self.labelled})")
        lines += [f"mean {name}: {value:.4f}" for name, value in self.score_means.items()]
        return lines


def is_correct(true: str, pred: str) -> bool:
    """Whether a prediction names the true class (a multilabel prediction `a+b` names each of its labels)."""
    return true == pred or true in pred.split("+")


def summarize(rows: Iterable[ManifestRow], resumed: int = 0, classes: Sequence[str] | None = None) -> Summary:
    """Count processed, skipped and correct samples from manifest rows; with `classes` (the model's), only
    rows whose true class is one of them count towards the accuracy."""
    summary = Summary(resumed=resumed)
    scores: dict[str, list[float]] = {}
    for row in rows:
        if row.status != "ok":
            summary.skipped += 1
            continue
        summary.processed += 1
        if row.true and (classes is None or row.true in classes):
            summary.labelled += 1
            summary.correct += is_correct(row.true, row.pred)
        for name, value in row.scores.items():
            if value:
                scores.setdefault(name, []).append(float(value))
    summary.score_means = {name: sum(values) / len(values) for name, values in scores.items()}
    return summary


def resumable_rows(output_dir: Path, indices: set[int], save_raw: bool) -> list[ManifestRow]:
    """Rows of earlier runs (merged or per-rank manifests) for `indices` whose outputs are all on disk.

    Writes are atomic, so an output under its final name is complete.
    """
    kept: dict[int, ManifestRow] = {}
    for path in sorted(output_dir.glob("manifest*.csv")):
        for row in read_manifest(path):
            figure = output_dir / row.output
            complete = row.status == "ok" and row.output and figure.is_file()
            if complete and row.index in indices and (not save_raw or figure.with_suffix(".npy").is_file()):
                kept[row.index] = row
    return list(kept.values())
