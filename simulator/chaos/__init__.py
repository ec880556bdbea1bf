"""Chaos plans: faults injected into a simulated topology, and how it recovers.

>>> import simulator
>>> from simulator import chaos
>>> model = simulator.load("topologies/shop-two-regions.yaml")
>>> plan = chaos.load_plan("topologies/plans/zone-power-loss.yaml")
>>> res = chaos.run_chaos(model, plan, replications=2)      # doctest: +SKIP
>>> res.fault("az1-power")["recover_s"]["p95"]              # doctest: +SKIP
"""

from simulator.chaos.compile import compile_experiment, load_plan, plan_from_dict
from simulator.chaos.results import ChaosResults
from simulator.chaos.run import run_chaos
from simulator.chaos.spec import FAULTS, ChaosPlan

__all__ = ["load_plan", "plan_from_dict", "compile_experiment", "run_chaos", "ChaosPlan", "ChaosResults", "FAULTS"]
