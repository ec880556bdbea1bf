"""How much memory and time a run will take, estimated from its size before it starts.

A run is refused (:class:`RunTooLarge`, one line naming the file, the estimate and the
option that raises the limit) when its estimated peak memory exceeds ``max_memory``
(default: the memory the machine has available) or its estimated time exceeds
``max_time`` (default :data:`MAX_TIME_S`, six hours). The size of the work is read off
the compiled plan:

- *events*: every failing component alternates up and down, ``2 · end / (E[up] + E[down])``
  state changes per replication (the fast path holds a chunk's event arrays at once);
- *requests* (``requests`` backend and chaos plans): entry rate × time × calls per request;
- *flow*: the traffic grid (one cell a minute over the whole horizon when the rate
  varies), and, when a service's demand exceeds its capacity, the fluid backlog stepped
  second by second;
- *records*: every replication's record stays in memory until the result is built
  (a few kB each; traffic backends keep latency histograms per scope).

The constants were measured on this project's development machine (2 shared cores,
Python 3.11, numpy 2.4) with serial runs of the bundled topologies (wall time, peak RSS;
the interpreter with its imports is about 130 MB): fast ≈ 1 µs and 200 B per event of a
chunk; engine ≈ 6 µs per event; requests ≈ 15 µs per request (attempts at every
service); flow ≈ 0.1 ms per state change plus 0.4 µs and 110 B per traffic-grid cell,
and an overloaded flow ≈ 0.24 ms and 240 B per backlogged second. Estimate against
measurement (serial):

=====================================  ===================  ===================
run                                    estimate             measured
=====================================  ===================  ===================
three-tier, fast, 2000 × 1y            0.85 s, 156 MB       0.60 s, 143 MB
three-tier, fast, 20 × 100y            0.76 s, 301 MB       1.14 s, 290 MB
shop-two-regions, fast, 2000 × 1y      1.20 s, 157 MB       1.12 s, 156 MB
three-tier, engine, 20 × 10y           0.45 s, 151 MB       0.30-0.35 s, 132 MB
three-tier, flow, 2 × 10y              5.0 s, 729 MB        4.1-5.1 s, 730 MB
shop-two-regions, flow, 10 × 1y        2.7 s, 209 MB        1.2-1.5 s, 235 MB
storefront-ha, flow, 4 × 1y            0.95 s, 208 MB       1.8 s, 258 MB
three-tier, flow, 1 × 1d at 1M/s       21 s, 180 MB         9.6-22 s, 233 MB
three-tier, requests, 1 × 10m          5.2 s, 150 MB        4.63 s, 131 MB
=====================================  ===================  ===================

Estimates are meant to be right within a factor of about three: enough to refuse what
cannot fit, not a forecast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from simulator.errors import ModelError, SimulatorError
from simulator.graph import dependency_order
from simulator.units import UnitError, format_duration, parse_bytes, parse_duration

__all__ = [
    "Budget", "RunTooLarge", "MAX_TIME_S", "MAX_COMPONENTS", "available_memory", "estimate", "check",
    "check_all", "check_model", "limits", "format_bytes", "memory_guard",
    "estimate_requests",
]

#: Default ``max_time``: a run estimated longer is refused unless the limit is raised.
MAX_TIME_S = 6 * 3600.0
#: A topology with more components (providers, regions, zones, replicas) than this is refused.
MAX_COMPONENTS = 1_000_000

_BASE_BYTES = 150e6  # the interpreter with numpy, scipy, simpy, networkx, pandas imported
_COMPONENT_BYTES = 3e3  # a component in the spec, the graph and the plan
_FAST_EVENT = (1.0e-6, 200.0)  # seconds, bytes per event of a chunk in flight
_ENGINE_EVENT_S = 6e-6
_REQUEST_S = 15e-6
_FLOW_EVENT_S = 100e-6
_FLOW_CELL = (4e-7, 110.0)  # per traffic-grid cell
_FLOW_BACKLOG = (240e-6, 240.0)  # per second stepped with a backlog
_RECORD_BYTES = 1.5e3  # a replication's record without traffic
_TRAFFIC_SCOPE_BYTES = 25e3  # histograms and request figures per scope and replication
_REPLICATION_S = 50e-6  # fixed cost per replication (seeding, summary)


class RunTooLarge(SimulatorError):
    """The run would take too long or need too much memory; the message says how much
    and which option raises the limit."""


@dataclass(frozen=True)
class Budget:
    """A run's estimated peak memory (bytes) and wall time (seconds), and what they count."""

    memory_bytes: float
    seconds: float
    work: str

    def describe(self) -> str:
        return f"{self.work}: about {format_bytes(self.memory_bytes)} and {format_duration(self.seconds)}"


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def available_memory() -> float:
    """Memory the machine (or this process's cgroup) can still give, in bytes."""
    avail = math.inf
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
    except OSError:
        try:
            avail = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            text = fh.read().strip()
        if text != "max":
            with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
                avail = min(avail, float(text) - float(fh.read().strip()))
    except (OSError, ValueError):
        pass
    return avail


