"""The output folder: made and checked, one batch run in it at a time, each run tidying only its own temporary files.

The lock is an advisory `flock` on the folder itself (no lock file to go stale: the kernel drops it when the
process ends, however it ends). A batch run holds it exclusively (it owns `manifest.csv`, the class means and the
gallery); single-image runs share it, so they may run side by side but not during a batch run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from camviz.errors import CamvizError, OutputError
from camviz.output.files import remove_partial_files

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]


def make_output_dir(path: Path) -> Path:
    """Create the output folder (and parents); a folder that cannot be made or written is a one-line error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CamvizError(f"cannot create --output-dir {path}: {error.strerror or error}") from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to --output-dir {path}: it is read-only or not yours")
    return path


class OutputDirBusy(CamvizError):
    """Another camviz run is writing to the same output folder."""


@contextmanager
def claim_output_dir(path: Path, exclusive: bool, lock: bool = True) -> Iterator[None]:
    """Hold `path`'s lock (if `lock`) while inside; on the way out, however it ends, delete this process's
    (and dead processes') temporary `.part` files there."""
    handle = _lock(path, exclusive) if lock else None
    try:
        yield
    finally:
        remove_partial_files(path)
        if handle is not None:
            os.close(handle)  # releases the lock


def _lock(path: Path, exclusive: bool) -> int | None:
    """An open descriptor of the folder holding its lock, or None where locks are not available."""
    if fcntl is None:
        return None
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError as error:
        os.close(handle)
        raise OutputDirBusy(f"another camviz run is writing to --output-dir {path}; wait for it to finish "
                            "or choose another --output-dir") from error
    except OSError:  # a file system without locks (some network mounts): run unlocked
        os.close(handle)
        return None
    return handle
