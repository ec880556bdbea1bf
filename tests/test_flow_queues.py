"""Queueing in the ``flow`` backend against closed forms: a saturated caller passes on
only what its workers finish, and a limited queue's waits follow the service time's
variability."""

from __future__ import annotations

import pytest

import simulator


def _chain(rate: str, caller: dict, callee: dict, horizon: str = "2m") -> simulator.Topology:
    return simulator.Topology.model_validate(
        {
            "name": "chain",
            "seed": 4,
            "horizon": horizon,
            "replications": 2,
            "providers": {"p": {"regions": {"r": {"zones": {"z": {}}}}}},
            "services": {"front": {**caller, "calls": [{"service": "back"}]}, "back": callee},
            "traffic": [{"entry": "front", "rate": rate}],
        }
    )


def test_a_saturated_caller_passes_on_its_capacity():
    """front: 2 workers holding each request 100 ms + 1 ms of back, offered 40/s:
    it finishes 2 / 0.101 = 19.8/s, and that is all back receives (not 40/s)."""
    model = _chain(
        "40/s",
        {"replicas": {"z": 1}, "workers": 2, "service_time": {"fixed": "100ms"}},
        {"replicas": {"z": 1}, "workers": 8, "service_time": {"fixed": "1ms"}},
    )
    got = simulator.run(model, backend="flow", max_requests=None).requests["services"]
    assert got["front"]["load"]["offered_per_s"] == pytest.approx(40.0, rel=1e-3)
    assert got["back"]["load"]["offered_per_s"] == pytest.approx(2 / 0.101, rel=0.01)


def test_limited_queue_waits_follow_the_service_time():
    """One worker at 50 % with room for 64 (blocking 0.5^65): the mean wait is M/M/1's
    10 ms with exponential service and M/D/1's 5 ms with a fixed one
    (Pollaczek-Khinchine: rho (1 + cs²) / (2 mu (1 - rho))). Flow's waits come from
    1 024 virtual requests: M/M/1's wait has standard deviation 17.3 ms, so its mean is
    within 3 standard errors (1.6 ms) of the formula; both runs draw the same
    virtual requests, so the ratio of the two is exact."""
    mean_queue = {}
    for kind in ("exponential", "fixed"):
        model = _chain(
            "50/s",
            {"replicas": {"z": 1}, "workers": 64, "service_time": {"fixed": "1ms"}},
            {"replicas": {"z": 1}, "workers": 1, "service_time": {kind: "10ms"}, "queue_limit": 64},
        )
        load = simulator.run(model, backend="flow", max_requests=None).requests["services"]["back"]["load"]
        mean_queue[kind] = load["mean_queue"]  # Little: 50/s x the mean wait
    assert mean_queue["exponential"] / 50 == pytest.approx(0.010, abs=3 * 0.0173 / 32)
    assert mean_queue["fixed"] / mean_queue["exponential"] == pytest.approx(0.5, rel=1e-6)
