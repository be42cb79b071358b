"""What each SpRAy cluster says about itself (`camviz.cam.audit`): where its maps put their mass, how the model does
on its images, and the flags, as values (the words are `camviz.output.audit`'s).

Positions are fractions of the image's height and width (0 = top / left, 1 = bottom / right), so they mean the same
at any input size. A map's peak is its largest cell on the small grid it was kept at (first in row order on ties);
a cluster's peak is the median of its maps' peaks, its spread the median distance of its maps' peaks from there.

Flags (each a reason to look, not a verdict):
- `fixed_position`: the cluster's maps peak at one small place (spread at most `FIXED_SPREAD`) while at most
  `OTHERS_AT_PEAK` of the class's other images peak near it (within `NEAR`): a cue at a fixed place (a tag, a ruler,
  a text overlay) rather than an object that moves;
- `border`: on average at least `BORDER_MASS` of the maps' mass lies in the band of `BORDER_BAND` of each side along
  the image's edges (a uniform map has 0.44 there), more than the class's other images by at least `BORDER_MARGIN`;
- `outside_objects` (with ground truth): the cluster's mean energy inside the objects is at most `OUTSIDE_RATIO` of
  the class's other images' mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from camviz.cam.audit import AuditOptions, Clustering, TooFew, spray

FIXED_SPREAD = 0.04  # a little over one cell of the 32-cell grid the maps are kept at
NEAR = 0.12
OTHERS_AT_PEAK = 0.25
BORDER_BAND = 0.125
BORDER_MASS = 0.7
BORDER_MARGIN = 0.2
OUTSIDE_RATIO = 0.5
MIN_FLAGGED = 3  # a cluster of fewer images is never flagged


class Flag(StrEnum):
    """Why a cluster deserves a look."""

    fixed_position = "fixed_position"
    border = "border"
    outside_objects = "outside_objects"


@dataclass(frozen=True, kw_only=True)
class ClassMaps:
    """One explained class's maps and what is known of their images (None: not known for any)."""

    maps: np.ndarray  # float [N, H, W], each in [0, 1]
    correct: np.ndarray | None = None  # bool [N]: the image's true class is predicted
    confidence: np.ndarray | None = None  # float [N]: the prediction's probability
    energy_in_object: np.ndarray | None = None  # float [N]: the map's mass inside the objects; nan without truth


@dataclass(frozen=True, kw_only=True)
class ClusterStats:
    """One cluster of one class: its members and where their maps put their mass, and its flags."""

    number: int  # 1.. (largest first)
    members: np.ndarray  # int: positions in the class's maps
    share: float  # of the class's maps
    accuracy: float | None
    mean_confidence: float | None
    peak: tuple[float, float]  # (row, column), fractions of the height and width
    peak_spread: float  # median distance of the members' peaks from `peak`
    others_at_peak: float | None  # share of the class's other images peaking within NEAR of `peak`; None: no others
    border_mass: float  # mean share of mass in the border band
    energy_in_object: float | None  # mean over members with ground truth; None: none has
    flags: tuple[Flag, ...] = ()
    typical: tuple[int, ...] = ()  # members nearest the cluster's mean map first (positions in the class's maps)

    @property
    def size(self) -> int:
        """How many images the cluster holds."""
        return len(self.members)

    @property
    def flagged(self) -> bool:
        """Whether any flag is raised."""
        return bool(self.flags)


@dataclass(frozen=True, kw_only=True)
class ClassAudit:
    """One explained class's audit: its images (the caller's keys, in the order of its maps) and either its clusters
    (flagged first) or why it was not clustered."""

    name: str
    keys: tuple[int, ...]  # e.g. the manifest's indices
    clustering: Clustering | TooFew
    clusters: tuple[ClusterStats, ...] = ()

    def cluster_name(self, number: int) -> str:
        """`<class>/<n>`, as audit.csv and the manifest's `cluster` column name a cluster."""
        return f"{self.name}/{number}"

    @property
    def flagged(self) -> tuple[ClusterStats, ...]:
        """The flagged clusters."""
        return tuple(one for one in self.clusters if one.flagged)

    def cluster_of(self) -> dict[int, str]:
        """Each key's cluster name."""
        if not isinstance(self.clustering, Clustering):
            return {}
        return {key: self.cluster_name(int(number)) for key, number in zip(self.keys, self.clustering.labels,
                                                                              strict=True)}


