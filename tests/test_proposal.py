"""Unit tests of :func:`optuna_rl_sampler.proposal.propose`'s phases and hand-off.

The source weights are set directly (a stub of :meth:`MetaPrior.weights`) just above or
just below the named thresholds, so each test pins one branch of the decision and would
fail if a threshold or the branch moved.
"""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import FloatDistribution

from optuna_rl_sampler import proposal as prop
from optuna_rl_sampler.candidates import QUADRATIC_FRACTIONS
from optuna_rl_sampler.candidates import SOURCES
from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.meta_prior import PriorWeights
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.policy import load_weights
from optuna_rl_sampler.reasons import summarise_reason
from optuna_rl_sampler.sources import SourceStudy

SPACE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
PRIOR = SOURCES.index("prior")


def _prior(n_sources: int = 1) -> MetaPrior:
    rng = np.random.default_rng(0)
    sources = []
    for i in range(n_sources):
        xs = rng.random((40, 2))
        sources.append(
            SourceStudy(
                f"past-{i}",
                dict(SPACE),
                tuple({"x": float(a), "y": float(b)} for a, b in xs),
                -((xs - 0.2 - 0.05 * i) ** 2).sum(axis=1),
            )
        )
    return MetaPrior(sources, SPACE)


def _with_weight(monkeypatch: pytest.MonkeyPatch, total: float) -> None:
    """Every call of MetaPrior.weights gives the sources ``total`` of the weight, split
    evenly."""

    def weights(self, observed, scores, target_gp, rng):
        n = len(self)
        return PriorWeights(np.full(n, total / n), 1.0 - total, len(scores))

    monkeypatch.setattr(MetaPrior, "weights", weights)


def _propose(
    points: np.ndarray,
    prior: MetaPrior | None,
    *,
    weights: PolicyWeights | None = None,
    prior_startup: int = 5,
    handoff: PolicyWeights | None = None,
    progress: float | None = None,
    temperature: float = 1.0,
):
    """One proposal after ``points`` (values peak at (0.7, 0.7)); the shipped transfer
    weights unless ``weights`` is given."""
    return prop.propose(
        SearchSpaceEncoder(SPACE),
        points,
        -np.abs(points - 0.7).sum(axis=1),
        np.zeros((0, 2)),
        weights=load_weights() if weights is None else weights,
        rng=np.random.default_rng(2),
        progress=len(points) / 20 if progress is None else progress,
        n_candidates=64,
        max_observations=200,
        prior=prior,
        prior_startup=prior_startup,
        handoff=handoff,
        temperature=temperature,
    )


def _run(
    n_obs: int,
    *,
    prior_startup: int = 5,
    handoff: PolicyWeights | None = None,
    n_sources: int = 1,
):
    points = SearchSpaceEncoder(SPACE).snap(np.random.default_rng(1).random((n_obs, 2)))
    proposal = _propose(points, _prior(n_sources), prior_startup=prior_startup, handoff=handoff)
    return proposal, points


@pytest.fixture(scope="module")
def generic() -> PolicyWeights:
    from optuna_rl_sampler.policy import GENERIC_WEIGHTS
    from optuna_rl_sampler.policy import default_weights_path

    return load_weights(default_weights_path(GENERIC_WEIGHTS))


def test_trusted_sources_restrict_the_startup_phase_to_their_candidates(monkeypatch, generic):
    _with_weight(monkeypatch, prop.PRIOR_TRUST)  # exactly the threshold: trusted
    proposal, _ = _run(1, handoff=generic)
    assert proposal.reason["phase"] == "prior-startup"
    assert proposal.reason["source"] == "prior"
    # Only prior candidates carry probability.
    sources = proposal.features[:, FEATURE_NAMES.index("source_prior")]
    assert proposal.probs[sources == 1.0].sum() == pytest.approx(1.0)
    assert proposal.reason["weights"] == "transfer-v2"


def test_the_probe_is_the_sobol_candidate_the_sources_rate_lowest(monkeypatch, generic):
    assert prop.PROBE_AT is not None
    _with_weight(monkeypatch, 1.0)
    proposal, points = _run(prop.PROBE_AT, handoff=generic, n_sources=prop.PROBE_MIN_SOURCES)
    assert proposal.reason["phase"] == "prior-probe"
    assert proposal.reason["probe"] == "lowest-rated"
    assert proposal.reason["source"] == "sobol"
    # No sobol candidate is rated lower by the sources than the probe (the policy's own
    # choice would not be: its probability is beside the point here).
    sobol = proposal.features[:, FEATURE_NAMES.index("source_sobol")] == 1.0
    rated = proposal.features[:, FEATURE_NAMES.index("prior_rel")]
    assert sobol.sum() > 1 and sobol[proposal.index]
    assert rated[proposal.index] == pytest.approx(rated[sobol].min())
    assert rated[proposal.index] < np.median(rated[sobol])
    # The sources peak at (0.2, 0.2) and (0.25, 0.25): the probe lies far from there.
    assert np.linalg.norm(proposal.point - 0.2) > 0.6
    assert np.linalg.norm(points - proposal.point, axis=1).min() > 0.2


