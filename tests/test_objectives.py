"""Multi-objective studies and constraints: the scalarisation, and RLSampler using it."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.objectives import CHEBYSHEV_RHO
from optuna_rl_sampler.objectives import apply_constraints
from optuna_rl_sampler.objectives import chebyshev
from optuna_rl_sampler.objectives import constraint_values
from optuna_rl_sampler.objectives import draw_simplex_weights
from optuna_rl_sampler.objectives import front_augmentation
from optuna_rl_sampler.objectives import front_scale
from optuna_rl_sampler.objectives import pareto_mask
from optuna_rl_sampler.objectives import total_violation
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.sampler import REASON_KEY

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_chebyshev_known_values():
    values = np.array([[0.0, 10.0], [2.0, 0.0], [1.0, 5.0], [-np.inf, -np.inf]])
    # All three finite rows are on the front: scale (2, 10), reference (-2, -10), so the
    # rows are measured as (1, 2), (2, 1) and (1.5, 1.5).
    s = chebyshev(values, np.array([0.5, 0.5]), rho=0.0)
    np.testing.assert_allclose(s[:3], [0.5, 0.5, 0.75])
    assert s[3] == -np.inf  # a pruned trial stays last
    s = chebyshev(values, np.array([1.0, 0.0]), rho=0.1)
    np.testing.assert_allclose(s[:3], [0.1, 0.2, 0.15])
    with pytest.raises(ValueError, match="values must be"):
        chebyshev(np.zeros((3, 3)), np.array([0.5, 0.5]))


def _zdt2(x1: float, g: float = 1.0) -> list[float]:
    """ZDT2's two objectives, turned higher-is-better."""
    return [-x1, -g * (1.0 - (x1 / g) ** 2)]


def test_collapsed_front_drops_the_linear_term_so_the_front_can_be_left():
    # A study crowded at ZDT2's f1 = 0 corner, plus far-off trials (f2 up to 8).
    corner = [_zdt2(0.0), _zdt2(0.001), _zdt2(0.004, 1.0005)]
    far = [_zdt2(0.7, 5.0), _zdt2(0.3, 8.0), _zdt2(0.95, 3.0)]
    values = np.array(corner + far)
    assert front_augmentation(values) == 0.0
    # Points of the true front away from the corner (the last rows of ``both``).
    along = np.array([_zdt2(t) for t in (0.1, 0.15, 0.2)])
    both = np.vstack([values, along])
    grid = [np.array([w, 1.0 - w]) for w in np.linspace(0.01, 0.99, 99)]

    def front_beats_corner(rho: float) -> bool:
        return any(
            chebyshev(both, w, rho=rho)[len(values) :].max()
            > chebyshev(both, w, rho=rho)[: len(corner)].max()
            for w in grid
        )

    # ParEGO's linear term: no weight vector prefers any step along the front.
    assert not front_beats_corner(CHEBYSHEV_RHO)
    # Without it, the weights aimed at a step along the front prefer it.
    assert front_beats_corner(0.0)
    # ``rho=None`` (the default) is front_augmentation's choice for these trials.
    w = np.array([0.8, 0.2])
    np.testing.assert_allclose(chebyshev(both, w), chebyshev(both, w, rho=0.0))
    # A front with extent in both objectives keeps the linear term.
    spread = np.vstack([values, [_zdt2(0.9)]])
    assert front_augmentation(spread) == CHEBYSHEV_RHO
    # Infeasible trials do not count: the feasible front is the corner again.
    feasible = np.r_[np.ones(len(values), dtype=bool), False]
    assert front_augmentation(spread, feasible=feasible) == 0.0


def test_front_scale_ignores_far_off_trials_and_infeasible_ones():
    front = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    w = np.array([0.5, 0.5])
    np.testing.assert_allclose(chebyshev(front, w, rho=0.0), [0.5, 0.5, 0.75])
    # A far-off trial (range 4, floor 1 = the front's extent) leaves the front's scores.
    far = np.vstack([front, [-3.0, -3.0]])
    np.testing.assert_allclose(chebyshev(far, w, rho=0.0), [0.5, 0.5, 0.75, -1.0])
    ref, scale = front_scale(far)
    assert ref.tolist() == [-1.0, -1.0] and scale.tolist() == [1.0, 1.0]
    # One trial far beyond the others' front is infeasible: the feasible front sets the
    # scale. A front without extent in an objective takes that objective's whole range.
    wide = np.vstack([front, [9.0, 9.0]])
    ref, scale = front_scale(wide, feasible=np.array([True, True, True, False]))
    assert scale.tolist() == [2.25, 2.25] and ref.tolist() == [-2.25, -2.25]
    ref, scale = front_scale(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert scale.tolist() == [1.0, 1.0] and ref.tolist() == [0.0, 0.0]
    assert pareto_mask(np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [0.0, 1.0]])).tolist() == [
        True,
        True,
        True,
        False,
    ]


