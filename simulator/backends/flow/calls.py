"""Calls of the flow solution: where each virtual call's attempts go, what they meet,
their retries, back-offs and breakers, and the job of a service (its time and outcome
per virtual request, with the calls it makes).

Each edge's attempts get round trips from the zones their callers' traffic is in, the
callee's queue waits and holding times; a retry draws its own round trip; a replica
that stops loses what it holds (its failure rate over each attempt's hold); a
one-attempt call is also counted as the exact mixture of its outcomes
(:func:`_branches`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulator.backends.flow.model import (
    N_OUT,
    EdgeModel,
    FlowModel,
    M,
    ServiceModel,
)
from simulator.backends.flow.queues import NO_WAIT, Queue, load_aware_dead_share
from simulator.metrics.outcomes import (
    CIRCUIT_OPEN,
    CONNECTION_ERROR,
    DEPENDENCY_FAILURE,
    ERROR,
    SHED,
    SUCCESS,
    TIMEOUT,
)

__all__ = [
    "ATTEMPTS",
    "OUT",
    "CallResult",
    "call_result",
    "caller_origin",
    "job_of",
    "route_of",
    "route_scopes",
]

#: Outcomes of virtual requests are small integers: one byte each keeps the many call
#: results kept between states small (attempt counts: four, retries are unbounded).
OUT = np.int8
ATTEMPTS = np.int32


@dataclass
class CallResult:
    out: np.ndarray  # outcome of each virtual call
    lat: np.ndarray  # its latency
    attempts: np.ndarray  # attempts it made
    attempt_out: np.ndarray  # attempt outcome counts over all virtual calls
    budget_denied: float  # share of calls that wanted a retry the budget refused
    breaker_open: bool = False
    branches: list | None = None  # exact mixture of (weight, out, lat) for the accounting (see _branches)
    _mean_attempts: float | None = None
    _unit: tuple | None = None
    _job_view: tuple | None = None

    @property
    def mean_attempts(self) -> float:
        """Attempts per call (read often; the result is not changed once cached)."""
        if self._mean_attempts is None:
            self._mean_attempts = float(self.attempts.mean())
        return self._mean_attempts


def _rtt_samples(fm: FlowModel, dists: list, weights: np.ndarray, slot: str) -> np.ndarray:
    """RTT of each virtual call: pick a locality by ``weights``, then a value from it."""
    if not dists:
        return np.zeros(M)
    pick = np.searchsorted(np.cumsum(weights) / weights.sum(), fm.pool.b(slot + "/pick"), side="right")
    pick = np.minimum(pick, len(dists) - 1)
    out = np.empty(M)
    for k, d in enumerate(dists):
        sel = pick == k
        if sel.any():
            out[sel] = _ppf(fm, d, slot + "/rtt")[sel] if d is not None else 0.0
    return out


def _ppf(fm: FlowModel, d, slot: str) -> np.ndarray:
    """``d.ppf`` of the uniforms of ``slot`` (the same for every route that reads them)."""
    key = ("ppf", slot, d.key if isinstance(d, _Sum) else id(d))
    got = fm.memo.get(key)
    if got is None:
        got = fm.memo[key] = d.ppf(fm.pool.u(slot))
    return got


class _Sum:
    """A client's RTT to a far region: its last mile plus the inter-region RTT (comonotone)."""

    def __init__(self, a, b) -> None:
        self.a, self.b = a, b
        self.key = (id(a), id(b))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.a.ppf(u) + self.b.ppf(u)


def route_scopes(fm: FlowModel, edge: EdgeModel, state: tuple, entry, origin: dict | None):
    """Where the attempts of ``edge`` may go, per origin: (weight, origin zone or client
    region, the callee zones in scope); and the share that finds no replica in
    rotation. ``origin``: the caller's traffic by zone."""
    callee = fm.services[edge.callee]
    zones = {z: v for z, v in zip(callee.zones, state[edge.callee], strict=True) if v[0] or v[1]}
    out, noroute = [], 0.0
    if entry is not None:
        if entry.shares is None:
            return ([(1.0, None, zones)] if zones else []), (0.0 if zones else 1.0)
        for client, share in entry.shares.items():
            for region in entry.order[client]:
                inside = {z: v for z, v in zones.items() if callee.zone_region[z] == region}
                if inside:
                    out.append((share, client, inside))
                    break
            else:
                noroute += share
        return out, noroute
    caller = fm.services[edge.caller]
    for z, wz in (origin or {}).items():
        if not wz:
            continue
        scope = zones
        if callee.locality == "zone" and z in zones:
            scope = {z: zones[z]}
        elif callee.locality in ("zone", "region"):
            region = caller.zone_region[z]
            scope = {k: v for k, v in zones.items() if callee.zone_region[k] == region} or zones
        if not scope:
            noroute += wz
            continue
        out.append((wz, z, scope))
    return out, noroute


