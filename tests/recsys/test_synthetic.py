from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from optuna_rl_sampler.recsys.data import EVENT_COLUMNS
from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.splits import leave_last_out
from optuna_rl_sampler.recsys.splits import make_queries
from optuna_rl_sampler.recsys.splits import temporal_split
from optuna_rl_sampler.recsys.synthetic import DOMAINS
from optuna_rl_sampler.recsys.synthetic import make_dataset
from optuna_rl_sampler.recsys.synthetic import make_ecommerce
from optuna_rl_sampler.recsys.synthetic import make_news
from optuna_rl_sampler.recsys.synthetic import make_social

SMALL = {
    "news": lambda seed, **kw: make_news(300, 200, 400, 8, 5, seed=seed, **kw),
    "ecommerce": lambda seed, **kw: make_ecommerce(300, 200, 5000, seed=seed, **kw),
    "social": lambda seed, **kw: make_social(300, 400, 5000, seed=seed, **kw),
}


def _check_contract(data: Interactions) -> None:
    ev = data.events
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert [str(t) for t in ev.dtypes] == ["int64", "int64", "float64", "int8", "int64", "int64"]
    assert ev["user"].between(0, data.n_users - 1).all()
    assert ev["item"].between(0, data.n_items - 1).all()
    assert set(ev["label"].unique()) <= {0, 1}


@pytest.mark.parametrize("domain", DOMAINS)
def test_deterministic_per_seed(domain: str) -> None:
    a, b, c = SMALL[domain](3), SMALL[domain](3), SMALL[domain](4)
    _check_contract(a)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.events.equals(c.events)
    if a.social is not None:
        pd.testing.assert_frame_equal(a.social, b.social)


def test_news_structure() -> None:
    data = make_news(300, 200, 400, 8, 5, history_size=4.0, seed=0)
    ev = data.events
    imp = ev[ev["group"] >= 0]
    hist = ev[ev["group"] == -1]
    assert len(imp) == 400 * 8
    assert data.stats()["n_groups"] == 400
    per = imp.groupby("group").agg(
        n=("item", "nunique"), clicks=("label", "sum"), users=("user", "nunique")
    )
    assert (per["n"] == 8).all()  # distinct shown articles
    assert (per["clicks"] >= 1).all()  # every impression has a click
    assert (per["clicks"] < 8).all()  # and shown-not-clicked entries
    assert (per["users"] == 1).all()
    assert 0.05 < imp["label"].mean() < 0.3
    assert (hist["label"] == 1).all()
    assert hist["timestamp"].max() < imp["timestamp"].min()
    pub = data.item_features["publish_time"].to_numpy()
    assert (pub[imp["item"]] <= imp["timestamp"]).all()  # shown only once published
    assert (pub[hist["item"]] <= hist["timestamp"]).all()
    assert data.item_features["category"].between(0, 4).all()
    # Impression ids follow time.
    first = imp.groupby("group")["timestamp"].first()
    assert first.is_monotonic_increasing


def test_news_recency_is_measurable() -> None:
    def click_age_gap(recency: float) -> float:
        data = make_news(500, 300, 1500, 10, 5, recency=recency, history_size=0, seed=1)
        ev = data.events
        age = ev["timestamp"] - data.item_features["publish_time"].to_numpy()[ev["item"]]
        return float(age[ev["label"] == 0].mean() - age[ev["label"] == 1].mean())

    assert click_age_gap(2.0) > click_age_gap(0.0) + 3600
    assert click_age_gap(2.0) > 0


def test_ecommerce_structure_and_sizes() -> None:
    data = make_ecommerce(300, 200, 5000, n_sessions=900, seed=0)
    ev = data.events
    assert data.n_interactions == 5000
    assert ev["group"].nunique() == 900
    assert (ev["label"] == 1).all()
    assert (ev.groupby("group")["user"].nunique() == 1).all()
    assert ev.groupby("group")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()
    starts = ev.groupby("group")["timestamp"].first()
    assert starts.is_monotonic_increasing


