"""camviz.data.listing: an ImageFolder split in sorted order (stable indices), junk files skipped, and one line for
a data dir that is missing, flat or empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.data.listing import list_image_folder
from camviz.errors import UsageError
from tests.support.images import write_png


def test_listing_is_sorted_stable_and_skips_non_images(folder: Path) -> None:
    listing = list_image_folder(folder)
    assert listing.classes == ["a_cls", "b_cls", "c cls"]
    assert [s.relative_path for s in listing.samples] == [
        "a_cls/sub/y.png", "a_cls/z.png", "b_cls/1.JPG", "b_cls/2.png", "c cls/Ärger 1.png",
    ]
    assert [s.index for s in listing.samples] == [0, 1, 2, 3, 4]
    assert [s.true_class for s in listing.samples] == ["a_cls", "a_cls", "b_cls", "b_cls", "c cls"]


def test_listing_rejects_missing_dir_no_classes_and_no_images(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        list_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_png(tmp_path / "flat" / "loose.png")
    with pytest.raises(UsageError, match="no class sub-folders"):
        list_image_folder(tmp_path / "flat")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="no image files"):
        list_image_folder(tmp_path / "empty")
