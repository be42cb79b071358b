"""The writer pool: figure encoding and writing off the main thread, with a bounded queue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class WritePool:
    """Writer threads with a bounded queue, so memory stays flat however fast the CAMs come.

    Size it with `camviz.run.cpus.share_cpus`: composing and encoding a figure is OpenCV and zlib work that
    releases the GIL, so threads scale with the cores (and need no copies of the images, as processes would).
    """

    def __init__(self, workers: int = 1, max_pending: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="camviz-writer")
        self._slots = threading.Semaphore(max_pending)
        self._pending: list[Future] = []

    def submit(self, function: Callable[..., None], *args: object) -> None:
        """Run `function(*args)` on a writer thread; waits while the queue is full; re-raises earlier failures."""
        self._slots.acquire()
        future = self._executor.submit(function, *args)
        future.add_done_callback(lambda _: self._slots.release())
        self._pending = [f for f in self._pending if not f.done() or f.result() is not None] + [future]

    def __enter__(self) -> WritePool:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=exc_type is not None)  # interrupted: drop the queue
        if exc_type is None:
            for future in self._pending:
                future.result()
