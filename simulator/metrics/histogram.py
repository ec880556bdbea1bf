"""A log-bucketed, mergeable latency histogram with constant memory.

Bucket ``k >= 1`` covers ``[LO·R^(k-1), LO·R^k)`` with ``R = 1.02``; reporting the
geometric midpoint of a bucket is within ``sqrt(R) - 1 < 1 %`` of any value in it.
Bucket 0 holds everything at or below ``LO`` (1 µs), the last bucket everything above
about 93 days. Memory is fixed (1 500 counters) whatever the number of requests, and
histograms of replications merge by adding counts.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bucket", "LogHistogram", "FrozenHistogram", "RATIO", "LO", "BUCKETS", "bucket_values", "quantiles"]

LO = 1e-6
RATIO = 1.02
BUCKETS = 1500
_INV_LOG_R = 1.0 / math.log(RATIO)
_LOG_LO = math.log(LO)


def bucket_values() -> np.ndarray:
    """The value each bucket reports: its geometric midpoint (``LO`` for bucket 0)."""
    k = np.arange(BUCKETS, dtype=float)
    mid = LO * RATIO ** (k - 0.5)
    mid[0] = LO
    return mid


_MID = bucket_values()


def bucket(x: float, _log=math.log) -> int:
    """The bucket of value ``x`` (seconds)."""
    if x > LO:
        k = int((_log(x) - _LOG_LO) * _INV_LOG_R) + 1
        return k if k < BUCKETS else BUCKETS - 1
    return 0


class LogHistogram:
    """Counts values (seconds) into log buckets; ``add`` is the hot path of the simulation."""

    __slots__ = ("counts", "n", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.n = 0
        self.total = 0.0

    def add(self, x: float) -> None:
        self.counts[bucket(x)] += 1
        self.n += 1
        self.total += x

    @classmethod
    def merged(cls, hists: list[LogHistogram]) -> LogHistogram:
        out = cls()
        for h in hists:
            out.counts = [a + b for a, b in zip(out.counts, h.counts, strict=True)]
            out.n += h.n
            out.total += h.total
        return out

    def freeze(self) -> FrozenHistogram:
        counts = np.asarray(self.counts, dtype=np.int64)
        nz = np.flatnonzero(counts)
        return FrozenHistogram(nz.astype(np.int32), counts[nz], self.n, self.total)


class FrozenHistogram:
    """A picklable, sparse snapshot: bucket indices, their counts, count and sum."""

    __slots__ = ("index", "counts", "n", "total")

    def __init__(self, index: np.ndarray, counts: np.ndarray, n: int, total: float) -> None:
        self.index, self.counts, self.n, self.total = index, counts, n, total

    def dense(self) -> np.ndarray:
        out = np.zeros(BUCKETS, dtype=self.counts.dtype)
        out[self.index] = self.counts
        return out

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def quantile(self, q: float) -> float | None:
        return quantiles(self.dense()[None, :], q)[0] if self.n else None

    def __reduce__(self):
        return (FrozenHistogram, (self.index, self.counts, self.n, self.total))


def quantiles(dense: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of each row of dense bucket counts (NaN for an empty row)."""
    dense = np.atleast_2d(dense)
    cum = np.cumsum(dense, axis=1)
    total = cum[:, -1]
    # the first bucket where the cumulative count reaches q of the total (counts may be
    # expected values, i.e. not whole numbers, in the flow backend)
    target = np.maximum(q * total, np.minimum(total, 1e-300))
    idx = (cum < target[:, None]).sum(axis=1)
    out = _MID[np.minimum(idx, BUCKETS - 1)]
    return np.where(total > 0, out, np.nan)
