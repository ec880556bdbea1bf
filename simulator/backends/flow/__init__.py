"""The ``flow`` backend: traffic as rates between control-plane state changes.

The control plane is the same (failures, repairs, shocks, crews); its trace gives, for
every replica, when it serves and when the health checks put it in or out of rotation
(:mod:`.rotation`). Between two such changes, and while the traffic rate stays within
one 5 % level, nothing changes: the steady flow solution of that state (:mod:`.solver`)
holds, weighted by the time spent in it (solutions are cached by state, across
replications). A lightly loaded state, or one that lasts under a minute in a
replication, is solved once at the mean rate and scaled (see ``_Replay._classify``).
When a service's load exceeds its capacity, there is no steady state: its queue
becomes a fluid backlog stepped second by second (waiting time = backlog / capacity;
callers time out and retry, which feeds the backlog) until it drains.

Figures are expected values (counts need not be whole numbers); the results have the
same shape as the ``requests`` backend's, so every metric, table and check works on
both. See the solver's docstring and the README for where ``flow`` approximates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from simulator.backends.flow.model import SCALARS, FlowModel, pool_key
from simulator.backends.flow.rotation import replica_changes
from simulator.backends.flow.solver import BACKLOG_STEP_S, Solution, solve
from simulator.backends.flow.totals import Totals
from simulator.backends.requests.traffic import RateFunction, flash_schedule
from simulator.engine import fast
from simulator.engine.control import simulate_failures
from simulator.engine.plan import Plan
from simulator.engine.replication import ReplicationRecord, summarise_trace
from simulator.metrics.histogram import BUCKETS
from simulator.metrics.timeline import Timeline
from simulator.rng import UNIT_EXPONENTIAL, named_stream, replication_key

__all__ = ["run_replication", "LEVEL"]

#: Relative width of a traffic level: rates within 5 % share one flow solution.
LEVEL = 1.05
#: States scaled from one solution: lightly loaded ones (utilization at their busiest
#: level under LIGHT_UTIL), and short ones (under SHORT_S in a replication, under SHORT_UTIL).
LIGHT_UTIL = 0.35
SHORT_S = 60.0
SHORT_UTIL = 0.9
_CACHE: dict[tuple, tuple[Plan, FlowModel, dict]] = {}
_CODE_LIMIT = 2.0**62  # states numbered by one int64 when their counts fit


def _model(plan: Plan, key: tuple[int, int]) -> tuple[FlowModel, dict]:
    """The plan's flow model and solution cache for the virtual requests of ``key`` (one
    per run: every replication of a run shares them)."""
    hit = _CACHE.get((id(plan), key))
    if hit is None or hit[0] is not plan:
        if len(_CACHE) > 8:
            _CACHE.clear()
        hit = (plan, FlowModel(plan, key), {})
        _CACHE[(id(plan), key)] = hit
    return hit[1], hit[2]


def _rate_functions(plan: Plan, rep: tuple[int, int]) -> list[RateFunction]:
    """The entries' rates with this replication's flash crowds (the requests backend's streams)."""
    out = []
    for spec in plan.topology.traffic:
        flashes = []
        fc = spec.flash_crowds
        if fc is not None:
            label = spec.label

            flashes = flash_schedule(
                spec, plan.end_s, named_stream(rep, f"traffic/{label}/flash", UNIT_EXPONENTIAL, 16),
                named_stream(rep, f"traffic/{label}/flash-duration", fc.duration, 16),
                named_stream(rep, f"traffic/{label}/flash-multiplier", fc.multiplier, 16),
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
    Figures about time (busy workers, an open breaker) take the stretch's time instead,
    :meth:`level_times`: weighted by the rate they would exceed what time allows.
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
        self.weights, self.inside = per_s * inside, inside
        shifted = lv - lv.min(axis=1, keepdims=True)
        radix = shifted.max(axis=1) + 1
        flat = np.ravel_multi_index(tuple(shifted), tuple(radix))  # one integer per combination
        uniq, self.code = np.unique(flat, return_inverse=True)
        combos = np.array(np.unravel_index(uniq, tuple(radix))) + lv.min(axis=1, keepdims=True)
        self.levels = [tuple(int(x) for x in combos[:, k]) for k in range(combos.shape[1])]
        self._by_level: dict[bool, tuple] = {}

    def level_list(self) -> list[tuple]:
        """Every combination of levels, in the order of :meth:`level_weights`' columns."""
        return [(0,) * self.n_entries] if self.homogeneous else self.levels

    def level_weights(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Weights of each stretch ``[a[j], b[j])`` by level combination (rows by
        stretch, columns as :meth:`level_list`)."""
        if self.homogeneous:
            return np.clip(np.minimum(b, self.end) - np.maximum(a, self.t0), 0.0, None)[:, None]
        return np.maximum(self._cumulative(b, False) - self._cumulative(a, False), 0.0)

    def level_times(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Seconds of each stretch inside the window, by level combination (as :meth:`level_weights`)."""
        if self.homogeneous:
            return self.level_weights(a, b)
        return np.maximum(self._cumulative(b, True) - self._cumulative(a, True), 0.0)

    def _cumulative(self, t: np.ndarray, timed: bool) -> np.ndarray:
        """Weight (``timed``: seconds) of each level combination counted before each time in ``t``."""
        weights, per_s = (self.inside, np.ones_like(self.per_s)) if timed else (self.weights, self.per_s)
        if timed not in self._by_level:
            # runs of cells at one level: each run's start, its level, and the weight of
            # every level before it; within a run, the running weight of all cells
            starts = np.flatnonzero(np.diff(self.code, prepend=-1))
            before = np.zeros((len(starts), len(self.levels)))
            run_w = np.add.reduceat(weights, starts)
            np.add.at(before, (np.arange(1, len(starts)), self.code[starts[:-1]]), run_w[:-1])
            cum = np.concatenate(([0.0], np.cumsum(weights)))
            self._by_level[timed] = (starts, np.cumsum(before, axis=0), cum)
        starts, before, cum = self._by_level[timed]
        i = np.minimum((t / self.step).astype(np.intp), len(weights) - 1)
        run = np.searchsorted(starts, i, side="right") - 1
        out = before[run]
        part = np.clip(np.minimum(t, self.end) - np.maximum(self.grid[i], self.t0), 0.0, None)
        out[np.arange(len(t)), self.code[i]] += (cum[i] - cum[starts[run]]) + per_s[i] * part
        return out

    def pieces(self, a: float, b: float) -> Iterator[tuple[float, float, tuple, float]]:
        """``[a, b)`` cut where the level changes: (start, stop, levels, weight per second)."""
        if self.homogeneous:
            yield a, b, (0,) * self.n_entries, 1.0
            return
        t = a
        while t < b:
            i = min(int(t / self.step), len(self.weights) - 1)
            if self.grid[i + 1] <= t and i + 1 < len(self.weights):
                i += 1  # t / step rounded below a cell edge that t already reached
            stop = min(b, self.grid[i + 1])
            yield t, stop, self.levels[self.code[i]], float(self.per_s[i])
            t = stop


class _Replay:
    """Walks one replication's segments, keeping the balancer view and fluid backlogs."""

    def __init__(self, plan: Plan, fm: FlowModel, cache: dict, changes: list) -> None:
        self.plan, self.fm, self.cache = plan, fm, cache
        self.changes = changes
        self.backlog: dict[int, list[float]] = {}  # service -> [requests waiting, replicas holding them]
        self.totals = Totals(fm)
        self.steady: dict[tuple, np.ndarray] = {}  # (state, rates) -> [count weight, seconds]
        self.timeline = Timeline(plan.timeline_s, plan.end_s) if plan.timeline_s else None
        self._rates: dict[tuple, tuple] = {}

    def _cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Each replica's (service, zone) cell, and every cell's replicas."""
        got = self.cache.get("cells")
        if got is None:
            index = {(s.index, z): k for k, (s, z) in enumerate((s, z) for s in self.fm.services for z in s.zones)}
            comps = [(int(r), index[s.index, z]) for s in self.plan.services for r, z in zip(s.replicas, s.zones, strict=True)]
            cell_of = np.zeros(max(r for r, _ in comps) + 1, dtype=np.intp)
            for r, k in comps:
                cell_of[r] = k
            size = np.array([s.size[z] for s in self.fm.services for z in s.zones])
            got = self.cache["cells"] = (cell_of, size)
        return got

    def _states(self, starts: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        """The balancers' state at each start time (the changes at or before it applied):
        an index into the list of distinct states, in the order they are first met.

        A state is, per service and zone, (alive, dead) replicas in rotation."""
        cell_of, size = self._cells()
        counts0 = np.stack([size, np.zeros_like(size)], axis=1).ravel()  # everything up, in rotation
        ch = self.changes
        spans, a = [], 0
        for svc in self.fm.services:
            spans.append((a, a + len(svc.zones)))
            a += len(svc.zones)

        def state_of(row: tuple) -> tuple:
            pairs = list(zip(row[0::2], row[1::2], strict=True))
            return tuple(tuple(pairs[a:b]) for a, b in spans)

        if ch:
            t, r, srv, rot = (np.array(x, dtype=d) for x, d in zip(zip(*ch, strict=True), (float, np.intp, bool, bool), strict=True))
            # each replica's status before its change (every replica starts serving, in rotation)
            order = np.argsort(r, kind="stable")
            same = r[order[1:]] == r[order[:-1]]
            prev_srv, prev_rot = np.ones(len(ch), dtype=bool), np.ones(len(ch), dtype=bool)
            prev_srv[order[1:][same]] = srv[order[:-1][same]]
            prev_rot[order[1:][same]] = rot[order[:-1][same]]
            cell = 2 * cell_of[r]
            after = np.searchsorted(t, starts, side="right")  # changes applied at each start
        radix = np.repeat(size + 1, 2)
        if float(np.prod(radix.astype(float))) < _CODE_LIMIT:  # a state is one integer: its counts in mixed radix
            weight = np.concatenate(([1], np.cumprod(radix[:-1])))
            code0 = int(counts0 @ weight)
            if ch:  # each change moves the code by what it adds and removes
                step = weight[cell + ~srv] * rot - weight[cell + ~prev_srv] * prev_rot
                code = code0 + np.concatenate(([0], np.cumsum(step)))[after]
            else:
                code = np.full(len(starts), code0, dtype=np.int64)
            _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
            met = np.argsort(first)  # number the states in the order they are met
            rank = np.empty_like(met)
            rank[met] = np.arange(len(met))
            known = self.cache.setdefault("states", {})  # code -> state, across replications
            states = []
            for c in code[first[met]].tolist():
                st = known.get(c)
                if st is None:
                    st = known[c] = state_of(tuple(((c // weight) % radix).tolist()))
                states.append(st)
            return rank[inverse.ravel()], states
        if ch:
            rows = np.arange(len(ch))
            delta = np.zeros((len(ch), len(counts0)), dtype=np.intp)
            np.add.at(delta, (rows, cell + ~srv), rot.astype(np.intp))
            np.add.at(delta, (rows, cell + ~prev_srv), -prev_rot.astype(np.intp))
            at = np.vstack([counts0, counts0 + np.cumsum(delta, axis=0)])[after]
        else:
            at = np.broadcast_to(counts0, (len(starts), len(counts0)))
        index: dict[tuple, int] = {}
        sid = np.fromiter((index.setdefault(row, len(index)) for row in map(tuple, at.tolist())), np.intp, len(at))
        return sid, [state_of(row) for row in index]

    def solution(self, state: tuple, rates: tuple, waits: dict | None = None) -> Solution:
        if not waits:
            sol = self.cache.get((state, rates, ()))
            if sol is not None:
                return sol
        wkey = tuple(sorted((s, _level(w / 1e-3), round(share, 2)) for s, (w, share) in (waits or {}).items()))
        key = (state, rates, wkey)
        sol = self.cache.get(key)
        if sol is None:
            reps = {s: (1e-3 * LEVEL**lv, share) for s, lv, share in wkey} if wkey else None
            sol = solve(self.fm, state, rates, reps)
            self.cache[key] = sol
        return sol

    def _load(self, state: tuple, ref: tuple) -> tuple[bool, float]:
        """Whether ``state`` is overloaded at the reference rates ``ref``, and the highest
        utilization of its services there (kept across replications)."""
        loads = self.cache.setdefault("load", {})
        got = loads.get((state, ref))
        if got is None:
            sol = self.solution(state, ref)
            util = 0.0
            for svc, counts in zip(self.fm.services, state, strict=True):
                alive = sum(a for a, _ in counts)
                if alive and svc.workers:
                    util = max(util, sol.busy[svc.index] / (alive * svc.workers))
            got = loads[state, ref] = (bool(sol.overloaded), util)
        return got

    def _alive(self, state: tuple, s: int) -> int:
        return sum(a for a, _ in state[s])

    def rates(self, levels: tuple) -> tuple:
        got = self._rates.get(levels)
        if got is None:
            got = tuple(e.spec.rate_per_s * LEVEL**lv for e, lv in zip(self.fm.entries, levels, strict=True))
            self._rates[levels] = got
        return got

    def replay(self, cuts: list[float], grid: _Grid) -> None:
        """Every interval between consecutive ``cuts``.

        Intervals in a state that is steady at each of its traffic levels are added up
        for all of them at once (their weights by level in one pass); the others, and
        every interval while a queue is backed up, are stepped in time order.
        """
        a, b = np.asarray(cuts[:-1]), np.asarray(cuts[1:])
        sid, states = self._states(a)
        if self.timeline is not None:  # every second counts on the timeline: step them all
            for j in range(len(a)):
                self._pieces(float(a[j]), float(b[j]), states[sid[j]], grid)
            return
        w, tw = grid.level_weights(a, b), grid.level_times(a, b)
        rates = [self.rates(levels) for levels in grid.level_list()]
        light, unsafe = self._classify(states, sid, w, rates, grid)
        bulk = np.ones(len(a), dtype=bool)
        for j in range(int(np.argmax(unsafe)) if unsafe.any() else len(a), len(a)):
            if self.backlog or unsafe[j]:
                bulk[j] = False
                self._pieces(float(a[j]), float(b[j]), states[sid[j]], grid)
        self._add_steady(states, sid[bulk], w[bulk], tw[bulk], light, rates)

    def _classify(self, states, sid, w, rates, grid) -> tuple[list, np.ndarray]:
        """Each state's reference rates when one solution, scaled by the rate, stands for
        all its traffic levels (None: solved at each level), and which intervals meet an
        overloaded level (these need the fluid backlog).

        One solution at the mean rate (level 0), scaled, stands for a state that is
        lightly loaded (utilization under ``LIGHT_UTIL`` at its busiest level in this
        replication: waiting is negligible at any level), or that lasts under
        ``SHORT_S`` in this replication (a health check catching a failure, replicas
        coming back one by one) while under ``SHORT_UTIL``: its outcome shares hardly
        depend on the rate and its latencies weigh a few seconds a year."""
        nz = w > 0
        present = np.zeros((len(states), len(rates)), dtype=bool)
        np.logical_or.at(present, sid, nz)
        light: list = [None] * len(states)
        overloaded = np.zeros((len(states), len(rates)), dtype=bool)
        scalable = not grid.homogeneous
        if scalable:
            ref = self.rates((0,) * grid.n_entries)
            total = np.array([sum(r) for r in rates]) / sum(ref)
            stay = np.bincount(sid, weights=w.sum(axis=1), minlength=len(states))
        has = nz.any(axis=1)
        first = np.flatnonzero(has)
        _, at = np.unique(sid[first], return_index=True)
        for j in np.sort(first[at]):  # states in the order they are met
            s, state = sid[j], states[sid[j]]
            if scalable:
                over, util = self._load(state, ref)
                limit = LIGHT_UTIL if stay[s] >= SHORT_S else SHORT_UTIL
                if not over and util * total[present[s]].max() < limit:
                    light[s] = ref
                    continue
            for k in np.flatnonzero(present[s]):
                overloaded[s, k] = bool(self.solution(state, rates[k]).overloaded)
        unsafe = (nz & overloaded[sid]).any(axis=1)
        return light, unsafe

    def _weigh(self, key: tuple, count: float, seconds: float) -> None:
        got = self.steady.get(key)
        if got is None:
            got = self.steady[key] = np.zeros(2)
        got += (count, seconds)

    def _add_steady(self, states, sid, w, tw, light, rates) -> None:
        """Add the steady time of the intervals ``sid`` (their weights ``w``, their seconds
        ``tw``) by state and level."""
        is_light = np.array([x is not None for x in light], dtype=bool)
        if is_light.any():
            total = np.array([sum(r) for r in rates])
            ref = np.array([sum(x) if x is not None else 1.0 for x in light])
            sel = is_light[sid]
            lw = np.bincount(sid[sel], weights=(w[sel] @ total) / ref[sid[sel]], minlength=len(states))
            lt = np.bincount(sid[sel], weights=tw[sel].sum(axis=1), minlength=len(states))
            for s in np.flatnonzero(lw > 0):  # lightly loaded: counts scale with the rate
                self._weigh((states[s], light[s]), float(lw[s]), float(lt[s]))
        sel = ~is_light[sid]
        by_level = np.zeros((len(states), len(rates)))
        np.add.at(by_level, sid[sel], w[sel])
        time_by_level = np.zeros((len(states), len(rates)))
        np.add.at(time_by_level, sid[sel], tw[sel])
        for s, k in zip(*np.nonzero(by_level > 0), strict=True):
            self._weigh((states[s], rates[k]), float(by_level[s, k]), float(time_by_level[s, k]))

    def _pieces(self, a: float, b: float, state: tuple, grid: _Grid) -> None:
        for start, stop, levels, per_s in grid.pieces(a, b):
            self.piece(start, stop, state, self.rates(levels), per_s)

    def piece(self, a: float, b: float, state: tuple, rates: tuple, per_s: float) -> None:
        """Step the fluid backlogs through ``[a, b)`` while any queue is backed up."""
        t = a
        while t < b:
            if not self.backlog and not self.solution(state, rates).overloaded:
                self._weigh((state, rates), self._in_window(t, b) * per_s, self._in_window(t, b))
                self._on_timeline(self.solution(state, rates), t, b, per_s)
                return
            dt = min(BACKLOG_STEP_S, b - t)
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
            self.totals.add(sol, self._in_window(t, t + dt) * per_s, self._in_window(t, t + dt), state)
            self._on_timeline(sol, t, t + dt, per_s)
            t += dt

    def _on_timeline(self, sol: Solution, a: float, b: float, per_s: float) -> None:
        tl = self.timeline
        if tl is None or b <= a:
            return
        if sol.timeline is None:  # per second: requests, successes, their latency histogram
            v, at = sol.dense(), self.fm.layout.entry_at
            hist = sum(v[o + SCALARS : o + SCALARS + BUCKETS] for o in at)
            calls = sum(float(v[o]) for o in at)
            ok = sum(float(v[o + 4]) for o in at)  # the first outcome is success
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
        keys = list(self.steady)
        self.totals.add_many([self.solution(*key) for key in keys], [float(self.steady[k][0]) for k in keys],
                             [float(self.steady[k][1]) for k in keys], [key[0] for key in keys])
        return self.totals.snapshot(self.plan)


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """One replication with traffic as flows."""
    start = time.perf_counter()
    fm, cache = _model(plan, pool_key(rep_seed))
    trace = fast.fast_trace(plan, rep_seed) if plan.repair_crews is None else simulate_failures(plan, rep_seed)
    rep = replication_key(rep_seed)
    changes = replica_changes(plan, trace, rep)
    replay = _Replay(plan, fm, cache, changes)
    if any(t.flash_crowds for t in plan.topology.traffic):
        grid = _Grid(_rate_functions(plan, rep), plan.warmup_s, plan.end_s)
    else:  # the same for every replication
        grid = cache.get("grid")
        if grid is None:
            grid = cache["grid"] = _Grid(_rate_functions(plan, rep), plan.warmup_s, plan.end_s)
    cuts = sorted({0.0, plan.end_s} | {c[0] for c in changes if c[0] < plan.end_s})
    replay.replay(cuts, grid)
    record = summarise_trace(plan, trace, index)
    record.extra["requests"] = replay.finish()
    if replay.timeline is not None:
        record.extra["timeline"] = replay.timeline
    record.wall_s = time.perf_counter() - start
    return record
