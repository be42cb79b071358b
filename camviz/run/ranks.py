"""Running under torchrun (or any launcher that sets the torch.distributed environment).

camviz grows no scheduler of its own: each rank takes a disjoint shard of the selected samples, writes
its figures and its own manifest, and after one collective (the worst exit code) rank 0 merges.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: `rank` of `world_size`, and its device index on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 draws the progress bar, merges the manifests and prints the summary."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """More than one rank: per-rank manifests, merged by rank 0."""
        return self.world_size > 1


def ranks_from_environment() -> Ranks:
    """`RANK`, `WORLD_SIZE`, `LOCAL_RANK` as torchrun sets them; a plain process is rank 0 of 1."""
    return Ranks(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


@contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join the job's process group (nccl on CUDA, gloo otherwise) for the run; a single process joins none."""
    if not ranks.is_distributed or dist.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(hours=2))
    try:
        yield
    finally:
        dist.destroy_process_group()


def worst_exit_code(code: int, device: torch.device) -> int:
    """The largest exit code over all ranks (every rank must call this, whatever happened to it)."""
    if not dist.is_initialized():
        return code
    value = torch.tensor([code], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return int(value.item())


def sum_over_ranks(array: np.ndarray, device: torch.device) -> np.ndarray:
    """Element-wise sum of `array` over all ranks (every rank must call this); unchanged in one process."""
    if not dist.is_initialized():
        return array
    value = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    value = value.to(device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value.cpu().numpy()
