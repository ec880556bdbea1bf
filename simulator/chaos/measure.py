"""What one chaos replication measured: per-fault recovery figures, probes, metastability.

Definitions (all times in seconds from the fault's start):

- *detect*: the first reaction of the system that concerns the fault: a balancer
  taking an affected replica out of rotation, a circuit breaker opening on a call to
  an affected service, a DNS record changing (zone, region, provider faults and
  partitions), a datastore failover starting, an autoscaler scaling up an affected
  service (any service, for a traffic spike).
- *failover*: when traffic had stopped going to what broke: the last of the
  affected replicas that went down leaving rotation, a datastore promotion, a DNS
  change plus its TTL (all clients moved). ``None`` when nothing had to move.
- *recover*: the SLI (every steady-state probe, bin by bin) back inside tolerance and
  staying there for ``settle``; ``None`` if it never does before the end of the run.
- *failed requests*: entry requests that arrived from the fault's start until it
  recovered (or the end) and did not succeed; *error budget*: those as a share of the
  budget of a 30-day month at the success-ratio target and the mean traffic rate.
- *data lost*: seconds of acknowledged writes lost by datastore promotions after a
  primary that failed while the fault was on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.chaos.compile import Experiment, Step
from simulator.chaos.spec import ProbeSpec
from simulator.metrics.histogram import quantiles
from simulator.metrics.timeline import Timeline, recovery_time

__all__ = ["bin_values", "window_values", "step_figures", "metastability", "windows", "BUDGET_WINDOW_S"]

#: The error budget's window: 30 days, the usual SLO period (not the calendar month of the cost figures).
BUDGET_WINDOW_S = 30 * 86400.0
_Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


def bin_values(tl: Timeline, probe: ProbeSpec) -> np.ndarray:
    """The probe's SLI in every bin (NaN where there were no requests)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if probe.sli == "success_ratio":
            return tl.success_ratio()
        if probe.sli == "error_ratio":
            return 1.0 - tl.success_ratio()
        q = tl.quantile(_Q[probe.sli])
        return np.where((tl.requests > 0) & (tl.success == 0), np.inf, q)  # nothing succeeded: unbounded


def window_values(tl: Timeline, probe: ProbeSpec, lo: float, hi: float) -> float:
    """The probe's SLI pooled over the bins starting in ``[lo, hi)``."""
    t = tl.times
    sel = (t >= lo - 1e-9) & (t < hi - 1e-9)
    if not sel.any():
        return math.nan
    req, ok = tl.requests[sel].sum(), tl.success[sel].sum()
    if probe.sli in ("success_ratio", "error_ratio"):
        if req == 0:
            return math.nan
        return ok / req if probe.sli == "success_ratio" else 1.0 - ok / req
    hist = tl.latency[sel].astype(float).sum(axis=0)
    if hist.sum() == 0:
        return math.inf if req > 0 else math.nan  # requests came and none succeeded
    return float(quantiles(hist, _Q[probe.sli])[0])


def windows(exp: Experiment) -> dict[str, tuple[float, float]]:
    """Where the steady state is probed: before the first fault, while faults are on, after."""
    first = exp.first_start_s
    last = exp.trigger_end_s
    width = exp.plan.timeline_s
    before = (max(0.0, first - 1800.0), first)
    after_lo = min(last + exp.plan.settle_s, exp.end_s - width)
    return {"before": before, "during": (first, max(last, first + width)), "after": (after_lo, exp.end_s)}


def good_bins(tl: Timeline, probes: tuple[ProbeSpec, ...]) -> np.ndarray:
    good = np.ones(len(tl.requests), dtype=bool)
    for probe in probes:
        values = bin_values(tl, probe)
        good &= np.array([probe.ok(v) for v in values], dtype=bool)
    return good


def _affected(exp: Experiment, step: Step, targets: list[str]) -> tuple[set[str], set[str]]:
    """(services, replica names) a step's targets touch."""
    top = exp.topology
    zones = top.zones()
    services: set[str] = set()
    replicas: set[str] = set()
    unit = step.unit
    for s, svc in top.services.items():
        for zone, count in svc.replicas.items():
            p, region = zones[zone]
            for i in range(count):
                name = f"{s}/{zone}/{i}"
                hit = (
                    (unit == "replica" and f"replica/{name}" in targets)
                    or (unit == "zone" and f"zone/{zone}" in targets)
                    or (unit == "region" and f"region/{region}" in targets)
                    or (unit == "provider" and f"provider/{p}" in targets)
                    or (unit == "service" and f"service/{s}" in targets)
                    or (unit == "pair" and (zone in targets or region in targets))
                )
                if hit:
                    services.add(s)
                    replicas.add(name)
    if unit == "entry":
        services |= {t.entry for t in top.traffic if f"entry/{t.label}" in targets}
    return services, replicas


