"""camviz.run.signals: inside `interruptible()` the first SIGINT or SIGTERM raises `Interrupted` once (exit code
128 + signal), later ones are ignored so the clean-up cannot be broken; without a signal the handlers are restored.
(The real `camviz` process stopped by a signal: tests/cli/test_explain_signals.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from camviz.run import signals
from camviz.run.signals import Interrupted, interruptible, received

HANDLED = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """This process's SIGINT/SIGTERM handlers, put back afterwards, and the module's flag back to "no signal"."""
    monkeypatch.setattr(signals, "_received", None)
    saved = {signum: signal.getsignal(signum) for signum in HANDLED}
    yield saved
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _wait_for_signal() -> None:
    time.sleep(5)  # the handler runs (and raises) within the first bytecodes after the signal arrives


def test_without_a_signal_the_handlers_are_restored(handlers: dict) -> None:
    with interruptible():
        assert all(signal.getsignal(signum) is not handlers[signum] for signum in HANDLED)
    assert {signum: signal.getsignal(signum) for signum in HANDLED} == handlers and received() is None


@pytest.mark.parametrize("signum", HANDLED, ids=lambda s: signal.Signals(s).name)
def test_the_first_signal_unwinds_once_and_later_ones_are_ignored(handlers: dict, signum: int) -> None:
    started = time.monotonic()
    with pytest.raises(Interrupted) as stop, interruptible():
        os.kill(os.getpid(), signum)
        _wait_for_signal()
    assert time.monotonic() - started < 4, "the signal did not interrupt the sleep"
    assert stop.value.signum == signum == received() and stop.value.exit_code == 128 + signum
    assert all(signal.getsignal(s) is signal.SIG_IGN for s in HANDLED)
    os.kill(os.getpid(), signal.SIGINT)  # ignored: no KeyboardInterrupt, no second Interrupted
    time.sleep(0.05)


def test_outside_the_main_thread_nothing_is_installed(handlers: dict) -> None:
    seen = []

    def run() -> None:
        with interruptible():
            seen.append({signum: signal.getsignal(signum) for signum in HANDLED})

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [handlers]
