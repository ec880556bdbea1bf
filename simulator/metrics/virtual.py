"""A ``flow`` figure split by the set of virtual requests that produced it (plain data).

The ``flow`` backend carries distributions on ``SETS`` independent sets of virtual
requests (see :mod:`simulator.backends.flow.model`); every replication uses all of
them, so their error does not average out over replications. Each scope's expected
successes and latency histograms are also kept per set, each scaled to the whole rate:
the spread between sets is the virtual requests' error (``SETS - 1`` degrees of
freedom). Histograms are kept on coarse buckets (``COARSE`` histogram buckets each, 8 %
wide): they only estimate the error of a share below a quantile, not the quantile.
"""

from __future__ import annotations

import numpy as np

from simulator.metrics.histogram import BUCKETS

__all__ = ["SETS", "COARSE", "COARSE_BUCKETS", "VirtualSplit"]

SETS = 16
COARSE = 4
COARSE_BUCKETS = -(-BUCKETS // COARSE)


class VirtualSplit:
    """Per set of virtual requests: expected successes and coarse latency histograms.

    Parameters
    ----------
    success : array (SETS,)
        Expected successful requests, each set scaled to the whole rate.
    ok_total, all_total : array (SETS,)
        The sums of the latencies of the successful requests and of all requests, likewise.
    ok, fail : (index, counts)
        Sparse ``SETS × COARSE_BUCKETS`` histograms of successful and failed requests'
        latencies (flat index ``set * COARSE_BUCKETS + coarse bucket``).
    """

    __slots__ = ("success", "ok", "fail", "ok_total", "all_total")

    def __init__(self, success: np.ndarray, ok: tuple[np.ndarray, np.ndarray], fail: tuple[np.ndarray, np.ndarray],
                 ok_total: np.ndarray, all_total: np.ndarray):
        self.success, self.ok, self.fail = success, ok, fail
        self.ok_total, self.all_total = ok_total, all_total

    def __add__(self, other: VirtualSplit) -> VirtualSplit:
        return VirtualSplit(self.success + other.success, _add(self.ok, other.ok), _add(self.fail, other.fail),
                            self.ok_total + other.ok_total, self.all_total + other.all_total)

    def latency_mean(self, key: str, requests: float) -> np.ndarray:
        """Each set's mean latency of ``latency_ok`` (over its successes) or ``latency_all``
        (over every request: ``requests``, the same for all sets)."""
        if key == "latency_ok":
            return self.ok_total / np.where(self.success > 0, self.success, 1.0)
        return self.all_total / requests if requests > 0 else np.zeros_like(self.all_total)

    def dense(self, key: str) -> np.ndarray:
        """``(SETS, BUCKETS)`` counts of ``latency_ok`` or ``latency_all``; a coarse
        bucket's count sits on its last histogram bucket."""
        parts = [self.ok] if key == "latency_ok" else [self.ok, self.fail]
        coarse = np.zeros(SETS * COARSE_BUCKETS)
        for index, counts in parts:
            np.add.at(coarse, index, counts)
        out = np.zeros((SETS, BUCKETS))
        last = np.minimum(np.arange(COARSE_BUCKETS) * COARSE + COARSE - 1, BUCKETS - 1)
        out[:, last] = coarse.reshape(SETS, COARSE_BUCKETS)
        return out

    def __reduce__(self):
        return (VirtualSplit, (self.success, self.ok, self.fail, self.ok_total, self.all_total))


def _add(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    index = np.concatenate((a[0], b[0]))
    uniq, at = np.unique(index, return_inverse=True)
    counts = np.bincount(at, weights=np.concatenate((a[1], b[1])), minlength=len(uniq))
    return uniq.astype(np.int32), counts
