"""Tests of simulator.cli refusals about options and sweeps: one line ``FILE: key.path: message``, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import simulator
from simulator.cli import app
from simulator.errors import ModelError, ModelErrors

ROOT = Path(__file__).resolve().parents[1]
THREE_TIER = ROOT / "topologies" / "three-tier.yaml"
ZONE_LOSS = ROOT / "topologies" / "plans" / "zone-power-loss.yaml"

runner = CliRunner()


def no_traffic(tmp_path: Path, **extra: Any) -> Path:
    doc = {
        "name": "quiet", "seed": 3, "replications": 4, "horizon": "30d",
        "providers": {"p": {"regions": {"r": {"zones": {"z": {}, "y": {}}}}}},
        "services": {"api": {"replicas": {"z": 1, "y": 1}, "failure": {"mtbf": "10d", "mttr": "1h"}}},
        **extra,
    }
    path = tmp_path / "quiet.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def one_line(*args: Any) -> str:
    """Run ``failsim ARGS``: exit 2, nothing on stdout, one line on stderr, no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_flow_without_traffic_names_the_file(tmp_path):
    """--backend flow on a model without traffic: the refusal names the file."""
    path = no_traffic(tmp_path)
    assert one_line("run", path, "--backend", "flow") == (
        f"{path}: backend: the flow backend needs traffic; without it use fast or engine"
    )


def test_fast_with_traffic_names_the_file():
    """--backend fast on a model with traffic: the refusal names the file."""
    line = one_line("check", THREE_TIER, "--backend", "fast")
    assert line.startswith(f"{THREE_TIER}: backend: the fast path needs a model without traffic")


@pytest.mark.parametrize("args, key", [
    (["run", THREE_TIER, "--executor", "nope"], "executor"),
    (["run", THREE_TIER, "--executor", "dask"], "scheduler"),
    (["run", THREE_TIER, "--horizon", "5 parsecs"], "horizon"),
    (["report", THREE_TIER, "--backend", "nope", "-o", "never.html"], "backend"),
    (["sweep", THREE_TIER, "--set", "no-equals-sign"], "--set"),
])
def test_option_refusals_name_the_topology(args, key):
    """A refused option is reported against the file it was to apply to."""
    assert one_line(*args).startswith(f"{THREE_TIER}: {key}: ")


@pytest.mark.parametrize("args, key", [
    (["--executor", "nope"], "executor"),
    (["--duration", "5 parsecs"], "duration"),
])
def test_chaos_option_refusals_name_the_plan(args, key):
    """A refused chaos option is reported against the plan file."""
    assert one_line("chaos", THREE_TIER, ZONE_LOSS, *args).startswith(f"{ZONE_LOSS}: {key}: ")


def test_python_api_refusals_name_the_file(tmp_path):
    """simulator.run refuses an unusable backend with the model's file in the message."""
    path = no_traffic(tmp_path)
    with pytest.raises(ModelError) as info:
        simulator.run(simulator.load(path), backend="flow")
    assert info.value.file == str(path) and info.value.path == ("backend",)


@pytest.mark.parametrize("setting", ["replications=2,3", "seed=1,2", " replications = 4,5"])
def test_sweep_refuses_keys_that_break_pairing(tmp_path, setting):
    """--set replications=... or seed=...: variants could not be paired; refused before anything runs."""
    path = no_traffic(tmp_path)
    key = setting.split("=")[0].strip()
    line = one_line("sweep", path, "--set", setting, "--executor", "serial")
    assert line.startswith(f"{path}: sweep.{key}: a sweep compares variants ")


def test_sweep_refuses_replications_with_other_keys(tmp_path, monkeypatch):
    """A grid that also changes replications is refused before any replication runs."""
    import simulator.analysis.sweep as sweep_module

    def boom(*args, **kwargs):
        raise AssertionError("a replication ran")

    monkeypatch.setattr(sweep_module, "run_jobs", boom)
    path = no_traffic(tmp_path)
    with pytest.raises(ModelError, match=r"sweep\.replications: a sweep compares variants replication by replication"):
        simulator.sweep(simulator.load(path), {"services.api.replicas.z": [1, 2], "replications": [2, 3]})


@pytest.mark.parametrize("section", [
    {"grid": {"replications": [2, 3]}},
    {"variants": [{"name": "a", "set": {"seed": 1}}, {"name": "b", "set": {"seed": 2}}]},
])
def test_sweep_section_that_breaks_pairing_is_invalid(tmp_path, section):
    """A sweep section that changes replications or seed fails validation with the file and path."""
    path = no_traffic(tmp_path, sweep=section)
    with pytest.raises(ModelErrors) as info:
        simulator.load(path)
    assert info.value.file == str(path)
    assert "cannot sweep" in info.value.message and info.value.path[0] == "sweep"
    assert one_line("validate", path).startswith(f"{path}: sweep")
