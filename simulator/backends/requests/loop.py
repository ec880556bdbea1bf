"""One clock for two event queues: simpy's (control plane) and the data plane's own.

The control plane (failures, repairs, shocks) stays a simpy model. Requests are far
more numerous and each of their events is a plain ``(time, seq, fn, arg)`` tuple on a
binary heap, which costs a fraction of a simpy event. :meth:`Loop.run` merges both
queues in time order; at equal times control-plane events go first, so a request
arriving at the instant a replica dies finds it dead.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any

import simpy

__all__ = ["Loop"]


class Loop:
    """The data plane's event queue, run in step with a simpy environment."""

    __slots__ = ("env", "heap", "now", "_seq")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self.now = 0.0
        self._seq = count()

    def at(self, t: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(arg)`` at absolute time ``t`` (FIFO among equal times)."""
        heappush(self.heap, (t, next(self._seq), fn, arg))

    def after(self, delay: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        heappush(self.heap, (self.now + delay, next(self._seq), fn, arg))

    def run(self, until: float) -> None:
        """Process both queues in time order up to ``until`` (events at ``until`` excluded).

        The cyclic garbage collector is paused meanwhile: requests allocate millions of
        short-lived objects that reference counting frees at once, and the collector's
        passes over them would only cost time. It runs again (and catches up) after.
        """
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._run(until)
        finally:
            if enabled:
                gc.enable()

    def _run(self, until: float) -> None:
        heap, env = self.heap, self.env
        # only a control-plane step can change the control queue (the data plane never
        # schedules simpy events), so its head is read again only after a step
        t_ctrl = env.peek()
        while True:
            if heap and heap[0][0] < t_ctrl:
                t = heap[0][0]
                if t >= until:
                    break
                _, _, fn, arg = heappop(heap)
                self.now = t
                fn(arg)
            else:
                if t_ctrl >= until:
                    break
                self.now = t_ctrl  # listeners of the control plane read the data-plane clock
                env.step()
                self.now = env.now
                t_ctrl = env.peek()
        self.now = until
