"""Loading topology documents: safe YAML, then validation with one-line errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.errors import ModelError, ModelErrors
from simulator.model.spec import Topology
from simulator.model.validate import check

__all__ = ["load", "load_yaml", "from_dict", "errors_from_validation"]

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """A safe loader (no Python objects, ever) that refuses duplicate keys."""


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            raise _DuplicateKey(key, key_node.start_mark.line + 1, seen[key])
        seen[key] = key_node.start_mark.line + 1
    return {
        loader.construct_object(k, deep=deep): loader.construct_object(v, deep=deep)
        for k, v in node.value
    }


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_yaml(text: str, file: str | None = None) -> Any:
    """Parse YAML safely; duplicate keys and syntax errors become :class:`ModelError`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader subclass
    except _DuplicateKey as dup:
        raise ModelError(
            f"line {dup.line}: duplicate key {dup.key!r} (first defined on line {dup.first_line})",
            file=file,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelError(f"{where}not valid YAML: {problem}", file=file) from None


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # Pydantic adds the union tag of a distribution and "[key]" for dict-key errors.
    return tuple(p for p in loc if not (isinstance(p, str) and (p.startswith("dist:") or p == "[key]")))


_MESSAGES = {
    "missing": "missing required key",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
}


def errors_from_validation(exc: ValidationError, file: str | None = None) -> list[ModelError]:
    """Turn pydantic's errors into one :class:`ModelError` per problem."""
    out = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        message = _MESSAGES.get(kind, err["msg"])
        if kind in ("greater_than", "greater_than_equal", "less_than_equal", "too_short", "too_long"):
            message = err["msg"].replace("Input should be", "must be").replace("List should", "must")
            message = message.replace("Dictionary should", "must").replace("Tuple should", "must")
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if kind in ("missing",) or kind.endswith("_type") or kind.endswith("_parsing"):
            got = err.get("input")
            if kind != "missing" and not isinstance(got, (dict, list)):
                message += f", got {got!r}"
        loc = _clean_loc(err["loc"])
        if kind == "unknown_key":
            loc = (*loc, err["ctx"]["key"])
        out.append(ModelError(message, loc, file))
    return out


def from_dict(data: Any, file: str | None = None) -> Topology:
    """Validate a topology given as plain data (what YAML or JSON parse into).

    Raises
    ------
    ModelErrors
        Every problem found, each with its key path; its message is the first one.
    """
    if not isinstance(data, Mapping):
        raise ModelError("a topology must be a mapping of keys at the top level", file=file)
    try:
        topology = Topology.model_validate(dict(data))
    except ValidationError as exc:
        raise ModelErrors(errors_from_validation(exc, file)) from None
    problems = check(topology)
    if problems:
        raise ModelErrors([p.with_file(file) for p in problems])
    topology._source = file
    return topology


def load(path: str | os.PathLike[str]) -> Topology:
    """Load and validate a topology file.

    Parameters
    ----------
    path : str or PathLike
        A YAML (or JSON) topology file.

    Returns
    -------
    Topology
        The validated, frozen model.

    Raises
    ------
    ModelError
        With the file, the key path and what was expected, e.g.
        ``topologies/x.yaml: services.api.calls[0].service: unknown service 'dbb'``.
    """
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ModelError("no such file", file=file) from None
    except IsADirectoryError:
        raise ModelError("is a directory, expected a topology file", file=file) from None
    except UnicodeDecodeError:
        raise ModelError("not a text file (expected UTF-8 YAML)", file=file) from None
    except OSError as exc:
        raise ModelError(f"cannot read: {exc.strerror}", file=file) from None
    data = load_yaml(text, file)
    if data is None:
        raise ModelError("the file is empty", file=file)
    return from_dict(data, file)
