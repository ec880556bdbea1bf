"""Tests of simulator.model.loader: loading topology files and one-line errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

import simulator
from simulator.errors import ModelError, ModelErrors, format_path
from simulator.model.spec import Topology

TOPOLOGIES = sorted((Path(__file__).resolve().parents[1] / "topologies").glob("*.yaml"))
NODE_KINDS = {"provider", "region", "zone", "service", "replica"}


def base_doc() -> dict[str, Any]:
    """A small valid topology: two zones, api -> db, and a cache that never fails."""
    return {
        "name": "t",
        "providers": {"cloud": {"regions": {"region-1": {"zones": {"east-a": {}, "west-b": {}}}}}},
        "services": {
            "api": {
                "replicas": {"east-a": 2, "west-b": 1},
                "failure": {"mtbf": "30d", "mttr": "10m"},
                "calls": [{"service": "db"}],
            },
            "db": {"replicas": {"west-b": 2}, "failure": {"mtbf": "90d", "mttr": "1h"}},
            "cache": {"replicas": {"east-a": 1}},
        },
    }


def write(tmp_path: Path, content: dict | list | str, name: str = "topology.yaml") -> str:
    """Write a document (YAML text or plain data) and return its path as a string."""
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load_error(tmp_path: Path, content: dict | list | str) -> tuple[ModelError, str]:
    """Load a document that must be refused; return the error and the file name."""
    file = write(tmp_path, content)
    with pytest.raises(ModelError) as info:
        simulator.load(file)
    return info.value, file


def assert_one_line(exc: ModelError, file: str, path: tuple, message: str) -> None:
    """The error reads exactly ``FILE: key.path: message`` and carries file and path."""
    expected = ": ".join(p for p in (file, format_path(path), message) if p)
    assert str(exc) == exc.one_line() == expected
    assert "\n" not in str(exc)
    assert exc.path == path
    assert exc.file == file
    assert exc.message == message
    if isinstance(exc, ModelErrors):
        assert len(exc.errors) == 1, [e.one_line() for e in exc.errors]


# -- a valid document --------------------------------------------------------------


def test_valid_document_loads(tmp_path):
    """A valid document loads into a frozen Topology that remembers its file."""
    file = write(tmp_path, base_doc())
    model = simulator.load(file)
    assert isinstance(model, Topology)
    assert model.source == file
    assert model.services["api"].failure.mttr_s == 600.0
    assert model.entry_services() == ("api", "cache")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        model.name = "changed"  # type: ignore[misc]


def test_load_accepts_pathlike(tmp_path):
    """load() takes a Path as well as a string, and reports the same file name."""
    file = write(tmp_path, base_doc())
    assert simulator.load(Path(file)).source == file


# -- cross-reference errors --------------------------------------------------------


def test_unknown_zone_in_replicas(tmp_path):
    """A replica placed in an undefined zone names it and suggests the closest zone."""
    doc = base_doc()
    doc["services"]["api"]["replicas"] = {"east-aa": 2}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("services", "api", "replicas", "east-aa"),
        "unknown zone 'east-aa' (did you mean 'east-a'?)",
    )


def test_unknown_zone_without_close_match(tmp_path):
    """An unknown zone with no similar name gets no suggestion."""
    doc = base_doc()
    doc["services"]["db"]["replicas"] = {"zzz": 1}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(exc, file, ("services", "db", "replicas", "zzz"), "unknown zone 'zzz'")


def test_unknown_service_in_calls(tmp_path):
    """A call to an undefined service points at calls[i].service and suggests a name."""
    doc = base_doc()
    doc["services"]["api"]["calls"] = [{"service": "dbb"}]
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc, file, ("services", "api", "calls", 0, "service"), "unknown service 'dbb' (did you mean 'db'?)"
    )
    assert str(exc) == f"{file}: services.api.calls[0].service: unknown service 'dbb' (did you mean 'db'?)"


def test_duplicate_zone_across_regions(tmp_path):
    """A zone name used in two regions is refused where it is defined the second time."""
    doc = base_doc()
    doc["providers"]["cloud"]["regions"]["region-2"] = {"zones": {"east-a": {}}}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("providers", "cloud", "regions", "region-2", "zones", "east-a"),
        "duplicate zone name 'east-a' (also at providers.cloud.regions.region-1.zones.east-a)",
    )


def test_duplicate_region_across_providers(tmp_path):
    """A region name used under two providers is refused under the second one."""
    doc = base_doc()
    doc["providers"]["other"] = {"regions": {"region-1": {"zones": {"north-c": {}}}}}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("providers", "other", "regions", "region-1"),
        "duplicate region name 'region-1' (also under providers.cloud)",
    )


@pytest.mark.parametrize(("value", "shown"), [("0s", "'0s'"), (0, "0"), ("0ms", "'0ms'")])
def test_non_positive_duration(tmp_path, value, shown):
    """A zero repair time is refused: durations of failures and repairs must be positive."""
    doc = base_doc()
    doc["services"]["api"]["failure"]["mttr"] = value
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc, file, ("services", "api", "failure", "mttr"), f"must be a positive duration, got {shown}"
    )


def test_min_healthy_above_replica_count(tmp_path):
    """A quorum larger than the service's replica count is refused."""
    doc = base_doc()
    doc["services"]["api"]["min_healthy"] = 4
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("services", "api", "min_healthy"),
        "min_healthy is 4 but the service has only 3 replica(s)",
    )