def test_sources_that_know_part_of_the_space_are_probed_far_away(monkeypatch, generic):
    # A conditional past study: half its trials took a branch without "y", which this
    # space cannot hold, so its ratings of the rest are guesses; the probe is then the
    # candidate farthest from the trials, as it was before sources' ratings led it.
    _with_weight(monkeypatch, 1.0)
    rng = np.random.default_rng(0)
    studies = []
    for i in range(prop.PROBE_MIN_SOURCES):
        xs = rng.random((40, 2))
        params = tuple(
            {"x": float(a)} if k % 2 else {"x": float(a), "y": float(b)}
            for k, (a, b) in enumerate(xs)
        )
        studies.append(
            SourceStudy(f"cond-{i}", dict(SPACE), params, -((xs - 0.2) ** 2).sum(axis=1))
        )
    prior = MetaPrior(studies, SPACE)
    assert prior.partial and len(prior) == prop.PROBE_MIN_SOURCES
    points = SearchSpaceEncoder(SPACE).snap(np.random.default_rng(1).random((prop.PROBE_AT, 2)))
    proposal = _propose(points, prior, handoff=generic)
    assert proposal.reason["phase"] == "prior-probe"
    assert proposal.reason["probe"] == "farthest"
    sobol = proposal.features[:, FEATURE_NAMES.index("source_sobol")] == 1.0
    dist = proposal.features[:, FEATURE_NAMES.index("dist_obs")]
    assert dist[proposal.index] == pytest.approx(dist[sobol].max())
    assert summarise_reason(proposal.reason).startswith(
        "prior-probe: the Sobol point farthest from the trials so far"
    )


def test_the_probe_breaks_ties_by_distance_and_is_maximin_without_source_scores():
    sobol, local = SOURCES.index("sobol"), SOURCES.index("local")
    cands = np.array([[0.5, 0.5], [0.8, 0.8], [0.1, 0.9], [0.0, 0.0], [1.0, 1.0]])
    source = np.array([sobol, sobol, sobol, sobol, local])
    observed = np.array([[0.6, 0.6]])
    # Candidates 1 and 2 tie on the sources' lowest score; 2 is farther from the trial.
    # The local candidate 4 scores lowest of all but is not space-filling.
    scores = np.array([0.3, -1.0, -1.0, 0.8, -5.0])
    assert prop._probe_index(cands, source, observed, scores) == 2
    # Without source scores: the space-filling candidate farthest from the trials.
    assert prop._probe_index(cands, source, observed) == 3
    assert prop._probe_index(cands, np.full(5, local), observed, scores) is None
    assert prop._probe_index(cands, source, np.zeros((0, 2)), scores) is None


def test_a_single_source_is_probed_right_after_its_best_configuration(monkeypatch, generic):
    # One source cannot be tested by others: the trial after its best configuration
    # is the probe that can contradict it, whichever trial that is (in the recipes,
    # trial 0 is the model's default configuration).
    _with_weight(monkeypatch, 1.0)
    prior = _prior(1)
    source = prior.matched[0]
    best = SearchSpaceEncoder(SPACE).snap(source.points[[int(np.argmax(source.scores))]])
    assert prior.is_best_configuration(best[0])
    other = np.array([[0.9, 0.1]])
    assert not prior.is_best_configuration(other[0])
    for points in (best, np.vstack([other, best])):
        proposal = _propose(points, prior, handoff=generic)
        assert proposal.reason["phase"] == "prior-probe"
        assert proposal.reason["source"] == "sobol"
        assert np.linalg.norm(points - proposal.point, axis=1).min() > 0.2
    # Before the best configuration (a default first) and after the probe: the source's
    # own configurations.
    for points in (other, np.vstack([best, other])):
        proposal = _propose(points, prior, handoff=generic)
        assert proposal.reason["phase"] == "prior-startup"
        assert proposal.reason["source"] == "prior"
    # With several sources the trial after the best stays with them (their probe comes
    # at PROBE_AT trials observed).
    proposal = _propose(best, _prior(2), handoff=generic)
    assert proposal.reason["phase"] == "prior-startup"


