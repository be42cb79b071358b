"""What one image gave: its classes, probabilities, scores, status and notes, and the figure made of it.

The summary, the gallery, the class means and `--resume` read these values; `camviz.output.manifest` writes them as
`manifest.csv` rows and reads them back. Floats are kept as the manifest records them (`PRECISION` decimals), so a
result read back equals the one written, and a resumed row counts exactly as a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

RowKey = tuple[int, tuple[str, ...]]  # a manifest row's image index and explained classes (`ImageResult.row_key`)

PRECISION = 6  # decimals of the probabilities and scores a result keeps (what manifest.csv records)


class Status(StrEnum):
    """Whether the image was explained (`ok`, maybe with a warning) or skipped (`error`)."""

    ok = "ok"
    error = "error"


@dataclass(frozen=True)
class Source:
    """What made a result (`--resume` checks it): the run's settings key, the image file's stamp as read, and the
    stamp of the image's own ground truth (`--masks` file and `--boxes` rows)."""

    key: str  # `camviz.run.resume.settings_key`
    image: str  # the image file's `{size}:{mtime in ns}` (`camviz.run.resume.file_stamp`)
    truth: str = ""  # `camviz.run.resume.truth_stamp`; empty: the image had no ground truth (or none was given)


@dataclass(frozen=True, kw_only=True)
class ImageResult:
    """One image's outcome: classes by name, probabilities and scores as floats, the figure's file name."""

    index: int  # the image's place in the sorted listing of the data dir
    path: str  # relative to the data dir, as text
    true: str = ""  # the true class; empty when unknown
    predicted: tuple[str, ...] = ()  # one class; multilabel: every label at or above the threshold (maybe none)
    confidence: tuple[float, ...] = ()  # each predicted class's probability; no label: the most probable label's
    explained: tuple[str, ...] = ()  # the class of each CAM
    status: Status = Status.ok
    note: str = ""  # why it was skipped, or a warning about its CAM (`warning: ...`)
    scores: Mapping[str, float] = field(default_factory=dict)  # --metrics and localization scores by name
    output: str = ""  # the figure's file name in the output dir; empty: none was made (--only-misclassified)
    source: Source | None = None  # None: a manifest from before camviz recorded one
    cluster: str = ""  # the audit's `<class>/<n>` for this image's (first) map; empty where no audit ran

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalised once, here
        set_field(self, "predicted", tuple(self.predicted))
        set_field(self, "explained", tuple(self.explained))
        set_field(self, "confidence", tuple(round(float(value), PRECISION) for value in self.confidence))
        set_field(self, "scores", {name: round(float(value), PRECISION) for name, value in self.scores.items()})
        set_field(self, "status", Status(self.status))

    @property
    def row_key(self) -> RowKey:
        """What tells rows apart: the image, and the explained classes (a segmentation model: a row per class); a
        detector's rows also by their number in the image (`detection`: two boxes of one class)."""
        if "detection" in self.scores:
            return self.index, (*self.explained, f"#{self.scores['detection']:.0f}")
        return self.index, self.explained

    @property
    def ok(self) -> bool:
        """Explained (warnings included), not skipped."""
        return self.status is Status.ok

    @property
    def correct(self) -> bool:
        """Whether the true class is known and predicted (multilabel: among the predicted labels)."""
        return bool(self.true) and self.true in self.predicted

    @property
    def mistake(self) -> bool:
        """Whether the true class is known and not predicted."""
        return bool(self.true) and self.true not in self.predicted
