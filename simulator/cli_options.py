"""Options the ``failsim`` commands share for the size of a run (see :mod:`simulator.analysis.budget`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

__all__ = ["MaxMemoryOpt", "MaxTimeOpt", "estimate_notice", "NOTICE_ABOVE_S"]

MaxMemoryOpt = Annotated[
    str | None,
    typer.Option("--max-memory", help="Refuse a run estimated to need more memory, e.g. 16GB or none "
                 "(default: the memory available)."),
]
MaxTimeOpt = Annotated[
    str | None,
    typer.Option("--max-time", help="Refuse a run estimated to take longer, e.g. 12h or none (default: 6h)."),
]
#: Runs estimated longer than this print their estimate before they start.
NOTICE_ABOVE_S = 10.0


def estimate_notice(console: Any, label: str) -> Callable[[Any], None]:
    """A callback that prints a long run's estimate (one line on stderr) before it starts."""

    def notice(budget: Any) -> None:
        if budget.seconds > NOTICE_ABOVE_S:
            console.print(f"{label}: {budget.describe()} (estimated)", markup=False, highlight=False)

    return notice
