"""Tests of simulator.analysis.sweep: variants, common random numbers, Pareto, the CLI."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import simulator
from simulator.analysis.sweep import apply_setting, expand, parse_set_option
from simulator.analysis.sweep_results import paired_difference, pareto_front
from simulator.cli import app
from simulator.errors import ModelError


def base_doc(**extra: Any) -> dict[str, Any]:
    """api (k-of-n over two zones) -> db; batch is unrelated to the entry."""
    return {
        "name": "sweepme",
        "horizon": "1y",
        "replications": 30,
        "seed": 4,
        "providers": {"aws": {"regions": {"r1": {"zones": {"z.1": {"failure": {"mtbf": "1y", "mttr": "2h"}}, "z2": {}}}}}},
        "services": {
            "api": {"replicas": {"z.1": 1, "z2": 1}, "failure": {"mtbf": "20d", "mttr": "2h"}, "calls": [{"service": "db"}]},
            "db": {"replicas": {"z.1": 1, "z2": 1}, "failure": {"mtbf": "60d", "mttr": "1h"}},
            "batch": {"replicas": {"z2": 1}, "failure": {"mtbf": "5d", "mttr": "1h"}},
        },
        "entries": ["api"],
        "pricing": {"services": {"api": {"hourly": 0.1}, "db": {"hourly": 0.5}, "batch": {"hourly": 0.2}},
                    "downtime": {"per_minute": 50}},
        "slo": {"availability": "99%"},
        **extra,
    }


def test_apply_setting_paths():
    """Dotted keys (even names with dots), list indices, [*] and multipliers."""
    doc = base_doc(traffic=[{"entry": "api", "rate": 100.0}, {"entry": "api", "name": "b", "rate": 5.0}])
    apply_setting(doc, "services.api.replicas.z.1", 3)
    apply_setting(doc, "traffic[*].rate", "x10")
    apply_setting(doc, "traffic[0].rate", "200/s")
    assert doc["services"]["api"]["replicas"]["z.1"] == 3
    assert doc["traffic"][1]["rate"] == 50.0
    with pytest.raises(ModelError, match="x10.*multiplies a number"):
        apply_setting(doc, "traffic[0].rate", "x10")  # "200/s" is not a number yet
    with pytest.raises(ModelError, match=r"sweep.services.apii.replicas: unknown key 'apii' \(did you mean 'api'\?\)"):
        apply_setting(doc, "services.apii.replicas", 2)
    with pytest.raises(ModelError, match="no element 5"):
        apply_setting(doc, "traffic[5].rate", 1)


def test_expand_grid_and_named_variants():
    """A grid gives every combination (short names); named variants keep their names."""
    grid = expand({"services.api.replicas.z2": [1, 2], "traffic[*].rate": ["x1", "x10"]})
    assert [n for n, _ in grid] == ["z2=1 rate=x1", "z2=1 rate=x10", "z2=2 rate=x1", "z2=2 rate=x10"]
    named = expand(variants=[("small", {"a.b": 1}), ("big", {"a.b": 2})])
    assert named == [("small", {"a.b": 1}), ("big", {"a.b": 2})]
    assert parse_set_option("traffic[0].rate=200/s,800/s") == ("traffic[0].rate", ["200/s", "800/s"])


def test_sweep_table_and_best():
    """One row per variant; the cheapest variant meeting every SLO is marked best."""
    model = simulator.from_dict(base_doc())
    res = simulator.sweep(model, {"services.api.replicas.z2": [1, 2, 3]}, executor="serial")
    table = res.table()
    assert list(table.index) == ["z2=1", "z2=2", "z2=3"]
    assert table["infra_per_month"].tolist() == pytest.approx([(0.2 + 1.0 + 0.2) * 730.5, 1.5 * 730.5, 1.6 * 730.5])
    met = [n for n, r in zip(res.names, res.results, strict=True) if r.verdict == "met"]
    cheapest = min(met, key=lambda n: res[n].cost["tco_per_year"]["mean"])
    assert res.best == cheapest and table.loc[cheapest, "best"]
    assert table["pareto"].any()


def test_unrelated_change_leaves_every_number_alone():
    """Changing a component nothing depends on (batch) gives identical per-replication
    figures for the system and api: the same seeds, the same failures."""
    model = simulator.from_dict(base_doc())
    res = simulator.sweep(model, {"services.batch.replicas.z2": [1, 3]}, executor="serial")
    a, b = res.results
    for scope in ("system", "api", "db"):
        assert [r.services[scope].down_s for r in a.records] == [r.services[scope].down_s for r in b.records]
    diff = res.differences()[0]["availability"]
    assert diff["difference"] == 0.0 and diff["ci95"] == [0.0, 0.0]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(2, 3))
def test_paired_interval_is_narrower_than_independent(seed, k):
    """Common random numbers: the paired difference's interval is narrower than the one
    two independent runs would give, for adding replicas to api (the shared region
    outages, the same in both variants, cancel in the pairs)."""
    doc = base_doc(seed=seed)  # a region outage both variants share
    doc["providers"]["aws"]["regions"]["r1"]["failure"] = {"mtbf": "2y", "mttr": "6h"}
    res = simulator.sweep(simulator.from_dict(doc), {"services.api.replicas.z2": [1, k]}, replications=40, executor="serial")
    d = res.differences()[0]["availability"]
    # a draw where the extra replica never mattered (every replication differs by 0) has
    # no spread to pair: its interval is the independent one by design (tested apart)
    assume("note" not in d)
    paired = d["ci95"][1] - d["ci95"][0]
    independent = d["independent_ci95"][1] - d["independent_ci95"][0]
    assert paired < independent
    assert d["gain"] > 1


def test_paired_difference_arithmetic():
    """Identical noise cancels: the paired interval is a point, the independent one is not."""
    noise = np.random.default_rng(0).normal(size=50)
    d = paired_difference(noise, noise + 1.0)
    assert d["difference"] == pytest.approx(1.0)
    assert d["ci95"] == pytest.approx([1.0, 1.0])
    assert d["independent_ci95"][0] < 0.9


def test_constant_differences_between_different_systems_get_the_independent_interval():
    """Every replication differs by the same amount, but the variants differ in what the
    system stands on: the replications show no spread, so the paired interval is the
    independent runs' one (with a note), not a point."""
    noise = np.random.default_rng(1).normal(size=40)
    d = paired_difference(noise, noise.copy(), same_history=False)
    assert d["difference"] == 0.0
    assert d["ci95"] == d["independent_ci95"]
    assert d["ci95"][0] < 0.0 < d["ci95"][1]
    assert "same amount" in d["note"]
    shared = paired_difference(noise, noise.copy(), same_history=True)  # the same system: exact
    assert shared["ci95"] == [0.0, 0.0]


