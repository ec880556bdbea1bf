"""Probability distributions of durations (times to failure, repair, service).

A distribution is written as a one-key mapping naming its family::

    {exponential: {mean: 30d}}          # or {exponential: 30d}
    {weibull: {shape: 0.8, scale: 3y}}
    {lognormal: {median: 2h, sigma: 1.0}}   # or {median: 20ms, p99: 150ms}
    {gamma: {shape: 2, mean: 4h}}
    {uniform: {low: 1h, high: 3h}}
    {fixed: 10m}                        # or a bare duration: 10m
    {empirical: [5m, 7m, 30m, 2h]}      # resampled with replacement

Each spec knows its mean and variance (used by analytic formulas and the ``flow``
backend) and samples with a caller-supplied ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Union

import numpy as np
from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError
from scipy import special

from simulator.errors import short_repr
from simulator.model.base import DURATION_SCHEMA, Duration, OrAlso, PositiveDuration, Spec, suggest

__all__ = [
    "Dist",
    "DIST_FAMILIES",
    "Exponential",
    "Weibull",
    "LogNormal",
    "Gamma",
    "Uniform",
    "Fixed",
    "Empirical",
    "exponential",
    "fixed",
]

#: Largest lognormal sigma: exp(sigma**2) times a squared duration must stay a float
#: (real service and repair times have sigma below 3).
MAX_SIGMA = 10.0
#: z-score of the 99th percentile of the standard normal distribution.
_Z99 = 2.3263478740408408


class _ExponentialParams(Spec):
    mean_s: PositiveDuration = Field(alias="mean", description="mean duration")


class _WeibullParams(Spec):
    shape: float = Field(ge=0.05, le=100, description="shape k (< 1: infant mortality, > 1: wear-out)")
    scale_s: PositiveDuration = Field(alias="scale", description="scale (characteristic life)")


class _LogNormalParams(Spec):
    median_s: PositiveDuration = Field(alias="median")
    sigma: float | None = Field(default=None, gt=0, le=MAX_SIGMA, description="sigma of the log")
    p99_s: PositiveDuration | None = Field(default=None, alias="p99", description="99th percentile")

    @model_validator(mode="after")
    def _one_spread(self) -> _LogNormalParams:
        if (self.sigma is None) == (self.p99_s is None):
            raise PydanticCustomError("spread", "give exactly one of 'sigma' or 'p99' next to 'median'")
        if self.p99_s is not None and self.p99_s <= self.median_s:
            raise PydanticCustomError("spread", "'p99' must be greater than 'median'")
        if self.p99_s is not None and self.sigma_value > MAX_SIGMA:
            raise PydanticCustomError(
                "spread", f"'p99' is too far above 'median' (a sigma above {MAX_SIGMA}: the mean would overflow)"
            )
        return self

    @property
    def sigma_value(self) -> float:
        if self.sigma is not None:
            return self.sigma
        return math.log(self.p99_s / self.median_s) / _Z99  # type: ignore[operator]


class _GammaParams(Spec):
    shape: float = Field(ge=0.01, le=1e6)
    mean_s: PositiveDuration = Field(alias="mean")


class _UniformParams(Spec):
    low_s: Duration = Field(alias="low")
    high_s: PositiveDuration = Field(alias="high")

    @model_validator(mode="after")
    def _ordered(self) -> _UniformParams:
        if self.low_s > self.high_s:
            raise PydanticCustomError("order", "'low' must not exceed 'high'")
        return self


class _FixedParams(Spec):
    value_s: PositiveDuration = Field(alias="value")


class _EmpiricalParams(Spec):
    samples_s: tuple[PositiveDuration, ...] = Field(alias="samples", min_length=1)


class _Dist(Spec):
    """A one-key mapping ``{family: params}``; subclasses define ``family``."""

    family: ClassVar[str]

    @property
    def params(self) -> Any:
        return getattr(self, self.family)

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def scv(self) -> float:
        """Squared coefficient of variation (1 for exponential)."""
        return self.variance / self.mean**2

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF: the values (seconds) at probabilities ``u`` in (0, 1)."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values in seconds from a numpy generator (by inverse transform)."""
        return self.ppf(rng.random(size))

    def describe(self) -> str:
        from simulator.units import format_duration

        return f"{self.family}(mean {format_duration(self.mean)})"


class Exponential(_Dist):
    family: ClassVar[str] = "exponential"
    exponential: _ExponentialParams

    @property
    def mean(self) -> float:
        return self.exponential.mean_s

    @property
    def variance(self) -> float:
        return self.exponential.mean_s**2

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return -self.exponential.mean_s * np.log1p(-u)

class Weibull(_Dist):
    family: ClassVar[str] = "weibull"
    weibull: _WeibullParams

    @property
    def mean(self) -> float:
        p = self.weibull
        return p.scale_s * math.gamma(1 + 1 / p.shape)

    @property
    def variance(self) -> float:
        p = self.weibull
        return p.scale_s**2 * (math.gamma(1 + 2 / p.shape) - math.gamma(1 + 1 / p.shape) ** 2)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        p = self.weibull
        return p.scale_s * (-np.log1p(-u)) ** (1.0 / p.shape)

