"""Tests of simulator.interrupt: Ctrl-C, SIGTERM and SIGKILL of the ``failsim`` command.

Each test runs the real command in its own session, so that its workers can be found
(and cleaned up) by session id; they read ``/proc`` and so run on Linux only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THREE_TIER = ROOT / "topologies" / "three-tier.yaml"
ZONE_LOSS = ROOT / "topologies" / "plans" / "zone-power-loss.yaml"
# seconds of work per worker: long enough to be interrupted in the middle of it
LONG_RUN = ["run", str(THREE_TIER), "--backend", "requests", "-n", "4", "--horizon", "2h",
            "--workers", "2", "--no-progress"]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")



def said(stderr: str) -> list[str]:
    """The lines on stderr, but for the estimate a long run prints before it starts."""
    return [line for line in stderr.strip().splitlines() if not line.endswith("(estimated)")]

def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def children(pid: int) -> list[int]:
    return [p for p in session_members(pid) if (f := _stat(p)) and int(f[1]) == pid]


def start(*args: str) -> subprocess.Popen:
    """``failsim ARGS`` in a new session, with SIGINT at its default (a background shell ignores it)."""

    def reset() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=reset,
    )


def wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def kill_session(sid: int) -> None:
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        kill_session(proc.pid)
    return proc.returncode, err.decode()


def loaded(pid: int, library: str) -> bool:
    """Whether process ``pid`` has mapped ``library`` (a sign of how far its start-up got)."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_sigint_during_start_up_is_one_line_and_130():
    """Ctrl-C while the command is still importing its libraries: exit 130, one line, no traceback."""
    proc = start(*LONG_RUN)
    assert wait_for(lambda: loaded(proc.pid, "_multiarray_umath") or proc.poll() is not None)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert said(err) == ["failsim: interrupted by SIGINT"]


@pytest.mark.parametrize("group", [False, True], ids=["parent", "process-group"])
def test_sigint_during_a_run_exits_promptly_without_waiting_for_workers(group):
    """Ctrl-C (to the command, or to its whole group as a terminal does) while workers run:
    exit 130 within seconds, not after the running replications, and no worker is left."""
    proc = start(*LONG_RUN)
    assert wait_for(lambda: len(children(proc.pid)) >= 2 or proc.poll() is not None)
    time.sleep(1.0)  # the workers are busy with their replications
    assert proc.poll() is None
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    took = time.monotonic() - sent
    assert code == 130, err
    assert said(err) == ["failsim: interrupted by SIGINT"]
    assert took < 5.0  # it exits in well under 2 s; a run takes tens of seconds
    assert wait_for(lambda: not session_members(proc.pid), timeout=10)


def test_sigterm_is_handled_like_sigint():
    """SIGTERM (``timeout``'s default) ends the command with 143 and one line."""
    proc = start(*LONG_RUN)
    assert wait_for(lambda: len(children(proc.pid)) >= 1 or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 143, err
    assert said(err) == ["failsim: interrupted by SIGTERM"]


@pytest.mark.parametrize("command", ["run", "chaos"])
def test_workers_end_when_the_command_is_killed(command):
    """SIGKILL of the command (nothing of it runs after): its workers end too, none is orphaned."""
    if command == "run":
        proc = start(*LONG_RUN)
    else:
        proc = start("chaos", str(THREE_TIER), str(ZONE_LOSS), "-n", "4", "--workers", "2", "--no-progress")
    try:
        assert wait_for(lambda: len(children(proc.pid)) >= 2 or proc.poll() is not None)
        time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=30)
        assert wait_for(lambda: not session_members(proc.pid), timeout=15), session_members(proc.pid)
    finally:
        finish(proc)


WATCHDOG_ONLY = """
import os, sys, time
from simulator import interrupt
interrupt._death_signal = lambda: None  # only the watchdog is left to notice
parent = os.getpid()
child = os.fork()
if child == 0:
    interrupt.worker_init(parent)
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(0.5)
os._exit(0)
"""


def test_watchdog_ends_a_worker_whose_parent_died_without_the_death_signal():
    """The portable fallback: with no parent-death signal, the watchdog thread still ends the worker."""
    out = subprocess.run([sys.executable, "-c", WATCHDOG_ONLY], cwd=ROOT, capture_output=True, text=True, timeout=60)
    worker = int(out.stdout.split()[0])
    try:
        assert wait_for(lambda: (f := _stat(worker)) is None or f[0] == "Z", timeout=15)
    finally:
        try:
            os.kill(worker, signal.SIGKILL)
        except ProcessLookupError:
            pass


CONVERTED = """
import os, signal, time
from simulator import interrupt

def entry():
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
    except KeyboardInterrupt:  # what an extension module interrupted while it loads does
        raise ImportError("initialization failed") from None

interrupt.main(entry)
"""


def test_an_exception_caused_by_the_interrupt_is_not_a_traceback():
    """An interrupt turned into another exception on its way out (ImportError from a module
    being loaded) still ends as exit 130 and the one line."""

    def reset() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    out = subprocess.run([sys.executable, "-c", CONVERTED], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         preexec_fn=reset)
    assert out.returncode == 130, out.stderr
    assert said(out.stderr) == ["failsim: interrupted by SIGINT"]