def _events(plan: Any) -> float:
    """State changes of every failing component in one replication."""
    total = 0.0
    for c in plan.components:
        if c.fails:
            cycle = c.ttf.mean * c.ttf_scale + c.ttr.mean
            total += 2.0 * plan.end_s / cycle if cycle > 0 and math.isfinite(cycle) else 0.0
    return total


def _visits(top: Any, entry: str) -> dict[str, float]:
    """Calls each service receives per request at ``entry`` (retries not counted),
    passed down the call graph callers first (linear in its size, however it fans out)."""
    visits = {entry: 1.0}
    for service in reversed(dependency_order(top)):  # callers first
        weight = visits.get(service, 0.0)
        if weight:
            for call in top.services[service].calls:
                visits[call.service] = visits.get(call.service, 0.0) + weight
    return visits


def estimate_requests(plan: Any, replications: int) -> float:
    """Roughly how many requests (attempts at every service) a ``requests`` run simulates."""
    from simulator.backends.requests.traffic import RateFunction

    top = plan.topology
    total = 0.0
    for spec in top.traffic:
        rate = RateFunction(spec).mean_rate(0.0, plan.end_s)
        total += rate * plan.end_s * sum(_visits(top, spec.entry).values())
    return total * replications


def _overloaded(plan: Any) -> float:
    """The share of the time some service's demand exceeds its capacity (rough: 1 when
    the mean rate does, 1/2 when only the peak does)."""
    from simulator.backends.requests.traffic import RateFunction

    top, share = plan.topology, 0.0
    mean_load: dict[str, float] = {}
    peak_load: dict[str, float] = {}
    for spec in top.traffic:
        rf = RateFunction(spec)
        peak = max(rf.bounds) if rf.bounds else rf.base
        for service, v in _visits(top, spec.entry).items():
            mean_load[service] = mean_load.get(service, 0.0) + rf.base * v
            peak_load[service] = peak_load.get(service, 0.0) + peak * v
    for service, load in peak_load.items():
        svc = top.services[service]
        if svc.service_time is None or svc.service_time.mean <= 0:
            continue
        capacity = svc.replica_count * svc.workers / svc.service_time.mean
        if mean_load[service] > capacity:
            return 1.0
        if load > capacity:
            share = 0.5
    return share


def _flow_cells(plan: Any) -> float:
    from simulator.backends.requests.traffic import RateFunction

    if all(RateFunction(spec).homogeneous for spec in plan.topology.traffic):
        return 0.0
    step = min(60.0, max(1.0, plan.end_s / 200_000))
    return plan.end_s / step


