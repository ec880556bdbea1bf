"""What the ``failsim`` commands print and write: the consoles, the progress bar, the
result tables, and files written whole or not at all."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["VERDICT_STYLE", "out", "err", "progress_bar", "write_atomic", "rich_table", "render"]

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    if not (enabled and err.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def write_atomic(path: Path, text: str) -> None:
    """Write the whole file or nothing: a temporary file renamed into place."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise



def rich_table(headers: list[str], rows: list[list[str]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        table.add_row(*r)
    return table


VERDICT_STYLE = {"met": "green", "missed": "bold red", "inconclusive": "yellow"}


def render(results: Any) -> None:
    from simulator.report_text import (
        FOOTNOTE,
        REQUESTS_FOOTNOTE,
        _heading,
        components_table,
        load_table,
        requests_table,
        slo_table,
        summary_table,
    )

    out.print(_heading(results), highlight=False)
    for note in results.info.notes:
        out.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    out.print(rich_table(*summary_table(results)))
    out.print(FOOTNOTE, style="dim", highlight=False)
    for title, (headers, rows) in (
        ("Requests", requests_table(results)),
        ("Load", load_table(results)),
        ("Components", components_table(results)),
    ):
        if rows:
            out.print(rich_table(headers, rows, title=title))
            if title == "Requests":
                out.print(REQUESTS_FOOTNOTE, style="dim", highlight=False)
    if results.slo:
        headers, rows = slo_table(results)
        for r in rows:
            r[-1] = f"[{VERDICT_STYLE[r[-1]]}]{r[-1]}[/]"
        out.print(rich_table(headers, rows, title="SLO"))
