"""The static part of the ``flow`` backend: a topology's request path as arrays.

Distributions are represented by ``M`` samples drawn by inverse transform from
stratified uniforms (each slot of randomness has its own fixed set), so the flow
solution of a state is deterministic and smooth from one state to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.backends.requests.build import call_groups
from simulator.engine.plan import Plan
from simulator.metrics.histogram import BUCKETS
from simulator.metrics.outcomes import OUTCOMES
from simulator.rng import name_key

__all__ = ["M", "Pool", "ServiceModel", "EdgeModel", "EntryModel", "FlowModel", "Layout"]

#: Virtual requests per distribution.
M = 1024
N_OUT = len(OUTCOMES)
#: A scope's figures in a solution vector: calls, attempts, busy, waiting, outcomes,
#: attempt outcomes (the scalars), then its ok and failed latency histograms.
SCALARS = 4 + 2 * N_OUT
SCOPE = SCALARS + 2 * BUCKETS
EDGE_KEYS = ("calls", "attempts", "retries", "breaker_rejected", "budget_denied", "breaker_open")


class Pool:
    """Named sets of stratified uniforms, the same for every state of one model."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, np.ndarray] = {}

    def u(self, slot: str) -> np.ndarray:
        got = self._cache.get(slot)
        if got is None:
            rng = np.random.default_rng([self.seed, name_key(slot)])
            got = (rng.permutation(M) + rng.random(M)) / M
            self._cache[slot] = got
        return got

    def u_min(self, slot: str) -> float:
        """The smallest of ``u(slot)``."""
        key = "min:" + slot
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = float(self.u(slot).min())
        return got

    def perm(self, slot: str) -> np.ndarray:
        key = "perm:" + slot
        got = self._cache.get(key)
        if got is None:
            got = np.random.default_rng([self.seed, name_key(key)]).permutation(M)
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


class FlowModel:
    """Everything about a plan's request path that does not change between states."""

    def __init__(self, plan: Plan) -> None:
        top = plan.topology
        self.plan = plan
        self.pool = Pool(int(top.model_hash(), 16) & 0xFFFFFFFF)
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
        scalars = [o + np.arange(SCALARS) for o in range(0, base, SCOPE)]
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
