"""What goes wrong and what is said: camviz's own error types, each carrying the exit code the CLI reports, and
`Say`, the one channel every stage tells the user through (a run hands it `NoteLog.warn`: terminal and run.json)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Say = Callable[[str], None]  # how a stage tells the user something: one line, said once by the run


class CamvizError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits 1."""

    exit_code = 1


class UsageError(CamvizError):
    """Options that do not make sense together or are out of range (exit 2)."""

    exit_code = 2


class CheckpointError(CamvizError):
    """A model file that cannot be read, trusted or matched to an architecture."""


class TargetLayerError(CamvizError):
    """No usable Grad-CAM target layer could be resolved."""


class ImageDecodeError(CamvizError):
    """An image file that cannot be decoded."""


class OutputError(CamvizError):
    """An output that cannot be written: a full disk, a read-only or unwritable folder."""


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def output_error(error: OSError, path: object) -> OutputError:
    """The one line for an OSError while writing `path`: a full disk is the user's to fix, and --resume finishes."""
    reason = error.strerror or str(error)
    if error.errno in _DISK_FULL:
        return OutputError(f"disk full: cannot write {path} ({reason}); free some space, then run the same "
                           "command with --resume to finish (finished figures and rows are kept)")
    return OutputError(f"cannot write {path}: {reason} (is --output-dir writable?)")


@contextmanager
def writing(path: object) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into a one-line `OutputError`."""
    try:
        yield
    except OSError as error:
        raise output_error(error, path) from error


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for a one-line error."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
