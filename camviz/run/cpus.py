"""How one run shares the CPUs it may use: decoding workers, figure-writing threads, and the ranks on the node.

The main thread drives the model; DataLoader workers decode; a thread pool composes and encodes figures
(OpenCV and zlib release the GIL, so threads scale). Each gets a fair share of what this process may run on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_DEFAULT_WORKERS = 8  # decoding outpaces one GPU long before this many processes
GPU_BATCH_SIZE = 64
CPU_BATCH_SIZE = 8

MIN_WRITER_THREADS = 2  # one thread waiting on the GIL or the disk leaves its core idle


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cgroups, SLURM), else all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def ranks_on_node() -> int:
    """Processes of this job sharing the node (torchrun's `LOCAL_WORLD_SIZE`), 1 outside torchrun."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


@dataclass(frozen=True)
class CpuShare:
    """This rank's split of its CPUs."""

    cpus: int  # CPUs this rank may count on
    loader_workers: int  # DataLoader decoding processes
    writer_threads: int  # threads composing, encoding and writing figures


def share_cpus(num_workers: int | None = None, cpus: int | None = None, ranks: int | None = None) -> CpuShare:
    """Split this rank's CPUs (affinity / ranks on the node): one for the main thread, a quarter (1..8) for
    decoding unless `num_workers` is given, the rest (at least two) for writing figures.

    At least two writer threads: one alone leaves the writers' core idle while it waits for the GIL or the disk.
    """
    total = usable_cpus() if cpus is None else cpus
    mine = max(1, total // (ranks_on_node() if ranks is None else max(1, ranks)))
    workers = min(MAX_DEFAULT_WORKERS, max(1, mine // 4)) if num_workers is None else num_workers
    return CpuShare(mine, workers, max(MIN_WRITER_THREADS, mine - 1 - workers))


def default_batch_size(device: torch.device) -> int:
    """Images per CAM batch when `--batch-size` is not given: large on a GPU, small on the CPU (memory)."""
    return GPU_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE
