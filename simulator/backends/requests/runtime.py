"""Run-time objects of the ``requests`` data plane: replicas, services, edges, calls."""

from __future__ import annotations

from collections import deque
from typing import Any

from simulator.backends.requests.balancer import Balancer
from simulator.backends.requests.resilience import Breaker, Budget
from simulator.backends.requests.stats import SUCCESS, CallStats, EdgeStats
from simulator.backends.requests.traffic import Arrivals
from simulator.rng import UNIT_UNIFORM, Stream, named_stream

__all__ = ["Replica", "ServiceRT", "EdgeRT", "EntryRT", "Call", "Attempt"]


class Replica:
    """One replica's workers, FIFO queue and health-check state."""

    __slots__ = (
        "comp", "name", "service", "zone", "region", "workers", "limit", "busy", "queue", "up",
        "in_rotation", "epoch", "outstanding", "active", "svc_time", "err_u", "busy_area",
        "queue_area", "last_t", "hc_phase", "hc_fail", "hc_succ", "hc_probing", "eligible", "slow",
        "base_workers", "dynamic",
    )

    def __init__(self, comp: int, name: str, service: ServiceRT, zone: str, region: str) -> None:
        self.comp, self.name, self.service, self.zone, self.region = comp, name, service, zone, region
        self.workers = service.workers
        self.limit = service.limit
        self.busy = 0
        self.queue: deque[Attempt] = deque()
        self.up = True
        self.in_rotation = True
        self.epoch = 0
        self.outstanding = 0
        self.active: set[Attempt] = set()
        self.svc_time: Stream | None = None
        self.err_u: Stream | None = None
        self.busy_area = self.queue_area = self.last_t = 0.0
        self.hc_phase = 0.0
        self.hc_fail = self.hc_succ = 0
        self.hc_probing = False
        self.eligible = True  # may take requests at all (a datastore's replicas, a retiring pod: no)
        self.slow = 1.0  # service-time multiplier (a slowdown fault)
        self.base_workers = self.workers  # before any capacity loss
        self.dynamic = False  # added by the autoscaler

    def account(self, now: float) -> None:
        dt = now - self.last_t
        self.busy_area += self.busy * dt
        self.queue_area += len(self.queue) * dt
        self.last_t = now


class ServiceRT:
    """A service at run time: replicas, balancer, call groups, counters."""

    def __init__(self, index: int, name: str, spec: Any) -> None:
        self.index, self.name = index, name
        self.workers = spec.workers
        self.limit = spec.queue_limit
        self.passthrough = spec.service_time is None
        self.service_time = spec.service_time
        self.err_rate = spec.error_rate
        self.connect_timeout = spec.load_balancer.connect_timeout_s
        self.hc = spec.load_balancer.health_check
        self.replicas: list[Replica] = []
        self.groups: list[list[EdgeRT]] = []
        self.balancer: Balancer | None = None
        self.stats = CallStats()
        self.spec = spec
        # chaos faults in force on calls to this service
        self.extra_err = 0.0  # injected error rate
        self.extra_delay: list[tuple[float, float]] = []  # (delay, jitter) of latency faults
        self.blackhole = 0  # calls hang until their timeout while > 0
        self.scaler: Any = None  # its autoscaler, if any
        self.store: Any = None  # its datastore roles, if any


class EdgeRT:
    """A caller -> callee call spec at run time (or traffic -> entry)."""

    def __init__(self, name: str, callee: ServiceRT, spec: Any, rep: tuple[int, int]) -> None:
        self.name, self.callee = name, callee
        self.optional = getattr(spec, "optional", False)
        self.timeout = getattr(spec, "timeout_s", None)
        self.retries = getattr(spec, "retries", 0)
        self.backoff = getattr(spec, "backoff", None)
        budget = getattr(spec, "retry_budget", None)
        breaker = getattr(spec, "circuit_breaker", None)
        self.budget = Budget(budget) if budget is not None else None
        self.breaker = Breaker(breaker) if breaker is not None else None
        self.stats = EdgeStats()
        self.jitter = named_stream(rep, f"jitter/{name}", UNIT_UNIFORM)
        self.rep = rep
        self.rtt: dict[Any, Stream] = {}
        self.entry: EntryRT | None = None
        self.client_order: dict[str, list[str]] | None = None
        self.timeouts: deque[tuple[float, Attempt]] = deque()  # pending limits, in time order
        self.timer_armed = False

    def rtt_stream(self, kind: Any, dist: Any) -> Stream:
        st = self.rtt.get(kind)
        if st is None:
            st = self.rtt[kind] = named_stream(self.rep, f"net/{self.name}/{kind}", dist)
        return st


class EntryRT:
    """A traffic entry: its arrivals and its end-to-end counters."""

    def __init__(self, label: str, spec: Any, edge: EdgeRT, arrivals: Arrivals, shares: Any, pick: Stream | None):
        self.label, self.spec, self.edge, self.arrivals = label, spec, edge, arrivals
        self.deadline = spec.deadline_s
        self.shares = shares  # [(region, cumulative share)] or None
        self.pick = pick
        self.stats = CallStats()
        self.dns: Any = None  # DNS failover of its client regions, if configured


class Call:
    __slots__ = ("edge", "parent", "zone", "region", "deadline", "t0", "n", "counted", "prev", "dest")

    def __init__(self, edge: EdgeRT, parent: Attempt | None, zone: str | None, region: str | None,
                 deadline: float, t0: float, counted: bool) -> None:
        self.edge, self.parent, self.zone, self.region = edge, parent, zone, region
        self.deadline, self.t0, self.counted = deadline, t0, counted
        self.n = 0
        self.prev = 0.0
        self.dest: str | None = None  # a client's region as its DNS answer says (None: nearest healthy)


class Attempt:
    __slots__ = ("call", "replica", "settled", "half", "t_send", "epoch", "pending", "failed", "group", "outcome")

    def __init__(self, call: Call, replica: Replica) -> None:
        self.call, self.replica = call, replica
        self.settled = False
        self.half = 0.0
        self.t_send = 0.0
        self.epoch = -1
        self.pending = 0
        self.failed = False
        self.group = 0
        self.outcome = SUCCESS
