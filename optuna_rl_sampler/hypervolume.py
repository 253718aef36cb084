"""Hypervolume improvement as the one score of a two-objective study's early trials.

A scalarisation with a random weight vector per trial
(:func:`~optuna_rl_sampler.objectives.chebyshev`, ParEGO) aims each proposal at one
point of the Pareto front. Early in a study, when the front is a handful of trials, the
hypervolume improvement (HVI) of a point over the current front is the better guide: it
values every region that would enlarge the dominated area, in whatever direction, in
proportion to how much (the quantity that expected-hypervolume-improvement methods such
as SMS-EGO, EHVI and Optuna's GPSampler maximise). The sampler scores the first
:data:`HYPERVOLUME_TRIALS` trials of a two-objective study this way, then hands over
to ParEGO's weights, which refine the front more evenly. With constraints the front is
that of the feasible trials (once there is one), and infeasible trials and samples pay
the same penalty as with ParEGO's scores
(:func:`~optuna_rl_sampler.objectives.apply_constraints`).

The policy sees one number per trial and per posterior sample (a *utility*, higher is
better), so it keeps seeing a single-objective problem:

* a point off the dominated region scores the square root of its HVI over the front
  (an area turned into a length, so that it is on the scale of the next case);
* a point in the dominated region scores minus the smallest amount by which every
  objective would have to improve for it to leave that region (the additive epsilon
  indicator): how far behind the front it is;
* a trial on the front scores 0: every front trial is as good as the others, and a
  candidate is an improvement exactly when it would enlarge the front.

Objectives are measured as :func:`~optuna_rl_sampler.objectives.chebyshev` measures
them (from the front's reference point, divided by the front's extent, values below
the reference point compressed by :func:`~optuna_rl_sampler.objectives.compress`), and
the HV reference point lies :data:`REFERENCE_MARGIN` below the worst trial in each
objective, so regions beyond the front's ends count as well.

On the multi-objective benchmark's development seeds (5-24, the eight problems without
constraints, RLSampler alone, paired by problem and seed, intervals over the problems)
HVI for the first 30 trials changed the hypervolume by +0.009 [-0.006, +0.026] at 25
trials, +0.014 [+0.004, +0.024] at 50 and +0.005 [+0.001, +0.009] at 100; for the first
20 trials +0.010 / +0.007 / +0.004, for the first 50 +0.009 / -0.005 / +0.002, and for
every trial +0.009 / -0.005 / -0.021 (its fronts reached out early and were left less
refined late). Scoring front trials by their exclusive contribution, or HVI without
the square root, was worse at every count. On the constrained C2-DTLZ2 (same seeds) the
first 30 trials' utility changed the hypervolume by +0.016 [-0.007, +0.038] at 25
trials, +0.027 [+0.003, +0.052] at 50 and +0.024 [-0.005, +0.053] at 100, and the
feasible arcs reached by trial 100 from 2.6 to 2.85 of three.

Pure numerics: no Study, no storage.

SHAPES (n trials, m front points):
    values: (n, 2) higher is better; points: (..., 2) measured; front: (m, 2); scores: (n,)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optuna_rl_sampler.objectives import FrontGeometry
from optuna_rl_sampler.objectives import compress
from optuna_rl_sampler.objectives import front_geometry
from optuna_rl_sampler.objectives import pareto_mask

__all__ = [
    "HYPERVOLUME_TRIALS",
    "REFERENCE_MARGIN",
    "HypervolumeFrame",
    "dominance_gap",
    "hypervolume_frame",
    "hypervolume_improvement",
    "hypervolume_scores",
    "hypervolume_utility",
]

#: Trials of a two-objective study that are scored by their hypervolume utility; later
#: trials are scalarised with ParEGO's random weights.
HYPERVOLUME_TRIALS = 30
#: Distance of the HV reference point below the worst trial in each measured objective.
REFERENCE_MARGIN = 0.1


class HypervolumeFrame(NamedTuple):
    """What the utility of a point is measured against (:func:`hypervolume_frame`).

    Attributes:
        geometry: The :class:`~optuna_rl_sampler.objectives.FrontGeometry` that measures
            each objective.
        front: ``(m, 2)`` the Pareto front of the measured trials, first objective
            descending.
        reference: ``(2,)`` the HV reference point, in measured units.
    """

    geometry: FrontGeometry
    front: np.ndarray
    reference: np.ndarray

    def measure(self, values: np.ndarray) -> np.ndarray:
        """Objective values (higher is better, last axis of length 2) in measured
        units."""
        g = self.geometry
        return compress((np.asarray(values, dtype=float) - g.reference) / g.scale)


def hypervolume_frame(values: np.ndarray, feasible: np.ndarray | None = None) -> HypervolumeFrame:
    """The front and HV reference point of ``(n, 2)`` trial values (higher is better;
    rows with a non-finite entry are left out), measured as
    :func:`~optuna_rl_sampler.objectives.chebyshev` measures them; with ``feasible``
    marking any finite row, the front is that of the feasible rows.

    Raises:
        ValueError: ``values`` is not ``(n, 2)`` with at least one finite row.

    Example:
        >>> import numpy as np
        >>> frame = hypervolume_frame(np.array([[0.0, -1.0], [-1.0, 0.0], [-3.0, -3.0]]))
        >>> frame.front.tolist(), frame.reference.round(3).tolist()
        ([[2.0, 1.0], [1.0, 2.0]], [-0.793, -0.793])
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != 2:
        raise ValueError(
            f"the hypervolume utility takes two objectives, got values of shape {values.shape}."
        )
    finite = np.isfinite(values).all(axis=1)
    if not finite.any():
        raise ValueError("the hypervolume utility needs at least one trial with finite values.")
    geometry = front_geometry(values, feasible)
    unfinished = HypervolumeFrame(geometry, np.empty((0, 2)), np.zeros(2))
    a = unfinished.measure(values[finite])
    # The front of the feasible trials when there are any, as front_geometry takes it.
    pool = a if feasible is None or not feasible[finite].any() else a[feasible[finite]]
    front = pool[pareto_mask(pool)]
    front = front[np.argsort(-front[:, 0], kind="stable")]
    return HypervolumeFrame(geometry, front, a.min(axis=0) - REFERENCE_MARGIN)


