from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.meta_prior import _PAIRWISE_ELEMENTS
from optuna_rl_sampler.meta_prior import SAME_POINT_TOL
from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.meta_prior import match_source
from optuna_rl_sampler.meta_prior import same_points
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.sources import load_sources_json
from optuna_rl_sampler.sources import save_sources_json
from optuna_rl_sampler.surrogate import fit_gp
from optuna_rl_sampler.surrogate import normal_scores

SPACE = {
    "x": FloatDistribution(0.0, 1.0),
    "lr": FloatDistribution(1e-4, 1e-2, log=True),
    "act": CategoricalDistribution(["relu", "tanh", "gelu"]),
}


def _landscape(params: dict, sign: float = 1.0) -> float:
    # Best at x = 0.7, lr = 1e-3, act = "tanh".
    value = -((params["x"] - 0.7) ** 2) - (math.log10(params["lr"]) + 3.0) ** 2 / 4
    value -= 0.0 if params["act"] == "tanh" else 0.3
    return sign * value


def _source(name: str, n: int = 80, sign: float = 1.0, seed: int = 0) -> SourceStudy:
    rng = np.random.default_rng(seed)
    enc = SearchSpaceEncoder(SPACE)
    rows = [enc.decode(u) for u in enc.snap(rng.random((n, 3)))]
    values = np.array([_landscape(r, sign) for r in rows])
    return SourceStudy(name, dict(SPACE), tuple(rows), values, {"dataset": name})


def test_matching_maps_values_through_the_target_encoding():
    src = SourceStudy(
        "s",
        {
            "lr": FloatDistribution(1e-5, 1e-1, log=True),
            "act": CategoricalDistribution(["relu", "tanh", "swish"]),
            "renamed_x": FloatDistribution(0.0, 1.0),
        },
        (
            {"lr": 1e-3, "act": "tanh", "renamed_x": 0.1},
            {"lr": 1e-1, "act": "relu", "renamed_x": 0.2},  # lr clipped to 1e-2
            {"lr": 1e-4, "act": "swish", "renamed_x": 0.3},  # no "swish" here: dropped
            {"lr": 1e-3, "act": "relu", "renamed_x": 0.4},
            {"lr": 5e-3, "act": "gelu", "renamed_x": 0.5},
            {"lr": 2e-4, "act": "tanh", "renamed_x": 0.6},
        ),
        np.arange(6.0),
    )
    m = match_source(src, SPACE, np.random.default_rng(0))
    assert m is not None
    enc = SearchSpaceEncoder(SPACE)
    assert [enc.param_names[j] for j in m.columns] == ["act", "lr"]  # "x" unmatched
    assert m.n_dropped == 1 and m.n_clipped == 1
    assert len(m.points) == 5
    x_col = enc.param_names.index("x")
    assert np.isnan(m.points[:, x_col]).all()
    lr_col = enc.param_names.index("lr")
    # log scale: 1e-3 is the middle of [1e-4, 1e-2]; the clipped 1e-1 sits at the top.
    assert m.points[0, lr_col] == pytest.approx(0.5)
    assert m.points[1, lr_col] == pytest.approx(1.0)


def test_too_little_overlap_does_not_match():
    src = SourceStudy(
        "other",
        {"depth": IntDistribution(1, 10), "x": CategoricalDistribution(["a", "b"])},
        tuple({"depth": i % 10 + 1, "x": "a"} for i in range(10)),
        np.arange(10.0),
    )
    # "x" is numeric in the target and categorical in the source: no match at all.
    assert match_source(src, SPACE, np.random.default_rng(0)) is None
    partial = SourceStudy(
        "partial",
        {"x": FloatDistribution(0, 1), "a": FloatDistribution(0, 1), "b": FloatDistribution(0, 1)},
        tuple({"x": i / 10, "a": 0.5, "b": 0.5} for i in range(10)),
        np.arange(10.0),
    )
    assert match_source(partial, SPACE, np.random.default_rng(0)) is not None
    # As a family match it covers 1/3 of the target and of the source: refused.
    assert match_source(partial, SPACE, np.random.default_rng(0), family_share=0.75) is None