def test_pareto_mask_matches_the_definition_with_ties_and_duplicates():
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = rng.integers(0, 4, size=(int(rng.integers(1, 40)), int(rng.integers(2, 4))))
        values = values.astype(float)
        dominated = [
            bool(((values >= row).all(axis=1) & (values > row).any(axis=1)).any())
            for row in values
        ]
        assert pareto_mask(values).tolist() == [not d for d in dominated]


def test_random_weights_cover_a_concave_front_despite_far_off_trials():
    # ZDT2's shape (minimise f1 and f2 = 1 - f1^2) and two dominated trials whose f2 is
    # 6-7 times the front's extent. Scaled by the range over all trials, 396 of 400
    # weight vectors pick the f1 = 0 end; scaled by the front, every trial of the front
    # is someone's choice and neither end takes more than 40%.
    f1 = np.linspace(0.0, 1.0, 11)
    values = -np.c_[np.r_[f1, 1.0, 0.5], np.r_[1.0 - f1**2, 7.0, 6.0]]
    rng = np.random.default_rng(0)
    picks = np.bincount(
        [int(np.argmax(chebyshev(values, draw_simplex_weights(2, rng)))) for _ in range(400)],
        minlength=13,
    )
    assert (picks[:11] > 0).all() and picks[11:].sum() == 0
    assert picks[0] < 160 and picks[10] < 160, picks


def test_simplex_weights_are_uniform_on_the_simplex():
    rng = np.random.default_rng(0)
    w = np.array([draw_simplex_weights(3, rng) for _ in range(4000)])
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w.mean(axis=0), [1 / 3] * 3, atol=0.02)
    with pytest.raises(ValueError, match="at least 1"):
        draw_simplex_weights(0, rng)


def test_constraints_penalise_violation_and_keep_the_best_feasible():
    scores = np.array([3.0, 5.0, 4.0, 1.0, -np.inf])
    violation = total_violation(np.array([[-1, 0], [2, 0.5], [0.3, -2], [0, 0], [0, 0]]))
    np.testing.assert_allclose(violation, [0.0, 2.5, 0.3, 0.0, 0.0])
    out = apply_constraints(scores, violation)
    # Feasible trials keep their scores; the pruned trial stays last.
    assert out[0] == 3.0 and out[3] == 1.0 and out[4] == -np.inf
    # Best feasible 3, span 4, median violation 1.4: 3 - 4 * 0.3 / 1.4 and 3 - 4 * 2.5 / 1.4.
    np.testing.assert_allclose(out[[1, 2]], [3 - 4 * 2.5 / 1.4, 3 - 4 * 0.3 / 1.4])
    # A slight violation with a good objective ranks above a poor feasible trial, a
    # typical one near the bottom, and no infeasible trial above the best feasible one.
    assert out[3] < out[2] < out[0] and out[1] < out[3]
    assert out[[1, 2]].max() < out[[0, 3]].max()
    # Without feasible trials: by violation alone. Unknown (NaN) counts as feasible, as
    # in Optuna; nothing infeasible: unchanged.
    only = apply_constraints(np.array([9.0, 1.0]), np.array([3.0, 1.0]))
    assert only[1] > only[0]
    np.testing.assert_array_equal(apply_constraints(scores, np.full(5, np.nan)), scores)


def test_constraint_values_read_both_optuna_layouts():
    assert constraint_values({}) is None
    assert constraint_values({"constraints": (0.5, -1.0)}) == [0.5, -1.0]
    assert constraint_values({"constraints": []}) == []
    assert constraint_values({"constraints:size": 2.0, "constraints:time": -1.0}) == [2.0, -1.0]


def _zdt1(trial: optuna.Trial) -> tuple[float, float]:
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(3)]
    g = 1.0 + 9.0 * (x[1] + x[2]) / 2.0
    return x[0], g * (1.0 - math.sqrt(x[0] / g))


def _hypervolume(study: optuna.Study) -> float:
    from optuna._hypervolume import compute_hypervolume

    front = np.array([t.values for t in study.best_trials])
    return float(compute_hypervolume(front, np.array([1.1, 11.0])))


def _uniform_policy(monkeypatch):
    def uniform(self, features, temperature=1.0):
        return np.full(len(features), 1.0 / len(features))

    monkeypatch.setattr(PolicyWeights, "probabilities", uniform)


