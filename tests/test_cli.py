"""Tests of simulator.cli: the ``failsim`` command, its output and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.testing import CliRunner, Result

import simulator
from simulator.cli import app

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
SMALL = ["-n", "4", "--horizon", "30d"]  # keeps a run in the tens of milliseconds

runner = CliRunner()


def _installed(names: tuple[str, ...]) -> dict[str, str]:
    from importlib import metadata

    return {n: metadata.version(n) for n in names}


def invoke(*args: Any) -> Result:
    """Run ``failsim ARGS`` in-process with a wide terminal (help text is not wrapped)."""
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def write_topology(
    tmp_path: Path,
    name: str,
    *,
    failure: dict | None = None,
    slo: dict | None = None,
    seed: int = 1,
    calls: list | None = None,
) -> Path:
    """A one-service topology file (service ``api`` in zone ``z1``)."""
    api: dict[str, Any] = {"replicas": {"z1": 1}}
    if failure:
        api["failure"] = failure
    if calls:
        api["calls"] = calls
    doc: dict[str, Any] = {
        "name": name,
        "seed": seed,
        "providers": {"p": {"regions": {"r1": {"zones": {"z1": {}}}}}},
        "services": {"api": api},
    }
    if slo:
        doc["slo"] = slo
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def assert_one_error_line(result: Result, expected: str | None = None) -> str:
    """Exit 2, nothing on stdout, one line on stderr and no traceback; return the line."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if expected is not None:
        assert lines[0] == expected
    return lines[0]


def normalise(text: str) -> str:
    """Help text without box drawing and with single spaces, so wrapping does not matter."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


# -- help --------------------------------------------------------------------------

COMMANDS = ["run", "check", "chaos", "sweep", "report", "validate", "schema"]


def test_root_help_lists_commands():
    """``failsim --help`` exits 0 and lists every command."""
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_describes_every_option(command):
    """Each command's --help exits 0, states its purpose and shows every option with its help."""
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = normalise(result.stdout)
    click_command = typer.main.get_command(app).commands[command]
    summary = click_command.help.strip().splitlines()[0]
    assert normalise(summary) in text
    for param in click_command.params:
        assert param.help, f"{command}: {param.name} has no help"
        assert normalise(param.help) in text
        if param.param_type_name == "option":
            assert param.opts[0] in text


def test_version():
    """``failsim --version`` prints the package version."""
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"failsim {simulator.__version__}"


def test_python_dash_m_simulator_help():
    """``python -m simulator --help`` works like ``failsim --help``."""
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    for command in COMMANDS:
        assert command in proc.stdout


# -- run ---------------------------------------------------------------------------


def _assert_estimate(block: Any) -> None:
    assert set(block) >= {"mean", "ci95"}
    assert 0.0 <= block["mean"] <= 1.0
    lo, hi = block["ci95"]
    if lo is None or hi is None:  # a bound the data cannot give says why
        assert block["note"]
    assert (lo is None or lo <= block["mean"]) and (hi is None or block["mean"] <= hi)


