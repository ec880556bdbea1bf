"""The flow solution of one state: rates, outcome shares, latencies, queues.

A *state* is, per service and zone, how many replicas in rotation are alive and how
many are dead (the balancer does not know yet), plus each entry's arrival rate. For
it, the solver finds a fixed point: arrival rates of attempts at each service
(callers' calls times their retries) determine each service's queue (M/M/c with an
Allen-Cunneen correction for the holding-time variability, or M/M/c/K with a queue
limit), which with the service time and the calls it makes determines each call's
outcome and latency, which determines the retries. ``M`` virtual requests carry the
distributions: sums of independent parts pair their samples through fixed
permutations.

Approximations (the ``requests`` backend is exact): waiting times are M/M/c-shaped
(exponential, scaled by the Allen-Cunneen factor (ca² + cs²) / 2: cs² of the holding
time, ca² = 1 for random routing, 1/n for round robin over n replicas; least
outstanding and power of two are taken as one pooled queue); for queueing, load is
spread evenly over the alive replicas in rotation whatever the locality (round trips
follow where traffic really goes: :func:`zone_shares`);
a call inherits no deadline from its request (only the entry applies it); a circuit
breaker is either closed or cycling open/half-open at its steady pass rate; a retry
budget thins retries evenly. A service whose load exceeds its capacity has no steady
state: the solution flags it and the caller steps a fluid queue instead.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from simulator.backends.flow.model import (
    N_OUT,
    SCALARS,
    SET_HISTS,
    SET_OF,
    SET_SIZE,
    SET_SUCCESS,
    SETS,
    EdgeModel,
    FlowModel,
    M,
    ServiceModel,
)
from simulator.metrics.histogram import _INV_LOG_R, _LOG_LO, BUCKETS, LO
from simulator.metrics.outcomes import (
    CIRCUIT_OPEN,
    CONNECTION_ERROR,
    DEPENDENCY_FAILURE,
    ERROR,
    SHED,
    SUCCESS,
    TIMEOUT,
)
from simulator.metrics.queueing import erlang_c, mmck_probabilities
from simulator.metrics.virtual import COARSE, COARSE_BUCKETS

__all__ = ["Solution", "solve"]

MAX_ITERATIONS = 12
#: Outcomes of virtual requests are small integers: one byte each keeps the many call
#: results kept between states small (attempt counts: four, retries are unbounded).
_OUT = np.int8
_ATTEMPTS = np.int32


@dataclass
class Queue:
    """What an arriving attempt meets at one service."""

    in_rotation: int
    alive: int
    wait: np.ndarray  # M waiting-time samples for an admitted attempt
    shed: float  # probability an alive replica's queue is full
    busy: float  # average busy workers, all replicas
    waiting: float  # average requests waiting, all replicas
    overloaded: bool = False
    arrival_alive: float = 0.0
    capacity: float = 0.0
    p_wait: float | None = None  # the exact probability of waiting, when the formula gives it
    wait_if: np.ndarray | None = None  # then: M waiting-time samples of an attempt that waits


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


@dataclass
class Solution:
    """Per-second rates of one state (see the module docstring), in the layout
    ``FlowModel.layout`` describes: the scalar figures (every scope's counts, every
    edge's) as one dense vector at ``Layout.fixed``, and the latency histograms as
    terms: ids of (scope, call result histogram) pairs in ``Layout.hists`` and their
    calls per second / M. A call result is shared by many states and rates, so totals
    add each histogram once, with the sum of its coefficients."""

    fixed: np.ndarray  # the figures at ``Layout.fixed``
    hist_ids: np.ndarray  # ids in ``Layout.hists``
    hist_coefs: np.ndarray  # and their coefficients
    layout: object
    busy: list = field(default_factory=list)  # average busy workers of each service
    overloaded: dict = field(default_factory=dict)  # service -> (alive arrivals/s, capacity/s)
    flows: dict = field(default_factory=dict)  # every service -> (arrivals/s, capacity/s) of its backlogged pool
    timeline: tuple | None = None  # per-second timeline figures, filled when first needed

    def dense(self) -> np.ndarray:
        """Every figure, laid out as ``FlowModel.layout`` says."""
        v = np.zeros(self.layout.size)
        v[self.layout.fixed] = self.fixed
        self.layout.add_hists(v, self.hist_ids, self.hist_coefs)
        return v


_NO_WAIT = np.zeros(M)
_NO_WAIT.flags.writeable = False


def _queue(fm: FlowModel, s: ServiceModel, lam: float, zones: tuple, job: tuple, wait: tuple | None) -> Queue:
    """The queue of ``s``. ``wait``: a fluid backlog, as (the wait it causes, the share
    of alive replicas holding it); replicas that joined since have empty queues."""
    in_rot = sum(a + d for a, d in zones)
    alive = sum(a for a, _ in zones)
    if in_rot == 0 or alive == 0:
        return Queue(in_rot, alive, np.zeros(M), 0.0, 0.0, 0.0)
    lam_alive = lam * alive / in_rot
    lam_r = lam_alive / alive
    mean_h = job[3]
    c = s.workers
    if mean_h <= 0.0:
        return Queue(in_rot, alive, np.zeros(M), 0.0, 0.0, 0.0)
    capacity = alive * c / mean_h
    u1, u2 = fm.pool.b(f"wait1/{s.name}"), fm.pool.u(f"wait2/{s.name}")
    if wait is not None:
        backlog_wait, share = wait
        w = np.full(M, backlog_wait)
        rest = alive - share * alive
        if share < 1.0 and rest >= 1.0:  # arrivals sent to the fresh replicas queue as usual
            lam_fresh = lam_alive * (1.0 - share)
            servers = max(int(round(rest)), 1) * c
            a = lam_fresh * mean_h
            fresh = np.zeros(M)
            if a < servers * 0.999:
                pw = erlang_c(servers, a)
                fresh = np.where(u1 < pw, -np.log1p(-u2) / (servers / mean_h - lam_fresh), 0.0)
            w = np.where(fm.pool.b(f"share/{s.name}") < share, w, fresh)
        return Queue(
            in_rot, alive, w, 0.0, alive * c, backlog_wait * capacity * share, False,
            lam_alive * share, capacity * share,
        )
    if s.limit is None:
        rho = lam_r * mean_h / c
        if rho >= 0.999:
            return Queue(in_rot, alive, np.zeros(M), 0.0, alive * c, 0.0, True, lam_alive, capacity)
        scv = job[4] / mean_h**2
        servers, lam_q, ca2 = c, lam_r, 1.0  # random routing: each replica an M/G/c
        if s.policy in ("least_outstanding", "power_of_two"):
            servers, lam_q = alive * c, lam_alive  # join-the-shortest-queue: nearly one pooled queue
        elif s.policy == "round_robin":
            ca2 = 1.0 / alive  # every alive-th arrival: Erlang inter-arrival times
        theta = servers / mean_h - lam_q
        busy = alive * lam_r * mean_h
        u_min = fm.pool.b_min(f"wait1/{s.name}")
        if _surely_below(servers, lam_q * mean_h, u_min) or erlang_c(servers, lam_q * mean_h) <= u_min:
            # no virtual request waits
            return Queue(in_rot, alive, _NO_WAIT, 0.0, busy, 0.0, False, lam_alive, capacity)
        pw = erlang_c(servers, lam_q * mean_h)
        wait_if = -np.log1p(-u2) / theta * (ca2 + scv) / 2.0
        w = np.where(u1 < pw, wait_if, 0.0)
        return Queue(in_rot, alive, w, 0.0, busy, lam_alive * pw * float(wait_if.mean()), False, lam_alive, capacity,
                     pw, wait_if)
    # the balancer skips full replicas, so an attempt is shed only when every alive one
    # is full: blocking is the pooled M/M/(A·c)/(A·(c+K))'s; waits are pooled too when
    # the policy joins the shortest queue, else each replica's own M/M/c/K's
    pooled = max(int(round(alive)), 1)
    shed, unit = _mmck_waits(fm, s, pooled * c, pooled * s.limit, round(lam_alive * mean_h, 4))
    if pooled > 1 and s.policy not in ("least_outstanding", "power_of_two"):
        unit = _mmck_waits(fm, s, c, s.limit, round(lam_r * mean_h, 4))[1]
        w = unit * (mean_h / c)
    else:
        w = unit * (mean_h / (pooled * c))
    busy = alive * lam_r * (1 - shed) * mean_h
    return Queue(in_rot, alive, w, shed, busy, lam_alive * (1 - shed) * float(w.mean()), False, lam_alive, capacity)


def _surely_below(c: int, a: float, p: float) -> bool:
    """Whether the Erlang C probability of waiting with ``c`` servers and offered load
    ``a`` is at most ``p`` by a wide margin, from a bound that costs no recursion:
    C <= c·B / (c - a) and B = P(X = c) / P(X <= c) <= 2·P(X = c) for X ~ Poisson(a)
    once c >= a + 1 (the median of X is below a + 1/3)."""
    if a <= 0.0:
        return True
    if c < a + 1.0:
        return False
    return 2.0 * c * math.exp(c * math.log(a) - a - math.lgamma(c + 1.0)) / (c - a) <= 0.5 * p


def _mmck_waits(fm: FlowModel, s: ServiceModel, c: int, room: int, offered: float) -> tuple[float, np.ndarray]:
    """Blocking probability and waits (in units of mean holding time / c) of M/M/c/K
    with ``room`` waiting places (K = c + room)."""
    key = ("mmck", s.index, c, room, offered)
    hit = fm.memo.get(key)
    if hit is None:
        p = mmck_probabilities(c, c + room, offered)
        admitted = p[:-1] / p[:-1].sum()
        n = np.minimum(np.searchsorted(np.cumsum(admitted), fm.pool.b(f"wait1/{s.name}"), side="right"), len(admitted) - 1)
        ahead = np.maximum(n - c + 1, 0)  # completions to wait for
        unit = np.where(ahead > 0, special.gammaincinv(np.maximum(ahead, 1), fm.pool.u(f"wait2/{s.name}")), 0.0)
        hit = fm.memo[key] = (float(p[-1]), unit)
    return hit


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


def _scopes(fm: FlowModel, edge: EdgeModel, state: tuple, entry, origin: dict | None):
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


def zone_shares(fm: FlowModel, state: tuple) -> tuple:
    """Per service, the share of the requests it serves that each of its zones serves
    (None when it serves none). Traffic goes where the balancers send it: clients to
    their nearest region, calls by locality, evenly over the replicas in rotation of a
    scope; calls into a service with several callers are mixed by their rates without
    failures."""
    key = ("shares", state)
    got = fm.memo.get(key)
    if got is not None:
        return got
    _, weights = _failure_free(fm, tuple(e.spec.rate_per_s for e in fm.entries))
    arriving = [dict.fromkeys(s.zones, 0.0) for s in fm.services]

    def send(edge, entry, origin):
        w = weights.get(edge.name, 0.0)
        if w <= 0.0:
            return
        groups, _ = _scopes(fm, edge, state, entry, origin)
        for share, _, scope in groups:
            total = sum(a + d for a, d in scope.values())
            for k, (a, d) in scope.items():
                arriving[edge.callee][k] += w * share * (a + d) / total

    served: list = [None] * len(fm.services)
    for entry in fm.entries:
        send(entry.edge, entry, None)
    for si in reversed(fm.order):  # callers first
        s = fm.services[si]
        got_s = {z: x * state[si][j][0] / sum(state[si][j]) for j, (z, x) in enumerate(arriving[si].items()) if x > 0}
        total = sum(got_s.values())
        if total > 0:
            served[si] = {z: x / total for z, x in got_s.items()}
        for group in s.groups:
            for e in group:
                send(e, None, _origin(s, served[si]))
    got = fm.memo[key] = tuple(None if x is None else tuple(sorted((z, round(v, 6)) for z, v in x.items())) for x in served)
    return got


def _origin(s: ServiceModel, served) -> dict:
    """The caller's traffic by zone; spread over its replicas when it serves none."""
    if served:
        return dict(served)
    n = sum(s.size.values())
    return {z: c / n for z, c in s.size.items()}


def _route(fm: FlowModel, edge: EdgeModel, state: tuple, entry=None, origin=None):
    """Where an attempt goes: (no route, dead replica) probabilities and RTT samples."""
    if edge.caller is not None:
        origin = _origin(fm.services[edge.caller], origin)
    groups, noroute = _scopes(fm, edge, state, entry, origin)
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
    rtt = _rtt_samples(fm, dists, np.asarray(weights, dtype=float), f"rtt/{edge.name}") if dists else np.zeros(M)
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


def _call(fm: FlowModel, edge: EdgeModel, route, q: Queue, job, memo: dict) -> CallResult:
    """Every virtual call's attempts, retries and backoffs, then the breaker."""
    noroute, p_dead, rtt = route
    hold, jout = job[0], job[1]
    callee = fm.services[edge.callee]
    ct = callee.connect_timeout
    if p_dead > 0.0 and callee.policy in ("least_outstanding", "power_of_two"):
        p_dead = load_aware_dead_share(p_dead, q, job[3] + float(q.wait.mean()), ct, callee.policy)
        route = (noroute, p_dead, rtt)
    if edge.retries == 0:  # one attempt: its outcome and latency are the call's
        o, t = _attempt(fm, edge, 0, route, q, hold, jout, ct)
        if edge.budget is not None:
            memo["budget_q"] = 1.0
        if edge.breaker is not None:
            result = CallResult(o, t, _ONE_ATTEMPT, np.bincount(o, minlength=N_OUT).astype(float), 0.0, _mean_attempts=1.0)
            _breaker(fm, edge, result, memo)
            return result
        branches = _branches(fm, edge, route, q, job, ct)
        counts = sum(w * np.bincount(bo, minlength=N_OUT) for w, bo, _ in branches)
        return CallResult(o, t, _ONE_ATTEMPT, counts, 0.0, _mean_attempts=1.0, branches=branches)
    out = np.full(M, -1, dtype=_OUT)
    lat = np.zeros(M)
    attempts = np.zeros(M, dtype=_ATTEMPTS)
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


def load_aware_dead_share(p: float, q: Queue, hold: float, ct: float, policy: str) -> float:
    """The share of attempts a balancer that counts outstanding requests sends to dead
    replicas still in rotation (``p``: their even share). A dead replica holds each
    attempt until the connect timeout ``ct``, an alive one for ``hold`` (its wait and
    service). Each replica's outstanding count is taken as Poisson with mean its rate
    times its holding time, independently; ``least_outstanding`` picks the least of all
    (ties evenly), ``power_of_two`` the lesser of two (ties evenly); the dead replicas'
    rate is the fixed point of the two."""
    n_a, n_d = int(round(q.alive)), int(round(q.in_rotation - q.alive))
    if n_a <= 0 or n_d <= 0 or q.arrival_alive <= 0.0:
        return p
    lam = q.arrival_alive * q.in_rotation / q.alive  # attempts/s into the service
    share = p
    for _ in range(40):
        lam_d = lam * share / n_d
        lam_a = lam * (1.0 - share) / n_a
        got = _least_share(lam_d * ct, lam_a * hold, n_d, n_a, policy, p)
        if abs(got - share) < 1e-7:
            break
        share = 0.5 * (share + got)
    return share


def _poisson_table(mean: float, top: int) -> tuple[np.ndarray, np.ndarray]:
    """P(N = m) and P(N >= m) for m = 0..top of a Poisson(mean)."""
    m = np.arange(top + 2)
    pmf = stats.poisson.pmf(m, mean)
    return pmf[: top + 1], stats.poisson.sf(m - 1, mean)[: top + 2]


def _least_share(mean_d: float, mean_a: float, n_d: int, n_a: int, policy: str, p: float) -> float:
    top = int(max(mean_d, mean_a) + 10.0 * math.sqrt(max(mean_d, mean_a)) + 10)
    pd, gd = _poisson_table(mean_d, top)
    pa, ga = _poisson_table(mean_a, top)
    if policy == "power_of_two":  # the dead one of a mixed pair wins with P(N_d < N_a) + P(=)/2
        wins = float(np.sum(pd * (ga[1:] + 0.5 * pa)))
        return p * p + 2.0 * p * (1.0 - p) * wins
    # least_outstanding: a given dead replica with m outstanding is picked when every other
    # holds at least m, among the T that hold exactly m evenly: E[1/(1+T)] = ∫ E[x^T] dx
    x, w = np.polynomial.legendre.leggauss(12)
    x, w = (x + 1.0) / 2.0, w / 2.0
    others = (ga[1:, None] + pa[:, None] * x) ** n_a * (gd[1:, None] + pd[:, None] * x) ** (n_d - 1)
    one = float(np.sum(pd * (others @ w)))
    return min(n_d * one, 1.0)


_ONE_ATTEMPT = np.ones(M, dtype=_ATTEMPTS)
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
    if q.wait is _NO_WAIT:
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
        kinds = [(1.0 - e, job[6][perm], job[5][perm]), (e, _ERRORS, callee.service[perm])]
    else:
        kinds = [(1.0, job[1][perm], job[0][perm])]
    reach = 1.0 - noroute
    alive = reach * (1.0 - p_dead)
    served = alive * (1.0 - q.shed)
    if q.wait is _NO_WAIT:
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
            timed.append((w, np.where(late, TIMEOUT, o), np.where(late, edge.timeout, t)) if late.any() else (w, o, t))
        out = timed
    return [b for b in out if b[0] > 0.0]


_CONNECTION_ERRORS = np.full(M, CONNECTION_ERROR, dtype=_OUT)
_ERRORS = np.full(M, ERROR, dtype=_OUT)
_SHEDS = np.full(M, SHED, dtype=_OUT)
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


def _job(fm: FlowModel, s: ServiceModel, calls: dict[str, CallResult], call_keys: list):
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
        return hold, out, reach, mean, var, hold, out
    failed = _errors(fm, s)
    drawn_out = np.where(failed, ERROR, out).astype(_OUT, copy=False)
    drawn_hold = np.where(failed, s.service, hold)
    return drawn_hold, drawn_out, [r * (1.0 - e) for r in reach], mean, var, hold, out


_SUCCESSES = np.full(M, SUCCESS, dtype=_OUT)
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


def _rates(fm: FlowModel, entry_rates: tuple, queues, jobs, calls) -> tuple[np.ndarray, dict]:
    """Attempts per second at each service and calls per second on each edge, top down."""
    lam = [0.0] * len(fm.services)  # floats: a few of them, added one at a time
    edge_calls: dict[str, float] = {}
    for entry, rate in zip(fm.entries, entry_rates, strict=True):
        r = calls.get(entry.edge.name)
        edge_calls[entry.edge.name] = rate
        lam[entry.callee] += rate * (r.mean_attempts if r is not None else 1.0)
    for si in reversed(fm.order):
        s = fm.services[si]
        q = queues.get(si)
        admitted = 1.0
        if q is not None:
            admitted = (q.alive / q.in_rotation if q.in_rotation else 0.0) * (1.0 - q.shed)
        served = lam[si] * admitted
        reach = jobs[si][2] if si in jobs else [1.0] * len(s.groups)
        for g, group in enumerate(s.groups):
            for e in group:
                n = served * reach[g]
                edge_calls[e.name] = n
                r = calls.get(e.name)
                lam[e.callee] += n * (r.mean_attempts if r is not None else 1.0)
    return np.array(lam), edge_calls


_LAM_STEP = math.log(1.005)  # arrival rates within 0.5 % (of the failure-free rate) share a queue solution
_MEMO_LIMIT = 12000


def _lam_level(lam: float) -> int:
    return round(math.log(lam) / _LAM_STEP) if lam > 0 else -(10**9)


def _id(fm: FlowModel, key: tuple) -> int:
    """A small integer standing for ``key`` (keys of parts nest the keys of the parts
    they are built from: numbering them keeps every key short to hash)."""
    ids = fm.ids
    got = ids.get(key)
    if got is None:
        got = ids[key] = len(ids)
    return got


_IDS_LIMIT = 1_000_000


def _cached(fm: FlowModel, key, compute):
    """Results of parts of a solution, reused by every state that shares them (a change
    in one service's replicas leaves the others' queues and calls as they were)."""
    memo = fm.memo
    hit = memo.get(key)
    if hit is None:
        if len(memo) > _MEMO_LIMIT:  # forget the older half (a state's parts are stored together)
            for old in list(itertools.islice(memo, len(memo) // 2)):
                del memo[old]
        hit = memo[key] = compute()
    return hit


def solve(fm: FlowModel, state: tuple, entry_rates: tuple, waits: dict | None = None) -> Solution:
    """The flow solution of ``state`` (see the module docstring)."""
    waits = waits or {}
    if len(fm.ids) > _IDS_LIMIT:  # start afresh (parts are stored under their numbers)
        fm.ids.clear()
        fm.memo.clear()
    edges = fm.edge_entries()
    memo: dict[str, dict] = {e.name: {} for e, _ in edges}
    lam, edge_calls = _failure_free(fm, entry_rates)
    lam_ff = lam  # each service's rate when nothing fails: queue levels are steps from it
    # where attempts go depends on the replicas of the two ends only
    routes, route_keys = {}, {}
    shares = zone_shares(fm, state)
    for e, entry in edges:
        origin = None if e.caller is None else shares[e.caller]
        rk = _id(fm, ("route", e.name, state[e.callee], origin))
        routes[e.name] = _cached(fm, rk, lambda e=e, entry=entry, o=origin: _route(fm, e, state, entry, o))
        route_keys[e.name] = rk
    if any(r[0] > 0.0 or r[1] > 0.0 for r in routes.values()):
        lam, edge_calls = _guess(fm, state, entry_rates, routes)
    inputs = _inputs(fm, lam, edge_calls, memo)
    for _ in range(MAX_ITERATIONS):
        queues: dict[int, Queue] = {}
        jobs: dict[int, tuple] = {}
        calls: dict[str, CallResult] = {}
        keys: dict = {}
        for si in fm.order:  # callees first
            s = fm.services[si]
            call_keys = []
            for group in s.groups:
                for e in group:
                    calls[e.name], ck = _edge_call(fm, e, routes, route_keys, queues, jobs, keys, memo, edge_calls)
                    call_keys.append(ck)
            jk = _id(fm, ("job", si, tuple(call_keys)))
            job = fm.memo.get(jk)
            jobs[si] = job if job is not None else _cached(fm, jk, lambda s=s, calls=calls, ck=call_keys: _job(fm, s, calls, ck))
            # the rate in 0.5 % steps from the failure-free one (itself exact), so a state whose
            # rate is the failure-free one gets its queue at the exact rate
            base = float(lam_ff[si])
            level = _lam_level(lam[si] / base) if base > 0 else _lam_level(lam[si])
            wait = waits.get(si)
            qk = _id(fm, ("queue", si, state[si], level, base, jk, wait))
            lam_q = (base if base > 0 else 1.0) * math.exp(level * _LAM_STEP) if lam[si] > 0 else 0.0
            queue = fm.memo.get(qk)
            queues[si], idle = queue if queue is not None else _cached(
                fm, qk, lambda s=s, si=si, lam_q=lam_q, wait=wait, jobs=jobs: _idle(_queue(fm, s, lam_q, state[si], jobs[si], wait)))
            # a call sees only the queue's waits and shedding: with neither, the
            # arrival rate does not matter, and the calls into it are shared by all rates
            keys[si] = (-1 if idle else qk, jk)
        for entry in fm.entries:
            calls[entry.edge.name], _ = _edge_call(fm, entry.edge, routes, route_keys, queues, jobs, keys, memo, edge_calls)
        new_lam, edge_calls = _rates(fm, entry_rates, queues, jobs, calls)
        done = np.all(np.abs(new_lam - lam) <= 1e-3 * (lam + 1e-9))
        lam = new_lam
        if done:
            break
        # the next round would see the same levels, hence the same parts and rates
        inputs, last = _inputs(fm, lam, edge_calls, memo), inputs
        if inputs == last:
            break
    return _assemble(fm, entry_rates, lam, edge_calls, queues, calls)


def _failure_free(fm: FlowModel, entry_rates: tuple) -> tuple[np.ndarray, dict]:
    """:func:`_rates` with every call made once and every request served (kept by rates)."""
    got = fm.memo.get(("failure free", entry_rates))
    if got is None:
        got = fm.memo[("failure free", entry_rates)] = _rates(fm, entry_rates, {}, {}, {})
    return got


class _Guess:
    """What :func:`_rates` reads of a queue or a call, before they are solved."""

    __slots__ = ("alive", "in_rotation", "shed", "mean_attempts")

    def __init__(self, alive: int = 1, in_rotation: int = 1, attempts: float = 1.0) -> None:
        self.alive, self.in_rotation, self.shed, self.mean_attempts = alive, in_rotation, 0.0, attempts


def _guess(fm: FlowModel, state: tuple, entry_rates: tuple, routes: dict) -> tuple[np.ndarray, dict]:
    """A start for the fixed point when replicas are missing or dead: each call retried
    as if its attempts failed independently with the share that finds no live replica
    (or an error), and dead replicas in rotation serving nothing. The fixed point then
    often ends after one round (a start is only a start: the result does not depend on
    it beyond the fixed point's tolerance)."""
    queues = {}
    for s in fm.services:
        counts = state[s.index]
        queues[s.index] = _Guess(sum(a for a, _ in counts), sum(a + d for a, d in counts))
    calls = {}
    for e, _ in fm.edge_entries():
        noroute, p_dead, _ = routes[e.name]
        f = noroute + (1.0 - noroute) * p_dead
        p = f + (1.0 - f) * fm.services[e.callee].err_rate
        calls[e.name] = _Guess(attempts=sum(p**k for k in range(e.retries + 1)))
    return _rates(fm, entry_rates, queues, {}, calls)


def _inputs(fm: FlowModel, lam: np.ndarray, edge_calls: dict, memo: dict) -> tuple:
    """What a round of the fixed point reads of the previous one: arrival rate levels,
    call rate levels (for breakers) and retry budget shares."""
    breakers, budgets = _special_edges(fm)
    return (
        tuple(_lam_level(x) for x in lam.tolist()),
        tuple(_lam_level(edge_calls.get(name, 0.0)) for name in breakers),
        tuple(round(memo[name].get("budget_q", 1.0), 3) for name in budgets),
    )


def _special_edges(fm: FlowModel) -> tuple[list[str], list[str]]:
    """The edges with a circuit breaker, and those with a retry budget."""
    got = fm.memo.get("special edges")
    if got is None:
        edges = [e for e, _ in fm.edge_entries()]
        got = fm.memo["special edges"] = ([e.name for e in edges if e.breaker is not None],
                                          [e.name for e in edges if e.budget is not None])
    return got


def _idle(q: Queue) -> tuple[Queue, bool]:
    """``q`` and whether an attempt never waits nor is shed there."""
    return q, q.shed == 0 and not q.wait.any()


def _edge_call(fm, e, routes, route_keys, queues, jobs, keys, memo, edge_calls):
    """The call result of edge ``e`` (cached by everything it depends on) and its key."""
    m = memo[e.name]
    level = None
    if e.breaker is not None:  # an open breaker's pass rate depends on the call rate
        n = edge_calls.get(e.name, 0.0)
        level = _lam_level(n)
        m["calls"] = math.exp(level * _LAM_STEP) if n > 0 else 0.0
    # the share of retries a budget lets through, on a 0.001 grid: the result is a
    # function of its key, whichever state computed it first
    q_in = round(m.get("budget_q", 1.0), 3) if e.budget is not None else 1.0
    ck = _id(fm, ("call", e.name, route_keys[e.name], keys[e.callee], q_in if e.budget is not None else None, level))

    def compute():
        local = {"budget_q": q_in, "calls": m.get("calls", 0.0)}
        result = _call(fm, e, routes[e.name], queues[e.callee], jobs[e.callee], local)
        return result, local.get("budget_q", 1.0)

    hit = fm.memo.get(ck)
    result, q_out = hit if hit is not None else _cached(fm, ck, compute)
    m["budget_q"] = q_out
    return result, ck


def _assemble(fm: FlowModel, entry_rates, lam, edge_calls, queues, calls) -> Solution:
    lay = fm.layout
    v = lay.scratch  # all zeros between solutions: only the fixed figures are written
    terms: list = []  # (hist id, coefficient)
    for k, (entry, rate) in enumerate(zip(fm.entries, entry_rates, strict=True)):
        r = calls[entry.edge.name]
        if r._unit is None:
            branches = r.branches or [(1.0, r.out, r.lat)]
            if entry.deadline is not None:
                branches = [(w, np.where(lat > entry.deadline, TIMEOUT, out), np.minimum(lat, entry.deadline))
                            for w, out, lat in branches]
            r._unit = _unit_scope(branches, r)
        _add_scope(v, terms, lay, lay.entry_at[k], rate, r)
        _add_scope(v, terms, lay, lay.service_at[entry.callee], rate, r)
        _put_edge(v, lay.edge_at[entry.edge.name], rate, r)
    for s in fm.services:
        for group in s.groups:
            for e in group:
                r = calls[e.name]
                if r._unit is None:
                    r._unit = _unit_scope(r.branches or [(1.0, r.out, r.lat)], r)
                n = edge_calls.get(e.name, 0.0)
                _add_scope(v, terms, lay, lay.service_at[e.callee], n, r)
                _put_edge(v, lay.edge_at[e.name], n, r)
    flows, overloaded = {}, {}
    for s in fm.services:
        q = queues[s.index]
        o = lay.service_at[s.index]
        v[o + 1 : o + 4] = (float(lam[s.index]), q.busy, q.waiting)
        flows[s.index] = (q.arrival_alive, q.capacity)
        if q.overloaded:
            overloaded[s.index] = (q.arrival_alive, q.capacity)
    fixed = v[lay.fixed]
    v[lay.fixed] = 0.0
    ids, coefs = zip(*terms, strict=True)
    return Solution(fixed, np.array(ids, dtype=np.intp), np.array(coefs), lay,
                    [queues[s.index].busy for s in fm.services], overloaded, flows)


def _unit_scope(branches: list, r: CallResult) -> tuple:
    """What ``_add_scope`` needs of a call result, before scaling by its rate (computed
    once per call result: every state and rate sharing the result scales the same counts):
    its outcome and attempt outcome counts, its ok and failed latency histogram (where in
    a scope's block its counts go, and the counts), the same per set of virtual requests
    (successes; coarse histograms), and the share of calls the breaker rejected.
    ``branches``: (weight, outcome, latency) of a mixture (a single drawn one for most)."""
    if len(branches) == 1:
        w, out, lat = branches[0]
        weights = None if w == 1.0 else np.full(M, w)
    else:  # one pass over every branch's virtual requests, each weighted by its branch
        w = None
        weights = np.repeat([b[0] for b in branches], M)
        out = np.concatenate([b[1] for b in branches])
        lat = np.concatenate([b[2] for b in branches])
    sets = SET_OF if len(branches) == 1 else np.tile(SET_OF, len(branches))
    k = np.minimum(((np.log(np.maximum(lat, LO)) - _LOG_LO) * _INV_LOG_R).astype(np.intp) + 1, BUCKETS - 1)
    k[lat <= LO] = 0  # the histogram's first bucket
    failed = out != SUCCESS
    ok = ~failed
    hist = np.bincount(k + BUCKETS * failed, weights=weights, minlength=2 * BUCKETS).astype(float)
    outcomes = np.bincount(out, weights=weights, minlength=N_OUT).astype(float)
    w_ok = None if weights is None else weights[ok]
    set_ok = np.concatenate((
        np.bincount(sets[ok], weights=w_ok, minlength=SETS),  # per set: successes,
        np.bincount(sets[ok], weights=lat[ok] if w_ok is None else lat[ok] * w_ok, minlength=SETS),  # their latencies,
        np.bincount(sets, weights=lat if weights is None else lat * weights, minlength=SETS),  # and all latencies
    )).astype(float)
    coarse = (failed * SETS + sets) * COARSE_BUCKETS + k // COARSE
    coarse_counts = np.bincount(coarse, weights=weights, minlength=2 * SETS * COARSE_BUCKETS).astype(float)
    nz = np.flatnonzero(hist)
    where = np.flatnonzero(coarse_counts)
    return (np.concatenate((outcomes, r.attempt_out)), (nz + SCALARS, hist[nz], {}),
            np.count_nonzero(r.out == CIRCUIT_OPEN) / M, set_ok, (where + SET_HISTS, coarse_counts[where], {}))


def _add_scope(v: np.ndarray, terms: list, lay, o: int, rate: float, r: CallResult) -> None:
    """Add ``rate`` calls per second with result ``r`` to the scope at ``o`` (each set of
    virtual requests scaled to the whole rate)."""
    outcomes, hist, _, set_ok, set_hist = r._unit
    v[o] += rate
    v[o + 1] += rate * r.mean_attempts
    v[o + 4 : o + SCALARS] += outcomes * (rate / M)
    v[o + SET_SUCCESS : o + SET_SUCCESS + 3 * SETS] += set_ok * (rate / SET_SIZE)
    for h, coef in ((hist, rate / M), (set_hist, rate / SET_SIZE)):
        ids = h[2]  # scope offset -> id of this histogram there
        hid = ids.get(o)
        if hid is None:
            hid = ids[o] = lay.hist_id(o + h[0], h[1])
        terms.append((hid, coef))


def _put_edge(v: np.ndarray, o: int, calls: float, r: CallResult) -> None:
    """The figures of an edge with ``calls`` per second and result ``r`` (``EDGE_KEYS``)."""
    rejected = r._unit[2]
    attempts = calls * r.mean_attempts
    v[o : o + 6] = (
        calls,
        attempts,
        max(attempts - calls * (1.0 - rejected), 0.0),
        calls * rejected,
        calls * r.budget_denied,
        1.0 if r.breaker_open else 0.0,
    )