def audit_class(name: str, keys: tuple[int, ...], found: ClassMaps, options: AuditOptions) -> ClassAudit:
    """SpRAy on one class's maps, then each cluster's statistics and flags."""
    clustering = spray(found.maps, options)
    if isinstance(clustering, TooFew):
        return ClassAudit(name=name, keys=keys, clustering=clustering)
    return ClassAudit(name=name, keys=keys, clustering=clustering, clusters=tuple(cluster_stats(found, clustering)))


def peaks(maps: np.ndarray) -> np.ndarray:
    """Each [H, W] map's largest cell as (row, column) cell centres in fractions of the height and width: [N, 2]."""
    maps = np.asarray(maps)
    height, width = maps.shape[1:]
    flat = np.argmax(maps.reshape(len(maps), -1), axis=1)
    rows, cols = np.divmod(flat, width)
    return np.stack([(rows + 0.5) / height, (cols + 0.5) / width], axis=1)


def border_mass(maps: np.ndarray, band: float = BORDER_BAND) -> np.ndarray:
    """Each map's share of its mass within `band` of any edge (0 for an all-zero map): [N]."""
    maps = np.clip(np.asarray(maps, np.float64), 0.0, None)
    height, width = maps.shape[1:]
    rows, cols = max(1, round(band * height)), max(1, round(band * width))
    inner = maps[:, rows:height - rows, cols:width - cols].sum(axis=(1, 2))
    total = maps.sum(axis=(1, 2))
    return np.divide(total - inner, total, out=np.zeros_like(total), where=total > 0)


def cluster_stats(found: ClassMaps, clustering: Clustering) -> list[ClusterStats]:
    """Statistics and flags of every cluster of one class, flagged clusters first (then by number)."""
    where = peaks(found.maps)
    border = border_mass(found.maps)
    stats = [_one(found, clustering.labels == number, number, where, border)
             for number in range(1, clustering.count + 1)]
    return sorted(stats, key=lambda one: (not one.flagged, one.number))


def _one(found: ClassMaps, inside: np.ndarray, number: int, where: np.ndarray, border: np.ndarray) -> ClusterStats:
    members = np.flatnonzero(inside)
    peak = np.median(where[inside], axis=0)
    spread = float(np.median(np.linalg.norm(where[inside] - peak, axis=1)))
    others = ~inside
    at_peak = float(np.mean(np.linalg.norm(where[others] - peak, axis=1) <= NEAR)) if others.any() else None
    energy = _mean(found.energy_in_object, inside)
    stats = ClusterStats(
        number=number, members=members, share=len(members) / len(inside), accuracy=_mean(found.correct, inside),
        mean_confidence=_mean(found.confidence, inside), peak=(float(peak[0]), float(peak[1])), peak_spread=spread,
        others_at_peak=at_peak, border_mass=float(border[inside].mean()), energy_in_object=energy,
        typical=_typical(found.maps, members))
    flags = _flags(stats, other_border=float(border[others].mean()) if others.any() else None,
                   other_energy=_mean(found.energy_in_object, others))
    return replace(stats, flags=flags)


def _flags(stats: ClusterStats, *, other_border: float | None, other_energy: float | None) -> tuple[Flag, ...]:
    if stats.size < MIN_FLAGGED:
        return ()
    flags = []
    if stats.peak_spread <= FIXED_SPREAD and stats.others_at_peak is not None and stats.others_at_peak <= OTHERS_AT_PEAK:
        flags.append(Flag.fixed_position)
    if stats.border_mass >= BORDER_MASS and (other_border is None or stats.border_mass - other_border >= BORDER_MARGIN):
        flags.append(Flag.border)
    if stats.energy_in_object is not None and other_energy is not None \
            and stats.energy_in_object <= OUTSIDE_RATIO * other_energy:
        flags.append(Flag.outside_objects)
    return tuple(flags)


def _mean(values: np.ndarray | None, inside: np.ndarray) -> float | None:
    """The mean of `values` over `inside`, leaving out nan; None when there is nothing to average."""
    if values is None:
        return None
    chosen = np.asarray(values, np.float64)[inside]
    chosen = chosen[np.isfinite(chosen)]
    return float(chosen.mean()) if len(chosen) else None


def _typical(maps: np.ndarray, members: np.ndarray, count: int = 4) -> tuple[int, ...]:
    """The `count` members whose maps are nearest (Euclidean) the cluster's mean map, nearest first."""
    chosen = np.asarray(maps, np.float64)[members]
    distance = np.linalg.norm((chosen - chosen.mean(axis=0)).reshape(len(members), -1), axis=1)
    return tuple(int(members[i]) for i in np.argsort(distance, kind="stable")[:count])