class LogNormal(_Dist):
    family: ClassVar[str] = "lognormal"
    lognormal: _LogNormalParams

    @property
    def mean(self) -> float:
        return self.lognormal.median_s * math.exp(self.lognormal.sigma_value**2 / 2)

    @property
    def variance(self) -> float:
        s2 = self.lognormal.sigma_value**2
        return (math.exp(s2) - 1) * self.lognormal.median_s**2 * math.exp(s2)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        p = self.lognormal
        return p.median_s * np.exp(p.sigma_value * special.ndtri(u))

class Gamma(_Dist):
    family: ClassVar[str] = "gamma"
    gamma: _GammaParams

    @property
    def mean(self) -> float:
        return self.gamma.mean_s

    @property
    def variance(self) -> float:
        return self.gamma.mean_s**2 / self.gamma.shape

    def ppf(self, u: np.ndarray) -> np.ndarray:
        p = self.gamma
        return special.gammaincinv(p.shape, u) * (p.mean_s / p.shape)

class Uniform(_Dist):
    family: ClassVar[str] = "uniform"
    uniform: _UniformParams

    @property
    def mean(self) -> float:
        return (self.uniform.low_s + self.uniform.high_s) / 2

    @property
    def variance(self) -> float:
        return (self.uniform.high_s - self.uniform.low_s) ** 2 / 12

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.uniform.low_s + (self.uniform.high_s - self.uniform.low_s) * u

class Fixed(_Dist):
    family: ClassVar[str] = "fixed"
    fixed: _FixedParams

    @property
    def mean(self) -> float:
        return self.fixed.value_s

    @property
    def variance(self) -> float:
        return 0.0

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.fixed.value_s)

class Empirical(_Dist):
    family: ClassVar[str] = "empirical"
    empirical: _EmpiricalParams

    @property
    def mean(self) -> float:
        return float(np.mean(self.empirical.samples_s))

    @property
    def variance(self) -> float:
        return float(np.var(self.empirical.samples_s))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        samples = np.asarray(self.empirical.samples_s)
        return samples[np.minimum((u * len(samples)).astype(np.intp), len(samples) - 1)]

_CLASSES = {c.family: c for c in (Exponential, Weibull, LogNormal, Gamma, Uniform, Fixed, Empirical)}
DIST_FAMILIES: tuple[str, ...] = tuple(_CLASSES)
# The value a family's params take when written without their mapping, e.g. {fixed: 10m}.
_SHORT_PARAM = {"exponential": "mean", "fixed": "value", "empirical": "samples"}
_TAG_PREFIX = "dist:"


def _family_of(value: Any) -> str | None:
    if isinstance(value, _Dist):
        return _TAG_PREFIX + value.family
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in _CLASSES:
            return _TAG_PREFIX + key
    return None


def _normalise(value: Any) -> Any:
    """Accept the short forms (a bare duration, ``{exponential: 30d}``) and explain bad ones."""
    if isinstance(value, _Dist):
        return value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {"fixed": {"value": value}}
    if not isinstance(value, dict) or len(value) != 1:
        raise PydanticCustomError(
            "distribution",
            "expected a distribution: a one-key mapping such as {exponential: {mean: 30d}}"
            " with a family among " + ", ".join(DIST_FAMILIES),
        )
    ((family, params),) = value.items()
    if family not in _CLASSES:
        raise PydanticCustomError(
            "distribution",
            f"unknown distribution {short_repr(family)}{suggest(family, DIST_FAMILIES)}; expected one of "
            + ", ".join(DIST_FAMILIES),
        )
    if family in _SHORT_PARAM and not isinstance(params, dict):
        return {family: {_SHORT_PARAM[family]: params}}
    return value


def _validate_dist(value: Any) -> Any:
    return _normalise(value)


_TAGGED = tuple(Annotated[c, Tag(_TAG_PREFIX + f)] for f, c in _CLASSES.items())

#: Any supported distribution; validated from the one-key mapping form.
Dist = Annotated[
    Union[_TAGGED],  # type: ignore[valid-type]  # noqa: UP007 - built from a tuple
    Discriminator(_family_of),
    BeforeValidator(_validate_dist),
    OrAlso(
        {**DURATION_SCHEMA, "description": "a fixed duration"},
        {
            "type": "object",
            "description": "short forms: {exponential: MEAN}, {fixed: VALUE}, {empirical: [SAMPLES]}",
            "properties": {
                "exponential": DURATION_SCHEMA,
                "fixed": DURATION_SCHEMA,
                "empirical": {"type": "array", "items": DURATION_SCHEMA, "minItems": 1},
            },
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
        },
    ),
]


def exponential(mean_s: float) -> Exponential:
    """An exponential distribution with the given mean in seconds."""
    return Exponential(exponential=_ExponentialParams(mean=mean_s))


def fixed(value_s: float) -> Fixed:
    """A constant duration in seconds."""
    return Fixed(fixed=_FixedParams(value=value_s))
