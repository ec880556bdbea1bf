"""The counter-based named streams."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.model.distributions import exponential
from simulator.rng import Stream, name_key, replication_key, replication_seed, stream_key, uniforms


def _key(seed: int, name: str, rep: int = 0) -> int:
    return stream_key(replication_key(replication_seed(np.random.SeedSequence(seed), rep)), name_key(name))


def test_uniforms_are_uniform():
    """A stream's draws pass a Kolmogorov-Smirnov test against U(0, 1)."""
    u = uniforms(_key(1, "a"), 0, 200_000)
    assert (u > 0).all() and (u < 1).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_streams_are_uncorrelated():
    """Streams of neighbouring names and replications show no correlation."""
    a = uniforms(_key(1, "replica/api/z1/0"), 0, 100_000)
    b = uniforms(_key(1, "replica/api/z1/1"), 0, 100_000)
    c = uniforms(_key(1, "replica/api/z1/0", rep=1), 0, 100_000)
    for x, y in ((a, b), (a, c), (a[:-1], a[1:])):
        assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(len(x))


def test_blocks_do_not_change_values():
    """Reading a stream in blocks of any size gives the same numbers as one big read."""
    key = _key(3, "x")
    whole = uniforms(key, 0, 100)
    parts = np.concatenate([uniforms(key, i, 10) for i in range(0, 100, 10)])
    np.testing.assert_array_equal(whole, parts)
    d = exponential(2.0)
    small, big = Stream(d, key, block=7), Stream(d, key, block=64)
    np.testing.assert_allclose([small() for _ in range(100)], [big() for _ in range(100)], rtol=0, atol=0)


def test_keys_depend_on_name_seed_and_replication_only():
    """Keys are stable (not Python's salted hash) and differ by name, seed and replication."""
    assert name_key("zone/a") == name_key("zone/a")
    keys = {_key(1, "a"), _key(1, "b"), _key(2, "a"), _key(1, "a", rep=1)}
    assert len(keys) == 4


@pytest.mark.parametrize("seed", [0, 1, 2**40])
def test_uniform_mean_and_variance(seed):
    """Mean 1/2 and variance 1/12 within five standard errors."""
    u = uniforms(_key(seed, "m"), 0, 50_000)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / len(u))
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / len(u))
