"""Which samples a run explains: the class filter, the seeded subset that covers every class, the torchrun shard."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from camviz.data.listing import Sample, display_name, list_image_folder, list_images
from camviz.data.options import InputOptions
from camviz.errors import UsageError


def filter_classes(samples: Sequence[Sample], classes: Sequence[str], known: Sequence[str]) -> list[Sample]:
    """Keep only samples whose true class is in `classes`; unknown class names are a usage error."""
    unknown = sorted(set(classes) - set(known))
    if unknown:
        raise UsageError(f"--classes: no such class folder {', '.join(unknown)}; classes are {', '.join(known)}")
    wanted = set(classes)
    return [s for s in samples if s.true_class in wanted]


def sample_subset(samples: Sequence[Sample], num_samples: int | None, seed: int) -> list[Sample]:
    """A seeded random subset that covers the classes round-robin, returned in index order."""
    if num_samples is None or num_samples >= len(samples):
        return list(samples)
    rng = random.Random(seed)
    by_class: dict[str | None, list[Sample]] = {}
    for sample in samples:
        by_class.setdefault(sample.true_class, []).append(sample)
    pools = [rng.sample(group, len(group)) for group in by_class.values()]
    chosen: list[Sample] = []
    while len(chosen) < num_samples:
        for pool in pools:
            if pool and len(chosen) < num_samples:
                chosen.append(pool.pop())
    return sorted(chosen, key=lambda s: s.index)


def select_samples(
    data_dir: Path, classes: Sequence[str], num_samples: int | None, seed: int
) -> tuple[list[Sample], list[str]]:
    """Batch mode's samples after the class filter and the seeded subset, and the class folders holding images."""
    listing = list_image_folder(data_dir)
    samples = listing.samples
    if classes:
        samples = filter_classes(samples, classes, listing.classes)
    with_images = {s.true_class for s in listing.samples}  # empty folders are no classes (as in torchvision)
    return sample_subset(samples, num_samples, seed), [c for c in listing.classes if c in with_images]


def input_samples(inputs: InputOptions) -> tuple[list[Sample], list[str]]:
    """The given images (indexed in the order given; no class folders), or the data dir's selected samples and
    its class folders."""
    if inputs.data_dir is None:
        return [Sample(index, Path(path), display_name(Path(path).name)) for index, path in enumerate(inputs.images)], []
    return select_samples(inputs.data_dir, inputs.classes, inputs.num_samples, inputs.seed)


def input_images(inputs: InputOptions) -> list[Sample]:
    """A segmentation model's samples: the given images, or every image of the data dir (class folders are not
    read) in the seeded subset of `--num-samples`."""
    if inputs.data_dir is None:
        return input_samples(inputs)[0]
    if inputs.classes:
        raise UsageError("--classes picks class folders of a classifier's data dir; a segmentation model's images "
                         "have no class")
    return sample_subset(list_images(inputs.data_dir), inputs.num_samples, inputs.seed)


def shard(samples: Sequence[Sample], rank: int, world_size: int) -> list[Sample]:
    """Rank `rank`'s disjoint, deterministic share of `samples` (round-robin by position)."""
    return list(samples[rank::world_size])
