"""Spectral Relevance Analysis (SpRAy): cluster one class's attribution maps so that the model's strategies fall apart.

Lapuschkin, Wäldchen, Binder, Montavon, Samek, Müller, "Unmasking Clever Hans predictors and assessing what machines
really learn", Nature Communications 10, 1096 (2019), as its reference implementation CoRelAy
(`corelay.pipeline.spectral.SpectralClustering`) runs it:

1. each map is downsampled to `AUDIT_GRID` x `AUDIT_GRID` cells (area average) and normalised to unit mass (its
   cells sum to 1: where the map puts its relevance, not how strong it is);
2. a k-nearest-neighbour graph of the flattened maps (k = `NEIGHBOURS`, Euclidean), binary edges made symmetric as
   (A + Aᵀ) / 2 (CoRelAy's `SparseKNN`; scikit-learn's `kneighbors_graph`);
3. the symmetric normalised graph Laplacian I - D^-1/2 A D^-1/2 (scipy's `csgraph.laplacian(normed=True)`) and its
   smallest eigenvalues and eigenvectors (scipy's `eigh`, or `eigsh` in shift-invert mode for large classes);
4. the number of clusters from the eigengap (von Luxburg, "A tutorial on spectral clustering", 2007, section 8.3):
   the k in 1..cap after which the sorted eigenvalues jump most; `clusters` overrides it;
5. k-means (scikit-learn, `n_init=10`, seeded) on the spectral embedding: the first k eigenvectors, each row scaled
   to unit length (Ng, Jordan and Weiss 2001).

Clusters are numbered 1, 2, ... by size (ties: the cluster holding the earlier map first). A class with fewer than
`MIN_IMAGES` maps is not clustered (`TooFew`): so few maps give a graph of noise, not strategies.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg

from camviz.errors import UsageError

AUDIT_GRID = 16  # cells a side of the maps the graph is built on
NEIGHBOURS = 10  # CoRelAy's SparseKNN default
MAX_CLUSTERS = 8  # the eigengap's cap
MIN_IMAGES = 8  # fewer maps in a class: not clustered
MIN_PER_CLUSTER = 3  # the cap is also at most a third of the class's maps
_DENSE_LIMIT = 200  # up to this many maps the Laplacian is decomposed dense; beyond, sparse (ARPACK, faster)


@dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """How the audit clusters: the count (None: the eigengap's), the k-means seed and the eigengap's cap."""

    clusters: int | None = None
    seed: int = 0
    max_clusters: int = MAX_CLUSTERS


def check_audit_options(options: AuditOptions) -> None:
    """`--clusters`, when given, is at least 1; the cap too."""
    if options.clusters is not None and options.clusters < 1:
        raise UsageError(f"--clusters must be at least 1 (got {options.clusters}); omit it to let the eigengap choose")
    if options.max_clusters < 1:
        raise UsageError(f"max_clusters must be at least 1 (got {options.max_clusters})")


@dataclass(frozen=True, kw_only=True)
class Clustering:
    """One class's clusters: each map's cluster number (1..count), how the count was chosen, the spectrum."""

    labels: np.ndarray  # int [N], 1..count
    count: int
    eigenvalues: np.ndarray  # the smallest eigenvalues of the normalised Laplacian, ascending (cap + 1 of them)
    chosen_by: str  # "eigengap" or "given"


@dataclass(frozen=True, kw_only=True)
class TooFew:
    """A class with too few maps to cluster."""

    images: int
    needed: int = MIN_IMAGES


def audit_grid(maps: np.ndarray, grid: int = AUDIT_GRID) -> np.ndarray:
    """[N, H, W] maps as [N, grid * grid] float64 rows of unit mass (area-averaged; an all-zero map stays zero)."""
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] != (grid, grid):
        maps = np.stack([cv2.resize(one, (grid, grid), interpolation=cv2.INTER_AREA) for one in maps])
    rows = np.clip(maps.reshape(len(maps), -1).astype(np.float64), 0.0, None)
    mass = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, mass, out=np.zeros_like(rows), where=mass > 0)


def affinity(rows: np.ndarray, neighbours: int = NEIGHBOURS) -> scipy.sparse.csr_matrix:
    """The symmetric k-nearest-neighbour graph of the rows: binary edges, (A + Aᵀ) / 2 (CoRelAy's `SparseKNN`)."""
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(rows, n_neighbors=min(neighbours, len(rows) - 1), mode="connectivity",
                             include_self=False)
    return scipy.sparse.csr_matrix((graph + graph.T) / 2.0)


def spectrum(graph: scipy.sparse.csr_matrix, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` smallest eigenvalues (ascending) of the graph's symmetric normalised Laplacian, and their
    eigenvectors as columns."""
    laplacian = scipy.sparse.csgraph.laplacian(graph, normed=True)
    count = min(count, graph.shape[0])
    if graph.shape[0] <= _DENSE_LIMIT:
        values, vectors = scipy.linalg.eigh(laplacian.toarray(), subset_by_index=[0, count - 1], driver="evr")
    else:  # as scikit-learn's spectral_embedding: the largest of -L near 1, by shift-invert (L's spectrum is in [0, 2])
        negative = -scipy.sparse.csr_matrix(laplacian)
        count = min(count, graph.shape[0] - 1)  # ARPACK finds fewer eigenpairs than the matrix has rows
        start = np.random.default_rng(0).uniform(-1, 1, graph.shape[0])
        values, vectors = scipy.sparse.linalg.eigsh(negative, k=count, sigma=1.0, which="LM", v0=start)
        values = -values
    order = np.argsort(values)
    return np.clip(values[order], 0.0, None), vectors[:, order]


def eigengap_count(eigenvalues: np.ndarray, cap: int) -> int:
    """The k in 1..cap with the largest gap between the k-th and (k+1)-th smallest eigenvalues (von Luxburg 2007)."""
    gaps = np.diff(eigenvalues[: cap + 1])
    return int(np.argmax(gaps)) + 1 if len(gaps) else 1


def cluster_cap(images: int, max_clusters: int = MAX_CLUSTERS) -> int:
    """The most clusters a class of `images` maps is split into: `max_clusters`, and at least `MIN_PER_CLUSTER`
    maps a cluster on average."""
    return max(1, min(max_clusters, images // MIN_PER_CLUSTER))


def spray(maps: np.ndarray, options: AuditOptions = AuditOptions()) -> Clustering | TooFew:
    """SpRAy on one class's [N, H, W] maps (see the module's docstring); `options.clusters`: the count, instead of
    the eigengap's (at most N). Runs on one thread: a class's problem is small, and OpenMP's waiting threads cost
    far more than they give on a busy machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _spray(maps, options)


def _spray(maps: np.ndarray, options: AuditOptions) -> Clustering | TooFew:
    from sklearn.cluster import KMeans

    clusters, seed, max_clusters = options.clusters, options.seed, options.max_clusters
    count_maps = len(maps)
    if count_maps < MIN_IMAGES:
        return TooFew(images=count_maps)
    rows = audit_grid(maps)
    cap = cluster_cap(count_maps, max_clusters)
    values, vectors = spectrum(affinity(rows), max(cap, min(clusters or 1, count_maps)) + 1)
    count = min(clusters, count_maps) if clusters is not None else eigengap_count(values, cap)
    if count == 1:
        labels = np.zeros(count_maps, np.int64)
    else:
        embedding = vectors[:, :count]
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        embedding = np.divide(embedding, norms, out=np.zeros_like(embedding), where=norms > 0)
        labels = KMeans(n_clusters=count, n_init=10, random_state=seed).fit_predict(embedding)
    numbered = _numbered(labels)
    return Clustering(labels=numbered, count=int(numbered.max()), eigenvalues=values,
                      chosen_by="given" if clusters is not None else "eigengap")


def _numbered(labels: np.ndarray) -> np.ndarray:
    """Cluster labels renumbered 1, 2, ... by size, largest first (ties: the one holding the earlier map first)."""
    found = np.unique(labels)
    order = sorted(found, key=lambda label: (-int(np.sum(labels == label)), int(np.argmax(labels == label))))
    number = {int(label): position + 1 for position, label in enumerate(order)}
    return np.array([number[int(label)] for label in labels], np.int64)