def _assert_scope(block: dict) -> None:
    """The blocks the result contract promises for the system and for each service."""
    assert set(block) >= {"availability", "downtime", "latency_s", "recovery"}
    _assert_estimate(block["availability"]["time"])
    assert "requests" in block["availability"]
    requests = block["availability"]["requests"]
    if requests is not None:  # null until a run simulates traffic
        assert set(requests) >= {"mean", "ci95"}
    assert set(block["downtime"]) >= {"minutes_per_year", "outages_per_year", "mean_outage_s"}
    if block["latency_s"] is not None:  # null until a run simulates traffic
        assert set(block["latency_s"]) >= {"mean", "p50", "p90", "p99", "p999"}
    assert set(block["recovery"]) >= {"mttr_s", "rto_p50_s", "rto_p95_s"}


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_run_json_has_result_contract_keys(path):
    """``run --json`` prints JSON with every key of the result contract."""
    model = simulator.load(path)
    # a topology with traffic simulates every request: a minute is plenty here
    horizon, seconds = ("1m", 60.0) if model.traffic else ("30d", 30 * 86400.0)
    result = invoke("run", path, "-n", "4", "--horizon", horizon, "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 3
    assert data["replications"] == 4
    assert data["horizon_s"] == seconds
    if model.traffic:
        assert data["latency_s"] is not None and data["availability"]["requests"] is not None
    assert data["version"] == simulator.__version__
    assert data["versions"] == {"failsim": simulator.__version__, **_installed(("numpy", "scipy", "simpy", "networkx"))}
    assert data["model_hash"] == model.model_hash()
    _assert_scope(data)
    assert set(data["services"]) == set(model.services)
    for block in data["services"].values():
        _assert_scope(block)
    assert "cost" in data
    assert data["slo"], "bundled topologies all have slo targets"
    for target in data["slo"].values():
        assert set(target) >= {"target", "estimate", "ci95", "verdict"}
        assert target["verdict"] in {"met", "missed", "inconclusive"}


def test_run_same_seed_gives_identical_json(tmp_path):
    """The same file and seed give byte-identical JSON; another seed is recorded as such."""
    path = ROOT / "topologies" / "three-tier.yaml"
    first = invoke("run", path, *SMALL, "--seed", "5", "--json")
    second = invoke("run", path, *SMALL, "--seed", "5", "--json")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout_bytes == second.stdout_bytes
    other = invoke("run", path, *SMALL, "--seed", "6", "--json")
    assert json.loads(other.stdout)["seed"] == 6


def test_run_out_writes_the_json(tmp_path):
    """``--out`` writes the same JSON as ``--json`` prints."""
    path = ROOT / "topologies" / "three-tier.yaml"
    out = tmp_path / "result.json"
    result = invoke("run", path, *SMALL, "--json", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == result.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["replications"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left behind


def test_run_out_with_table_output(tmp_path):
    """Without --json the table goes to stdout and --out still gets the JSON."""
    path = ROOT / "topologies" / "three-tier.yaml"
    out = tmp_path / "result.json"
    result = invoke("run", path, *SMALL, "--out", out)
    assert result.exit_code == 0, result.output
    assert "availability" in result.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["name"] == "three-tier"


def test_run_bad_input_is_one_line_and_writes_nothing(tmp_path):
    """Bad input exits 2 with one stderr line naming file and key path, and --out is not created."""
    path = write_topology(tmp_path, "bad", calls=[{"service": "dbb"}])
    out = tmp_path / "result.json"
    result = invoke("run", path, *SMALL, "--out", out)
    assert_one_error_line(result, f"{path}: services.api.calls[0].service: unknown service 'dbb'")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


def test_run_bad_input_leaves_existing_out_untouched(tmp_path):
    """A failed run does not truncate or replace an earlier --out file."""
    path = write_topology(tmp_path, "bad", failure={"mtbf": "30d", "mttr": "0s"})
    out = tmp_path / "result.json"
    out.write_text("previous\n", encoding="utf-8")
    result = invoke("run", path, *SMALL, "--out", out)
    assert_one_error_line(result, f"{path}: services.api.failure.mttr: must be a positive duration, got '0s'")
    assert out.read_text(encoding="utf-8") == "previous\n"


def test_run_several_problems_in_one_line(tmp_path):
    """With several problems, run prints the first and a count in one line."""
    path = write_topology(tmp_path, "bad", calls=[{"service": "dbb"}, {"service": "api"}])
    line = assert_one_error_line(invoke("run", path, *SMALL))
    assert line.startswith(f"{path}: services.api.calls[0].service: unknown service 'dbb'")
    assert line.endswith("(and 1 more; `failsim validate` lists them all)")


def test_run_missing_file(tmp_path):
    """A missing file exits 2 with one line naming it."""
    path = tmp_path / "nope.yaml"
    assert_one_error_line(invoke("run", path, *SMALL), f"{path}: no such file")


def test_run_yaml_syntax_error(tmp_path):
    """A YAML syntax error exits 2 with one line giving file, line and column."""
    path = tmp_path / "broken.yaml"
    path.write_text("name: t\n  foo: : bar\n", encoding="utf-8")
    line = assert_one_error_line(invoke("run", path, *SMALL))
    assert line.startswith(f"{path}: ")
    assert "not valid YAML" in line and line.endswith("(line 2, column 6)")


def test_run_bad_horizon_option(tmp_path):
    """A malformed --horizon exits 2 with one line naming the option."""
    path = write_topology(tmp_path, "ok")
    line = assert_one_error_line(invoke("run", path, "-n", "2", "--horizon", "30x"))
    assert line.startswith(f"{path}: horizon: ")
    assert "'30x'" in line


def test_run_out_in_missing_directory_names_the_out_path(tmp_path):
    """An --out path that cannot be written exits 2 with one line naming that path."""
    path = write_topology(tmp_path, "ok")
    out = tmp_path / "missing-dir" / "result.json"
    line = assert_one_error_line(invoke("run", path, "-n", "2", "--horizon", "1d", "--out", out))
    assert line.startswith(f"{out}: "), line
    assert not out.exists()


# -- validate ----------------------------------------------------------------------


def test_validate_good_files():
    """``validate`` exits 0 and reports each good file as ok."""
    result = invoke("validate", *TOPOLOGIES)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(TOPOLOGIES)
    for path, line in zip(TOPOLOGIES, lines, strict=True):
        assert line.startswith(f"{path}: ok")
    assert result.stderr == ""


def test_validate_lists_every_problem_one_per_line(tmp_path):
    """``validate`` exits 2 and prints every problem of every bad file, one per line."""
    doc = {
        "name": "bad",
        "providers": {"p": {"regions": {"r1": {"zones": {"z1": {}}}, "r2": {"zones": {"z1": {}}}}}},
        "services": {
            "api": {"replicas": {"z1": 1}, "calls": [{"service": "dbb"}]},
            "db": {"replicas": {"z1": 1}, "min_healthy": 3},
        },
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: t\nname: u\n", encoding="utf-8")
    good = ROOT / "topologies" / "three-tier.yaml"
    result = invoke("validate", bad, good, broken)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        f"{bad}: providers.p.regions.r2.zones.z1: duplicate zone name 'z1' (also at providers.p.regions.r1.zones.z1)",
        f"{bad}: services.api.calls[0].service: unknown service 'dbb' (did you mean 'db'?)",
        f"{bad}: services.db.min_healthy: min_healthy is 3 but the service has only 1 replica(s)",
        f"{broken}: duplicate key 'name', first defined on line 1 (line 2, column 1)",
    ]
    assert result.stdout.startswith(f"{good}: ok")


# -- schema ------------------------------------------------------------------------


def test_schema_prints_json_schema():
    """``schema`` prints the topology JSON Schema as valid JSON."""
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == simulator.Topology.model_json_schema(by_alias=True)
    assert {"name", "providers", "services", "slo", "horizon"} <= set(schema["properties"])
    assert {"providers", "services"} <= set(schema["required"])


# -- check -------------------------------------------------------------------------


@pytest.fixture
def verdict_files(tmp_path: Path) -> dict[str, Path]:
    """Topologies whose slo verdict is certain: met, missed, inconclusive, and one without slo."""
    return {
        # never fails: availability exactly 1 in every replication, CI [1, 1] >= 99.9 %
        "met": write_topology(tmp_path, "met", slo={"availability": "99.9%"}),
        # A = 1d / (1d + 1d) = 50 %, nowhere near 99.99 %
        "missed": write_topology(
            tmp_path, "missed", failure={"mtbf": "1d", "mttr": "1d"}, slo={"availability": "99.99%"}
        ),
        # target equal to the theoretical A = 1h / (1h + 1h): the CI straddles it
        "inconclusive": write_topology(
            tmp_path,
            "inconclusive",
            failure={"mtbf": "1h", "mttr": "1h"},
            slo={"availability": "50%"},
            seed=1,
        ),
        "no_slo": write_topology(tmp_path, "no-slo", failure={"mtbf": "1d", "mttr": "1h"}),
    }


CHECK = ["-n", "20", "--horizon", "30d"]


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["met"], 0),
        (["missed"], 1),
        (["inconclusive"], 3),
        (["met", "missed"], 1),
        (["met", "inconclusive"], 3),
        (["inconclusive", "missed"], 1),
    ],
)
def test_check_exit_codes(verdict_files, names, code):
    """``check`` exits 0 when all targets are met, 1 when any is missed, else 3 when any is inconclusive."""
    result = invoke("check", *[verdict_files[n] for n in names], *CHECK)
    assert result.exit_code == code, result.output
    for name in names:
        assert f"{verdict_files[name]}: {name}" in result.stdout


