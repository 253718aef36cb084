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


def test_gp_posterior_matches_the_dense_formulas():
    """The fit's LAPACK calls give the textbook posterior: mean k*^T (K + s I)^-1 y and
    variance 1 - k*^T (K + s I)^-1 k*, also for a factor stored in C order."""
    from dataclasses import replace

    from optuna_rl_sampler.surrogate import _matern52
    from optuna_rl_sampler.surrogate import _sq_dist

    rng = np.random.default_rng(3)
    x, x_new = rng.random((40, 3)), rng.random((7, 3))
    y = normal_scores(np.sin(6 * x).sum(axis=1))
    gp = fit_gp(x, y)
    k = _matern52(_sq_dist(x, x), gp.length_scale) + (gp.noise + 1e-8) * np.eye(40)
    k_star = _matern52(_sq_dist(x_new, x), gp.length_scale)
    mean = k_star @ np.linalg.solve(k, y)
    var = 1.0 - np.einsum("ij,ji->i", k_star, np.linalg.solve(k, k_star.T))
    np.testing.assert_allclose(gp.chol @ gp.chol.T, k, atol=1e-10)
    for post in (gp, replace(gp, chol=np.ascontiguousarray(gp.chol))):
        m, sd = post.predict(x_new)
        np.testing.assert_allclose(m, mean, atol=1e-8)
        np.testing.assert_allclose(sd**2, np.maximum(var, 1e-12), atol=1e-8)


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