def _rtt(fm: FlowModel, edge: EdgeModel, entry, origin, k: str):
    """The RTT distribution from ``origin`` (a client region or a caller's zone) to zone ``k``."""
    callee = fm.services[edge.callee]
    net = fm.net
    if entry is not None:
        region = callee.zone_region[k]
        return net.client if origin == region else _Sum(net.client, fm.pair_rtt(origin, region))
    if k == origin:
        return net.same_zone
    region = fm.services[edge.caller].zone_region[origin]
    if callee.zone_region[k] == region:
        return net.cross_zone
    return fm.pair_rtt(region, callee.zone_region[k])


def caller_origin(s: ServiceModel, served) -> dict:
    """The caller's traffic by zone; spread over its replicas when it serves none."""
    if served:
        return dict(served)
    n = sum(s.size.values())
    return {z: c / n for z, c in s.size.items()}


def route_of(fm: FlowModel, edge: EdgeModel, state: tuple, entry=None, origin=None):
    """Where an attempt goes: (no route, dead replica) probabilities and RTT samples."""
    if edge.caller is not None:
        origin = caller_origin(fm.services[edge.caller], origin)
    groups, noroute = route_scopes(fm, edge, state, entry, origin)
    dists, weights = [], []
    dead = 0.0
    for share, where, scope in groups:
        in_rot = sum(a + d for a, d in scope.values())
        dead += share * sum(d for _, d in scope.values()) / in_rot
        if where is None:  # no client regions: no round trip
            continue
        if entry is not None:  # a client region: its last mile, plus the way to the region
            dists.append(_rtt(fm, edge, entry, where, next(iter(scope))))
            weights.append(share)
            continue
        alive = sum(a for a, _ in scope.values())
        for k, (a, _) in scope.items():
            if a:
                dists.append(_rtt(fm, edge, None, where, k))
                weights.append(share * a / alive)
    reach = 1.0 - noroute
    p_dead = dead / reach if reach > 0 else 0.0
    rtt = (
        _rtt_samples(fm, dists, np.asarray(weights, dtype=float), f"rtt/{edge.name}")
        if dists
        else np.zeros(M)
    )
    return noroute, p_dead, rtt


def _backoff(spec, k: int, prev: np.ndarray, u: np.ndarray) -> np.ndarray:
    if spec is None:
        return np.zeros(M)
    base, cap = spec.base_s, spec.cap_s
    if spec.jitter == "decorrelated":
        p = np.where(prev > 0, prev, base)
        return np.minimum(cap, base + u * (3.0 * p - base))
    d = min(cap, base * math.pow(2.0, k))
    if spec.jitter == "full":
        return u * d
    if spec.jitter == "equal":
        return d / 2 + u * d / 2
    return np.full(M, d)


