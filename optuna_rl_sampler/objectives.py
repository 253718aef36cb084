"""From a study's objective values and constraints to the one score a proposal ranks.

The proposal step (:func:`~optuna_rl_sampler.proposal.propose`) ranks trials by one
number, higher is better, and only the order of those numbers matters (it turns them
into normal scores of their ranks). This module makes that number:

* **Directions**: every objective is turned to "higher is better".
* **Several objectives** (ParEGO; Knowles, 2006): each objective is rescaled to [0, 1]
  over the observed trials, and the trial's own random weight vector ``w``, drawn
  uniformly from the simplex, scalarises them with the augmented Chebyshev function
  ``min_k w_k f_k + rho * sum_k w_k f_k`` (``rho = 0.05``). A new weight vector for
  every trial aims every proposal at a different part of the Pareto front, so the
  front fills in over the study while the policy keeps seeing a single-objective
  problem, with the same features it was trained on.
* **Constraints** (Optuna's convention: a trial is feasible when every constraint value
  is ``<= 0``): infeasible trials rank below every feasible one, ordered among
  themselves by their total violation ``sum_k max(c_k, 0)``. Feasibility thus reaches
  the policy through the surrogate that its features are computed from: the GP models
  "good and feasible", its mean and expected improvement are low where the study has
  found violations, and the incumbents around which local candidates are drawn are
  feasible ones.

Pure numerics: no Study, no storage.

SHAPES (n trials, k objectives, c constraints):
    values: (n, k) higher is better; violations: (n,) >= 0; scores: (n,)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "CHEBYSHEV_RHO",
    "apply_constraints",
    "chebyshev",
    "constraint_values",
    "draw_simplex_weights",
    "total_violation",
]

#: Weight of the linear term of the augmented Chebyshev scalarisation (ParEGO's value).
CHEBYSHEV_RHO = 0.05
_CONSTRAINTS_KEY = "constraints"


def draw_simplex_weights(k: int, rng: np.random.Generator) -> np.ndarray:
    """A weight vector drawn uniformly from the ``k``-simplex (``Dirichlet(1, ..., 1)``).

    Example:
        >>> import numpy as np
        >>> w = draw_simplex_weights(3, np.random.default_rng(0))
        >>> w.shape, bool(np.isclose(w.sum(), 1.0)), bool((w >= 0).all())
        ((3,), True, True)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1 objective, got {k}.")
    return rng.dirichlet(np.ones(k))


def chebyshev(values: np.ndarray, weights: np.ndarray, rho: float = CHEBYSHEV_RHO) -> np.ndarray:
    """Augmented Chebyshev scalarisation of ``(n, k)`` values (higher is better).

    Each column is min-max rescaled to [0, 1] over its finite entries (a constant column
    becomes 0). ``-inf`` rows (pruned trials) stay ``-inf``; NaN entries make the row
    NaN.

    Args:
        values: ``(n, k)`` objective values, every column higher-is-better.
        weights: ``(k,)`` non-negative weights.
        rho: Weight of the linear term.

    Returns:
        ``(n,)`` scores, higher is better.

    Example:
        >>> import numpy as np
        >>> v = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])  # two ends and a knee
        >>> s = chebyshev(v, np.array([0.5, 0.5]))
        >>> int(np.argmax(s))  # the balanced weights prefer the knee
        2
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(weights):
        raise ValueError(
            f"values must be (n, {len(weights)}) for {len(weights)} weights, got shape "
            f"{values.shape}."
        )
    out = np.full(len(values), -np.inf)
    if len(values) == 0:
        return out
    pruned = np.isneginf(values).any(axis=1)
    finite = np.where(np.isfinite(values), values, np.nan)
    low, high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
    low = np.where(np.isfinite(low), low, 0.0)
    span = np.where(np.isfinite(high) & (high > low), high - low, 1.0)
    scaled = np.where(pruned[:, None], 0.0, (values - low) / span)
    weighted = scaled * np.asarray(weights, dtype=float)
    score = weighted.min(axis=1) + rho * weighted.sum(axis=1)
    out[~pruned] = score[~pruned]
    return out


def total_violation(constraints: np.ndarray) -> np.ndarray:
    """``(n,)`` total violation ``sum_k max(c_k, 0)`` of ``(n, c)`` constraint values
    (0 for a feasible trial; NaN where a value is NaN)."""
    constraints = np.asarray(constraints, dtype=float)
    if constraints.ndim == 1:
        constraints = constraints[:, None]
    return np.clip(constraints, 0.0, None).sum(axis=1)


def apply_constraints(scores: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """Scores in which every infeasible trial ranks below every feasible one.

    Args:
        scores: ``(n,)`` scores, higher is better (``-inf`` for pruned trials).
        violations: ``(n,)`` total violation of each trial (0 feasible, ``> 0``
            infeasible, NaN unknown: a trial without constraint values counts as
            feasible, as in Optuna).

    Returns:
        ``(n,)`` scores with the same order among feasible trials and, below them, the
        infeasible ones ordered by violation (least violation first).

    Example:
        >>> import numpy as np
        >>> apply_constraints(np.array([3.0, 5.0, 4.0]), np.array([0.0, 2.0, 0.5])).tolist()
        [3.0, 0.0, 1.5]
    """
    scores = np.asarray(scores, dtype=float)
    violations = np.nan_to_num(np.asarray(violations, dtype=float), nan=0.0)
    infeasible = violations > 0
    if not infeasible.any():
        return scores.copy()
    out = scores.copy()
    feasible_scores = scores[~infeasible & np.isfinite(scores)]
    floor = float(feasible_scores.min()) if len(feasible_scores) else 0.0
    out[infeasible] = floor - 1.0 - violations[infeasible]
    return out


def constraint_values(system_attrs: Mapping[str, Any]) -> list[float] | None:
    """A trial's constraint values from its system attributes, or ``None`` if it has none.

    Reads both of Optuna's layouts: the list stored under ``"constraints"`` by samplers'
    ``constraints_func`` and one ``"constraints:NAME"`` key per value.
    """
    values: list[float] = []
    listed = system_attrs.get(_CONSTRAINTS_KEY)
    if isinstance(listed, (list, tuple)):
        values.extend(float(v) for v in listed)
    prefix = f"{_CONSTRAINTS_KEY}:"
    for key in sorted(system_attrs):
        if key.startswith(prefix):
            values.append(float(system_attrs[key]))
    return values if values or isinstance(listed, (list, tuple)) else None