def _top_share(data: Interactions, share: float = 0.1) -> float:
    counts = np.sort(np.bincount(data.events["item"], minlength=data.n_items))[::-1]
    return counts[: int(share * data.n_items)].sum() / counts.sum()


def test_popularity_skew_is_measurable() -> None:
    flat = make_ecommerce(500, 500, 10_000, popularity_skew=0.0, seed=2)
    skewed = make_ecommerce(500, 500, 10_000, popularity_skew=1.2, seed=2)
    assert _top_share(skewed) > 0.5
    assert _top_share(skewed) > _top_share(flat) + 0.2


def test_repeat_prob_is_measurable() -> None:
    def repeats(p: float) -> float:
        ev = make_ecommerce(300, 500, 6000, repeat_prob=p, seed=3).events
        return float(ev.duplicated(["user", "item"]).mean())

    assert repeats(0.5) > repeats(0.0) + 0.2


def test_copurchase_links_consecutive_items() -> None:
    def next_pair_repeats(c: float) -> float:
        ev = make_ecommerce(300, 400, 8000, copurchase=c, repeat_prob=0.0, seed=4).events
        same = ev["group"].to_numpy()[1:] == ev["group"].to_numpy()[:-1]
        pairs = pd.DataFrame({"a": ev["item"].to_numpy()[:-1], "b": ev["item"].to_numpy()[1:]})
        pairs = pairs[same]
        return float(pairs.duplicated().mean())  # consecutive pairs seen before

    assert next_pair_repeats(0.8) > next_pair_repeats(0.0) + 0.2


def test_social_graph_and_sizes() -> None:
    data = make_social(400, 600, 8000, avg_friends=8, seed=0)
    assert data.n_interactions == 8000
    ev = data.events
    assert not ev.duplicated(["user", "item"]).any()  # distinct user-item pairs
    assert (ev["weight"] >= 1).all() and (ev["weight"] == np.floor(ev["weight"])).all()
    social = data.social
    assert list(social.columns) == ["src", "dst"]
    assert (social["src"] != social["dst"]).all()
    pairs = set(zip(social["src"], social["dst"], strict=True))
    assert all((d, s) in pairs for s, d in pairs)  # two-way
    assert 5 < len(social) / data.n_users < 11


def _friend_vs_random_overlap(data: Interactions, seed: int = 0) -> tuple[float, float]:
    ev = data.events
    x = sp.csr_matrix(
        (np.ones(len(ev)), (ev["user"], ev["item"])), shape=(data.n_users, data.n_items)
    )
    sizes = np.asarray(x.sum(axis=1)).ravel()

    def jaccard(a: np.ndarray, b: np.ndarray) -> float:
        inter = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
        return float(np.mean(inter / (sizes[a] + sizes[b] - inter)))

    rng = np.random.default_rng(seed)
    src, dst = data.social["src"].to_numpy(), data.social["dst"].to_numpy()
    a, b = rng.integers(0, data.n_users, size=(2, 5000))
    keep = a != b
    return jaccard(src, dst), jaccard(a[keep], b[keep])


def test_homophily_is_measurable() -> None:
    friends, strangers = _friend_vs_random_overlap(make_social(600, 800, 12_000, seed=5))
    assert friends > 1.5 * strangers
    friends0, strangers0 = _friend_vs_random_overlap(
        make_social(600, 800, 12_000, homophily=0.0, seed=5)
    )
    assert friends0 < 1.2 * strangers0
    assert friends / strangers > friends0 / strangers0 + 0.3


