"""The shared CLI progress bar: its update callback moves the task, a stage restarts it."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from ssmas.core.progress import ProgressBar, progress_bar


def test_update_and_stage_move_the_one_task() -> None:
    with Progress(console=Console(file=io.StringIO())) as progress:
        bar = ProgressBar(progress, progress.add_task("import", total=None), "import")
        (task,) = progress.tasks
        bar.update(40, 100)
        assert (task.completed, task.total, task.description) == (40, 100, "import")
        bar.update(50, 100, "rows")
        assert (task.completed, task.description) == (50, "import: rows")
        bar.stage("quality")
        assert (task.completed, task.description) == (0, "quality")
        bar.update(3, 7)
        assert (task.completed, task.total, task.description) == (3, 7, "quality")


def test_the_bar_leaves_nothing_behind_on_its_console() -> None:
    out = io.StringIO()
    with progress_bar("scoring", Console(file=out, force_terminal=True, width=80)) as bar:
        bar.update(1, 2)
    # transient: the finished bar is erased (only cursor controls remain, no text)
    assert "scoring" not in out.getvalue().splitlines()[-1]
