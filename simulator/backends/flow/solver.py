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

from simulator.backends.flow.calls import (
    CallResult,
    call_result,
    caller_origin,
    job_of,
    route_of,
    route_scopes,
)
from simulator.backends.flow.model import (
    N_OUT,
    SCALARS,
    SET_HISTS,
    SET_OF,
    SET_SIZE,
    SET_SUCCESS,
    SETS,
    FlowModel,
    M,
)
from simulator.backends.flow.queues import Queue, service_queue
from simulator.metrics.histogram import _INV_LOG_R, _LOG_LO, BUCKETS, LO
from simulator.metrics.outcomes import (
    CIRCUIT_OPEN,
    SUCCESS,
    TIMEOUT,
)
from simulator.metrics.virtual import COARSE, COARSE_BUCKETS

__all__ = ["Solution", "solve"]

MAX_ITERATIONS = 12


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
    flows: dict = field(
        default_factory=dict
    )  # every service -> (arrivals/s, capacity/s) of its backlogged pool
    timeline: tuple | None = None  # per-second timeline figures, filled when first needed

    def dense(self) -> np.ndarray:
        """Every figure, laid out as ``FlowModel.layout`` says."""
        v = np.zeros(self.layout.size)
        v[self.layout.fixed] = self.fixed
        self.layout.add_hists(v, self.hist_ids, self.hist_coefs)
        return v


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
        groups, _ = route_scopes(fm, edge, state, entry, origin)
        for share, _, scope in groups:
            total = sum(a + d for a, d in scope.values())
            for k, (a, d) in scope.items():
                arriving[edge.callee][k] += w * share * (a + d) / total

    served: list = [None] * len(fm.services)
    for entry in fm.entries:
        send(entry.edge, entry, None)
    for si in reversed(fm.order):  # callers first
        s = fm.services[si]
        got_s = {
            z: x * state[si][j][0] / sum(state[si][j])
            for j, (z, x) in enumerate(arriving[si].items())
            if x > 0
        }
        total = sum(got_s.values())
        if total > 0:
            served[si] = {z: x / total for z, x in got_s.items()}
        for group in s.groups:
            for e in group:
                send(e, None, caller_origin(s, served[si]))
    got = fm.memo[key] = tuple(
        None if x is None else tuple(sorted((z, round(v, 6)) for z, v in x.items())) for x in served
    )
    return got


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
        if q is not None and (q.overloaded or q.backlogged) and q.in_rotation:
            # saturated or draining: its workers pass on what they finish, not what
            # arrives (the rest piles up in its own queue, the fluid backlog); a
            # draining backlog (q.waiting requests) passes on no more than it holds
            alive = lam[si] * q.alive / q.in_rotation
            out = min(q.capacity, q.arrival_alive + q.waiting / BACKLOG_STEP_S) if q.backlogged else q.capacity
            served = alive - q.arrival_alive + out  # (such a queue sheds nothing)
        reach = jobs[si].reach if si in jobs else [1.0] * len(s.groups)
        for g, group in enumerate(s.groups):
            for e in group:
                n = served * reach[g]
                edge_calls[e.name] = n
                r = calls.get(e.name)
                lam[e.callee] += n * (r.mean_attempts if r is not None else 1.0)
    return np.array(lam), edge_calls


BACKLOG_STEP_S = 1.0  # the fluid backlog is stepped a second at a time
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
        routes[e.name] = _cached(fm, rk, lambda e=e, entry=entry, o=origin: route_of(fm, e, state, entry, o))
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
                    calls[e.name], ck = _edge_call(
                        fm, e, routes, route_keys, queues, jobs, keys, memo, edge_calls
                    )
                    call_keys.append(ck)
            jk = _id(fm, ("job", si, tuple(call_keys)))
            job = fm.memo.get(jk)
            jobs[si] = (
                job
                if job is not None
                else _cached(fm, jk, lambda s=s, calls=calls, ck=call_keys: job_of(fm, s, calls, ck))
            )
            # the rate in 0.5 % steps from the failure-free one (itself exact), so a state whose
            # rate is the failure-free one gets its queue at the exact rate
            base = float(lam_ff[si])
            level = _lam_level(lam[si] / base) if base > 0 else _lam_level(lam[si])
            wait = waits.get(si)
            qk = _id(fm, ("queue", si, state[si], level, base, jk, wait))
            lam_q = (base if base > 0 else 1.0) * math.exp(level * _LAM_STEP) if lam[si] > 0 else 0.0
            queue = fm.memo.get(qk)
            queues[si], idle = (
                queue
                if queue is not None
                else _cached(
                    fm,
                    qk,
                    lambda s=s, si=si, lam_q=lam_q, wait=wait, jobs=jobs: _idle(
                        service_queue(fm, s, lam_q, state[si], jobs[si], wait)
                    ),
                )
            )
            # a call sees only the queue's waits and shedding: with neither, the
            # arrival rate does not matter, and the calls into it are shared by all rates
            keys[si] = (-1 if idle else qk, jk)
        for entry in fm.entries:
            calls[entry.edge.name], _ = _edge_call(
                fm, entry.edge, routes, route_keys, queues, jobs, keys, memo, edge_calls
            )
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

    __slots__ = ("alive", "in_rotation", "shed", "mean_attempts", "overloaded", "backlogged")

    def __init__(self, alive: int = 1, in_rotation: int = 1, attempts: float = 1.0) -> None:
        self.alive, self.in_rotation, self.shed, self.mean_attempts = alive, in_rotation, 0.0, attempts
        self.overloaded = self.backlogged = False


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
        got = fm.memo["special edges"] = (
            [e.name for e in edges if e.breaker is not None],
            [e.name for e in edges if e.budget is not None],
        )
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
    ck = _id(
        fm,
        ("call", e.name, route_keys[e.name], keys[e.callee], q_in if e.budget is not None else None, level),
    )

    def compute():
        local = {"budget_q": q_in, "calls": m.get("calls", 0.0)}
        result = call_result(fm, e, routes[e.name], queues[e.callee], jobs[e.callee], local)
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
                branches = [
                    (w, np.where(lat > entry.deadline, TIMEOUT, out), np.minimum(lat, entry.deadline))
                    for w, out, lat in branches
                ]
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
    return Solution(
        fixed,
        np.array(ids, dtype=np.intp),
        np.array(coefs),
        lay,
        [queues[s.index].busy for s in fm.services],
        overloaded,
        flows,
    )


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
    set_ok = np.concatenate(
        (
            np.bincount(sets[ok], weights=w_ok, minlength=SETS),  # per set: successes,
            np.bincount(
                sets[ok], weights=lat[ok] if w_ok is None else lat[ok] * w_ok, minlength=SETS
            ),  # their latencies,
            np.bincount(
                sets, weights=lat if weights is None else lat * weights, minlength=SETS
            ),  # and all latencies
        )
    ).astype(float)
    coarse = (failed * SETS + sets) * COARSE_BUCKETS + k // COARSE
    coarse_counts = np.bincount(coarse, weights=weights, minlength=2 * SETS * COARSE_BUCKETS).astype(float)
    nz = np.flatnonzero(hist)
    where = np.flatnonzero(coarse_counts)
    return (
        np.concatenate((outcomes, r.attempt_out)),
        (nz + SCALARS, hist[nz], {}),
        np.count_nonzero(r.out == CIRCUIT_OPEN) / M,
        set_ok,
        (where + SET_HISTS, coarse_counts[where], {}),
    )


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