def _mean_hypervolume(n_trials: int = 30) -> tuple[float, list[dict]]:
    hv, reasons = [], []
    for seed in range(3):
        study = optuna.create_study(
            directions=["minimize", "minimize"], sampler=RLSampler(seed=seed, budget=n_trials)
        )
        study.optimize(_zdt1, n_trials=n_trials)
        hv.append(_hypervolume(study))
        reasons.append(study.trials[-1].system_attrs[REASON_KEY])
    return float(np.mean(hv)), reasons


def test_multi_objective_study_beats_a_uniform_policy(monkeypatch):
    shipped, reasons = _mean_hypervolume()
    # The last of 30 trials: the hypervolume utility scores the first 30 (hypervolume.py).
    scal = reasons[0]["scalarisation"]
    assert scal["method"] == "hypervolume-improvement" and "weights" not in scal
    assert "prior" not in reasons[0]  # single-objective sources are not used here
    _uniform_policy(monkeypatch)
    uniform, _ = _mean_hypervolume()
    random_hv = np.mean(
        [
            _hypervolume(
                _optimised(optuna.samplers.RandomSampler(seed=seed), ["minimize", "minimize"])
            )
            for seed in range(3)
        ]
    )
    # Hypervolume (reference point (1.1, 11)): the policy's choices matter.
    assert shipped > uniform + 0.3 and shipped > random_hv + 0.5, (shipped, uniform, random_hv)


def _zdt2_objective(trial: optuna.Trial) -> tuple[float, float]:
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(5)]
    g = 1.0 + 9.0 * sum(x[1:]) / 4.0
    return x[0], g * (1.0 - (x[0] / g) ** 2)


def test_zdt2_front_reaches_its_far_end():
    # ZDT2's concave front runs from (0, 1) to (1, 0). With ParEGO's linear term at every
    # trial the study crowded at the (0, 1) corner and its front ended before f1 = 0.21
    # on each of the seeds 0-5 after 60 trials; dropping the term while the front has
    # collapsed (test_collapsed_front_drops_the_linear_term_so_the_front_can_be_left)
    # let it reach the far end (f1 = 1) on all six.
    for seed in range(2):
        study = optuna.create_study(
            directions=["minimize", "minimize"], sampler=RLSampler(seed=seed, budget=60)
        )
        study.optimize(_zdt2_objective, n_trials=60)
        front = np.array([t.values for t in study.best_trials])
        assert front[:, 0].max() > 0.9, front.round(3).tolist()
        # The first 30 trials score hypervolume improvement (no weights, no linear term);
        # ParEGO's linear term is back once the front has spread.
        reasons = [t.system_attrs[REASON_KEY]["scalarisation"] for t in study.trials[1:]]
        rhos = [r["rho"] for r in reasons if r["method"] == "augmented-chebyshev"]
        assert rhos and set(rhos) <= {0.0, CHEBYSHEV_RHO} and CHEBYSHEV_RHO in rhos


def _optimised(sampler, directions, n_trials: int = 30) -> optuna.Study:
    study = optuna.create_study(directions=directions, sampler=sampler)
    study.optimize(_zdt1, n_trials=n_trials)
    return study


