"""Named, reproducible, counter-based random streams.

One root :class:`numpy.random.SeedSequence` per run; replication ``i`` is its child
``spawn_key=(i,)``; inside a replication every component and traffic source draws from
a stream keyed by its stable name. Adding a component therefore never shifts another
component's random numbers, and two variants run with one seed share common random
numbers. Name keys come from BLAKE2b, not Python's salted ``hash``.

A stream is counter-based: draw ``j`` of stream ``key`` is the SplitMix64 output
(Steele, Lea & Flood 2014, the generator behind Java's ``SplittableRandom``) at
position ``key + (j + 1)·γ``. So any block of any stream is one vectorised numpy
expression, with no generator object to build per component and replication, and a
vectorised sampler and a one-draw-at-a-time simpy process that read the same stream
see exactly the same numbers. Draws become distributions by inverse transform
(``Dist.ppf``), which also couples variants monotonically (common random numbers).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = [
    "UNIT_UNIFORM",
    "UNIT_EXPONENTIAL",
    "prefill",
    "as_seed_sequence",
    "replication_seed",
    "name_key",
    "named_stream",
    "replication_key",
    "stream_key",
    "stream_keys",
    "uniforms",
    "Stream",
]

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U_GAMMA = np.uint64(_GAMMA)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def as_seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """Accept an int, a SeedSequence or ``None`` (fresh OS entropy)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def replication_seed(root: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """The seed of replication ``index``: the same as ``root.spawn(...)[index]``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index))


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def name_key(name: str) -> int:
    """A 64-bit key derived from ``name``, stable across processes and versions."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def replication_key(rep: np.random.SeedSequence) -> tuple[int, int]:
    """Two 64-bit words of replication entropy, computed once per replication."""
    w = rep.generate_state(2, np.uint64)
    return int(w[0]), int(w[1])


def stream_key(rep: tuple[int, int], key: int) -> int:
    """The key of one named stream (``name_key``) inside one replication."""
    return _mix((_mix(rep[0] ^ key) + rep[1]) & _MASK)


def _mix_array(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _U_M1
    z = (z ^ (z >> _S27)) * _U_M2
    return z ^ (z >> _S31)


def stream_keys(reps: list[tuple[int, int]], keys: np.ndarray) -> np.ndarray:
    """:func:`stream_key` for every replication (rows) and name key (columns) at once."""
    w0 = np.asarray([r[0] for r in reps], dtype=np.uint64)[:, None]
    w1 = np.asarray([r[1] for r in reps], dtype=np.uint64)[:, None]
    return _mix_array(_mix_array(w0 ^ np.asarray(keys, dtype=np.uint64)[None, :]) + w1)


def uniforms(key: int | np.ndarray, start: int, n: int) -> np.ndarray:
    """Draws ``start .. start + n - 1`` of stream ``key``: floats strictly inside (0, 1).

    ``key`` may be an array of keys: the result then has one row per key.
    """
    j = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    if isinstance(key, np.ndarray):
        z = key.astype(np.uint64)[:, None] + j[None, :] * _U_GAMMA
    else:
        z = np.uint64(key) + j * _U_GAMMA  # wraps modulo 2**64, as intended
    z = (z ^ (z >> _S30)) * _U_M1
    z = (z ^ (z >> _S27)) * _U_M2
    z ^= z >> _S31
    return ((z >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


class _UnitUniform:
    """The uniform distribution on (0, 1), for streams of plain probabilities."""

    @staticmethod
    def ppf(u: np.ndarray) -> np.ndarray:
        return u


class _UnitExponential:
    """The exponential distribution with mean 1 (scale it after drawing)."""

    @staticmethod
    def ppf(u: np.ndarray) -> np.ndarray:
        return -np.log1p(-u)


UNIT_UNIFORM = _UnitUniform()
UNIT_EXPONENTIAL = _UnitExponential()


class Stream:
    """Draws from one distribution, a block at a time, so each draw costs a list index.

    Parameters
    ----------
    dist : Dist
        Any distribution spec with ``ppf(u)`` (inverse CDF).
    key : int
        The stream's key (:func:`stream_key`); no other distribution reads it.
    scale : float
        Multiplies every draw (stretches times to failure in beta-factor groups).
    block : int
        Draws computed at a time; the values do not depend on it.
    """

    __slots__ = ("_dist", "_key", "_scale", "_block", "_buf", "_pos", "_next")

    def __init__(self, dist, key: int, scale: float = 1.0, block: int = 32) -> None:
        self._dist, self._key, self._scale, self._block = dist, key, scale, block
        self._buf: list[float] = []
        self._pos = 0
        self._next = 0  # counter of the next block

    def prefill(self, values: np.ndarray) -> None:
        """Hand the stream its first block, computed in bulk with other streams'."""
        if self._scale != 1.0:
            values = values * self._scale
        self._buf = values.tolist()
        self._pos = 0
        self._next = len(values)

    def __call__(self) -> float:
        if self._pos >= len(self._buf):
            values = self._dist.ppf(uniforms(self._key, self._next, self._block))
            self._next += self._block
            if self._scale != 1.0:
                values = values * self._scale
            self._buf = values.tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value


def prefill(streams: list[Stream], block: int = 16) -> None:
    """Compute the first block of many streams at once (one ppf call per distribution)."""
    by_dist: dict[int, list[Stream]] = {}
    for st in streams:
        by_dist.setdefault(id(st._dist), []).append(st)
    for group in by_dist.values():
        keys = np.fromiter((st._key for st in group), dtype=np.uint64, count=len(group))
        values = group[0]._dist.ppf(uniforms(keys, 0, block))
        for st, row in zip(group, values, strict=True):
            st.prefill(row)


def named_stream(rep: tuple[int, int], name: str, dist, block: int = 32) -> Stream:
    """The stream of draws from ``dist`` called ``name`` in replication ``rep``: every
    backend that draws the same named quantity reads the same values."""
    return Stream(dist, stream_key(rep, name_key(name)), block=block)
