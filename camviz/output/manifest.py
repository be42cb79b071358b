"""`manifest.csv`: one row per `ImageResult`, appended as it is done, rewritten sorted at the end; read back for `--resume`.

The only place results are text: probabilities and scores with `PRECISION` decimals (`pointing_hit` as 1 or 0), a
multi-label prediction as its labels joined with `+`, the source as `{key}:{size}:{mtime}` (then `|{truth}` for an
image with ground truth), and a text field that starts with `= + - @` led by `'` (a spreadsheet shows it literally).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from camviz.errors import writing
from camviz.output.files import write_atomic
from camviz.output.result import PRECISION, ImageResult, Source, Status

MANIFEST_NAME = "manifest.csv"


def manifest_name(rank: int, world_size: int) -> str:
    """`manifest.csv`, or `manifest.rank{r}.csv` for one rank of a torchrun job (merged by rank 0)."""
    return MANIFEST_NAME if world_size == 1 else f"manifest.rank{rank}.csv"


MANIFEST_FIELDS = ("index", "path", "true", "pred", "confidence", "target", "output", "status", "error", "source")
AUDIT_FIELDS = ("cluster",)  # after the score columns, when an audit ran (`camviz.run.audit`)
_TEXT_FIELDS = frozenset({"path", "true", "pred", "target", "output", "error", "cluster"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# score columns written as whole numbers: hits as 1 or 0, a detector's row number in its image and its match
_WHOLE_NUMBERS = frozenset({"pointing_hit", "center_pointing_hit", "random_pointing_hit", "detection", "matched"})


class ManifestWriter:
    """Appends each result as soon as its sample is done (so a killed run keeps it); `close` rewrites it sorted.

    Rows are told apart by `ImageResult.row_key`: one per image, or per image and explained class (segmentation).

    `sources` gives each index its source (see `camviz.run.resume`); a full disk or unwritable folder raises a
    one-line `OutputError`.
    """

    def __init__(self, path: Path, *, kept: Iterable[ImageResult] = (), score_names: Sequence[str] = (),
                 sources: Mapping[int, Source] | None = None) -> None:
        self.path = path
        self.results = {result.row_key: replace(result, cluster="") for result in kept}  # clusters: the audit's, later
        self.score_names = tuple(score_names)
        self.sources = dict(sources or {})
        self._lock = threading.Lock()
        write_atomic(path, _to_csv(self.results.values(), header=True, score_names=self.score_names))
        with writing(path):
            self._file = path.open("a", newline="", encoding="utf-8", errors="backslashreplace")

    def add(self, result: ImageResult) -> None:
        """Record a finished sample, on disk at once (with this run's source for its index)."""
        if result.index in self.sources:
            result = replace(result, source=self.sources[result.index])
        with self._lock, writing(self.path):
            self.results[result.row_key] = result
            self._file.write(_to_csv([result], header=False, score_names=self.score_names).decode())
            self._file.flush()

    def close(self) -> None:
        """Replace the appended file by the complete manifest, sorted by index."""
        if not self._file.closed:
            with writing(self.path):
                self._file.close()
            results = sorted(self.results.values(), key=row_order)
            write_atomic(self.path, _to_csv(results, header=True, score_names=self.score_names))


def row_order(result: ImageResult) -> tuple[int, float, tuple[str, ...]]:
    """How a finished manifest is sorted, the same whatever order the write pool finished the rows in: by index; a
    detector's rows of one image by their number (`detection`), a segmentation model's by explained class name."""
    return result.index, result.scores.get("detection", 0.0), result.explained


def joined(names: Sequence[str]) -> str:
    """Class names as one `pred` or `target` cell (and file names, and the gallery): joined with `+`."""
    return "+".join(names)


def _cells(result: ImageResult) -> dict[str, object]:
    """The result's fixed columns as text (text fields defused)."""
    source = result.source
    cells: dict[str, object] = {"index": result.index, "path": result.path, "true": result.true, "pred": joined(result.predicted),
             "confidence": "+".join(f"{value:.{PRECISION}f}" for value in result.confidence),
             "target": joined(result.explained), "output": result.output, "status": result.status.value,
             "error": result.note, "source": _source_cell(source)}
    return {name: defuse(str(value)) if name in _TEXT_FIELDS else value for name, value in cells.items()}


def _source_cell(source: Source | None) -> str:
    """`{key}:{image stamp}`, then `|{truth stamp}` when the image had ground truth; empty without a source."""
    if source is None:
        return ""
    return f"{source.key}:{source.image}" + (f"|{source.truth}" if source.truth else "")


def _read_source(cell: str) -> Source | None:
    """A `source` cell read back (see `_source_cell`)."""
    if not cell:
        return None
    stamps, _, truth = cell.partition("|")
    key, _, image = stamps.partition(":")
    return Source(key, image, truth)


def _score_cell(name: str, scores: Mapping[str, float]) -> str:
    """A score column's cell: empty when the result has no such score."""
    if name not in scores:
        return ""
    return f"{scores[name]:.0f}" if name in _WHOLE_NUMBERS else f"{scores[name]:.{PRECISION}f}"


def write_manifest(path: Path, results: Iterable[ImageResult], score_names: Sequence[str] = ()) -> None:
    """Write a whole manifest at once, sorted by index (with a `cluster` column when some result has a cluster)."""
    write_atomic(path, _to_csv(sorted(results, key=row_order), header=True, score_names=score_names))


def _to_csv(results: Iterable[ImageResult], header: bool, score_names: Sequence[str] = ()) -> bytes:
    """CSV bytes; a field holding a line break is quoted (`csv` leaves a lone CR bare), formulas are defused; the
    audit's `cluster` column follows the scores when some result has a cluster."""
    buffer = io.StringIO()
    results = list(results)
    audited = AUDIT_FIELDS if any(result.cluster for result in results) else ()
    names = (*MANIFEST_FIELDS, *score_names, *audited)
    plain = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    quoted = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", quoting=csv.QUOTE_ALL)
    if header:
        plain.writeheader()
    for result in results:
        record = _cells(result)
        writer = quoted if any("\r" in str(value) for value in record.values()) else plain
        audit = {"cluster": defuse(result.cluster)} if audited else {}
        writer.writerow({**record, **{name: _score_cell(name, result.scores) for name in score_names}, **audit})
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def defuse(text: str) -> str:
    """A text field as a spreadsheet shows it literally: `'` before a leading `= + - @` (reversed by `restore`)."""
    return f"'{text}" if text.lstrip("'").startswith(_FORMULA_START) else text


def restore(text: str) -> str:
    """The field `defuse` was given."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(_FORMULA_START) else text


def read_manifest(path: Path, labels: Sequence[str] | None = None) -> list[ImageResult]:
    """The results of an existing manifest; rows cut short by a killed run (even mid-character) are dropped.

    `labels`: a multi-label model's labels, by which `pred` and `target` cells are split into names (only at a `+`
    between two known labels, so `HER2+` stays whole); None: each cell is one class name, `+` and all.
    """
    return _read(path, labels)[1]


def read_manifest_table(path: Path, labels: Sequence[str] | None = None) -> tuple[tuple[str, ...], list[ImageResult]]:
    """The manifest's score columns (in their order) and its results (see `read_manifest`)."""
    return _read(path, labels)