def step_figures(
    exp: Experiment, step: Step, targets: list[str], tl: Timeline, events: list[tuple[float, str, str]],
    good: np.ndarray, losses: list[tuple[str, float, float, float]], ttl: float, budget_requests: float,
) -> dict[str, Any]:
    """Detection, failover, recovery, failed requests, error budget and data lost of one step."""
    start = step.start_s
    end = min(step.end_s, exp.end_s)
    services, replicas = _affected(exp, step, targets)
    network = step.unit in ("zone", "region", "provider", "pair")

    def concerns(kind: str, subject: str) -> bool:
        if kind == "rotation_out":
            return subject in replicas
        if kind == "breaker_open":
            return subject.rsplit("->", 1)[-1] in services
        if kind == "dns_switch":
            return network
        if kind == "failover_start":
            return subject in services
        if kind == "scale_up":
            return step.spec.fault == "traffic_spike" or subject.split(":", 1)[0] in services
        return False

    detect = next((t - start for t, k, s in events if t >= start and concerns(k, s)), None)
    moved = []
    went_down = {s for t, k, s in events if k == "rotation_out" and start <= t <= end and s in replicas}
    outs = [t for t, k, s in events if k == "rotation_out" and start <= t <= end and s in went_down]
    if outs:
        moved.append(max(outs))
    promos = [t for t, k, s in events if k == "promoted" and t >= start and s.split("/", 1)[0] in services]
    if promos:
        moved.append(promos[0])
    switches = [t for t, k, _s in events if k == "dns_switch" and start <= t <= end]
    if switches and network:
        moved.append(max(switches) + ttl)
    failover = max(moved) - start if moved else None
    recover = recovery_time(tl.times, good, start, exp.plan.settle_s)
    stop = start + recover if recover is not None else exp.end_s
    sel = (tl.times >= start - 1e-9) & (tl.times < max(stop, start + tl.width_s) - 1e-9)
    failed = float((tl.requests[sel] - tl.success[sel]).sum())
    lost = sum(lag for svc, t_fail, _t_prom, lag in losses if svc in services and start <= t_fail <= end)
    return {
        "start_s": start,
        "end_s": end,
        "targets": targets,
        "detect_s": detect,
        "failover_s": failover,
        "recover_s": recover,
        "failed_requests": failed,
        "error_budget": failed / budget_requests if budget_requests > 0 else math.nan,
        "data_lost_s": float(lost),
    }


def metastability(exp: Experiment, tl: Timeline) -> dict[str, Any]:
    """Whether goodput stayed collapsed after every fault ended, with the evidence."""
    spec = exp.plan.metastability
    trigger_end = exp.trigger_end_s
    out: dict[str, Any] = {"trigger_end_s": trigger_end, "metastable": False, "collapsed_for_s": 0.0}
    if trigger_end >= exp.end_s:
        out["note"] = "a fault lasts to the end of the run"
        return out
    ratio = tl.success_ratio()
    t = tl.times
    first = int(np.searchsorted(t, trigger_end - 1e-9))
    run = 0
    for i in range(first, len(t)):
        if ratio[i] == ratio[i] and ratio[i] < spec.below:
            run += 1
        else:
            break
    collapsed = run * tl.width_s
    lo, hi = windows(exp)["before"]
    sel_before = (t >= lo) & (t < hi)
    sel_after = (t >= trigger_end - 1e-9) & (t < trigger_end + spec.after_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = tl.success[sel_before].sum() / tl.requests[sel_before].sum() if sel_before.any() else math.nan
        after = tl.success[sel_after].sum() / tl.requests[sel_after].sum() if sel_after.any() else math.nan
    out.update(
        metastable=bool(collapsed > spec.after_s),
        collapsed_for_s=float(collapsed),
        still_collapsed_at_end=bool(first + run >= len(t) and run > 0),
        success_ratio_before=float(before),
        success_ratio_after=float(after),
        goodput_after_per_s=float(tl.success[sel_after].sum() / max(spec.after_s, 1e-9)),
        goodput_before_per_s=float(tl.success[sel_before].sum() / max(hi - lo, 1e-9)),
    )
    return out
