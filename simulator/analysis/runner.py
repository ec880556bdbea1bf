"""Monte Carlo replications of a model: seeding, executors and progress.

Replication ``i`` always gets the seed ``SeedSequence(seed).spawn_key + (i,)``, so the
result is the same whichever executor ran it and however replications were chunked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from simulator._version import __version__
from simulator.engine.plan import SYSTEM, Plan, compile_plan
from simulator.engine.replication import ReplicationRecord, run_replication
from simulator.errors import ModelError
from simulator.model.spec import Topology
from simulator.results import Results, RunInfo
from simulator.rng import replication_seed
from simulator.units import UnitError, parse_duration

__all__ = ["run", "EXECUTORS"]

EXECUTORS = ("serial", "processes")
Progress = Callable[[int, int], None]


def _run_chunk(plan: Plan, entropy: Any, indices: Sequence[int]) -> list[ReplicationRecord]:
    root = np.random.SeedSequence(entropy)
    return [run_replication(plan, replication_seed(root, i), i) for i in indices]


def _chunks(n: int, parts: int) -> list[list[int]]:
    size = max(1, -(-n // parts))
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _duration(value: float | str | None, what: str) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        return parse_duration(value)
    except UnitError as exc:
        raise ModelError(str(exc), (what,)) from None


def _slo_targets(model: Topology) -> dict[str, dict[str, float | None]]:
    targets: dict[str, dict[str, float | None]] = {}
    if model.slo is not None:
        targets[SYSTEM] = {"availability": model.slo.availability, "rto_s": model.slo.rto_s}
    for name, svc in model.services.items():
        if svc.slo is not None:
            targets[name] = {"availability": svc.slo.availability, "rto_s": svc.slo.rto_s}
    return targets


def run(
    model: Topology,
    *,
    replications: int | None = None,
    seed: int | None = None,
    horizon: float | str | None = None,
    warmup: float | str | None = None,
    executor: str = "serial",
    workers: int | None = None,
    progress: Progress | None = None,
) -> Results:
    """Simulate ``replications`` independent replications of ``model``.

    Parameters
    ----------
    model : Topology
        A validated model, e.g. from :func:`simulator.load`.
    replications : int, optional
        Default: the model's ``replications``.
    seed : int, optional
        Root seed; default: the model's ``seed``. Same model and seed, same result.
    horizon, warmup : float (seconds) or str (``"10y"``), optional
        Measured time per replication and the time simulated before it; default: the model's.
    executor : {"serial", "processes"}
        Where replications run; the result does not depend on it.
    workers : int, optional
        Processes for ``executor="processes"``; default: all cores.
    progress : callable(done, total), optional
        Called after each finished chunk of replications.

    Returns
    -------
    Results

    Examples
    --------
    >>> import simulator
    >>> model = simulator.load("topologies/three-tier.yaml")
    >>> res = simulator.run(model, replications=4, horizon="30d", seed=1)
    >>> 0.0 <= res.availability.mean <= 1.0
    True
    """
    n = model.replications if replications is None else int(replications)
    if n < 1:
        raise ModelError("must be at least 1", ("replications",))
    seed = model.seed if seed is None else int(seed)
    if seed < 0:
        raise ModelError("must not be negative", ("seed",))
    horizon_s = _duration(horizon, "horizon")
    warmup_s = _duration(warmup, "warmup")
    if horizon_s is not None and horizon_s <= 0:
        raise ModelError("must be a positive duration", ("horizon",))
    if executor not in EXECUTORS:
        raise ModelError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}", ("executor",))
    plan = compile_plan(model, horizon_s=horizon_s, warmup_s=warmup_s)
    start = time.perf_counter()
    records = _execute(plan, seed, n, executor, workers, progress)
    info = RunInfo(
        name=model.name,
        seed=seed,
        replications=n,
        horizon_s=plan.horizon_s,
        warmup_s=plan.warmup_s,
        version=__version__,
        model_hash=model.model_hash(),
        backend="engine",
        entries=tuple(plan.services[i].name for i in plan.entries),
        slo=_slo_targets(model),
    )
    return Results(info, records, wall_s=time.perf_counter() - start)


def _execute(
    plan: Plan, seed: int, n: int, executor: str, workers: int | None, progress: Progress | None
) -> list[ReplicationRecord]:
    records: list[ReplicationRecord] = []
    if executor == "serial" or n == 1:
        root = np.random.SeedSequence(seed)
        for i in range(n):
            records.append(run_replication(plan, replication_seed(root, i), i))
            if progress:
                progress(i + 1, n)
        return records
    workers = workers or os.cpu_count() or 1
    # several chunks per worker keep the progress bar moving and the load balanced
    chunks = _chunks(n, workers * 4)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_chunk, plan, seed, c) for c in chunks]
        for fut in as_completed(futures):
            records.extend(fut.result())
            if progress:
                progress(len(records), n)
    return records
