"""Options the ``failsim`` commands share: the run's size and shape (see
:mod:`simulator.analysis.budget` for the limits)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["FileArg", "ReplicationsOpt", "HorizonOpt", "WarmupOpt", "SeedOpt", "ExecutorOpt", "WorkersOpt", "SchedulerOpt", "BackendOpt", "MaxRequestsOpt", "ProgressOpt", "MaxMemoryOpt", "MaxTimeOpt", "estimate_notice", "NOTICE_ABOVE_S"]

FileArg = Annotated[Path, typer.Argument(help="Topology YAML file.", show_default=False, readable=False)]
ReplicationsOpt = Annotated[
    int | None, typer.Option("--replications", "-n", help="Replications (default: the file's).", min=1)
]
HorizonOpt = Annotated[
    str | None, typer.Option("--horizon", help="Measured time per replication, e.g. 30d, 10y (default: the file's).")
]
WarmupOpt = Annotated[str | None, typer.Option("--warmup", help="Simulated before the horizon and ignored, e.g. 1d.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", "-s", help="Root random seed (default: the file's).", min=0)]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where replications run: processes (all local cores), serial, or dask (with --scheduler). Same result either way.",
    ),
]
WorkersOpt = Annotated[int | None, typer.Option("--workers", help="Processes for --executor processes.", min=1)]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address for --executor dask, e.g. tcp://HOST:8786.")
]
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend", "-b",
        help=(
            "auto | fast | engine | requests | flow. auto: with traffic, requests up to a one-day "
            "horizon and flow beyond; without, fast (or engine with repair_crews)."
        ),
    ),
]
MaxRequestsOpt = Annotated[
    float,
    typer.Option("--max-requests", help="Refuse a requests run estimated above this many requests.", min=0),
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar (only on a terminal).")
]
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
