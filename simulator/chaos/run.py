"""Run a chaos experiment: replications of the ``requests`` backend with the plan's faults.

Every request is simulated (the exact semantics), with the topology's own failures
underneath unless the plan turns them off. Replication ``i`` gets the same seed as in
:func:`simulator.run`, so a plan and a plain run of the same topology share the
background failure trace; the result does not depend on the executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from simulator.backends.requests import snapshot
from simulator.backends.requests.build import build_dataplane
from simulator.backends.requests.dataplane import DataPlane
from simulator.backends.requests.loop import Loop
from simulator.backends.requests.resilience import OPEN
from simulator.chaos.compile import Experiment, compile_experiment
from simulator.chaos.inject import Injector
from simulator.chaos.measure import (
    BUDGET_WINDOW_S,
    good_bins,
    metastability,
    step_figures,
    window_values,
    windows,
)
from simulator.chaos.spec import ChaosPlan
from simulator.engine.control import ControlPlane
from simulator.errors import ModelError
from simulator.metrics.timeline import Timeline
from simulator.model.spec import Topology
from simulator.rng import replication_key

__all__ = ["ChaosRecord", "run_chaos", "run_chaos_replication", "SAMPLES"]

#: What the timeline samples per service at the end of every bin.
SAMPLES = ("replicas", "in_rotation", "queue", "busy", "breakers_open")


class Sampler:
    """Samples replicas, rotation, queue depth, busy workers and open breakers per service."""

    def __init__(self, dp: DataPlane, width: float, end: float) -> None:
        self.dp, self.width, self.end = dp, width, end
        self.rows: list[list[list[float]]] = []
        self.into: dict[str, list[Any]] = {s.name: [] for s in dp.services}
        for svc in dp.services:
            for group in svc.groups:
                for edge in group:
                    if edge.breaker is not None:
                        self.into[edge.callee.name].append(edge.breaker)
        for entry in dp.entries:
            if entry.edge.breaker is not None:
                self.into[entry.edge.callee.name].append(entry.edge.breaker)
        dp.loop.at(min(width, end), self.sample, None)

    def sample(self, _arg: object) -> None:
        now = self.dp.loop.now
        row = []
        for svc in self.dp.services:
            live = [r for r in svc.replicas if r.eligible or (svc.store is not None and not r.dynamic)]
            row.append([
                sum(1 for r in live if r.up),
                sum(1 for r in live if r.in_rotation and r.eligible),
                sum(len(r.queue) for r in svc.replicas),
                sum(r.busy for r in svc.replicas),
                sum(1 for b in self.into[svc.name] if b.state == OPEN and now < b.open_until),
            ])
        self.rows.append(row)
        nxt = now + self.width
        if nxt <= self.end + 1e-9:
            self.dp.loop.at(nxt, self.sample, None)

    def arrays(self, bins: int) -> dict[str, np.ndarray]:
        data = np.asarray(self.rows, dtype=float).reshape(len(self.rows), len(self.dp.services), len(SAMPLES))
        if len(data) < bins:
            pad = np.repeat(data[-1:], bins - len(data), axis=0) if len(data) else np.zeros((bins, len(self.dp.services), len(SAMPLES)))
            data = np.concatenate([data, pad])[:bins]
        return {k: data[:bins, :, i] for i, k in enumerate(SAMPLES)}


@dataclass
class ChaosRecord:
    """One replication of a chaos experiment (plain data: pickles across processes)."""

    index: int
    steps: dict[str, dict[str, Any]]
    probes: dict[str, dict[str, float]]  # window -> probe label -> value
    meta: dict[str, Any]
    timeline: Timeline
    samples: dict[str, np.ndarray]  # kind -> bins x services
    events: list[tuple[float, str, str]]
    requests: dict[str, Any]
    replica_seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


def run_chaos_replication(exp: Experiment, rep_seed: np.random.SeedSequence, index: int) -> ChaosRecord:
    """Replication ``index`` of ``exp``: simulate, inject, measure."""
    start = time.perf_counter()
    sim = exp.sim
    env = simpy.Environment()
    control = ControlPlane(env, sim, rep_seed)
    loop = Loop(env)
    dp = build_dataplane(sim, control, loop, rep_seed)
    dp.timeline = Timeline(exp.plan.timeline_s, exp.end_s)
    dp.events = []
    sampler = Sampler(dp, exp.plan.timeline_s, exp.end_s)
    injector = Injector(exp, dp, control, replication_key(rep_seed))
    loop.run(exp.end_s)
    tl = dp.timeline
    probes = exp.plan.probes(exp.topology)
    good = good_bins(tl, probes)
    losses = [(svc.name, *loss) for svc in dp.services if svc.store is not None for loss in svc.store.losses]
    ttl = max((e.spec.dns.ttl_s for e in dp.entries if e.spec.dns is not None), default=0.0)
    target = next((p.limit for p in probes if p.sli == "success_ratio"), 0.999)
    rate = sum(t.rate_per_s for t in exp.topology.traffic)
    budget = max(1.0 - target, 1e-12) * rate * BUDGET_WINDOW_S
    steps = {
        step.name: step_figures(exp, step, injector.targets[step.name], tl, dp.events, good, losses, ttl, budget)
        for step in exp.steps
    }
    values = {
        window: {p.label: window_values(tl, p, lo, hi) for p in probes}
        for window, (lo, hi) in windows(exp).items()
    }
    meta = metastability(exp, tl)
    ends = exp.end_s
    replica_seconds = {
        svc.name: (svc.scaler.replica_seconds(ends) if svc.scaler is not None else len(svc.replicas) * ends)
        for svc in dp.services
    }
    return ChaosRecord(
        index=index,
        steps=steps,
        probes=values,
        meta=meta,
        timeline=tl,
        samples=sampler.arrays(len(tl.requests)),
        events=dp.events,
        requests=snapshot(dp, ends),
        replica_seconds=replica_seconds,
        wall_s=time.perf_counter() - start,
    )


def run_chaos(
    model: Topology,
    plan: ChaosPlan,
    *,
    replications: int | None = None,
    seed: int | None = None,
    duration: float | str | None = None,
    executor: str = "serial",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
    scheduler: str | None = None,
    max_memory: float | str | None = "auto",
    max_time: float | str | None = "auto",
) -> Any:
    """Run ``plan`` on ``model`` and return :class:`~simulator.chaos.results.ChaosResults`.

    Parameters
    ----------
    model : Topology
    plan : ChaosPlan
        From :func:`simulator.chaos.load_plan`.
    replications, seed : int, optional
        Default: the plan's (the seed defaults to the topology's).
    duration : float (seconds) or str, optional
        Simulated time per replication; default: the plan's.
    executor : {"serial", "processes", "dask"}
        Where replications run (``client`` or ``scheduler`` for Dask); the result does
        not depend on it.
    max_memory, max_time : float, str or None
        As for :func:`simulator.run`: refuse a run estimated above them.
    """
    from simulator.analysis import budget
    from simulator.analysis.executors import check_executor, run_jobs, slots
    from simulator.analysis.runner import _duration
    from simulator.chaos.results import ChaosResults

    n = plan.replications if replications is None else int(replications)
    if n < 1:
        raise ModelError("must be at least 1", ("replications",))
    seed = (plan.seed if plan.seed is not None else model.seed) if seed is None else int(seed)
    if seed < 0:
        raise ModelError("must not be negative", ("seed",))
    check_executor(executor, scheduler, client)
    memory_limit, time_limit = budget.limits(max_memory, max_time)
    budget.check_model(model, memory_limit)
    exp = compile_experiment(model, plan, duration_s=_duration(duration, "duration"))
    source = exp.source or model.source or model.name
    budget.check(budget.estimate(exp.sim, "requests", n, slots(executor, workers, client)), source,
                 memory_limit, time_limit)
    start = time.perf_counter()
    with budget.memory_guard(source):
        (records,) = run_jobs([(exp, "chaos", seed, n)], executor, workers=workers, client=client,
                              scheduler=scheduler, progress=progress)
    return ChaosResults(exp, records, seed=seed, model_hash=model.model_hash(), wall_s=time.perf_counter() - start)

