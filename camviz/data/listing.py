"""Listing an ImageFolder split: class folders and image files in sorted order, so indices are stable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from camviz.errors import UsageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


@dataclass(frozen=True)
class Sample:
    """One image to explain: its stable index in the sorted listing, path, and true class (if known)."""

    index: int
    path: Path
    relative_path: str
    true_class: str | None = None


@dataclass(frozen=True)
class ImageFolderListing:
    """A data dir read as an ImageFolder: sorted class names and every image, in sorted order."""

    classes: list[str]
    samples: list[Sample]


def is_image_file(path: Path) -> bool:
    """Whether `path` looks like an image by its extension (any case); hidden files never are."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_image_folder(root: Path) -> ImageFolderListing:
    """List `root/<class>/**/<image>` with classes and files sorted, so indices are stable."""
    if not root.is_dir():
        raise UsageError(f"--data-dir {root} is not a directory")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UsageError(f"--data-dir {root} has no class sub-folders (expected {root}/<class>/<image>)")
    classes = [display_name(folder) for folder in folders]
    samples: list[Sample] = []
    for folder, class_name in zip(folders, classes, strict=True):
        files = sorted(p for p in (root / folder).rglob("*") if p.is_file() and is_image_file(p))
        for path in files:
            rel = display_name(path.relative_to(root).as_posix())
            samples.append(Sample(index=len(samples), path=path, relative_path=rel, true_class=class_name))
    if not samples:
        raise UsageError(f"--data-dir {root} has no image files in its class sub-folders")
    return ImageFolderListing(classes=classes, samples=samples)


def list_images(root: Path) -> list[Sample]:
    """Every image under `root` (sub-folders included, none read as a class), sorted by path: a segmentation
    model's data dir."""
    if not root.is_dir():
        raise UsageError(f"--data-dir {root} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise UsageError(f"--data-dir {root} has no image files")
    return [Sample(index=index, path=path, relative_path=display_name(path.relative_to(root).as_posix()))
            for index, path in enumerate(files)]


def display_name(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 (which Python keeps as
    surrogate escapes) are spelled `\\xNN`, as `bytes` shows them; valid names are unchanged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