def test_dependency_cycle(tmp_path):
    """A call cycle is refused and the message lists the whole cycle."""
    doc = base_doc()
    doc["services"]["db"]["calls"] = [{"service": "cache"}]
    doc["services"]["cache"]["calls"] = [{"service": "api"}]
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc, file, ("services", "api", "calls", 0, "service"), "dependency cycle api -> db -> cache -> api"
    )


def test_common_cause_unknown_member(tmp_path):
    """A common-cause group naming an undefined service is refused with a suggestion."""
    doc = {**base_doc(), "common_cause": [{"members": ["apii"], "beta": "5%"}]}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc, file, ("common_cause", 0, "members", 0), "unknown service 'apii' (did you mean 'api'?)"
    )


def test_common_cause_member_without_failure(tmp_path):
    """A common-cause member that never fails has no rate to share and is refused."""
    doc = {**base_doc(), "common_cause": [{"members": ["api", "cache"], "beta": "5%"}]}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("common_cause", 0, "members", 1),
        "service 'cache' has no failure spec, so it has no failure rate to share and no repair time after a shock",
    )


def test_common_cause_service_in_two_groups(tmp_path):
    """A service may belong to one common-cause group only."""
    doc = {
        **base_doc(),
        "common_cause": [{"members": ["api"], "beta": "5%"}, {"members": ["db", "api"], "beta": "10%"}],
    }
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc, file, ("common_cause", 1, "members", 1), "service 'api' is already in common_cause[0]"
    )


def test_entries_unknown_service(tmp_path):
    """An entry point naming an undefined service is refused with a suggestion."""
    doc = {**base_doc(), "entries": ["api", "cahce"]}
    exc, file = load_error(tmp_path, doc)
    assert_one_line(exc, file, ("entries", 1), "unknown service 'cahce' (did you mean 'cache'?)")


# -- errors on a single key --------------------------------------------------------


def test_malformed_unit(tmp_path):
    """A duration with an unknown unit says what a duration looks like."""
    doc = base_doc()
    doc["services"]["api"]["failure"]["mttr"] = "30x"
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("services", "api", "failure", "mttr"),
        "expected a duration like 250ms, 10m, 4h, 30d or 2y, got '30x'",
    )


def test_unknown_key_with_suggestion(tmp_path):
    """A misspelt key is refused at its own path with the closest allowed key."""
    doc = base_doc()
    doc["services"]["api"]["replica"] = doc["services"]["api"].pop("replicas")
    exc, file = load_error(tmp_path, doc)
    assert_one_line(exc, file, ("services", "api", "replica"), "unknown key (did you mean 'replicas'?)")


def test_unknown_distribution_family(tmp_path):
    """An unknown distribution family is refused with a suggestion and the known families."""
    doc = base_doc()
    doc["services"]["db"]["failure"] = {"mtbf": "90d", "ttr": {"lognormall": {"median": "1h", "sigma": 1}}}
    exc, file = load_error(tmp_path, doc)
    families = ", ".join(simulator.model.DIST_FAMILIES)
    assert_one_line(
        exc,
        file,
        ("services", "db", "failure", "ttr"),
        f"unknown distribution 'lognormall' (did you mean 'lognormal'?); expected one of {families}",
    )


