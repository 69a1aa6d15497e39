"""The progress bar of commands that prove many inputs (`prove-batch`, `claim prove`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from zkml.cli.common import err


@contextlib.contextmanager
def proof_bar(as_json: bool, label: str = "proving") -> Iterator[Callable[[Any, int, int], None]]:
    """A bar on stderr (done/total, proofs per minute, ETA); yields the batch's ``on_result``
    callback, which also prints each failed input's error as it lands."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cols = (TextColumn(label), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn())
    with Progress(*cols, console=err, transient=as_json) as bar:
        task = bar.add_task("prove", total=None, rate="")
        t0 = time.perf_counter()

        def on_result(entry: Any, done: int, total: int) -> None:
            rate = 60 * done / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f} proofs/min")
            if entry.status == "error":
                bar.console.print(f"[red]✗[/red] {entry.input_id}: {entry.error_type}: "
                                  f"{entry.error}", markup=True, highlight=False)

        yield on_result
