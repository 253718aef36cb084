"""The one-thread BLAS limit under which :class:`~optuna_rl_sampler.RLSampler` proposes.

A proposal's linear algebra is small and dense (a GP on at most a few hundred trials,
a few hundred candidates): on one thread it is faster than on every core, and it does
not oversubscribe the cores that parallel workers and the objective share.
"""

from __future__ import annotations

from typing import Any

__all__ = ["one_blas_thread"]

_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """A context limiting BLAS to one thread (small dense algebra is faster that way).

    threadpoolctl's controller scans the process's loaded libraries when it is built,
    which costs milliseconds; it is built once per process and reused. It holds nothing
    about any study. SciPy's linear algebra brings its own BLAS, loaded on first import:
    it is imported before the scan, or the controller would not know it and the GP's
    Cholesky factorisations would run on every core (beside two busy processes on two
    cores a proposal at 1,000 trials took 36-133 ms instead of 13).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg  # noqa: F401 - load SciPy's BLAS before the controller scans
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