def test_lognormal_with_sigma_and_p99(tmp_path):
    """A lognormal takes exactly one spread parameter: sigma or p99."""
    doc = base_doc()
    doc["services"]["db"]["failure"] = {
        "mtbf": "90d",
        "ttr": {"lognormal": {"median": "30m", "sigma": 1.0, "p99": "4h"}},
    }
    exc, file = load_error(tmp_path, doc)
    assert_one_line(
        exc,
        file,
        ("services", "db", "failure", "ttr", "lognormal"),
        "give exactly one of 'sigma' or 'p99' next to 'median'",
    )


def test_bare_percentage_without_percent_sign(tmp_path):
    """A bare 99.95 is refused with a message asking for the % sign."""
    exc, file = load_error(tmp_path, {**base_doc(), "slo": {"availability": 99.95}})
    assert_one_line(
        exc, file, ("slo", "availability"), "write percentages with a % sign (e.g. 99.95%), got 99.95"
    )


# -- errors of the file itself -----------------------------------------------------


def test_duplicate_yaml_key_top_level(tmp_path):
    """A key repeated in one mapping is refused with both line numbers."""
    text = "name: t\nhorizon: 30d\nname: u\n"
    exc, file = load_error(tmp_path, text)
    assert_one_line(exc, file, (), "duplicate key 'name', first defined on line 1 (line 3, column 1)")


def test_duplicate_yaml_key_nested(tmp_path):
    """A repeated key deep inside the document is caught by the YAML reader too, with the
    path of the mapping it is repeated in."""
    text = (
        "name: t\n"
        "providers:\n"
        "  cloud:\n"
        "    regions:\n"
        "      region-1:\n"
        "        zones: {east-a: {}}\n"
        "services:\n"
        "  api:\n"
        "    replicas: {east-a: 1}\n"
        "    min_healthy: 1\n"
        "    replicas: {east-a: 2}\n"
    )
    exc, file = load_error(tmp_path, text)
    assert_one_line(
        exc, file, ("services", "api"), "duplicate key 'replicas', first defined on line 9 (line 11, column 5)"
    )


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    """Invalid YAML is refused in one line giving its line and column."""
    exc, file = load_error(tmp_path, "name: t\n  foo: : bar\n")
    assert exc.file == file
    assert str(exc) == exc.one_line()
    assert str(exc).startswith(f"{file}: ")
    assert "not valid YAML: mapping values are not allowed" in str(exc)
    assert str(exc).endswith("(line 2, column 6)")
    assert "\n" not in str(exc)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path, text):
    """An empty document is refused as empty, not as a missing key."""
    exc, file = load_error(tmp_path, text)
    assert_one_line(exc, file, (), "the file is empty")


def test_missing_file(tmp_path):
    """A file that does not exist is a ModelError naming it, not an OSError."""
    file = str(tmp_path / "nope.yaml")
    with pytest.raises(ModelError) as info:
        simulator.load(file)
    assert_one_line(info.value, file, (), "no such file")


def test_directory_instead_of_file(tmp_path):
    """A directory given as the topology is refused with a ModelError."""
    with pytest.raises(ModelError) as info:
        simulator.load(tmp_path)
    assert_one_line(info.value, str(tmp_path), (), "is a directory, expected a topology file")


@pytest.mark.parametrize("content", [["a", "b"], "just a string\n", "42\n"])
def test_top_level_not_a_mapping(tmp_path, content):
    """A document whose top level is a list or a scalar is refused."""
    exc, file = load_error(tmp_path, content)
    assert_one_line(exc, file, (), "a topology must be a mapping of keys at the top level")


@pytest.mark.parametrize(
    "template",
    [
        "!!python/object/apply:os.system ['touch {marker}']\n",
        "name: !!python/object/apply:os.system ['touch {marker}']\n",
        "name: t\nservices: !!python/object/apply:os.system ['touch {marker}']\n",
        "name: !!python/object/new:os.system ['touch {marker}']\n",
    ],
)
def test_python_tags_are_refused_and_never_run(tmp_path, monkeypatch, template):
    """YAML is read safely: a python/object tag is a ModelError and runs nothing."""
    marker = tmp_path / "ran"
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a) or 0)
    exc, file = load_error(tmp_path, template.format(marker=marker))
    assert exc.file == file
    assert str(exc).startswith(f"{file}: ")
    assert "\n" not in str(exc)
    assert calls == []
    assert not marker.exists()