def call_result(fm: FlowModel, edge: EdgeModel, route, q: Queue, job, memo: dict) -> CallResult:
    """Every virtual call's attempts, retries and backoffs, then the breaker."""
    noroute, p_dead, rtt = route
    hold, jout = job.hold, job.out
    callee = fm.services[edge.callee]
    ct = callee.connect_timeout
    if p_dead > 0.0 and callee.policy in ("least_outstanding", "power_of_two"):
        p_dead = load_aware_dead_share(p_dead, q, job.mean + float(q.wait.mean()), ct, callee.policy)
        route = (noroute, p_dead, rtt)
    if edge.retries == 0:  # one attempt: its outcome and latency are the call's
        o, t = _attempt(fm, edge, 0, route, q, hold, jout, ct)
        if edge.budget is not None:
            memo["budget_q"] = 1.0
        if edge.breaker is not None:
            result = CallResult(
                o, t, _ONE_ATTEMPT, np.bincount(o, minlength=N_OUT).astype(float), 0.0, _mean_attempts=1.0
            )
            _breaker(fm, edge, result, memo)
            return result
        branches = _branches(fm, edge, route, q, job, ct)
        counts = sum(w * np.bincount(bo, minlength=N_OUT) for w, bo, _ in branches)
        return CallResult(o, t, _ONE_ATTEMPT, counts, 0.0, _mean_attempts=1.0, branches=branches)
    out = np.full(M, -1, dtype=OUT)
    lat = np.zeros(M)
    attempts = np.zeros(M, dtype=ATTEMPTS)
    counts = np.zeros(N_OUT)
    active = np.ones(M, dtype=bool)
    prev = np.zeros(M)
    q_budget = memo.get("budget_q", 1.0)
    wanted = denied = 0
    for k in range(edge.retries + 1):
        o, t = _attempt(fm, edge, k, route, q, hold, jout, ct)
        if k == 0:  # every call makes its first attempt
            attempts[:] = 1
            counts += np.bincount(o, minlength=N_OUT)
            lat += t
            ok = o == SUCCESS
            if k == edge.retries:
                out = o
                break
        else:
            attempts[active] += 1
            counts += np.bincount(o[active], minlength=N_OUT)
            lat[active] += t[active]
            ok = active & (o == SUCCESS)
        out[ok] = SUCCESS
        failed = active & ~ok
        if k == edge.retries:
            out[failed] = o[failed]
            break
        wanted += int(failed.sum())
        allow = failed & (fm.pool.b(f"{edge.name}/budget{k}") < q_budget)
        stop = failed & ~allow
        denied += int(stop.sum())
        out[stop] = o[stop]
        delay = _backoff(edge.backoff, k, prev, fm.pool.u(f"{edge.name}/jitter{k}"))
        lat[allow] += delay[allow]
        prev = np.where(allow, delay, prev)
        active = allow
    if edge.budget is not None:
        memo["budget_q"] = min(1.0, edge.budget.ratio * M / wanted) if wanted else 1.0
    result = CallResult(out, lat, attempts, counts, denied / M)
    if edge.breaker is not None:
        _breaker(fm, edge, result, memo)
    return result


_ONE_ATTEMPT = np.ones(M, dtype=ATTEMPTS)
_ONE_ATTEMPT.flags.writeable = False


def _attempt(fm: FlowModel, edge: EdgeModel, k: int, route, q: Queue, hold, jout, ct: float):
    """Outcome and latency of every virtual call's attempt ``k`` (new arrays). A retry
    draws its own round trip (and the zone it picks): the first attempt's, shuffled
    within each set of virtual requests."""
    noroute, p_dead, rtt = route
    if k:
        rtt = rtt[fm.pool.perm(f"{edge.name}/rtt{k}")]
    perm = fm.pool.perm(f"{edge.name}/a{k}")
    o = jout[perm]  # a copy
    if q.wait is NO_WAIT:
        t = rtt + hold[perm]
    else:
        t = rtt + q.wait[fm.pool.perm(f"{edge.name}/w{k}")] + hold[perm]
    hazard = fm.services[edge.callee].hazard
    if hazard > 0.0:
        o, t = _killed(fm, edge, k, hazard, rtt, o, t)
    if noroute > 0.0 or p_dead > 0.0:
        u = fm.pool.b(f"{edge.name}/route{k}")
        lost = u < noroute
        dead = (~lost) & (u < noroute + (1.0 - noroute) * p_dead)
        o[lost], t[lost] = CONNECTION_ERROR, 0.0
        o[dead], t[dead] = CONNECTION_ERROR, ct
        if q.shed > 0:
            shed = (~lost) & (~dead) & (fm.pool.b(f"{edge.name}/shed{k}") < q.shed)
            o[shed], t[shed] = SHED, rtt[shed]
    elif q.shed > 0:
        shed = fm.pool.b(f"{edge.name}/shed{k}") < q.shed
        o[shed], t[shed] = SHED, rtt[shed]
    if edge.timeout is not None:
        late = t > edge.timeout
        o[late], t[late] = TIMEOUT, edge.timeout
    return o, t


