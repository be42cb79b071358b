"""Ending a run on SIGINT or SIGTERM: unwind once, cleanly, and leave no worker process or partial file behind.

The CLI installs `interruptible()`: the first SIGINT or SIGTERM raises `Interrupted` in the main thread, so
the run unwinds through its `finally` blocks (DataLoader workers joined, writer threads drained, the manifest
written, this run's temporary files removed); later signals are ignored, so a repeated Ctrl-C cannot break the
clean-up. DataLoader workers run `camviz.data.loader.quiet_worker` first: they ignore SIGINT (the terminal sends it
to the whole process group; the main process shuts them down) and are killed if their parent dies.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_HANDLED = (signal.SIGINT, signal.SIGTERM)
_received: int | None = None


class Interrupted(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def received() -> int | None:
    """The signal that interrupted this run, or None."""
    return _received


def _on_signal(signum: int, frame: object) -> None:
    global _received  # noqa: PLW0603 (a signal handler sets the one process-wide flag)
    if _received is not None:
        return  # already unwinding: a second Ctrl-C must not interrupt the clean-up
    _received = signum
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise `Interrupted` once in the main thread. Handlers are restored after,
    unless a signal came: then later ones stay ignored, so one cannot break the interpreter's own shutdown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal) for signum in _HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if _received is None else signal.SIG_IGN)