def _constrained(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    trial.set_user_attr("c", -(x + y))  # feasible when x + y >= 0
    return (x - 1.0) ** 2 + (y + 2.0) ** 2  # unconstrained optimum (1, -2) is infeasible


def _by_constraint(trial: optuna.trial.FrozenTrial) -> list[float]:
    return [trial.user_attrs["c"]]


def test_constraints_are_stored_the_optuna_way_and_steer_the_search():
    feasible_late, best = [], []
    for seed in range(3):
        study = optuna.create_study(
            sampler=RLSampler(seed=seed, budget=30, constraints_func=_by_constraint)
        )
        study.optimize(_constrained, n_trials=30)
        for t in study.trials:
            assert t.system_attrs["constraints"] == (t.user_attrs["c"],)
        feasible_late.append(
            np.mean([t.system_attrs["constraints"][0] <= 0 for t in study.trials[15:]])
        )
        best.append(study.best_value)  # Optuna's best_trial is the best feasible one
        assert study.best_trial.system_attrs["constraints"][0] <= 0
        reason = study.trials[-1].system_attrs[REASON_KEY]["constraints"]
        assert reason["n_feasible"] + reason["n_infeasible"] == 29
    unconstrained = optuna.create_study(sampler=RLSampler(seed=0, budget=30))
    unconstrained.optimize(_constrained, n_trials=30)
    late = [t.user_attrs["c"] <= 0 for t in unconstrained.trials[15:]]
    # With the constraint the late trials are mostly feasible; without it the search
    # heads for the infeasible optimum. The constrained optimum is 0.5 at (1.5, -1.5).
    assert np.mean(feasible_late) > 0.6 > np.mean(late)
    assert np.mean(best) < 2.0


def _gramacy(trial: optuna.Trial) -> float:
    """Gramacy et al. (2016): minimise x1 + x2 under two constraints; the feasible
    region is disconnected and the optimum, 0.5998, lies on its boundary."""
    x1, x2 = trial.suggest_float("x1", 0, 1), trial.suggest_float("x2", 0, 1)
    c1 = 1.5 - x1 - 2 * x2 - 0.5 * np.sin(2 * np.pi * (x1**2 - 2 * x2))
    trial.set_user_attr("c", [float(c1), x1**2 + x2**2 - 1.5])
    return x1 + x2


def test_a_gp_on_the_violation_finds_the_constrained_optimum():
    # With the penalised score on one GP, seeds 0-5 ended 30 trials at 0.731 on average
    # and none within 0.02 of the optimum; with a GP on the objective and one on the
    # violation, 0.630 and five of them.
    best = []
    for seed in range(6):
        study = optuna.create_study(
            sampler=RLSampler(seed=seed, budget=30, constraints_func=lambda t: t.user_attrs["c"])
        )
        study.optimize(_gramacy, n_trials=30)
        best.append(study.best_value)  # the best feasible trial's
        reason = study.trials[-1].system_attrs[REASON_KEY]
        assert reason["surrogate"] == "per-objective+violation"
    assert np.mean(best) < 0.69 and sum(b < 0.62 for b in best) >= 3, best


def test_constraints_set_on_the_trial_are_read_too():
    def objective(trial: optuna.Trial) -> float:
        value = _constrained(trial)
        if not hasattr(trial, "set_constraint"):
            trial.storage.set_trial_system_attr(
                trial._trial_id, "constraints", (trial.user_attrs["c"],)
            )
        else:
            trial.set_constraint("sum", trial.user_attrs["c"])
        return value

    study = optuna.create_study(sampler=RLSampler(seed=0))
    study.optimize(objective, n_trials=6)
    assert "constraints" in study.trials[-1].system_attrs[REASON_KEY]


def test_constraint_errors_follow_optuna():
    with pytest.raises(TypeError, match="constraints_func"):
        RLSampler(constraints_func=[0.0])  # type: ignore[arg-type]
    study = optuna.create_study(
        sampler=RLSampler(seed=0, constraints_func=lambda t: [float("nan")])
    )
    with pytest.raises(ValueError, match="NaN"):
        study.optimize(_constrained, n_trials=1)
    trial = study.trials[0]
    # As in Optuna's samplers: the value is kept, the constraints are recorded as None.
    assert trial.state in (TrialState.COMPLETE, TrialState.FAIL)
    assert trial.system_attrs.get("constraints") is None


@pytest.mark.parametrize("n_objectives", [1, 2])
@pytest.mark.parametrize("constraint_value", [-1.0, 0.0, 1.0, -math.inf, math.inf])
def test_constraints_func_contract(constraint_value: float, n_objectives: int):
    # Optuna's samplers' contract: called once per trial, the values stored per trial as
    # returned, whatever they are (infinite ones included), and the study goes on.
    calls = 0

    def constraints_func(trial: optuna.trial.FrozenTrial) -> tuple[float]:
        nonlocal calls
        calls += 1
        return (constraint_value + trial.number,)

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        return x + y if n_objectives == 1 else (x, (x - 2) ** 2 + y)

    sampler = RLSampler(seed=0, n_startup_trials=2, constraints_func=constraints_func)
    study = optuna.create_study(directions=["minimize"] * n_objectives, sampler=sampler)
    study.optimize(objective, n_trials=6)
    assert calls == 6 and len(study.trials) == 6
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.system_attrs["constraints"] == (constraint_value + trial.number,)
    # The policy ran on the constrained evidence (no fallback).
    reason = study.trials[-1].system_attrs[REASON_KEY]
    assert reason["source"] in ("sobol", "local") and "constraints" in reason


def test_infinite_violations_keep_scores_finite_and_ordered():
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    out = apply_constraints(scores, np.array([0.0, np.inf, 0.5, 2.0]))
    assert np.isfinite(out).all()
    assert out[1] < out[3] < out[2] < out[0]
    out = apply_constraints(scores, np.array([np.inf, np.inf, 0.0, 0.0]))
    assert np.isfinite(out).all() and out[:2].max() < out[2:].min()