def hypervolume_improvement(
    points: np.ndarray, front: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """Area that each point adds to the area ``front`` dominates within the box above
    ``reference``; 0 for a point the front dominates.

    Args:
        points: ``(..., 2)`` points, higher is better.
        front: ``(m, 2)`` mutually non-dominated points, first column descending.
        reference: ``(2,)`` the reference point.

    Example:
        >>> import numpy as np
        >>> front = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> points = np.array([[1.5, 1.5], [3.0, 0.5], [1.0, 1.0]])
        >>> hypervolume_improvement(points, front, np.zeros(2)).tolist()
        [0.25, 0.5, 0.0]
    """
    points = np.maximum(np.asarray(points, dtype=float), reference)
    x, y = points[..., 0:1], points[..., 1:2]  # (..., 1)
    box = (x[..., 0] - reference[0]) * (y[..., 0] - reference[1])
    if len(front) == 0:
        return box
    f = np.maximum(front, reference)
    # The front's area inside the point's box, swept along the first objective: with the
    # first column descending the second ascends, so the strip between a front point and
    # the next is as high as that front point (both clipped to the box).
    fx = np.minimum(f[:, 0], x)  # (..., m)
    fy = np.minimum(f[:, 1], y)
    next_fx = np.concatenate([fx[..., 1:], np.full(fx[..., :1].shape, reference[0])], axis=-1)
    overlap = ((fx - next_fx) * (fy - reference[1])).sum(axis=-1)
    return np.maximum(box - overlap, 0.0)


def dominance_gap(points: np.ndarray, front: np.ndarray) -> np.ndarray:
    """The smallest amount ``t >= 0`` by which every objective of a point would have to
    improve for no front point to dominate it (the additive epsilon indicator; 0 off
    the dominated region).

    Example:
        >>> import numpy as np
        >>> front = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> points = np.array([[0.5, 0.5], [1.5, 1.5], [0.5, 1.8]])
        >>> dominance_gap(points, front).round(3).tolist()
        [0.5, 0.0, 0.2]
    """
    points = np.asarray(points, dtype=float)
    if len(front) == 0:
        return np.zeros(points.shape[:-1])
    behind = (front - points[..., None, :]).min(axis=-1)  # (..., m)
    return np.maximum(behind.max(axis=-1), 0.0)


def hypervolume_utility(
    points: np.ndarray, front: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """The utility of ``(..., 2)`` measured points: the square root of their HVI over
    ``front`` where it is positive, else minus their :func:`dominance_gap`.

    Example:
        >>> import numpy as np
        >>> front = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> points = np.array([[3.0, 1.0], [2.0, 1.0], [0.5, 0.5]])
        >>> hypervolume_utility(points, front, np.zeros(2)).tolist()
        [1.0, 0.0, -0.5]
    """
    gain = np.sqrt(hypervolume_improvement(points, front, reference))
    return np.where(gain > 0, gain, 0.0 - dominance_gap(points, front))


def hypervolume_scores(
    values: np.ndarray,
    feasible: np.ndarray | None = None,
    frame: HypervolumeFrame | None = None,
) -> np.ndarray:
    """``(n,)`` utility of each trial of ``(n, 2)`` values, higher is better: 0 on the
    Pareto front, minus the :func:`dominance_gap` behind it, ``-inf`` for a row with a
    non-finite entry (a pruned trial).

    Example:
        >>> import numpy as np
        >>> v = np.array([[0.0, -1.0], [-1.0, 0.0], [-2.0, -1.5], [-np.inf, -np.inf]])
        >>> hypervolume_scores(v).tolist()
        [0.0, 0.0, -1.0, -inf]
    """
    values = np.asarray(values, dtype=float)
    if frame is None:
        frame = hypervolume_frame(values, feasible)
    out = np.full(len(values), -np.inf)
    finite = np.isfinite(values).all(axis=1)
    out[finite] = 0.0 - dominance_gap(frame.measure(values[finite]), frame.front)
    return out
