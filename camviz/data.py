"""Images in: robust decoding, ImageFolder listing, sample selection, preprocessing, batching.

Every image camviz reads goes through `decode_image`. A sample whose file cannot be decoded is not
fatal: the dataset yields it with its error so the run records it and goes on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from camviz.errors import ImageDecodeError, UsageError, first_line
from camviz.signals import quiet_worker

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
    for folder, class_name in zip(folders, classes):
        files = sorted(p for p in (root / folder).rglob("*") if p.is_file() and is_image_file(p))
        for path in files:
            rel = display_name(path.relative_to(root).as_posix())
            samples.append(Sample(len(samples), path, rel, class_name))
    if not samples:
        raise UsageError(f"--data-dir {root} has no image files in its class sub-folders")
    return ImageFolderListing(classes, samples)


def display_name(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 (which Python keeps as
    surrogate escapes) are spelled `\\xNN`, as `bytes` shows them; valid names are unchanged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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


def shard(samples: Sequence[Sample], rank: int, world_size: int) -> list[Sample]:
    """Rank `rank`'s disjoint, deterministic share of `samples` (round-robin by position)."""
    return list(samples[rank::world_size])


def decode_image(path: Path) -> Image.Image:
    """Open any common image as 8-bit RGB: first frame, EXIF orientation, alpha on white, 16-bit scaled."""
    try:
        with Image.open(path) as image:
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except ImageDecodeError:
        raise
    except Exception as error:  # PIL raises many types for broken files; all mean "cannot decode"
        reason = first_line(error).replace(str(path), path.name)
        raise ImageDecodeError(display_name(f"cannot decode {path.name}: {reason}")) from error


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded frame of any mode to RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and array.max() > 255 else max(array.max(), 1.0)
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class Preprocessing:
    """How the model sees an image: its channel count, resized to height x width (no crop), then normalised.

    Workers produce uint8 pixels (what the figure shows); `normalize` turns a batch of them into the model's
    float input on whatever device the batch is on.
    """

    size: tuple[int, int]  # (height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3

    def pixels(self, image: Image.Image) -> np.ndarray:
        """uint8 HWC pixels at the model's size and channel count (grey for a one-channel model)."""
        if self.channels == 1:
            image = image.convert("L")
        height, width = self.size
        resized = np.array(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
        return resized.reshape(height, width, self.channels)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [B, H, W, C] pixels (any device) -> the model's float32 [B, C, H, W] input."""
        mean = torch.tensor(self.mean[: self.channels], dtype=torch.float32, device=pixels.device)
        std = torch.tensor(self.std[: self.channels], dtype=torch.float32, device=pixels.device)
        scaled = pixels.permute(0, 3, 1, 2).float() / 255.0
        return (scaled - mean[:, None, None]) / std[:, None, None]


def display_image(pixels: np.ndarray) -> np.ndarray:
    """uint8 HWC pixels as the figure shows them: float32 RGB in [0, 1] (one channel repeated as grey)."""
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    return rgb.astype(np.float32) / 255.0


@dataclass
class DecodedBatch:
    """One batch as the loader workers collate it: one uint8 tensor for the decoded samples, and the failures."""

    samples: list[Sample]  # decoded, in the order of `pixels`
    pixels: torch.Tensor  # uint8 [B, H, W, C]
    failures: list[tuple[Sample, str]]  # samples that could not be decoded, with the reason

    def pin_memory(self) -> DecodedBatch:
        """Page-locked pixels, for a non-blocking upload to the GPU (DataLoader's pin_memory thread calls this)."""
        return DecodedBatch(self.samples, self.pixels.pin_memory(), self.failures)


class SampleDataset(Dataset):
    """Decodes and preprocesses samples to uint8 pixels; a broken file yields its reason instead."""

    def __init__(self, samples: Sequence[Sample], preprocessing: Preprocessing) -> None:
        self.samples = list(samples)
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> tuple[Sample, np.ndarray | None, str | None]:
        sample = self.samples[position]
        try:
            return sample, self.preprocessing.pixels(decode_image(sample.path)), None
        except ImageDecodeError as error:
            return sample, None, str(error)


def collate_decoded(items: list[tuple[Sample, np.ndarray | None, str | None]]) -> DecodedBatch:
    """DataLoader collate function (runs in the workers): stack the decoded pixels into one tensor."""
    good = [(sample, pixels) for sample, pixels, _ in items if pixels is not None]
    failures = [(sample, error or "unknown error") for sample, pixels, error in items if pixels is None]
    stacked = torch.from_numpy(np.stack([pixels for _, pixels in good])) if good else torch.empty(0, dtype=torch.uint8)
    return DecodedBatch([sample for sample, _ in good], stacked, failures)


def batch_loader(
    samples: Sequence[Sample], preprocessing: Preprocessing, batch_size: int, num_workers: int,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader that decodes and collates in `num_workers` processes and yields `DecodedBatch`es."""
    return DataLoader(
        SampleDataset(samples, preprocessing),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_decoded,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=(4 if batch_size <= 16 else 2) if num_workers > 0 else None,  # bounded images in flight
        worker_init_fn=quiet_worker,  # workers ignore Ctrl-C and die with this process (camviz.signals)
    )


def stop_workers(iterator: object) -> None:
    """Join a DataLoader iterator's worker processes now (not when it is garbage-collected)."""
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
