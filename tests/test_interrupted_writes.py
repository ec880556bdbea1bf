"""Interrupted writes: every ``--out``, ``-o``, ``--journal`` and ``--timeline`` file of an
interrupted ``failsim`` command is either absent or complete.

Each command is interrupted (SIGINT or SIGKILL) at a moment drawn between its start and
a little after the time an uninterrupted run took, so some interrupts land while the
files are written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

QUIET = """
name: quiet
horizon: 30d
replications: 4
seed: 5
providers: {p: {regions: {r: {zones: {a: {failure: {mtbf: 5d, mttr: 1h}}, b: {}}}}}}
services:
  api: {replicas: {a: 1, b: 1}, workers: 4, service_time: {exponential: 5ms}, failure: {mtbf: 2d, mttr: 30m}}
"""
BUSY = QUIET.replace("name: quiet", "name: busy") + "traffic:\n  - {entry: api, rate: 20/s}\n"
PLAN = """
title: zone a goes
duration: 10m
replications: 2
seed: 3
timeline: 10s
method:
  - {name: a-down, fault: zone_outage, target: {zone: a}, at: 2m, duration: 3m}
"""

# command -> (arguments, the output files it writes)
COMMANDS = {
    "run": (["run", "quiet.yaml", "--workers", "2", "-o", "run.json"], ["run.json"]),
    "chaos": (["chaos", "busy.yaml", "plan.yaml", "--workers", "2", "--out", "chaos.json",
               "--journal", "journal.json", "--timeline", "timeline.csv"],
              ["chaos.json", "journal.json", "timeline.csv"]),
    "sweep": (["sweep", "quiet.yaml", "--set", "services.api.workers=2,4", "-n", "3", "--executor", "serial",
               "--json", "-o", "sweep.json"], ["sweep.json"]),
}

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")



def said(stderr: str) -> list[str]:
    """The lines on stderr, but for the estimate a long run prints before it starts."""
    return [line for line in stderr.strip().splitlines() if not line.endswith("(estimated)")]

def start(args: list[str], cwd: Path) -> subprocess.Popen:
    def reset() -> None:  # a background shell leaves SIGINT ignored; a terminal does not
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    return subprocess.Popen([sys.executable, "-m", "simulator", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=reset)


def complete(path: Path) -> None:
    """The file parses whole (JSON, a CSV with every row as wide as its header)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), path
    if path.suffix == ".json":
        assert json.loads(text), path
    else:
        frame = pd.read_csv(path)
        assert len(frame) > 0 and not frame.iloc[-1].isna().all(), path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("inputs")
    for name, text in (("quiet.yaml", QUIET), ("busy.yaml", BUSY), ("plan.yaml", PLAN)):
        (where / name).write_text(text, encoding="utf-8")
    return where


@pytest.fixture(scope="module")
def full_time(inputs) -> dict[str, float]:
    """How long each command takes uninterrupted (and that it writes every file, complete)."""
    out = {}
    for name, (args, files) in COMMANDS.items():
        cwd = inputs / f"full-{name}"
        cwd.mkdir()
        for f in ("quiet.yaml", "busy.yaml", "plan.yaml"):
            (cwd / f).write_bytes((inputs / f).read_bytes())
        began = time.monotonic()
        proc = start(args, cwd)
        _, err = proc.communicate(timeout=300)
        out[name] = time.monotonic() - began
        assert proc.returncode in (0, 1, 3), err.decode()
        for f in files:
            complete(cwd / f)
    return out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_interrupted_outputs_are_absent_or_complete(name, inputs, full_time, tmp_path):
    """SIGINT and SIGKILL at random moments: each output file is absent or complete;
    after SIGINT the command says so in one line and exits 130."""
    args, files = COMMANDS[name]
    rng = random.Random(f"interrupted-writes/{name}")
    for attempt in range(3):
        cwd = tmp_path / str(attempt)
        cwd.mkdir()
        for f in ("quiet.yaml", "busy.yaml", "plan.yaml"):
            (cwd / f).write_bytes((inputs / f).read_bytes())
        sig = signal.SIGINT if attempt % 2 == 0 else signal.SIGKILL
        # mostly late in the run, where the files are written
        delay = full_time[name] * (rng.uniform(0.6, 1.1) if attempt < 2 else rng.uniform(0.1, 0.6))
        proc = start(args, cwd)
        try:
            time.sleep(delay)
            if proc.poll() is None:
                os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        text = err.decode()
        assert "Traceback" not in text, text
        if sig == signal.SIGINT and proc.returncode == 130:
            assert said(text) == ["failsim: interrupted by SIGINT"]
        elif sig == signal.SIGINT and proc.returncode == -signal.SIGINT:
            assert text == ""  # it landed while the interpreter itself started, before failsim ran
        else:
            assert proc.returncode in (0, 1, 3, -signal.SIGKILL), (proc.returncode, text)
        for f in files:
            if (cwd / f).exists():
                complete(cwd / f)
        leftovers = [p.name for p in cwd.iterdir() if p.name.startswith(".")]
        if sig == signal.SIGINT:  # cleaned up on the way out
            assert leftovers == [], leftovers
