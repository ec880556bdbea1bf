"""The simpy control plane: every component alternates up and down.

Each failing component runs :meth:`ControlPlane.fail_and_repair` from its own named
streams; beta-factor groups run :meth:`ControlPlane.inject_common_cause`; limited
``repair_crews`` are a FIFO :class:`simpy.Resource`. Every state change is appended to
the trace and handed to listeners (a data plane subscribes here).

Semantics: clocks are independent of the rest of the system (active redundancy);
repair makes a component as good as new; a container's outage masks what it contains
without stopping their clocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simulator.engine.plan import Plan
from simulator.model.distributions import exponential
from simulator.rng import Stream, prefill, replication_key, stream_key

__all__ = ["ControlPlane", "Trace", "simulate_failures"]

Listener = Callable[[float, int, bool], None]


class Trace:
    """Every component state change of one replication, in time order (plain arrays)."""

    __slots__ = ("times", "comps", "ups")

    def __init__(self, times: np.ndarray, comps: np.ndarray, ups: np.ndarray) -> None:
        self.times, self.comps, self.ups = times, comps, ups

    def __len__(self) -> int:
        return len(self.times)

    def failure_times(self, component: int) -> np.ndarray:
        """Times at which ``component`` went down."""
        return self.times[(self.comps == component) & ~self.ups]


class ControlPlane:
    """Drives the up/down state of every component of ``plan`` inside ``env``.

    Parameters
    ----------
    env : simpy.Environment
    plan : Plan
    rep_seed : numpy.random.SeedSequence
        The replication's seed; each component draws from its own named streams.

    Notes
    -----
    Each component is a chain of simpy timeouts with callbacks (``fail`` ->
    ``start_repair`` -> ``repair`` -> ``fail``...) rather than a generator process:
    a failure model is nothing but timers, and skipping the process machinery makes
    each state change several times cheaper, which matters over millions of
    replication-years. A common-cause shock fails a component at once by dropping its
    pending failure timer, the callback equivalent of ``Process.interrupt``.
    """

    def __init__(self, env: simpy.Environment, plan: Plan, rep_seed: np.random.SeedSequence) -> None:
        self.env = env
        self.plan = plan
        n = len(plan.components)
        self.up = [True] * n  # serving as far as the component itself goes: own state and not held
        self.own = [True] * n  # the component's own failure/repair state
        self.held = [0] * n  # chaos holds (instance stops, zone power loss...) on the component
        self._times: list[float] = []
        self._comps: list[int] = []
        self._ups: list[bool] = []
        self.listeners: list[Listener] = []
        self.crews = simpy.Resource(env, plan.repair_crews) if plan.repair_crews else None
        self._ttf: list[Stream | None] = [None] * n
        self._ttr: list[Stream | None] = [None] * n
        self._pending: list[simpy.Event | None] = [None] * n  # the armed failure timer
        self._requests: list[simpy.Event | None] = [None] * n  # the crew held while repairing
        self._crewed = [c.crewed and self.crews is not None for c in plan.components]
        rep = replication_key(rep_seed)
        failing = [c for c in plan.components if c.fails]
        for c in failing:
            if np.isfinite(c.ttf_scale):  # else only common-cause shocks fail it
                self._ttf[c.index] = Stream(c.ttf, stream_key(rep, c.ttf_key), c.ttf_scale)
            self._ttr[c.index] = Stream(c.ttr, stream_key(rep, c.ttr_key))
        prefill([s for s in (*self._ttf, *self._ttr) if s is not None])
        for c in failing:
            self.arm_failure(c.index)
        for group in plan.shocks:
            gaps = Stream(exponential(1.0 / group.rate_per_s), stream_key(rep, group.key))
            env.process(self.inject_common_cause(group.members, gaps))

    # -- the life of a component ---------------------------------------------------

    def arm_failure(self, i: int) -> None:
        """Draw the next time to failure of an up component and set its timer."""
        ttf = self._ttf[i]
        if ttf is None:
            self._pending[i] = None
            return
        timer = self.env.timeout(ttf())
        timer.callbacks.append(lambda ev, i=i: self.fail(i) if self._pending[i] is ev else None)
        self._pending[i] = timer

    def fail(self, i: int) -> None:
        """Component ``i`` goes down now; its repair starts when a crew is free."""
        self._pending[i] = None  # a timer still in the heap is now stale
        self.own[i] = False
        if self.up[i]:
            self._set(i, False)
        if self._crewed[i]:
            req = self.crews.request()  # type: ignore[union-attr]
            self._requests[i] = req
            req.callbacks.append(lambda _ev, i=i: self.start_repair(i))
        else:
            self.start_repair(i)

    def start_repair(self, i: int) -> None:
        timer = self.env.timeout(self._ttr[i]())  # type: ignore[misc]
        timer.callbacks.append(lambda _ev, i=i: self.repair(i))

    def repair(self, i: int) -> None:
        """Repair done: as good as new, the crew is free, the next failure is armed."""
        req = self._requests[i]
        if req is not None:
            self.crews.release(req)  # type: ignore[union-attr]
            self._requests[i] = None
        self.own[i] = True
        if not self.held[i]:
            self._set(i, True)
        self.arm_failure(i)

    def inject_common_cause(self, members: tuple[int, ...], gaps: Stream):
        """A Poisson stream of shocks; each fails every member that is up at that moment."""
        env = self.env
        while True:
            yield env.timeout(gaps())
            for m in members:
                if self.own[m]:
                    self.fail(m)

    # -- chaos: holding a component down from outside ---------------------------------

    def hold(self, i: int) -> None:
        """Take component ``i`` down from outside (a chaos fault) until :meth:`release`.

        Its own failure clock keeps running; holds nest (two faults on one zone need two
        releases). The trace records the component down, as any other outage.
        """
        self.held[i] += 1
        if self.held[i] == 1 and self.own[i]:
            self._set(i, False)

    def release(self, i: int) -> None:
        """End one hold of component ``i``; it serves again unless it is itself broken."""
        if self.held[i] <= 0:
            raise ValueError(f"component {i} is not held")
        self.held[i] -= 1
        if self.held[i] == 0 and self.own[i]:
            self._set(i, True)

    # -- state -----------------------------------------------------------------------

    def _set(self, i: int, up: bool) -> None:
        self.up[i] = up
        now = self.env.now
        self._times.append(now)
        self._comps.append(i)
        self._ups.append(up)
        for listener in self.listeners:
            listener(now, i, up)

    def serving(self, i: int) -> bool:
        """Whether component ``i`` and every container around it are up."""
        up, parents = self.up, self.plan.parents
        while i >= 0:
            if not up[i]:
                return False
            i = parents[i]
        return True

    def trace(self) -> Trace:
        return Trace(
            np.asarray(self._times, dtype=float),
            np.asarray(self._comps, dtype=np.intp),
            np.asarray(self._ups, dtype=bool),
        )


def simulate_failures(plan: Plan, rep_seed: np.random.SeedSequence) -> Trace:
    """Run the control plane alone for one replication and return its trace."""
    env = simpy.Environment()
    control = ControlPlane(env, plan, rep_seed)
    env.run(until=plan.end_s)
    return control.trace()
