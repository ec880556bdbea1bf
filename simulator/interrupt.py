"""Ctrl-C, termination and a dead parent: how the ``failsim`` process and its workers end.

The command installs :func:`handle_signals` before it imports anything heavy, so an
interrupt during start-up is handled like one during a run: SIGINT or SIGTERM raises
:class:`Interrupted` in the main thread, whatever was being written is removed (output
files go through a temporary file renamed into place, so none is ever half-written),
running workers are terminated rather than waited for, and the command exits with
``128 + signal`` (130 for Ctrl-C) and one line on stderr. Should the unwinding itself
get stuck (a long call in C, a lock), a timer ends the process after
:data:`GRACE_S`; a second interrupt ends it at once.

Worker processes ignore SIGINT (a Ctrl-C on the terminal reaches the whole process
group; the parent decides) and end when their parent dies, however it died: on Linux
through the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``), everywhere
through a watchdog thread that polls the parent's pid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["GRACE_S", "Interrupted", "handle_signals", "interrupted", "main", "worker_init"]

#: Seconds the unwinding after an interrupt may take before the process is ended anyway.
GRACE_S = 1.5
#: Seconds between two looks of a worker's watchdog at its parent.
WATCH_S = 0.5
_PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_received: list[int] = []


def interrupted() -> int | None:
    """The first signal this process was interrupted by, or None."""
    return _received[0] if _received else None


_reported = threading.Lock()


def _report(signum: int) -> None:
    """Say once on stderr that the command was interrupted."""
    if _reported.acquire(blocking=False):
        sys.stderr.write(f"failsim: interrupted by {signal.Signals(signum).name}\n")
        sys.stderr.flush()


def _end_now(signum: int) -> None:
    try:
        _report(signum)
    finally:
        os._exit(128 + signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _received:  # a second interrupt: the user does not want to wait for the unwinding
        _end_now(_received[0])
    _received.append(signum)
    timer = threading.Timer(GRACE_S, _end_now, args=(signum,))
    timer.daemon = True
    timer.start()
    raise Interrupted(signum)


def _quiet_unraisable(unraisable: Any, _default: Callable[[Any], None] = sys.unraisablehook) -> None:
    """An interrupt raised where Python can only print it ("Exception ignored in": an
    at-fork hook, a finalizer) is swallowed there; the grace timer still ends the
    command with its one line. Anything else is printed as usual."""
    if interrupted() is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    _default(unraisable)


def handle_signals() -> None:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` in the main thread (see the module)."""
    sys.unraisablehook = _quiet_unraisable
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup-style ignores stay ignored
            signal.signal(signum, _on_signal)


def main(entry: Callable[[], Any] | None = None) -> None:
    """Run the ``failsim`` command (or ``entry``) with the signal handling of this module."""
    handle_signals()
    code: Any = 0
    try:
        if entry is None:
            from simulator.cli import app as entry
        entry()
    except SystemExit as exc:  # the CLI framework turns KeyboardInterrupt into exit 130
        code = exc.code
    except BaseException:
        # after an interrupt, whatever comes out is its consequence (an extension module
        # interrupted while it loads raises ImportError, say): the one line below says it
        if interrupted() is None:
            raise
    signum = interrupted()
    if signum is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # nothing left to interrupt
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _report(signum)
        code = 128 + signum
    sys.exit(code)


def _parent_died(ppid: int, parent: int) -> bool:
    if os.getppid() != ppid:  # re-parented: the process that started us is gone
        return True
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _watch(ppid: int, parent: int) -> None:
    while not _parent_died(ppid, parent):
        threading.Event().wait(WATCH_S)
    os._exit(1)


def _death_signal() -> None:
    """Ask Linux to SIGKILL this process when the thread that forked it ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watchdog still covers it


def worker_init(parent: int) -> None:
    """Initializer of a worker process started by process ``parent`` (see the module).

    The kernel's parent-death signal follows the direct parent (under a fork server,
    the server, which ends when ``parent`` does); the watchdog looks at both.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ppid = os.getppid()
    _death_signal()
    if _parent_died(ppid, parent):  # died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(ppid, parent), name="failsim-parent-watchdog", daemon=True).start()