def test_sources_below_prior_trust_in_the_phase_are_probed(monkeypatch, generic):
    _with_weight(monkeypatch, prop.PRIOR_TRUST - 0.01)
    proposal, _ = _run(3, handoff=generic)
    assert proposal.reason["phase"] == "prior-probe"


def test_after_the_phase_distrusted_sources_hand_off_and_offer_nothing(monkeypatch, generic):
    _with_weight(monkeypatch, prop.HANDOFF_TRUST - 0.01)
    proposal, _ = _run(5, handoff=generic)
    assert "phase" not in proposal.reason
    assert proposal.reason["handoff"] is True
    assert proposal.reason["weights"] == "generic-v1"
    assert proposal.reason["distrusted"] == (
        f"the sources hold {prop.HANDOFF_TRUST - 0.01:.2f} of the weight, less than "
        f"{prop.HANDOFF_TRUST}"
    )
    # The generic policy sees the state of a study without sources.
    cols = [FEATURE_NAMES.index(c) for c in ("prior_score", "prior_rel", "prior_weight")]
    assert not proposal.features[:, cols].any()
    assert not (proposal.features[:, FEATURE_NAMES.index("source_prior")] == 1.0).any()


def test_after_the_phase_trusted_sources_keep_the_transfer_weights(monkeypatch, generic):
    _with_weight(monkeypatch, prop.HANDOFF_TRUST)
    proposal, _ = _run(5, handoff=generic)
    assert "handoff" not in proposal.reason and "phase" not in proposal.reason
    assert proposal.reason["weights"] == "transfer-v2"
    assert (proposal.features[:, FEATURE_NAMES.index("source_prior")] == 1.0).any()
    weight = proposal.features[:, FEATURE_NAMES.index("prior_weight")]
    assert np.allclose(weight, prop.HANDOFF_TRUST)


def test_without_a_handoff_policy_the_transfer_weights_always_choose(monkeypatch):
    _with_weight(monkeypatch, 0.1)
    proposal, _ = _run(6, handoff=None)
    assert "handoff" not in proposal.reason
    assert proposal.reason["weights"] == "transfer-v2"


def _slope_study(seed: int) -> tuple[float, int]:
    import optuna

    from optuna_rl_sampler import RLSampler

    study = optuna.create_study(sampler=RLSampler(seed=seed))

    def slope(trial: optuna.Trial) -> float:  # BBOB-like linear slope: optimum at a corner
        x = np.array([trial.suggest_float(f"x{i}", -5.0, 5.0) for i in range(8)])
        return float(np.sum(5.0 - x))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(slope, n_trials=40)
    steps = sum(
        t.system_attrs["rl_sampler:reason"].get("move") == "gradient-step"
        for t in study.trials[1:]
    )
    return study.best_value, steps


def test_moves_uphill_reach_a_corner_optimum_that_random_local_moves_do_not(monkeypatch):
    # An 8-D linear slope's optimum is the corner x = 5: a local move reaches it only if
    # all eight coordinates clip at once; steps up the GP mean go straight there. The
    # moves aimed at precision (from PRECISION_FROM trials on) are left out: this is
    # about the gradient steps, and so is the sharpening of a study without sources
    # (POLICY_TEMPERATURE), with which local moves alone reach it on one seed.
    import optuna_rl_sampler.sampler as sampler_module

    monkeypatch.setattr(prop, "PRECISION_FROM", 10**9)
    monkeypatch.setattr(sampler_module, "POLICY_TEMPERATURE", 1.0)
    with_steps = [_slope_study(seed) for seed in range(3)]
    assert sum(best < 1e-9 for best, _ in with_steps) >= 2
    assert all(steps > 0 for _, steps in with_steps)  # and the reasons say so
    monkeypatch.setattr(prop, "_gradient_points", lambda *args: None)
    without = [_slope_study(seed) for seed in range(3)]
    assert not any(best < 1e-9 for best, _ in without)
    assert all(steps == 0 for _, steps in without)


def _offered_moves(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, np.ndarray]]:
    """Record the moves uphill that each proposal offers, by kind."""
    offered: list[dict[str, np.ndarray]] = []
    original = prop._gradient_points

    def spy(encoder, observed, precision=False):
        out = original(encoder, observed, precision)
        if out is not None:
            points, kinds = out
            offered.append({prop.MOVES[k]: points[kinds == k] for k in set(kinds.tolist())})
        return out

    monkeypatch.setattr(prop, "_gradient_points", spy)
    return offered