def test_check_without_slo_is_bad_input(verdict_files):
    """``check`` on a file without slo targets exits 2 with one line naming the file."""
    line = assert_one_error_line(invoke("check", verdict_files["no_slo"], *CHECK))
    assert line.startswith(f"{verdict_files['no_slo']}: slo: ")


def test_check_bad_file_is_bad_input(tmp_path):
    """``check`` on a malformed file exits 2 with one line naming file and key path."""
    path = write_topology(tmp_path, "bad", slo={"availability": 99.9})
    assert_one_error_line(
        invoke("check", path, *CHECK),
        f"{path}: slo.availability: write percentages with a % sign (e.g. 99.9%), got 99.9",
    )


# -- chaos -------------------------------------------------------------------------

STORM = ROOT / "topologies" / "retry-storm.yaml"


def write_plan(tmp_path: Path, **overrides: Any) -> Path:
    doc: dict[str, Any] = {
        "title": "short slowdown", "duration": "6m", "replications": 1, "background_failures": False,
        "method": [{"name": "slow", "fault": "slowdown", "target": {"service": "db"}, "multiplier": 4,
                    "at": "2m", "duration": "30s"}],
    }
    doc.update(overrides)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_chaos_writes_journal_timeline_and_json(tmp_path):
    plan = write_plan(tmp_path)
    journal, timeline, out = tmp_path / "journal.json", tmp_path / "timeline.csv", tmp_path / "out.json"
    result = invoke("chaos", STORM, plan, "--executor", "serial", "--journal", journal, "--timeline", timeline,
                    "--out", out)
    assert result.exit_code in (0, 1), result.output
    j = json.loads(journal.read_text())
    assert j["status"] in ("completed", "deviated") and j["run"][0]["activity"]["name"] == "slow"
    assert (result.exit_code == 0) == (json.loads(out.read_text())["verdict"] == "ok")
    header = timeline.read_text().splitlines()[0].split(",")
    assert header[0] == "time_s" and "success_ratio" in header and "queue.db" in header and "faults" in header
    assert "slow" in result.stdout and "recover" in result.stdout


