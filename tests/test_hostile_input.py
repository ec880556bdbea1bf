"""Hostile input files: every one is refused in one line naming the file, never a traceback.

Each case is a topology or a chaos plan made from a bundled one with one hostile edit;
it goes through the Python API (a :class:`ModelError`, nothing else) and through the
CLI (``failsim validate FILE``, ``failsim chaos TOPO PLAN --dry-run``: exit 2, one line
on stderr starting with the file's name).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import simulator
from simulator import chaos as chaos_lib
from simulator.cli import app
from simulator.errors import ModelError
from simulator.model.loader import DEFAULT_MAX_FILE_BYTES, MAX_FILE_SIZE_ENV
from simulator.model.yaml_safe import MAX_DEPTH

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "topologies" / "three-tier.yaml"
PLAN = ROOT / "topologies" / "plans" / "zone-power-loss.yaml"
HUGE = "9" * 400
runner = CliRunner()


def _laughs(key: str) -> str:
    """A 'billion laughs' document: nine levels of nine aliases each, used at ``key``."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + f"\n{key}: *i\n"


def _set(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    id: str
    plan: bool  # the hostile file is the plan (else the topology)
    edit: object  # text -> hostile text
    says: str  # a regular expression the error line must match (after the file name)


T, P = False, True
CASES = [
    # the table of the issue, in topologies and in plans
    Case("huge-int-duration", T, lambda t: _set(t, "horizon: 365d", f"horizon: {HUGE}"), r"horizon: .*at most"),
    Case("huge-int-rate", T, lambda t: re.sub(r"rate: \S+", f"rate: {HUGE}", t, count=1), r"traffic\[0\]\.rate: .*at most"),
    Case("huge-int-plan-duration", P, lambda t: _set(t, "duration: 1h10m", f"duration: {HUGE}"), r"^duration: "),
    Case("huge-float-duration", T, lambda t: _set(t, "horizon: 365d", "horizon: 1.0e400"), r"horizon: a duration must be"),
    Case("bad-date", T, lambda t: _set(t, "horizon: 365d", "horizon: 2024-02-30"), r"^horizon: expected a duration"),
    Case("bad-date-in-list", T, lambda t: _set(t, "use1-az3: 2}", "use1-az3: 2024-02-30}"), r"replicas\.use1-az3: expected a whole"),
    Case("bad-date-plan", P, lambda t: _set(t, "duration: 1h10m", "duration: 2024-02-30"), r"^duration: expected a duration"),
    Case("bad-utc-offset", T, lambda t: _set(t, "horizon: 365d", "horizon: 2024-01-01T00:00:00-29:00"),
         r"^horizon: expected a duration"),
    Case("bad-utc-offset-plan", P, lambda t: _set(t, "duration: 1h10m", "duration: 2024-01-01T00:00:00-29:00"),
         r"^duration: expected a duration"),
    Case("bool-maybe", T, lambda t: _set(t, "seed: 7", "seed: !!bool maybe"), r"^seed: !!bool: expected true or false.*\(line \d+, column \d+\)$"),
    Case("int-0xZZ", T, lambda t: _set(t, "seed: 7", "seed: !!int 0xZZ"), r"^seed: !!int: expected a whole number"),
    Case("float-abc", T, lambda t: _set(t, "seed: 7", "seed: !!float abc"), r"^seed: !!float: expected a number"),
    Case("timestamp-x", T, lambda t: _set(t, "seed: 7", "seed: !!timestamp x"), r"^seed: !!timestamp: expected a date"),
    Case("tags-plan", P, lambda t: _set(t, "seed: 11", "seed: !!int 0xZZ"), r"^seed: !!int: "),
    Case("map-on-sequence", T, lambda t: t + "\ncommon_cause: !!map [1, 2]\n", r"^common_cause: tag !!map on a list"),
    Case("map-on-sequence-plan", P, lambda t: _set(t, "method:", "method: !!map"), r"^method: tag !!map on a list"),
    Case("seq-on-mapping", T, lambda t: _set(t, "services:", "services: !!seq"), r"^services: tag !!seq on a mapping"),
    Case("python-object", T, lambda t: t + "\ndescription: !!python/object/apply:os.system ['true']\n",
         r"^description: unsupported tag '!!python/object/apply:os.system'"),
    Case("custom-tag-scalar", T, lambda t: _set(t, "seed: 7", "seed: !secret 7"), r"^seed: unsupported tag '!secret'"),
    Case("set-tag", T, lambda t: t + "\nentries: !!set {web: null}\n", r"^entries: unsupported tag '!!set'"),
    Case("nested-500", T, lambda t: t + "\nlabels: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
         rf"nested deeper than {MAX_DEPTH} levels"),
    Case("nested-500-block", P, lambda t: t + "x:\n" + "".join(" " * i + "- \n" for i in range(1, 500)),
         rf"nested deeper than {MAX_DEPTH} levels"),
    # the list of the issue
    Case("newline-in-key", T, lambda t: t + '\n"bad\\nkey: forged second line": 1\n', r"^bad\\nkey: forged second line: unknown key"),
    Case("escape-in-service-name", T, lambda t: _set(t, "  web:\n", '  "web\\e[31m":\n'), r"services\.web\\x1b\[31m"),
    Case("tiny-exponential", T, lambda t: _set(t, "service_time: {exponential: 4ms}", "service_time: {exponential: 1e-320}"),
         r"service_time\.exponential\.mean: a duration must be 0 or between"),
    Case("huge-sigma", T, lambda t: _set(t, "sigma: 0.8", "sigma: 18446744073709551616"), r"lognormal\.sigma: too large"),
    Case("huge-float-sigma", T, lambda t: _set(t, "sigma: 0.8", "sigma: 1.8e19"), r"lognormal\.sigma: must be less than"),
    Case("far-p99", T, lambda t: _set(t, "{median: 5ms, p99: 30ms}", "{median: 1ms, p99: 1e9y}"), r"'p99' is too far above"),
    Case("tiny-weibull", T, lambda t: _set(t, "weibull: {shape: 0.9,", "weibull: {shape: 1.0e-300,"),
         r"weibull\.shape: must be greater"),
    Case("inf-peak", T, lambda t: _set(t, "peak_to_trough: 4", "peak_to_trough: .inf"), r"diurnal\.peak_to_trough: "),
    Case("huge-spike", T, lambda t: _set(t, "rate: 150/s", "rate: 150/s\n    spikes: [{at: 1d, duration: 1h, multiplier: 1e308}]"),
         r"spikes\[0\]\.multiplier: must be less"),
    Case("nan-shape", T, lambda t: _set(t, "shape: 2, mean", "shape: .nan, mean"), r"gamma\.shape: "),
    Case("laughs-name", T, lambda t: _laughs("name") + t.replace("name: three-tier", "title_: x"), r"aliases expand"),
    Case("laughs-horizon", T, lambda t: _laughs("horizon") + t.replace("horizon: 365d\n", ""), r"aliases expand"),
    Case("laughs-slo", T, lambda t: _laughs("slo") + re.sub(r"(?ms)^slo:.*?(?=^\S|\Z)", "", t), r"aliases expand"),
    Case("laughs-plan", P, lambda t: _laughs("title") + t.replace("title: ", "# title: "), r"aliases expand"),
    Case("self-alias", T, lambda t: t + "\nlabels: &x {a: *x}\n", r"alias \*x refers to no complete anchor"),
    Case("two-documents", T, lambda t: t + "\n---\nname: other\n", r"expected one YAML document"),
    Case("duplicate-key", T, lambda t: t + "\nseed: 8\n", r"^duplicate key 'seed', first defined on line \d+ \(line \d+, column 1\)$"),
    Case("long-unknown-key", T, lambda t: t + "\n" + "k" * 900 + ": 1\n", r"^k{40}\.\.\. \(900 characters\): unknown key$"),
    Case("huge-int-key", T, lambda t: t + f"\n{HUGE}: 1\n", r"unknown key"),
    Case("huge-replicas", T, lambda t: _set(t, "{use1-az1: 2, use1-az2: 2, use1-az3: 2}", f"{{use1-az1: {HUGE}}}"),
         r"services\.web\.replicas\.use1-az1: too large"),
    Case("not-utf8", T, lambda t: t + "\ndescription: \udcff\n", r"not a text file"),
    Case("nul-byte", T, lambda t: t + "\ndescription: a\x00b\n", r"not valid YAML"),
]


def write_case(tmp_path: Path, case: Case) -> tuple[Path, Path, Path]:
    """The case's files: (topology, plan, the hostile one of the two)."""
    topo, plan = tmp_path / "topology.yaml", tmp_path / "plan.yaml"
    topo.write_text(TOPOLOGY.read_text(encoding="utf-8"), encoding="utf-8")
    plan.write_text(PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    target = plan if case.plan else topo
    text = case.edit(target.read_text(encoding="utf-8"))  # type: ignore[operator]
    target.write_bytes(text.encode("utf-8", "surrogateescape"))
    return topo, plan, target


def check_line(line: str, file: Path, says: str) -> None:
    assert line.startswith(f"{file}: "), line
    assert "\n" not in line and "Traceback" not in line
    assert len(line) < 1000, line[:200]
    assert re.search(says, line[len(f"{file}: ") :]), line


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_file_through_the_api(tmp_path, case):
    """The loader refuses each hostile file with one ModelError naming the file."""
    topo, plan, target = write_case(tmp_path, case)
    with pytest.raises(ModelError) as info:
        if case.plan:
            chaos_lib.load_plan(plan)
        else:
            simulator.load(topo)
    check_line(str(info.value), target, case.says)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_file_through_the_cli(tmp_path, case):
    """``failsim validate`` (or ``chaos --dry-run`` for a plan) exits 2 with one line."""
    topo, plan, target = write_case(tmp_path, case)
    args = ["chaos", str(topo), str(plan), "--dry-run"] if case.plan else ["validate", str(topo)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    check_line(lines[0], target, case.says)


def test_hostile_files_in_a_real_process(tmp_path):
    """Every case at once through the installed command: one line each, no traceback."""
    files = []
    for i, case in enumerate(c for c in CASES if not c.plan):
        folder = tmp_path / str(i)
        folder.mkdir()
        files.append(write_case(folder, case)[2])
    proc = subprocess.run([sys.executable, "-m", "simulator", "validate", *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == len(files), proc.stderr[-2000:]
    for line, file in zip(lines, files, strict=True):
        assert line.startswith(f"{file}: "), line


def test_bundled_files_still_load():
    """The hardening refuses nothing the bundled topologies and plans use."""
    for path in sorted((ROOT / "topologies").glob("*.yaml")):
        simulator.load(path)
    for path in sorted((ROOT / "topologies" / "plans").glob("*.yaml")):
        chaos_lib.load_plan(path)


def test_anchors_and_merge_keys_still_work(tmp_path):
    """Plain anchors, aliases and ``<<`` merges load as with ``yaml.safe_load``."""
    text = TOPOLOGY.read_text(encoding="utf-8")
    text = _set(text, "use1-az1: {failure: {mtbf: 1y, mttr: 1h}}", "use1-az1: {failure: &f {mtbf: 1y, mttr: 1h}}")
    text = _set(text, "use1-az2: {failure: {mtbf: 1y, mttr: 1h}}", "use1-az2: {failure: {<<: *f, mttr: 2h}}")
    text = _set(text, "use1-az3: {failure: {mtbf: 1y, mttr: 1h}}", "use1-az3: {failure: *f}")
    path = tmp_path / "anchors.yaml"
    path.write_text(text, encoding="utf-8")
    zones = simulator.load(path).providers["aws"].regions["us-east-1"].zones
    assert zones["use1-az2"].failure.mttr_s == 7200.0
    assert zones["use1-az3"].failure == zones["use1-az1"].failure


def test_timestamps_are_plain_strings(tmp_path):
    """A date-like value is a string, as written (a description may hold one)."""
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.read_text(encoding="utf-8") + "\ndescription: 2024-02-30\n", encoding="utf-8")
    assert simulator.load(path).description == "2024-02-30"


# -- the file itself -----------------------------------------------------------------


def run_cli(*args: object, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_waiting(tmp_path):
    """A FIFO with no writer (or an endless one) is refused at once, unread."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert run_cli("validate", fifo) == f"{fifo}: is a FIFO, expected a topology file (a regular file)"
    plan_line = run_cli("chaos", TOPOLOGY, fifo, "--dry-run")
    assert plan_line == f"{fifo}: is a FIFO, expected a chaos plan file (a regular file)"
    stop = threading.Event()

    def write_forever() -> None:
        try:
            with open(fifo, "w") as fh:  # blocks until a reader opens
                while not stop.is_set():
                    fh.write("a: b\n" * 1000)
        except BrokenPipeError:  # the reader refused it and closed
            return

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        assert run_cli("validate", fifo).endswith("is a FIFO, expected a topology file (a regular file)")
    finally:
        stop.set()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # frees a writer still blocked in open()
        writer.join(timeout=10)
        assert not writer.is_alive()


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_device_is_refused():
    """``/dev/zero`` is a device: refused unread."""
    assert run_cli("validate", "/dev/zero") == "/dev/zero: is a device, expected a topology file (a regular file)"


def test_directory_is_refused(tmp_path):
    """A directory is refused in one line."""
    assert run_cli("validate", tmp_path) == f"{tmp_path}: is a directory, expected a topology file"


def big_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "big.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("name: big\n")
        i = 0
        while fh.tell() < size:
            fh.write("".join(f"k{j}: {j}\n" for j in range(i, i + 1000)))
            i += 1000
    return path


def test_file_over_the_limit_is_refused_before_parsing(tmp_path):
    """A file over the size limit is refused with the setting that raises the limit."""
    path = big_file(tmp_path, DEFAULT_MAX_FILE_BYTES + 1)
    line = run_cli("validate", path)
    assert line == (f"{path}: larger than the 2MiB limit on input files"
                    f" (raise it with --max-file-size or {MAX_FILE_SIZE_ENV}=SIZE)")
    with pytest.raises(ModelError, match="limit on input files"):
        simulator.load(path)


def test_size_limit_can_be_raised(tmp_path, monkeypatch):
    """``--max-file-size`` and the environment variable raise the limit (and lower it)."""
    path = big_file(tmp_path, 100_000)
    assert run_cli("validate", path, env={MAX_FILE_SIZE_ENV: "50KB"}).endswith(
        f"limit on input files (raise it with --max-file-size or {MAX_FILE_SIZE_ENV}=SIZE)")
    monkeypatch.delenv(MAX_FILE_SIZE_ENV, raising=False)
    line = run_cli("--max-file-size", "1MB", "validate", path)
    assert line == f"{path}: k0: unknown key"  # read and parsed: now the content is wrong
    monkeypatch.delenv(MAX_FILE_SIZE_ENV, raising=False)  # the option sets it for workers


def test_bad_size_limit_setting_is_one_line(monkeypatch):
    """A malformed limit is one line naming the variable."""
    line = run_cli("validate", TOPOLOGY, env={MAX_FILE_SIZE_ENV: "lots"})
    assert line == f"{MAX_FILE_SIZE_ENV}: expected a size such as 2MB or 50MiB, got 'lots'"


def test_unreadable_file_is_one_line(tmp_path, monkeypatch):
    """A file that cannot be opened (permissions) is one line, not the CLI framework's
    usage box: the framework no longer checks readability itself."""
    path = tmp_path / "secret.yaml"
    shutil.copy(TOPOLOGY, path)
    path.chmod(0)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # what a non-root user sees
    real_open = os.open

    def refuse(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    try:
        assert run_cli("validate", path) == f"{path}: cannot read: Permission denied"
        assert run_cli("chaos", TOPOLOGY, path, "--dry-run") == f"{path}: cannot read: Permission denied"
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to drop to an unprivileged user")
def test_unreadable_file_in_a_real_process(tmp_path):
    """Run as an unprivileged user, the real permission error is one line."""
    tmp_path.chmod(0o755)
    path = tmp_path / "secret.yaml"
    shutil.copy(TOPOLOGY, path)
    path.chmod(0o600)
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "simulator", "validate", str(path)],
        capture_output=True, text=True, timeout=120, cwd="/",
    )
    if "Permission denied" in proc.stderr and "simulator" in proc.stderr and "Traceback" in proc.stderr:
        pytest.skip("the unprivileged user cannot import failsim here")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"{path}: cannot read: Permission denied"]


@pytest.mark.parametrize(("setting", "says"), [
    ("horizon=2024-02-30,1d", "horizon: variant 'horizon=2024-02-30': expected a duration"),
    ("seed=!!int 0xZZ", "--set.seed: !!int: expected a whole number"),
])
def test_sweep_set_values_are_read_like_files(setting, says):
    """``sweep --set`` values are YAML read the way files are: one line, no traceback."""
    line = run_cli("sweep", TOPOLOGY, "--set", setting, "-n", "2")
    assert says in line, line


@pytest.mark.parametrize("case", [c for c in CASES if not c.plan], ids=lambda c: c.id)
def test_pure_python_parser_gives_the_same_refusals(tmp_path, monkeypatch, case):
    """Without libyaml (PyYAML's pure-Python parser) every case is refused the same way."""
    import yaml

    from simulator.model import yaml_safe

    monkeypatch.setattr(yaml_safe, "_Loader", yaml.SafeLoader)
    topo, _, target = write_case(tmp_path, case)
    with pytest.raises(ModelError) as info:
        simulator.load(topo)
    assert str(info.value).startswith(f"{target}: ") and "\n" not in str(info.value)
