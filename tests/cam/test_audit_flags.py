"""camviz.cam.audit_flags: each cluster's statistics and flags, on synthetic maps where the answer is known: a tag
at one place among objects that move, maps on the border, maps outside the objects; and none on objects alone."""

from __future__ import annotations

import numpy as np
import pytest

from camviz.cam.audit import AuditOptions, Clustering, TooFew
from camviz.cam.audit_flags import ClassMaps, Flag, audit_class, border_mass, cluster_stats, peaks
from tests.cam.test_audit import blob


def _moving(count: int, seed: int, low: float = 0.25) -> np.ndarray:
    """Maps on objects anywhere between `low` and 0.75 of each side, away from the border."""
    rng = np.random.default_rng(seed)
    return np.stack([blob(*rng.uniform(low, 0.75, 2)) for _ in range(count)])


def _clustering(labels: list[int]) -> Clustering:
    return Clustering(labels=np.array(labels), count=max(labels), eigenvalues=np.zeros(3), chosen_by="given")


def test_peaks_and_border_mass() -> None:
    assert np.allclose(peaks(np.stack([blob(0.1, 0.9), blob(0.5, 0.5)])), [[0.1, 0.9], [0.5, 0.5]], atol=0.02)
    assert border_mass(np.ones((1, 32, 32)))[0] == pytest.approx(1 - 24**2 / 32**2)
    assert border_mass(np.zeros((1, 32, 32)))[0] == 0.0
    assert border_mass(blob(0.5, 0.5)[None])[0] < 0.01


def test_a_tag_at_one_place_is_flagged_and_objects_that_move_are_not() -> None:
    tag = np.stack([blob(0.22, 0.22)] * 6)
    maps = np.concatenate([tag, _moving(14, seed=1)])
    correct = np.array([True] * 6 + [True] * 10 + [False] * 4)
    stats = cluster_stats(ClassMaps(maps=maps, correct=correct, confidence=np.full(20, 0.9)),
                          _clustering([1] * 6 + [2] * 7 + [3] * 7))
    assert [one.number for one in stats] == [1, 2, 3] and stats[0].flags == (Flag.fixed_position,)
    assert not stats[1].flagged and not stats[2].flagged
    first = stats[0]
    assert first.size == 6 and first.share == pytest.approx(0.3) and first.peak_spread == 0.0
    assert first.peak == pytest.approx((0.22, 0.22), abs=0.02) and first.others_at_peak == 0.0
    assert first.accuracy == 1.0 and first.mean_confidence == pytest.approx(0.9) and first.energy_in_object is None
    assert set(first.typical) <= set(range(6)) and len(first.typical) == 4
    assert stats[2].accuracy == pytest.approx(3 / 7)


def test_a_place_the_whole_class_looks_at_is_no_shortcut() -> None:
    maps = np.stack([blob(0.5, 0.5)] * 16)  # centred objects: every image peaks at the same place
    stats = cluster_stats(ClassMaps(maps=maps), _clustering([1] * 8 + [2] * 8))
    assert not any(one.flagged for one in stats) and stats[0].others_at_peak == 1.0


def test_border_and_outside_the_objects() -> None:
    rng = np.random.default_rng(2)
    edge = np.stack([blob(*(rng.choice([0.02, 0.98]), rng.uniform(0, 1)), width=3) for _ in range(8)])
    maps = np.concatenate([edge, _moving(10, seed=3)])
    energy = np.array([0.05] * 8 + [0.6] * 10)
    stats = cluster_stats(ClassMaps(maps=maps, energy_in_object=energy), _clustering([2] * 8 + [1] * 10))
    assert stats[0].number == 2 and set(stats[0].flags) == {Flag.border, Flag.outside_objects}
    assert stats[0].border_mass > 0.7 and stats[0].energy_in_object == pytest.approx(0.05)
    assert not stats[1].flagged


def test_clusters_too_small_are_never_flagged() -> None:
    maps = np.concatenate([np.stack([blob(0.1, 0.1)] * 2), _moving(10, seed=4)])
    stats = cluster_stats(ClassMaps(maps=maps), _clustering([2, 2] + [1] * 10))
    assert not any(one.flagged for one in stats)


def test_a_class_is_clustered_and_described_or_reported_too_small() -> None:
    maps = np.concatenate([np.stack([blob(0.22, 0.22)] * 6), _moving(14, seed=5, low=0.4)])
    audit = audit_class("dog", tuple(range(100, 120)), ClassMaps(maps=maps), AuditOptions())
    assert isinstance(audit.clustering, Clustering) and audit.flagged
    tagged = audit.flagged[0]
    assert sorted(tagged.members) == list(range(6))
    assert {audit.cluster_of()[100 + i] for i in range(6)} == {audit.cluster_name(tagged.number)}
    small = audit_class("cat", (1, 2), ClassMaps(maps=maps[:2]), AuditOptions())
    assert isinstance(small.clustering, TooFew) and small.clusters == () and small.cluster_of() == {}
