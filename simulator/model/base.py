"""Shared building blocks of the declarative specs: the frozen base model and unit types."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from simulator import units
from simulator.errors import short_repr

__all__ = [
    "OrAlso",
    "DURATION_SCHEMA",
    "Spec",
    "Duration",
    "PositiveDuration",
    "Rate",
    "Fraction",
    "Name",
    "suggest",
]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
MAX_NAME_LENGTH = 200


def suggest(word: str, choices: Any) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    if not isinstance(word, str) or len(word) > 100:  # nothing typed by hand is that long
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Spec(BaseModel):
    """Base of every spec: frozen, unknown keys refused with a suggestion."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        str_strip_whitespace=True,
        allow_inf_nan=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = {f.alias or n for n, f in cls.model_fields.items()}
            names = set(cls.model_fields)
            for key in data:
                if key not in allowed and key not in names:
                    raise PydanticCustomError(
                        "unknown_key",
                        f"unknown key{suggest(key, sorted(allowed))}",
                        {"key": key if isinstance(key, str) else short_repr(key)},
                    )
            _refuse_huge_integers(data)
        elif data is not None and not isinstance(data, BaseModel):
            raise PydanticCustomError("not_a_mapping", f"expected a mapping of keys, got {short_repr(data)}")
        return data


#: Whole numbers in a document (counts, limits) must be exact as floats and in numpy's int64.
MAX_INTEGER = 2**53


def _refuse_huge_integers(data: dict) -> None:
    """Refuse whole numbers beyond :data:`MAX_INTEGER` among a mapping's values and their
    direct items (``replicas: {zone: N}``); deeper specs check their own. Seeds are exempt:
    they only feed ``numpy.random.SeedSequence``, which takes any size."""
    for key, value in data.items():
        if key == "seed":
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for sub, item in [(None, value), *items]:
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
                raise PydanticCustomError(
                    "number_range", f"too large: whole numbers here are at most 2**53, got {short_repr(item)}",
                    {"key": key if isinstance(key, str) else short_repr(key),
                     "sub": () if sub is None else (sub if isinstance(sub, (str, int)) else short_repr(sub),)},
                )


def _unit(parse):
    def validate(value: Any) -> Any:
        try:
            return parse(value)
        except units.UnitError as exc:
            raise PydanticCustomError("unit", str(exc)) from None

    return validate


def _positive(parse, what: str):
    inner = _unit(parse)

    def validate(value: Any) -> Any:
        seconds = inner(value)
        if seconds <= 0:
            raise PydanticCustomError("positive", f"must be a positive {what}, got {short_repr(value)}")
        return seconds

    return validate


class OrAlso:
    """Annotated marker: the JSON Schema also accepts these alternative shapes.

    For short forms that a ``BeforeValidator`` expands (``{fixed: 10m}``, a zone
    written with no value), so editors and linters accept what the loader accepts.
    """

    def __init__(self, *alternatives: dict) -> None:
        self.alternatives = alternatives

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict:
        return {"anyOf": [handler(core_schema), *self.alternatives]}


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "seconds"},
        {
            "type": "string",
            "pattern": r"^(\s*[0-9.eE+-]+\s*(ms|min|s|m|h|d|w|y))+\s*$",
            "description": "a duration with units: ms s m h d w y (e.g. 250ms, 1h30m, 2y)",
        },
    ]
}
_RATE_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "per second"},
        {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*[kKM]?\s*/\s*(ms|min|s|m|h|d|w|y)\s*$"},
    ]
}
_FRACTION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "string", "pattern": r"^\s*[0-9.]+\s*%\s*$", "description": "e.g. 99.95%"},
    ]
}

DURATION_SCHEMA = _DURATION_SCHEMA

#: A duration in seconds, written ``250ms``, ``10m``, ``4h``, ``30d``, ``2y`` or a number.
Duration = Annotated[float, BeforeValidator(_unit(units.parse_duration)), WithJsonSchema(_DURATION_SCHEMA)]
#: A duration that must be strictly positive.
PositiveDuration = Annotated[
    float, BeforeValidator(_positive(units.parse_duration, "duration")), WithJsonSchema(_DURATION_SCHEMA)
]
#: A rate in events per second, written ``400/s`` or ``1.2k/m``.
Rate = Annotated[float, BeforeValidator(_unit(units.parse_rate)), WithJsonSchema(_RATE_SCHEMA)]

#: A size in bytes, written ``2KB``, ``1.5MiB`` or a number.
Bytes = Annotated[
    float,
    BeforeValidator(_unit(units.parse_bytes)),
    WithJsonSchema(
        {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*[kKMGT]?i?B\s*$"}]}
    ),
]
#: A fraction in [0, 1], written ``99.95%`` or ``0.9995``.
Fraction = Annotated[float, BeforeValidator(_unit(units.parse_fraction)), WithJsonSchema(_FRACTION_SCHEMA)]


def _name(value: Any) -> Any:
    import re

    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        raise PydanticCustomError("name", f"names are at most {MAX_NAME_LENGTH} characters, got {short_repr(value)}")
    if not isinstance(value, str) or not re.match(_NAME_PATTERN, value):
        raise PydanticCustomError(
            "name",
            f"names use letters, digits and _ . : - (and start with a letter or digit), got {short_repr(value)}",
        )
    return value


#: The name of a provider, region, zone or service.
Name = Annotated[str, BeforeValidator(_name), WithJsonSchema({"type": "string", "pattern": _NAME_PATTERN})]
