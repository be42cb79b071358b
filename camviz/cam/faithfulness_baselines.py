"""What trivial maps score under deletion and insertion on the same images and model: the numbers a CAM's own
faithfulness means must beat before they say anything (Gomez et al. 2022: deletion and insertion rank maps, they do
not grade them; torchcam's docs on the baseline's weight).

- `centre`: the localization baselines' Gaussian at the image centre (`camviz.cam.baselines.center_map`), the map
  TorchRay's "center" baseline stands for; deletion and insertion use only a map's pixel order, so any map falling off from the centre scores
  the same.
- `random`: the localization baselines' seeded uniform noise, a map per image index.

A run scores them on a seeded subset of its images (`baseline_subset`), beside the CAM's own scores on the same
images; `FaithfulnessTally` adds the run's numbers up, together with each metric's time per image. ROAD is left out:
it imputes 8 images per map with a sparse solve each, which would double a run's cost for a baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from camviz.cam.baselines import center_map, random_map

BASELINES: tuple[str, ...] = ("centre", "random")
BASELINE_METRICS: tuple[str, ...] = ("deletion_auc", "insertion_auc")
LOWER_IS_BETTER: frozenset[str] = frozenset({"deletion_auc"})
BASELINE_IMAGES = 32  # the most images of a run whose baselines are scored


def centre_maps(count: int, height: int, width: int) -> np.ndarray:
    """`count` copies of the localization baselines' centre map (`camviz.cam.baselines.center_map`): float32
    [count, H, W]."""
    return np.repeat(center_map(height, width)[None], count, axis=0)


def random_maps(indices: Iterable[int], height: int, width: int) -> np.ndarray:
    """The localization baselines' random map of each image (`camviz.cam.baselines.random_map`, seeded by the
    image's index: the same map however the run is batched): float32 [len(indices), H, W]."""
    return np.stack([random_map(height, width, index) for index in indices])


def baseline_maps(name: str, indices: list[int], height: int, width: int) -> np.ndarray:
    """The baseline `name`'s maps for the images `indices`."""
    return centre_maps(len(indices), height, width) if name == "centre" else random_maps(indices, height, width)


def baseline_subset(indices: Iterable[int], seed: int, count: int = BASELINE_IMAGES) -> frozenset[int]:
    """A seeded choice of at most `count` of the image indices, whose baselines are scored."""
    ordered = sorted(set(indices))
    chosen = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return frozenset(ordered[position] for position in chosen)


@dataclass(frozen=True, kw_only=True)
class FaithfulnessReport:
    """A run's faithfulness bookkeeping: each metric's seconds per image, and on the baseline subset the CAM's
    mean and each baseline's mean per metric."""

    seconds_per_image: Mapping[str, float] = field(default_factory=dict)
    baseline_images: int = 0  # how many images the baselines (and the CAM's `cam_means`) were scored on
    cam_means: Mapping[str, float] = field(default_factory=dict)
    baseline_means: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # baseline -> metric -> mean

    def beats(self, metric: str, baseline: str) -> bool:
        """Whether the CAM's mean is better than the baseline's (lower for deletion, higher otherwise)."""
        own, theirs = self.cam_means[metric], self.baseline_means[baseline][metric]
        return own < theirs if metric in LOWER_IS_BETTER else own > theirs


@dataclass(kw_only=True)
class FaithfulnessTally:
    """A run's faithfulness numbers as batches finish: seconds and images per metric, and the baseline subset's
    scores (the CAM's and each baseline's)."""

    seconds: dict[str, float] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    cam: dict[str, list[float]] = field(default_factory=dict)
    baselines: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def timed(self, seconds: Mapping[str, float], images: int) -> None:
        """Add one batch's seconds per metric, for `images` images."""
        for name, value in seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value
            self.images[name] = self.images.get(name, 0) + images

    def scored(self, baseline: str | None, scores: Mapping[str, Iterable[float]]) -> None:
        """Add scores of the baseline subset: the CAM's (`baseline` None) or a baseline's."""
        table = self.cam if baseline is None else self.baselines.setdefault(baseline, {})
        for name, values in scores.items():
            table.setdefault(name, []).extend(float(value) for value in values)

    def report(self) -> FaithfulnessReport:
        """The run's numbers: means per image and per metric."""
        counts = [len(values) for values in self.cam.values()]
        return FaithfulnessReport(
            seconds_per_image={name: self.seconds[name] / self.images[name] for name in self.seconds
                               if self.images[name]},
            baseline_images=max(counts, default=0), cam_means=_means(self.cam),
            baseline_means={name: _means(table) for name, table in self.baselines.items()})


def _means(table: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: float(np.mean(values)) for name, values in table.items() if values}
