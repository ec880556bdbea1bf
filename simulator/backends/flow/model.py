"""The static part of the ``flow`` backend: a topology's request path as arrays.

Distributions are represented by ``M`` virtual requests: samples drawn by inverse
transform from uniforms of named slots (one slot per independent quantity), so the flow
solution of a state is deterministic and smooth from one state to the next. The ``M``
are ``SETS`` independent sets of ``M / SETS``: each set's uniforms for a continuous
quantity are stratified (one per stratum of width ``SETS / M``), a decision's (error,
shed, route, wait) are independent, and the permutations that pair the samples of
different slots stay inside a set, so each set is a replicate of the whole computation.
A figure computed from each set alone spreads as the virtual requests' error: that
spread enters the intervals (:mod:`simulator.metrics.virtual`).

Every uniform derives from the run's seed through named streams (:mod:`simulator.rng`):
the same seed gives two variants of a model the same virtual requests wherever they
agree (common random numbers), and renaming a model changes none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.backends.requests.build import call_groups
from simulator.engine.plan import Plan
from simulator.metrics.histogram import BUCKETS
from simulator.metrics.outcomes import OUTCOMES
from simulator.metrics.virtual import COARSE_BUCKETS, SETS
from simulator.rng import name_key, stream_key, uniforms

__all__ = ["M", "SETS", "SET_SIZE", "SET_OF", "Pool", "ServiceModel", "EdgeModel", "EntryModel", "FlowModel", "Layout",
           "pool_key"]

#: Virtual requests per distribution, in SETS independent sets.
M = 1024
SET_SIZE = M // SETS
#: The set each virtual request belongs to.
SET_OF = np.repeat(np.arange(SETS), SET_SIZE)
SET_OF.flags.writeable = False
N_OUT = len(OUTCOMES)
#: A scope's figures in a solution vector: calls, attempts, busy, waiting, outcomes,
#: attempt outcomes (the scalars), its ok and failed latency histograms, then per set
#: of virtual requests its successes, the latency sums of its successful and of all its
#: requests, and its coarse ok and failed histograms.
SCALARS = 4 + 2 * N_OUT
SET_SUCCESS = SCALARS + 2 * BUCKETS
SET_HISTS = SET_SUCCESS + 3 * SETS
SCOPE = SET_HISTS + 2 * SETS * COARSE_BUCKETS
EDGE_KEYS = ("calls", "attempts", "retries", "breaker_rejected", "budget_denied", "breaker_open")
_POOL_NAME = name_key("flow/virtual-requests")


def pool_key(rep_seed: np.random.SeedSequence) -> tuple[int, int]:
    """The two words the virtual requests of a run derive from: a child of the run's
    root seed (the replications are its other children), named, not numbered."""
    root_key = rep_seed.spawn_key[:-1]
    seq = np.random.SeedSequence(rep_seed.entropy, spawn_key=(*root_key, _POOL_NAME))
    w = seq.generate_state(2, np.uint64)
    return int(w[0]), int(w[1])


class Pool:
    """Named slots of virtual-request uniforms, the same for every state of one run."""

    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        self._cache: dict[str, np.ndarray] = {}

    def _draws(self, slot: str, n: int) -> np.ndarray:
        return uniforms(stream_key(self.key, name_key(slot)), 0, n)

    def u(self, slot: str) -> np.ndarray:
        """``M`` uniforms, stratified within each set."""
        got = self._cache.get(slot)
        if got is None:
            draws = self._draws(slot, 2 * M)
            rank = np.argsort(np.argsort(draws[M:].reshape(SETS, SET_SIZE), axis=1), axis=1)
            got = ((rank + draws[:M].reshape(SETS, SET_SIZE)) / SET_SIZE).ravel()
            got.flags.writeable = False
            self._cache[slot] = got
        return got

    def b(self, slot: str) -> np.ndarray:
        """``M`` independent uniforms for a decision (an error, a shed, a route, a wait):
        not stratified, so the spread of a share between sets is an honest estimate of
        its error (stratified, a share below one per set would be the same in every set)."""
        key = "iid:" + slot
        got = self._cache.get(key)
        if got is None:
            got = self._draws(key, M)
            got.flags.writeable = False
            self._cache[key] = got
        return got

    def b_min(self, slot: str) -> float:
        """The smallest of ``b(slot)``."""
        key = "min:" + slot
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = float(self.b(slot).min())
        return got

    def perm(self, slot: str) -> np.ndarray:
        """A permutation of the virtual requests that keeps each inside its set."""
        key = "perm:" + slot
        got = self._cache.get(key)
        if got is None:
            order = np.argsort(self._draws(key, M).reshape(SETS, SET_SIZE), axis=1)
            got = (order + (np.arange(SETS) * SET_SIZE)[:, None]).ravel()
            got.flags.writeable = False
            self._cache[key] = got
        return got


@dataclass
class EdgeModel:
    name: str
    caller: int | None  # service index, None for traffic
    callee: int
    optional: bool
    timeout: float | None
    retries: int
    backoff: Any
    budget: Any
    breaker: Any
    group: int = 0


@dataclass
class ServiceModel:
    index: int
    name: str
    workers: int
    limit: int | None
    err_rate: float
    connect_timeout: float
    service: np.ndarray  # M service-time samples
    zones: list[str]  # zones with replicas, sorted
    zone_region: dict[str, str]
    size: dict[str, int]  # replicas per zone
    locality: str
    policy: str = "round_robin"
    service_mean: float = 0.0  # the service time's exact mean and variance (the samples' are near them)
    service_var: float = 0.0
    hazard: float = 0.0  # failures per second of an alive replica (its own, its zone's, ...): in-flight work is lost
    groups: list[list[EdgeModel]] = field(default_factory=list)
    group_ends: list[int] = field(default_factory=list)  # calls up to and including each group


@dataclass
class EntryModel:
    label: str
    spec: Any
    edge: EdgeModel
    callee: int
    deadline: float | None
    shares: dict[str, float] | None
    order: dict[str, list[str]] | None  # client region -> entry regions, nearest first


def replica_hazard(plan: Plan, replicas: np.ndarray) -> float:
    """The mean, over ``replicas``, of the rate at which an alive replica stops: its own
    failures and those of its zone, region and provider (each once per mean time to
    failure, counted in the time it is up), and the common-cause shocks it is in."""
    comps = plan.components
    total = 0.0
    for r in replicas:
        i = int(r)
        while i >= 0:
            c = comps[i]
            if c.fails and math.isfinite(c.ttf_scale) and c.ttf.mean > 0:
                total += 1.0 / (c.ttf.mean * c.ttf_scale)
            i = c.parent
        total += sum(g.rate_per_s for g in plan.shocks if int(r) in g.members)
    return total / len(replicas) if len(replicas) else 0.0


class FlowModel:
    """Everything about a plan's request path that does not change between states."""

    def __init__(self, plan: Plan, key: tuple[int, int]) -> None:
        top = plan.topology
        self.plan = plan
        self.pool = Pool(key)
        self.net = top.network
        zones = top.zones()
        self.services: list[ServiceModel] = []
        for node in plan.services:
            spec = top.services[node.name]
            size: dict[str, int] = {}
            for z in node.zones:
                size[z] = size.get(z, 0) + 1
            st = spec.service_time
            samples = st.ppf(self.pool.u(f"svc/{node.name}")) if st is not None else np.zeros(M)
            self.services.append(
                ServiceModel(
                    node.index, node.name, spec.workers, spec.queue_limit, spec.error_rate,
                    spec.load_balancer.connect_timeout_s, samples, sorted(size),
                    {z: zones[z][1] for z in size}, size, spec.load_balancer.locality, spec.load_balancer.policy,
                    st.mean if st is not None else 0.0, st.variance if st is not None else 0.0,
                    replica_hazard(plan, node.replicas),
                )
            )
        index = {s.name: s.index for s in self.services}
        for svc in self.services:
            spec = top.services[svc.name]
            svc.groups = [
                [
                    EdgeModel(f"{svc.name}->{c.service}", svc.index, index[c.service], c.optional, c.timeout_s,
                              c.retries, c.backoff, c.retry_budget, c.circuit_breaker, g)
                    for c in group
                ]
                for g, group in enumerate(call_groups(spec.calls))
            ]
            svc.group_ends = [sum(len(g) for g in svc.groups[: k + 1]) for k in range(len(svc.groups))]
        self.entries: list[EntryModel] = []
        for t in top.traffic:
            callee = index[t.entry]
            edge = EdgeModel(f"traffic:{t.label}->{t.entry}", None, callee, False, None, 0, None, None, None)
            order = None
            if t.from_:
                regions = sorted(set(self.services[callee].zone_region.values()))
                order = {c: sorted(regions, key=lambda r, c=c: (self.expected_client_rtt(c, r), r)) for c in t.from_}
            self.entries.append(EntryModel(t.label, t, edge, callee, t.deadline_s, t.from_, order))
        self.order = list(plan.order)  # callees before callers
        self.memo: dict = {}  # small results reused between states (queue waits)
        self.ids: dict = {}  # keys of parts -> their numbers (see solver._id)
        self.layout = Layout(self)

    def pair_rtt(self, a: str, b: str) -> Any:
        for pair in self.net.region_pairs:
            if set(pair.between) == {a, b}:
                return pair.rtt
        return self.net.cross_region

    def expected_client_rtt(self, client: str, region: str) -> float:
        extra = 0.0 if client == region else self.pair_rtt(client, region).mean
        return self.net.client.mean + extra

    def edges(self) -> list[EdgeModel]:
        """Every edge: the entries', then each service's calls."""
        out = [e.edge for e in self.entries]
        for svc in self.services:
            for group in svc.groups:
                out.extend(group)
        return out

    def edge_entries(self) -> list[tuple[EdgeModel, EntryModel | None]]:
        """Every edge with the entry it carries traffic from (None for a call)."""
        got = self.memo.get("edge entries")
        if got is None:
            by_edge = {id(en.edge): en for en in self.entries}
            got = self.memo["edge entries"] = [(e, by_edge.get(id(e))) for e in self.edges()]
        return got


