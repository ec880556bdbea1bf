"""Exceptions raised by failsim.

Every error a user can cause derives from :class:`SimulatorError`. Errors about the
model carry the file and the key path, so the CLI can print them in one line::

    topologies/x.yaml: services.api.calls[0].service: unknown service 'dbb'
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SimulatorError", "ModelError", "ModelErrors", "format_path"]


class SimulatorError(Exception):
    """Base class of every error failsim raises on purpose."""


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path as ``services.api.calls[0].service``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
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
        return ": ".join([*parts, self.message])

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
        if len(self.errors) > 1:
            line += f" (and {len(self.errors) - 1} more; `failsim validate` lists them all)"
        return line

    def with_file(self, file: str | None) -> ModelErrors:
        return ModelErrors([e.with_file(file) for e in self.errors])

    def __reduce__(self):
        return (type(self), (self.errors,))
