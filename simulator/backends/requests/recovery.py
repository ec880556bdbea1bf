"""Recovery mechanics of the ``requests`` data plane: DNS failover, datastore roles, autoscaling.

Each is a small state machine driven by the loop and by the data plane's hooks (a
replica starts or stops serving, a balancer's view changes). They note what they do
as events (``dns_switch``, ``failover_start``, ``promoted``, ``scale_up``, ``pod_ready``...)
so a chaos run can tell when a fault was detected and when traffic had moved.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simulator.backends.requests.runtime import Replica, ServiceRT

if TYPE_CHECKING:
    from simulator.backends.requests.dataplane import DataPlane
    from simulator.rng import Stream

__all__ = ["DnsFailover", "Datastore", "Autoscaler"]


class DnsFailover:
    """Health-checked DNS records for one traffic entry's client regions.

    Each region that has the entry service is probed every ``interval`` (at a random
    phase); it is believed unhealthy after ``unhealthy_after`` failed probes in a row
    (no replica of the entry service serving there) and healthy again after
    ``healthy_after`` good ones. A client region's answer is the nearest region
    believed healthy (if none is, the answer stays: DNS fails open). After a change,
    a client still holds the old answer with probability ``1 - age/ttl`` (cache ages
    uniform over the TTL), so the move completes ``ttl`` after the change.
    """

    def __init__(self, dp: DataPlane, label: str, svc: ServiceRT, spec: Any, order: dict[str, list[str]],
                 phase: float, cache_u: Stream) -> None:
        self.dp, self.label, self.svc = dp, label, svc
        self.ttl = spec.ttl_s
        self.hc = spec.health_check
        self.order = order
        self.u = cache_u
        regions = sorted({r for regions in order.values() for r in regions})
        self.believed = dict.fromkeys(regions, True)
        self.fails = dict.fromkeys(regions, 0)
        self.succ = dict.fromkeys(regions, 0)
        self.answer = {c: order[c][0] for c in order}
        self.prev = dict(self.answer)
        self.changed_at = dict.fromkeys(order, -math.inf)
        self.switches: list[tuple[float, str, str, str]] = []  # (t, client, from, to)
        dp.loop.at(phase, self.probe, None)

    def region_serving(self, region: str) -> bool:
        return any(r.up and r.eligible for r in self.svc.replicas if r.region == region)

    def probe(self, _arg: object) -> None:
        now = self.dp.loop.now
        for region in self.believed:
            if self.region_serving(region):
                self.succ[region] += 1
                self.fails[region] = 0
                if not self.believed[region] and self.succ[region] >= self.hc.healthy_after:
                    self.believed[region] = True
            else:
                self.fails[region] += 1
                self.succ[region] = 0
                if self.believed[region] and self.fails[region] >= self.hc.unhealthy_after:
                    self.believed[region] = False
        for client, regions in self.order.items():
            best = next((r for r in regions if self.believed[r]), None)
            if best is not None and best != self.answer[client]:
                self.prev[client], self.answer[client] = self.answer[client], best
                self.changed_at[client] = now
                self.switches.append((now, client, self.prev[client], best))
                self.dp.event("dns_switch", f"{self.label}:{client}:{self.prev[client]}->{best}")
        if now + self.hc.interval_s < self.dp.end:
            self.dp.loop.at(now + self.hc.interval_s, self.probe, None)

    def resolve(self, client: str, now: float) -> str:
        """The region a request from ``client`` is sent to (its cached DNS answer)."""
        age = now - self.changed_at[client]
        if age < self.ttl and self.u() >= age / self.ttl:
            return self.prev[client]
        return self.answer[client]


class Datastore:
    """Primary/replica roles of one service with asynchronous replication.

    Only the primary takes calls. When it stops serving, the failover starts as soon as
    the balancer notices (its health checks; at once without them) and promotes a
    serving replica (another zone preferred) ``failover`` later; if the old primary is
    back first, it stays primary and nothing is lost. A promotion loses the writes of
    the replication lag at the moment the primary failed: ``lag`` drawn then, plus the
    time replication had been paused (a ``replication_pause`` fault).
    """

    def __init__(self, dp: DataPlane, svc: ServiceRT, spec: Any, lag: Stream, failover: Stream) -> None:
        self.dp, self.svc = dp, svc
        self.lag, self.failover = lag, failover
        self.primary: Replica = svc.replicas[0]
        for r in svc.replicas[1:]:
            r.eligible = False
        svc.balancer.rebuild()
        self.failed_at: float | None = None  # primary down since, not yet failed over
        self.lag_at_failure = 0.0
        self.failing = False  # a failover timer is running
        self.waiting = False  # failover due but no replica serving
        self.paused_since: float | None = None
        self.losses: list[tuple[float, float, float]] = []  # (primary failed, promoted, seconds of writes lost)
        dp.state_hooks.append(self.on_state)
        dp.rotation_hooks.append(self.on_rotation)

    def on_state(self, r: Replica) -> None:
        if r.service is not self.svc:
            return
        now = self.dp.loop.now
        if r is self.primary:
            if not r.up and self.failed_at is None:
                self.failed_at = now
                paused = now - self.paused_since if self.paused_since is not None else 0.0
                self.lag_at_failure = self.lag() + paused
                self.dp.event("primary_lost", r.name)
                if r.service.hc is None:
                    self.start_failover()
            elif r.up and self.failed_at is not None and not self.failing:
                self.failed_at = None  # back before anyone failed over: nothing lost
                self.waiting = False
        elif r.up and self.waiting:
            self.promote(None)

    def on_rotation(self, r: Replica) -> None:
        if r is self.primary and not r.in_rotation and self.failed_at is not None and not self.failing:
            self.start_failover()

    def start_failover(self) -> None:
        self.failing = True
        self.dp.event("failover_start", self.svc.name)
        self.dp.loop.at(self.dp.loop.now + self.failover(), self.promote, None)

    def promote(self, _arg: object) -> None:
        self.failing = False
        old = self.primary
        if old.up and not self.waiting and self.failed_at is None:
            return
        cands = [r for r in self.svc.replicas if r is not old and r.up]
        if not cands:
            if old.up:  # the old primary came back first
                self.failed_at, self.waiting = None, False
                return
            self.waiting = True
            return
        cands.sort(key=lambda r: r.zone == old.zone)  # another zone first (stable)
        new = cands[0]
        old.eligible = False
        new.eligible = True
        self.primary = new
        now = self.dp.loop.now
        self.losses.append((self.failed_at if self.failed_at is not None else now, now, self.lag_at_failure))
        self.failed_at, self.waiting = None, False
        self.svc.balancer.rebuild()
        self.dp.event("promoted", new.name)

    def pause(self) -> None:
        if self.paused_since is None:
            self.paused_since = self.dp.loop.now

    def resume(self) -> None:
        self.paused_since = None  # the replicas catch up


class Autoscaler:
    """Kubernetes HPA semantics for one service (see :class:`~simulator.model.recovery.AutoscalingSpec`)."""

    def __init__(self, dp: DataPlane, svc: ServiceRT, spec: Any, provisioning: Stream, make_pod: Any) -> None:
        self.dp, self.svc, self.spec = dp, svc, spec
        self.provisioning = provisioning
        self.make_pod = make_pod  # (zone, name) -> Replica, wired into the data plane
        self.floor = len(svc.replicas)
        self.count = self.floor  # replicas that exist or are being provisioned
        self.zones = list(dict.fromkeys(r.zone for r in svc.replicas))
        self.recs: list[tuple[float, int]] = []
        self.changes: list[tuple[float, int]] = []  # (t, +n / -n)
        self.marks: dict[int, float] = {}
        self.area = 0.0  # replica-seconds since the start
        self.last_t = 0.0
        self.pending: list[Replica] = []
        self.made = 0
        self.decisions: list[tuple[float, int, int]] = []  # (t, from, to)
        dp.loop.at(spec.sync_period_s, self.sync, None)

    def _account(self, now: float) -> None:
        self.area += self.count * (now - self.last_t)
        self.last_t = now

    def utilization(self, now: float, ready: list[Replica]) -> float | None:
        busy = cap = 0.0
        period = self.spec.sync_period_s
        for r in ready:
            r.account(now)
            before = self.marks.get(id(r))
            if before is not None and r.busy_area >= before:
                busy += r.busy_area - before
                cap += r.workers * period
        for r in self.svc.replicas:
            self.marks[id(r)] = r.busy_area
        return busy / cap if cap > 0 else None

    def sync(self, _arg: object) -> None:
        dp, spec = self.dp, self.spec
        now = dp.loop.now
        if now + spec.sync_period_s < dp.end:
            dp.loop.at(now + spec.sync_period_s, self.sync, None)
        ready = [r for r in self.svc.replicas if r.eligible and r.up and r.in_rotation]
        util = self.utilization(now, ready)
        if util is None or not ready:
            return
        ratio = util / spec.target_utilization
        want = self.count if abs(ratio - 1.0) <= spec.tolerance else math.ceil(len(ready) * ratio)
        want = min(max(want, self.floor), spec.max)
        keep = max(spec.scale_up.stabilization_s, spec.scale_down.stabilization_s)
        self.recs = [(t, w) for t, w in self.recs if t > now - keep]
        self.recs.append((now, want))
        if want > self.count:
            rule = spec.scale_up
            target = min(w for t, w in self.recs if t >= now - rule.stabilization_s)
            done = sum(d for t, d in self.changes if d > 0 and t > now - rule.period_s)
            room = max(rule.pods, math.ceil(rule.percent / 100.0 * self.count)) - done
            target = min(target, self.count + max(room, 0))
            if target > self.count:
                self.scale_up(now, target - self.count)
        elif want < self.count:
            rule = spec.scale_down
            target = max(w for t, w in self.recs if t >= now - rule.stabilization_s)
            done = -sum(d for t, d in self.changes if d < 0 and t > now - rule.period_s)
            room = max(rule.pods, math.floor(rule.percent / 100.0 * self.count)) - done
            target = max(target, self.count - max(room, 0))
            if target < self.count:
                self.scale_down(now, self.count - target)

    def scale_up(self, now: float, n: int) -> None:
        serving = self.dp.control.serving
        live = [r for r in self.svc.replicas if r.eligible or r in self.pending]
        per_zone = {z: sum(1 for r in live if r.zone == z) for z in self.zones}
        added = 0
        for _ in range(n):
            open_zones = [z for z in self.zones if serving(self.zone_comp(z))]
            if not open_zones:
                break  # no capacity anywhere the service runs
            zone = min(open_zones, key=lambda z: (per_zone[z], self.zones.index(z)))
            per_zone[zone] += 1
            self.made += 1
            pod = self.make_pod(zone, f"{self.svc.name}/{zone}/+{self.made}")
            self.pending.append(pod)
            self.dp.loop.at(now + self.provisioning(), self.ready, pod)
            added += 1
        if added:
            self._account(now)
            self.decisions.append((now, self.count, self.count + added))
            self.count += added
            self.changes.append((now, added))
            self.dp.event("scale_up", f"{self.svc.name}:{self.count - added}->{self.count}")

    def zone_comp(self, zone: str) -> int:
        return self.dp.zone_comps[zone]

    def ready(self, pod: Replica) -> None:
        now = self.dp.loop.now
        if pod not in self.pending:
            return  # scaled away before it was ready
        self.pending.remove(pod)
        if not self.dp.control.serving(pod.comp):  # its zone went dark meanwhile: the pod never starts
            self._account(now)
            self.count -= 1
            self.svc.replicas.remove(pod)
            return
        pod.up = pod.in_rotation = pod.eligible = True
        pod.last_t = now
        self.marks[id(pod)] = 0.0
        self.svc.balancer.rebuild()
        self.dp.event("pod_ready", pod.name)

    def scale_down(self, now: float, n: int) -> None:
        removed = 0
        for pod in reversed(list(self.svc.replicas)):
            if removed == n:
                break
            if not pod.dynamic:
                continue
            if pod in self.pending:
                self.pending.remove(pod)
                self.svc.replicas.remove(pod)
            elif pod.eligible:
                pod.eligible = False  # drains: finishes what it holds, takes nothing new
            else:
                continue
            removed += 1
        if removed:
            self._account(now)
            self.decisions.append((now, self.count, self.count - removed))
            self.count -= removed
            self.changes.append((now, -removed))
            self.svc.balancer.rebuild()
            self.dp.event("scale_down", f"{self.svc.name}:{self.count + removed}->{self.count}")

    def replica_seconds(self, now: float) -> float:
        self._account(now)
        return self.area
