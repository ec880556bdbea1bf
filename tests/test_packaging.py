"""The project's metadata: the lower-bound constraints CI installs match pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "ci" / "constraints-lowest.txt"
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lower_bounds() -> dict[str, str]:
    """Every ``>=`` bound of ``dependencies`` and of the dev extra, with an extra's own
    packages (``dask[distributed]`` pins ``distributed`` too, at the same version)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bounds: dict[str, str] = {}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        match = _REQ.match(req)
        assert match, f"pyproject.toml: {req!r} has no >= lower bound"
        name, extras, version = match.groups()
        bounds[_name(name)] = version
        if _name(name) == "dask" and extras and "distributed" in extras:
            bounds["distributed"] = version
    return bounds


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{CONSTRAINTS.name}: {line!r} is not NAME==VERSION"
            pins[_name(name)] = version.strip()
    return pins


def test_lowest_constraints_match_pyproject_lower_bounds():
    """ci/constraints-lowest.txt pins exactly the ``>=`` bounds of pyproject.toml's
    dependencies and dev extra, so CI tests the oldest versions a user can get."""
    assert _constraints() == _lower_bounds()


def test_every_benchmark_import_is_in_the_bench_extra():
    """Third-party modules the benchmarks import are the project's dependencies or its ``bench`` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(_REQ.match(r).group(1)) for r in project["dependencies"] + project["optional-dependencies"]["bench"]}
    declared |= {"pyyaml", "yaml"}
    imported = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        for match in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_][\w]*)", script.read_text(encoding="utf-8"), re.M):
            imported.add(match.group(1))
    third_party = {m for m in imported if m not in ("simulator", "_common", "__future__") and not _stdlib(m)}
    assert {_name(m) for m in third_party} <= declared, third_party


def _stdlib(module: str) -> bool:
    import sys

    return module in sys.stdlib_module_names
