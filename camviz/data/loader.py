"""The collating loader: DataLoader workers decode and stack each batch into one uint8 tensor.

For the CPU device the workers also normalise it into the model's float input (`normalize=True`), so the main
thread only runs the model; for a GPU the uint8 batch is uploaded (a quarter of the bytes) and normalised there.

A sample whose file cannot be decoded is not fatal: the batch carries it with its reason, so the run
records it and goes on. Workers ignore Ctrl-C (the main process stops them) and die with their parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from camviz.data.decode import decode_image
from camviz.data.ground_truth import GroundTruth, ObjectTruth
from camviz.data.listing import Sample
from camviz.data.preprocessing import Preprocessing
from camviz.errors import ImageDecodeError


@dataclass(kw_only=True)
class DecodedBatch:
    """One batch as the loader workers collate it: one uint8 tensor for the decoded samples, and the failures.

    Tensors cross from the workers in shared memory: nothing is copied on the way to the main process.
    """

    samples: list[Sample]  # decoded, in the order of `pixels`
    pixels: torch.Tensor  # uint8 [B, H, W, C]
    failures: list[tuple[Sample, str]]  # samples that could not be decoded, with the reason
    truths: list[ObjectTruth | None] = field(default_factory=list)  # with ground truth: one per sample
    inputs: torch.Tensor | None = None  # the model's float32 [B, C, H, W] input, when the workers normalised

    def pin_memory(self) -> DecodedBatch:
        """Page-locked tensors, for a non-blocking upload to the GPU (DataLoader's pin_memory thread calls this)."""
        inputs = None if self.inputs is None else self.inputs.pin_memory()
        return DecodedBatch(samples=self.samples, pixels=self.pixels.pin_memory(), failures=self.failures,
                            truths=self.truths, inputs=inputs)


class SampleDataset(Dataset):
    """Decodes and preprocesses samples to uint8 pixels; a broken file yields its reason instead. With
    `ground_truth`, each item also carries its object mask at the decoded image's size."""

    def __init__(self, samples: Sequence[Sample], preprocessing: Preprocessing,
                 ground_truth: GroundTruth | None = None) -> None:
        self.samples = list(samples)
        self.preprocessing = preprocessing
        self.ground_truth = ground_truth

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> tuple[Sample, np.ndarray | None, str | None, ObjectTruth | None]:
        sample = self.samples[position]
        try:
            image = decode_image(sample.path)
        except ImageDecodeError as error:
            return sample, None, str(error), None
        truth = None
        if self.ground_truth is not None:
            truth = self.ground_truth.object_mask(sample, image.height, image.width)
        return sample, self.preprocessing.pixels(image), None, truth


def collate_decoded(items: list[tuple[Sample, np.ndarray | None, str | None, ObjectTruth | None]]) -> DecodedBatch:
    """DataLoader collate function (runs in the workers): stack the decoded pixels into one tensor."""
    good = [(sample, pixels, truth) for sample, pixels, _, truth in items if pixels is not None]
    failures = [(sample, error or "unknown error") for sample, pixels, error, _ in items if pixels is None]
    stacked = torch.from_numpy(np.stack([pixels for _, pixels, _ in good])) if good else torch.empty(0, dtype=torch.uint8)
    return DecodedBatch(samples=[sample for sample, _, _ in good], pixels=stacked, failures=failures,
                        truths=[truth for _, _, truth in good])


@dataclass(frozen=True)
class NormalizingCollate:
    """DataLoader collate function that also normalises the stacked pixels into the model's input (CPU device)."""

    preprocessing: Preprocessing

    def __call__(self, items: list[tuple[Sample, np.ndarray | None, str | None, ObjectTruth | None]]) -> DecodedBatch:
        batch = collate_decoded(items)
        if batch.samples:
            batch.inputs = self.preprocessing.normalize(batch.pixels)
        return batch


@dataclass(frozen=True, kw_only=True)
class Loading:
    """How the loader makes batches: their size, the decoding processes, and what the workers prepare."""

    batch_size: int
    num_workers: int = 0  # 0: decode in this process
    pin_memory: bool = False  # page-locked batches, for a non-blocking GPU upload
    normalize: bool = False  # the workers also compute the model's input (the CPU device, where it would cost
    # the main thread)


def batch_loader(samples: Sequence[Sample], preprocessing: Preprocessing, loading: Loading,
                 ground_truth: GroundTruth | None = None) -> DataLoader:
    """A DataLoader that decodes and collates in `loading.num_workers` processes and yields `DecodedBatch`es;
    with `ground_truth`, each sample's object mask rides along."""
    batch_size, num_workers = loading.batch_size, loading.num_workers
    return DataLoader(
        SampleDataset(samples, preprocessing, ground_truth),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=NormalizingCollate(preprocessing) if loading.normalize else collate_decoded,
        pin_memory=loading.pin_memory,
        persistent_workers=False,
        prefetch_factor=(4 if batch_size <= 16 else 2) if num_workers > 0 else None,  # bounded images in flight
        worker_init_fn=quiet_worker,  # workers ignore Ctrl-C and die with this process (`quiet_worker`)
    )


def stop_workers(iterator: object) -> None:
    """Join a DataLoader iterator's worker processes now (not when it is garbage-collected)."""
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


_PR_SET_PDEATHSIG = 1


def quiet_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: ignore Ctrl-C (the main process stops the workers), die with the parent, and
    print no traceback when the main process hangs up in the middle of receiving a batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.excepthook = _silent_hang_up
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the DataLoader's watchdog still ends orphans
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _silent_hang_up(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    """A worker's excepthook: a connection the stopping main process dropped (multiprocessing's resource-sharer
    thread passing a batch's file descriptor) is expected there; anything else is printed as usual."""
    if issubclass(kind, (ConnectionError, EOFError)):
        return
    sys.__excepthook__(kind, error, traceback)
