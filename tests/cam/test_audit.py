"""camviz.cam.audit: SpRAy on synthetic maps whose strategies are known, checked against scikit-learn's own spectral
clustering on the same graph, and its eigengap against the number of groups the maps were drawn in."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.csgraph
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import kneighbors_graph

from camviz.cam.audit import (
    MIN_IMAGES,
    AuditOptions,
    Clustering,
    TooFew,
    affinity,
    audit_grid,
    check_audit_options,
    eigengap_count,
    spectrum,
    spray,
)
from camviz.errors import UsageError


def blob(row: float, column: float, size: int = 48, width: float = 4.0) -> np.ndarray:
    """A [size, size] map in [0, 1] peaking at (row, column), fractions of the side."""
    rows, columns = np.mgrid[:size, :size]
    return np.exp(-((rows - row * size) ** 2 + (columns - column * size) ** 2) / (2 * width**2)).astype(np.float32)


def grouped_maps(centres: list[tuple[float, float]], per_group: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Maps drawn around each centre (jittered by 3 % of the side, plus noise), and each map's group."""
    rng = np.random.default_rng(seed)
    maps, groups = [], []
    for group, (row, column) in enumerate(centres):
        for _ in range(per_group):
            jitter = rng.normal(0, 0.03, 2)
            maps.append(np.clip(blob(row + jitter[0], column + jitter[1]) + rng.uniform(0, 0.05, (48, 48)), 0, 1))
            groups.append(group)
    return np.stack(maps), np.array(groups)


CENTRES = [(0.2, 0.2), (0.5, 0.8), (0.8, 0.3)]


def test_the_eigengap_finds_the_groups_and_kmeans_separates_them() -> None:
    maps, groups = grouped_maps(CENTRES, per_group=15)
    found = spray(maps)
    assert isinstance(found, Clustering) and found.chosen_by == "eigengap"
    assert found.count == 3 and adjusted_rand_score(groups, found.labels) == 1.0
    assert sorted(np.unique(found.labels)) == [1, 2, 3]
    assert np.all(np.diff(found.eigenvalues) >= -1e-9) and found.eigenvalues[0] == pytest.approx(0, abs=1e-8)


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_clusters_agree_with_scikit_learns_spectral_clustering_on_the_same_graph() -> None:
    maps, _ = grouped_maps([(0.3, 0.3), (0.3, 0.7), (0.7, 0.5), (0.75, 0.15)], per_group=12, seed=3)
    ours = spray(maps, AuditOptions(clusters=4, seed=1))
    graph = affinity(audit_grid(maps))
    theirs = SpectralClustering(n_clusters=4, affinity="precomputed", random_state=1).fit_predict(graph)
    assert isinstance(ours, Clustering) and ours.chosen_by == "given"
    assert adjusted_rand_score(theirs, ours.labels) == 1.0


def test_the_graph_and_spectrum_are_corelays_knn_and_scipys_laplacian() -> None:
    rows = audit_grid(grouped_maps(CENTRES, per_group=10)[0])
    assert rows.shape == (30, 256) and np.allclose(rows.sum(axis=1), 1.0)
    graph = affinity(rows)
    knn = kneighbors_graph(rows, 10, mode="connectivity").toarray()
    assert np.array_equal(graph.toarray(), (knn + knn.T) / 2)
    values, vectors = spectrum(graph, 5)
    dense = np.linalg.eigvalsh(scipy.sparse.csgraph.laplacian(graph.toarray(), normed=True))
    assert np.allclose(values, np.clip(dense[:5], 0, None), atol=1e-8) and vectors.shape == (30, 5)


def test_the_sparse_eigensolver_of_large_classes_gives_the_dense_spectrum(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = affinity(audit_grid(grouped_maps(CENTRES, per_group=20)[0]))
    dense, _ = spectrum(graph, 6)
    monkeypatch.setattr("camviz.cam.audit._DENSE_LIMIT", 10)
    sparse, _ = spectrum(graph, 6)
    assert np.allclose(dense, sparse, atol=1e-6)
    maps = grouped_maps(CENTRES, per_group=5)[0]
    every = spray(maps, AuditOptions(clusters=15))  # as many clusters as maps: ARPACK gives one eigenpair fewer
    assert isinstance(every, Clustering) and every.count == 15


def test_eigengap_and_small_classes() -> None:
    assert eigengap_count(np.array([0.0, 0.0, 0.01, 0.6, 0.7]), cap=4) == 3
    assert eigengap_count(np.array([0.0, 0.9, 0.95]), cap=2) == 1
    maps, _ = grouped_maps(CENTRES, per_group=3)
    few = spray(maps[: MIN_IMAGES - 1])
    assert isinstance(few, TooFew) and few.images == MIN_IMAGES - 1
    assert isinstance(spray(maps[:MIN_IMAGES]), Clustering)
    same = spray(maps, AuditOptions(seed=5))
    assert isinstance(same, Clustering) and np.array_equal(same.labels, spray(maps, AuditOptions(seed=5)).labels)


def test_clusters_below_one_are_refused() -> None:
    with pytest.raises(UsageError, match="--clusters must be at least 1"):
        check_audit_options(AuditOptions(clusters=0))