def _item_knn_beats_popularity(data: Interactions, k: int = 10) -> tuple[float, float]:
    split = leave_last_out(data, n_valid=0, n_test=1, seed=0)
    queries = make_queries(split.train, split.test)
    tr = split.train.positives()
    x = sp.csr_matrix(
        (np.ones(len(tr)), (tr["user"], tr["item"])), shape=(data.n_users, data.n_items)
    )
    x.data[:] = 1.0
    pop = np.asarray(x.sum(axis=0)).ravel()
    norm = np.sqrt(pop) + 1e-9
    sim = (x.T @ x).toarray() / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    knn_scores = np.asarray(x[queries.users] @ sim)
    hits_pop = hits_knn = 0
    for row, (target, seen) in enumerate(zip(queries.targets, queries.exclude, strict=True)):
        s_knn, s_pop = knn_scores[row].copy(), pop.astype(float)
        s_knn[seen] = -np.inf
        s_pop[seen] = -np.inf
        hits_knn += np.isin(np.argsort(-s_knn)[:k], target).any()
        hits_pop += np.isin(np.argsort(-s_pop)[:k], target).any()
    return hits_knn / len(queries), hits_pop / len(queries)


@pytest.mark.parametrize("domain", ["ecommerce", "social"])
def test_learnable_signal_beats_popularity(domain: str) -> None:
    data = make_dataset(domain, "small", seed=1)
    knn, pop = _item_knn_beats_popularity(data)
    assert knn > 1.15 * pop


def test_news_signal_beats_popularity() -> None:
    data = make_dataset("news", "small", seed=1)
    split = temporal_split(data)
    queries = make_queries(split.train, split.valid)
    assert queries.candidates is not None
    tr = split.train.positives()
    cat = data.item_features["category"].to_numpy()
    pub = data.item_features["publish_time"].to_numpy()
    prefs = np.full((data.n_users, cat.max() + 1), 0.1)
    np.add.at(prefs, (tr["user"].to_numpy(), cat[tr["item"].to_numpy()]), 1.0)
    prefs /= prefs.sum(axis=1, keepdims=True)
    clicks = np.bincount(tr["item"], minlength=data.n_items)

    def auc(score) -> float:
        out = []
        for u, cands, target, t in zip(
            queries.users, queries.candidates, queries.targets, queries.timestamps, strict=True
        ):
            s = score(u, cands, t)
            y = np.isin(cands, target)
            diff = s[y][:, None] - s[~y][None, :]
            out.append(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
        return float(np.mean(out))

    learned = auc(lambda u, c, t: np.log(prefs[u, cat[c]]) + (pub[c] - t) / 86_400)
    popular = auc(lambda u, c, t: clicks[c].astype(float))
    assert learned > 0.7
    assert learned > popular + 0.1


def test_make_dataset_presets_and_knobs() -> None:
    data = make_dataset("social", seed=0, n_users=200, n_items=300, n_interactions=3000)
    assert data.name == "synthetic_social_small"
    assert data.n_interactions == 3000
    assert data.notes["generator"] == "make_social"
    small = make_dataset("ecommerce", "small", seed=0)
    assert small.n_interactions == 50_000


def test_make_dataset_errors() -> None:
    with pytest.raises(ValueError, match="unknown domain 'music'.*news, ecommerce, social"):
        make_dataset("music")
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        make_dataset("news", "huge")
    with pytest.raises(TypeError, match="no knob 'homophilly'.*homophily"):
        make_dataset("social", homophilly=0.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_news(n_users=0), "n_users must be a positive integer, got 0"),
        (lambda: make_news(ctr=1.5), "ctr must be in"),
        (lambda: make_news(10, 5, 10, impression_size=8), "impression_size=8 exceeds n_items=5"),
        (lambda: make_ecommerce(repeat_prob=0.7, copurchase=0.5), "repeat_prob \\+ copurchase"),
        (lambda: make_ecommerce(100, 10, 50, n_sessions=60), "n_sessions=60 exceeds"),
        (lambda: make_social(homophily=1.5), "homophily must be in"),
        (lambda: make_social(noise=-1.0), "noise must be a number >= 0"),
    ],
)
def test_bad_knobs(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_zero_noise_is_allowed() -> None:
    _check_contract(make_ecommerce(100, 50, 1000, noise=0.0, seed=0))
    _check_contract(make_social(100, 50, 1000, noise=0.0, seed=0))
    _check_contract(make_news(100, 50, 100, 5, 3, noise=0.0, seed=0))
