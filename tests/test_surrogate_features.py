from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from optuna_rl_sampler.candidates import LOCAL
from optuna_rl_sampler.candidates import PRIOR
from optuna_rl_sampler.candidates import SOBOL
from optuna_rl_sampler.candidates import generate_candidates
from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.features import candidate_features
from optuna_rl_sampler.features import log_expected_improvement
from optuna_rl_sampler.surrogate import fit_gp
from optuna_rl_sampler.surrogate import normal_scores
from optuna_rl_sampler.surrogate import select_points


def test_normal_scores_known_values():
    s = normal_scores(np.array([3.0, 1.0, 2.0, 2.0]))
    # ranks 4, 1, 2.5, 2.5 of 4
    np.testing.assert_allclose(s, norm.ppf((np.array([4, 1, 2.5, 2.5]) - 0.5) / 4))
    assert normal_scores(np.array([7.0]))[0] == 0.0
    inf = normal_scores(np.array([np.inf, 0.0, -np.inf]))
    assert inf[0] > inf[1] > inf[2]


def test_select_points_keeps_the_best_half():
    y = np.arange(100.0)
    idx = select_points(y, 10, np.random.default_rng(0))
    assert len(idx) == 10
    assert set(range(95, 100)) <= set(idx.tolist())
    np.testing.assert_array_equal(select_points(y[:5], 10, np.random.default_rng(0)), np.arange(5))


def test_gp_interpolates_and_is_uncertain_far_away():
    x = np.array([[0.1], [0.5], [0.9]])
    y = np.array([-1.0, 1.0, 0.0])
    gp = fit_gp(x, y)
    mean, std = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=0.05)
    assert np.all(std < 0.2)
    _, far = gp.predict(np.array([[5.0]]))
    assert far[0] > 0.9


def test_pending_points_shrink_variance_not_mean():
    x = np.array([[0.1], [0.9]])
    y = np.array([0.0, 1.0])
    base = fit_gp(x, y)
    with_pending = fit_gp(x, y, np.array([[0.5]]))
    m0, s0 = base.predict(np.array([[0.5]]))
    m1, s1 = with_pending.predict(np.array([[0.5]]))
    assert s1[0] < 0.5 * s0[0]
    assert m1[0] == pytest.approx(m0[0], abs=1e-6)


def test_log_expected_improvement_matches_closed_form():
    z = np.array([-3.0, -1.0, 0.0, 2.0])
    std = np.array([0.5, 1.0, 2.0, 1.0])
    ei = std * (z * norm.cdf(z) + norm.pdf(z))
    np.testing.assert_allclose(log_expected_improvement(z, std), np.log(ei), rtol=1e-9)
    # Stable far in the tail: finite and decreasing.
    tail = log_expected_improvement(np.array([-10.0, -40.0]), np.ones(2))
    assert np.all(np.isfinite(tail)) and tail[0] > tail[1]


def test_candidates_sources_and_bounds():
    rng = np.random.default_rng(0)
    inc = np.full((2, 3), 0.5)
    prior = np.full((4, 3), 0.2)
    c = generate_candidates(64, 3, rng, incumbents=inc, prior_points=prior)
    assert c.points.shape == (64, 3)
    assert np.all((c.points >= 0) & (c.points <= 1))
    counts = np.bincount(c.source, minlength=3)
    assert counts[PRIOR] == 4 and counts[LOCAL] == 30 and counts[SOBOL] == 30
    only_sobol = generate_candidates(10, 2, rng)
    assert np.all(only_sobol.source == SOBOL)


def test_features_known_values():
    observed = np.array([[0.0, 0.0], [1.0, 1.0]])
    scores = np.array([-0.5, 0.5])
    cands = np.array([[1.0, 1.0], [0.5, 0.5]])
    mean, std = fit_gp(observed, scores, np.array([[0.5, 0.5]])).predict(cands)
    st = candidate_features(
        cands,
        np.array([SOBOL, LOCAL]),
        observed,
        scores,
        mean=mean,
        std=std,
        pending=np.array([[0.5, 0.5]]),
        progress=0.25,
        n_params=2,
    )
    f = dict(zip(FEATURE_NAMES, st.features.T, strict=True))
    np.testing.assert_allclose(f["dist_obs"], [0.0, np.sqrt(0.5) / np.sqrt(2)])
    np.testing.assert_allclose(f["dist_pending"], [np.sqrt(0.5) / np.sqrt(2), 0.0])
    np.testing.assert_allclose(f["dist_incumbent"], [0.0, 0.5])
    np.testing.assert_allclose(f["is_duplicate"], [1.0, 0.0])
    np.testing.assert_allclose(f["progress"], [0.25, 0.25])
    np.testing.assert_allclose(f["source_sobol"], [1.0, 0.0])
    np.testing.assert_allclose(f["prior_weight"], [0.0, 0.0])
    np.testing.assert_allclose(f["prior_score"], [0.0, 0.0])
    np.testing.assert_allclose(f["mean"], np.clip(mean, -3, 3) / 3)
    assert np.all(np.abs(st.features) <= 1.0 + 1e-12)


