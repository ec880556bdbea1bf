"""Fuzzing the loaders with documents mutated from the bundled topologies and plans.

Every mutant (keys dropped, duplicated, renamed; values swapped for other types, 0,
negative, NaN, inf, 1e308, huge integers, empty and very long strings, unicode names,
lists for maps, unknown distribution families, odd units, percentages over 100 %, YAML
tags, lines duplicated or cut) is either accepted or refused with the project's
:class:`~simulator.errors.SimulatorError`; any other exception fails the test. A sample
goes through the CLI, and accepted topologies run a simulated day with sane figures.

The marked ``fuzz`` tests run 10 000 documents (``FAILSIM_FUZZ_EXAMPLES`` changes it;
CI: ``python -m pytest -m fuzz -p no:cacheprovider``); the default run keeps a sample.
"""

from __future__ import annotations

import copy
import math
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import simulator
from simulator.chaos.compile import compile_experiment, plan_from_dict
from simulator.cli import app
from simulator.errors import SimulatorError
from simulator.model.loader import from_dict, load_yaml

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
PLANS = sorted((ROOT / "topologies" / "plans").glob("*.yaml"))
#: the topology each plan is checked against (``chaos --dry-run``)
PLAN_TOPOLOGY = ROOT / "topologies" / "storefront-ha.yaml"
FUZZ_EXAMPLES = int(os.environ.get("FAILSIM_FUZZ_EXAMPLES", "10000"))
_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
runner = CliRunner()


@cache
def bases() -> tuple[tuple[str, dict], ...]:
    """The bundled documents as plain data: ("topology" | "plan", document)."""
    out = [("topology", load_yaml(p.read_text(encoding="utf-8"))) for p in TOPOLOGIES]
    out += [("plan", load_yaml(p.read_text(encoding="utf-8"))) for p in PLANS]
    return tuple(out)


@cache
def plan_topology() -> simulator.Topology:
    return simulator.load(PLAN_TOPOLOGY)


# -- what mutants are made of ---------------------------------------------------------

HOSTILE_VALUES = [
    0, -1, -0.5, 1, 2**63, 10**400, -(10**400), 1e308, -1e308, 1e-320, math.inf, -math.inf, math.nan,
    True, False, None, "", " ", "x" * 10_000, "sérvice-ü", "服务", "名前\u200b", "a\nb", "\x1b[31mred",
    [], {}, [1, 2], {"a": 1}, "5 parsecs", "10m/s/s", "150%", "-5%", "1e999%", "1e-320", "-10m",
    "1e400s", "999999999999y", "0s", "0/s", "1k/ms", "NaN", "inf", "2024-02-30", "12:30:00",
    {"pareto": {"alpha": 1}}, {"exponential": {"mean": "0s"}}, {"lognormal": {"median": "1s", "sigma": 1e19}},
    {"weibull": {"shape": 1e-300, "scale": "1d"}}, {"gamma": {"shape": 1e300, "mean": "1s"}},
    {"uniform": {"low": "2s", "high": "1s"}}, {"empirical": []}, {"fixed": "-1s"},
]
KEY_NAMES = ["", "x", "services", "name", "sérvice", "服务", "a\nb", "k" * 300, "0", "replicas", "<<"]
TAGS = ["!!int ", "!!float ", "!!bool ", "!!str ", "!!map ", "!!seq ", "!!timestamp ", "!!null ", "!!binary ",
        "!!python/object:os.system ", "!custom ", "!!set ", "&anchor ", "*anchor ", "!!omap "]


