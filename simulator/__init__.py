"""failsim: a discrete-event reliability and failure-mode simulator for infrastructure.

>>> import simulator
>>> model = simulator.load("topologies/three-tier.yaml")
>>> results = simulator.run(model, replications=20, seed=7)
>>> print(results.summary())  # doctest: +SKIP
"""

from simulator._version import __version__
from simulator.analysis.runner import run
from simulator.analysis.sweep import sweep
from simulator.analysis.sweep_results import SweepResults
from simulator.errors import ModelError, SimulatorError
from simulator.model.loader import from_dict, load
from simulator.model.spec import Topology
from simulator.results import Results

#: The model type; ``simulator.load`` returns one.
Model = Topology

__all__ = [
    "__version__",
    "Model",
    "ModelError",
    "Results",
    "SimulatorError",
    "SweepResults",
    "Topology",
    "from_dict",
    "load",
    "run",
    "sweep",
]
