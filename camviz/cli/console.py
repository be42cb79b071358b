"""How the CLI shows a run: a rich progress bar on a terminal, a few plain lines otherwise, warnings on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Images per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:.1f} img/s")


class ConsoleProgress:
    """A `camviz.run.progress.Progress` for the terminal; use as a context manager around the run."""

    def __init__(self, console: Console | None = None, show_progress: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._total = 0
        self._done = 0
        self._next_report = 0

    def start(self, total: int) -> None:
        """Begin counting `total` images."""
        self._done = 0
        if not self.show_progress:
            return  # _total stays 0: advance() reports nothing
        self._total = total
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("explaining"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task("explain", total=total)
        else:
            self.console.print(f"explaining {total} images")
            self._next_report = max(1, total // 10)

    def advance(self, count: int) -> None:
        """`count` more images are done."""
        self._done += count
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=count)
        elif self._total and self._done >= self._next_report:
            self.console.print(f"  {self._done}/{self._total} images")
            self._next_report = self._done + max(1, self._total // 10)

    def warn(self, message: str) -> None:
        """Show a warning above the bar."""
        self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True, soft_wrap=True)

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()
