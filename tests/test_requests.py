"""Known answers for the ``requests`` backend: queueing theory and retry arithmetic.

Tolerances: ``Z`` standard errors of the replication means (replications are
independent; requests inside one are not), plus the histogram's bucket error (< 1 %)
for percentiles.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Z, topology

import simulator
from simulator.analysis import reference as ref
from simulator.metrics.histogram import RATIO

BUCKET = float(np.sqrt(RATIO)) - 1.0  # relative error of a reported percentile


def queue_model(workers: int, rate: float, mean_s: float = 1.0, replicas: int = 1, policy: str = "round_robin",
                queue_limit: int | None = None, horizon: str = "6h", replications: int = 16):
    svc = {
        "replicas": {"z1": replicas},
        "workers": workers,
        "service_time": {"exponential": f"{mean_s}s"},
        "load_balancer": {"policy": policy},
    }
    if queue_limit is not None:
        svc["queue_limit"] = queue_limit
    return topology(
        {"q": svc},
        traffic=[{"entry": "q", "rate": f"{rate}/s"}],
        horizon=horizon,
        warmup="10m",
        replications=replications,
        seed=3,
    )


def rep_values(res: simulator.Results, key: str) -> np.ndarray:
    """A per-replication latency figure of the entry (mean or a percentile)."""
    out = []
    for r in res.records:
        h = r.extra["requests"]["entries"]["q"]["latency_ok"]
        out.append(h.mean if key == "mean" else h.quantile({"p50": 0.5, "p90": 0.9, "p99": 0.99}[key]))
    return np.array(out)


def assert_latency(res: simulator.Results, key: str, theory: float) -> None:
    values = rep_values(res, key)
    pooled = res.requests["system"]["latency_ok"][key]
    se = values.std(ddof=1) / np.sqrt(len(values))
    slack = Z * se + (BUCKET * theory if key != "mean" else 0.0)
    assert se < 0.05 * theory, f"{key}: too imprecise to test (se {se:.3g})"
    assert abs(pooled - theory) <= slack, f"{key}: {pooled:.4f} vs theory {theory:.4f} (slack {slack:.3g})"


@pytest.fixture(scope="module")
def mm1():
    return simulator.run(queue_model(1, 0.8, horizon="8h", replications=32))


@pytest.fixture(scope="module")
def mm4():
    return simulator.run(queue_model(4, 3.2, horizon="3h"))


@pytest.mark.parametrize("key", ["mean", "p50", "p90", "p99"])
def test_mm1_sojourn(mm1, key):
    """M/M/1 (rho 0.8): the sojourn time is exponential with rate mu - lambda."""
    res = mm1
    theory = 1 / (1 - 0.8) if key == "mean" else ref.mm1_sojourn_quantile({"p50": 0.5, "p90": 0.9, "p99": 0.99}[key], 0.8, 1.0)
    assert_latency(res, key, theory)


@pytest.mark.parametrize("key", ["mean", "p50", "p90", "p99"])
def test_mmc_sojourn_erlang_c(mm4, key):
    """M/M/4 (rho 0.8): mean and percentiles of the sojourn from the Erlang C mixture."""
    res = mm4
    theory = (
        ref.mmc_mean_sojourn(4, 3.2, 1.0)
        if key == "mean"
        else ref.mmc_sojourn_quantile({"p50": 0.5, "p90": 0.9, "p99": 0.99}[key], 4, 3.2, 1.0)
    )
    assert_latency(res, key, theory)


def test_random_routing_is_independent_mm1s():
    """Four one-worker replicas with random routing are four M/M/1 queues at lambda/4."""
    res = simulator.run(queue_model(1, 3.2, replicas=4, policy="random", horizon="3h"))
    assert_latency(res, "mean", 1 / (1 - 0.8))
    shared = ref.mmc_mean_sojourn(4, 3.2, 1.0)
    assert res.requests["system"]["latency_ok"]["mean"] > 2 * shared  # pooling matters


def _shed(res: simulator.Results) -> np.ndarray:
    out = []
    for r in res.records:
        e = r.extra["requests"]["entries"]["q"]
        done = e["calls"] - e["in_flight"]
        out.append(e["outcomes"]["shed"] / done)
    return np.array(out)


def test_mmck_blocking():
    """M/M/2 with 3 waiting places (K = 5) sheds arrivals with the M/M/c/K probability."""
    res = simulator.run(queue_model(2, 2.0, queue_limit=3, horizon="2h"))
    theory = ref.mmck_blocking(2, 5, 2.0, 1.0)
    values = _shed(res)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert se < 0.1 * theory
    assert abs(values.mean() - theory) <= Z * se


def test_erlang_b_with_no_waiting_room():
    """queue_limit 0 is a loss system: shed fraction = Erlang B(c, a)."""
    res = simulator.run(queue_model(3, 2.0, queue_limit=0, horizon="2h"))
    theory = ref.erlang_b(3, 2.0)
    values = _shed(res)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert se < 0.1 * theory
    assert abs(values.mean() - theory) <= Z * se
    assert res.requests["system"]["availability"].mean == pytest.approx(1 - theory, abs=Z * se)


def test_retry_amplification_independent_failures():
    """Retries against independent failures: E[attempts] = (1-p^(r+1))/(1-p), failure p^(r+1)."""
    p, retries = 0.3, 2
    model = topology(
        {
            "front": {"replicas": {"z1": 1}, "workers": 64, "calls": [{"service": "back", "retries": retries}]},
            "back": {"replicas": {"z1": 1}, "workers": 64, "service_time": {"exponential": "10ms"}, "error_rate": p},
        },
        traffic=[{"entry": "front", "rate": "50/s"}],
        horizon="10m",
        replications=8,
        seed=5,
    )
    res = simulator.run(model)
    attempts, failure = ref.retry_attempts(p, retries)
    edge = res.requests["edges"]["front->back"]
    n = edge["calls"]
    # attempts per call has variance below (r+1)^2 / 4 per call; failures are Bernoulli
    assert abs(edge["amplification"] - attempts) <= Z * (retries + 1) / 2 / np.sqrt(n)
    fail = 1 - res.requests["system"]["availability"].mean
    assert abs(fail - failure) <= Z * np.sqrt(failure * (1 - failure) / n)
    assert res.requests["system"]["outcomes"]["dependency_failure"] == pytest.approx(fail)
