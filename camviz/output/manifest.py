"""`manifest.csv`: one row per sample, appended as it is done, rewritten sorted at the end; read back for `--resume`."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from camviz.errors import writing
from camviz.output.files import write_atomic

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
    source: str = ""  # what made the row: the run's settings key and the image's size and mtime (--resume)
    scores: dict[str, str] = field(default_factory=dict)  # --metrics: extra numeric columns after `error`


MANIFEST_FIELDS = tuple(f.name for f in fields(ManifestRow) if f.name != "scores")


class ManifestWriter:
    """Appends each row as soon as its sample is done (so a killed run keeps them); `close` rewrites it sorted.

    `sources` gives each index its `source` (see `camviz.resume`); a full disk or unwritable folder raises a
    one-line `OutputError`.
    """

    def __init__(self, path: Path, kept_rows: Iterable[ManifestRow] = (), score_names: Sequence[str] = (),
                 sources: Mapping[int, str] | None = None) -> None:
        self.path = path
        self.rows = {row.index: row for row in kept_rows}
        self.score_names = tuple(score_names)
        self.sources = dict(sources or {})
        self._lock = threading.Lock()
        write_atomic(path, _to_csv(self.rows.values(), header=True, score_names=self.score_names))
        with writing(path):
            self._file = path.open("a", newline="", encoding="utf-8", errors="backslashreplace")

    def add(self, row: ManifestRow) -> None:
        """Record a finished sample, on disk at once."""
        row.source = self.sources.get(row.index, row.source)
        with self._lock, writing(self.path):
            self.rows[row.index] = row
            self._file.write(_to_csv([row], header=False, score_names=self.score_names).decode())
            self._file.flush()

    def close(self) -> None:
        """Replace the appended file by the complete manifest, sorted by index."""
        if not self._file.closed:
            with writing(self.path):
                self._file.close()
            rows = sorted(self.rows.values(), key=lambda r: r.index)
            write_atomic(self.path, _to_csv(rows, header=True, score_names=self.score_names))


def _to_csv(rows: Iterable[ManifestRow], header: bool, score_names: Sequence[str] = ()) -> bytes:
    """CSV bytes; a field holding a line break is quoted (`csv` leaves a lone CR bare), formulas are defused."""
    buffer = io.StringIO()
    names = (*MANIFEST_FIELDS, *score_names)
    plain = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    quoted = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", quoting=csv.QUOTE_ALL)
    if header:
        plain.writeheader()
    for row in rows:
        record = asdict(row)
        scores = record.pop("scores")
        record = {name: defuse(value) if name in _TEXT_FIELDS else value for name, value in record.items()}
        writer = quoted if any("\r" in str(value) for value in record.values()) else plain
        writer.writerow({**record, **{name: scores.get(name, "") for name in score_names}})
    return buffer.getvalue().encode("utf-8", "backslashreplace")


_TEXT_FIELDS = frozenset({"path", "true", "pred", "target", "output", "error"})

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(text: str) -> str:
    """A text field as a spreadsheet shows it literally: `'` before a leading `= + - @` (reversed by `restore`)."""
    return f"'{text}" if text.lstrip("'").startswith(_FORMULA_START) else text


def restore(text: str) -> str:
    """The field `defuse` was given."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(_FORMULA_START) else text


def read_manifest(path: Path) -> list[ManifestRow]:
    """The rows of an existing manifest; rows cut short by a killed run (even mid-character) are dropped."""
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        try:
            for record in csv.DictReader(file):
                row = _row(record)
                if row is not None:
                    rows.append(row)
        except csv.Error:
            pass  # the tail is garbage (a crash mid-write): keep the rows before it
    return rows


def _row(record: dict) -> ManifestRow | None:
    """A manifest row from a csv record, or None for a row cut short."""
    if None in record.values() or None in record or not (record.get("index") or "").isdigit():
        return None
    if record.get("status") not in ("ok", "error"):
        return None
    base = {name: record.pop(name, "") for name in MANIFEST_FIELDS}
    base = {name: restore(value) if name in _TEXT_FIELDS else value for name, value in base.items()}
    return ManifestRow(**{**base, "index": int(base["index"])}, scores=record)


def merge_rank_manifests(output_dir: Path, world_size: int) -> list[ManifestRow]:
    """Merge every rank's manifest into `manifest.csv` (sorted by index) and remove the per-rank files."""
    paths = [output_dir / manifest_name(rank, world_size) for rank in range(world_size)]
    rows = sorted((row for path in paths for row in read_manifest(path)), key=lambda row: row.index)
    score_names = sorted({name for row in rows for name in row.scores})
    write_atomic(output_dir / MANIFEST_NAME, _to_csv(rows, header=True, score_names=score_names))
    for path in paths:
        path.unlink(missing_ok=True)
    return rows
