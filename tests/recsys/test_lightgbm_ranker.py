from __future__ import annotations

import time
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest

pytest.importorskip("lightgbm")

from optuna_rl_sampler.recsys.baselines import Popularity  # noqa: E402
from optuna_rl_sampler.recsys.candidates import CandidateLists  # noqa: E402
from optuna_rl_sampler.recsys.data import EVENT_COLUMNS  # noqa: E402
from optuna_rl_sampler.recsys.data import Interactions  # noqa: E402
from optuna_rl_sampler.recsys.data import Queries  # noqa: E402
from optuna_rl_sampler.recsys.metrics import ndcg_at_k  # noqa: E402
from optuna_rl_sampler.recsys.models import lightgbm_ranker as lr  # noqa: E402
from optuna_rl_sampler.recsys.models.base import FittedModel  # noqa: E402
from optuna_rl_sampler.recsys.models.base import ModelFamily  # noqa: E402
from optuna_rl_sampler.recsys.models.lightgbm_ranker import LightGBMRanker  # noqa: E402
from optuna_rl_sampler.recsys.splits import holdout_protocol  # noqa: E402
from optuna_rl_sampler.recsys.splits import make_queries  # noqa: E402
from optuna_rl_sampler.recsys.splits import split_dataset  # noqa: E402
from optuna_rl_sampler.recsys.synthetic import make_news  # noqa: E402
from optuna_rl_sampler.recsys.synthetic import make_social  # noqa: E402


def _fast(**kw) -> LightGBMRanker:
    return LightGBMRanker(max_train_queries=400, n_candidates=50, **kw)


def _params(**overrides) -> dict:
    p = LightGBMRanker().default_params()
    p["n_estimators"] = 30
    p.update(overrides)
    return p


def _ndcg(model, q: Queries) -> float:
    return float(ndcg_at_k(model.recommend(q, 10), q.targets, 10).mean())


@pytest.fixture(scope="module")
def social():
    data = make_social(n_users=400, n_items=500, n_interactions=12_000, seed=0)
    split = split_dataset(data)
    return split, make_queries(split.train, split.valid, max_queries=300)


@pytest.fixture(scope="module")
def news():
    data = make_news(n_users=600, n_items=300, n_impressions=1500, seed=0)
    split = split_dataset(data)
    return split, make_queries(split.train, split.valid, max_queries=200)


def test_contract_and_search_space() -> None:
    family = LightGBMRanker()
    assert isinstance(family, ModelFamily)
    assert family.name == "lightgbm-ranker"
    defaults = family.default_params()
    # The defaults lie inside the search space: a FixedTrial replays them without warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert family.suggest(optuna.trial.FixedTrial(defaults)) == defaults
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = family.suggest(trial)
    assert set(params) == set(defaults)
    dists = trial.distributions
    assert dists["num_leaves"].log and dists["learning_rate"].log
    assert (dists["lambda_l1"].low, dists["lambda_l1"].high) == (1e-8, 10.0)
    assert dists["label_gain"].choices == ("linear", "exponential")


def test_beats_popularity_and_reports_every_round(social) -> None:
    split, q = social
    steps: list[tuple[int, float]] = []
    model = _fast().fit(_params(), split.train, q, on_step=lambda s, v: steps.append((s, v)))
    assert isinstance(model, FittedModel)
    assert [s for s, _ in steps] == list(range(1, len(steps) + 1))
    assert all(0.0 <= v <= 1.0 for _, v in steps)
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    got, base = _ndcg(model, q), _ndcg(pop, q)
    assert got > base * 1.2, (got, base)
    # Early stopping keeps the best round, whose reported value is the NDCG@10 of
    # recommend() on the same queries.
    assert got == pytest.approx(max(v for _, v in steps), abs=1e-9)
    assert model.size_bytes() > 0
    assert set(model.feature_importance()) >= {"knn_sum", "friend_count"}


def test_impression_queries_beat_popularity(news) -> None:
    split, q = news
    assert q.candidates is not None
    model = _fast().fit(_params(), split.train, q)
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert _ndcg(model, q) > _ndcg(pop, q) + 0.05
    top = model.recommend(q, 5)
    for row, cands in zip(top, q.candidates, strict=True):
        assert set(row[row >= 0].tolist()) <= set(cands.tolist())


