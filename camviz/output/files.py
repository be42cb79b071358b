"""Atomic files: written under a temporary `.part` name in the same folder, then renamed into place.

A reader (or a kill) never sees half a file; each run removes only its own (and dead runs') temporary files.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from pathlib import Path

import numpy as np

from camviz.errors import writing
from camviz.output.names import cut_to_bytes


def encode_npy(array: np.ndarray) -> bytes:
    """`.npy` bytes of an array (as `np.save` writes them)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


_PARTIAL_SUFFIX = ".part"

_PARTIAL = re.compile(r"^\..*\.(\d+)-[0-9a-f]{6}\.part$")  # `.{name}.{pid}-{random}.part`

_PARTIAL_MIN_BYTES = 40  # a temporary name may use this much even when the final name is shorter


def partial_name(name: str, pid: int | None = None) -> str:
    """The temporary name `write_atomic` uses for `name`: `.{name}.{pid}-{random}.part`, with `name` cut so the
    whole is never longer than `name` itself (or 40 bytes, for a shorter name): if the final name fits the file
    system, so does this one."""
    tag = f"{os.getpid() if pid is None else pid}-{secrets.token_hex(3)}"
    budget = max(len(os.fsencode(name)), _PARTIAL_MIN_BYTES) - len(f"..{tag}{_PARTIAL_SUFFIX}")
    return f".{cut_to_bytes(name, budget)}.{tag}{_PARTIAL_SUFFIX}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename into place: a reader (or a kill) never sees half
    a file. A full disk or an unwritable folder raises a one-line `OutputError`."""
    with writing(path):
        for _ in range(100):
            temporary = path.parent / partial_name(path.name)
            try:  # the mode follows the umask, like any ordinary file
                handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free temporary name for {path.name}")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def remove_partial_files(folder: Path) -> None:
    """Delete temporary files of this process, or of camviz processes that are gone (killed mid-write); another
    live process's files in flight are left alone."""
    for leftover in folder.glob(f".*{_PARTIAL_SUFFIX}"):
        match = _PARTIAL.match(leftover.name)
        if match and (int(match.group(1)) == os.getpid() or not _alive(int(match.group(1)))):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine); on Windows, always assumed."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
