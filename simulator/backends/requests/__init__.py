"""The ``requests`` backend: every request simulated, the reference semantics.

See :mod:`simulator.backends.requests.dataplane` for what happens to a request.
"""

from __future__ import annotations

import time

import numpy as np
import simpy

from simulator.backends.requests.build import build_dataplane
from simulator.backends.requests.dataplane import DataPlane
from simulator.backends.requests.loop import Loop
from simulator.engine.control import ControlPlane
from simulator.engine.plan import Plan
from simulator.engine.replication import ReplicationRecord, summarise_trace
from simulator.metrics.timeline import Timeline

__all__ = ["run_replication", "snapshot"]


def snapshot(dp: DataPlane, now: float) -> dict:
    """Plain counters of the data plane at ``now`` (the end of the replication)."""
    services = {}
    for svc in dp.services:
        for r in svc.replicas:
            r.account(now)
        entries_here = [e.stats for e in dp.entries if e.edge.callee is svc]
        services[svc.name] = {
            **svc.stats.freeze(also=entries_here),
            "busy_s": sum(r.busy_area for r in svc.replicas),
            "queue_s": sum(r.queue_area for r in svc.replicas),
            "capacity_s": (svc.workers * len(svc.replicas) * (now - dp.warmup)) if not svc.passthrough else 0.0,
        }
    edges = {}
    for svc in dp.services:
        for group in svc.groups:
            for edge in group:
                edges[edge.name] = _edge(edge, now)
    for entry in dp.entries:
        edges[entry.edge.name] = _edge(entry.edge, now)
    entries = {e.label: {**e.stats.freeze(), "entry": e.edge.callee.name} for e in dp.entries}
    return {"entries": entries, "services": services, "edges": edges}


def _edge(edge, now: float) -> dict:
    out = edge.stats.freeze()
    b = edge.breaker
    out["breaker_open_s"] = b.time_open(now) if b is not None else 0.0
    out["breaker_opened"] = b.opened if b is not None else 0
    return out


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """Simulate replication ``index`` with every request, and summarise it."""
    start = time.perf_counter()
    env = simpy.Environment()
    control = ControlPlane(env, plan, rep_seed)
    loop = Loop(env)
    dp = build_dataplane(plan, control, loop, rep_seed)
    if plan.timeline_s:
        dp.timeline = Timeline(plan.timeline_s, plan.end_s)
    loop.run(plan.end_s)
    record = summarise_trace(plan, control.trace(), index)
    record.extra["requests"] = snapshot(dp, plan.end_s)
    scaled = {svc.name: svc.scaler.replica_seconds(plan.end_s) for svc in dp.services if svc.scaler is not None}
    if scaled:
        record.extra["replica_seconds"] = scaled  # autoscaled services: billed for the time replicas existed
    if dp.timeline is not None:
        record.extra["timeline"] = dp.timeline
    record.wall_s = time.perf_counter() - start
    return record