def test_moves_aimed_at_precision_join_late_in_a_study_without_sources(monkeypatch, generic):
    # A bowl with its top at (0.7, 0.3), none of the trials near it.
    top = np.array([0.7, 0.3])
    x = np.random.default_rng(4).random((prop.PRECISION_FROM + 10, 2))
    x = x[np.linalg.norm(x - top, axis=1) > 0.1]
    offered = _offered_moves(monkeypatch)

    def run(n: int, prior: MetaPrior | None = None) -> dict[str, np.ndarray]:
        prop.propose(
            SearchSpaceEncoder(SPACE),
            x[:n],
            -(((x[:n] - top) * [1.0, 3.0]) ** 2).sum(axis=1),
            np.zeros((0, 2)),
            weights=generic,
            rng=np.random.default_rng(0),
            progress=0.5,
            n_candidates=64,
            max_observations=200,
            prior=prior,
        )
        return offered[-1]

    assert set(run(prop.PRECISION_FROM - 1)) == {"gradient-step"}
    late = run(prop.PRECISION_FROM)
    assert set(late) == {"gradient-step", "mean-maximum", "quadratic-model"}
    # The quadratic model of the values sees the bowl: its full step lands on the top,
    # and the shorter ones lie between the best trial and the top.
    quadratic = late["quadratic-model"]
    assert len(quadratic) == len(QUADRATIC_FRACTIONS)
    assert np.linalg.norm(quadratic[QUADRATIC_FRACTIONS.index(1.0)] - top) < 5e-3
    assert len(late["mean-maximum"]) == prop.N_ASCENT_INCUMBENTS
    # With sources the study is not on its own: no moves aimed at precision.
    assert set(run(prop.PRECISION_FROM, prior=_prior())) == {"gradient-step"}


def test_multi_objective_and_constrained_studies_take_no_gradient_steps():
    import optuna

    from optuna_rl_sampler import RLSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def point(trial: optuna.Trial) -> np.ndarray:
        return np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)])

    def moves(study: optuna.Study) -> int:
        reasons = [t.system_attrs.get("rl_sampler:reason", {}) for t in study.trials]
        return sum(r.get("move") == "gradient-step" for r in reasons)

    single = optuna.create_study(sampler=RLSampler(seed=0))
    single.optimize(lambda t: float(np.sum(point(t))), n_trials=30)
    assert moves(single) > 0
    multi = optuna.create_study(directions=["minimize", "minimize"], sampler=RLSampler(seed=0))
    multi.optimize(lambda t: tuple(float(v) for v in point(t)[:2]), n_trials=30)
    assert moves(multi) == 0

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return [trial.params["x0"] - 0.5]

    constrained = optuna.create_study(sampler=RLSampler(seed=0, constraints_func=constraints))
    constrained.optimize(lambda t: float(np.sum(point(t))), n_trials=30)
    assert moves(constrained) == 0


def test_normalised_entropy_known_values():
    assert prop.normalised_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    assert prop.normalised_entropy(np.array([0.0, 1.0, 0.0])) == 0.0
    assert prop.normalised_entropy(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)
    assert prop.normalised_entropy(np.array([1.0])) == 0.0


def test_the_reason_says_how_undecided_the_policy_was(generic):
    points = SearchSpaceEncoder(SPACE).snap(np.random.default_rng(1).random((12, 2)))

    def run(weights: PolicyWeights):
        return _propose(points, None, weights=weights, prior_startup=0, progress=0.5)

    trained = run(generic)
    assert trained.reason["entropy"] == round(prop.normalised_entropy(trained.probs), 3)
    assert trained.reason["entropy"] < 0.9  # generic-v1 has a preference at 12 trials
    # A zero last layer is the uniform policy: no preference at all.
    tensors = dict(generic.tensors)
    tensors["score.2.weight"] = np.zeros_like(tensors["score.2.weight"])
    tensors["score.2.bias"] = np.zeros_like(tensors["score.2.bias"])
    uniform = run(PolicyWeights(tensors, generic.card, "uniform"))
    assert uniform.reason["entropy"] == 1.0


def test_a_temperature_sharpens_the_policy_over_the_same_candidates(generic):
    points = SearchSpaceEncoder(SPACE).snap(np.random.default_rng(1).random((8, 2)))

    def run(temperature: float):
        return _propose(points, None, weights=generic, progress=0.4, temperature=temperature)

    plain, sharp = run(1.0), run(prop.POLICY_TEMPERATURE)
    # The same candidates and features; probabilities softmax(logits / T).
    assert np.array_equal(plain.features, sharp.features)
    logits = generic.logits(plain.features) / prop.POLICY_TEMPERATURE
    expected = np.exp(logits - logits.max())
    assert np.allclose(sharp.probs, expected / expected.sum())
    assert prop.normalised_entropy(sharp.probs) < prop.normalised_entropy(plain.probs) - 0.1
    assert sharp.reason["temperature"] == prop.POLICY_TEMPERATURE
    assert "temperature" not in plain.reason