def estimate(plan: Any, backend: str, replications: int, slots: int = 1) -> Budget:
    """Estimated peak memory and wall time of ``replications`` of ``plan`` on ``backend``
    with ``slots`` workers (memory: every worker's share plus the records kept)."""
    n, slots = int(replications), max(1, int(slots))
    events = _events(plan)
    scopes = len(plan.services) + 1
    base = _BASE_BYTES + _COMPONENT_BYTES * len(plan.components)
    record = _RECORD_BYTES + 0.2 * events
    per_rep_s, in_flight = _REPLICATION_S, 0.0
    if backend == "fast":
        chunk = min(n, 32 if slots == 1 else max(1, min(256, -(-n // slots))))
        per_rep_s += events * _FAST_EVENT[0]
        in_flight = chunk * events * _FAST_EVENT[1]
        work = f"{n} replications × {events:.3g} failure events"
    elif backend == "engine":
        per_rep_s += events * _ENGINE_EVENT_S
        in_flight = events * _FAST_EVENT[1]
        work = f"{n} replications × {events:.3g} failure events"
    elif backend == "flow":
        cells, backlog = _flow_cells(plan), _overloaded(plan) * plan.end_s
        per_rep_s += events * _FLOW_EVENT_S + cells * _FLOW_CELL[0] + backlog * _FLOW_BACKLOG[0]
        in_flight = cells * _FLOW_CELL[1] + backlog * _FLOW_BACKLOG[1]
        record += _TRAFFIC_SCOPE_BYTES * scopes
        work = f"{n} replications × {format_duration(plan.end_s)} on flow"
        if backlog:
            work += f" with {format_duration(backlog)} of overload (demand above capacity)"
    else:  # requests, chaos: every request
        requests = estimate_requests(plan, 1)
        per_rep_s += requests * _REQUEST_S + events * _ENGINE_EVENT_S
        in_flight = events * _FAST_EVENT[1]
        record += _TRAFFIC_SCOPE_BYTES * scopes
        work = f"{n} replications × {requests:.3g} requests"
    memory = base + slots * (base + in_flight) * (slots > 1) + in_flight * (slots == 1) + n * record
    return Budget(memory_bytes=memory, seconds=n * per_rep_s / min(slots, n), work=work)


def check(budget: Budget, source: str, max_memory: float | None, max_time: float | None) -> None:
    """Refuse ``budget`` (raise :class:`RunTooLarge`) above either limit (``None``: no limit)."""
    if max_memory is not None and budget.memory_bytes > max_memory:
        raise RunTooLarge(
            f"{source}: this run would need {budget.describe()} (memory limit {format_bytes(max_memory)}); "
            "lower --replications or --horizon, or pass --max-memory to allow it"
        )
    if max_time is not None and budget.seconds > max_time:
        raise RunTooLarge(
            f"{source}: this run would take {budget.describe()} (time limit {format_duration(max_time)}); "
            "lower --replications or --horizon, or pass --max-time to allow it"
        )


def check_all(budgets: list[Budget], source: str, max_memory: float | None, max_time: float | None) -> None:
    """Refuse runs that go together (a sweep's variants) above the limits, summed."""
    if len(budgets) > 1:
        total = Budget(sum(b.memory_bytes for b in budgets) - (len(budgets) - 1) * _BASE_BYTES,
                       sum(b.seconds for b in budgets), f"{len(budgets)} variants")
        check(total, source, max_memory, max_time)


def check_model(model: Any, max_memory: float | None = None) -> None:
    """Refuse a topology whose components alone cannot be built (before anything is compiled)."""
    n = sum(1 for _ in model.zones()) + sum(s.replica_count for s in model.services.values())
    need = _BASE_BYTES + _COMPONENT_BYTES * n
    limit = available_memory() if max_memory is None else max_memory
    if n > MAX_COMPONENTS or need > limit:
        raise RunTooLarge(
            f"{model.source or model.name}: services.*.replicas: {n:.3g} components would need about "
            f"{format_bytes(need)} to build (at most {MAX_COMPONENTS:.0e} components, "
            f"{format_bytes(limit)} available); use fewer replicas"
        )


def limits(max_memory: float | str | None, max_time: float | str | None) -> tuple[float | None, float | None]:
    """Parse the limits: a size (``8GB``) or seconds / a duration (``2h``); ``"none"``
    lifts a limit; ``"auto"`` is the default (available memory, :data:`MAX_TIME_S`)."""
    def one(value: Any, default: float, parse: Any, what: str) -> float | None:
        if value is None or value == "auto":
            return default
        if isinstance(value, str) and value.strip().lower() in ("none", "off", "inf"):
            return None
        try:
            return float(value) if isinstance(value, (int, float)) else parse(value)
        except UnitError as exc:
            raise ModelError(str(exc), (what,)) from None

    return (one(max_memory, available_memory(), parse_bytes, "max_memory"),
            one(max_time, MAX_TIME_S, parse_duration, "max_time"))


@contextmanager
def memory_guard(source: str) -> Iterator[None]:
    """Turn a ``MemoryError`` (here or in a worker) into a one-line :class:`RunTooLarge`."""
    try:
        yield
    except MemoryError:
        raise RunTooLarge(
            f"{source}: ran out of memory (the estimate was too low for this run); "
            "lower --replications, --horizon or --workers"
        ) from None
