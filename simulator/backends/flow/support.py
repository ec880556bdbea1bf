"""What the ``flow`` backend does not represent, found by the differential test against
``requests`` (``tests/differential.py``): ``auto`` keeps simulating every request for a
model with one of these, and says why.

- **Uneven load.** Flow queues a service's load evenly over its alive replicas; with
  ``locality`` or client regions some replicas may get much more than others (3
  replicas of the caller in zone a and 1 in b, the callee with 1 in a and 3 in b:
  the zone-a replica gets 3× the mean). Flow's latencies are then those of the mean
  load, far below the overloaded replica's. Only where it matters: a replica at
  ``UNEVEN_RHO`` or more, or whose Erlang C wait adds ``LATENCY_SHIFT`` to the
  service's latency over the average replica's.
- **Traffic beyond capacity at its peak.** A spike (or a diurnal peak) that takes a
  service past its capacity leaves flow's fluid backlog, one wait for every request
  waiting, where ``requests`` has a spread of waits and a caller whose workers are all
  held: timeouts and deadlines during the backlog come out far off in both directions
  (generated topology 99: timeouts 5.4 % on ``requests``, 0.3 % on flow; topology 11:
  6.4 % against 55 %).
- **A circuit breaker in front of a service that saturates when a replica is lost.**
  The breaker of ``requests`` judges a window of calls: near saturation their failures
  come in bursts that trip it, it rejects for its open duration and so sheds the load
  that caused them. Flow's breaker opens only at a steady failure share above its
  threshold, so it stays closed and the saturated service collapses into timeouts
  instead (generated topology 109: request availability 0.70 on ``requests``, 0.96 on
  flow).
"""

from __future__ import annotations

import math
from collections import defaultdict

from simulator.backends.requests.traffic import RateFunction
from simulator.graph import dependency_order
from simulator.metrics.queueing import erlang_c
from simulator.model.spec import Topology

__all__ = ["LATENCY_SHIFT", "UNEVEN_RHO", "unrepresented", "zone_loads"]

#: Flow queues a service's average load: a hotter replica at this utilization or more,
#: or whose mean wait adds this share to the service's latency, is beyond it.
UNEVEN_RHO = 0.95
LATENCY_SHIFT = 0.05


def _spread(replicas: dict[str, int], within: set[str] | None = None) -> dict[str, float]:
    """Shares over ``replicas``' zones (restricted to ``within`` when it has any), by count."""
    pick = {z: n for z, n in replicas.items() if within is None or z in within}
    if not pick:
        pick = dict(replicas)
    total = sum(pick.values())
    return {z: n / total for z, n in pick.items()}


def zone_loads(model: Topology) -> dict[str, dict[str, float]]:
    """Each service's calls per second served in each zone, with no failures: traffic
    from client regions goes to the callee's replicas in that region when it has some,
    calls with ``locality`` stay in the caller's zone or region when the callee has
    replicas there; everything else spreads by replica count."""
    region_of = {z: r for z, (_, r) in model.zones().items()}
    by_region: dict[str, set[str]] = defaultdict(set)
    for z, r in region_of.items():
        by_region[r].add(z)
    arrivals: dict[str, dict[str, float]] = {s: defaultdict(float) for s in model.services}
    for t in model.traffic:
        reps = model.services[t.entry].replicas
        clients = t.from_ or {None: 1.0}
        for region, share in clients.items():
            within = by_region.get(region) if region is not None else None
            for z, f in _spread(reps, within).items():
                arrivals[t.entry][z] += t.rate_per_s * share * f
    for name in reversed(dependency_order(model)):  # callers first
        svc = model.services[name]
        total = sum(arrivals[name].values())
        if total <= 0:
            continue
        for call in svc.calls:
            callee = model.services[call.service]
            for z, rate in arrivals[name].items():
                loc = callee.load_balancer.locality
                within = None
                if loc == "zone" and z in callee.replicas:
                    within = {z}
                elif loc in ("zone", "region"):
                    within = by_region[region_of[z]] if z in region_of else None
                for k, f in _spread(callee.replicas, within).items():
                    arrivals[call.service][k] += rate * f
    return {name: dict(got) for name, got in arrivals.items()}


