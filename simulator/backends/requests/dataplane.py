"""The ``requests`` data plane: every request, every attempt, every queue.

A request is a *call* to the entry service. A call makes *attempts* (the first and its
retries); each attempt is routed by the callee's load balancer to a replica, crosses
the network (half the RTT each way), waits FIFO for one of the replica's workers (or
is shed when the waiting room is full), holds the worker for its service time and then
for the calls it makes to its own dependencies (one group after another; the calls of
a group go out together), and answers. The caller gives up on an attempt at its
timeout (or the end-to-end deadline, which every call under the request inherits) and
may retry after a backoff, within a retry budget, unless a circuit breaker is open.
Work a caller gave up on still runs to completion (servers do not know), which is how
retry storms feed themselves. A replica that dies resets what it holds; a dead
replica is found out only after ``connect_timeout``; health checks take it out of
rotation after ``unhealthy_after`` failed probes and back after ``healthy_after``.

Everything is callbacks on :class:`~simulator.backends.requests.loop.Loop`.
"""

from __future__ import annotations

import math
from heapq import heappush

from simulator.backends.requests.loop import Loop
from simulator.backends.requests.network import Network
from simulator.backends.requests.resilience import backoff_delay
from simulator.backends.requests.runtime import Attempt, Call, EdgeRT, EntryRT, Replica, ServiceRT
from simulator.backends.requests.stats import (
    CIRCUIT_OPEN,
    CONNECTION_ERROR,
    DEPENDENCY_FAILURE,
    ERROR,
    SHED,
    SUCCESS,
    TIMEOUT,
)
from simulator.engine.control import ControlPlane
from simulator.metrics.histogram import bucket
from simulator.metrics.timeline import Timeline

__all__ = ["DataPlane"]

INF = math.inf




