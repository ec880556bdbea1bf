"""Edit a topology document by key paths (for variants and sweeps).

A *path* names one key: ``services.api.replicas.use1-az1``, ``traffic[0].rate``;
``[*]`` stands for every element of a list. A value replaces the key's value; a value
written ``x10`` (or ``*10``) multiplies the current number.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.errors import ModelError
from simulator.model.base import suggest

__all__ = ["apply_setting"]

_TOKEN = re.compile(r"\[(\d+|\*)\]")
_MULTIPLY = re.compile(r"^\s*[x*×]\s*([0-9.eE+-]+)\s*$")


def _tokens(path: str) -> list[str | int]:
    """``traffic[0].rate`` -> ``["traffic", 0, "rate"]``; ``[*]`` -> ``"*"`` (every element)."""
    out: list[str | int] = []
    for part in path.split("."):
        name, *rest = _TOKEN.split(part)
        if name:
            out.append(name)
        for idx in rest:
            if idx:
                out.append("*" if idx == "*" else int(idx))
    return out


def _set(node: Any, tokens: list[str | int], value: Any, path: str) -> None:
    key, more = tokens[0], tokens[1:]
    if isinstance(node, list):
        if key == "*":
            targets = list(range(len(node)))
        elif isinstance(key, int) and 0 <= key < len(node):
            targets = [key]
        else:
            raise ModelError(f"no element {key!r} (the list has {len(node)})", ("sweep", path))
    elif isinstance(node, dict):
        if not isinstance(key, str):
            raise ModelError(f"{key!r} indexes a mapping", ("sweep", path))
        if more and key not in node:  # a zone or service name may contain dots
            for k in sorted(node, key=len, reverse=True):
                joined = ".".join(str(t) for t in tokens)
                if isinstance(k, str) and joined == k:
                    return _set(node, [k], value, path)
                if isinstance(k, str) and joined.startswith(k + "."):
                    return _set(node, [k, *_tokens(joined[len(k) + 1 :])], value, path)
            raise ModelError(f"unknown key {key!r}{suggest(key, node)}", ("sweep", path))
        targets = [key]
    else:
        raise ModelError(f"cannot go into {node!r}", ("sweep", path))
    for t in targets:
        if more:
            _set(node[t], more, value, path)
        else:
            node[t] = _new_value(node.get(t) if isinstance(node, dict) else node[t], value, path)


def _new_value(old: Any, value: Any, path: str) -> Any:
    m = _MULTIPLY.match(value) if isinstance(value, str) else None
    if not m:
        return value
    if not isinstance(old, (int, float)) or isinstance(old, bool):
        raise ModelError(f"{value!r} multiplies a number, but the value there is {old!r}", ("sweep", path))
    new = old * float(m.group(1))
    return int(new) if isinstance(old, int) and float(new).is_integer() else new


def apply_setting(doc: dict, path: str, value: Any) -> None:
    """Set the key at ``path`` of a topology document (in place).

    ``value`` replaces the value there; ``"x10"`` (or ``"*10"``) multiplies it.
    """
    tokens = _tokens(path)
    if not tokens:
        raise ModelError("empty path", ("sweep",))
    _set(doc, tokens, value, path)


