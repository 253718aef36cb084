"""From a study's objective values and constraints to the one score a proposal ranks.

The proposal step (:func:`~optuna_rl_sampler.proposal.propose`) ranks trials by one
number, higher is better, and only the order of those numbers matters (it turns them
into normal scores of their ranks). This module makes that number:

* **Directions**: every objective is turned to "higher is better".
* **Several objectives** (ParEGO; Knowles, 2006): the trial's own random weight vector
  ``w``, drawn uniformly from the simplex, scalarises the objectives with the augmented
  Chebyshev function ``min_k w_k a_k + rho * sum_k w_k a_k`` (``rho = 0.05``), where
  ``a_k`` is objective ``k`` measured from a reference point and divided by a scale. A
  new weight vector for every trial aims every proposal at a different part of the
  Pareto front, so the front fills in over the study while the policy keeps seeing a
  single-objective problem, with the same features it was trained on.
* **Early in a two-objective study** (its first 30 trials, once a trial is feasible) the
  trials are scored by their hypervolume utility instead
  (:mod:`optuna_rl_sampler.hypervolume`), measured with this module's scales.
* **The scale is the Pareto front's**, not the range over all trials: each objective is
  divided by the extent of the current front (ideal to nadir, over the feasible trials
  when there are any), floored at a quarter of its range over all trials, and measured
  from a reference point one such extent beyond the front's nadir. With the range over
  all trials, a few far-off trials squeeze the front's differences in one objective
  (ZDT2's second objective spans about 7 over the trials and 1 along the front), so the
  weights aimed almost every proposal at the end of the front where the other objective
  is best and the front collapsed there (ZDT2: HV 0.825, its far half never reached).
  On the multi-objective benchmark's development seeds (5-14, ten problems, RLSampler
  alone) the front's scale changed the mean hypervolume by -0.001 [-0.015, +0.014] at 25
  trials, +0.012 [-0.003, +0.030] at 50 and +0.020 [+0.007, +0.034] at 100, and the
  front reached its far end (f1 > 0.95) on ZDT1 on 6 of 10 seeds (before 2) and on ZDT2
  on 5 (before 0). Tried there and not kept: no floor (HV@25 -0.008), ParEGO's
  distance-to-the-ideal form with the front's scale (reaches the far ends more often but
  HV@25 -0.022, -0.15 on the two-tower problem) and a random choice between the two
  forms per trial (+0.004 / +0.004 / +0.012).
* **No linear term while the front has collapsed** onto one end
  (:func:`front_augmentation`): with ``rho = 0.05`` a study crowded at the corner of a
  concave front (ZDT2's ``f1 = 0``) scores no step along the front above the corner for
  any weights, since the step gains second-order amounts in one objective and the linear
  term charges its first-order loss in the other. ZDT2's hypervolume at 100 trials on
  the development seeds 5-24: 0.838 -> 0.881 (GPSampler's: 0.878 on seeds 0-2).
* **Constraints** (Optuna's convention: a trial is feasible when every constraint value
  is ``<= 0``): an infeasible trial scores at most as well as the best feasible one,
  less a penalty that grows with its total violation ``sum_k max(c_k, 0)`` (see
  :func:`apply_constraints`). The best trial is always feasible, badly infeasible
  trials sink to the bottom, and trials just over the boundary of the feasible region
  keep a good score when their objective is good. Feasibility thus reaches the policy
  through the surrogate that its features are computed from: the GP models "good and
  feasible", low where the study found large violations and rising towards the
  boundary, where constrained optima usually lie. (Ranking every infeasible trial below
  every feasible one instead made the surrogate fall off a cliff at the boundary: on
  the Gramacy problem the best feasible regret after 50 trials was 0.17 against 0.07,
  and on C2-DTLZ2 the search stayed on the first feasible arc it found.) Once a trial is
  feasible the candidates are scored with GPs on the objectives and on the violation,
  and each posterior sample pays this same penalty
  (:class:`~optuna_rl_sampler.scalarised_gp.ScalarisedPosterior`).

Pure numerics: no Study, no storage.

SHAPES (n trials, k objectives, c constraints):
    values: (n, k) higher is better; violations: (n,) >= 0; scores: (n,)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

import numpy as np

__all__ = [
    "CHEBYSHEV_RHO",
    "COLLAPSED_FRONT",
    "FRONT_SCALE_FLOOR",
    "apply_constraints",
    "chebyshev",
    "chebyshev_scaled",
    "compress",
    "constraint_values",
    "FrontGeometry",
    "draw_simplex_weights",
    "front_augmentation",
    "front_geometry",
    "front_scale",
    "pareto_mask",
    "total_violation",
]

#: Weight of the linear term of the augmented Chebyshev scalarisation (ParEGO's value).
CHEBYSHEV_RHO = 0.05
#: Smallest scale of an objective in :func:`front_scale`, as a share of its range over
#: all trials (keeps a front of two nearly equal trials from magnifying noise).
FRONT_SCALE_FLOOR = 0.25
#: A Pareto front whose extent in some objective is below this share of that
#: objective's scale in :func:`front_scale` (1/16 of its range over all trials with the
#: default floor) has collapsed onto one end, and :func:`front_augmentation` drops the
#: linear term.
COLLAPSED_FRONT = 0.25
_CONSTRAINTS_KEY = "constraints"


def compress(a: np.ndarray) -> np.ndarray:
    """Identity at and above 0 (the reference point), ``-log(1 - a)`` below it.

    Example:
        >>> import numpy as np
        >>> compress(np.array([1.5, 0.0, -np.e + 1])).round(3).tolist()
        [1.5, 0.0, -1.0]
    """
    a = np.asarray(a, dtype=float)
    return np.where(a >= 0.0, a, -np.log1p(-np.minimum(a, 0.0)))


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


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """``(n,)`` mask of the rows of ``(n, k)`` values (higher is better) that no other row
    dominates (at least as good in every column and better in one). Duplicates of a
    non-dominated row are all kept.

    Example:
        >>> import numpy as np
        >>> pareto_mask(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4]])).tolist()
        [True, True, True, False]
    """
    values = np.asarray(values, dtype=float)
    keep = np.ones(len(values), dtype=bool)
    # Largest sum first: a row's dominators have larger sums, so they have removed it
    # before its turn, and only the front's rows are ever compared with all the others
    # (about 1 ms at 1,000 trials, where comparing every row took 60).
    for i in np.argsort(-values.sum(axis=1), kind="stable"):
        if keep[i]:
            keep &= ~((values <= values[i]).all(axis=1) & (values < values[i]).any(axis=1))
    return keep


class FrontGeometry(NamedTuple):
    """How :func:`chebyshev` measures the objectives of a set of trials
    (:func:`front_geometry`).

    Attributes:
        reference: ``(k,)`` the reference point (:func:`front_scale`).
        scale: ``(k,)`` the scale of each objective (:func:`front_scale`).
        rho: The weight of the linear term (:func:`front_augmentation`).
    """

    reference: np.ndarray
    scale: np.ndarray
    rho: float


def front_geometry(
    values: np.ndarray,
    feasible: np.ndarray | None = None,
    floor: float = FRONT_SCALE_FLOOR,
    rho: float = CHEBYSHEV_RHO,
) -> FrontGeometry:
    """The reference point, scales and linear-term weight of :func:`front_scale` and
    :func:`front_augmentation`, from one pass over the Pareto front.

    Example:
        >>> import numpy as np
        >>> g = front_geometry(np.array([[0.0, -1.0], [-1.0, 0.0], [-9.0, -9.0]]))
        >>> g.reference.tolist(), g.scale.tolist(), g.rho
        ([-3.25, -3.25], [2.25, 2.25], 0.05)
    """
    values = np.asarray(values, dtype=float)
    k = values.shape[1]
    finite = np.isfinite(values).all(axis=1)
    if not finite.any():
        return FrontGeometry(np.zeros(k), np.ones(k), rho)
    rows = values[finite]
    spread = rows.max(axis=0) - rows.min(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    pool = finite & feasible if feasible is not None and (finite & feasible).any() else finite
    front = values[pool][pareto_mask(values[pool])]
    ideal, nadir = front.max(axis=0), front.min(axis=0)
    extent = ideal - nadir
    scale = np.where(extent > 0, np.maximum(extent, floor * spread), spread)
    collapsed = float((extent / scale).min()) < COLLAPSED_FRONT
    return FrontGeometry(nadir - scale, scale, 0.0 if collapsed else rho)


def front_scale(
    values: np.ndarray, feasible: np.ndarray | None = None, floor: float = FRONT_SCALE_FLOOR
) -> tuple[np.ndarray, np.ndarray]:
    """The reference point and scale that :func:`chebyshev` measures objectives with.

    The scale of each objective is the extent of the Pareto front of the finite rows
    (of the feasible ones when ``feasible`` marks any), at least ``floor`` times the
    objective's range over all finite rows (the whole range when the front has no
    extent in it, 1 when every row has the same value). The reference point lies one
    scale below the front's worst value (its nadir), so every front trial is at least
    one scale above it in every objective.

    Args:
        values: ``(n, k)`` objective values, every column higher-is-better; rows with a
            non-finite entry are left out.
        feasible: Optional ``(n,)`` mask of the feasible rows.
        floor: The smallest scale, as a share of the range over all finite rows.

    Returns:
        ``(reference, scale)``, each ``(k,)``.

    Example:
        >>> import numpy as np
        >>> v = np.array([[0.0, -1.0], [-1.0, 0.0], [-9.0, -9.0]])  # front: two trials
        >>> ref, scale = front_scale(v)
        >>> ref.tolist(), scale.tolist()  # front extent 1, floored at 0.25 x range 9
        ([-3.25, -3.25], [2.25, 2.25])
    """
    geometry = front_geometry(values, feasible, floor)
    return geometry.reference, geometry.scale


def front_augmentation(
    values: np.ndarray,
    feasible: np.ndarray | None = None,
    floor: float = FRONT_SCALE_FLOOR,
    rho: float = CHEBYSHEV_RHO,
) -> float:
    """The weight of the linear term of :func:`chebyshev` for these trials: ``rho``, or 0
    while the Pareto front has collapsed onto one end.

    The front has collapsed when its extent in some objective is below
    :data:`COLLAPSED_FRONT` times that objective's scale (:func:`front_scale`; no
    extent at all counts). Trials crowded at one end of a concave front (ZDT2's
    ``f1 = 0`` corner) are the case: a step along the front gains only second-order
    amounts in the other objective, while the linear term charges the first-order loss
    in the objective the front is best in, so with it no weight vector scores any
    point of the front above the corner, and the study never leaves it. Without the
    linear term every point of the front scores above the corner for the weights aimed
    at it. A front with some extent in every objective keeps ``rho``, which keeps
    weakly dominated trials below the trials that dominate them.

    On the multi-objective benchmark's development seeds (5-24, ten problems,
    RLSampler alone, paired by problem and seed) dropping the term on a collapsed front
    raised ZDT2's hypervolume at 100 trials by +0.043 [+0.031, +0.055] (0.838 ->
    0.881) and changed the mean over the ten problems by +0.003 [-0.006, +0.011] at 25
    trials, +0.008 [-0.000, +0.017] at 50 and +0.004 [-0.004, +0.014] at 100. Tried
    there and not kept: no linear term at all (ZDT2 +0.042, but the recommender problems
    -0.05 to -0.06 at 100 trials), ``rho = 0.01`` or ``0.02`` everywhere, a random
    choice between 0 and ``rho`` per trial, ``rho`` shrinking in proportion to the
    front's smallest relative extent, and the thresholds 0.5 and 1 (the same on ZDT2,
    lower elsewhere).

    Example:
        >>> import numpy as np
        >>> corner = np.array([[0.0, -1.0], [-0.001, -1.0], [-0.9, -6.0]])  # one end
        >>> front_augmentation(corner)
        0.0
        >>> spread = np.array([[0.0, -1.0], [-1.0, 0.0], [-2.0, -3.0]])
        >>> front_augmentation(spread)
        0.05
    """
    return front_geometry(values, feasible, floor, rho).rho


def chebyshev(
    values: np.ndarray,
    weights: np.ndarray,
    rho: float | None = None,
    feasible: np.ndarray | None = None,
    geometry: FrontGeometry | None = None,
) -> np.ndarray:
    """Augmented Chebyshev scalarisation of ``(n, k)`` values (higher is better).

    Each column is measured from the reference point of :func:`front_scale` and divided
    by its scale: the current Pareto front spans about ``[1, 2]`` in every column,
    whatever the range of the other trials. ``-inf`` rows (pruned trials) stay
    ``-inf``; NaN entries make the row NaN.

    Args:
        values: ``(n, k)`` objective values, every column higher-is-better.
        weights: ``(k,)`` non-negative weights.
        rho: Weight of the linear term; ``None`` for :func:`front_augmentation`'s
            (:data:`CHEBYSHEV_RHO`, or 0 while the front has collapsed onto one end).
        feasible: Optional ``(n,)`` mask of the feasible trials, whose front sets the
            scale (all finite trials when it marks none).
        geometry: :func:`front_geometry` of ``values`` and ``feasible`` when the caller
            has it already (else it is computed here).

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
    if geometry is None:
        geometry = front_geometry(values, feasible)
    reference, scale = geometry.reference, geometry.scale
    if rho is None:
        rho = geometry.rho
    scaled = np.where(pruned[:, None], 0.0, (values - reference) / scale)
    score = chebyshev_scaled(scaled, weights, rho)
    out[~pruned] = score[~pruned]
    return out


