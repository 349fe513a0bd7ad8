"""Benchmarks measured as on a reader's machine, and saying which BLAS ran.

Some build environments set ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` for old
OpenBLAS builds; today's NumPy wheels then run a slower kernel than a reader's laptop
would (several times slower on the course's build machine). OpenBLAS reads both once,
when NumPy loads it, so a benchmark calls :func:`unset_build_overrides` before it
imports NumPy: the variables are removed from its own process (if NumPy is loaded
already, the script is started again without them). Tests and CI never do this.
"""

from __future__ import annotations

import os
import sys

BUILD_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_REMOVED_BEFORE_EXEC = "COURSE_BENCHMARK_REMOVED"   # tells the re-executed script what it removed


def unset_build_overrides() -> list[str]:
    """Remove :data:`BUILD_OVERRIDES` from this process before NumPy loads OpenBLAS.
    Returns the names that were set; re-executes the script if NumPy is already loaded."""
    found = [name for name in BUILD_OVERRIDES if name in os.environ]
    for name in found:
        del os.environ[name]   # also unsets it for C's getenv and for child processes
    if found and "numpy" in sys.modules:
        os.environ[_REMOVED_BEFORE_EXEC] = ",".join(found)
        os.execv(sys.executable, sys.orig_argv)
    earlier = os.environ.pop(_REMOVED_BEFORE_EXEC, "")
    return found or [name for name in earlier.split(",") if name]


def blas_description() -> str:
    """Which BLAS library, kernel ("architecture") and thread count NumPy uses now."""
    from threadpoolctl import threadpool_info

    pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    if not pools:
        return "BLAS: none found by threadpoolctl"
    return "; ".join(f"BLAS: {pool['internal_api']} {pool.get('version')}, kernel "
                     f"{pool.get('architecture', 'unknown')}, {pool['num_threads']} threads" for pool in pools)


def announce(removed: list[str]) -> None:
    """Print what was removed from the environment and which BLAS runs."""
    print(f"removed {', '.join(removed)} from this benchmark's environment (as on a reader's machine)"
          if removed else f"{', '.join(BUILD_OVERRIDES)}: not set, nothing removed")
    print(blas_description())
