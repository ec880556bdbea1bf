"""Distribution specs: parameters, means, and inverse-transform sampling against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from simulator.model.distributions import Dist

ADAPTER = TypeAdapter(Dist)
U = (np.arange(20_000) + 0.5) / 20_000  # a uniform grid: ppf(U) is a quasi-random sample

CASES = {
    "exponential": ({"exponential": {"mean": "2h"}}, stats.expon(scale=7200)),
    "weibull": ({"weibull": {"shape": 0.8, "scale": "3d"}}, stats.weibull_min(0.8, scale=3 * 86400)),
    "lognormal": ({"lognormal": {"median": "20ms", "sigma": 0.7}}, stats.lognorm(0.7, scale=0.02)),
    "lognormal-p99": (
        {"lognormal": {"median": "20ms", "p99": "150ms"}},
        stats.lognorm(math.log(7.5) / stats.norm.ppf(0.99), scale=0.02),
    ),
    "gamma": ({"gamma": {"shape": 2.5, "mean": "1h"}}, stats.gamma(2.5, scale=3600 / 2.5)),
    "uniform": ({"uniform": {"low": "1h", "high": "3h"}}, stats.uniform(3600, 7200)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ppf_matches_scipy(name):
    """ppf agrees with scipy's inverse CDF of the same distribution."""
    spec, ref = CASES[name]
    dist = ADAPTER.validate_python(spec)
    np.testing.assert_allclose(dist.ppf(U), ref.ppf(U), rtol=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mean_and_variance_match_scipy(name):
    """The analytic mean and variance agree with scipy's."""
    spec, ref = CASES[name]
    dist = ADAPTER.validate_python(spec)
    assert dist.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert dist.variance == pytest.approx(ref.var(), rel=1e-9)


def test_lognormal_p99_is_the_99th_percentile():
    """A lognormal given by median and p99 has exactly that 99th percentile."""
    dist = ADAPTER.validate_python({"lognormal": {"median": "20ms", "p99": "150ms"}})
    assert dist.ppf(np.array([0.99]))[0] == pytest.approx(0.150)
    assert dist.ppf(np.array([0.5]))[0] == pytest.approx(0.020)


def test_short_forms():
    """A bare duration is fixed; {exponential: X} means X is the mean; a list is empirical."""
    assert ADAPTER.validate_python("10m").mean == 600
    assert ADAPTER.validate_python({"exponential": "30d"}).mean == 30 * 86400
    emp = ADAPTER.validate_python({"empirical": ["1m", "3m"]})
    assert emp.mean == 120
    assert set(emp.ppf(U)) == {60.0, 180.0}


def test_sample_with_a_generator():
    """sample(rng, n) draws by inverse transform from a numpy Generator."""
    dist = ADAPTER.validate_python({"gamma": {"shape": 2, "mean": "1h"}})
    x = dist.sample(np.random.default_rng(0), 20_000)
    assert abs(x.mean() - 3600) < 5 * math.sqrt(dist.variance / len(x))