def chebyshev_scaled(
    scaled: np.ndarray, weights: np.ndarray, rho: float = CHEBYSHEV_RHO
) -> np.ndarray:
    """The augmented Chebyshev function ``min_k w_k a_k + rho * sum_k w_k a_k`` of
    objectives already measured from the reference point and scaled (the last axis of
    ``scaled`` holds the ``k`` objectives; any leading axes are kept).

    Example:
        >>> import numpy as np
        >>> chebyshev_scaled(np.array([[2.0, 1.0], [1.5, 1.5]]), np.array([0.5, 0.5])).tolist()
        [0.575, 0.825]
    """
    weighted = np.asarray(scaled, dtype=float) * np.asarray(weights, dtype=float)
    return weighted.min(axis=-1) + rho * weighted.sum(axis=-1)


def total_violation(constraints: np.ndarray) -> np.ndarray:
    """``(n,)`` total violation ``sum_k max(c_k, 0)`` of ``(n, c)`` constraint values
    (0 for a feasible trial; NaN where a value is NaN)."""
    constraints = np.asarray(constraints, dtype=float)
    if constraints.ndim == 1:
        constraints = constraints[:, None]
    return np.clip(constraints, 0.0, None).sum(axis=1)


def apply_constraints(scores: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """Scores in which infeasible trials pay for their violation.

    Every infeasible trial scores at most as well as the best feasible one, less a
    penalty proportional to its violation: ``min(s, best) - span * v / v_med``, where
    ``span`` is the range of the finite scores and ``v_med`` the median violation of the
    infeasible trials. So the best trial is always feasible, a trial that violates a
    constraint by a typical amount sinks to about the worst score, and one that barely
    violates it while scoring well stays high. The last point is deliberate: the
    constrained optimum usually lies on the boundary of the feasible region, and a
    surrogate fitted to these scores rises smoothly towards the boundary instead of
    falling off a cliff there, so the search can also follow it into feasible regions
    that are not connected to the first one found. Without any feasible trial the
    infeasible ones are ordered by violation alone (least violation first).

    Args:
        scores: ``(n,)`` scores, higher is better (``-inf`` for pruned trials).
        violations: ``(n,)`` total violation of each trial (0 feasible, ``> 0``
            infeasible, NaN unknown: a trial without constraint values counts as
            feasible, as in Optuna; ``inf`` ranks below every finite violation).

    Returns:
        ``(n,)`` scores; feasible trials keep theirs.

    Example:
        >>> import numpy as np
        >>> s = apply_constraints(np.array([3.0, 5.0, 4.0, 1.0]), np.array([0, 2.0, 0.5, 0]))
        >>> s.round(2).tolist()  # best feasible 3, span 4, median violation 1.25
        [3.0, -3.4, 1.4, 1.0]
    """
    scores = np.asarray(scores, dtype=float)
    violations = np.asarray(violations, dtype=float)
    violations = np.where(np.isnan(violations), 0.0, violations)
    infeasible = violations > 0
    if not infeasible.any():
        return scores.copy()
    # An infinite violation ranks last among the infeasible trials, at twice the largest
    # finite one, so every score stays finite.
    unbounded = np.isinf(violations)
    if unbounded.any():
        bounded = violations[infeasible & ~unbounded]
        violations = np.where(unbounded, 2.0 * bounded.max() if len(bounded) else 1.0, violations)
    out = scores.copy()
    finite = np.isfinite(scores)
    feasible = ~infeasible & finite
    if not feasible.any():
        out[infeasible] = -1.0 - violations[infeasible]
        return out
    best = float(scores[feasible].max())
    span = float(scores[finite].max() - scores[finite].min()) or 1.0
    typical = float(np.median(violations[infeasible]))
    out[infeasible] = (
        np.minimum(scores[infeasible], best) - span * violations[infeasible] / typical
    )
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