class Layout:
    """Where each figure of a solution sits in its flat vector: a block of ``SCOPE``
    figures per entry, then per service, then ``EDGE_KEYS`` per edge (every figure is
    per second of the state, so adding a state's time is one vector operation)."""

    def __init__(self, fm: FlowModel) -> None:
        self.scopes = [("entry", e.label) for e in fm.entries] + [("service", s.name) for s in fm.services]
        self.entry_at = [k * SCOPE for k in range(len(fm.entries))]
        self.service_at = [(len(fm.entries) + s.index) * SCOPE for s in fm.services]
        self.edge_names = [e.name for e in fm.edges()]
        base = len(self.scopes) * SCOPE
        self.edge_at = {name: base + j * len(EDGE_KEYS) for j, name in enumerate(self.edge_names)}
        self.size = base + len(self.edge_names) * len(EDGE_KEYS)
        self.scratch = np.zeros(self.size)  # where the solver builds a solution's vector
        dense = np.concatenate((np.arange(SCALARS), SET_SUCCESS + np.arange(3 * SETS)))
        scalars = [o + dense for o in range(0, base, SCOPE)]
        self.fixed = np.concatenate([*scalars, np.arange(base, self.size)])  # figures every solution has
        self.hists: list[tuple[np.ndarray, np.ndarray]] = []  # (where in the vector, counts) by id

    def hist_id(self, index: np.ndarray, counts: np.ndarray) -> int:
        """An id for a latency histogram at ``index`` (a call result's, in one scope)."""
        self.hists.append((index, counts))
        return len(self.hists) - 1

    def add_hists(self, v: np.ndarray, ids: np.ndarray, coefs: np.ndarray) -> None:
        """``v`` += the histograms ``ids`` times ``coefs`` (each distinct one added once)."""
        if len(ids) == 0:
            return
        uniq, first, at = np.unique(ids, return_index=True, return_inverse=True)
        total = np.bincount(at, weights=coefs, minlength=len(uniq))
        # add them in the order they appear, not by id: ids number histograms in the order
        # the process first met them, so that order depends on which replications it ran
        # before; the sums must not (results are the same whatever the executor)
        order = np.argsort(first, kind="stable")
        uniq, total = uniq[order], total[order]
        hists = [self.hists[h] for h in uniq.tolist()]
        index = np.concatenate([h[0] for h in hists])
        counts = np.concatenate([h[1] for h in hists]) * np.repeat(total, [len(h[0]) for h in hists])
        v += np.bincount(index, weights=counts, minlength=len(v))
