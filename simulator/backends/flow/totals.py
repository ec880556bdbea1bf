"""A ``flow`` replication's expected counts, added state by state, in the shape of a
``requests`` snapshot (every scope's and edge's figures, latency histograms and the
figures per set of virtual requests)."""

from __future__ import annotations

import math

import numpy as np

from simulator.backends.flow.model import EDGE_KEYS, N_OUT, SCALARS, SCOPE, SET_HISTS, SET_SUCCESS, FlowModel
from simulator.backends.flow.solver import Solution
from simulator.engine.plan import Plan
from simulator.metrics.histogram import BUCKETS, FrozenHistogram, bucket_values
from simulator.metrics.outcomes import OUTCOMES
from simulator.metrics.virtual import VirtualSplit

__all__ = ["Totals"]


class Totals:
    """Expected counts of one replication, in the shape of a ``requests`` snapshot.

    Every figure of a solution is laid out in one flat vector (see
    :class:`~simulator.backends.flow.model.Layout`), so adding a state's time is a
    single vector operation.
    """

    def __init__(self, fm: FlowModel) -> None:
        self.fm = fm
        self._alive_of: dict[tuple, list[int]] = {}
        self.names = fm.layout.scopes
        self.edge_names = fm.layout.edge_names
        self.vec = np.zeros(fm.layout.size)
        lay = fm.layout
        at = {int(x): k for k, x in enumerate(lay.fixed)}
        # figures about time, at their place in ``Solution.fixed``: busy workers of each
        # service (at most its alive replicas' workers), time each edge's breaker is open
        self.busy_at = np.array([at[o + 2] for o in lay.service_at], dtype=np.intp)
        self.workers = np.array([float(s.workers) for s in fm.services])
        self.open_at = np.array([at[lay.edge_at[e] + EDGE_KEYS.index("breaker_open")] for e in lay.edge_names],
                                dtype=np.intp)

    def add(self, sol: Solution, seconds: float, time_s: float, state: tuple) -> None:
        if seconds > 0 or time_s > 0:
            self.add_many([sol], [seconds], [time_s], [state])

    def add_many(self, sols: list[Solution], seconds: list[float], times: list[float], states: list[tuple]) -> None:
        """Add each solution at once: ``seconds`` weigh the counts (requests, outcomes:
        the rate's integral over the level's rate), ``times`` the figures about time in
        the state ``states[k]`` solved: the time an edge's breaker is open, and the bound of
        the busy workers, which follow the rate (the count weight) up to every alive
        replica's workers all the time (a saturated level weighted by the rate would be
        busy longer than it lasted). The scalar figures as one matrix product, each
        distinct histogram once with the sum of its coefficients."""
        if not sols:
            return
        lay = self.fm.layout
        sec = np.asarray(seconds, dtype=float)
        time_s = np.asarray(times, dtype=float)
        fixed = np.array([sol.fixed for sol in sols])
        scaled = sec[:, None] * fixed
        scaled[:, self.open_at] = time_s[:, None] * fixed[:, self.open_at]
        alive = np.array([self._alive(state) for state in states], dtype=float)
        most = time_s[:, None] * alive.reshape(len(sols), -1) * self.workers
        scaled[:, self.busy_at] = np.minimum(scaled[:, self.busy_at], most)
        # summed row by row (not a BLAS product, whose order of additions may vary)
        self.vec[lay.fixed] += np.sum(scaled, axis=0)
        ids = np.concatenate([sol.hist_ids for sol in sols])
        coefs = np.concatenate([sol.hist_coefs for sol in sols]) * np.repeat(sec, [len(sol.hist_ids) for sol in sols])
        lay.add_hists(self.vec, ids, coefs)

    def _alive(self, state: tuple) -> list[int]:
        """Alive replicas of each service in ``state`` (a state recurs: kept)."""
        got = self._alive_of.get(state)
        if got is None:
            got = self._alive_of[state] = [sum(a for a, _ in zones) for zones in state]
        return got

    def _scope(self, name: tuple) -> dict:
        o = self.names.index(name) * SCOPE
        v = self.vec
        ok, fail = v[o + SCALARS : o + SCALARS + BUCKETS], v[o + SCALARS + BUCKETS : o + SET_SUCCESS]
        return {
            "calls": float(v[o]),
            "outcomes": dict(zip(OUTCOMES, v[o + 4 : o + 4 + N_OUT].tolist(), strict=True)),
            "attempts": float(v[o + 1]),
            "attempt_outcomes": dict(zip(OUTCOMES, v[o + 4 + N_OUT : o + SCALARS].tolist(), strict=True)),
            "in_flight": 0.0,
            "latency_ok": _frozen(ok),
            "latency_all": _frozen(ok + fail),
            "busy_s": float(v[o + 2]),
            "queue_s": float(v[o + 3]),
            "virtual": _split(v[o + SET_SUCCESS : o + SCOPE]),
        }

    def _edge(self, j: int) -> dict:
        base = len(self.names) * SCOPE + j * len(EDGE_KEYS)
        return dict(zip(EDGE_KEYS, self.vec[base : base + len(EDGE_KEYS)].tolist(), strict=True))

    def snapshot(self, plan: Plan) -> dict:
        observed = plan.horizon_s
        top = plan.topology
        services = {}
        for svc in self.fm.services:
            spec = top.services[svc.name]
            cap = spec.workers * sum(svc.size.values()) * observed if spec.service_time is not None else 0.0
            services[svc.name] = {**self._scope(("service", svc.name)), "capacity_s": cap}
        entries = {}
        for e in self.fm.entries:
            sc = self._scope(("entry", e.label))
            del sc["busy_s"], sc["queue_s"]
            entries[e.label] = {**sc, "entry": self.fm.services[e.callee].name}
        edges = {}
        for j, name in enumerate(self.edge_names):
            v = self._edge(j)
            edges[name] = {
                "calls": v["calls"], "attempts": v["attempts"], "retries": v["retries"],
                "breaker_rejected": v["breaker_rejected"], "budget_denied": v["budget_denied"],
                "breaker_opened": 0, "breaker_open_s": v["breaker_open"],
            }
        return {"entries": entries, "services": services, "edges": edges}


def _split(v: np.ndarray) -> VirtualSplit:
    """A scope's figures per set of virtual requests, from its block of the vector."""
    hists = v[SET_HISTS - SET_SUCCESS :]
    half = len(hists) // 2
    sets = (SET_HISTS - SET_SUCCESS) // 3

    def sparse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nz = np.flatnonzero(x > 0)
        return nz.astype(np.int32), x[nz]

    success, ok_total, all_total = (v[k * sets : (k + 1) * sets].copy() for k in range(3))
    return VirtualSplit(success, sparse(hists[:half]), sparse(hists[half:]), ok_total, all_total)


def _frozen(dense: np.ndarray) -> FrozenHistogram:
    nz = np.flatnonzero(dense > 0)
    # the sum of latencies is known to the bucket, like every latency here
    return FrozenHistogram(nz.astype(np.int32), dense[nz], float(dense.sum()), math.fsum(dense[nz] * _MID[nz]))


_MID = bucket_values()
