"""Loading topology documents: safe YAML, then validation with one-line errors."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from simulator import units
from simulator.errors import ModelError, ModelErrors, short_repr
from simulator.model.spec import Topology
from simulator.model.validate import check
from simulator.model.yaml_safe import parse_document

__all__ = [
    "load", "load_yaml", "from_dict", "errors_from_validation", "read_text", "max_file_bytes",
    "DEFAULT_MAX_FILE_BYTES", "MAX_FILE_SIZE_ENV",
]

#: Files larger than this are refused before they are parsed (a topology is a few KB).
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
#: Environment variable that raises (or lowers) the limit, e.g. ``FAILSIM_MAX_FILE_SIZE=50MB``.
MAX_FILE_SIZE_ENV = "FAILSIM_MAX_FILE_SIZE"


def max_file_bytes() -> int:
    """The size limit on input files: :data:`MAX_FILE_SIZE_ENV` if set, else 2 MiB."""
    setting = os.environ.get(MAX_FILE_SIZE_ENV)
    if setting is None or not setting.strip():
        return DEFAULT_MAX_FILE_BYTES
    try:
        return int(units.parse_bytes(setting))
    except (units.UnitError, OverflowError):
        raise ModelError(f"expected a size such as 2MB or 50MiB, got {short_repr(setting)}",
                         (MAX_FILE_SIZE_ENV,)) from None


def read_text(path: str | os.PathLike[str], what: str = "topology file", max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file, refusing what is not a regular file or is too large.

    FIFOs, devices and sockets are refused without waiting for a writer; a file over
    ``max_bytes`` (default :func:`max_file_bytes`) is refused before it is parsed,
    with the setting that raises the limit.
    """
    file = os.fspath(path)
    limit = max_file_bytes() if max_bytes is None else max_bytes
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        raise ModelError("no such file", file=file) from None
    except IsADirectoryError:
        raise ModelError(f"is a directory, expected a {what}", file=file) from None
    except OSError as exc:
        raise ModelError(f"cannot read: {exc.strerror}", file=file) from None
    try:
        data = _read_regular(fd, file, what, limit)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ModelError(_too_big(limit), file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError("not a text file (expected UTF-8 YAML)", file=file) from None


def _too_big(limit: int) -> str:
    return (f"larger than the {units.format_bytes(limit)} limit on input files"
            f" (raise it with --max-file-size or {MAX_FILE_SIZE_ENV}=SIZE)")


def _read_regular(fd: int, file: str, what: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of an open regular file (others are refused unread)."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ModelError(f"is a directory, expected a {what}", file=file)
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise ModelError(f"is {kind}, expected a {what} (a regular file)", file=file)
    if info.st_size > limit:
        raise ModelError(_too_big(limit), file=file)
    chunks, size = [], 0
    try:
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ModelError(f"cannot read: {exc.strerror}", file=file) from None
    return b"".join(chunks)


def load_yaml(text: str, file: str | None = None) -> Any:
    """Parse one YAML document into plain data (see :mod:`simulator.model.yaml_safe`).

    Raises
    ------
    ModelError
        Syntax errors, duplicate keys, tags other than the plain ones, nesting deeper
        than 64, aliases expanding too far: one line with the key path, line and column.
    """
    return parse_document(text, file)


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
                message += f", got {short_repr(got)}"
        loc = _clean_loc(err["loc"])
        if kind == "unknown_key":
            loc = (*loc, err["ctx"]["key"])
        elif kind == "number_range":
            loc = (*loc, err["ctx"]["key"], *err["ctx"]["sub"])
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
    data = load_yaml(read_text(file, "topology file"), file)
    if data is None:
        raise ModelError("the file is empty", file=file)
    return from_dict(data, file)
