"""The ``flow`` backend carries its own error: virtual requests from the run's seed,
exact formulas where a state has one, common random numbers across variants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from calibration_theory import erlang_b, erlang_c, mmck_blocking
from helpers import Z, topology

import simulator
from simulator.backends.flow.model import Pool, pool_key
from simulator.rng import replication_seed


def queue(workers: int, rate: float, queue_limit: int | None = None, **top):
    svc = {"replicas": {"z1": 1}, "workers": workers, "service_time": {"exponential": "1s"},
           "load_balancer": {"health_check": None}}
    if queue_limit is not None:
        svc["queue_limit"] = queue_limit
    return topology({"q": svc}, traffic=[{"entry": "q", "rate": f"{rate}/s"}], **top)


def run_flow(model, **kw):
    kw.setdefault("replications", 4)
    kw.setdefault("horizon", "2h")
    return simulator.run(model, backend="flow", seed=kw.pop("seed", 5), **kw)


def test_virtual_requests_come_from_the_run_seed():
    """Every replication of a run shares one set of virtual requests, derived from the
    run's root seed: another seed gives others."""
    root = np.random.SeedSequence(11)
    keys = {pool_key(replication_seed(root, i)) for i in range(5)}
    assert len(keys) == 1
    other = pool_key(replication_seed(np.random.SeedSequence(12), 0))
    assert other not in keys
    a, b = Pool(next(iter(keys))).u("svc/q"), Pool(other).u("svc/q")
    assert np.count_nonzero(a == b) == 0


def test_virtual_sets_are_stratified_and_permutations_stay_in_their_set():
    """Each set of virtual requests has one uniform per stratum; pairing permutations
    map every set onto itself."""
    pool = Pool((1, 2))
    u = pool.u("svc/x").reshape(16, -1)
    strata = np.sort(np.floor(u * u.shape[1]).astype(int), axis=1)
    assert (strata == np.arange(u.shape[1])).all()
    perm = pool.perm("edge/a0").reshape(16, -1)
    assert ((perm // perm.shape[1]) == np.arange(16)[:, None]).all()


def test_renaming_a_model_changes_nothing():
    """Two models that differ only in ``name`` give the same figures (virtual requests are
    not seeded from the model)."""
    a = run_flow(queue(1, 0.8, name="first"))
    b = run_flow(queue(1, 0.8, name="second"))
    da, db = a.to_dict(), b.to_dict()
    for key in ("name", "model_hash"):
        da.pop(key), db.pop(key)
    assert da == db


def test_mmck_blocking_is_the_formula():
    """M/M/1/K on flow: the shed share and request availability are the M/M/c/K formula
    (to the last digits), not a count of virtual requests."""
    res = run_flow(queue(1, 0.9, queue_limit=4), warmup="10m")
    truth = 1 - mmck_blocking(1, 5, 0.9)
    avail = res.requests["system"]["availability"]
    assert avail.mean == pytest.approx(truth, rel=1e-12)
    assert avail.lo == pytest.approx(truth, rel=1e-12) and avail.hi == pytest.approx(truth, rel=1e-12)


def test_erlang_b_on_flow():
    """15 lines offered 8.108 erlangs with no waiting room block 1.00 % (Erlang B)."""
    res = run_flow(queue(15, 8.108, queue_limit=0))
    shed = res.requests["system"]["outcomes"]["shed"]
    assert shed == pytest.approx(erlang_b(15, 8.108), rel=1e-9)
    assert shed == pytest.approx(0.0100, abs=5e-5)


def test_erlang_c_on_flow():
    """14 agents at 10 erlangs: the mean wait is P(wait) / (c mu - lambda) with Erlang C's
    P(wait) = 0.1741, within Z standard errors of flow's own interval."""
    res = run_flow(queue(14, 10.0))
    lat = res.requests["system"]["latency_ok_estimates"]["mean"]
    p_wait = erlang_c(14, 10.0)
    assert p_wait == pytest.approx(0.1741, abs=1e-4)
    theory = 1.0 + p_wait / (14 - 10.0)
    se = (lat.hi - lat.lo) / (2 * 2.13)  # t with 15 degrees of freedom (16 virtual sets)
    assert se > 0
    assert abs(lat.mean - theory) <= Z * se, (lat, theory)


def test_virtual_error_enters_the_interval():
    """A share that rests on the virtual requests' waits (M/M/1/K with a 3 s deadline)
    has an interval of nonzero width; with no failures every replication is the same,
    so the width is all virtual error."""
    model = topology({"q": {"replicas": {"z1": 1}, "workers": 1, "service_time": {"exponential": "1s"},
                            "queue_limit": 4, "load_balancer": {"health_check": None}}},
                     traffic=[{"entry": "q", "rate": "0.9/s", "deadline": "3s"}])
    res = run_flow(model, warmup="10m")
    avail = res.requests["system"]["availability"]
    assert avail.hi - avail.lo > 0.005
    assert len({r.extra["requests"]["entries"]["q"]["outcomes"]["success"] for r in res.records}) == 1


def _failing_chain(extra_zone: bool = False):
    zones = {"z1": {"failure": {"mtbf": "20d", "mttr": "2h"}}, "z2": {}}
    if extra_zone:
        zones["z3"] = {}
    return topology(
        {"api": {"replicas": {"z1": 2, "z2": 2}, "workers": 8, "service_time": {"lognormal": {"median": "20ms", "sigma": 0.5}},
                 "failure": {"mtbf": "5d", "mttr": "20m"}, "calls": [{"service": "db", "timeout": "300ms", "retries": 1}]},
         "db": {"replicas": {"z1": 1, "z2": 1}, "workers": 8, "service_time": {"exponential": "10ms"},
                "failure": {"mtbf": "10d", "mttr": "1h"}}},
        zones=zones, traffic=[{"entry": "api", "rate": "50/s"}],
    )


def test_common_random_numbers_hold_for_flow_in_a_sweep():
    """Variants that agree see the same virtual requests and failures: a variant that
    changes only its description differs by exactly nothing, and a real change is
    compared with a paired interval narrower than two independent runs'."""
    model = _failing_chain()
    res = simulator.sweep(model, variants=[("base", {}), ("same", {"description": "unchanged"}),
                                           ("more db", {"services.db.replicas.z2": 2})],
                          replications=12, horizon="30d", seed=3, backend="flow")
    diffs = {d["variant"]: d for d in res.differences()}
    same = diffs["same"]["request_availability"]
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0]
    more = diffs["more db"]["request_availability"]
    width = more["ci95"][1] - more["ci95"][0]
    independent = more["independent_ci95"][1] - more["independent_ci95"][0]
    assert 0 < width < independent


def test_a_zone_nothing_uses_shifts_nothing_on_flow():
    """Adding an empty zone leaves every figure of a flow run as it was (streams are named)."""
    a = run_flow(_failing_chain(), horizon="30d", replications=3).to_dict()
    b = run_flow(_failing_chain(extra_zone=True), horizon="30d", replications=3).to_dict()
    assert a["requests"] == b["requests"] and a["latency_s"] == b["latency_s"]
    assert math.isclose(a["availability"]["time"]["mean"], b["availability"]["time"]["mean"], rel_tol=0, abs_tol=0)
