"""Where replications run: in this process, in local processes, or on a Dask cluster.

A *task* is a chunk of replications of one plan: ``(plan, backend, seed, indices)``.
Replication ``i`` gets its seed from ``(seed, i)`` alone, whatever else shares its
chunk, and results are put back in task order, so the outcome is the same to the last
digit whichever executor ran the tasks, however they were chunked and in whatever
order they finished. On Dask, a task whose worker dies is rerun elsewhere by the
scheduler; a task is a pure function of its arguments, so the rerun gives the same
records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from simulator.engine import fast
from simulator.engine.plan import Plan
from simulator.engine.replication import ReplicationRecord, run_replication
from simulator.errors import ModelError
from simulator.interrupt import worker_init
from simulator.rng import replication_seed

__all__ = ["EXECUTORS", "Task", "run_chunk", "chunks", "execute", "run_jobs", "check_executor", "dask_client", "slots",
           "Progress", "ETA"]

EXECUTORS = ("serial", "processes", "dask")
#: ``(plan, backend, seed, indices)``: replications ``indices`` of ``plan``.
Task = tuple[Plan, str, Any, Sequence[int]]
Progress = Callable[[int, int], None]


def _replicate(backend: str) -> Callable[[Plan, np.random.SeedSequence, int], ReplicationRecord]:
    if backend == "requests":
        from simulator.backends import requests

        return requests.run_replication
    if backend == "flow":
        from simulator.backends import flow

        return flow.run_replication
    if backend == "chaos":  # the "plan" is a chaos Experiment
        from simulator.chaos.run import run_chaos_replication

        return run_chaos_replication
    return run_replication


def run_chunk(plan: Plan, backend: str, entropy: Any, indices: Sequence[int]) -> list[ReplicationRecord]:
    """Replications ``indices``: each gets its own seed, whatever else is in the chunk."""
    root = np.random.SeedSequence(entropy)
    seeds = [replication_seed(root, i) for i in indices]
    if backend == "fast":
        return fast.run_replications(plan, seeds, list(indices))
    one = _replicate(backend)
    return [one(plan, s, i) for s, i in zip(seeds, indices, strict=True)]


def chunks(n: int, backend: str, slots: int, chunk_size: int | None = None) -> list[list[int]]:
    """Split replications ``0 .. n-1`` into chunks for ``slots`` parallel workers.

    Several chunks per worker keep progress moving and the load balanced; the flow
    backend caches solutions per process, so it takes one chunk per worker; the fast
    path is quickest on chunks of at most a few hundred replications.
    """
    if chunk_size is None:
        if slots <= 1:
            chunk_size = 32 if backend == "fast" else 1
        else:
            parts = slots if backend == "flow" else max(slots * 4, -(-n // 256))
            chunk_size = max(1, -(-n // parts))
    return [list(range(i, min(i + chunk_size, n))) for i in range(0, n, chunk_size)]


def dask_client(client: Any = None, scheduler: str | None = None) -> tuple[Any, bool]:
    """The Dask client to use and whether we opened it (and must close it)."""
    if client is not None:
        return client, False
    if not scheduler:
        raise ModelError("the dask executor needs a scheduler address (tcp://HOST:8786) or a client", ("scheduler",))
    try:
        from dask.distributed import Client
    except ImportError:
        raise ModelError(
            "the dask executor needs dask[distributed]: pip install 'failsim[dask]'", ("executor",)
        ) from None
    try:
        return Client(scheduler, timeout="10s"), True
    except OSError as exc:
        raise ModelError(f"cannot reach the Dask scheduler at {scheduler}: {exc}", ("scheduler",)) from None


def check_executor(executor: str, scheduler: str | None = None, client: Any = None) -> None:
    """Refuse an unknown executor, or dask with nowhere to run, before anything starts."""
    if executor not in EXECUTORS:
        raise ModelError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}", ("executor",))
    if executor == "dask" and client is None and not scheduler:
        raise ModelError("the dask executor needs a scheduler address (tcp://HOST:8786) or a client", ("scheduler",))


def run_jobs(
    jobs: Sequence[tuple[Any, str, Any, int]],
    executor: str = "serial",
    *,
    workers: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> list[list[ReplicationRecord]]:
    """Every replication of each job ``(plan, backend, seed, n)``, the records of job
    ``k`` at position ``k``: the jobs are cut into chunks for the executor's slots and
    run together (a Dask client is opened from ``scheduler`` when none is given, and
    closed after)."""
    check_executor(executor, scheduler, client)
    opened = False
    if executor == "dask":
        client, opened = dask_client(client, scheduler)
    try:
        n_slots = slots(executor, workers, client)
        tasks, owner = [], []
        for k, (plan, backend, seed, n) in enumerate(jobs):
            for part in chunks(n, backend, n_slots, chunk_size):
                tasks.append((plan, backend, seed, part))
                owner.append(k)
        done = execute(tasks, executor, workers=workers, client=client, progress=progress)
    finally:
        if opened:
            client.close()
    records: list[list[ReplicationRecord]] = [[] for _ in jobs]
    for k, part in zip(owner, done, strict=True):
        records[k].extend(part)
    return records


def slots(executor: str, workers: int | None = None, client: Any = None) -> int:
    """How many tasks can run at once."""
    if executor == "serial":
        return 1
    if executor == "dask" and client is not None:
        return max(1, sum(client.nthreads().values()))
    return workers or os.cpu_count() or 1


def execute(
    tasks: list[Task],
    executor: str = "serial",
    *,
    workers: int | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> list[list[ReplicationRecord]]:
    """Run every task; the records of task ``k`` are at position ``k`` of the result.

    ``progress(done, total)`` is called with replications finished so far.
    """
    check_executor(executor, client=client)
    total = sum(len(t[3]) for t in tasks)
    out: list[list[ReplicationRecord] | None] = [None] * len(tasks)
    done = 0

    def finished(k: int, records: list[ReplicationRecord]) -> None:
        nonlocal done
        out[k] = records
        done += len(records)
        if progress:
            progress(done, total)

    if executor == "serial" or len(tasks) <= 1 and executor != "dask":
        for k, task in enumerate(tasks):
            finished(k, run_chunk(*task))
    elif executor == "processes":
        pool = ProcessPoolExecutor(
            max_workers=min(slots(executor, workers), len(tasks)), initializer=worker_init, initargs=(os.getpid(),)
        )
        try:
            futures = {pool.submit(run_chunk, *task): k for k, task in enumerate(tasks)}
            for fut in as_completed(futures):
                finished(futures[fut], fut.result())
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown()
    else:
        from dask.distributed import as_completed as dask_completed

        futures = {client.submit(run_chunk, *task, pure=False): k for k, task in enumerate(tasks)}
        try:
            for fut in dask_completed(list(futures)):
                finished(futures[fut], fut.result())
        finally:
            for fut in futures:
                fut.release()
    return out  # type: ignore[return-value]


def _stop(pool: ProcessPoolExecutor) -> None:
    """End ``pool`` now: on an error or an interrupt nobody wants the running tasks' results."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
    else:  # before 3.14 the workers are reachable only through the pool's process table
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


class ETA:
    """Done / total and a time-remaining estimate from the rate so far (for progress text)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int) -> str:
        elapsed = time.perf_counter() - self.start
        if not done:
            return f"{done}/{total}"
        left = elapsed / done * (total - done)
        return f"{done}/{total}, {elapsed:.0f}s elapsed, ETA {left:.0f}s"