def test_pruned_propagates(social) -> None:
    split, q = social
    seen = []

    def on_step(step: int, value: float) -> None:
        seen.append(step)
        if step == 3:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        _fast().fit(_params(), split.train, q, on_step=on_step)
    assert seen == [1, 2, 3]


def test_same_seed_same_model(social) -> None:
    split, q = social
    params = _params(bagging_fraction=0.7, feature_fraction=0.7)
    a = _fast().fit(params, split.train, q, seed=3).recommend(q, 10)
    b = _fast().fit(params, split.train, q, seed=3).recommend(q, 10)
    np.testing.assert_array_equal(a, b)


def test_recommend_shape_padding_exclusion_cold_and_unseen(social) -> None:
    split, q = social
    train = split.train
    model = _fast().fit(_params(n_estimators=5), train, None)
    # A code beyond the training users is a cold user (no history, no features).
    users = np.array([0, 1, train.n_users])
    n = len(users)
    exclude = [np.arange(0, 400)] + [np.zeros(0, np.int64)] * (n - 1)
    full = Queries(users, [np.array([1])] * n, None, exclude, None, train.n_items)
    top = model.recommend(full, 150)  # more than n_candidates: still k columns, no dupes
    assert top.shape == (n, 150) and top.dtype == np.int64
    assert not np.isin(top[0], np.arange(400)).any()
    for row in top:
        valid = row[row >= 0]
        assert len(valid) == len(set(valid.tolist()))
    # Impression-style queries: a cold user, items never seen in train, padding.
    pop = np.bincount(train.events["item"], minlength=train.n_items)
    unseen = np.flatnonzero(pop == 0)
    shown = np.r_[unseen[:2], [0, 1]] if len(unseen) else np.array([0, 1, 2])
    cold = Queries(
        users=np.array([users[-1], 5]),
        targets=[shown[:1], np.array([3])],
        candidates=[shown, np.array([3])],
        exclude=None,
        timestamps=None,
        n_items=train.n_items,
    )
    top = model.recommend(cold, 6)
    assert sorted(top[0][top[0] >= 0].tolist()) == sorted(shown.tolist())
    assert top[1].tolist() == [3, -1, -1, -1, -1, -1]


def test_bad_params_name_the_problem() -> None:
    family = LightGBMRanker()
    bad = family.default_params()
    bad["num_leaf"] = bad.pop("num_leaves")
    with pytest.raises(ValueError, match=r"unknown \['num_leaf'\], missing \['num_leaves'\]"):
        family.fit(bad, Interactions(pd.DataFrame(columns=list(EVENT_COLUMNS)), 1, 1))
    with pytest.raises(ValueError, match="label_gain must be one of"):
        family._lgb_params(dict(family.default_params(), label_gain="cubic"), 0)
    with pytest.raises(ValueError, match="holdout_share"):
        LightGBMRanker(holdout_share=1.5)


def test_graded_labels_and_label_gain() -> None:
    frame = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 0, 0],
            "item": [0, 1, 2, 3, 4, 5],
            "weight": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "label": [1] * 6,
            "timestamp": range(6),
            "group": [-1] * 6,
        }
    )
    grade = lr._grader(Interactions(frame, 1, 6))
    # Terciles of 1..6 cut at 2.67 and 4.33.
    assert grade(np.array([1.0, 3.0, 6.0])).tolist() == [1, 2, 3]
    implicit = lr._grader(Interactions(frame.assign(weight=1.0), 1, 6))
    assert implicit(np.array([1.0, 1.0])).tolist() == [1, 1]
    cands = CandidateLists.from_lists([np.array([4, 2, 9]), np.array([1])])
    labels = lr._graded_labels(
        cands, [np.array([2, 9]), np.array([7])], [np.array([6.0, 1.0]), np.array([5.0])], grade
    )
    assert labels.tolist() == [0, 3, 1, 0]
    gains = {
        g: LightGBMRanker()._lgb_params(dict(LightGBMRanker().default_params(), label_gain=g), 0)[
            "label_gain"
        ][:4]
        for g in ("linear", "exponential")
    }
    assert gains == {"linear": [0, 1, 2, 3], "exponential": [0, 1, 3, 7]}