class DataPlane:
    """Requests flowing through the services of one replication.

    Built by :func:`simulator.backends.requests.build.build_dataplane`; driven by the
    loop and by the control plane's state changes (:meth:`on_component`).
    """

    def __init__(
        self, loop: Loop, control: ControlPlane, services: list[ServiceRT], entries: list[EntryRT],
        under: list[list[Replica]], network: Network, warmup_s: float, end_s: float,
    ) -> None:
        self.loop = loop
        self.control = control
        self.services = services
        self.entries = entries
        self.under = under  # replicas inside each component (itself, or a zone's, a region's...)
        self.network = network
        self.warmup = warmup_s
        self.end = end_s
        self.timeline: Timeline | None = None
        self.events: list[tuple[float, str, str]] | None = None  # (t, kind, subject) when recorded
        self.cuts: dict[tuple[str, str], int] = {}  # partitioned (from zone, to zone) pairs
        self.rotation_hooks: list = []  # called with (replica) when a balancer's view changes
        self.state_hooks: list = []  # called with (replica) when a replica starts or stops serving
        self.chaos_u = None  # uniform stream for injected jitter (set by the builder)
        self.zone_comps: dict[str, int] = {}  # zone name -> component index
        # the hot path pushes to the heap itself, with bound methods made once
        self._heap = loop.heap
        self._seq = loop._seq
        self._service_done = self.on_service_done
        self._arrival = self.on_arrival
        control.listeners.append(self.on_component)
        for entry in entries:
            first = entry.arrivals.next()
            if first < end_s:
                loop.at(first, self.on_arrival, entry)
        if warmup_s > 0:
            loop.at(warmup_s, self.reset_areas, None)

    # -- control plane -> data plane -----------------------------------------------

    def on_component(self, _t: float, comp: int, _up: bool) -> None:
        """A component changed state: update the replicas it holds."""
        serving = self.control.serving
        for r in self.under[comp]:
            if r.dynamic and not r.eligible:
                continue  # an autoscaled pod still provisioning, or retired
            now_up = serving(r.comp)
            if now_up == r.up:
                continue
            r.up = now_up
            if not now_up:
                self.crash(r)
            self.health_notice(r)
            for hook in self.state_hooks:
                hook(r)

    def crash(self, r: Replica) -> None:
        """The replica stops: what it holds (in service or queued) is reset."""
        r.account(self.loop.now)
        r.epoch += 1
        held = [*r.active, *r.queue]
        r.active.clear()
        r.queue.clear()
        r.busy = 0
        for a in held:
            if not a.settled:
                self.settle(a, CONNECTION_ERROR)

    # -- health checks ------------------------------------------------------------

    def health_notice(self, r: Replica) -> None:
        """Start probing when the replica's state and the balancer's belief may differ.

        Probes at ``phase + k·interval`` only matter while the two differ, so probing
        runs just then; the verdicts are those of probing all the time.
        """
        hc = r.service.hc
        if hc is None:
            return
        if r.hc_probing:
            return
        r.hc_probing = True
        now = self.loop.now
        k = math.floor((now - r.hc_phase) / hc.interval_s) + 1
        self.loop.at(r.hc_phase + k * hc.interval_s, self.probe, r)

    def probe(self, r: Replica) -> None:
        hc = r.service.hc
        if r.up:
            r.hc_succ += 1
            r.hc_fail = 0
            if not r.in_rotation and r.hc_succ >= hc.healthy_after:
                r.in_rotation = True
                r.service.balancer.rebuild()
                self.on_rotation(r)
        else:
            r.hc_fail += 1
            r.hc_succ = 0
            if r.in_rotation and r.hc_fail >= hc.unhealthy_after:
                r.in_rotation = False
                r.service.balancer.rebuild()
                self.on_rotation(r)
        if r.in_rotation == r.up:
            r.hc_probing = False
            return
        self.loop.at(self.loop.now + hc.interval_s, self.probe, r)

    def on_rotation(self, r: Replica) -> None:
        if self.events is not None:
            self.events.append((self.loop.now, "rotation_in" if r.in_rotation else "rotation_out", r.name))
        for hook in self.rotation_hooks:
            hook(r)

    def event(self, kind: str, subject: str) -> None:
        """Note a recovery event (detection, failover, scaling) when events are recorded."""
        if self.events is not None:
            self.events.append((self.loop.now, kind, subject))

    def fill(self, r: Replica) -> None:
        """Start queued work on every free worker (after capacity came back)."""
        while r.queue and r.busy < r.workers and r.up:
            self.start_job(r, r.queue.popleft())

    # -- arrivals and calls ---------------------------------------------------------

    def on_arrival(self, entry: EntryRT) -> None:
        now = self.loop.now
        arr = entry.arrivals
        if arr.rate.homogeneous:  # Arrivals.next(), inlined for the common case
            arr.t += arr.gaps() * arr._mean_gap
            nxt = arr.t
        else:
            nxt = arr.next()
        if nxt < self.end:
            heappush(self._heap, (nxt, next(self._seq), self._arrival, entry))
        region = None
        if entry.shares is not None:
            u = entry.pick()
            region = next(r for r, cum in entry.shares if u < cum)
        deadline = now + entry.deadline if entry.deadline is not None else INF
        call = Call(entry.edge, None, None, region, deadline, now, now >= self.warmup)
        if entry.dns is not None:
            call.dest = entry.dns.resolve(region, now)
        if call.counted:
            st = entry.stats
            st.calls += 1
            st.inflight += 1
        self.start_call(call)

    def start_call(self, call: Call) -> None:
        edge = call.edge
        if call.counted:
            edge.stats.calls += 1
            st = edge.callee.stats
            st.calls += 1
            st.inflight += 1
        if edge.budget is not None:
            edge.budget.on_call(self.loop.now)
        self.send(call)

    def _rtt(self, call: Call, edge: EdgeRT, r: Replica) -> float:
        zone, region = call.zone, call.region
        net = self.network
        if zone is None:  # a client: its last mile, plus the way to a far region
            rtt = edge.rtt_stream("client", net.client)()
            if region != r.region:
                rtt += edge.rtt_stream(("regions", r.region), net.between_regions(region, r.region))()
            return rtt
        if zone == r.zone:
            return edge.rtt_stream("same_zone", net.same_zone)()
        if region == r.region:
            return edge.rtt_stream("cross_zone", net.cross_zone)()
        return edge.rtt_stream(("regions", r.region), net.between_regions(region, r.region))()

    def send(self, call: Call) -> None:
        """Make one attempt of ``call``."""
        loop = self.loop
        now = loop.now
        edge = call.edge
        breaker = edge.breaker
        if breaker is not None and not breaker.permit(now):
            if call.counted:
                edge.stats.rejected += 1
            self.finish_call(call, CIRCUIT_OPEN)
            return
        if now >= call.deadline:  # inherited by work that started too late: nothing left to wait for
            self.finish_call(call, TIMEOUT)
            return
        svc = edge.callee
        call.n += 1
        if call.counted:
            edge.stats.attempts += 1
            svc.stats.attempts += 1
            if edge.entry is not None:
                edge.entry.stats.attempts += 1
        if call.zone is None and call.region is not None:
            r = svc.balancer.pick_in_regions(edge.client_order[call.region] if call.dest is None else (call.dest,))
        else:
            r = svc.balancer.pick(call.zone, call.region)
        if r is None:  # nothing in rotation: fails at once ("no healthy upstream")
            if call.counted:
                svc.stats.attempt_outcomes[CONNECTION_ERROR] += 1
                if edge.entry is not None:
                    edge.entry.stats.attempt_outcomes[CONNECTION_ERROR] += 1
            if breaker is not None:
                breaker.record(True, now)
            self.retry_or_fail(call, CONNECTION_ERROR)
            return
        a = Attempt(call, r)
        r.outstanding += 1
        if edge.timeout is not None and now + edge.timeout <= call.deadline:
            self.arm_timeout(edge, a, now + edge.timeout)
        elif call.deadline < INF:
            if call.parent is None:  # an entry's deadlines come in arrival order
                self.arm_timeout(edge, a, call.deadline)
            else:
                loop.at(call.deadline, self.on_timeout, a)
        a.t_send = now
        if call.region is not None:
            a.half = 0.5 * self._rtt(call, edge, r)
        if svc.blackhole or svc.extra_delay or self.cuts:  # chaos in force: the rare path
            self.send_faulty(a, now)
            return
        if r.up:
            if a.half > 0.0:
                loop.at(now + a.half, self.on_arrive, a)
            else:
                self.on_arrive(a)
        else:
            loop.at(now + svc.connect_timeout, self.on_connect_error, a)

    def send_faulty(self, a: Attempt, now: float) -> None:
        """Deliver an attempt while faults are injected on the way."""
        r = a.replica
        svc = r.service
        if svc.blackhole:
            return  # it hangs: only its timeout (or deadline) ends it
        if a.call.zone is not None and self.cuts.get((a.call.zone, r.zone)):
            self.loop.at(now + svc.connect_timeout, self.on_connect_error, a)  # packets dropped
            return
        if not r.up:
            self.loop.at(now + svc.connect_timeout, self.on_connect_error, a)
            return
        delay = a.half
        for mean, jitter in svc.extra_delay:
            delay += mean + (2.0 * self.chaos_u() - 1.0) * jitter if jitter else mean
        self.loop.at(now + max(delay, 0.0), self.on_arrive, a)

    # -- at the replica -----------------------------------------------------------

    def on_arrive(self, a: Attempt) -> None:
        r = a.replica
        if not r.up:
            t = a.t_send + r.service.connect_timeout
            self.loop.at(t if t > self.loop.now else self.loop.now, self.on_connect_error, a)
            return
        if r.busy < r.workers:
            self.start_job(r, a)
        elif r.limit is None or len(r.queue) < r.limit:
            r.account(self.loop.now)
            r.queue.append(a)
        else:
            self.respond(a, SHED)

    def start_job(self, r: Replica, a: Attempt) -> None:
        now = self.loop.now
        dt = now - r.last_t  # time-weighted counters, inlined: this is the hot path
        r.busy_area += r.busy * dt
        r.queue_area += len(r.queue) * dt
        r.last_t = now
        r.busy += 1
        a.epoch = r.epoch
        r.active.add(a)
        if r.service.passthrough:
            self.after_service(a)
        else:
            heappush(self._heap, (now + r.svc_time() * r.slow, next(self._seq), self._service_done, a))

    def on_service_done(self, a: Attempt) -> None:
        if a.epoch == a.replica.epoch:  # else the replica died meanwhile
            self.after_service(a)

    def after_service(self, a: Attempt) -> None:
        r = a.replica
        svc = r.service
        if (svc.err_rate or svc.extra_err) and r.err_u() < 1.0 - (1.0 - svc.err_rate) * (1.0 - svc.extra_err):
            self.finish_job(a, ERROR)
        elif svc.groups:
            a.group = 0
            self.start_group(a)
        else:
            self.finish_job(a, SUCCESS)

    def start_group(self, a: Attempt) -> None:
        r = a.replica
        group = r.service.groups[a.group]
        a.pending = len(group)
        now = self.loop.now
        counted = now >= self.warmup
        deadline = a.call.deadline
        epoch = a.epoch
        for edge in group:
            if a.epoch != epoch or r.epoch != epoch:
                return  # the replica died while this group was being sent
            self.start_call(Call(edge, a, r.zone, r.region, deadline, now, counted))

    def on_child_done(self, a: Attempt, edge: EdgeRT, outcome: int) -> None:
        r = a.replica
        if a.epoch != r.epoch:
            return  # the job died with its replica
        if outcome != SUCCESS and not edge.optional:
            a.failed = True
        a.pending -= 1
        if a.pending:
            return
        if a.failed:
            self.finish_job(a, DEPENDENCY_FAILURE)
        elif a.group + 1 < len(r.service.groups):
            a.group += 1
            self.start_group(a)
        else:
            self.finish_job(a, SUCCESS)

    def finish_job(self, a: Attempt, outcome: int) -> None:
        r = a.replica
        now = self.loop.now
        dt = now - r.last_t
        r.busy_area += r.busy * dt
        r.queue_area += len(r.queue) * dt
        r.last_t = now
        r.busy -= 1
        r.active.discard(a)
        a.epoch = -1  # late answers from its dependencies are ignored
        if r.queue and r.busy < r.workers:
            self.start_job(r, r.queue.popleft())
        if a.half > 0.0:  # respond(), inlined
            a.outcome = outcome
            self.loop.at(now + a.half, self.on_result, a)
        elif not a.settled:
            self.settle(a, outcome)

    def respond(self, a: Attempt, outcome: int) -> None:
        if a.half > 0.0:
            a.outcome = outcome
            self.loop.at(self.loop.now + a.half, self.on_result, a)
        elif not a.settled:
            self.settle(a, outcome)

    # -- back at the caller ---------------------------------------------------------

    def on_result(self, a: Attempt) -> None:
        if not a.settled:
            self.settle(a, a.outcome)

    def on_timeout(self, a: Attempt) -> None:
        if not a.settled:
            self.settle(a, TIMEOUT)

    def arm_timeout(self, edge: EdgeRT, a: Attempt, limit: float) -> None:
        """Queue a limit that comes after every one already queued on ``edge``.

        With one timeout per edge, limits are set in time order, so one timer per edge
        (at the earliest limit still open) replaces a heap entry per attempt; most
        attempts answer long before their limit and are just dropped from the queue.
        """
        edge.timeouts.append((limit, a))
        if not edge.timer_armed:
            edge.timer_armed = True
            self.loop.at(limit, self.check_timeouts, edge)

    def check_timeouts(self, edge: EdgeRT) -> None:
        queue = edge.timeouts
        now = self.loop.now
        while queue:
            limit, a = queue[0]
            if a.settled:
                queue.popleft()
            elif limit <= now:
                queue.popleft()
                self.settle(a, TIMEOUT)
            else:
                self.loop.at(limit, self.check_timeouts, edge)
                return
        edge.timer_armed = False

    def on_connect_error(self, a: Attempt) -> None:
        if not a.settled:
            self.settle(a, CONNECTION_ERROR)

    def settle(self, a: Attempt, outcome: int) -> None:
        if outcome != SUCCESS and self.loop.now >= a.call.deadline:
            outcome = TIMEOUT  # whatever failed first, the caller's deadline has passed
        a.settled = True
        a.replica.outstanding -= 1
        call = a.call
        edge = call.edge
        if call.counted:
            edge.callee.stats.attempt_outcomes[outcome] += 1
            if edge.entry is not None:
                edge.entry.stats.attempt_outcomes[outcome] += 1
        breaker = edge.breaker
        if breaker is not None:
            opened = breaker.opened
            breaker.record(outcome != SUCCESS, self.loop.now)
            if breaker.opened != opened and self.events is not None:
                self.events.append((self.loop.now, "breaker_open", edge.name))
        if outcome == SUCCESS:
            self.finish_call(call, SUCCESS)
        else:
            self.retry_or_fail(call, outcome)

    def retry_or_fail(self, call: Call, outcome: int) -> None:
        edge = call.edge
        now = self.loop.now
        if call.n <= edge.retries and now < call.deadline:
            delay = backoff_delay(edge.backoff, call.n, call.prev, edge.jitter)
            if now + delay < call.deadline:
                if edge.budget is None or edge.budget.allow_retry(now):
                    call.prev = delay
                    if call.counted:
                        edge.stats.retries += 1
                    if delay > 0.0:
                        self.loop.at(now + delay, self.send, call)
                    else:
                        self.send(call)
                    return
                if call.counted:
                    edge.stats.budget_denied += 1
        self.finish_call(call, outcome)

    def finish_call(self, call: Call, outcome: int) -> None:
        edge = call.edge
        if call.counted:
            latency = self.loop.now - call.t0
            st = edge.callee.stats
            st.outcomes[outcome] += 1
            st.inflight -= 1
            entry = edge.entry
            if entry is not None:  # its latency is recorded once, under the entry
                st = entry.stats
                st.outcomes[outcome] += 1
                st.inflight -= 1
                if self.timeline is not None:
                    self._on_timeline(call.t0, latency, outcome)
            h = st.lat_ok if outcome == SUCCESS else st.lat_fail
            h.counts[bucket(latency)] += 1
            h.n += 1
            h.total += latency
        if call.parent is not None:
            self.on_child_done(call.parent, edge, outcome)

    # -- bookkeeping ----------------------------------------------------------------

    def _on_timeline(self, arrived: float, latency: float, outcome: int) -> None:
        tl = self.timeline
        i = min(int(arrived / tl.width_s), len(tl.requests) - 1)  # binned by arrival
        tl.requests[i] += 1
        if outcome == SUCCESS:
            tl.success[i] += 1
            tl.latency[i, bucket(latency)] += 1

    def reset_areas(self, _arg: object) -> None:
        """At the end of the warm-up, time-weighted counters start from zero."""
        now = self.loop.now
        for svc in self.services:
            if svc.scaler is not None:
                svc.scaler.replica_seconds(now)
                svc.scaler.area = 0.0  # billing counts the measured horizon
            for r in svc.replicas:
                r.account(now)
                r.busy_area = r.queue_area = 0.0
            for group in svc.groups:
                for edge in group:
                    if edge.breaker is not None:
                        edge.breaker.restart_counters(now)
        for entry in self.entries:
            if entry.edge.breaker is not None:
                entry.edge.breaker.restart_counters(now)