def nodes(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in the document, without recursion."""
    out, todo = [], [doc]
    while todo:
        node = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in list(items):
            out.append((node, key))
            if isinstance(value, (dict, list)):
                todo.append(value)
    return out


def values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_VALUES),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.builds(lambda n, u: f"{n}{u}", st.floats(allow_nan=False, allow_infinity=False, width=32),
                  st.sampled_from(["ms", "s", "m", "h", "d", "w", "y", "/s", "/m", "k/s", "%", " parsecs", "m/s/s"])),
    )


@st.composite
def mutate(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one structural or value change at a random place."""
    doc = copy.deepcopy(doc)
    places = nodes(doc)
    if not places:
        return doc
    container, key = places[draw(st.integers(0, len(places) - 1))]
    op = draw(st.sampled_from(["drop", "duplicate", "rename", "value", "value", "value", "list-for-map", "map-for-list"]))
    value = container[key]
    if op == "drop":
        del container[key]
    elif op == "duplicate":
        if isinstance(container, list):
            container.insert(key, copy.deepcopy(value))
        else:
            container[f"{key}"[:-1] or "x"] = copy.deepcopy(value)  # a near-duplicate key
    elif op == "rename" and isinstance(container, dict):
        new = draw(st.one_of(st.sampled_from(KEY_NAMES), st.text(max_size=12), st.integers(), st.just(f"{key}s")))
        container[new] = container.pop(key)
    elif op == "list-for-map" and isinstance(value, dict):
        container[key] = list(value.values())
    elif op == "map-for-list" and isinstance(value, list):
        container[key] = {str(i): v for i, v in enumerate(value)}
    else:
        container[key] = draw(values())
    return doc


@st.composite
def mutate_text(draw: st.DrawFn, text: str) -> str:
    """Text-level changes YAML data cannot express: tags, repeated or lost lines, a cut."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["tag", "tag", "duplicate-line", "drop-line", "cut"]))
    if op == "tag" and ": " in lines[i]:
        head, _, tail = lines[i].partition(": ")
        lines[i] = f"{head}: {draw(st.sampled_from(TAGS))}{tail}"
    elif op == "duplicate-line":
        lines.insert(i, lines[i])
    elif op == "drop-line":
        del lines[i]
    elif op == "cut":
        return text[: draw(st.integers(0, len(text)))]
    return "".join(lines)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, str]:
    """(kind, YAML text) of a mutated bundled document."""
    kind, doc = draw(st.sampled_from(bases()))
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(mutate(doc))
    text = yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
    if draw(st.integers(0, 3)) == 0:
        text = draw(mutate_text(text))
    return kind, text


def accept_or_refuse(kind: str, text: str, file: str = "mutant.yaml") -> Any:
    """The model or plan when accepted, ``None`` when refused with the project's error."""
    try:
        data = load_yaml(text, file)
        if data is None:
            return None
        if kind == "topology":
            return from_dict(data, file)
        plan = plan_from_dict(data, file)
        compile_experiment(plan_topology(), plan)
        return plan
    except SimulatorError as exc:
        line = str(exc)
        assert line.startswith(f"{file}: ") and "\n" not in line, line[:300]
        assert len(line) < 2000, line[:300]
        return None


# -- the tests ------------------------------------------------------------------------

FUZZ_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(mutants())
def test_mutated_documents_sample(mutant):
    """A sample of mutants: each is accepted, or refused with a one-line SimulatorError."""
    accept_or_refuse(*mutant)


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES, **FUZZ_SETTINGS)
@given(mutants())
def test_mutated_documents(mutant):
    """10 000 mutants: each is accepted, or refused with a one-line SimulatorError."""
    accept_or_refuse(*mutant)


