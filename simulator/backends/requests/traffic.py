"""Arrival times of a traffic entry: an exact non-homogeneous Poisson process.

The rate is ``rate · diurnal(t) · Π spike(t) · Π flash(t)``. Arrivals come from
thinning (Lewis & Shedler): candidates at a bound ``λ*`` that holds on a segment
between spike and flash-crowd edges, each kept with probability ``λ(t)/λ*``; at a
segment edge the candidate stream restarts from the edge, which the memoryless
exponential allows. Without diurnal or spikes the process is homogeneous and no
candidate is thrown away.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from simulator.model.traffic import TrafficSpec
from simulator.rng import Stream
from simulator.units import DAY, HOUR

__all__ = ["RateFunction", "Arrivals", "flash_schedule"]


class RateFunction:
    """``λ(t)`` and a piecewise-constant bound of it for one traffic entry.

    Parameters
    ----------
    spec : TrafficSpec
    flashes : list of (start, duration, multiplier)
        This replication's realised flash crowds (see :func:`flash_schedule`).
    """

    def __init__(self, spec: TrafficSpec, flashes: list[tuple[float, float, float]] = ()) -> None:
        self.base = spec.rate_per_s
        d = spec.diurnal
        self.amp = 0.0 if d is None else (d.peak_to_trough - 1.0) / (d.peak_to_trough + 1.0)
        self.peak_s = 0.0 if d is None else d.peak_hour * HOUR
        # every bump is (start, end, multiplier, ramp)
        self.bumps = [(s.at_s, s.at_s + s.duration_s, s.multiplier, s.ramp_s) for s in spec.spikes]
        self.bumps += [(start, start + dur, mult, 0.0) for start, dur, mult in flashes]
        edges = sorted({e for b in self.bumps for e in b[:2]})
        self.edges = edges
        self.bounds = [self._bound_between(a, b) for a, b in zip([-math.inf, *edges], [*edges, math.inf], strict=True)]
        self.homogeneous = self.amp == 0.0 and not self.bumps

    def _bound_between(self, a: float, b: float) -> float:
        mid = (a + b) / 2 if math.isfinite(a) and math.isfinite(b) else (b - 1 if math.isfinite(b) else a + 1)
        m = 1.0
        for start, end, mult, _ in self.bumps:
            if start <= mid < end:
                m *= max(mult, 1.0)
        return self.base * (1.0 + self.amp) * m

    def bound(self, t: float) -> tuple[float, float]:
        """The bound on the segment holding ``t`` and the end of that segment."""
        i = bisect_right(self.edges, t)
        end = self.edges[i] if i < len(self.edges) else math.inf
        return self.bounds[i], end

    def multiplier(self, t: float) -> float:
        """Product of the spike and flash-crowd multipliers at ``t``."""
        m = 1.0
        for start, end, mult, ramp in self.bumps:
            if start <= t < end:
                if ramp > 0.0:
                    frac = min(1.0, (t - start) / ramp, (end - t) / ramp)
                    m *= 1.0 + (mult - 1.0) * frac
                else:
                    m *= mult
        return m

    def __call__(self, t: float) -> float:
        rate = self.base
        if self.amp:
            rate *= 1.0 + self.amp * math.cos(2.0 * math.pi * (t - self.peak_s) / DAY)
        if self.bumps:
            rate *= self.multiplier(t)
        return rate

    def at(self, t: np.ndarray) -> np.ndarray:
        """``λ`` at many times at once (for the flow backend and estimates)."""
        rate = np.full(np.shape(t), self.base)
        if self.amp:
            rate = rate * (1.0 + self.amp * np.cos(2.0 * math.pi * (t - self.peak_s) / DAY))
        for start, end, mult, ramp in self.bumps:
            inside = (t >= start) & (t < end)
            if ramp > 0.0:
                frac = np.clip(np.minimum((t - start) / ramp, (end - t) / ramp), 0.0, 1.0)
                factor = 1.0 + (mult - 1.0) * frac
            else:
                factor = np.full(np.shape(t), mult)
            rate = np.where(inside, rate * factor, rate)
        return rate

    def mean_rate(self, t0: float, t1: float, steps: int = 2000) -> float:
        """Average of ``λ`` over ``[t0, t1]`` (for estimates of work, not for the simulation)."""
        if self.homogeneous:
            return self.base
        width = (t1 - t0) / steps
        return float(self.at(t0 + (np.arange(steps) + 0.5) * width).mean())


def flash_schedule(spec: TrafficSpec, until: float, occur: Stream, duration: Stream, mult: Stream):
    """This replication's flash crowds as ``(start, duration, multiplier)`` up to ``until``."""
    out: list[tuple[float, float, float]] = []
    fc = spec.flash_crowds
    if fc is None or fc.rate_per_s <= 0:
        return out
    t = 0.0
    while True:
        t += occur() / fc.rate_per_s
        if t >= until:
            return out
        out.append((t, duration(), mult()))


class Arrivals:
    """Successive arrival times of one entry, drawn on demand.

    Parameters
    ----------
    rate : RateFunction
    gaps : Stream
        Unit-mean exponential draws (scaled by the bound).
    accept : Stream
        Uniform draws for thinning.
    """

    __slots__ = ("rate", "gaps", "accept", "t", "_mean_gap")

    def __init__(self, rate: RateFunction, gaps: Stream, accept: Stream) -> None:
        self.rate, self.gaps, self.accept = rate, gaps, accept
        self.t = 0.0
        self._mean_gap = 1.0 / rate.base

    def next(self) -> float:
        """The next arrival time after the previous one."""
        if self.rate.homogeneous:
            self.t += self.gaps() * self._mean_gap
            return self.t
        t = self.t
        rate = self.rate
        while True:
            bound, end = rate.bound(t)
            t += self.gaps() / bound
            if t >= end:
                t = end  # restart at the edge with the next segment's bound
                continue
            if self.accept() * bound <= rate(t):
                self.t = t
                return t