def _central_gradient(gp, at: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The GP mean's gradient at each row of ``at`` by central differences."""
    steps = eps * np.eye(at.shape[1])
    return np.array(
        [
            [(gp.predict_mean(p + e[None]) - gp.predict_mean(p - e[None]))[0] for e in steps]
            for p in at[:, None, :]
        ]
    ) / (2 * eps)


def test_mean_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.random((30, 3))
    y = -((x - 0.3) ** 2).sum(1)
    gp = fit_gp(x, (y - y.mean()) / y.std())
    at = np.vstack([rng.random((3, 3)), x[:1]])  # an observed point too (r = 0)
    np.testing.assert_allclose(
        gp.mean_gradient(at), _central_gradient(gp, at), rtol=1e-5, atol=1e-7
    )
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


def test_mean_ascent_climbs_to_the_maximum_and_leaves_flat_starts():
    from optuna_rl_sampler.candidates import mean_ascent

    def bowl(x: np.ndarray) -> np.ndarray:
        return -(((x - [0.2, 0.7, 0.5]) ** 2) * [1.0, 4.0, 0.0]).sum(axis=1)

    def slope(x: np.ndarray) -> np.ndarray:
        return -2.0 * (x - [0.2, 0.7, 0.5]) * [1.0, 4.0, 0.0]

    # The climb is short (ASCENT_ITERATIONS steps): it starts near the top.
    starts = np.array([[0.4, 0.5, 0.3], [0.2, 0.7, 0.9]])
    out = mean_ascent(starts, bowl, slope)
    # Within 0.015 of the top (the flat coordinate 2 stays), from 0.22 away.
    np.testing.assert_allclose(out[0], [0.2, 0.7, 0.3], atol=0.015)
    np.testing.assert_array_equal(out[1], starts[1])  # already at the top: stays
    # A maximum outside the cube: the climb stops on its face.
    edge = mean_ascent(np.array([[0.5]]), lambda x: x[:, 0], lambda x: np.ones_like(x))
    assert edge[0, 0] == 1.0


def test_quadratic_step_finds_a_rotated_bowl_with_cross_terms():
    from optuna_rl_sampler.candidates import QUADRATIC_FRACTIONS as FRACTIONS
    from optuna_rl_sampler.candidates import quadratic_step

    full = FRACTIONS.index(1.0)

    rng = np.random.default_rng(3)
    rot = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    top = np.array([0.35, 0.6, 0.45])
    hess = rot @ np.diag([1.0, 10.0, 100.0]) @ rot.T
    x = top + 0.2 * (rng.random((40, 3)) - 0.5)
    y = -np.einsum("ni,ij,nj->n", x - top, hess, x - top)
    out = quadratic_step(x, y)
    assert out.shape == (len(FRACTIONS), 3)
    # Ill-conditioned and rotated, yet one step (up to the small regularisation).
    np.testing.assert_allclose(out[full], top, atol=5e-3)
    best = x[np.argmax(y)]
    for fraction, point in zip(FRACTIONS, out, strict=True):  # the same step, longer and shorter
        np.testing.assert_allclose(point, best + fraction * (out[full] - best), atol=1e-12)


def test_quadratic_step_diagonal_model_trust_region_and_refusals():
    from optuna_rl_sampler.candidates import QUADRATIC_FRACTIONS as FRACTIONS
    from optuna_rl_sampler.candidates import quadratic_step

    full = FRACTIONS.index(1.0)

    rng = np.random.default_rng(4)
    # 12 numeric parameters: no cross terms; 2 * 12 + 1 = 25 coefficients, 39.5 -> 39 trials.
    x = rng.random((39, 12))
    y = -((x - 0.5) ** 2).sum(axis=1)
    out = quadratic_step(x, y)
    np.testing.assert_allclose(out[full], 0.5, atol=5e-3)
    assert quadratic_step(x[:38], y[:38]).shape == (0, 12)  # too few trials
    assert quadratic_step(x, np.zeros(39)).shape == (0, 12)  # no spread in the values
    # A slope (no maximum inside): the full step stops at the fitted trials' radius.
    x2 = 0.5 + 0.1 * (rng.random((20, 2)) - 0.5)
    y2 = x2 @ [1.0, 2.0]
    step = quadratic_step(x2, y2)[full] - x2[np.argmax(y2)]
    radius = np.linalg.norm(x2 - x2[np.argmax(y2)], axis=1).max()
    assert np.linalg.norm(step) <= radius + 1e-9
    assert step @ [1.0, 2.0] > 0  # uphill


def test_quadratic_step_keeps_categorical_choices_and_ignores_pruned_trials():
    from optuna_rl_sampler.candidates import QUADRATIC_FRACTIONS as FRACTIONS
    from optuna_rl_sampler.candidates import quadratic_step

    full = FRACTIONS.index(1.0)

    rng = np.random.default_rng(5)
    x = rng.random((30, 3))
    x[:, 2] = np.where(rng.random(30) < 0.5, 0.25, 0.75)  # a categorical coordinate
    y = -((x[:, :2] - [0.3, 0.4]) ** 2).sum(axis=1) + 0.01 * (x[:, 2] > 0.5)
    y[:4] = -np.inf  # pruned
    out = quadratic_step(x, y, np.array([False, False, True]))
    assert out[full, 2] == x[np.argmax(y), 2]
    # The choice's small effect is noise to the model of the numeric coordinates.
    np.testing.assert_allclose(out[full, :2], [0.3, 0.4], atol=0.02)


def test_mean_gradient_of_a_wide_embedding_takes_matrix_products_with_the_same_result(
    monkeypatch,
):
    import optuna_rl_sampler.surrogate as surrogate

    # 3 numeric coordinates and a 97-way one-hot block: 100 embedded dimensions.
    rng = np.random.default_rng(1)
    m, choices = 60, 97
    numeric = rng.random((m, 3))
    onehot = np.zeros((m, choices))
    onehot[np.arange(m), rng.integers(0, choices, m)] = np.sqrt(0.5)
    x = np.hstack([numeric, onehot])
    y = -((numeric - 0.4) ** 2).sum(1) + onehot[:, 0]
    gp = fit_gp(x, (y - y.mean()) / y.std())
    at = np.vstack([x[:2] + 0.01, x[:1]])  # near observed points, and one on them
    assert at.shape[1] > surrogate._PAIRWISE_GRADIENT_DIMS
    wide = gp.mean_gradient(at)
    monkeypatch.setattr(surrogate, "_PAIRWISE_GRADIENT_DIMS", 1000)
    pairwise = gp.mean_gradient(at)
    np.testing.assert_allclose(wide, pairwise, rtol=1e-9, atol=1e-12)
    assert np.abs(pairwise).max() > 1e-3  # not a trivial zero gradient


def _mixed_design(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two numeric coordinates and a choice of three (one-hot, scaled as
    the encoder embeds it), and the choice of each."""
    numeric = rng.random((n, 2))
    choice = rng.integers(0, 3, n)
    onehot = np.zeros((n, 3))
    onehot[np.arange(n), choice] = np.sqrt(0.5)
    return np.hstack([numeric, onehot]), choice


_CHOICE_COLUMNS = np.array([False, False, True, True, True])


def test_gp_weighs_a_choice_with_a_small_additive_effect_less_than_a_numeric_axis():
    """A bowl in the numbers, and a choice that shifts every value by a little: the fit
    takes the choices to be closer than the ends of an axis, so what the trials of two
    choices showed of the bowl carries to the third, which no trial near the bottom has."""
    rng = np.random.default_rng(0)
    x, choice = _mixed_design(rng, 60)
    bowl = -((x[:, :2] - 0.3) ** 2).sum(1)
    near = ((x[:, :2] - 0.3) ** 2).sum(1) < 0.1
    keep = ~(near & (choice == 2))  # choice 2 is tried only far from the bottom
    y = bowl + 0.05 * (choice == 2)
    x, y = x[keep], normal_scores(y[keep])
    weighed = fit_gp(x, y, categorical=_CHOICE_COLUMNS)
    apart = fit_gp(x, y)
    assert weighed.input_scale is not None and apart.input_scale is None
    np.testing.assert_allclose(weighed.input_scale, [1, 1, 0.25, 0.25, 0.25])
    bottom = np.array([[0.3, 0.3, 0.0, 0.0, np.sqrt(0.5)]])
    corner = np.array([[0.95, 0.95, 0.0, 0.0, np.sqrt(0.5)]])
    assert weighed.predict(bottom)[0][0] > apart.predict(bottom)[0][0] + 0.3
    assert weighed.predict(bottom)[0][0] > weighed.predict(corner)[0][0] + 1.0


def test_gp_keeps_choices_apart_when_each_has_its_own_bowl():
    rng = np.random.default_rng(1)
    x, choice = _mixed_design(rng, 60)
    centre = np.array([[0.2, 0.2], [0.8, 0.8], [0.2, 0.8]])[choice]
    y = normal_scores(-((x[:, :2] - centre) ** 2).sum(1))
    gp = fit_gp(x, y, categorical=_CHOICE_COLUMNS)
    assert gp.input_scale is None
    # On categorical columns alone a factor would only be another length scale.
    only = fit_gp(x[:, 2:], y, categorical=np.ones(3, dtype=bool))
    assert only.input_scale is None
    with pytest.raises(ValueError, match=r"each of the 5 embedded columns of x, got shape \(3,\)"):
        fit_gp(x, y, categorical=np.ones(3, dtype=bool))


def test_weighed_gp_predicts_differentiates_and_takes_pending_points_on_the_raw_embedding():
    rng = np.random.default_rng(0)
    x, choice = _mixed_design(rng, 40)
    y = normal_scores(-((x[:, :2] - 0.3) ** 2).sum(1) + 0.05 * (choice == 2))
    gp = fit_gp(x, y, categorical=_CHOICE_COLUMNS)
    assert gp.input_scale is not None
    # The conditioning inputs are stored scaled; predictions take raw embedded points.
    mean, std = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=0.3)
    np.testing.assert_allclose(gp.predict_mean(x), mean)
    at = x[:4]
    np.testing.assert_allclose(
        gp.mean_gradient(at), _central_gradient(gp, at), rtol=1e-5, atol=1e-7
    )
    pending = np.array([[0.9, 0.1, np.sqrt(0.5), 0.0, 0.0]])
    with_pending = fit_gp(x, y, pending, categorical=_CHOICE_COLUMNS)
    np.testing.assert_array_equal(with_pending.input_scale, gp.input_scale)
    assert with_pending.predict(pending)[1][0] < 0.7 * gp.predict(pending)[1][0]
    assert with_pending.predict(pending)[0][0] == pytest.approx(gp.predict(pending)[0][0])
