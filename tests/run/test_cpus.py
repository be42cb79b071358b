"""camviz.run.cpus: how a run splits the CPUs it may use, read from real affinity masks and torchrun's environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from camviz.run.cpus import CpuShare, share_cpus

_PRINT_SHARE = ("import os, sys; os.sched_setaffinity(0, map(int, sys.argv[1:])); "
                "from camviz.run.cpus import share_cpus; s = share_cpus(); "
                "print(s.cpus, s.loader_workers, s.writer_threads)")


def _share_in_child(cpus: set[int], env: dict[str, str]) -> tuple[int, int, int]:
    """share_cpus() as a fresh process pinned to `cpus` (its real affinity mask, set first thing) computes it."""
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_SHARE, *map(str, sorted(cpus))], capture_output=True, text=True, check=True,
        env={**{k: v for k, v in os.environ.items() if k != "LOCAL_WORLD_SIZE"}, **env},
    )
    return tuple(int(value) for value in result.stdout.split())


@pytest.mark.parametrize(
    ("cpus", "ranks", "workers", "expected"),
    [
        (16, 1, None, CpuShare(16, 4, 11)),  # a 16-core GPU box: a quarter decodes, the rest writes figures
        (16, 2, None, CpuShare(8, 2, 5)),  # two ranks on the node share it
        (16, 8, None, CpuShare(2, 1, 2)),  # at least two writers: one alone idles its core on the GIL
        (64, 1, None, CpuShare(64, 8, 55)),  # decoding workers are capped; writers take the rest
        (16, 1, 12, CpuShare(16, 12, 3)),  # --num-workers is honoured, writers get what is left
        (2, 1, None, CpuShare(2, 1, 2)),
        (1, 1, 0, CpuShare(1, 0, 2)),  # never fewer than two writers
    ],
)
def test_share_splits_a_ranks_cpus(cpus: int, ranks: int, workers: int | None, expected: CpuShare) -> None:
    assert share_cpus(workers, cpus=cpus, ranks=ranks) == expected


@pytest.mark.process
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux affinity masks and at least 2 CPUs")
def test_share_follows_the_real_affinity_mask_and_local_world_size() -> None:
    both = set(sorted(os.sched_getaffinity(0))[:2])
    assert _share_in_child(both, {}) == (2, 1, 2)
    assert _share_in_child({min(both)}, {}) == (1, 1, 2)
    assert _share_in_child(both, {"LOCAL_WORLD_SIZE": "2"}) == (1, 1, 2)
    every = os.sched_getaffinity(0)
    count = len(every)
    assert _share_in_child(every, {})[0] == count
    assert _share_in_child(every, {"LOCAL_WORLD_SIZE": str(count)})[0] == 1
