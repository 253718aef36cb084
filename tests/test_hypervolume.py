"""The hypervolume utility of two-objective studies' early trials (hypervolume.py), the
switch to ParEGO's weights after HYPERVOLUME_TRIALS, and the posterior that uses it."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.evidence import scalarise
from optuna_rl_sampler.hypervolume import HYPERVOLUME_TRIALS
from optuna_rl_sampler.hypervolume import dominance_gap
from optuna_rl_sampler.hypervolume import hypervolume_frame
from optuna_rl_sampler.hypervolume import hypervolume_improvement
from optuna_rl_sampler.hypervolume import hypervolume_scores
from optuna_rl_sampler.hypervolume import hypervolume_utility
from optuna_rl_sampler.objectives import pareto_mask
from optuna_rl_sampler.reasons import REASON_KEY
from optuna_rl_sampler.reasons import summarise_reason
from optuna_rl_sampler.scalarised_gp import ScalarisedPosterior


def _dominated_area(points: np.ndarray, reference: np.ndarray, grid: int = 400) -> float:
    """The area that ``points`` dominate above ``reference``, counted on a fine grid."""
    top = points.max(axis=0)
    xs = reference[0] + (np.arange(grid) + 0.5) * (top[0] - reference[0]) / grid
    ys = reference[1] + (np.arange(grid) + 0.5) * (top[1] - reference[1]) / grid
    cx, cy = np.meshgrid(xs, ys, indexing="ij")
    covered = ((points[:, 0, None, None] >= cx) & (points[:, 1, None, None] >= cy)).any(axis=0)
    return float(covered.mean() * (top[0] - reference[0]) * (top[1] - reference[1]))


def test_hypervolume_improvement_matches_the_area_counted_on_a_grid():
    rng = np.random.default_rng(0)
    reference = np.zeros(2)
    cloud = rng.random((30, 2)) * 2.0
    front = cloud[pareto_mask(cloud)]
    front = front[np.argsort(-front[:, 0])]
    points = rng.random((12, 2)) * 2.4
    gains = hypervolume_improvement(points, front, reference)
    base = _dominated_area(front, reference)
    for point, gain in zip(points, gains, strict=True):
        both = _dominated_area(np.vstack([front, point]), reference)
        assert gain == pytest.approx(both - base, abs=0.02)
    assert (gains[[(front >= p).all(axis=1).any() for p in points]] == 0).all()


def test_dominance_gap_is_the_smallest_uniform_gain_that_leaves_the_dominated_region():
    rng = np.random.default_rng(1)
    cloud = rng.random((20, 2))
    front = cloud[pareto_mask(cloud)]
    points = rng.random((50, 2)) * 0.8
    gaps = dominance_gap(points, front)

    def dominated(p: np.ndarray) -> bool:
        return bool(((front >= p).all(axis=1) & (front > p).any(axis=1)).any())

    for point, gap in zip(points, gaps, strict=True):
        assert not dominated(point + gap + 1e-9)
        if gap > 0:
            assert dominated(point + gap - 1e-6)


def test_utility_ranks_beyond_the_front_above_on_it_above_behind_it():
    front = np.array([[2.0, 1.0], [1.0, 2.0]])
    points = np.array([[2.5, 1.0], [1.5, 1.5], [2.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    utility = hypervolume_utility(points, front, np.zeros(2))
    assert utility.tolist() == pytest.approx([math.sqrt(0.5), 0.5, 0.0, -0.0, -1.0])


def test_trial_scores_tie_on_the_front_and_fall_with_the_distance_behind_it():
    values = np.array([[0.0, -1.0], [-1.0, 0.0], [-0.5, -0.5], [-1.5, -1.5], [-3.0, -3.0]])
    values = np.vstack([values, [-math.inf, -math.inf]])
    scores = hypervolume_scores(values)
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]  # the front (the knee too)
    assert 0.0 > scores[3] > scores[4]
    assert scores[5] == -math.inf
    # With a feasibility mask the front is the feasible trials' (an infeasible trial
    # that dominates them all is not on it).
    v = np.array([[0.0, 0.0], [-1.0, -2.0], [-2.0, -1.0]])
    assert len(hypervolume_frame(v).front) == 1
    assert len(hypervolume_frame(v, np.array([False, True, True])).front) == 2
    with pytest.raises(ValueError, match="two objectives"):
        hypervolume_frame(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        hypervolume_frame(np.full((2, 2), -math.inf))


def test_scalarise_uses_the_utility_early_and_chebyshev_later():
    rng = np.random.default_rng(2)
    early = -rng.random((HYPERVOLUME_TRIALS - 1, 2))
    scores, reason, weights = scalarise(early, np.full(len(early), math.nan), rng)
    assert reason["scalarisation"]["method"] == "hypervolume-improvement" and weights is None
    assert scores.tolist() == hypervolume_scores(early).tolist()
    late = -rng.random((HYPERVOLUME_TRIALS, 2))
    _, reason, weights = scalarise(late, np.full(len(late), math.nan), rng)
    assert reason["scalarisation"]["method"] == "augmented-chebyshev" and weights is not None
    # With constraints: the feasible trials' front, and the penalty on the others.
    violations = np.where(np.arange(len(early)) % 3 == 0, 1.0, 0.0)
    scores, reason, _ = scalarise(early, violations, rng)
    assert reason["scalarisation"]["method"] == "hypervolume-improvement"
    assert reason["constraints"] == {"n_feasible": 19, "n_infeasible": 10}
    feasible = violations == 0
    assert scores[feasible].max() == 0.0 and scores[~feasible].max() < 0.0
    _, reason, _ = scalarise(early, np.ones(len(early)), rng)  # none feasible yet
    assert reason["scalarisation"]["method"] == "augmented-chebyshev"
    three = -rng.random((10, 3))
    _, reason, _ = scalarise(three, np.full(10, math.nan), rng)
    assert reason["scalarisation"]["method"] == "augmented-chebyshev"
    pruned = np.full((4, 2), -math.inf)
    scores, reason, _ = scalarise(pruned, np.full(4, math.nan), rng)
    assert reason["scalarisation"]["method"] == "augmented-chebyshev"
    assert np.isneginf(scores).all()


def test_the_posterior_values_extending_the_front_above_crowding_it():
    # Trials on the front (-x, x - 1) for x in [0.3, 0.6]: a candidate at x = 0.9 extends
    # the front by a long way, one at x = 0.45 lies among the trials, and one at a point
    # of a dominated band (values shifted down by 1) lies behind the front.
    x = np.linspace(0.3, 0.6, 8)[:, None]
    values = np.hstack([-x, x - 1.0])
    band = np.array([[0.45]])
    post = ScalarisedPosterior(
        np.vstack([x, band]),
        np.vstack([values, [[-0.45 - 1.0, -0.55 - 1.0]]]),
        None,
        None,
        np.random.default_rng(0),
    )
    mean, std = post.predict(np.array([[0.9], [0.45]]))
    assert mean[0] > mean[1] and (std > 0).all()
    with pytest.raises(ValueError, match="two objectives"):
        ScalarisedPosterior(
            np.zeros((3, 1)), np.zeros((3, 3)), None, None, np.random.default_rng(0)
        )


def test_the_sampler_says_which_score_each_trial_used():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=RLSampler(seed=0))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        return x, (1.0 + y) * (1.0 - math.sqrt(x))

    study.optimize(objective, n_trials=HYPERVOLUME_TRIALS + 3)
    methods = [
        t.system_attrs[REASON_KEY]["scalarisation"]["method"]
        for t in study.trials
        if "scalarisation" in t.system_attrs.get(REASON_KEY, {})
    ]
    assert set(methods[: HYPERVOLUME_TRIALS - 2]) == {"hypervolume-improvement"}
    assert methods[-3:] == ["augmented-chebyshev"] * 3
    early = study.trials[5].system_attrs[REASON_KEY]
    assert "objectives scored by hypervolume improvement" in summarise_reason(early)
    assert early["surrogate"] == "per-objective"
