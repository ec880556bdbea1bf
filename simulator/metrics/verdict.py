"""The verdict on a target from a calibrated interval (pure function).

A target is ``met`` only when the whole 95 % interval is on its good side and
``missed`` only when the whole interval is on its bad side, so a verdict is wrong at
most as often as the interval misses the truth on that side (2.5 %). A bound the data
cannot give (``None``) never decides.
"""

from __future__ import annotations

from simulator.metrics.stats import Estimate

__all__ = ["VERDICTS", "verdict"]

VERDICTS = ("met", "missed", "inconclusive")


def verdict(target: float, est: Estimate, higher_is_better: bool) -> str:
    """``met``, ``missed`` or ``inconclusive`` for ``est`` against ``target``.

    Examples
    --------
    >>> verdict(0.999, Estimate(0.9995, 0.9992, 0.9998, 20), higher_is_better=True)
    'met'
    >>> verdict(0.999, Estimate(0.9995, 0.9985, 0.9998, 20), higher_is_better=True)
    'inconclusive'
    """
    if est.mean is None:
        return "inconclusive"
    good, bad = (est.lo, est.hi) if higher_is_better else (est.hi, est.lo)
    if good is not None and (good >= target if higher_is_better else good <= target):
        return "met"
    if bad is not None and (bad < target if higher_is_better else bad > target):
        return "missed"
    return "inconclusive"
