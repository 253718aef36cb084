from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optuna_rl_sampler.recsys.candidates import FEATURE_NAMES
from optuna_rl_sampler.recsys.candidates import CandidateIndex
from optuna_rl_sampler.recsys.candidates import CandidateLists
from optuna_rl_sampler.recsys.data import EVENT_COLUMNS
from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.data import Queries

COL = {name: j for j, name in enumerate(FEATURE_NAMES)}


def _events(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (user, item, timestamp[, label[, group]])."""
    full = [
        (r[0], r[1], 1.0, r[3] if len(r) > 3 else 1, r[2], r[4] if len(r) > 4 else -1)
        for r in rows
    ]
    df = pd.DataFrame(full, columns=list(EVENT_COLUMNS))
    return df.astype(
        {
            "user": "int64",
            "item": "int64",
            "weight": "float64",
            "label": "int8",
            "timestamp": "int64",
            "group": "int64",
        }
    )


def _tiny(social: bool = False, categories: bool = False) -> Interactions:
    # u0: 0, 1, 2 ; u1: 0, 1 ; u2: 1, 3 ; u3: nothing (cold). Items 4, 5 never seen.
    ev = _events([(0, 0, 1), (0, 1, 2), (0, 2, 3), (1, 0, 1), (1, 1, 2), (2, 1, 4), (2, 3, 5)])
    item_features = None
    if categories:
        item_features = pd.DataFrame({"category": [10, 10, 20, 20, -1]}, index=range(5))
    soc = None
    if social:
        soc = pd.DataFrame({"src": [1, 1, 0], "dst": [0, 2, 1]})
    return Interactions(
        events=ev, n_users=4, n_items=6, item_features=item_features, social=soc, name="tiny"
    )


def _pair_features(index: CandidateIndex, user: int, items: list[int], t=None) -> np.ndarray:
    cands = CandidateLists.from_lists([np.array(items)])
    ts = None if t is None else np.array([t])
    return index.features(cands, np.array([user]), ts)


def test_cooccurrence_and_knn_known_values() -> None:
    index = CandidateIndex(_tiny(), recency_decay=0.8)
    # Co-occurrence: C[0,1] = 2 (u0, u1), C[0,2] = C[1,2] = C[1,3] = 1.
    assert index.C[0, 1] == 2 and index.C[0, 2] == 1 and index.C[1, 3] == 1
    assert index.C[0, 0] == 0 and index.C[2, 3] == 0
    # Cosine: C / sqrt(n_i n_j) with 2, 3, 1, 1 users on items 0..3.
    assert index.S[0, 1] == pytest.approx(2 / math.sqrt(6))
    assert index.S[0, 2] == pytest.approx(1 / math.sqrt(2))
    f = _pair_features(index, 1, [2, 3, 0])  # u1 history: 0 then 1
    cos02, cos12, cos13 = 1 / math.sqrt(2), 1 / math.sqrt(3), 1 / math.sqrt(3)
    assert f[0, COL["cooc_log"]] == pytest.approx(math.log1p(2))
    assert f[0, COL["knn_sum"]] == pytest.approx(cos02 + cos12)
    assert f[0, COL["knn_recent"]] == pytest.approx(cos12 + 0.8 * cos02)
    assert f[0, COL["knn_last"]] == pytest.approx(cos12)
    assert f[1, COL["cooc_log"]] == pytest.approx(math.log1p(1))
    assert f[1, COL["knn_sum"]] == pytest.approx(cos13)
    assert f[1, COL["knn_last"]] == pytest.approx(cos13)
    # Seen item and user activity.
    assert f[2, COL["seen_count_log"]] == pytest.approx(math.log1p(1))
    assert f[0, COL["seen_count_log"]] == 0
    assert np.all(f[:, COL["user_activity_log"]] == pytest.approx(math.log1p(2)))
    # Popularity: item 1 has 3 users, item 3 one.
    assert f[2, COL["pop_log"]] == pytest.approx(math.log1p(2))
    assert f[1, COL["pop_log"]] == pytest.approx(math.log1p(1))


def test_recency_features_relative_to_query_time() -> None:
    index = CandidateIndex(_tiny())
    f = _pair_features(index, 0, [0, 1, 5], t=11)
    assert f[0, COL["item_age_log"]] == pytest.approx(math.log1p(11 - 1))  # first event t=1
    assert f[1, COL["item_age_log"]] == pytest.approx(math.log1p(11 - 2))
    assert f[1, COL["item_since_last_log"]] == pytest.approx(math.log1p(11 - 4))  # u2 at t=4
    assert np.isnan(f[2, COL["item_age_log"]]) and np.isnan(f[2, COL["item_since_last_log"]])
    # Without a query time the end of the history (t=5) is used.
    g = _pair_features(index, 0, [0])
    assert g[0, COL["item_age_log"]] == pytest.approx(math.log1p(5 - 1))


def test_friend_counts() -> None:
    index = CandidateIndex(_tiny(social=True))
    # u1's friends are u0 (0, 1, 2) and u2 (1, 3).
    f = _pair_features(index, 1, [1, 2, 3, 4])
    np.testing.assert_allclose(f[:, COL["friend_count"]], [2, 1, 1, 0])
    np.testing.assert_allclose(f[:, COL["friend_share"]], [1.0, 0.5, 0.5, 0.0])
    cold = _pair_features(index, 3, [1])
    assert cold[0, COL["friend_count"]] == 0
    no_graph = _pair_features(CandidateIndex(_tiny()), 1, [1])
    assert np.isnan(no_graph[0, COL["friend_count"]])


def test_category_match() -> None:
    index = CandidateIndex(_tiny(categories=True))
    # u0 consumed items 0, 1 (category 10) and 2 (category 20).
    f = _pair_features(index, 0, [0, 3, 4, 5])
    assert f[0, COL["category_match"]] == pytest.approx(2 / 3)
    assert f[1, COL["category_match"]] == pytest.approx(1 / 3)
    assert np.isnan(f[2, COL["category_match"]])  # category -1: unknown
    assert np.isnan(f[3, COL["category_match"]])  # no feature row
    cold = _pair_features(index, 3, [0])
    assert cold[0, COL["category_match"]] == 0


def test_click_through_rate_from_impressions() -> None:
    ev = _events(
        [(0, 0, 1, 1, 7), (0, 1, 1, 0, 7), (1, 0, 2, 0, 8), (1, 1, 2, 0, 8), (1, 2, 3, 1)]
    )
    index = CandidateIndex(Interactions(events=ev, n_users=2, n_items=3))
    f = _pair_features(index, 0, [0, 1, 2])
    prior = 1 / 4  # one click in four shows
    assert f[0, COL["item_ctr"]] == pytest.approx((1 + 5 * prior) / (2 + 5))
    assert f[1, COL["item_ctr"]] == pytest.approx((0 + 5 * prior) / (2 + 5))
    assert np.isnan(f[2, COL["item_ctr"]])  # never shown in an impression


def test_generate_sources_order_and_exclusion() -> None:
    # A long half-life: popularity is (almost) all-time popularity.
    index = CandidateIndex(_tiny(), knn_share=2 / 3, friend_share=0.0, half_life=100.0)
    cands = index.generate(np.array([1]), 3, exclude=[np.array([0, 1])])
    # kNN for u1 (history 0, 1): item 2 (cos02 * 0.8 + cos12) before item 3 (cos13);
    # then the most popular item not excluded or taken: 4 (ties of zero broken by code).
    assert cands.to_lists()[0].tolist() == [2, 3, 4]
    # A cold user (and a code outside the training range) gets popularity only; items 2
    # and 3 have one event each, item 3's later one weighs a little more.
    cold = index.generate(np.array([3, 99]), 4)
    assert cold.to_lists()[0].tolist() == [1, 0, 3, 2]
    assert cold.to_lists()[1].tolist() == [1, 0, 3, 2]
    # Asking for more than the catalogue returns every allowed item once.
    everything = index.generate(np.array([0]), 50, exclude=[np.array([5])])
    assert sorted(everything.items.tolist()) == [0, 1, 2, 3, 4]


def test_popularity_is_recency_weighted() -> None:
    # Half-life 0.1 x the span (4): item 3 (one event at t=5, the end) outweighs
    # item 1 (events at t=2, 2, 4).
    index = CandidateIndex(_tiny(), half_life=0.1)
    assert index.pop_recent[3] == pytest.approx(1.0)
    assert index.pop_recent[1] == pytest.approx(2 * 2 ** (-3 / 0.4) + 2 ** (-1 / 0.4))
    assert index.generate(np.array([3]), 2).to_lists()[0].tolist() == [3, 1]


def test_generate_friend_source() -> None:
    index = CandidateIndex(_tiny(social=True), knn_share=0.0, friend_share=0.5)
    # u3 is cold; give u1's friends: u0 (0, 1, 2), u2 (1, 3): top-2 friend items 1, then 0.
    cands = index.generate(np.array([1]), 4, exclude=[np.array([0])])
    lst = cands.to_lists()[0].tolist()
    assert lst[0] == 1 and lst[1] in (2, 3)
    assert 0 not in lst and len(lst) == 4


def _random_data(seed: int, n_users: int = 40, n_items: int = 30) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = [
        (u, int(i), int(t))
        for u in range(n_users)
        for t, i in enumerate(rng.choice(n_items, rng.integers(0, 8), replace=False))
    ]
    return Interactions(events=_events(rows), n_users=n_users, n_items=n_items)


def test_features_match_dense_reference() -> None:
    data = _random_data(0)
    index = CandidateIndex(data, neighbours=1000, max_history=1000)
    x = np.zeros((data.n_users, data.n_items))
    ev = data.events
    x[ev.user, ev.item] = 1
    cooc = x.T @ x
    occ = np.diag(cooc).copy()
    np.fill_diagonal(cooc, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.nan_to_num(cooc / np.sqrt(np.outer(occ, occ)))
    users = np.arange(data.n_users)
    cands = CandidateLists.from_lists([np.arange(data.n_items)] * data.n_users)
    f = index.features(cands, users).reshape(data.n_users, data.n_items, -1)
    np.testing.assert_allclose(f[..., COL["cooc_log"]], np.log1p(x @ cooc), rtol=1e-5)
    np.testing.assert_allclose(f[..., COL["knn_sum"]], x @ cos, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[..., COL["seen_count_log"]], np.log1p(x), rtol=1e-6)
    np.testing.assert_allclose(f[..., COL["pop_log"]], np.log1p(x.sum(0))[None].repeat(40, 0))


def test_generate_matches_loop_reference() -> None:
    data = _random_data(1)
    index = CandidateIndex(data, knn_share=0.5, friend_share=0.0)
    users = np.arange(data.n_users)
    seen = [np.flatnonzero(index.X[u].toarray().ravel()) for u in users]
    cands = index.generate(users, 10, exclude=seen, block_size=7)
    knn = (index.Xw[users] @ index.S).toarray()
    for u, got in zip(users, cands.to_lists(), strict=True):
        assert len(got) == len(set(got.tolist())) == 10
        assert not set(got.tolist()) & set(seen[u].tolist())
        scores = knn[u].copy()
        scores[seen[u]] = 0
        n_pos = int((scores > 0).sum())
        k = min(5, n_pos)
        # The first k candidates are the kNN top-k (by score, ties by item code).
        ref = sorted(np.flatnonzero(scores > 0), key=lambda i: (-scores[i], i))[:k]
        assert got[:k].tolist() == ref
        # The rest follow the popularity order.
        rest = [i for i in index.pop_order if i not in set(seen[u]) | set(ref)]
        assert got[k:].tolist() == rest[: 10 - k]


def test_candidate_set_labels_and_top_k() -> None:
    cands = CandidateLists.from_lists(
        [np.array([3, 1, 2]), np.array([], dtype=np.int64), np.array([5])]
    )
    assert cands.sizes.tolist() == [3, 0, 1]
    labels = cands.labels([np.array([1, 9]), np.array([4]), np.array([], dtype=np.int64)], 10)
    assert labels.tolist() == [False, True, False, False]
    top = cands.top_k(np.array([0.1, 0.9, 0.5, 2.0]), k=2)
    assert top.tolist() == [[1, 2], [-1, -1], [5, -1]]
    # Ties keep the candidate order; NaN scores go last.
    tie = CandidateLists.from_lists([np.array([7, 8, 9])]).top_k(np.array([1.0, np.nan, 1.0]), 3)
    assert tie.tolist() == [[7, 9, 8]]


def test_for_queries_uses_shown_items() -> None:
    index = CandidateIndex(_tiny())
    q = Queries(
        users=np.array([0, 3]),
        targets=[np.array([2]), np.array([5])],
        candidates=[np.array([5, 2, 4]), np.array([5])],
        exclude=None,
        timestamps=np.array([6, 6]),
        n_items=6,
    )
    cands = index.for_queries(q, 100)
    assert [c.tolist() for c in cands.to_lists()] == [[5, 2, 4], [5]]
    f = index.features(cands, q.users, q.timestamps)
    assert f.shape == (4, len(FEATURE_NAMES)) and f.dtype == np.float32


def test_errors_name_the_bad_value() -> None:
    index = CandidateIndex(_tiny())
    with pytest.raises(ValueError, match="outside the catalogue"):
        index.features(CandidateLists.from_lists([np.array([6])]), np.array([0]))
    with pytest.raises(ValueError, match="exclude has 1 lists for 2 users"):
        index.generate(np.array([0, 1]), 3, exclude=[np.array([0])])
    with pytest.raises(ValueError, match="knn_share"):
        CandidateIndex(_tiny(), knn_share=0.9, friend_share=0.2)
