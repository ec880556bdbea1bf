"""What every benchmark script shares: timing and writing its figures."""

from __future__ import annotations

import gc
import json
import math
import platform
import time
from pathlib import Path

# nothing heavy at import: a benchmark may measure memory before it imports failsim


def timed(fn, *args, **kwargs):
    """Wall-clock seconds (the figure used), CPU seconds (for reference) and the result.

    The garbage of whatever ran before is collected first, so no side pays for another's
    objects in its own garbage collections.
    """
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, time.process_time() - cpu, out


def _plain(x):
    value = float(x)
    return value if math.isfinite(value) else None


def write_figures(path: Path, figures: dict, **versions: str) -> None:
    """Write ``figures`` as JSON with the versions and machine they were measured on."""
    import numpy as np

    import simulator

    figures = {
        **figures,
        "versions": {
            "failsim": simulator.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            **versions,
        },
        "machine": platform.machine(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=_plain) + "\n")
    print(f"figures written to {path}")
