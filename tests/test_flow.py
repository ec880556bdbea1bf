"""The ``flow`` backend against the ``requests`` backend (the reference semantics)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import simulator
from simulator.metrics.timeline import recovery_time
from simulator.metrics.virtual import VirtualSplit

TOPOLOGIES = sorted(Path("topologies").glob("*.yaml"))


def _both(model, **kw):
    return {be: simulator.run(model, backend=be, max_requests=None, **kw) for be in ("requests", "flow")}


@pytest.mark.slow
@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_flow_matches_requests_at_steady_state(path):
    """On every bundled topology, p50 and p99 agree within 10 % and request availability
    within the two runs' combined confidence intervals (same seeds, a short horizon)."""
    model = simulator.load(path)
    assert model.traffic, "every bundled topology has traffic"
    runs = _both(model, horizon="4m", warmup="30s", replications=4, seed=11)
    req, flow = (runs[b].requests["system"] for b in ("requests", "flow"))
    for q in ("p50", "p99"):
        assert flow["latency_ok"][q] == pytest.approx(req["latency_ok"][q], rel=0.10), q
    a, b = req["availability"], flow["availability"]
    half = (a.hi - a.lo) / 2 + ((b.hi - b.lo) / 2 if b.lo is not None else 0.0)
    assert abs(a.mean - b.mean) <= half + 1e-9


@pytest.mark.slow
def test_flow_matches_requests_with_failures():
    """With replicas failing every few hours, request availability (connection errors
    while health checks catch dead replicas, retries) agrees within the combined CIs."""
    model = simulator.load("topologies/checkout-latency.yaml")
    runs = _both(model, replications=4, seed=5)
    a, b = (runs[k].requests["system"]["availability"] for k in ("requests", "flow"))
    assert a.mean < 1.0 and b.mean < 1.0  # failures did reach users
    assert abs(a.mean - b.mean) <= (a.hi - a.lo) / 2 + (b.hi - b.lo) / 2


CAPACITY_LOSS = {
    "name": "capacity-loss",
    "horizon": "7m",
    "replications": 6,
    "seed": 3,
    "providers": {
        "p": {
            "regions": {
                "r": {
                    "zones": {
                        "z1": {"failure": {"ttf": {"fixed": "120s"}, "ttr": {"fixed": "60s"}}},
                        "z2": {},
                    }
                }
            }
        }
    },
    "services": {
        "q": {
            "replicas": {"z1": 2, "z2": 2},
            "workers": 4,
            "service_time": {"exponential": "100ms"},
            "load_balancer": {"health_check": {"interval": "5s", "unhealthy_after": 2}},
        }
    },
    "traffic": [{"entry": "q", "rate": "110/s"}],
}


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["round_robin", "least_outstanding"])
def test_recovery_after_capacity_loss_matches(policy):
    """Half the capacity lost for a minute overloads the service; after the repair, the
    time until p99 is back under 1 s (for 15 s) agrees within 20 %."""
    doc = {**CAPACITY_LOSS, "services": {"q": {**CAPACITY_LOSS["services"]["q"]}}}
    doc["services"]["q"]["load_balancer"] = {**doc["services"]["q"]["load_balancer"], "policy": policy}
    runs = _both(simulator.from_dict(doc), timeline="5s")
    times = {}
    for backend, res in runs.items():
        tl = res.timeline()
        assert tl["p99_s"].max() > 5.0, "the loss must overload the service"
        times[backend] = recovery_time(tl.index.values, (tl["p99_s"] < 1.0).values, after=180.0, settle_s=15.0)
    assert times["requests"] is not None and times["flow"] is not None
    assert times["flow"] == pytest.approx(times["requests"], rel=0.20)


def test_flow_counts_every_request():
    """The expected number of requests is the integral of the rate (no failures, no loss)."""
    doc = {**CAPACITY_LOSS, "providers": {"p": {"regions": {"r": {"zones": {"z1": {}, "z2": {}}}}}}}
    doc["traffic"] = [{"entry": "q", "rate": "50/s", "spikes": [{"at": "1m", "duration": "2m", "multiplier": 2}]}]
    res = simulator.run(simulator.from_dict(doc), backend="flow", replications=2)
    expected = 2 * (50 * 420 + 50 * 120)  # two replications; the spike doubles two minutes
    assert res.requests["system"]["requests"] == pytest.approx(expected, rel=0.01)
    assert res.requests["system"]["availability"].mean == pytest.approx(1.0)


