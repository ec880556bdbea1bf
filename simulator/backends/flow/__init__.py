"""The ``flow`` backend: traffic as rates between control-plane state changes.

The control plane is the same (failures, repairs, shocks, crews); its trace gives, for
every replica, when it serves and when the health checks put it in or out of rotation
(:mod:`.rotation`). Between two such changes, and while the traffic rate stays within
one 5 % level, nothing changes: the steady flow solution of that state (:mod:`.solver`)
holds, weighted by the time spent in it (solutions are cached by state, across
replications). When a service's load exceeds its capacity, there is no steady state:
its queue becomes a fluid backlog stepped second by second (waiting time = backlog /
capacity; callers time out and retry, which feeds the backlog) until it drains.

Figures are expected values (counts need not be whole numbers); the results have the
same shape as the ``requests`` backend's, so every metric, table and check works on
both. See the solver's docstring and the README for where ``flow`` approximates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from simulator.backends.flow.model import FlowModel
from simulator.backends.flow.rotation import replica_changes
from simulator.backends.flow.solver import N_OUT, Solution, solve
from simulator.backends.requests.traffic import RateFunction, flash_schedule
from simulator.engine import fast
from simulator.engine.control import simulate_failures
from simulator.engine.plan import Plan
from simulator.engine.replication import ReplicationRecord, summarise_trace
from simulator.metrics.histogram import BUCKETS, FrozenHistogram, bucket_values
from simulator.metrics.outcomes import OUTCOMES
from simulator.metrics.timeline import Timeline
from simulator.rng import UNIT_EXPONENTIAL, Stream, name_key, replication_key, stream_key

__all__ = ["run_replication", "LEVEL"]

#: Relative width of a traffic level: rates within 5 % share one flow solution.
LEVEL = 1.05
_CACHE: dict[int, tuple[Plan, FlowModel, dict]] = {}


def _model(plan: Plan) -> tuple[FlowModel, dict]:
    hit = _CACHE.get(id(plan))
    if hit is None or hit[0] is not plan:
        if len(_CACHE) > 8:
            _CACHE.clear()
        hit = (plan, FlowModel(plan), {})
        _CACHE[id(plan)] = hit
    return hit[1], hit[2]


def _rate_functions(plan: Plan, rep: tuple[int, int]) -> list[RateFunction]:
    """The entries' rates with this replication's flash crowds (the requests backend's streams)."""
    out = []
    for spec in plan.topology.traffic:
        flashes = []
        fc = spec.flash_crowds
        if fc is not None:
            label = spec.label

            def st(name: str, dist) -> Stream:
                return Stream(dist, stream_key(rep, name_key(name)), block=16)

            flashes = flash_schedule(
                spec, plan.end_s, st(f"traffic/{label}/flash", UNIT_EXPONENTIAL),
                st(f"traffic/{label}/flash-duration", fc.duration), st(f"traffic/{label}/flash-multiplier", fc.multiplier),
            )
        out.append(RateFunction(spec, flashes))
    return out


def _level(m: float) -> int:
    return round(math.log(max(m, 1e-12)) / math.log(LEVEL))


class _Grid:
    """The traffic level over time, read on a grid (a minute, finer on short horizons).

    Levels are 5 % steps of the rate; the weight of a stretch is the exact integral of
    the rate divided by its level's representative rate (so request counts are right
    while latencies come from the level's solution), counted inside the window only.
    """

    def __init__(self, rates: list[RateFunction], t0: float, end: float) -> None:
        self.t0, self.end = t0, end
        self.n_entries = len(rates)
        self.homogeneous = all(r.homogeneous for r in rates)
        if self.homogeneous:
            return
        step = min(60.0, max(1.0, end / 200_000))
        grid = np.arange(0.0, end + step, step)
        grid[-1] = end
        mids = (grid[:-1] + grid[1:]) / 2
        mult = np.array([r.at(mids) / r.base for r in rates])
        lv = np.round(np.log(np.maximum(mult, 1e-12)) / math.log(LEVEL)).astype(int)
        base = np.array([r.base for r in rates])
        per_s = (mult * base[:, None]).sum(axis=0) / ((LEVEL**lv) * base[:, None]).sum(axis=0)
        inside = np.clip(np.minimum(grid[1:], end) - np.maximum(grid[:-1], t0), 0.0, None)
        self.grid, self.step, self.per_s = grid, step, per_s
        self.weights = per_s * inside
        shifted = lv - lv.min(axis=1, keepdims=True)
        radix = shifted.max(axis=1) + 1
        flat = np.ravel_multi_index(tuple(shifted), tuple(radix))  # one integer per combination
        uniq, self.code = np.unique(flat, return_inverse=True)
        combos = np.array(np.unravel_index(uniq, tuple(radix))) + lv.min(axis=1, keepdims=True)
        self.levels = [tuple(int(x) for x in combos[:, k]) for k in range(combos.shape[1])]
        self.cum = np.concatenate(([0.0], np.cumsum(self.weights)))

    def _inside(self, a: float, b: float) -> float:
        return max(0.0, min(b, self.end) - max(a, self.t0))

    def levels_between(self, a: float, b: float) -> list[tuple[tuple, float]]:
        """(levels, weight) of the stretch ``[a, b)``."""
        if self.homogeneous:
            return [((0,) * self.n_entries, self._inside(a, b))]
        ia = min(int(a / self.step), len(self.weights) - 1)
        ib = min(int(b / self.step), len(self.weights) - 1)
        if ia == ib:
            return [(self.levels[self.code[ia]], self.per_s[ia] * self._inside(a, b))]
        out = np.bincount(self.code[ia + 1 : ib], weights=self.weights[ia + 1 : ib], minlength=len(self.levels))
        out[self.code[ia]] += self.per_s[ia] * self._inside(a, self.grid[ia + 1])
        out[self.code[ib]] += self.per_s[ib] * self._inside(self.grid[ib], b)
        return [(self.levels[k], float(out[k])) for k in np.flatnonzero(out > 0)]

    def pieces(self, a: float, b: float) -> Iterator[tuple[float, float, tuple, float]]:
        """``[a, b)`` cut where the level changes: (start, stop, levels, weight per second)."""
        if self.homogeneous:
            yield a, b, (0,) * self.n_entries, 1.0
            return
        t = a
        while t < b:
            i = min(int(t / self.step), len(self.weights) - 1)
            stop = min(b, self.grid[i + 1])
            yield t, stop, self.levels[self.code[i]], float(self.per_s[i])
            t = stop


class _Totals:
    """Expected counts of one replication, in the shape of a ``requests`` snapshot."""

    def __init__(self, fm: FlowModel) -> None:
        self.fm = fm
        names = [("entry", e.label) for e in fm.entries] + [("service", s.name) for s in fm.services]
        self.calls = dict.fromkeys(names, 0.0)
        self.attempts = dict.fromkeys(names, 0.0)
        self.outcomes = {n: np.zeros(N_OUT) for n in names}
        self.attempt_outcomes = {n: np.zeros(N_OUT) for n in names}
        self.ok = {n: np.zeros(BUCKETS) for n in names}
        self.fail = {n: np.zeros(BUCKETS) for n in names}
        self.busy = dict.fromkeys(names, 0.0)
        self.waiting = dict.fromkeys(names, 0.0)
        self.edges = {e.name: dict.fromkeys(("calls", "attempts", "retries", "breaker_rejected", "budget_denied", "breaker_open"), 0.0) for e in fm.edges()}

    def add(self, sol: Solution, seconds: float) -> None:
        if seconds <= 0:
            return
        scopes = [(("entry", k), v) for k, v in sol.entries.items()]
        scopes += [(("service", k), v) for k, v in sol.services.items()]
        for name, sc in scopes:
            self.calls[name] += sc["calls"] * seconds
            self.attempts[name] += sc["attempts"] * seconds
            self.outcomes[name] += sc["outcomes"] * seconds
            self.attempt_outcomes[name] += sc["attempt_outcomes"] * seconds
            for idx, w in sc["ok"]:
                np.add.at(self.ok[name], idx, w * seconds)
            for idx, w in sc["fail"]:
                np.add.at(self.fail[name], idx, w * seconds)
            self.busy[name] += sc.get("busy", 0.0) * seconds
            self.waiting[name] += sc.get("waiting", 0.0) * seconds
        for name, fig in sol.edges.items():
            edge = self.edges[name]
            for k, v in fig.items():
                edge[k] += v * seconds

    def snapshot(self, plan: Plan) -> dict:
        def scope(name: tuple) -> dict:
            ok, fail = self.ok[name], self.fail[name]
            return {
                "calls": self.calls[name],
                "outcomes": dict(zip(OUTCOMES, self.outcomes[name].tolist(), strict=True)),
                "attempts": self.attempts[name],
                "attempt_outcomes": dict(zip(OUTCOMES, self.attempt_outcomes[name].tolist(), strict=True)),
                "in_flight": 0.0,
                "latency_ok": _frozen(ok),
                "latency_all": _frozen(ok + fail),
            }

        observed = plan.horizon_s
        top = plan.topology
        services = {}
        for s in self.fm.services:
            spec = top.services[s.name]
            cap = spec.workers * sum(s.size.values()) * observed if spec.service_time is not None else 0.0
            key = ("service", s.name)
            services[s.name] = {**scope(key), "busy_s": self.busy[key], "queue_s": self.waiting[key], "capacity_s": cap}
        entries = {
            e.label: {**scope(("entry", e.label)), "entry": self.fm.services[e.callee].name} for e in self.fm.entries
        }
        edges = {
            n: {
                "calls": v["calls"], "attempts": v["attempts"], "retries": v["retries"],
                "breaker_rejected": v["breaker_rejected"], "budget_denied": v["budget_denied"],
                "breaker_opened": 0, "breaker_open_s": v["breaker_open"],
            }
            for n, v in self.edges.items()
        }
        return {"entries": entries, "services": services, "edges": edges}


def _frozen(dense: np.ndarray) -> FrozenHistogram:
    nz = np.flatnonzero(dense > 0)
    # the sum of latencies is known to the bucket, like every latency here
    return FrozenHistogram(nz.astype(np.int32), dense[nz], float(dense.sum()), float(dense @ _MID))


_MID = bucket_values()


class _Replay:
    """Walks one replication's segments, keeping the balancer view and fluid backlogs."""

    def __init__(self, plan: Plan, fm: FlowModel, cache: dict, changes: list) -> None:
        self.plan, self.fm, self.cache = plan, fm, cache
        self.changes, self.pos = changes, 0
        self.status = {int(r): (True, True) for s in plan.services for r in s.replicas}
        self.zone_of = {int(r): z for s in plan.services for r, z in zip(s.replicas, s.zones, strict=True)}
        self.service_of = {int(r): s.index for s in plan.services for r in s.replicas}
        self.counts = [{z: [n, 0] for z, n in s.size.items()} for s in fm.services]
        self._state = [self._service_state(i) for i in range(len(fm.services))]
        self.backlog: dict[int, list[float]] = {}  # service -> [requests waiting, replicas holding them]
        self.totals = _Totals(fm)
        self.steady: dict[tuple, float] = {}
        self.timeline = Timeline(plan.timeline_s, plan.end_s) if plan.timeline_s else None

    def advance(self, t: float) -> None:
        """Apply every replica change at or before ``t``."""
        while self.pos < len(self.changes) and self.changes[self.pos][0] <= t:
            _, r, serving, rotation = self.changes[self.pos]
            self.pos += 1
            old = self.status[r]
            cell = self.counts[self.service_of[r]][self.zone_of[r]]
            for (srv, rot), sign in ((old, -1), ((serving, rotation), 1)):
                if rot:
                    cell[0 if srv else 1] += sign
            self.status[r] = (serving, rotation)
            si = self.service_of[r]
            self._state[si] = self._service_state(si)

    def _service_state(self, si: int) -> tuple:
        c = self.counts[si]
        return tuple(tuple(c[z]) for z in self.fm.services[si].zones)

    def state(self) -> tuple:
        return tuple(self._state)

    def solution(self, state: tuple, rates: tuple, waits: dict | None = None) -> Solution:
        wkey = tuple(sorted((s, _level(w / 1e-3), round(share, 2)) for s, (w, share) in (waits or {}).items()))
        key = (state, rates, wkey)
        sol = self.cache.get(key)
        if sol is None:
            reps = {s: (1e-3 * LEVEL**lv, share) for s, lv, share in wkey} if wkey else None
            sol = solve(self.fm, state, rates, reps)
            self.cache[key] = sol
        return sol

    def _alive(self, state: tuple, s: int) -> int:
        return sum(a for a, _ in state[s])

    def rates(self, levels: tuple) -> tuple:
        return tuple(e.spec.rate_per_s * LEVEL**lv for e, lv in zip(self.fm.entries, levels, strict=True))

    def interval(self, a: float, b: float, grid: _Grid) -> None:
        """The replicas' state holds on ``[a, b)``: steady solutions by traffic level,
        unless a queue is backed up or a level overloads a service."""
        self.advance(a)
        state = self.state()
        if not self.backlog and self.timeline is None:
            parts = grid.levels_between(a, b)
            sols = [self.solution(state, self.rates(levels)) for levels, _ in parts]
            if not any(sol.overloaded for sol in sols):
                for (levels, weight), _ in zip(parts, sols, strict=True):
                    key = (state, self.rates(levels))
                    self.steady[key] = self.steady.get(key, 0.0) + weight
                return
        for start, stop, levels, per_s in grid.pieces(a, b):
            self.piece(start, stop, state, self.rates(levels), per_s)

    def piece(self, a: float, b: float, state: tuple, rates: tuple, per_s: float) -> None:
        """Step the fluid backlogs through ``[a, b)`` while any queue is backed up."""
        t = a
        while t < b:
            if not self.backlog and not self.solution(state, rates).overloaded:
                self.steady[(state, rates)] = self.steady.get((state, rates), 0.0) + self._in_window(t, b) * per_s
                self._on_timeline(self.solution(state, rates), t, b, per_s)
                return
            dt = min(1.0, b - t)
            waits = {}
            for s, (q, holders) in self.backlog.items():
                alive = max(self._alive(state, s), 1)
                pooled = self.fm.services[s].policy in ("least_outstanding", "power_of_two")
                share = 1.0 if pooled else min(holders, alive) / alive
                waits[s] = (q / max(self._capacity(state, rates, s) * share, 1e-9), share)
            sol = self.solution(state, rates, waits)
            for s in set(sol.overloaded) | set(self.backlog):
                arriving, capacity = sol.flows[s]
                q, holders = self.backlog.get(s, (0.0, self._alive(state, s)))
                q = max(0.0, q + (arriving - capacity) * dt)
                if q > 0.0 or arriving >= capacity:
                    self.backlog[s] = [q, holders]
                else:
                    self.backlog.pop(s, None)
            self.totals.add(sol, self._in_window(t, t + dt) * per_s)
            self._on_timeline(sol, t, t + dt, per_s)
            t += dt

    def _on_timeline(self, sol: Solution, a: float, b: float, per_s: float) -> None:
        tl = self.timeline
        if tl is None or b <= a:
            return
        if sol.timeline is None:  # per second: requests, successes, their latency histogram
            hist = np.zeros(BUCKETS)
            for sc in sol.entries.values():
                for idx, w in sc["ok"]:
                    np.add.at(hist, idx, w)
            calls = sum(sc["calls"] for sc in sol.entries.values())
            ok = sum(sc["outcomes"][0] for sc in sol.entries.values())
            sol.timeline = (calls, ok, hist.astype(np.float32))
        calls, ok, hist = sol.timeline
        w = tl.width_s
        for i in range(int(a / w), min(int(math.ceil(b / w)), len(tl.requests))):
            seconds = (min(b, (i + 1) * w) - max(a, i * w)) * per_s
            if seconds > 0:
                tl.requests[i] += calls * seconds
                tl.success[i] += ok * seconds
                tl.latency[i] += hist * np.float32(seconds)

    def _capacity(self, state: tuple, rates: tuple, s: int) -> float:
        return self.solution(state, rates).flows[s][1]

    def _in_window(self, a: float, b: float) -> float:
        return max(0.0, min(b, self.plan.end_s) - max(a, self.plan.warmup_s))

    def finish(self) -> dict:
        for (state, rates), seconds in self.steady.items():
            self.totals.add(self.solution(state, rates), seconds)
        return self.totals.snapshot(self.plan)


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """One replication with traffic as flows."""
    start = time.perf_counter()
    fm, cache = _model(plan)
    trace = fast.fast_trace(plan, rep_seed) if plan.repair_crews is None else simulate_failures(plan, rep_seed)
    rep = replication_key(rep_seed)
    changes = replica_changes(plan, trace, rep)
    replay = _Replay(plan, fm, cache, changes)
    grid = _Grid(_rate_functions(plan, rep), plan.warmup_s, plan.end_s)
    cuts = sorted({0.0, plan.end_s} | {c[0] for c in changes if c[0] < plan.end_s})
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        replay.interval(a, b, grid)
    record = summarise_trace(plan, trace, index)
    record.extra["requests"] = replay.finish()
    if replay.timeline is not None:
        record.extra["timeline"] = replay.timeline
    record.wall_s = time.perf_counter() - start
    return record
