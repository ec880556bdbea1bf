"""Chaos plans: detection, DNS failover, autoscaling, RPO, retry storms, journals, bad plans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import simulator
from simulator import chaos
from simulator.chaos.compile import compile_experiment
from simulator.chaos.run import run_chaos_replication
from simulator.errors import ModelError, ModelErrors
from simulator.model.loader import from_dict
from simulator.rng import replication_seed

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted((ROOT / "topologies" / "plans").glob("*.yaml"))


def plan(method: list[dict], **kw) -> chaos.ChaosPlan:
    doc = {"title": "test", "duration": "10m", "replications": 2, "background_failures": False,
           "steady_state": {"probes": [{"sli": "success_ratio", "at_least": "99%"}]}, "method": method}
    doc.update(kw)
    return chaos.plan_from_dict(doc)


def two_zones(hc: dict | None = None, **svc) -> simulator.Topology:
    api = {"replicas": {"z1": 2, "z2": 2}, "workers": 8, "service_time": {"exponential": "10ms"},
           "load_balancer": {"health_check": hc or {"interval": "10s", "unhealthy_after": 3}}}
    api.update(svc)
    return from_dict({
        "name": "two-zones", "seed": 5,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}, "z2": {}}}}}},
        "services": {"api": api},
        "traffic": [{"entry": "api", "rate": "40/s"}],
    })


# -- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "k"), [(10.0, 3), (5.0, 2)])
def test_zone_outage_detected_within_health_check_window(interval, k):
    """Health checks every i with threshold k notice a dead replica within [(k-1)i, ki]."""
    model = two_zones({"interval": f"{interval}s", "unhealthy_after": k})
    p = plan([{"name": "z1", "fault": "zone_outage", "target": {"zone": "z1"}, "at": "2m", "duration": "3m"}],
             replications=12)
    res = chaos.run_chaos(model, p)
    for r in res.records:
        f = r.steps["z1"]
        assert (k - 1) * interval - 1e-9 <= f["detect_s"] <= k * interval + 1e-9
        # the last of the zone's replicas leaves rotation within the same window
        assert f["detect_s"] <= f["failover_s"] <= k * interval + 1e-9
        rot = [t for t, kind, s in r.events if kind == "rotation_out" and s.startswith("api/z1/")]
        assert len(rot) == 2
    # detection times spread over the window (a random probe phase per replica)
    detects = [r.steps["z1"]["detect_s"] for r in res.records]
    assert max(detects) - min(detects) > 0.2 * interval


def test_without_health_checks_a_dead_zone_is_never_detected_and_requests_keep_failing():
    model = two_zones(None, load_balancer={"health_check": None})
    p = plan([{"name": "z1", "fault": "zone_outage", "target": {"zone": "z1"}, "at": "2m", "duration": "3m"}])
    res = chaos.run_chaos(model, p)
    f = res.fault("z1")
    assert f["detect_s"]["n"] == 0
    during = res.steady_state()["during"]["probes"][0]["value"]
    assert 0.4 < during < 0.6  # half the replicas are dead and still in rotation


# -- DNS failover ------------------------------------------------------------------------


def two_regions(ttl: str) -> simulator.Topology:
    return from_dict({
        "name": "dns", "seed": 9,
        "providers": {"p": {"regions": {"ra": {"zones": {"a1": {}}}, "rb": {"zones": {"b1": {}}}}}},
        "services": {"web": {"replicas": {"a1": 2, "b1": 2}, "workers": 16, "service_time": {"exponential": "5ms"},
                             "load_balancer": {"health_check": {"interval": "5s", "unhealthy_after": 2}}}},
        "traffic": [{"entry": "web", "rate": "50/s", "from": {"ra": "100%"},
                     "dns": {"ttl": ttl, "health_check": {"interval": "10s", "unhealthy_after": 3}}}],
    })


@pytest.mark.parametrize("ttl", [60.0, 120.0])
def test_dns_failover_adds_the_ttl(ttl):
    model = two_regions(f"{ttl}s")
    p = plan([{"name": "ra-down", "fault": "region_outage", "target": {"region": "ra"}, "at": "2m", "duration": "20m"}],
             duration="12m", replications=6)
    res = chaos.run_chaos(model, p)
    for r in res.records:
        f = r.steps["ra-down"]
        # the balancer notices first (2 probes 5 s apart) ...
        assert 5.0 - 1e-9 <= f["detect_s"] <= 10.0 + 1e-9
        # ... the DNS check needs 3 failed probes 10 s apart, then every client moves within the TTL
        (switch,) = [t - 120.0 for t, k, _s in r.events if k == "dns_switch"]
        assert 20.0 - 1e-9 <= switch <= 30.0 + 1e-9
        assert f["failover_s"] == pytest.approx(switch + ttl)
    # clients drain off the dead region linearly over the TTL: at half the TTL about half still go there
    frame = res.timeline()
    switch = 120.0 + np.mean([t - 120.0 for r in res.records for t, k, _s in r.events if k == "dns_switch"])
    mid = frame.loc[(frame.index >= switch + 0.4 * ttl) & (frame.index < switch + 0.6 * ttl), "success_ratio"].mean()
    assert 0.3 < mid < 0.7
    after = frame.loc[frame.index >= switch + ttl + 20, "success_ratio"]
    assert after.min() == 1.0


# -- autoscaling -------------------------------------------------------------------------


def test_autoscaler_restores_capacity_no_earlier_than_the_provisioning_delay():
    d = 45.0
    model = two_zones(
        {"interval": "5s", "unhealthy_after": 2},
        replicas={"z1": 1, "z2": 1}, workers=4, service_time={"exponential": "50ms"},
        autoscaling={"max": 10, "target_utilization": "50%", "sync_period": "15s", "provisioning": f"{d}s"},
    )
    p = plan([{"name": "spike", "fault": "traffic_spike", "target": {"entry": "api"}, "multiplier": 3,
               "at": "2m", "duration": "4m"}], replications=3)
    exp = compile_experiment(model, p)
    for i in range(3):
        r = run_chaos_replication(exp, replication_seed(np.random.SeedSequence(1), i), i)
        ups = [t for t, k, s in r.events if k == "scale_up"]
        ready = [t for t, k, s in r.events if k == "pod_ready"]
        assert ups and ready
        for t in ready:  # each pod is ready exactly d after a scale-up decision, never sooner
            assert any(abs(t - (u + d)) < 1e-9 for u in ups)
        first_ready = min(ready)
        assert first_ready >= min(ups) + d - 1e-9
        replicas = r.samples["replicas"][:, 0]
        times = r.timeline.times + r.timeline.width_s  # samples are taken at the end of each bin
        assert replicas[times < min(ups) + d - 1e-9].max() == 2  # nothing new serves before d
        assert replicas.max() > 2
        assert r.replica_seconds["api"] > 2 * exp.end_s  # billed for the pods that existed


# -- datastores and RPO ------------------------------------------------------------------


def datastore(lag: str = "2s") -> simulator.Topology:
    return from_dict({
        "name": "store", "seed": 4,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}, "z2": {}}}}}},
        "services": {
            "app": {"replicas": {"z1": 2, "z2": 2}, "workers": 8, "service_time": {"exponential": "5ms"},
                    "calls": [{"service": "db", "timeout": "500ms", "retries": 1}]},
            "db": {"replicas": {"z1": 1, "z2": 1}, "workers": 8, "service_time": {"exponential": "5ms"},
                   "load_balancer": {"health_check": {"interval": "5s", "unhealthy_after": 2}},
                   "datastore": {"lag": lag, "failover": "30s"}},
        },
        "traffic": [{"entry": "app", "rate": "30/s"}],
        "resiliency": {"hardware": {"rto": "5m", "rpo": "1s"}},
    })


def test_lost_writes_equal_the_replication_lag_at_failure():
    model = datastore("2s")
    p = plan([{"name": "kill-primary", "fault": "instance_stop", "target": {"service": "db", "zone": "z1"}, "at": "2m"}],
             replications=3)
    res = chaos.run_chaos(model, p)
    for r in res.records:
        f = r.steps["kill-primary"]
        assert f["data_lost_s"] == pytest.approx(2.0)
        # detection (2 probes 5 s apart) then a 30 s failover promotes the replica
        assert 35.0 - 1e-9 <= f["failover_s"] <= 40.0 + 1e-9
        assert [s for _t, k, s in r.events if k == "promoted"] == ["db/z2/0"]
    pol = res.policy()["hardware"]
    assert pol["rpo_estimate_s"] == pytest.approx(2.0)
    assert pol["status"] == "PolicyBreached"  # 2 s of writes lost against an RPO of 1 s


def test_a_replication_pause_adds_its_length_to_the_lost_writes():
    model = datastore("2s")
    p = plan([
        {"name": "pause", "fault": "replication_pause", "target": {"service": "db"}, "at": "1m30s"},
        {"name": "kill-primary", "fault": "instance_stop", "target": {"service": "db", "zone": "z1"}, "at": "2m"},
    ], replications=2)
    res = chaos.run_chaos(model, p)
    for r in res.records:
        assert r.steps["kill-primary"]["data_lost_s"] == pytest.approx(2.0 + 30.0)


def test_a_primary_back_before_detection_loses_nothing():
    model = datastore("2s")
    p = plan([{"name": "blip", "fault": "instance_stop", "target": {"service": "db", "zone": "z1"},
               "at": "2m", "duration": "2s"}], replications=2)
    res = chaos.run_chaos(model, p)
    for r in res.records:
        assert r.steps["blip"]["data_lost_s"] == 0.0
        assert not [e for e in r.events if e[1] == "promoted"]


# -- retry storms and metastability -----------------------------------------------------


def storm(**call) -> simulator.Topology:
    dep = {"service": "db", "timeout": "250ms", "retries": 3, **call}
    return from_dict({
        "name": "storm", "seed": 3,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}}}}}},
        "services": {
            "api": {"replicas": {"z1": 1}, "workers": 512, "calls": [dep]},
            "db": {"replicas": {"z1": 1}, "workers": 4, "service_time": {"exponential": "25ms"}},
        },
        "traffic": [{"entry": "api", "rate": "80/s"}],
    })


STORM = [{"name": "slow-db", "fault": "slowdown", "target": {"service": "db"}, "multiplier": 4, "at": "2m",
          "duration": "60s"}]


def test_retry_storm_without_a_budget_stays_collapsed():
    res = chaos.run_chaos(storm(), plan(STORM, duration="12m"))
    meta = res.metastability()
    assert meta["metastable"] and meta["replications_metastable"] == 2
    ev = meta["evidence"][0]
    assert ev["still_collapsed_at_end"] and ev["success_ratio_after"] < 0.05
    assert ev["success_ratio_before"] > 0.99
    assert res.fault("slow-db")["never_recovered"] == 2
    assert res.status == "deviated" and res.verdict == "failed"


@pytest.mark.parametrize("guard", [
    {"retry_budget": {"ratio": "10%"}},
    {"circuit_breaker": {"failure_rate": "50%", "minimum_calls": 20, "window": 50, "open_duration": "5s"}},
])
def test_retry_budget_or_breaker_recovers_from_the_same_slowdown(guard):
    res = chaos.run_chaos(storm(**guard), plan(STORM, duration="12m"))
    assert not res.metastability()["metastable"]
    f = res.fault("slow-db")
    assert f["never_recovered"] == 0
    assert f["recover_s"]["max"] < 60.0 + 240.0  # back within four minutes of the slowdown's end
    assert res.status == "completed"


# -- other faults ------------------------------------------------------------------------


def test_partition_between_caller_and_dependency_fails_calls():
    model = from_dict({
        "name": "cut", "seed": 2,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}, "z2": {}}}}}},
        "services": {
            "app": {"replicas": {"z1": 2}, "workers": 64, "calls": [{"service": "db", "timeout": "2s"}]},
            "db": {"replicas": {"z2": 2}, "workers": 8, "service_time": {"exponential": "5ms"}},
        },
        "traffic": [{"entry": "app", "rate": "20/s"}],
    })
    p = plan([{"name": "cut", "fault": "partition", "target": {"between": ["z1", "z2"]}, "at": "2m", "duration": "2m"}])
    res = chaos.run_chaos(model, p)
    ss = res.steady_state()
    assert ss["during"]["probes"][0]["value"] < 0.05
    assert ss["before"]["probes"][0]["value"] == 1.0 and ss["after"]["probes"][0]["value"] == 1.0
    assert res.fault("cut")["disruption"] == "zone"


@pytest.mark.parametrize(("fault", "params", "lo", "hi"), [
    ("error_injection", {"rate": "30%"}, 0.62, 0.78),
    ("capacity_loss", {"fraction": "100%"}, 0.4, 0.6),
])
def test_service_faults_act_on_the_share_they_say(fault, params, lo, hi):
    model = two_zones()
    target = {"service": "api"} if fault == "error_injection" else {"service": "api", "zone": "z1"}
    p = plan([{"name": "f", "fault": fault, "target": target, "at": "2m", "duration": "4m", **params}])
    res = chaos.run_chaos(model, p)
    if fault == "capacity_loss":  # no workers in z1: its queues grow, half the requests wait it out
        frame = res.timeline()
        assert frame.loc[(frame.index >= 150) & (frame.index < 350), "queue.api"].mean() > 100
    else:
        assert lo < res.steady_state()["during"]["probes"][0]["value"] < hi
    assert res.steady_state()["after"]["steady_state_met"]


def test_latency_fault_adds_its_delay():
    model = two_zones()
    p = plan([{"name": "lag", "fault": "latency", "target": {"service": "api"}, "delay": "200ms", "at": "2m",
               "duration": "4m"}],
             steady_state={"probes": [{"sli": "p50", "at_most": "100ms"}]})
    res = chaos.run_chaos(model, p)
    ss = res.steady_state()
    assert ss["during"]["probes"][0]["value"] == pytest.approx(ss["before"]["probes"][0]["value"] + 0.2, rel=0.05)
    assert not ss["during"]["steady_state_met"] and ss["after"]["steady_state_met"]


def test_crash_loop_backs_off_and_ends_with_the_step():
    model = two_zones(None, load_balancer={"health_check": None})
    p = plan([{"name": "loop", "fault": "crash_loop", "target": {"service": "api", "zone": "z1"}, "mode": "one",
               "up_for": "20s", "backoff": "10s", "at": "2m", "duration": "3m"}], replications=1)
    exp = compile_experiment(model, p)
    rep = replication_seed(np.random.SeedSequence(0), 0)
    r = run_chaos_replication(exp, rep, 0)
    assert len(r.steps["loop"]["targets"]) == 1
    # serving replicas of api (sampled each 10 s): one of the four is down for 10, 20, 40 s...
    replicas = r.samples["replicas"][:, 0]
    times = r.timeline.times + r.timeline.width_s
    assert replicas[times < 120].min() == 4
    assert replicas[(times > 120) & (times < 300)].min() == 3
    assert replicas[times >= 300].min() == 4


# -- reproducibility, journal, exports ---------------------------------------------------


def test_same_seed_same_journal_whatever_the_executor():
    model = datastore()
    p = plan([{"name": "kill", "fault": "instance_stop", "target": {"service": "db"}, "mode": "one", "at": "2m",
               "duration": "3m"}], replications=3, background_failures=True)
    a = chaos.run_chaos(model, p, executor="serial")
    b = chaos.run_chaos(model, p, executor="processes", workers=2)
    ja, jb = json.dumps(a.journal(), sort_keys=True), json.dumps(b.journal(), sort_keys=True)
    assert ja == jb
    assert a.to_json() == b.to_json()
    c = chaos.run_chaos(model, p, seed=a.seed + 1)
    assert json.dumps(c.journal(), sort_keys=True) != ja
    j = a.journal()
    assert j["status"] in ("completed", "deviated")
    assert set(j["steady_states"]) == {"before", "during", "after"}
    assert j["run"][0]["activity"]["fault"] == "instance_stop"
    versions = a.to_dict()["versions"]
    assert set(versions) == {"failsim", "numpy", "scipy", "simpy", "networkx"} and "unknown" not in versions.values()


def test_timeline_and_recovery_frames():
    res = chaos.run_chaos(storm(retry_budget={"ratio": "10%"}), plan(STORM, duration="6m"))
    frame = res.timeline()
    assert frame.index.name == "time_s" and len(frame) == 36
    for col in ("success_ratio", "p99_s", "replicas.db", "queue.db", "breakers_open.db", "in_rotation.api", "faults"):
        assert col in frame.columns
    assert (frame.loc[(frame.index >= 120) & (frame.index < 180), "faults"] == "slow-db").all()
    assert (frame.loc[frame.index < 120, "faults"] == "").all()
    rec = res.recovery_frame()
    assert list(rec["fault"]) == ["slow-db", "slow-db"]
    assert "recover_s" in rec.columns
    text = res.summary()
    assert "slow-db" in text and "metastable" in text
    json.loads(res.to_json())
    assert res._repr_html_().count("<table>") == 2  # faults, steady state (no policy here)
    journal = res.journal()
    assert journal._repr_html_().count("<table>") == 2 and json.loads(json.dumps(journal)) == journal


# -- bad plans -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "message"), [
    ([{"fault": "zone_outage", "target": {"zone": "z9"}, "at": "1m"}], "method[0].target.zone: unknown zone 'z9'"),
    ([{"fault": "slowdown", "target": {"service": "api"}, "at": "1m"}], "method[0]: slowdown needs 'multiplier'"),
    ([{"fault": "zone_outage", "target": {"zone": "z1"}, "at": "1m", "rate": "5%"}],
     "method[0]: 'rate' does not apply to zone_outage"),
    ([{"fault": "zone_outage", "target": {"zone": "z1"}}], "method[0]: give exactly one of 'at' or 'after'"),
    ([{"name": "a", "fault": "zone_outage", "target": {"zone": "z1"}, "after": "b", "duration": "1m"},
      {"name": "b", "fault": "zone_outage", "target": {"zone": "z2"}, "after": "a", "duration": "1m"}], "cycle"),
    ([{"fault": "replication_pause", "target": {"service": "api"}, "at": "1m"}], "needs a datastore"),
    ([{"fault": "instance_stop", "target": {"service": "api"}, "mode": "count", "count": 9, "at": "1m"}],
     "method[0].count: count is 9 but only 4 replica(s) match"),
    ([{"fault": "zone_outage", "target": {"zone": "z1"}, "at": "1h"}], "duration: a step starts at or after the end"),
    ([{"fault": "zone_outage", "target": {"zonne": "z1"}, "at": "1m"}], "method[0].target.zonne: unknown key (did you mean 'zone'?)"),
])
def test_bad_plans_are_one_line_errors_with_the_key_path(method, message):
    with pytest.raises((ModelError, ModelErrors)) as info:
        p = chaos.plan_from_dict({"title": "x", "duration": "10m", "method": method}, file="plan.yaml")
        compile_experiment(two_zones(), p)
    line = info.value.one_line() if hasattr(info.value, "one_line") else str(info.value)
    assert line.startswith("plan.yaml: ")
    assert message in line
    assert "\n" not in line


def test_plan_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("title: !!python/object/apply:os.system ['echo pwned']\nmethod: []\n")
    with pytest.raises(ModelError) as info:
        chaos.load_plan(f)
    assert str(f) in info.value.one_line()


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_bundled_plans_compile_against_their_topology(path):
    p = chaos.load_plan(path)
    assert p.topology, "a bundled plan names the topology it was written for"
    topology = path.parent / p.topology
    exp = compile_experiment(simulator.load(topology), p)
    assert exp.steps and exp.end_s > exp.first_start_s


def test_autoscaled_replicas_are_billed_for_the_time_they_exist():
    """A plain requests run reports replica-seconds of autoscaled services (used by the cost model)."""
    doc = two_zones(
        {"interval": "5s", "unhealthy_after": 2},
        replicas={"z1": 1, "z2": 1}, workers=4, service_time={"exponential": "50ms"},
        autoscaling={"max": 10, "target_utilization": "50%", "provisioning": "30s"},
    ).model_dump(by_alias=True, exclude_none=True)
    doc["traffic"][0]["spikes"] = [{"at": "2m", "duration": "5m", "multiplier": 3}]
    doc["horizon"], doc["warmup"] = "8m", "1m"
    res = simulator.run(from_dict(doc), backend="requests", replications=2, seed=1)
    for rec in res.records:
        billed = rec.extra["replica_seconds"]["api"]
        assert 2 * 480.0 < billed <= 10 * 480.0
