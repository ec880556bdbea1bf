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
from simulator.rng import Stream, stream

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
        The replication's seed; each component draws from its own named child stream.
    """

    def __init__(self, env: simpy.Environment, plan: Plan, rep_seed: np.random.SeedSequence) -> None:
        self.env = env
        self.plan = plan
        n = len(plan.components)
        self.up = [True] * n
        self._times: list[float] = []
        self._comps: list[int] = []
        self._ups: list[bool] = []
        self.listeners: list[Listener] = []
        self.crews = simpy.Resource(env, plan.repair_crews) if plan.repair_crews else None
        self.processes: list[simpy.Process | None] = [None] * n
        for c in plan.components:
            if not c.fails:
                continue
            # one generator per component: its draws come in a fixed order (ttf, ttr,
            # ttf, ...) whatever the rest of the system does, so the two block buffers
            # stay reproducible and independent of every other component
            rng = stream(rep_seed, c.name)
            own = bool(np.isfinite(c.ttf_scale))
            ttf = Stream(c.ttf, rng, c.ttf_scale if own else 1.0)
            ttr = Stream(c.ttr, rng)
            self.processes[c.index] = env.process(self.fail_and_repair(c.index, ttf if own else None, ttr, c.crewed))
        for group in plan.shocks:
            env.process(self.inject_common_cause(group.members, group.rate_per_s, stream(rep_seed, "ccf/" + group.name)))

    # -- processes -----------------------------------------------------------------

    def fail_and_repair(self, i: int, ttf: Stream | None, ttr: Stream, crewed: bool):
        """Alternate up (time to failure) and down (wait for a crew, then repair)."""
        env = self.env
        while True:
            try:
                if ttf is None:  # only common-cause shocks fail this component
                    yield env.event()
                else:
                    yield env.timeout(ttf())
            except simpy.Interrupt:
                pass  # a common-cause shock: down now, same repair as any failure
            self._set(i, False)
            if crewed and self.crews is not None:
                with self.crews.request() as req:
                    yield req
                    yield env.timeout(ttr())
            else:
                yield env.timeout(ttr())
            self._set(i, True)

    def inject_common_cause(self, members: tuple[int, ...], rate_per_s: float, rng: np.random.Generator):
        """A Poisson stream of shocks; each fails every member that is up at that moment."""
        env = self.env
        mean = 1.0 / rate_per_s
        while True:
            yield env.timeout(float(rng.exponential(mean)))
            for m in members:
                if self.up[m]:
                    self.processes[m].interrupt("common-cause")  # type: ignore[union-attr]

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