def _holding(model: Topology) -> dict[str, float]:
    """Each service's mean time per request with no waiting: its service time and its
    calls' (in turn)."""
    out: dict[str, float] = {}
    for name in dependency_order(model):  # callees first
        svc = model.services[name]
        own = svc.service_time.mean if svc.service_time is not None else 0.0
        out[name] = own + sum(out[c.service] for c in svc.calls)
    return out


def _mean_wait(c: int, rho: float, hold: float) -> float:
    """Erlang C mean wait of a replica with ``c`` workers at utilization ``rho``."""
    if rho >= 1.0:
        return math.inf
    return erlang_c(c, c * rho) * hold / (c * (1.0 - rho))


def _peak(model: Topology) -> float:
    """The largest multiple of its mean rate any traffic entry reaches (diurnal peak
    times the spikes then in force, as the arrival processes bound it)."""
    return max((max(RateFunction(t).bounds) / t.rate_per_s for t in model.traffic), default=1.0)


def _utilization(model: Topology, loads: dict, hold: dict, name: str) -> float:
    svc = model.services[name]
    servers = sum(svc.replicas.values()) * svc.workers
    return sum(loads[name].values()) * hold[name] / servers if servers > 0 else 0.0


def _saturating(model: Topology, loads: dict, hold: dict) -> list[str]:
    """Services past their capacity at the traffic's peak, and calls with a breaker into
    a service past it with one replica lost when its replicas fail."""
    peak = _peak(model)
    out = []
    for name in model.services:
        rho = _utilization(model, loads, hold, name) * peak
        if peak > 1.0 and rho >= 1.0:
            out.append(
                f"traffic beyond capacity: {name} reaches {rho:.0%} utilization at the traffic's peak; "
                "flow's fluid backlog gives every waiting request one wait, so timeouts during it are off"
            )
    for name, svc in model.services.items():
        for call in svc.calls:
            callee = model.services[call.service]
            n = sum(callee.replicas.values())
            if call.circuit_breaker is None or callee.failure is None or n < 2:
                continue
            lost = _utilization(model, loads, hold, call.service) * n / (n - 1)
            if lost >= 1.0:
                out.append(
                    f"circuit breaker on {name} -> {call.service}: {call.service} saturates with one replica "
                    f"lost ({lost:.0%} utilization); requests' breaker trips on the bursts and sheds load, "
                    "flow's stays closed"
                )
    return out


def unrepresented(model: Topology) -> tuple[str, ...]:
    """Why ``flow`` would not reproduce ``requests`` on ``model`` (empty: it would)."""
    reasons = []
    hold = _holding(model)
    loads = zone_loads(model)
    reasons += _saturating(model, loads, hold)
    for name, rates in loads.items():
        svc = model.services[name]
        total = sum(rates.values())
        if total <= 0 or hold[name] <= 0:
            continue
        mean_rho = _utilization(model, loads, hold, name)
        zone = max((z for z in rates if svc.replicas.get(z)), key=lambda z: rates[z] / svc.replicas[z])
        hot_rho = rates[zone] / svc.replicas[zone] * hold[name] / svc.workers
        if hot_rho <= mean_rho * (1 + 1e-9):
            continue
        w_mean, w_hot = (_mean_wait(svc.workers, r, hold[name]) for r in (mean_rho, hot_rho))
        if hot_rho >= UNEVEN_RHO or w_hot - w_mean > LATENCY_SHIFT * (hold[name] + w_mean):
            reasons.append(
                f"uneven load: {name}'s replicas in {zone} run at {hot_rho:.0%} utilization against "
                f"{mean_rho:.0%} on average (locality or client regions); flow queues the average"
            )
    return tuple(reasons)