def test_training_protocol_follows_the_validation_queries(social, news) -> None:
    assert holdout_protocol(news[0].train, news[1]) == "impression"
    assert holdout_protocol(social[0].train, social[1]) == "leave-last-out"
    late = Queries(
        np.array([0]), [np.array([1])], None, None, np.array([10**12]), news[0].train.n_items
    )
    assert holdout_protocol(news[0].train, late) == "temporal"


def test_cache_reuses_preprocessing_with_identical_results(social) -> None:
    split, queries = social
    params = [
        {**LightGBMRanker().default_params(), "n_estimators": 12},
        {**LightGBMRanker().default_params(), "n_estimators": 8, "num_leaves": 8},
    ]
    plain = LightGBMRanker(max_train_queries=300, n_candidates=30)
    cached = LightGBMRanker(max_train_queries=300, n_candidates=30, cache=True)
    for p in params:
        a = plain.fit(p, split.train, queries, seed=1).recommend(queries, 10)
        b = cached.fit(p, split.train, queries, seed=1).recommend(queries, 10)
        np.testing.assert_array_equal(a, b)
    # First fit: the training lists, the index of their history and the model's index;
    # the second fit finds the lists and the model's index in the cache.
    assert cached.cache_info() == {"entries": 3, "hits": 2}
    assert plain.cache_info() == {"entries": 0, "hits": 0}
    cached.fit(params[0], split.train, queries, seed=2)  # another seed: built again
    assert cached.cache_info() == {"entries": 6, "hits": 2}
    cached.clear_cache()
    assert cached.cache_info() == {"entries": 0, "hits": 0}


def test_refit_for_the_kept_rounds(social) -> None:
    split, queries = social
    family = _fast()
    model = family.fit(_params(n_estimators=60, learning_rate=0.3), split.train, queries)
    assert model.best_step == model.best_iteration
    assert 1 <= model.best_step <= 60
    refit_params = family.params_for_steps(_params(n_estimators=60), model.best_step)
    assert refit_params["n_estimators"] == model.best_step
    refit = family.fit(refit_params, split.train)  # no validation: every round is kept
    assert refit.best_step is None
    assert refit.booster.current_iteration() == model.best_step
    with pytest.raises(ValueError, match="steps must be a positive integer, got 2.5"):
        family.params_for_steps(_params(), 2.5)


def test_evaluator_matches_metrics_ndcg() -> None:
    rng = np.random.default_rng(0)
    lists = [rng.choice(50, size=rng.integers(1, 30), replace=False) for _ in range(40)]
    targets = [rng.choice(50, size=rng.integers(0, 4), replace=False) for _ in range(40)]
    cands = CandidateLists.from_lists(lists)
    scores = rng.random(len(cands.items))
    ev = lr._NdcgEvaluator(cands, targets, 50, 10)
    ref = ndcg_at_k(cands.top_k(scores, 10), targets, 10).mean()
    assert ev.value(scores) == pytest.approx(ref, abs=1e-12)


@pytest.mark.slow
def test_fit_time_on_a_medium_synthetic_dataset() -> None:
    from optuna_rl_sampler.recsys.synthetic import make_dataset

    data = make_dataset("ecommerce", "small", seed=0)
    split = split_dataset(data)
    q = make_queries(split.train, split.valid, max_queries=2000)
    start = time.perf_counter()
    family = LightGBMRanker()
    model = family.fit(family.default_params(), split.train, q)
    assert time.perf_counter() - start < 120
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert _ndcg(model, q) > _ndcg(pop, q)


@pytest.mark.slow
@pytest.mark.realdata
def test_real_lastfm_beats_popularity(data_dir) -> None:
    from optuna_rl_sampler.recsys.loaders import load_dataset

    data = load_dataset(data_dir / "social" / "lastfm_2k", "lastfm-hetrec")
    split = split_dataset(data)
    q = make_queries(split.train, split.valid, max_queries=1000)
    family = LightGBMRanker()
    model = family.fit(family.default_params(), split.train, q)
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert _ndcg(model, q) > 1.5 * _ndcg(pop, q)
