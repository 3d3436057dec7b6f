"""A transient progress bar on stderr for long CLI commands.

One place for the bar's look (title, bar, done of total, elapsed time), so a command that shows
progress passes ``bar.update`` as the callback of the work it runs instead of building its own
columns; the bar disappears when the work ends, leaving the command's output alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """One task's bar: ``update(done, total)`` as work advances, ``stage(name)`` between steps."""

    def __init__(self, progress: Progress, task: TaskID, title: str) -> None:
        self._progress = progress
        self._task = task
        self._title = title

    def update(self, done: int, total: int | None, message: str = "") -> None:
        """``done`` of ``total`` (``None``: not known, the bar keeps what it had), with what is
        being done now."""
        description = f"{self._title}: {message}" if message else self._title
        self._progress.update(self._task, completed=done, total=total, description=description)

    def stage(self, title: str) -> None:
        """Start the next step under its own title, from zero (its first update sets its total)."""
        self._title = title
        self._progress.update(self._task, completed=0, description=title)


@contextmanager
def progress_bar(title: str, console: Console) -> Iterator[ProgressBar]:
    """A bar titled ``title`` on ``console`` (the command's stderr) while the block runs."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield ProgressBar(progress, progress.add_task(title, total=None), title)