# -- several problems, pickling ----------------------------------------------------


def test_model_errors_collects_every_problem(tmp_path):
    """Several problems come back together; the message is the first with a count of the rest."""
    doc = base_doc()
    doc["services"]["api"]["calls"] = [{"service": "dbb"}]
    doc["services"]["db"]["replicas"] = {"nowhere": 1}
    doc["services"]["cache"]["min_healthy"] = 2
    exc, file = load_error(tmp_path, doc)
    assert isinstance(exc, ModelErrors)
    lines = [e.one_line() for e in exc.errors]
    assert lines == [
        f"{file}: services.api.calls[0].service: unknown service 'dbb' (did you mean 'db'?)",
        f"{file}: services.db.replicas.nowhere: unknown zone 'nowhere'",
        f"{file}: services.cache.min_healthy: min_healthy is 2 but the service has only 1 replica(s)",
    ]
    assert all(e.file == file for e in exc.errors)
    assert str(exc) == exc.one_line() == f"{lines[0]} (and 2 more; `failsim validate` lists them all)"
    assert (exc.path, exc.file) == (exc.errors[0].path, file)
    assert "\n" not in str(exc)


def test_model_errors_collects_schema_problems(tmp_path):
    """Problems of single keys in different places are all reported, each at its path."""
    doc = base_doc()
    doc["services"]["api"]["failure"]["mttr"] = "30x"
    doc["services"]["db"]["failure"]["mtbf"] = 0
    doc["horizon"] = "soon"
    exc, file = load_error(tmp_path, doc)
    assert isinstance(exc, ModelErrors)
    paths = {e.path for e in exc.errors}
    assert paths == {
        ("horizon",),
        ("services", "api", "failure", "mttr"),
        ("services", "db", "failure", "mtbf"),
    }
    assert str(exc).endswith("(and 2 more; `failsim validate` lists them all)")


def test_errors_without_file_have_no_file_prefix():
    """A model built in Python reports the key path and message only."""
    doc = base_doc()
    doc["services"]["api"]["calls"] = [{"service": "dbb"}]
    with pytest.raises(ModelError) as info:
        simulator.from_dict(doc)
    assert info.value.file is None
    assert str(info.value) == "services.api.calls[0].service: unknown service 'dbb' (did you mean 'db'?)"


def test_model_error_pickles_with_file_and_path(tmp_path):
    """A ModelError survives pickling (process pools) with its message, path and file."""
    doc = base_doc()
    doc["services"]["api"]["calls"] = [{"service": "dbb"}]
    exc, file = load_error(tmp_path, doc)
    single = exc.errors[0] if isinstance(exc, ModelErrors) else exc
    for original in (single, ModelError("must be positive", ("services", "api", "workers"), "x.yaml")):
        restored = pickle.loads(pickle.dumps(original))
        assert type(restored) is type(original)
        assert (restored.message, restored.path, restored.file) == (
            original.message,
            original.path,
            original.file,
        )
        assert str(restored) == str(original)


def test_model_errors_pickle_keeps_every_error(tmp_path):
    """A ModelErrors survives pickling with each error's file and path."""
    doc = base_doc()
    doc["services"]["api"]["calls"] = [{"service": "dbb"}]
    doc["services"]["db"]["replicas"] = {"nowhere": 1}
    exc, file = load_error(tmp_path, doc)
    restored = pickle.loads(pickle.dumps(exc))
    assert isinstance(restored, ModelErrors)
    assert [(e.message, e.path, e.file) for e in restored.errors] == [
        (e.message, e.path, e.file) for e in exc.errors
    ]
    assert (restored.path, restored.file) == (exc.path, file)
    assert str(restored) == str(exc)


def test_model_error_is_a_value_error():
    """ModelError is both a SimulatorError and a ValueError."""
    assert issubclass(ModelError, simulator.SimulatorError)
    assert issubclass(ModelError, ValueError)
    assert issubclass(ModelErrors, ModelError)


