"""Tests of simulator.analysis.executors: the same result whoever ran the replications."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

import simulator
from simulator.analysis.executors import chunks

distributed = pytest.importorskip("dask.distributed")

TOPOLOGIES = Path(__file__).resolve().parents[1] / "topologies"


def priced_flow_model() -> simulator.Topology:
    """A priced model with traffic over 30 days (flow backend), SLA credits and spot."""
    doc = {
        "name": "exec",
        "horizon": "30d",
        "providers": {"aws": {"regions": {"r": {"zones": {"a": {"failure": {"mtbf": "60d", "mttr": "1h"}}, "b": {}}}}}},
        "services": {
            "api": {
                "replicas": {"a": 2, "b": 2}, "workers": 4, "service_time": {"exponential": "20ms"},
                "failure": {"mtbf": "10d", "mttr": "20m"},
                "calls": [{"service": "db", "timeout": "200ms", "retries": 1, "response_bytes": "4KB"}],
            },
            "db": {"replicas": {"a": 1, "b": 1}, "workers": 8, "service_time": {"exponential": "5ms"},
                   "failure": {"mtbf": "20d", "mttr": "30m"}},
        },
        "traffic": [{"entry": "api", "rate": "50/s", "response_bytes": "20KB"}],
        "pricing": {
            "services": {"api": {"hourly": 0.05, "billing": "spot", "spot_interruption_rate": "1/w"}, "db": {"hourly": 0.4}},
            "downtime": {"per_minute": 20, "per_failed_request": 0.001},
            "sla_credits": {"tiers": [{"below": "99.9%", "credit": "10%"}]},
        },
    }
    return simulator.from_dict(doc)


def failure_only(name: str) -> simulator.Topology:
    """A bundled topology without traffic, request targets or repair crews (the fast path)."""
    doc = yaml.safe_load((TOPOLOGIES / name).read_text())
    for key in ("traffic", "repair_crews", "slo"):
        doc.pop(key, None)
    for svc in doc["services"].values():
        svc.pop("slo", None)
    return simulator.from_dict(doc)


@pytest.fixture(scope="module")
def thread_client():
    """A LocalCluster of two worker threads in this process."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def test_chunks_cover_every_replication_once():
    """Whatever the slots and chunk size, chunks are 0..n-1 in order, each once."""
    for n, backend, slots, size in [(10, "engine", 1, None), (1000, "fast", 2, None), (7, "flow", 2, None), (9, "engine", 4, 4)]:
        parts = chunks(n, backend, slots, size)
        assert [i for p in parts for i in p] == list(range(n))


def test_serial_processes_and_dask_give_identical_json(thread_client):
    """serial, 2 local processes and a Dask cluster, with different chunkings: byte-identical JSON."""
    model = priced_flow_model()
    kw = {"replications": 6, "seed": 11}
    serial = simulator.run(model, executor="serial", **kw).to_json()
    assert '"cost": {' in serial
    procs = simulator.run(model, executor="processes", workers=2, chunk_size=2, **kw).to_json()
    dask = simulator.run(model, executor="dask", client=thread_client, **kw).to_json()
    dask_1 = simulator.run(model, executor="dask", client=thread_client, chunk_size=1, **kw).to_json()
    assert serial == procs == dask == dask_1


def test_fast_path_on_dask_is_identical(thread_client):
    """The fast path's chunked summaries give the same JSON on Dask with any chunk size."""
    model = failure_only("quorum-datastore.yaml")
    kw = {"replications": 40, "seed": 3, "horizon": "1y"}
    serial = simulator.run(model, executor="serial", **kw).to_json()
    dask = simulator.run(model, executor="dask", client=thread_client, chunk_size=7, **kw).to_json()
    assert serial == dask


def test_dask_without_scheduler_is_bad_input():
    """--executor dask without a client or scheduler is a one-line ModelError."""
    with pytest.raises(simulator.ModelError, match="scheduler"):
        simulator.run(simulator.load(TOPOLOGIES / "three-tier.yaml"), executor="dask", replications=2)


def test_killed_worker_tasks_are_rerun_with_identical_result():
    """Killing one of two worker processes mid-run: its tasks rerun, the JSON is identical."""
    model = failure_only("three-tier.yaml")
    kw = {"replications": 24, "seed": 5, "horizon": "20y", "backend": "engine"}
    expected = simulator.run(model, executor="serial", **kw).to_json()
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        done: list[int] = []
        out: dict = {}

        def work() -> None:
            try:
                out["json"] = simulator.run(
                    model, executor="dask", client=client, chunk_size=1, progress=lambda d, t: done.append(d), **kw
                ).to_json()
            except BaseException as exc:  # handed to the test thread
                out["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        deadline = time.monotonic() + 60
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = [addr for addr, keys in client.processing().items() if keys]
        victim = busy[0] if busy else next(iter(pids))
        killed_at = len(done)
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert "error" not in out, out.get("error")
        assert killed_at < kw["replications"], "the run ended before the worker was killed"
        assert out["json"] == expected
