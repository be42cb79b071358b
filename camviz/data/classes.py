"""Class names for a run, and how the data dir's class folders map onto the model's classes.

A mismatch is warned about before the run starts: other counts, other names, names that differ only in
case (then matched ignoring case), or a data dir one level too deep. Accuracy counts only the samples whose
folder maps to one of the model's classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from camviz.data.listing import ImageFolderListing
from camviz.discovery.models import LoadedModel
from camviz.errors import Say


def class_names_for(loaded: LoadedModel, folder_classes: Sequence[str]) -> list[str]:
    """The checkpoint's class names, else the data dir's sub-folders, else the indices (when counts match)."""
    for names in (loaded.class_names, folder_classes):
        if names and len(names) == loaded.num_classes:
            return list(names)
    return [str(i) for i in range(loaded.num_classes)]


def match_class_folders(
    listing: ImageFolderListing, class_names: list[str], data_dir: Path, *, recorded: bool,
    say: Say,
) -> ImageFolderListing:
    """The listing (its selected samples and class folders) with folders that differ from a model class only in case
    renamed to it; `say` names every other mismatch. `recorded`: the class names come from the checkpoint."""
    folders = listing.classes
    _warn_too_deep(data_dir, folders, say)
    if not recorded and list(folders) == list(class_names):
        return listing
    by_lower: dict[str, list[str]] = {}
    for name in class_names:
        by_lower.setdefault(name.lower(), []).append(name)
    renamed = {f: by_lower[f.lower()][0] for f in folders
               if f not in class_names and len(by_lower.get(f.lower(), ())) == 1}
    unmatched = [f for f in folders if f not in class_names and f not in renamed]
    if renamed:
        pairs = ", ".join(f"{folder} -> {name}" for folder, name in renamed.items())
        say(f"class folders differ from the model's class names only in case; matched ignoring case: {pairs}")
    if unmatched:
        say(_mismatch_message(folders, unmatched, class_names, recorded))
    if not renamed:
        return listing
    samples = [dataclasses.replace(s, true_class=renamed.get(s.true_class or "", s.true_class)) for s in listing.samples]
    return ImageFolderListing(classes=[renamed.get(f, f) for f in folders], samples=samples)


def _mismatch_message(folders: Sequence[str], unmatched: Sequence[str], class_names: Sequence[str],
                      recorded: bool) -> str:
    """One line naming the folders the model does not know and what the model's classes are."""
    source = "the checkpoint's" if recorded else "the model's (by index: the checkpoint records no names)"
    count = f"{len(folders)} class folders vs {len(class_names)} model classes; " if len(folders) != len(class_names) else ""
    return (f"{count}class folders not among {source} classes ({_preview(class_names)}): {_preview(unmatched)}; "
            "their images are explained but not counted in the accuracy")


def _warn_too_deep(data_dir: Path, folders: Sequence[str], say: Say) -> None:
    """A data dir whose only class folder holds class-like sub-folders is probably one level too high."""
    if len(folders) != 1:
        return
    inner = sorted(p.name for p in (data_dir / folders[0]).iterdir() if p.is_dir() and not p.name.startswith("."))
    if inner:
        say(f"--data-dir {data_dir} has one class folder, {folders[0]!r}, holding sub-folders "
             f"({_preview(inner)}): did you mean --data-dir {data_dir / folders[0]}?")


def _preview(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