# -- bundled topologies ------------------------------------------------------------


def test_topologies_are_bundled():
    """The bundled topologies are there to be tested."""
    assert len(TOPOLOGIES) >= 3


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_bundled_topology_loads(path):
    """Every bundled topology loads and has its services placed in known zones."""
    model = simulator.load(path)
    assert model.source == str(path)
    zones = model.zones()
    for svc in model.services.values():
        assert set(svc.replicas) <= set(zones)
    assert model.entry_services()


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_bundled_topology_graph(path):
    """graph() has the documented node kinds, containment edges and one call edge per call."""
    model = simulator.load(path)
    g = model.graph()
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    assert kinds == NODE_KINDS
    for node, data in g.nodes(data=True):
        assert node == f"{data['kind']}:{data['name']}"
    assert {d["kind"] for _, _, d in g.edges(data=True)} == {"contains", "calls"}

    contains = {(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "contains"}
    for p, prov in model.providers.items():
        for r, reg in prov.regions.items():
            assert (f"provider:{p}", f"region:{r}") in contains
            for z in reg.zones:
                assert (f"region:{r}", f"zone:{z}") in contains
    replicas = [n for n, d in g.nodes(data=True) if d["kind"] == "replica"]
    assert len(replicas) == sum(s.replica_count for s in model.services.values())
    for rep in replicas:
        data = g.nodes[rep]
        parents = {u for u, _ in g.in_edges(rep)}
        assert parents == {f"zone:{data['zone']}", f"service:{data['service']}"}
        assert all(g.edges[u, rep]["kind"] == "contains" for u in parents)
    for s, svc in model.services.items():
        for zone, count in svc.replicas.items():
            for i in range(count):
                assert (f"service:{s}", f"replica:{s}/{zone}/{i}") in contains

    calls = {(u, v): d["optional"] for u, v, d in g.edges(data=True) if d["kind"] == "calls"}
    expected = {
        (f"service:{s}", f"service:{c.service}"): c.optional
        for s, svc in model.services.items()
        for c in svc.calls
    }
    assert calls == expected
    assert all(g.nodes[u]["kind"] == g.nodes[v]["kind"] == "service" for u, v in calls)


def test_graph_marks_optional_calls():
    """An optional dependency is a call edge with optional=True."""
    model = simulator.load(next(p for p in TOPOLOGIES if p.name == "shop-two-regions.yaml"))
    g = model.graph()
    assert g.edges["service:storefront", "service:recommendations"] == {"kind": "calls", "optional": True}
    assert g.edges["service:storefront", "service:dns"] == {"kind": "calls", "optional": False}


# -- JSON schema -------------------------------------------------------------------


def _schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = Topology.model_json_schema(by_alias=True)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_json_schema_validates_bundled_topology(path):
    """The published JSON schema accepts every bundled topology."""
    validator = _schema_validator()
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{format_path(list(e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


def test_json_schema_refuses_unknown_key():
    """The JSON schema refuses a misspelt key, as the loader does."""
    validator = _schema_validator()
    doc = base_doc()
    doc["services"]["api"]["replica"] = doc["services"]["api"].pop("replicas")
    assert list(validator.iter_errors(doc))


@pytest.mark.parametrize(
    "ttr",
    ["10m", 600, {"exponential": "30d"}, {"fixed": "10m"}, {"empirical": ["5m", "7m", "30m"]}],
    ids=["bare-duration", "bare-seconds", "exponential-short", "fixed-short", "empirical-list"],
)
def test_json_schema_accepts_documented_distribution_short_forms(ttr):
    """Distribution short forms the README documents and the loader accepts pass the JSON schema."""
    validator = _schema_validator()
    doc = base_doc()
    doc["services"]["db"]["failure"] = {"mtbf": "90d", "ttr": ttr}
    simulator.from_dict(doc)  # the loader accepts it
    errors = [f"{format_path(list(e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


def test_json_schema_accepts_zone_without_value():
    """A zone written with no value (``west-b:``), which the loader accepts, passes the JSON schema."""
    validator = _schema_validator()
    doc = base_doc()
    doc["providers"]["cloud"]["regions"]["region-1"]["zones"]["west-b"] = None
    simulator.from_dict(doc)  # the loader accepts it
    errors = [f"{format_path(list(e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