def _observed(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    enc = SearchSpaceEncoder(SPACE)
    pts = enc.snap(np.random.default_rng(seed).random((n, 3)))
    values = np.array([_landscape(enc.decode(p)) for p in pts])
    return pts, normal_scores(values)


def test_weights_follow_the_ranking_of_the_new_trials():
    prior = MetaPrior([_source("good"), _source("bad", sign=-1.0, seed=1)], SPACE)
    assert prior.names == ["good", "bad"]
    enc = SearchSpaceEncoder(SPACE)
    rng = np.random.default_rng(0)
    # Before two distinct values exist, every source weighs the same.
    w0 = prior.weights(np.zeros((1, 3)), np.zeros(1), None, rng)
    np.testing.assert_allclose(w0.sources, [0.5, 0.5])
    assert w0.target == 0.0
    pts, scores = _observed(12)
    gp = fit_gp(enc.embed(pts), scores)
    w = prior.weights(pts, scores, gp, rng)
    assert w.sources[0] > 0.8  # ranks the new trials as they are
    assert w.sources[1] == 0.0  # ranks them backwards: dropped
    assert w.sources.sum() + w.target == pytest.approx(1.0)


def test_a_source_no_better_than_chance_gets_no_weight():
    # Two misleading sources and nothing else: on three trials one of them could win a
    # bootstrap resample by luck under the plain RGPE rule; neither ranks the trials
    # better than chance, so all the weight goes to the new study's own model.
    prior = MetaPrior(
        [_source("bad1", sign=-1.0, seed=1), _source("bad2", sign=-1.0, seed=2)], SPACE
    )
    enc = SearchSpaceEncoder(SPACE)
    # (Resamples that hold no comparable pair rank nothing; they split evenly.)
    for n, most in ((3, 0.15), (6, 0.0)):
        pts, scores = _observed(n, seed=11)
        gp = fit_gp(enc.embed(pts), scores)
        w = prior.weights(pts, scores, gp, np.random.default_rng(0))
        assert w.total <= most, (n, w)
    # A source that ranks them right keeps its weight on the same trials.
    prior = MetaPrior([_source("good"), _source("bad", sign=-1.0, seed=1)], SPACE)
    pts, scores = _observed(6, seed=11)
    w = prior.weights(pts, scores, fit_gp(enc.embed(pts), scores), np.random.default_rng(0))
    assert w.sources[0] > 0.5 and w.sources[1] == 0.0
    # Their consensus (good and backwards averaged) ranks no better than chance, yet the
    # good source ranks the trials better than either would by luck: not distrusted.
    assert w.distrusted is None


def test_scores_and_prior_points_point_at_the_sources_optimum():
    prior = MetaPrior([_source("good", n=120)], SPACE)
    enc = SearchSpaceEncoder(SPACE)
    w = prior.weights(np.zeros((0, 3)), np.zeros(0), None, np.random.default_rng(0))
    best = enc.encode({"x": 0.7, "lr": 1e-3, "act": "tanh"})
    worst = enc.encode({"x": 0.0, "lr": 1e-2, "act": "relu"})
    s = prior.scores(np.vstack([best, worst]), w)
    assert s[0] > s[1] + 1.0
    pts = prior.prior_points(4, w, np.random.default_rng(0))
    assert pts.shape == (4, 3)
    decoded = enc.decode(pts[0])
    assert decoded["act"] == "tanh" and abs(decoded["x"] - 0.7) < 0.2
    assert prior.describe(w)["top_sources"] == {"good": 1.0}


def test_source_values_of_another_kind_are_dropped():
    # The source's "c" holds True/False and 1.0/2.0; the target's "c" chooses 1 or 2.
    target = {"c": CategoricalDistribution([1, 2]), "x": FloatDistribution(0.0, 1.0)}
    rows = tuple(
        {"c": [True, 2.0, 1.0, False][i % 4], "x": [0.1, 0.2, "0.3", False, 0.5][i % 5]}
        for i in range(20)
    )
    src = SourceStudy(
        "mixed",
        {"c": CategoricalDistribution([True, False, 1.0, 2.0]), "x": FloatDistribution(0, 1)},
        rows,
        np.arange(20.0),
    )
    m = match_source(src, target, np.random.default_rng(0))
    assert m is not None
    # Kept: c is 2.0 or 1.0 (not True/False) and x a number (not "0.3" nor False): rows
    # 1, 5, 6, 9, 10 and 14 of the 20.
    assert m.n_dropped == 14 and len(m.points) == 6
    # 2.0 is the target's choice 2 (index 1 of 2: cube 0.75), 1.0 its choice 1 (0.25).
    np.testing.assert_allclose(m.points[:, 0], [0.75, 0.75, 0.25, 0.75, 0.25, 0.25])
    np.testing.assert_allclose(m.points[:, 1], [0.2, 0.1, 0.2, 0.5, 0.1, 0.5])


def test_prior_points_never_offer_a_configuration_the_study_has():
    # The source's best x is 0.3 (ten times), then 0.35, 0.4, ... on an int-like grid.
    space = {"x": FloatDistribution(0.0, 1.0, step=0.05)}
    xs = np.concatenate([np.full(10, 0.3), np.arange(0.35, 1.0, 0.05)])
    src = SourceStudy("s", dict(space), tuple({"x": float(x)} for x in xs), -np.abs(xs - 0.3))
    prior = MetaPrior([src], space)
    enc = SearchSpaceEncoder(space)
    w = prior.weights(np.zeros((0, 1)), np.zeros(0), None, np.random.default_rng(0))
    rng = np.random.default_rng(0)

    def decode(points: np.ndarray) -> list[float]:
        return [round(enc.decode(p)["x"], 2) for p in points]

    # Duplicates within the source give way to its next best configurations ...
    assert decode(prior.prior_points(3, w, rng)) == [0.3, 0.35, 0.4]
    # ... and so do configurations the study has evaluated or is evaluating.
    seen = np.array([enc.encode({"x": 0.3}), enc.encode({"x": 0.4})])
    assert decode(prior.prior_points(3, w, rng, exclude=seen)) == [0.35, 0.45, 0.5]


def test_no_sources_no_prior():
    prior = MetaPrior([], SPACE)
    assert len(prior) == 0
    w = prior.weights(np.zeros((3, 3)), np.arange(3.0), None, np.random.default_rng(0))
    assert w.total == 0.0 and w.target == 1.0
    assert prior.prior_points(5, w, np.random.default_rng(0)).shape == (0, 3)


def test_sources_json_round_trip(tmp_path):
    src = [_source("a", n=7), _source("b", n=9, sign=-1.0)]
    back = load_sources_json(save_sources_json(src, tmp_path / "s.json.gz"))
    assert [s.name for s in back] == ["a", "b"]
    assert back[0].params == src[0].params
    np.testing.assert_array_equal(back[1].values, src[1].values)
    assert back[0].distributions == src[0].distributions
    with pytest.raises(ValueError, match="non-finite"):
        SourceStudy("nan", {}, ({},), np.array([np.nan]))


def test_a_consensus_no_better_than_chance_distrusts_every_source():
    # Eight misleading sources: on four trials one of them ranks most pairs right by
    # luck and wins the resamples, but their consensus ranks the trials backwards, so
    # every source loses its weight at once, with the counts that decided it.
    bad = [_source(f"bad{i}", n=40, sign=-1.0, seed=i) for i in range(8)]
    prior = MetaPrior(bad, SPACE)
    enc = SearchSpaceEncoder(SPACE)
    pts, scores = _observed(4, seed=3)
    w = prior.weights(pts, scores, fit_gp(enc.embed(pts), scores), np.random.default_rng(0))
    good, wrong = w.consensus
    assert good + wrong == 6 and wrong > good
    assert w.total == 0.0 and w.target == 1.0
    assert w.distrusted == (
        f"the sources' consensus ranks {wrong} of 6 pairs of the study's trials wrong "
        "(no better than chance), and no source ranks them better than the luckiest of "
        "as many random rankings"
    )
    assert prior.describe(w)["distrusted"] == w.distrusted
    # Honest sources on the same trials keep their weight and are not distrusted.
    honest = MetaPrior([_source(f"good{i}", n=40, seed=i) for i in range(8)], SPACE)
    w = honest.weights(pts, scores, fit_gp(enc.embed(pts), scores), np.random.default_rng(0))
    assert w.distrusted is None and w.total > 0.5
    assert w.consensus[0] > w.consensus[1]


def _shuffled(i: int) -> SourceStudy:
    """A source whose values were shuffled: an unrelated study, right only by luck."""
    s = _source(f"unrelated{i}", n=40, seed=i)
    values = np.random.default_rng(100 + i).permutation(s.values)
    return SourceStudy(s.name, s.distributions, s.params, values, s.attrs)


def test_several_sources_must_prove_themselves_from_proof_from_trials(monkeypatch):
    # Eight unrelated sources on six trials: their consensus ranks 11 of 15 pairs right
    # by luck, and the luckiest source wins the resamples, so RGPE alone trusts them
    # (0.95 of the weight). From PROOF_FROM ranked trials on, several sources keep
    # weight only while one of them passes the permutation test, which these fail.
    import optuna_rl_sampler.meta_prior as meta_prior

    prior = MetaPrior([_shuffled(i) for i in range(8)], SPACE)
    enc = SearchSpaceEncoder(SPACE)
    pts, scores = _observed(6, seed=4)
    gp = fit_gp(enc.embed(pts), scores)
    w = prior.weights(pts, scores, gp, np.random.default_rng(0))
    assert w.total == 0.0 and w.target == 1.0 and w.consensus == (11, 4)
    assert w.distrusted is not None
    assert w.distrusted.startswith(
        "after 6 trials no source ranks the study's trials better than the luckiest of as "
        "many random rankings (permutation p = "
    )
    monkeypatch.setattr(meta_prior, "PROOF_PAIRS", 21)  # the pairs of 7 trials
    w = prior.weights(pts, scores, gp, np.random.default_rng(0))
    assert w.total > 0.9 and w.distrusted is None  # one trial short: RGPE's weights
    # A single source is not held to it (a probe tests it instead).
    monkeypatch.setattr(meta_prior, "PROOF_PAIRS", 15)
    single = MetaPrior([_shuffled(3)], SPACE)
    w = single.weights(pts, scores, gp, np.random.default_rng(0))
    assert w.distrusted is None or not w.distrusted.startswith("after")
    # Honest sources pass it on the same trials.
    honest = MetaPrior([_source(f"good{i}", n=40, seed=i) for i in range(8)], SPACE)
    w = honest.weights(pts, scores, gp, np.random.default_rng(0))
    assert w.distrusted is None and w.total > 0.5
    # A plateau ranks nothing: with four of the six trials tied (9 comparable pairs,
    # fewer than PROOF_PAIRS = 15) the test waits, and RGPE's weights stand.
    flat = scores.copy()
    flat[np.argsort(flat)[:4]] = flat.min()
    w = prior.weights(pts, flat, fit_gp(enc.embed(pts), flat), np.random.default_rng(0))
    assert w.distrusted is None and w.total > 0.5


def test_a_plateau_is_no_evidence_against_the_sources():
    # Four trials with one value (a plateau) and a fifth: only the fifth's four pairs
    # are comparable. Tied values never count as pairs ranked wrong.
    bad = MetaPrior([_source(f"bad{i}", n=40, sign=-1.0, seed=i) for i in range(4)], SPACE)
    enc = SearchSpaceEncoder(SPACE)
    pts, _ = _observed(5, seed=4)
    preds = bad.source_predictions(pts).mean(axis=0)
    flat = np.zeros(5)
    flat[int(np.argmin(preds))] = 1.0  # the trial the consensus likes least is best
    scores = normal_scores(flat)
    w = bad.weights(pts, scores, fit_gp(enc.embed(pts), scores), np.random.default_rng(0))
    assert w.consensus == (0, 4) and w.total == 0.0
    # Two trials tied on the plateau and one more above: two comparable pairs, fewer
    # than MIN_TRUST_PAIRS, so the sources keep their weight whichever way they rank.
    flat3 = normal_scores(np.array([0.0, 0.0, 1.0]))
    w = bad.weights(pts[:3], flat3, fit_gp(enc.embed(pts[:3]), flat3), np.random.default_rng(0))
    assert sum(w.consensus) <= 2 and w.distrusted is None


def _same_points_brute(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    gaps = np.abs(points[:, None, :] - others[None, :, :]).max(axis=2)
    return (gaps <= SAME_POINT_TOL).any(axis=1)


@pytest.mark.parametrize("n_points", [1, 300])
def test_same_points_matches_every_pair_compared_at_scale(n_points: int) -> None:
    # A discrete study (4 levels per coordinate) with many repeats, and continuous
    # points a hair inside and outside the tolerance: the sorted-projection path must
    # find exactly what comparing every pair finds.
    rng = np.random.default_rng(3)
    others = rng.integers(0, 4, size=(3000, 6)) / 3.0
    points = rng.integers(0, 4, size=(n_points, 6)) / 3.0
    cont = rng.random((3000, 6))
    near = cont[: max(1, n_points // 3)] + 0.5 * SAME_POINT_TOL
    far = cont[: max(1, n_points // 3)].copy()
    far[:, 2] += 3 * SAME_POINT_TOL
    # One point takes the every-pair path, 300 the sorted projection.
    assert (n_points * others.size > _PAIRWISE_ELEMENTS) == (n_points > 1)
    for p, o in [(points, others), (near, cont), (far, cont), (np.vstack([near, far]), cont)]:
        expected = _same_points_brute(p, o)
        np.testing.assert_array_equal(same_points(p, o), expected)
    assert same_points(near, cont).all() and not same_points(far, cont).any()
    found = same_points(points, others)
    assert 0 < found.sum() < len(found) or n_points == 1


def test_partial_says_whether_a_source_left_out_trials_the_space_cannot_hold():
    flat = MetaPrior([_source("flat")], SPACE)
    assert len(flat) == 1 and not flat.partial
    # A conditional past study: a quarter of its trials took another branch and hold
    # "depth" instead of "lr"; in this space they are left out, and the source's
    # ratings of what that branch would reach are guesses.
    src = _source("conditional")
    params = tuple(
        {"x": p["x"], "act": p["act"], "depth": 3} if i % 4 == 0 else p
        for i, p in enumerate(src.params)
    )
    conditional = SourceStudy("conditional", SPACE, params, src.values)
    prior = MetaPrior([_source("flat"), conditional], SPACE)
    assert len(prior) == 2 and prior.partial
    assert [m.n_dropped for m in prior.matched] == [0, 20]
