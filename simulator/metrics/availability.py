"""Availability, outages and repair times from recorded state arrays (pure functions)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "down_intervals",
    "availability",
    "OutageStats",
    "outage_stats",
    "repair_durations",
    "nines",
]


def down_intervals(t: np.ndarray, up: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Maximal down intervals of a step function, clipped to the window ``[t0, t1]``.

    Parameters
    ----------
    t : ndarray, shape (K,)
        Increasing change times; ``up[k]`` holds on ``[t[k], t[k+1])`` (the last row to ``t1``).
    up : ndarray of bool, shape (K,)
    t0, t1 : float
        The observed window, seconds.

    Returns
    -------
    ndarray, shape (n, 2)
        ``[start, end]`` of each outage that overlaps the window, clipped to it.

    Examples
    --------
    >>> down_intervals(np.array([0., 5., 7.]), np.array([True, False, True]), 0, 10)
    array([[5., 7.]])
    """
    t = np.asarray(t, dtype=float)
    up = np.asarray(up, dtype=bool)
    change = np.flatnonzero(up[1:] != up[:-1]) + 1
    starts_idx = change[~up[change]]
    ends_idx = change[up[change]]
    starts = t[starts_idx]
    if len(up) and not up[0]:
        starts = np.concatenate(([t[0]], starts))
    ends = t[ends_idx]
    if len(ends) < len(starts):
        ends = np.concatenate((ends, [np.inf]))
    starts = np.maximum(starts, t0)
    ends = np.minimum(ends, t1)
    keep = ends > starts
    return np.column_stack((starts[keep], ends[keep]))


def availability(intervals: np.ndarray, t0: float, t1: float) -> float:
    """Fraction of ``[t0, t1]`` not covered by the (clipped, disjoint) down intervals."""
    span = t1 - t0
    if span <= 0:
        raise ValueError("the window must have a positive length")
    down = float(np.sum(intervals[:, 1] - intervals[:, 0])) if len(intervals) else 0.0
    return 1.0 - down / span


class OutageStats:
    """What one replication says about one service: downtime and its outages."""

    __slots__ = ("observed_s", "down_s", "outages", "durations_s")

    def __init__(self, observed_s: float, down_s: float, outages: int, durations_s: np.ndarray) -> None:
        self.observed_s = observed_s
        self.down_s = down_s
        self.outages = outages
        self.durations_s = durations_s

    @property
    def availability(self) -> float:
        return 1.0 - self.down_s / self.observed_s

    def __reduce__(self):
        return (OutageStats, (self.observed_s, self.down_s, self.outages, self.durations_s))


def outage_stats(intervals: np.ndarray, t0: float, t1: float) -> OutageStats:
    """Summarise clipped down intervals over the window ``[t0, t1]``."""
    durations = intervals[:, 1] - intervals[:, 0] if len(intervals) else np.zeros(0)
    return OutageStats(t1 - t0, float(durations.sum()), int(len(durations)), durations)


def repair_durations(
    times: np.ndarray, comps: np.ndarray, ups: np.ndarray, t0: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Completed repairs (failure to back up) of each component that failed at or after ``t0``.

    Returns
    -------
    comps : ndarray of int
        The component of each completed repair.
    durations : ndarray of float
        Down time of each completed repair, crew waiting included. A repair still in
        progress at the end of the run is censored and left out.
    """
    order = np.lexsort((times, comps))
    t, c, u = times[order], comps[order], ups[order]
    is_pair = (~u[:-1]) & u[1:] & (c[:-1] == c[1:]) & (t[:-1] >= t0)
    k = np.flatnonzero(is_pair)
    return c[k], t[k + 1] - t[k]


def nines(avail: float) -> float | None:
    """``-log10(1 - A)``: 0.999 is 3 nines; ``None`` when there was no downtime at all."""
    if avail >= 1.0:
        return None
    return float(-np.log10(1.0 - avail))
