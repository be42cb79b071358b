"""Where a run reports progress and warnings: the CLI draws a bar, the API default collects warnings silently."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where a run reports progress and warnings (the CLI draws a bar; the API default is silent)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentProgress:
    """A `Progress` that collects warnings and shows nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class NoteLog:
    """A run's one channel for what camviz tells the user: every note reaches the `Progress` (the terminal) once,
    and is kept for `run.json`."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.notes: list[str] = []

    def start(self, total: int) -> None:
        self.progress.start(total)

    def advance(self, count: int) -> None:
        self.progress.advance(count)

    def warn(self, message: str) -> None:
        """Say `message` once (a repeat is not said again) and keep it."""
        if message not in self.notes:
            self.notes.append(message)
            self.progress.warn(message)
