"""Reading YAML documents that may be hostile: plain data only, bounded, one-line errors.

The document is built from the parser's events (libyaml's when available) with an
explicit stack, never Python recursion, so that nothing in the text can run code,
exhaust the interpreter's stack or expand without bound:

- only the YAML 1.1 core of ``yaml.safe_load`` is constructed: mappings, sequences,
  strings, integers, floats, booleans and null (with merge keys ``<<``). Dates and
  timestamps stay the strings they were written as (a topology has no dates; a
  ``2024-02-30`` is then just an unknown value, not a calendar error). Any other tag
  (``!!python/object``, ``!!set``, ``!custom``, ``!!map`` on a list) is refused;
- collections nest at most :data:`MAX_DEPTH` levels;
- aliases may not blow the document up: every value has a weight (1 per node, plus
  its length in 64-character blocks for a string), and the weight with aliases
  expanded may not exceed :data:`ALIAS_FACTOR` times the written weight plus
  :data:`ALIAS_ALLOWANCE` ("billion laughs" documents stop at once);
- an anchor is usable only after its node is complete, so no value contains itself.

Every problem is a :class:`~simulator.errors.ModelError` with the key path, the line
and the column: ``x.yaml: services.api: duplicate key 'replicas', first defined on
line 9 (line 11, column 5)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev

from simulator.errors import ModelError, escape, short_repr

__all__ = ["MAX_DEPTH", "ALIAS_FACTOR", "ALIAS_ALLOWANCE", "parse_document"]

#: deepest nesting of mappings and lists accepted (a topology needs fewer than 10)
MAX_DEPTH = 64
#: aliases may expand the document to this many times its written weight ...
ALIAS_FACTOR = 10
#: ... plus this much
ALIAS_ALLOWANCE = 100_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CORE = "tag:yaml.org,2002:"
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_NO_KEY = object()
_TIMESTAMP = next(regexp for tag, regexp in _RESOLVER.yaml_implicit_resolvers["0"] if tag.endswith("timestamp"))


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _where(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


@dataclass
class _Frame:
    """A mapping or list being built."""

    value: dict | list
    anchor: str | None
    mark: Any
    weight: int = 1
    key: Any = _NO_KEY
    key_line: int = 0
    key_lines: dict = field(default_factory=dict)
    merges: list = field(default_factory=list)
    merge_pending: bool = False


class _Builder:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.written = 0
        self.expanded = 0
        self.root: Any = None
        self.done = False

    # -- errors ------------------------------------------------------------------

    def path(self) -> tuple[str | int, ...]:
        out: list[str | int] = []
        for frame in self.stack:
            if isinstance(frame.value, list):
                out.append(len(frame.value))
            elif frame.key is not _NO_KEY:
                out.append(frame.key if isinstance(frame.key, str) else short_repr(frame.key))
        return tuple(out)

    def error(self, message: str, mark: Any, path: tuple | None = None) -> ModelError:
        return ModelError(message + _where(mark), self.path() if path is None else path, self.file)

    # -- scalars -----------------------------------------------------------------

    def scalar(self, event: ev.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        elif tag == _CORE + "timestamp" and not _TIMESTAMP.match(event.value):
            raise self.error(
                f"!!timestamp: expected a date or time such as 2024-01-31, got {short_repr(event.value)}",
                event.start_mark)
        text = event.value
        try:
            return _construct_scalar(tag, text)
        except _BadScalar as exc:
            raise self.error(str(exc), event.start_mark) from None

    # -- values into their parents -------------------------------------------------

    def add(self, value: Any, weight: int, mark: Any, anchor: str | None, *, is_alias: bool = False) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, weight)
        if is_alias:
            self.expanded += weight
            if self.expanded > ALIAS_FACTOR * self.written + ALIAS_ALLOWANCE:
                raise self.error("aliases expand the document too far (a 'billion laughs' document?)", mark)
        if not self.stack or isinstance(self.stack[-1].value, list) or self.stack[-1].key is not _NO_KEY:
            if isinstance(value, _MergeKey):  # a '<<' anywhere but in key position is a string
                value = "<<"
        if not self.stack:
            self.root, self.done = value, True
            return
        frame = self.stack[-1]
        frame.weight += weight
        if isinstance(frame.value, list):
            frame.value.append(value)
        elif frame.key is _NO_KEY:
            self.add_key(frame, value, mark)
        else:
            if frame.merge_pending:
                self.add_merge(frame, value, mark)
            else:
                frame.value[frame.key] = value
            frame.key, frame.merge_pending = _NO_KEY, False

    def add_key(self, frame: _Frame, key: Any, mark: Any) -> None:
        if isinstance(key, _MergeKey):
            frame.key, frame.merge_pending = "<<", True
            return
        if isinstance(key, (dict, list)):
            raise self.error("a mapping key must be a plain value, not a mapping or a list", mark)
        if isinstance(key, float) and math.isnan(key):
            raise self.error("a mapping key cannot be NaN", mark)
        if key in frame.key_lines:
            raise self.error(
                f"duplicate key {short_repr(key)}, first defined on line {frame.key_lines[key]}", mark
            )
        frame.key_lines[key] = mark.line + 1
        frame.key = key

    def add_merge(self, frame: _Frame, value: Any, mark: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            raise self.error("a merge key '<<' takes a mapping or a list of mappings", mark)
        frame.merges.extend(sources)

    def start(self, event: ev.CollectionStartEvent, kind: str) -> None:
        tag = event.tag
        default = "map" if kind == "mapping" else "seq"
        if tag is not None and tag != "!" and tag != _CORE + default:
            other = "mapping" if kind == "sequence" else "list"
            if tag == _CORE + ("seq" if kind == "mapping" else "map"):
                raise self.error(f"tag {_tag_name(tag)} on a {'list' if kind == 'sequence' else 'mapping'}:"
                                 f" expected a {other}", event.start_mark)
            raise self.error(f"unsupported tag {short_repr(_tag_name(tag))} on a {kind}"
                             " (topology files use plain mappings and lists)", event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        value: dict | list = {} if kind == "mapping" else []
        self.stack.append(_Frame(value, event.anchor, event.start_mark))
        self.written += 1

    def end(self, mark: Any) -> None:
        frame = self.stack.pop()
        value = frame.value
        if frame.merges and isinstance(value, dict):
            merged: dict = {}
            for source in reversed(frame.merges):  # the first source listed wins
                merged.update(source)
            merged.update(value)  # then the keys written here
            frame.value = value = merged
        self.add(value, frame.weight, mark, frame.anchor)

    def feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.ScalarEvent):
            value = self.scalar(event)
            weight = 1 + len(event.value) // 64
            self.written += weight
            self.add(value, weight, event.start_mark, event.anchor)
        elif isinstance(event, ev.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.error(
                    f"alias *{escape(event.anchor)} refers to no complete anchor before it"
                    " (undefined, or used inside its own value)", event.start_mark)
            value, weight = self.anchors[event.anchor]
            self.add(value, weight, event.start_mark, None, is_alias=True)
        elif isinstance(event, ev.MappingStartEvent):
            self.start(event, "mapping")
        elif isinstance(event, ev.SequenceStartEvent):
            self.start(event, "sequence")
        elif isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            self.end(event.end_mark)
        elif isinstance(event, ev.DocumentStartEvent) and self.done:
            raise self.error("expected one YAML document, found a second one", event.start_mark, ())


class _MergeKey:
    """The ``<<`` key of a merge (a marker, never stored)."""


class _BadScalar(Exception):
    pass


_INT_FORMS = re.compile(r"^[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])*)$")


def _sexagesimal(text: str) -> float | int:
    value: float | int = 0
    for part in text.split(":"):
        value = value * 60 + (float(part) if "." in part else int(part))
    return value


def _construct_int(text: str) -> int:
    digits = text.replace("_", "")
    if not _INT_FORMS.match(digits):
        raise _BadScalar(f"!!int: expected a whole number, got {short_repr(text)}")
    if len(digits) > 3000:  # beyond what Python prints back (4300 digits) in any base
        raise _BadScalar(f"!!int: a whole number of {len(digits)} digits is too long")
    sign = -1 if digits[0] == "-" else 1
    digits = digits.lstrip("+-")
    try:
        if digits.startswith("0b"):
            return sign * int(digits[2:], 2)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        if len(digits) > 1 and digits[0] == "0" and ":" not in digits:
            return sign * int(digits, 8)
        if ":" in digits:
            return sign * int(_sexagesimal(digits))
        return sign * int(digits)
    except ValueError:
        raise _BadScalar(f"!!int: expected a whole number, got {short_repr(text)}") from None


def _construct_float(text: str) -> float:
    value = text.replace("_", "").lower()
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    try:
        if body == ".inf":
            return sign * math.inf
        if body == ".nan":
            return math.nan
        if ":" in body:
            return sign * float(_sexagesimal(body))
        return sign * float(body)
    except (ValueError, OverflowError):
        raise _BadScalar(f"!!float: expected a number, got {short_repr(text)}") from None


def _construct_scalar(tag: str, text: str) -> Any:
    """The value of a scalar with its resolved ``tag``; timestamps stay strings."""
    name = tag[len(_CORE) :] if tag.startswith(_CORE) else None
    if name in ("str", "timestamp", "value"):
        return text
    if name == "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise _BadScalar(f"!!null: expected an empty value, ~ or null, got {short_repr(text)}")
        return None
    if name == "bool":
        if text.lower() not in _BOOLS:
            raise _BadScalar(f"!!bool: expected true or false, got {short_repr(text)}")
        return _BOOLS[text.lower()]
    if name == "int":
        return _construct_int(text)
    if name == "float":
        return _construct_float(text)
    if name == "merge":
        return _MergeKey()
    if name in ("map", "omap", "pairs", "set", "seq"):
        wanted = "a list" if name == "seq" else "a mapping"
        raise _BadScalar(f"tag !!{name} on a plain value: expected {wanted}")
    raise _BadScalar(f"unsupported tag {short_repr(_tag_name(tag))} (topology files use plain YAML:"
                     " strings, numbers, true/false, mappings and lists)")


def parse_document(text: str, file: str | None = None) -> Any:
    """Parse one YAML document into plain data (``None`` for an empty document).

    Raises
    ------
    ModelError
        Not valid YAML, a tag other than the plain ones, a duplicate key, nesting
        deeper than :data:`MAX_DEPTH`, aliases expanding too far, or more than one
        document; with the key path, line and column.
    """
    builder = _Builder(file)
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader already checks the characters here
        while loader.check_event():
            builder.feed(loader.get_event())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise builder.error(f"not valid YAML: {escape(problem)}", mark) from None
    except UnicodeError:
        raise builder.error("not valid YAML: the text is not valid Unicode", None) from None
    finally:
        if loader is not None:
            loader.dispose()
    return builder.root
