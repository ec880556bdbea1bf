"""What one replication says about a service's availability, and nines (pure data)."""

from __future__ import annotations

import numpy as np

__all__ = ["OutageStats", "nines"]


class OutageStats:
    """What one replication says about one service: downtime and its outages."""

    __slots__ = ("observed_s", "down_s", "outages", "durations_s", "starts_s")

    def __init__(self, observed_s: float, down_s: float, outages: int, durations_s: np.ndarray,
                 starts_s: np.ndarray | None = None) -> None:
        self.observed_s = observed_s
        self.down_s = down_s
        self.outages = outages
        self.durations_s = durations_s
        self.starts_s = starts_s  # when each outage started, from the start of the window

    @property
    def availability(self) -> float:
        return 1.0 - self.down_s / self.observed_s

    def __reduce__(self):
        return (OutageStats, (self.observed_s, self.down_s, self.outages, self.durations_s, self.starts_s))


def nines(avail: float) -> float | None:
    """``-log10(1 - A)``: 0.999 is 3 nines; ``None`` when there was no downtime at all."""
    if avail >= 1.0:
        return None
    return float(-np.log10(1.0 - avail))
