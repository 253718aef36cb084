"""A study's trials as the evidence of a proposal.

:class:`~optuna_rl_sampler.RLSampler` reads the study from its storage at every
proposal; this module turns what it reads into the arrays that
:func:`~optuna_rl_sampler.proposal.propose` takes:

* :func:`read_evidence`: the trials of the current search space as points of the unit
  cube (:class:`~optuna_rl_sampler.encoding.SearchSpaceEncoder`), their objective values
  turned to *higher is better*, their total constraint violations, and the running
  trials as pending points. COMPLETE trials are evidence; PRUNED trials with at least
  one intermediate value count as worse than every complete trial (``-inf``), those
  without are ignored, and so are FAIL trials, complete trials whose values are missing
  or NaN, and trials whose parameters do not fit the current search space.
* :func:`scalarise`: one score per trial (several objectives scalarised with the trial's
  own random weights, infeasible trials ranked below feasible ones; see
  :mod:`optuna_rl_sampler.objectives`) and what the trial's reasons record about it.

SHAPES (n usable trials, k objectives, p running trials, P parameters):
    points: (n, P); values: (n, k); violations: (n,), NaN when a trial has none
    pending: (p, P); scores: (n,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.objectives import apply_constraints
from optuna_rl_sampler.objectives import chebyshev
from optuna_rl_sampler.objectives import constraint_values
from optuna_rl_sampler.objectives import draw_simplex_weights
from optuna_rl_sampler.objectives import total_violation

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = ["Evidence", "read_evidence", "scalarise"]


class Evidence(NamedTuple):
    """The usable trials of a study and its other running trials, on the unit cube.

    Attributes:
        points: ``(n, P)`` cube points of the usable trials.
        values: ``(n, k)`` their objective values, higher is better (each objective's
            sign follows the study's direction); ``-inf`` rows for pruned trials.
        violations: ``(n,)`` their total constraint violations; NaN when a trial has
            no constraint values.
        pending: ``(p, P)`` cube points of the running trials other than the one being
            proposed.
    """

    points: np.ndarray
    values: np.ndarray
    violations: np.ndarray
    pending: np.ndarray


def read_evidence(study: Study, trial: FrozenTrial, encoder: SearchSpaceEncoder) -> Evidence:
    """Read the evidence for proposing ``trial`` from ``study``'s storage.

    Trials that ``encoder`` does not admit (a parameter missing, or a value outside the
    current search space) are left out, evaluated and running alike.

    Args:
        study: The study, read once (without deep copies).
        trial: The trial being proposed; never its own evidence.
        encoder: Encoder of the current (relative) search space.

    Returns:
        The usable trials' cube points, values and violations, and the pending points.
    """
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False, states=states)
    signs = np.array([-1.0 if d == StudyDirection.MINIMIZE else 1.0 for d in study.directions])
    k = len(signs)
    evidence: list[FrozenTrial] = []
    values: list[Sequence[float]] = []
    pruned: list[bool] = []
    violations: list[float] = []
    running: list[FrozenTrial] = []
    # Plain Python per trial (a study may hold thousands); arrays once at the end.
    for t in trials:
        if t.number == trial.number:
            continue
        if t.state == TrialState.RUNNING:
            running.append(t)
            continue
        if t.state == TrialState.COMPLETE:
            row = t.values
            if not row or len(row) != k or any(v != v for v in row):  # none, or NaN
                continue
            values.append(row)
            pruned.append(False)
        elif t.intermediate_values:  # PRUNED: worse than every complete trial.
            values.append([0.0] * k)
            pruned.append(True)
        else:
            continue
        evidence.append(t)
        con = constraint_values(t.system_attrs)
        violations.append(float(total_violation(np.array([con]))[0]) if con else math.nan)
    points, ok = encoder.encode_many([t.params for t in evidence])
    pending, ok_pending = encoder.encode_many([t.params for t in running])
    value_array = signs * np.array(values, dtype=float).reshape(len(values), k)
    value_array[np.array(pruned, dtype=bool)] = -math.inf
    return Evidence(
        points[ok], value_array[ok], np.array(violations, dtype=float)[ok], pending[ok_pending]
    )


def scalarise(
    values: np.ndarray, violations: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """One score per trial, higher is better, and what the trial's reasons record about it.

    Several objectives are scalarised with the augmented Chebyshev function of weights
    drawn from ``rng`` (reason ``"scalarisation"``); when any trial has constraint
    values, infeasible trials pay for their violation
    (:func:`~optuna_rl_sampler.objectives.apply_constraints`; reason ``"constraints"``,
    the counts of feasible and infeasible trials).

    Args:
        values: ``(n, k)`` objective values, higher is better.
        violations: ``(n,)`` total constraint violations, NaN where unknown.
        rng: The trial's stream for the scalarisation weights (drawn only when
            ``k > 1``).

    Returns:
        The ``(n,)`` scores and the reasons' entries (empty for one objective without
        constraints).
    """
    reason: dict[str, Any] = {}
    if values.shape[1] > 1:
        w = draw_simplex_weights(values.shape[1], rng)
        scores = chebyshev(values, w)
        reason["scalarisation"] = {
            "method": "augmented-chebyshev",
            "weights": [round(float(x), 4) for x in w],
        }
    else:
        scores = values[:, 0].copy()
    known = ~np.isnan(violations)
    if known.any():
        infeasible = known & (violations > 0)
        scores = apply_constraints(scores, violations)
        reason["constraints"] = {
            "n_feasible": int((known & ~infeasible).sum()),
            "n_infeasible": int(infeasible.sum()),
        }
    return scores, reason
