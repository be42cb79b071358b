"""camviz.data.sampling: the class filter, the seeded subset that covers every class, the torchrun shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.data.listing import list_image_folder
from camviz.data.sampling import filter_classes, sample_subset, shard
from camviz.errors import UsageError
from tests.support.images import write_png


def test_subset_is_seeded_covers_all_classes_and_keeps_index_order(tmp_path: Path) -> None:
    for cls in ("a", "b", "c"):
        for i in range(10):
            write_png(tmp_path / cls / f"{i}.png")
    samples = list_image_folder(tmp_path).samples
    chosen = sample_subset(samples, 6, seed=3)
    assert len(chosen) == 6
    assert {s.true_class for s in chosen} == {"a", "b", "c"}
    assert [s.index for s in chosen] == sorted(s.index for s in chosen)
    assert chosen == sample_subset(samples, 6, seed=3)
    assert chosen != sample_subset(samples, 6, seed=4)
    assert sample_subset(samples, None, 0) == samples


def test_class_filter_and_unknown_class(folder: Path) -> None:
    listing = list_image_folder(folder)
    kept = filter_classes(listing.samples, ["b_cls"], listing.classes)
    assert [s.relative_path for s in kept] == ["b_cls/1.JPG", "b_cls/2.png"]
    with pytest.raises(UsageError, match="nope"):
        filter_classes(listing.samples, ["nope"], listing.classes)


def test_shards_are_disjoint_and_cover_everything(folder: Path) -> None:
    samples = list_image_folder(folder).samples
    shards = [shard(samples, rank, 3) for rank in range(3)]
    assert sorted(s.index for part in shards for s in part) == [s.index for s in samples]