def cli_check(tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    if kind == "topology":
        result = runner.invoke(app, ["validate", str(path)])
    else:
        result = runner.invoke(app, ["chaos", str(PLAN_TOPOLOGY), str(path), "--dry-run"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output[-500:]
    lines = result.stderr.splitlines()
    if result.exit_code == 2:
        assert lines and all(line.startswith(f"{path}: ") for line in lines), result.stderr[-500:]
        if kind == "plan":
            assert len(lines) == 1, result.stderr
    else:
        assert lines == []


@settings(max_examples=20, **FUZZ_SETTINGS)
@given(mutant=mutants())
def test_mutants_through_the_cli_sample(tmp_path_factory, mutant):
    """Through the CLI: exit 0, or exit 2 with one line per problem naming the file."""
    cli_check(tmp_path_factory.mktemp("cli"), *mutant)


@pytest.mark.fuzz
@settings(max_examples=max(FUZZ_EXAMPLES // 50, 20), **FUZZ_SETTINGS)
@given(mutant=mutants())
def test_mutants_through_the_cli(tmp_path_factory, mutant):
    """Through the CLI: exit 0, or exit 2 with one line per problem naming the file."""
    cli_check(tmp_path_factory.mktemp("cli"), *mutant)


def check_figures(node: Any, where: str = "") -> None:
    """No NaN or infinite figure; availabilities in [0, 1]; p50 <= p99."""
    todo = [(node, where)]
    while todo:
        node, where = todo.pop()
        if isinstance(node, float):
            assert math.isfinite(node), where
        elif isinstance(node, (list, tuple)):
            todo += [(v, f"{where}[{i}]") for i, v in enumerate(node)]
        elif isinstance(node, dict):
            todo += [(v, f"{where}.{k}") for k, v in node.items()]
            if isinstance(node.get("p50"), float) and isinstance(node.get("p99"), float):
                assert node["p50"] <= node["p99"] * (1 + 1e-12), where
            for k, v in node.items():
                if k == "availability" or where.endswith(".availability"):
                    for x in _numbers(v):
                        assert -1e-12 <= x <= 1 + 1e-12, f"{where}.{k}: {x}"


def _numbers(node: Any) -> list[float]:
    out, todo = [], [node]
    while todo:
        node = todo.pop()
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            out.append(float(node))
        elif isinstance(node, (list, tuple)):
            todo += list(node)
        elif isinstance(node, dict):
            todo += [v for k, v in node.items() if k in ("mean", "ci95", "time", "requests", "lo", "hi")]
    return out


def run_a_day(model: simulator.Topology) -> None:
    """Two replications of a simulated day (flow when there is traffic): sane figures."""
    backend = "flow" if model.traffic else "auto"
    try:
        results = simulator.run(model, replications=2, horizon="1d", warmup=0, seed=1, backend=backend,
                                max_requests=1e6)
    except SimulatorError:  # e.g. a run too large or a backend that does not apply: refused, fine
        return
    check_figures(results.to_dict())


_DURATION = re.compile(r"^[0-9.]+(ms|s|m|h|d|w|y)$")
_RATE = re.compile(r"^[0-9.]+k?/(ms|s|m|h|d)$")


def plausible(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same kind as ``value`` that a topology might well hold (to reach the
    run with mutants that are accepted): counts, factors, durations, rates, percentages."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(0, 40)
    if isinstance(value, float):
        return st.floats(0, 20)
    if isinstance(value, str) and _DURATION.match(value):
        return st.builds(lambda x, u: f"{x:g}{u}", st.floats(0, 1000), st.sampled_from(["ms", "s", "m", "h", "d", "y"]))
    if isinstance(value, str) and _RATE.match(value):
        return st.builds(lambda x, u: f"{x:g}/{u}", st.floats(0, 2000), st.sampled_from(["s", "m", "h"]))
    if isinstance(value, str) and value.endswith("%"):
        return st.builds(lambda x: f"{x:g}%", st.floats(0, 100))
    return st.just(value)


@st.composite
def topology_mutants(draw: st.DrawFn) -> tuple[str, str]:
    """Topologies with one to four values changed, mostly to plausible ones, sometimes to
    hostile ones or with a key dropped (most structural mutants are refused)."""
    topologies = [b for b in bases() if b[0] == "topology"]
    _, doc = draw(st.sampled_from(topologies))
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 4)) == 0:
            doc = draw(mutate(doc))
            continue
        leaves = [(c, k) for c, k in nodes(doc) if not isinstance(c[k], (dict, list))]
        container, key = leaves[draw(st.integers(0, len(leaves) - 1))]
        container[key] = draw(plausible(container[key]))
    return "topology", yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)


def _bounded(model: simulator.Topology) -> bool:
    replicas = sum(s.replica_count for s in model.services.values())
    return replicas <= 200 and all(s.workers <= 1000 for s in model.services.values())


def test_figure_check_catches_impossible_figures():
    """The figure check itself: it refuses an availability above 1, a NaN and p50 > p99."""
    good = {"availability": {"time": {"mean": 0.99, "ci95": [0.98, 1.0]}}, "latency_s": {"p50": 0.1, "p99": 0.2}}
    check_figures(good)
    for bad in ({"availability": {"time": {"mean": 1.5}}}, {"x": {"y": [math.nan]}},
                {"latency_s": {"p50": 0.3, "p99": 0.2}}, {"services": {"a": {"availability": {"time": {"mean": -0.1}}}}}):
        with pytest.raises(AssertionError):
            check_figures(bad)


@settings(max_examples=10, **FUZZ_SETTINGS)
@given(topology_mutants())
def test_accepted_mutants_run_a_day_sample(mutant):
    """Accepted mutants run a simulated day: no crash, no NaN or inf, availability in [0, 1]."""
    model = accept_or_refuse(*mutant)
    if model is not None and _bounded(model):
        run_a_day(model)


@pytest.mark.fuzz
@settings(max_examples=max(FUZZ_EXAMPLES // 100, 10), **FUZZ_SETTINGS)
@given(topology_mutants())
def test_accepted_mutants_run_a_day(mutant):
    """Accepted mutants run a simulated day: no crash, no NaN or inf, availability in [0, 1]."""
    model = accept_or_refuse(*mutant)
    if model is not None and _bounded(model):
        run_a_day(model)
