"""Where the main process spends its CPU on the data path: one `camviz explain` run under cProfile.

Runs the CLI in this process (any camviz version: put its tree first on PYTHONPATH) and prints, per image:
the process's CPU seconds, the main thread's wall time fetching batches from the DataLoader (receiving and
unpickling what the workers sent), and the time in `torch.stack` and in unpickling.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/main_process_profile.py CKPT DATA_DIR [explain flags...]
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time


def profile_run(checkpoint: str, data_dir: str, flags: list[str]) -> dict[str, float]:
    """Profile one batch run; CPU and data-path seconds per image."""
    from camviz.cli.main import main

    out = tempfile.mkdtemp(prefix="camviz-profile-")
    sys.argv = ["camviz", "explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", out, *flags]
    profiler = cProfile.Profile()
    cpu_start = time.process_time()
    try:
        profiler.runcall(main)
    except SystemExit as exit_status:
        if exit_status.code not in (0, None):
            raise
    cpu = time.process_time() - cpu_start
    with open(f"{out}/manifest.csv", encoding="utf-8") as manifest:
        images = sum(1 for _ in manifest) - 1
    shutil.rmtree(out, ignore_errors=True)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive, tottime, cumtime, callers)

    def seconds(match: str, column: int) -> float:
        return sum(entry[column] for key, entry in stats.items() if match in f"{key[0]}:{key[2]}")

    return {
        "images": images,
        "process CPU s/image": cpu / images,
        "main thread fetching batches s/image": seconds("dataloader.py:_next_data", 3) / images,
        "torch.stack s/image": seconds("torch.stack", 2) / images,
        "unpickling s/image": seconds("method 'loads'", 2) / images + seconds("rebuild_storage", 3) / images,
    }


if __name__ == "__main__":
    for name, value in profile_run(sys.argv[1], sys.argv[2], sys.argv[3:]).items():
        print(f"{name:<40} {value:.6f}" if isinstance(value, float) else f"{name:<40} {value}")
