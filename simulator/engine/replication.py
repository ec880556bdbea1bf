"""One replication of the failure model: run the control plane, then summarise it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from simulator.engine.control import Trace, simulate_failures
from simulator.engine.plan import Plan
from simulator.metrics.availability import OutageStats

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
    own: dict[str, OutageStats]  # per service, counting only its own quorum
    groups: dict[str, GroupStats]
    events: int
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)  # backend-specific figures

    @property
    def own_down_s(self) -> dict[str, float]:
        """Per service, down time counting only its own quorum."""
        return {name: s.down_s for name, s in self.own.items()}


def summarise_trace(plan: Plan, trace: Trace, index: int) -> ReplicationRecord:
    """Availability and outages of every service, and component statistics, from a trace."""
    from simulator.engine.summary import summarise_traces

    return summarise_traces(plan, [trace], [index])[0]


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """Simulate and summarise replication ``index`` of ``plan``."""
    start = time.perf_counter()
    trace = simulate_failures(plan, rep_seed)
    record = summarise_trace(plan, trace, index)
    record.wall_s = time.perf_counter() - start
    return record