def _killed(fm: FlowModel, edge: EdgeModel, k: int, hazard: float, rtt, o, t):
    """``o``, ``t`` (an attempt's outcomes and latencies) with the attempts whose replica
    stopped while holding them: lost with a connection error, each with probability
    ``1 - exp(-hazard·held)`` (``held``: its wait and service), at a uniform moment of it."""
    held = np.maximum(t - rtt, 0.0)
    p = -np.expm1(-hazard * held)
    u = fm.pool.b(f"{edge.name}/kill{k}")
    kill = u < p
    if kill.any():
        o = np.where(kill, CONNECTION_ERROR, o).astype(o.dtype, copy=False)
        t = np.where(kill, rtt + held * (u / np.where(p > 0, p, 1.0)), t)
    return o, t


def _branches(fm: FlowModel, edge: EdgeModel, route, q: Queue, job, ct: float) -> list:
    """The outcomes of a one-attempt call as an exact mixture, for counting them: the
    attempt finds no route, a dead replica, a full queue, or is served (after a wait,
    or none, when the queue's probability of waiting is known exactly; with an
    application error or without), each with its exact probability, instead of the share of virtual requests that drew it. The
    virtual requests still carry the served attempts' latencies and outcomes (and the
    drawn version of the call, for the callers' requests)."""
    noroute, p_dead, rtt = route
    perm = fm.pool.perm(f"{edge.name}/a0")
    callee = fm.services[edge.callee]
    e = callee.err_rate
    if e:  # the job had no application error, or had one (right after its service time)
        kinds = [(1.0 - e, job.clean_out[perm], job.clean_hold[perm]), (e, _ERRORS, callee.service[perm])]
    else:
        kinds = [(1.0, job.out[perm], job.hold[perm])]
    reach = 1.0 - noroute
    alive = reach * (1.0 - p_dead)
    served = alive * (1.0 - q.shed)
    if q.wait is NO_WAIT:
        waits = [(1.0, 0.0)]
    elif q.p_wait is not None:
        waits = [(1.0 - q.p_wait, 0.0), (q.p_wait, q.wait_if[fm.pool.perm(f"{edge.name}/w0")])]
    else:
        waits = [(1.0, q.wait[fm.pool.perm(f"{edge.name}/w0")])]
    out = [(served * w * we, o, rtt + wait + h) for w, wait in waits for we, o, h in kinds]
    hazard = fm.services[edge.callee].hazard
    if hazard > 0.0:
        out = [(w, *_killed(fm, edge, 0, hazard, rtt, o, t)) for w, o, t in out]
    if noroute > 0.0:
        out.append((noroute, _CONNECTION_ERRORS, _ZERO))
    if p_dead > 0.0:
        out.append((reach * p_dead, _CONNECTION_ERRORS, np.full(M, ct)))
    if q.shed > 0.0:
        out.append((alive * q.shed, _SHEDS, rtt))
    if edge.timeout is not None:
        timed = []
        for w, o, t in out:
            late = t > edge.timeout
            timed.append(
                (w, np.where(late, TIMEOUT, o), np.where(late, edge.timeout, t)) if late.any() else (w, o, t)
            )
        out = timed
    return [b for b in out if b[0] > 0.0]


_CONNECTION_ERRORS = np.full(M, CONNECTION_ERROR, dtype=OUT)
_ERRORS = np.full(M, ERROR, dtype=OUT)
_SHEDS = np.full(M, SHED, dtype=OUT)
_ZERO = np.zeros(M)
for _a in (_CONNECTION_ERRORS, _ERRORS, _SHEDS, _ZERO):
    _a.flags.writeable = False


