"""Fixtures of the data-path tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import write_png


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An ImageFolder split as real ones look: sub-folders, odd names, junk files and a hidden folder."""
    root = tmp_path / "data"
    for name in ("b_cls/2.png", "b_cls/1.JPG", "a_cls/z.png", "a_cls/sub/y.png", "c cls/Ärger 1.png"):
        write_png(root / name)
    (root / "a_cls" / ".DS_Store").write_bytes(b"\0\1")
    (root / "a_cls" / "Thumbs.db").write_bytes(b"\0\1")
    (root / "a_cls" / "notes.txt").write_text("not an image")
    (root / ".hidden_dir").mkdir()
    return root
