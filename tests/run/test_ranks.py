"""camviz.run.ranks: a plain process is rank 0 of 1 and joins no group; torchrun's environment is read as it sets
it; inside a (one-rank gloo) process group the collectives reduce as documented.
(Two real torchrun ranks: tests/cli/test_torchrun.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist

from camviz.run.ranks import Ranks, process_group, ranks_from_environment, sum_over_ranks, worst_exit_code

CPU = torch.device("cpu")


def test_the_environment_says_the_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    plain = ranks_from_environment()
    assert plain == Ranks() and plain.is_main and not plain.is_distributed
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ranked = ranks_from_environment()
    assert ranked == Ranks(rank=3, world_size=4, local_rank=1) and not ranked.is_main and ranked.is_distributed


def test_one_process_joins_no_group_and_keeps_its_values() -> None:
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    with process_group(Ranks(), CPU):
        assert not dist.is_initialized()
        assert worst_exit_code(3, CPU) == 3 and sum_over_ranks(array, CPU) is array


def test_in_a_process_group_the_collectives_reduce() -> None:
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        with process_group(Ranks(rank=0, world_size=2), CPU):  # already joined: left as it is
            assert dist.is_initialized()
            assert worst_exit_code(2, CPU) == 2
            summed = sum_over_ranks(np.array([[1, 2], [3, 4]], dtype=np.int64), CPU)
        assert summed.dtype == np.float64 and summed.tolist() == [[1.0, 2.0], [3.0, 4.0]]
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