def _read(path: Path, labels: Sequence[str] | None) -> tuple[tuple[str, ...], list[ImageResult]]:
    """The manifest's score columns and its results."""
    if not path.is_file():
        return (), []
    results = []
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        reader = csv.DictReader(file)
        try:
            for record in reader:
                result = _result(record, labels)
                if result is not None:
                    results.append(result)
        except csv.Error:
            pass  # the tail is garbage (a crash mid-write): keep the rows before it
    known = (*MANIFEST_FIELDS, *AUDIT_FIELDS)
    return tuple(name for name in reader.fieldnames or () if name not in known), results


def _result(record: dict, labels: Sequence[str] | None) -> ImageResult | None:
    """A result from a csv record, or None for a row cut short."""
    if None in record.values() or None in record or not (record.get("index") or "").isdigit():
        return None
    if record.get("status") not in tuple(Status):
        return None
    cells = {name: record.pop(name, "") for name in MANIFEST_FIELDS}
    cluster = restore(record.pop("cluster", None) or "")
    text = {name: restore(value) if name in _TEXT_FIELDS else value for name, value in cells.items()}
    try:
        confidence = tuple(float(value) for value in text["confidence"].split("+")) if text["confidence"] else ()
        scores = {name: float(value) for name, value in record.items() if value}
    except ValueError:
        return None  # not a number: not a row camviz wrote whole
    return ImageResult(index=int(text["index"]), path=text["path"], true=text["true"],
                       predicted=_names(text["pred"], labels), confidence=confidence,
                       explained=_names(text["target"], labels), status=Status(text["status"]), note=text["error"],
                       scores=scores, output=text["output"], source=_read_source(text["source"]), cluster=cluster)


def _names(cell: str, labels: Sequence[str] | None) -> tuple[str, ...]:
    """A `pred` or `target` cell as class names (see `read_manifest`); an unknown spelling splits at every `+`."""
    if not cell:
        return ()
    if labels is None:
        return (cell,)
    return tuple(_split_known(cell, frozenset(labels)) or cell.split("+"))


def _split_known(text: str, known: frozenset[str]) -> list[str] | None:
    """`text` as known labels joined with `+`, or None when it is not."""
    if text in known:
        return [text]
    for at, char in enumerate(text):
        if char == "+" and text[:at] in known and (rest := _split_known(text[at + 1:], known)) is not None:
            return [text[:at], *rest]
    return None


def merge_rank_manifests(output_dir: Path, world_size: int, labels: Sequence[str] | None = None) -> list[ImageResult]:
    """Merge every rank's manifest into `manifest.csv` (sorted by index) and remove the per-rank files."""
    paths = [output_dir / manifest_name(rank, world_size) for rank in range(world_size)]
    read = [_read(path, labels) for path in paths]
    results = sorted((result for _, part in read for result in part), key=row_order)
    score_names = sorted({name for columns, part in read if part for name in columns})
    write_atomic(output_dir / MANIFEST_NAME, _to_csv(results, header=True, score_names=score_names))
    for path in paths:
        path.unlink(missing_ok=True)
    return results