def _breaker(fm: FlowModel, edge: EdgeModel, r: CallResult, memo: dict) -> None:
    """Open at steady state when the failure rate reaches the threshold: then only the
    half-open trials of each open period pass."""
    b = edge.breaker
    o = r.attempt_out  # the breaker sees every attempt
    fail_rate = 1.0 - o[SUCCESS] / max(float(o.sum()), 1.0)
    if fail_rate < b.failure_rate:
        return
    rate = memo.get("calls", 0.0) * float(r.attempts.mean())
    passing = b.half_open_calls / (rate * b.open_duration_s + b.half_open_calls) if rate > 0 else 1.0
    rejected = fm.pool.b(f"{edge.name}/breaker") >= passing
    r.out = np.where(rejected, CIRCUIT_OPEN, r.out)
    r.lat = np.where(rejected, 0.0, r.lat)
    r.attempts = np.where(rejected, 0, r.attempts)
    r.attempt_out = r.attempt_out * passing
    r.breaker_open = True


class Job(NamedTuple):
    """What a service does with each virtual request (see :func:`job_of`)."""

    hold: np.ndarray  # holding time
    out: np.ndarray  # outcome
    reach: list  # share of requests that reach each call group
    mean: float  # the holding time's mean and variance, for the queue
    var: float
    clean_hold: np.ndarray  # hold and out had no request failed with an application error
    clean_out: np.ndarray


def job_of(fm: FlowModel, s: ServiceModel, calls: dict[str, CallResult], call_keys: list) -> Job:
    """Holding time and outcome of each virtual request served by ``s``, the share of
    them that reach each call group (a failed required call stops the request), the
    holding time's mean and variance, and the same holding times and outcomes had no
    request failed with an application error (for the exact mixture of a one-attempt
    call: an application error is decided when the service time ends, before any call).

    Built group by group; what the first groups give is kept by their calls' keys, so
    a change in a later call (a busier queue downstream) starts from there."""
    memo = fm.memo
    ends = s.group_ends
    start, hold, out, reach = 0, s.service, _SUCCESSES, []
    for g in range(len(s.groups) - 1, 0, -1):
        got = memo.get(("job part", s.index, tuple(call_keys[: ends[g - 1]])))
        if got is not None:
            start, (hold, out, reach) = g, got
            break
    for g in range(start, len(s.groups)):
        act = out == SUCCESS
        reach = [*reach, np.count_nonzero(act) / M]
        glat, gfail = None, None
        for e in s.groups[g]:
            lat, fail = _job_view(fm, e, calls[e.name])
            glat = lat if glat is None else np.maximum(glat, lat)
            if not e.optional:
                gfail = fail if gfail is None else gfail | fail
        hold = hold + np.where(act, glat, 0.0)
        if gfail is not None:
            out = np.where(act & gfail, DEPENDENCY_FAILURE, out)
        if g + 1 < len(s.groups):
            memo[("job part", s.index, tuple(call_keys[: ends[g]]))] = (hold, out, reach)
    # the moments the queue uses: the service time's exact ones plus the calls' (drawn,
    # independent of it), so a queue without calls has exact parameters
    e = s.err_rate
    calls_t = hold - s.service
    mean = s.service_mean + (1.0 - e) * float(calls_t.mean())
    var = s.service_var + (1.0 - e) * float(calls_t.var())
    if not e:
        return Job(hold, out, reach, mean, var, hold, out)
    failed = _errors(fm, s)
    drawn_out = np.where(failed, ERROR, out).astype(OUT, copy=False)
    drawn_hold = np.where(failed, s.service, hold)
    return Job(drawn_hold, drawn_out, [r * (1.0 - e) for r in reach], mean, var, hold, out)


_SUCCESSES = np.full(M, SUCCESS, dtype=OUT)
_SUCCESSES.flags.writeable = False


def _errors(fm: FlowModel, s: ServiceModel) -> np.ndarray:
    """Which virtual requests ``s`` fails with an application error (drawn once)."""
    key = ("job errors", s.index)
    got = fm.memo.get(key)
    if got is None:
        got = fm.memo[key] = fm.pool.b(f"err/{s.name}") < s.err_rate
    return got


def _job_view(fm: FlowModel, e: EdgeModel, r: CallResult) -> tuple[np.ndarray, np.ndarray]:
    """The latencies and failures of ``r`` in the order the caller's requests meet them
    (kept with the call result: the same call serves many jobs)."""
    if r._job_view is None:
        idx = fm.pool.perm(f"job/{e.name}")
        r._job_view = (r.lat[idx], r.out[idx] != SUCCESS)
    return r._job_view