def test_chaos_metastable_storm_exits_1(tmp_path):
    plan = write_plan(tmp_path, duration="12m", method=[
        {"name": "slow", "fault": "slowdown", "target": {"service": "db"}, "multiplier": 4, "at": "2m", "duration": "60s"}])
    result = invoke("chaos", STORM, plan, "--executor", "serial", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["metastability"]["metastable"] is True and doc["status"] == "deviated"


def test_chaos_dry_run_prints_the_schedule(tmp_path):
    result = invoke("chaos", STORM, write_plan(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "slowdown" in result.stdout and "replica/db/use1-az1/0" in result.stdout


def test_chaos_bad_plan_is_one_line_and_writes_nothing(tmp_path):
    plan = write_plan(tmp_path, method=[{"fault": "zone_outage", "target": {"zone": "use1-az9"}, "at": "1m"}])
    journal = tmp_path / "journal.json"
    result = invoke("chaos", STORM, plan, "--journal", journal)
    line = assert_one_error_line(result)
    assert line == f"{plan}: method[0].target.zone: unknown zone 'use1-az9' (did you mean 'use1-az1'?)"
    assert not journal.exists()


def test_latency_slo_without_simulated_traffic_is_inconclusive():
    """A latency target judged on a run without traffic (a forced engine backend) says so."""
    from simulator.model.spec import SLOSpec

    model = simulator.load(ROOT / "topologies" / "checkout-latency.yaml")
    model = model.model_copy(update={"slo": SLOSpec.model_validate({"latency": {"p99": "500ms"}})})
    res = simulator.run(model, backend="engine", replications=2, horizon="1d")
    assert res.slo["latency.p99"]["verdict"] == "inconclusive"
    assert res.slo["latency.p99"]["note"] == "no traffic was simulated"
    assert "request_availability" not in res.slo
