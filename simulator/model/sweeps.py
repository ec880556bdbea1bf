"""The ``sweep:`` section: variants of a topology, as a grid or a list of named edits.

A *path* names one key of the topology document: ``services.api.replicas.use1-az1``,
``traffic[0].rate``; ``[*]`` stands for every element of a list
(``traffic[*].rate``). A value replaces the key's value; a value written ``x10``
(or ``*10``) multiplies the current number (a growth scenario:
``traffic[*].rate: [x1, x10, x100]``). Paths are resolved, and every variant
validated, when the sweep is built (:mod:`simulator.analysis.sweep`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from simulator.model.base import Name, Spec

__all__ = ["VariantSpec", "SweepSpec", "UNPAIRED", "unpaired"]

#: Keys a sweep cannot change: variants are compared replication by replication, on the
#: same seeds, so they must run the same replications with the same root seed.
UNPAIRED = {
    "replications": "a sweep compares variants replication by replication, so they all run the same "
                    "replications (set them for every variant with -n / replications=)",
    "seed": "a sweep compares variants on common random numbers, so they all run with the same seed "
            "(set it for every variant with --seed / seed=)",
}


def unpaired(path: str) -> str | None:
    """Why a sweep cannot set ``path`` (its first key is in :data:`UNPAIRED`), or None."""
    return UNPAIRED.get(re.split(r"[.\[]", path.strip(), maxsplit=1)[0])


class VariantSpec(Spec):
    """One named variant: the keys it changes."""

    name: Name
    set: dict[str, Any] = Field(default_factory=dict, description="path -> value")


class SweepSpec(Spec):
    """Either a ``grid`` (every combination of the values) or a list of ``variants``."""

    grid: dict[str, tuple[Any, ...]] = Field(default_factory=dict, description="path -> values")
    variants: tuple[VariantSpec, ...] = ()
    baseline: Name | None = Field(default=None, description="the variant others are compared with; default: the first")

    @model_validator(mode="after")
    def _one_kind(self) -> SweepSpec:
        if bool(self.grid) == bool(self.variants):
            raise PydanticCustomError("sweep", "give exactly one of 'grid' or 'variants'")
        for path, values in self.grid.items():
            if not values:
                raise PydanticCustomError("sweep", f"'grid.{path}' has no values")
        for path in [*self.grid, *(p for v in self.variants for p in v.set)]:
            if (why := unpaired(path)) is not None:
                raise PydanticCustomError("sweep", f"cannot sweep '{path}': {why}")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise PydanticCustomError("sweep", "two variants have the same name")
        if self.variants and self.baseline is not None and self.baseline not in names:
            raise PydanticCustomError("sweep", f"baseline {self.baseline!r} is not one of the variants")
        return self
