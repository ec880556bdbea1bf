"""Estimates of a run's memory and time, and the refusals they drive (simulator.analysis.budget)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli import ROOT, TOPOLOGIES, assert_one_error_line, invoke

import simulator
from simulator.analysis import budget
from simulator.analysis.budget import RunTooLarge
from simulator.analysis.runner import prepare
from simulator.errors import ModelError

THREE_TIER = ROOT / "topologies" / "three-tier.yaml"
STORM = ROOT / "topologies" / "retry-storm.yaml"


def _variant(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(THREE_TIER.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_bundled_topologies_are_not_refused(path):
    """Every bundled topology, as shipped, fits the default limits on 1 and 2 workers."""
    model = simulator.load(path)
    for slots in (1, 2):
        plan, chosen, _, n = prepare(model, slots=slots)
        estimate = budget.estimate(plan, chosen, n, slots)
        assert estimate.seconds < budget.MAX_TIME_S and estimate.memory_bytes < 8e9, estimate


def test_validate_refuses_a_billion_replicas(tmp_path):
    """A topology with 10^9 replicas fails validate in one line naming the file and the key."""
    path = _variant(tmp_path, lambda d: d["services"]["web"].update(replicas={"use1-az1": 10**9}))
    line = assert_one_error_line(invoke("validate", path))
    assert line.startswith(f"{path}: services.*.replicas:") and "components" in line


def test_flow_for_a_thousand_years_at_a_million_per_second_is_refused(tmp_path):
    """``run -n 2 --horizon 1000y`` on flow at 1M/s is refused with the estimate and --max-memory, before running."""
    path = _variant(tmp_path, lambda d: d["traffic"][0].update(rate="1000000/s"))
    line = assert_one_error_line(invoke("run", path, "-n", "2", "--horizon", "1000y", "-b", "flow", "--max-memory", "16GB"))
    assert line.startswith(f"{path}: this run would need") and "--max-memory" in line and "GB" in line
    assert "overload" in line


def test_overload_enters_the_flow_estimate():
    """Demand above capacity makes flow step the backlog second by second: the estimate grows with it."""
    model = simulator.load(THREE_TIER)
    flooded = model.evolve({"traffic[0].rate": "1000000/s"})
    plain = budget.estimate(prepare(model, horizon="1d", backend="flow")[0], "flow", 1)
    heavy = budget.estimate(prepare(flooded, horizon="1d", backend="flow", max_time=None)[0], "flow", 1)
    assert heavy.seconds > 100 * plain.seconds  # measured: 22 s a simulated day against about 0.1 s


def test_time_limit_names_the_option(tmp_path):
    """A run estimated above --max-time is refused in one line that names the file and --max-time."""
    line = assert_one_error_line(invoke("run", THREE_TIER, "-n", "20000", "--max-time", "1m", "--max-memory", "none"))
    assert line.startswith(f"{THREE_TIER}: this run would take") and "--max-time" in line


def test_raising_the_limits_lets_a_run_through():
    """``max_memory=None`` / ``max_time=None`` lift the limits; a small run is not refused."""
    model = simulator.load(THREE_TIER)
    with pytest.raises(RunTooLarge, match="--max-time"):
        simulator.run(model, replications=4, horizon="30d", max_time="1ms", max_memory=None)
    res = simulator.run(model, replications=4, horizon="30d", max_time=None, max_memory=None)
    assert res.info.replications == 4


def test_a_million_replications_get_an_estimate():
    """A million fast replications are estimated (and reported before running) rather than refused."""
    model = simulator.load(THREE_TIER).evolve({"traffic": []})
    plan, chosen, _, n = prepare(model, replications=1_000_000, horizon="1y", slots=2)
    estimate = budget.estimate(plan, chosen, n, 2)
    assert chosen == "fast" and 10 < estimate.seconds < budget.MAX_TIME_S
    seen = []
    simulator.run(model, replications=3, horizon="1d", on_estimate=seen.append)
    assert len(seen) == 1 and seen[0].memory_bytes > 0


def test_sweep_and_chaos_are_refused_too(tmp_path):
    """Sweeps (all variants together) and chaos plans go through the same limits."""
    line = assert_one_error_line(invoke("sweep", THREE_TIER, "--set", "traffic[*].rate=x1,x2", "-n", "100000",
                                        "--max-time", "1s", "--max-memory", "none"))
    assert "--max-time" in line and line.startswith(str(THREE_TIER))
    plan = ROOT / "topologies" / "plans" / "retry-storm.yaml"
    line = assert_one_error_line(invoke("chaos", STORM, plan, "-n", "100000", "--max-time", "1s", "--max-memory", "none"))
    assert "--max-time" in line and "requests" in line


def test_memory_error_is_one_line(monkeypatch):
    """A MemoryError while the replications run becomes one line naming the file, exit 2."""
    from simulator.analysis import runner

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(runner, "run_jobs", exhausted)
    line = assert_one_error_line(invoke("run", THREE_TIER, "-n", "2", "--horizon", "1m"))
    assert line.startswith(f"{THREE_TIER}: ran out of memory")


def test_limits_parse_sizes_durations_and_none():
    """Limits read sizes and durations; ``none`` lifts one; a bad value is a ModelError naming the option."""
    assert budget.limits("2GB", "90m") == (2e9, 5400.0)
    assert budget.limits("none", "off") == (None, None)
    memory, seconds = budget.limits(None, None)
    assert memory > 0 and seconds == budget.MAX_TIME_S
    with pytest.raises(ModelError, match="max_memory"):
        budget.limits("lots", None)
