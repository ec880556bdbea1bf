"""failsim: a discrete-event reliability and failure-mode simulator for infrastructure.

>>> import simulator
>>> model = simulator.load("topologies/three-tier.yaml")
>>> results = simulator.run(model, replications=20, seed=7)
>>> print(results.summary())  # doctest: +SKIP
"""

from importlib import import_module
from typing import TYPE_CHECKING

from simulator._version import __version__

if TYPE_CHECKING:
    from simulator.analysis.runner import run
    from simulator.analysis.sweep import sweep
    from simulator.analysis.sweep_results import SweepResults
    from simulator.errors import ModelError, SimulatorError
    from simulator.model.loader import from_dict, load
    from simulator.model.spec import Topology
    from simulator.model.spec import Topology as Model  # the model type; ``simulator.load`` returns one
    from simulator.results import Results

# Re-exports are imported when first used, so that ``failsim`` handles Ctrl-C from its
# first milliseconds (simulator.interrupt) and ``failsim --help`` starts quickly.
_EXPORTS = {
    "run": ("simulator.analysis.runner", "run"),
    "sweep": ("simulator.analysis.sweep", "sweep"),
    "SweepResults": ("simulator.analysis.sweep_results", "SweepResults"),
    "ModelError": ("simulator.errors", "ModelError"),
    "SimulatorError": ("simulator.errors", "SimulatorError"),
    "from_dict": ("simulator.model.loader", "from_dict"),
    "load": ("simulator.model.loader", "load"),
    "Topology": ("simulator.model.spec", "Topology"),
    "Model": ("simulator.model.spec", "Topology"),
    "Results": ("simulator.results", "Results"),
}


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