def _store(zone_ttf: str = "100s") -> simulator.Topology:
    """A datastore whose primary's zone (z1) fails at ``zone_ttf`` for an hour; its
    callers live in z2."""
    return simulator.from_dict({
        "name": "store", "horizon": "5m", "replications": 3, "seed": 8,
        "providers": {"p": {"regions": {"r": {"zones": {
            "z1": {"failure": {"ttf": {"fixed": zone_ttf}, "ttr": {"fixed": "1h"}}}, "z2": {}}}}}},
        "services": {
            "app": {"replicas": {"z2": 2}, "workers": 8, "service_time": {"exponential": "5ms"},
                    "calls": [{"service": "db", "timeout": "500ms"}]},
            "db": {"replicas": {"z1": 1, "z2": 1}, "workers": 8, "service_time": {"exponential": "5ms"},
                   "load_balancer": {"health_check": {"interval": "5s", "unhealthy_after": 2}},
                   "datastore": {"failover": "30s"}},
        },
        "traffic": [{"entry": "app", "rate": "40/s"}],
    })


def test_flow_datastore_calls_go_to_the_primary_until_failover():
    """Only the primary takes calls: when its zone fails, every request fails from the
    failure until a replica is promoted, detection (5-10 s: two probes 5 s apart) plus
    the 30 s failover later, as on the requests backend (the same probe phases)."""
    from simulator.backends.flow.rotation import replica_changes
    from simulator.engine import fast
    from simulator.engine.plan import compile_plan
    from simulator.rng import as_seed_sequence, replication_key, replication_seed

    model = _store()
    plan = compile_plan(model)
    seed = replication_seed(as_seed_sequence(8), 0)
    changes = replica_changes(plan, fast.fast_trace(plan, seed), replication_key(seed))
    (primary, standby) = (int(r) for r in plan.services[[s.name for s in plan.services].index("db")].replicas)
    standby_in = [t for t, r, _, rot in changes if r == standby and rot]
    primary_out = [t for t, r, _, rot in changes if r == primary and not rot]
    assert [t for t, r, _, rot in changes if r == standby and not rot] == [0.0]  # a replica takes no calls
    assert len(primary_out) == 1 and 105.0 <= primary_out[0] <= 110.0
    assert standby_in == [pytest.approx(primary_out[0] + 30.0)]

    runs = {be: simulator.run(model, backend=be, max_requests=None) for be in ("requests", "flow")}
    failed = {be: r.requests["system"]["requests"] * (1 - r.requests["system"]["availability"].mean) for be, r in runs.items()}
    per_rep = failed["flow"] / 3 / 40.0  # seconds of failing traffic per replication
    assert 35.0 <= per_rep <= 40.0 + 0.5
    # requests: Poisson arrivals over the same window
    assert failed["requests"] == pytest.approx(failed["flow"], abs=4 * np.sqrt(failed["flow"]) + 1)


def test_auto_backend_by_horizon():
    """auto: requests for short horizons, flow beyond a day (with traffic)."""
    model = simulator.load("topologies/checkout-latency.yaml")
    assert simulator.run(model, replications=1, horizon="1m").info.backend == "requests"
    assert simulator.run(model, replications=1, horizon="2d").info.backend == "flow"


def test_flow_same_seed_same_result():
    """flow is deterministic: same model and seed, identical JSON."""
    model = simulator.load("topologies/shop-two-regions.yaml")
    one = simulator.run(model, replications=3, horizon="30d", seed=2).to_json()
    assert one == simulator.run(model, replications=3, horizon="30d", seed=2).to_json()


