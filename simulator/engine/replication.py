"""One replication of the failure model: run the control plane, then summarise it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from simulator.engine.control import Trace, simulate_failures
from simulator.engine.plan import SYSTEM, Plan
from simulator.engine.structure import component_states, service_states
from simulator.metrics.availability import OutageStats, down_intervals, outage_stats, repair_durations

__all__ = ["GroupStats", "ReplicationRecord", "summarise_trace", "run_replication"]


@dataclass
class GroupStats:
    """Component statistics of one group (a service's replicas, one zone...) in one replication."""

    members: int
    failures: int  # failures that started inside the window
    repairs: int  # completed repairs of those failures
    repair_s: float  # their total duration, crew waiting included
    down_s: float  # own down time inside the window, summed over members


@dataclass
class ReplicationRecord:
    """Plain, picklable summary of one replication (no simpy objects)."""

    index: int
    observed_s: float
    services: dict[str, OutageStats]  # every service and SYSTEM
    own_down_s: dict[str, float]  # per service, counting only its own quorum
    groups: dict[str, GroupStats]
    events: int
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)  # backend-specific figures


def _own_downtime(t: np.ndarray, up: np.ndarray, t0: float, t1: float) -> np.ndarray:
    ends = np.append(t[1:], t1)
    dt = np.clip(np.minimum(ends, t1) - np.maximum(t, t0), 0.0, None)
    return (~up * dt[:, None]).sum(axis=0)


def summarise_trace(plan: Plan, trace: Trace, index: int) -> ReplicationRecord:
    """Availability and outages of every service, and component statistics, from a trace."""
    t0, t1 = plan.warmup_s, plan.end_s
    t, up = component_states(plan, trace.times, trace.comps)
    states, own = service_states(plan, (t, up))
    names = [s.name for s in plan.services] + [SYSTEM]
    services = {
        name: outage_stats(down_intervals(t, states[:, k], t0, t1), t0, t1) for k, name in enumerate(names)
    }
    own_services = _own_downtime(t, own, t0, t1)
    own_down_s = {s.name: float(own_services[s.index]) for s in plan.services}
    own_down = _own_downtime(t, up, t0, t1)
    rep_comp, rep_dur = repair_durations(trace.times, trace.comps, trace.ups, t0)
    in_window = (~trace.ups) & (trace.times >= t0) & (trace.times < t1)
    fail_count = np.bincount(trace.comps[in_window], minlength=len(plan.components))
    rep_count = np.bincount(rep_comp, minlength=len(plan.components))
    rep_sum = np.bincount(rep_comp, weights=rep_dur, minlength=len(plan.components))
    groups: dict[str, GroupStats] = {}
    group_of = np.array([plan.groups.index(c.group) for c in plan.components])
    for gi, g in enumerate(plan.groups):
        sel = group_of == gi
        groups[g] = GroupStats(
            int(sel.sum()), int(fail_count[sel].sum()), int(rep_count[sel].sum()),
            float(rep_sum[sel].sum()), float(own_down[sel].sum()),
        )
    return ReplicationRecord(index, t1 - t0, services, own_down_s, groups, len(trace))


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """Simulate and summarise replication ``index`` of ``plan``."""
    start = time.perf_counter()
    trace = simulate_failures(plan, rep_seed)
    record = summarise_trace(plan, trace, index)
    record.wall_s = time.perf_counter() - start
    return record
