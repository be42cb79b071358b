"""A `camviz` batch run in a real process, caught while it runs: to kill it, signal it, or look at its workers."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.support.cli import CAMVIZ, script_env


def start_run(args: list[object], out: Path, figures: int, **popen: object) -> subprocess.Popen:
    """Start the installed script with `args`; return once it has written `figures` figures to `out`, still running."""
    popen.setdefault("env", script_env())
    process = subprocess.Popen([str(CAMVIZ), *map(str, args)], **popen)
    deadline = time.time() + 120
    while len(list(out.glob("gradcam_*.png"))) < figures and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be stopped"
    return process


def children(pid: int) -> set[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found