def test_prior_features_by_name():
    cands = np.array([[0.2], [0.8], [0.5]])
    st = candidate_features(
        cands,
        np.array([PRIOR, SOBOL, LOCAL]),
        np.zeros((0, 1)),
        np.zeros(0),
        mean=np.zeros(3),
        std=np.ones(3),
        progress=0.0,
        n_params=1,
        prior_score=np.array([1.5, -3.0, 0.0]),
        prior_weight=0.4,
    )
    f = dict(zip(FEATURE_NAMES, st.features.T, strict=True))
    np.testing.assert_allclose(f["prior_score"], [0.5, -1.0, 0.0])
    np.testing.assert_allclose(f["prior_weight"], [0.4, 0.4, 0.4])
    assert f["prior_rel"][0] == 1.0 and f["prior_rel"][1] < f["prior_rel"][2] < 1.0
    np.testing.assert_allclose(f["source_prior"], [1.0, 0.0, 0.0])


def test_features_without_observations():
    st = candidate_features(
        np.random.default_rng(0).random((5, 3)),
        np.zeros(5, dtype=int),
        np.zeros((0, 3)),
        np.zeros(0),
        mean=np.zeros(5),
        std=np.ones(5),
        progress=0.0,
        n_params=3,
    )
    assert np.all(np.isfinite(st.features))
    np.testing.assert_allclose(st.std, 1.0)


def test_gp_on_many_points_picks_hyperparameters_on_a_subset_and_fits_all():
    rng = np.random.default_rng(0)
    x = rng.random((300, 2))
    y = normal_scores(-((x - 0.3) ** 2).sum(1))
    gp = fit_gp(x, y)
    assert gp.x.shape == (300, 2)
    mean, _ = gp.predict(x[:20])
    assert np.corrcoef(mean, y[:20])[0, 1] > 0.99


def test_mean_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.random((30, 3))
    y = -((x - 0.3) ** 2).sum(1)
    gp = fit_gp(x, (y - y.mean()) / y.std())
    at = np.vstack([rng.random((3, 3)), x[:1]])  # an observed point too (r = 0)
    eps = 1e-6
    numeric = np.array(
        [
            [
                (gp.predict_mean(p[None] + eps * e) - gp.predict_mean(p[None] - eps * e))[0]
                / (2 * eps)
                for e in np.eye(3)
            ]
            for p in at
        ]
    )
    np.testing.assert_allclose(gp.mean_gradient(at), numeric, rtol=1e-5, atol=1e-7)
    # The fitted mean rises towards the optimum at 0.3 from a point beyond it.
    assert (gp.mean_gradient(np.array([[0.9, 0.9, 0.9]])) < 0).all()


def test_gradient_steps_go_along_the_direction_clip_and_skip_flat_rows():
    from optuna_rl_sampler.candidates import GRADIENT_STEPS
    from optuna_rl_sampler.candidates import gradient_steps

    inc = np.array([[0.5, 0.5], [0.2, 0.99], [0.3, 0.3]])
    grad = np.array([[3.0, 4.0], [0.0, 7.0], [0.0, 0.0]])  # the third has no direction
    steps = gradient_steps(inc, grad)
    n = len(GRADIENT_STEPS)
    assert steps.shape == (2 * n, 2)
    np.testing.assert_allclose(steps[:n], 0.5 + GRADIENT_STEPS[:, None] * [[0.6, 0.8]])
    np.testing.assert_allclose(steps[n:, 0], 0.2)
    np.testing.assert_allclose(steps[n:, 1], np.minimum(0.99 + GRADIENT_STEPS, 1.0))
    assert gradient_steps(inc[2:], grad[2:]).shape == (0, 2)


def test_gradient_points_take_the_last_local_places_and_keep_the_random_stream():
    inc = np.array([[0.2, 0.8, 0.5]])
    plain = generate_candidates(64, 3, np.random.default_rng(5), incumbents=inc)
    steps = np.full((4, 3), 0.25)
    with_steps = generate_candidates(
        64, 3, np.random.default_rng(5), incumbents=inc, gradient_points=steps
    )
    assert plain.gradient is None
    np.testing.assert_array_equal(with_steps.points[:-4], plain.points[:-4])
    np.testing.assert_array_equal(with_steps.points[-4:], steps)
    assert with_steps.gradient.tolist() == [False] * 60 + [True] * 4
    assert (with_steps.source[-4:] == LOCAL).all()
    # Never more steps than local moves; none without incumbents.
    many = generate_candidates(
        8, 3, np.random.default_rng(5), incumbents=inc, gradient_points=np.zeros((50, 3))
    )
    assert many.gradient.sum() == (many.source == LOCAL).sum() == 4
    none = generate_candidates(8, 3, np.random.default_rng(5), gradient_points=steps)
    assert none.gradient is None and (none.source == SOBOL).all()