def test_flow_retry_amplification():
    """Independent failures with retries: attempts per call (1-p^(r+1))/(1-p), as in theory."""
    from simulator.analysis import reference as ref

    p, retries = 0.3, 2
    doc = {
        "name": "retry", "horizon": "10m", "replications": 1,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}}}}}},
        "services": {
            "front": {"replicas": {"z1": 1}, "workers": 64, "calls": [{"service": "back", "retries": retries}]},
            "back": {"replicas": {"z1": 1}, "workers": 64, "service_time": {"exponential": "10ms"}, "error_rate": p},
        },
        "traffic": [{"entry": "front", "rate": "50/s"}],
    }
    res = simulator.run(simulator.from_dict(doc), backend="flow")
    attempts, failure = ref.retry_attempts(p, retries)
    # M virtual calls: the binomial sampling error of the pool of virtual requests
    assert res.requests["edges"]["front->back"]["amplification"] == pytest.approx(attempts, abs=4 * 1.5 / np.sqrt(1024))
    assert 1 - res.requests["system"]["availability"].mean == pytest.approx(failure, abs=4 * np.sqrt(failure / 1024))


def _diurnal_grid():
    from simulator.backends.flow import _Grid
    from simulator.backends.requests.traffic import RateFunction

    doc = {**CAPACITY_LOSS, "traffic": [{"entry": "q", "rate": "100/s", "diurnal": {"peak_to_trough": 3}}]}
    model = simulator.from_dict(doc)
    return _Grid([RateFunction(t) for t in model.traffic], 30.0, 2 * 86400.0)


def _piece_weights(grid, a, b):
    out = {}
    for start, stop, levels, per_s in grid.pieces(a, b):
        out[levels] = out.get(levels, 0.0) + per_s * max(0.0, min(stop, grid.end) - max(start, grid.t0))
    return out


def test_grid_weights_equal_the_sum_of_pieces():
    """A stretch's weight by traffic level is the sum over its pieces, for stretches inside
    one grid cell, across two adjacent cells and across many."""
    grid = _diurnal_grid()
    rng = np.random.default_rng(4)
    starts = rng.uniform(0.0, grid.end, 300)
    spans = np.concatenate([rng.uniform(0.0, 60.0, 100), rng.uniform(60.0, 120.0, 100), rng.uniform(1e3, 4e4, 100)])
    stops = np.minimum(starts + spans, grid.end)
    weights = grid.level_weights(starts, stops)
    columns = grid.level_list()
    for a, b, row in zip(starts, stops, weights, strict=True):
        expected = _piece_weights(grid, a, b)
        got = {columns[k]: w for k, w in enumerate(row) if w > 0}
        assert got.keys() <= expected.keys()
        for levels, w in expected.items():
            assert got.get(levels, 0.0) == pytest.approx(w, rel=1e-9, abs=1e-6), (a, b)


def _shop_plan(horizon: str = "30d"):
    from simulator.engine.plan import compile_plan
    from simulator.units import parse_duration

    return compile_plan(simulator.load("topologies/shop-two-regions.yaml"), horizon_s=parse_duration(horizon))


def test_solutions_do_not_depend_on_what_was_solved_before():
    """Parts shared between states and rates (calls into idle queues, RTT quantiles,
    unit scopes) give exactly the solution a fresh model gives."""
    from simulator.backends.flow import LEVEL, solve
    from simulator.backends.flow.model import FlowModel

    plan = _shop_plan()
    shared = FlowModel(plan, (1, 2))
    up = tuple(tuple((n, 0) for n in svc.size.values()) for svc in shared.services)
    cart_down = (up[0], ((1, 1),) + up[1][1:], *up[2:])
    zone_out = tuple(((0, 0),) + s[1:] if len(s) > 1 else s for s in up)
    base = shared.entries[0].spec.rate_per_s
    cases = [(st, (base * LEVEL**lv,)) for lv in (-10, 0, 7) for st in (up, cart_down, zone_out)]
    for state, rates in cases:
        solve(shared, state, rates)
    for state, rates in reversed(cases):
        got, fresh = solve(shared, state, rates), solve(FlowModel(plan, (1, 2)), state, rates)
        np.testing.assert_array_equal(got.dense(), fresh.dense())
        assert got.overloaded == fresh.overloaded and got.flows == fresh.flows


