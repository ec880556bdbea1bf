"""Named, reproducible random streams.

One root :class:`numpy.random.SeedSequence` per run; replication ``i`` is its child
``spawn_key=(i,)``; inside a replication every component and traffic source draws from
a stream keyed by its stable name. Adding a component therefore never shifts another
component's random numbers, and two variants run with one seed share common random
numbers. Keys come from BLAKE2b of the name, not Python's salted ``hash``.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["as_seed_sequence", "replication_seed", "name_key", "stream", "Stream"]


def as_seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """Accept an int, a SeedSequence or ``None`` (fresh OS entropy)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def replication_seed(root: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """The seed of replication ``index``: the same as ``root.spawn(...)[index]``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index))


def name_key(name: str) -> tuple[int, int]:
    """Two 32-bit words derived from ``name``, stable across processes and versions."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def stream(rep: np.random.SeedSequence, name: str) -> np.random.Generator:
    """The generator of the component or source called ``name`` in replication ``rep``."""
    child = np.random.SeedSequence(rep.entropy, spawn_key=(*rep.spawn_key, *name_key(name)))
    return np.random.Generator(np.random.PCG64(child))


class Stream:
    """Draws from one distribution in blocks, so each draw costs a list index.

    Parameters
    ----------
    dist : Dist
        Any distribution spec with ``sample(rng, size)``.
    rng : numpy.random.Generator
        The stream this distribution owns (not shared with another distribution).
    scale : float
        Multiplies every draw (used to stretch times to failure in beta-factor groups).
    block : int
        How many values to draw at a time.
    """

    __slots__ = ("_dist", "_rng", "_scale", "_block", "_buf", "_pos")

    def __init__(self, dist, rng: np.random.Generator, scale: float = 1.0, block: int = 64) -> None:
        self._dist, self._rng, self._scale, self._block = dist, rng, scale, block
        self._buf: list[float] = []
        self._pos = 0

    def __call__(self) -> float:
        if self._pos >= len(self._buf):
            values = self._dist.sample(self._rng, self._block)
            if self._scale != 1.0:
                values = values * self._scale
            self._buf = values.tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value