def test_pareto_front():
    """(cost, availability, p99): dominated points are off the front; None objectives ignored."""
    points = [(100, 0.999, 0.2), (200, 0.9999, 0.2), (200, 0.999, 0.3), (100, 0.999, 0.2)]
    assert pareto_front(points, (False, True, False)) == [True, True, False, True]
    assert pareto_front([(1, 0.9, None), (2, 0.8, None)], (False, True, False)) == [True, False]


def test_yaml_sweep_section_with_named_variants(tmp_path):
    """A sweep section of named variants and a baseline runs from the CLI."""
    doc = base_doc(sweep={
        "variants": [{"name": "lean", "set": {"services.api.replicas.z2": 1}},
                     {"name": "wide", "set": {"services.api.replicas.z2": 3}}],
        "baseline": "lean",
    })
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["sweep", str(path), "--json", "--executor", "serial", "-n", "10"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baseline"] == "lean"
    assert [v["name"] for v in data["variants"]] == ["lean", "wide"]
    assert data["variants"][1]["result"]["cost"]["compute_per_month"]["mean"] == pytest.approx(1.6 * 730.5)
    assert "per_extra_nine" in data["differences"][0]


def test_cli_sweep_table_and_bad_path(tmp_path):
    """--set gives a table; a bad path is one line and exit 2; nothing to sweep is exit 2."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(base_doc()))
    ok = CliRunner().invoke(app, ["sweep", str(path), "--set", "services.api.replicas.z2=1,2", "--executor", "serial", "-n", "5"])
    assert ok.exit_code == 0, ok.output
    assert "Paired differences" in ok.stdout and "z2=2" in ok.stdout
    bad = CliRunner().invoke(app, ["sweep", str(path), "--set", "services.apx.replicas.z2=1,2", "-n", "5"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == f"{path}: sweep.services.apx.replicas.z2: unknown key 'apx' (did you mean 'api'?)"
    none = CliRunner().invoke(app, ["sweep", str(path), "-n", "5"])
    assert none.exit_code == 2 and "nothing to sweep" in none.stderr


def test_bad_variant_value_is_one_line():
    """A value the topology refuses names the variant and the key."""
    model = simulator.from_dict(base_doc())
    with pytest.raises(ModelError, match=r"services.api.replicas.z2: variant 'z2=-1'"):
        simulator.sweep(model, {"services.api.replicas.z2": [-1]}, executor="serial")


def test_bad_baseline_or_nothing_to_sweep_fails_before_running(monkeypatch):
    """An unknown baseline, or nothing to vary, is refused before any replication runs."""
    import simulator.analysis.sweep as sweep_module

    def no_run(*args, **kwargs):
        raise AssertionError("a replication ran")

    monkeypatch.setattr(sweep_module, "run_jobs", no_run)
    model = simulator.from_dict(base_doc())
    with pytest.raises(ModelError, match=r"sweep.baseline: unknown variant 'nope'"):
        simulator.sweep(model, {"services.api.replicas.z2": [1, 2]}, baseline="nope", executor="serial")
    with pytest.raises(ModelError, match="nothing to sweep"):
        simulator.sweep(model, executor="serial")


def test_growth_scenario_scales_transfer():
    """traffic[*].rate = x1, x10, x100: transfer cost (from expected rates) scales with it."""
    doc = base_doc(traffic=[{"entry": "api", "rate": "10/s", "response_bytes": "100KB"}])
    del doc["slo"]
    res = simulator.sweep(simulator.from_dict(doc), {"traffic[*].rate": ["x1", "x10", "x100"]},
                          backend="engine", replications=3, executor="serial")
    transfer = [r.cost["transfer_per_month"]["mean"] for r in res.results]
    assert transfer[1] == pytest.approx(10 * transfer[0]) and transfer[2] == pytest.approx(100 * transfer[0])


def test_sweep_same_result_on_processes():
    """A sweep's JSON does not depend on the executor."""
    model = simulator.from_dict(base_doc())
    grid = {"services.api.replicas.z2": [1, 2]}
    a = simulator.sweep(model, grid, replications=12, executor="serial").to_json()
    b = simulator.sweep(model, grid, replications=12, executor="processes", workers=2).to_json()
    assert a == b