def test_steady_intervals_added_in_bulk_equal_stepping_them():
    """A replication's totals are the same (to 1e-9) whether its steady intervals are
    added up by state and level at once or stepped piece by piece (lightly loaded
    states, which one scaled solution stands for, stay added up)."""
    from simulator.backends import flow

    plan = _shop_plan("20d")
    seed = np.random.SeedSequence(3)
    bulk = flow.run_replication(plan, seed, 0).extra["requests"]
    original = flow._Replay._classify

    def everything_stepped(self, states, sid, nz, rates, grid):  # but the lightly loaded states
        light, _ = original(self, states, sid, nz, rates, grid)
        return light, np.array([light[s] is None for s in sid], dtype=bool)

    flow._CACHE.clear()
    try:
        flow._Replay._classify = everything_stepped
        stepped = flow.run_replication(plan, seed, 0).extra["requests"]
    finally:
        flow._Replay._classify = original
    for kind in ("entries", "services", "edges"):
        for name, figures in bulk[kind].items():
            for key, value in figures.items():
                other = stepped[kind][name][key]
                if isinstance(value, dict):
                    for k, v in value.items():
                        assert other[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (kind, name, key, k)
                elif isinstance(value, VirtualSplit):
                    np.testing.assert_allclose(other.success, value.success, rtol=1e-9, atol=1e-6)
                    for key_ in ("latency_ok", "latency_all"):
                        np.testing.assert_allclose(other.dense(key_), value.dense(key_), rtol=1e-9, atol=1e-6)
                elif hasattr(value, "dense"):
                    np.testing.assert_allclose(other.dense(), value.dense(), rtol=1e-9, atol=1e-6)
                elif isinstance(value, (int, float)):
                    assert other == pytest.approx(value, rel=1e-9, abs=1e-9), (kind, name, key)


def test_short_states_scaled_from_the_mean_rate_change_little(monkeypatch):
    """States that last under a minute in a replication (health checks catching a
    failure, replicas coming back one by one) are solved once at the mean rate and
    scaled: the rule acts on some states, and request availability and latency
    percentiles barely move against solving each of their traffic levels."""
    from simulator.backends import flow

    classify = flow._Replay._classify
    scaled_states: dict[float, int] = {}

    def counting(self, states, sid, w, rates, grid):
        light, unsafe = classify(self, states, sid, w, rates, grid)
        scaled_states[flow.SHORT_S] = scaled_states.get(flow.SHORT_S, 0) + sum(x is not None for x in light)
        return light, unsafe

    monkeypatch.setattr(flow._Replay, "_classify", counting)
    model = simulator.load("topologies/shop-two-regions.yaml")
    runs = {}
    for short in (60.0, 0.0):
        monkeypatch.setattr(flow, "SHORT_S", short)
        flow._CACHE.clear()
        runs[short] = simulator.run(model, backend="flow", replications=6, horizon="1y", seed=21).requests["system"]
    scaled, exact = runs[60.0], runs[0.0]
    # the rule did act: more states were solved once at the mean rate with it than without
    assert scaled_states[60.0] > scaled_states.get(0.0, 0)
    assert scaled["requests"] == pytest.approx(exact["requests"], rel=1e-9)
    unavailable = 1 - exact["availability"].mean
    assert unavailable > 0
    assert 1 - scaled["availability"].mean == pytest.approx(unavailable, rel=0.01)
    for q in ("p50", "p99", "p999"):
        assert scaled["latency_ok"][q] == pytest.approx(exact["latency_ok"][q], rel=0.01), q


def _rotation_stepped(flips: list[tuple[float, bool]], phase: float, hc, end: float) -> list[tuple[float, bool, bool]]:
    """The health-check verdicts probe by probe: the reference for ``rotation._rotation``."""
    events: list[tuple[float, bool, bool]] = []
    serving, rotation = True, True
    fails = succs = 0
    probe = math.inf
    i = 0
    while True:
        t_flip = flips[i][0] if i < len(flips) else math.inf
        if min(t_flip, probe) >= end:
            return events
        if t_flip <= probe:  # the control plane goes first at equal times
            serving = flips[i][1]
            i += 1
            events.append((t_flip, serving, rotation))
            if probe == math.inf and hc is not None:
                k = math.floor((t_flip - phase) / hc.interval_s) + 1
                probe = phase + k * hc.interval_s
            continue
        if serving:
            succs, fails = succs + 1, 0
            if not rotation and succs >= hc.healthy_after:
                rotation = True
                events.append((probe, serving, rotation))
        else:
            fails, succs = fails + 1, 0
            if rotation and fails >= hc.unhealthy_after:
                rotation = False
                events.append((probe, serving, rotation))
        probe = math.inf if rotation == serving else probe + hc.interval_s


def test_rotation_counts_probe_stretches_as_stepping_them():
    """The health-check verdicts computed a stretch of probes at a time equal those of
    stepping every probe (random flips, phases, intervals and thresholds)."""
    import random
    from types import SimpleNamespace

    from simulator.backends.flow.rotation import _rotation

    rng = random.Random(1)
    for _ in range(3000):
        hc = SimpleNamespace(interval_s=rng.choice([0.3, 1.0, 5.0, 10.0]),
                             unhealthy_after=rng.randint(1, 4), healthy_after=rng.randint(1, 4))
        t, flips, serving = 0.0, [], True
        for _ in range(rng.randint(0, 12)):
            t += rng.choice([rng.random() * 3 * hc.interval_s, rng.random() * 0.2, hc.interval_s * rng.randint(0, 3)])
            serving = not serving
            flips.append((t, serving))
        phase, end = rng.random() * hc.interval_s, t + rng.random() * 4 * hc.interval_s
        got, want = _rotation(flips, phase, hc, end), _rotation_stepped(flips, phase, hc, end)
        assert [e[1:] for e in got] == [e[1:] for e in want]
        assert [e[0] for e in got] == pytest.approx([e[0] for e in want], abs=1e-9)


def test_states_numbered_by_one_integer_or_by_rows_agree(monkeypatch):
    """Large topologies number their states by rows of counts instead of one integer:
    both ways give the same replication."""
    from simulator.backends import flow

    plan = _shop_plan("60d")
    seed = np.random.SeedSequence(9)
    coded = flow.run_replication(plan, seed, 0).extra["requests"]
    monkeypatch.setattr(flow, "_CODE_LIMIT", 0.0)
    flow._CACHE.clear()
    rows = flow.run_replication(plan, seed, 0).extra["requests"]
    for kind in ("entries", "services", "edges"):
        for name, figures in coded[kind].items():
            for key, value in figures.items():
                other = rows[kind][name][key]
                if isinstance(value, VirtualSplit):
                    np.testing.assert_array_equal(other.success, value.success)
                    np.testing.assert_array_equal(other.dense("latency_all"), value.dense("latency_all"))
                elif hasattr(value, "dense"):  # latency histograms
                    np.testing.assert_array_equal(other.dense(), value.dense())
                else:
                    assert other == value, (kind, name, key)


def test_retry_budget_solutions_do_not_depend_on_what_was_solved_before():
    """A retry budget's share of retries let through is part of what a call result is
    cached by: solving states in any order gives the solutions a fresh model gives
    (storefront-ha: a 20 % budget on web -> orders, half of the orders replicas dead)."""
    from simulator.backends.flow import LEVEL, solve
    from simulator.backends.flow.model import FlowModel
    from simulator.engine.plan import compile_plan

    plan = compile_plan(simulator.load("topologies/storefront-ha.yaml"), horizon_s=3600.0)
    shared = FlowModel(plan, (1, 2))
    names = [s.name for s in shared.services]
    up = [tuple((n, 0) for n in svc.size.values()) for svc in shared.services]
    orders = names.index("orders")
    states = []
    for dead in (((1, 0), (0, 1), (1, 0), (0, 1)), ((0, 1), (0, 1), (1, 0), (1, 0)), ((0, 1), (1, 0), (0, 1), (1, 0))):
        st = list(up)
        st[orders] = dead
        states.append(tuple(st))
    base = sum(e.spec.rate_per_s for e in shared.entries)
    cases = [(st, (base * LEVEL**lv,)) for lv in (-5, 0, 5) for st in states]
    for state, rates in cases:
        solve(shared, state, rates)
    for state, rates in reversed(cases):
        got, fresh = solve(shared, state, rates), solve(FlowModel(plan, (1, 2)), state, rates)
        np.testing.assert_array_equal(got.dense(), fresh.dense())
    assert got.dense()[shared.layout.edge_at["web->orders"] + 4] > 0  # the budget denied retries
