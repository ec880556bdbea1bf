"""Exceptions raised by failsim.

Every error a user can cause derives from :class:`SimulatorError`. Errors about the
model carry the file and the key path, so the CLI can print them in one line::

    topologies/x.yaml: services.api.calls[0].service: unknown service 'dbb'
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SimulatorError", "ModelError", "ModelErrors", "format_path", "escape", "short_repr"]


class SimulatorError(Exception):
    """Base class of every error failsim raises on purpose."""


def escape(text: object, limit: int = 80) -> str:
    """``text`` safe to print in a one-line message: control and other unprintable
    characters escaped (``\\n``, ``\\x1b``), and cut to about ``limit`` characters."""
    text = text if isinstance(text, str) else short_repr(text, limit)
    length = len(text)
    if limit and length > limit:
        text = text[: limit - 20]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text + (f"... ({length} characters)" if limit and length > limit else "")


def short_repr(value: object, limit: int = 60) -> str:
    """A bounded ``repr`` for messages: never renders a whole (possibly huge) value."""
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[: limit - 20]) + f"... ({len(value)} characters)"
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a {len(str(abs(value)))}-digit number" if value.bit_length() < 13000 else "a huge number"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 20] + "..."


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path as ``services.api.calls[0].service`` (names escaped, so a key
    with a newline in it cannot break the one-line message)."""
    out = ""
    if len(path) > 16:  # a deep path: its start and its end say where
        path = [*path[:8], "...", *path[-6:]]
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            name = escape(part, 60)
            out += f".{name}" if out else name
    return out


class ModelError(SimulatorError, ValueError):
    """A topology (or plan) is malformed, names something unknown, or is impossible.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : sequence of str or int
        Key path inside the document, e.g. ``("services", "api", "calls", 0)``.
    file : str, optional
        The file the document came from; ``None`` for models built in Python.
    """

    def __init__(
        self, message: str, path: Sequence[str | int] = (), file: str | None = None
    ) -> None:
        self.message = message
        self.path = tuple(path)
        self.file = file
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, format_path(self.path)) if p]
        return escape(": ".join([*parts, self.message]), 0)

    def with_file(self, file: str | None) -> ModelError:
        return type(self)(self.message, self.path, file)

    def __reduce__(self):  # keep file and path when pickled across processes
        return (type(self), (self.message, self.path, self.file))


class ModelErrors(ModelError):
    """Several problems found in one document; ``errors`` holds each of them.

    Its message is the first problem in one line, with a count of the others.
    """

    def __init__(self, errors: Sequence[ModelError]) -> None:
        if not errors:
            raise ValueError("ModelErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, first.path, first.file)

    def one_line(self) -> str:
        line = self.errors[0].one_line()
        if len(self.errors) > 1:  # each line is escaped already
            line += f" (and {len(self.errors) - 1} more; `failsim validate` lists them all)"
        return line

    def with_file(self, file: str | None) -> ModelErrors:
        return ModelErrors([e.with_file(file) for e in self.errors])

    def __reduce__(self):
        return (type(self), (self.errors,))
