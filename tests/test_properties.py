"""Properties that hold for every topology (hypothesis)."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import topology_docs, without_failures

import simulator
from simulator.engine.control import simulate_failures
from simulator.engine.plan import compile_plan
from simulator.rng import replication_seed

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _per_rep(res: simulator.Results) -> dict[str, np.ndarray]:
    scopes = res.records[0].services
    return {s: np.array([r.services[s].availability for r in res.records]) for s in scopes}


@PROPS
@given(topology_docs())
def test_availability_is_a_probability(doc):
    """Every availability estimate and interval bound lies in [0, 1]."""
    res = simulator.run(simulator.from_dict(doc))
    d = res.to_dict()
    for block in [d, *d["services"].values()]:
        a = block["availability"]["time"]
        assert 0.0 <= a["mean"] <= 1.0
        lo, hi = a["ci95"] if a["ci95"] is not None else (None, None)
        assert lo is None or 0.0 <= lo <= a["mean"]
        assert hi is None or a["mean"] <= hi <= 1.0
        assert block["downtime"]["minutes_per_year"] >= 0.0


@PROPS
@given(topology_docs())
def test_no_failures_gives_exactly_one(doc):
    """Without any failure spec every service is up the whole horizon: availability is exactly 1."""
    res = simulator.run(simulator.from_dict(without_failures(doc)))
    for values in _per_rep(res).values():
        assert (values == 1.0).all()
    assert res.scope().outages_per_year.mean == 0.0


@settings(max_examples=15, deadline=None)
@given(topology_docs())
def test_same_seed_same_json(doc):
    """The same model and seed give byte-identical JSON."""
    model = simulator.from_dict(doc)
    assert simulator.run(model).to_json() == simulator.run(model).to_json()


@PROPS
@given(topology_docs(crews=False), st.data())
def test_adding_a_replica_never_lowers_availability(doc, data):
    """On the same seed (same failure trace), one more replica never lowers any availability."""
    name = data.draw(st.sampled_from(sorted(doc["services"])))
    zone = data.draw(st.sampled_from(sorted(doc["services"][name]["replicas"])))
    bigger = copy.deepcopy(doc)
    bigger["services"][name]["replicas"][zone] += 1
    before = _per_rep(simulator.run(simulator.from_dict(doc)))
    after = _per_rep(simulator.run(simulator.from_dict(bigger)))
    for scope, values in before.items():
        assert (after[scope] >= values - 1e-12).all(), scope


@PROPS
@given(topology_docs(), st.data())
def test_lower_quorum_never_lowers_availability(doc, data):
    """Needing fewer healthy replicas (same trace) never lowers any availability."""
    name = data.draw(st.sampled_from(sorted(doc["services"])))
    looser = copy.deepcopy(doc)
    looser["services"][name]["min_healthy"] = 1
    before = _per_rep(simulator.run(simulator.from_dict(doc)))
    after = _per_rep(simulator.run(simulator.from_dict(looser)))
    for scope, values in before.items():
        assert (after[scope] >= values - 1e-12).all(), scope


def _failure_times(doc: dict, seed: int) -> dict[str, np.ndarray]:
    plan = compile_plan(simulator.from_dict(doc))
    trace = simulate_failures(plan, replication_seed(np.random.SeedSequence(seed), 0))
    return {c.name: trace.failure_times(c.index) for c in plan.components}


@PROPS
@given(topology_docs(crews=False, common_cause=False), st.integers(0, 1000))
def test_unrelated_component_does_not_shift_others(doc, seed):
    """Adding an unrelated service and zone leaves every other component's failure times unchanged."""
    extended = copy.deepcopy(doc)
    region = next(iter(extended["providers"]["p"]["regions"].values()))
    region["zones"]["extra-zone"] = {"failure": {"mtbf": "3h", "mttr": "1h"}}
    extended["services"]["extra"] = {"replicas": {"extra-zone": 2}, "failure": {"mtbf": "2h", "mttr": "10m"}}
    extended["entries"] = sorted(doc["services"])  # keep the system definition unchanged
    before = _failure_times(doc, seed)
    after = _failure_times(extended, seed)
    for name, times in before.items():
        np.testing.assert_array_equal(after[name], times, err_msg=name)


def test_executors_give_identical_results():
    """Serial and process-pool execution give byte-identical JSON for the same seed."""
    model = simulator.load("topologies/quorum-datastore.yaml")
    serial = simulator.run(model, replications=12, horizon="60d", executor="serial")
    pooled = simulator.run(model, replications=12, horizon="60d", executor="processes", workers=2)
    assert serial.to_json() == pooled.to_json()
