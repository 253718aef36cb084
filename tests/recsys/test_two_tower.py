from __future__ import annotations

import warnings

import numpy as np
import optuna
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from optuna_rl_sampler.recsys.baselines import Popularity  # noqa: E402
from optuna_rl_sampler.recsys.data import EVENT_COLUMNS  # noqa: E402
from optuna_rl_sampler.recsys.data import Interactions  # noqa: E402
from optuna_rl_sampler.recsys.data import Queries  # noqa: E402
from optuna_rl_sampler.recsys.metrics import ndcg_at_k  # noqa: E402
from optuna_rl_sampler.recsys.models import two_tower as tt  # noqa: E402
from optuna_rl_sampler.recsys.models.base import FittedModel  # noqa: E402
from optuna_rl_sampler.recsys.models.base import ModelFamily  # noqa: E402
from optuna_rl_sampler.recsys.models.two_tower import TwoTower  # noqa: E402
from optuna_rl_sampler.recsys.splits import make_queries  # noqa: E402
from optuna_rl_sampler.recsys.splits import split_dataset  # noqa: E402
from optuna_rl_sampler.recsys.synthetic import make_news  # noqa: E402
from optuna_rl_sampler.recsys.synthetic import make_social  # noqa: E402


def _params(**overrides) -> dict:
    p = TwoTower().default_params()
    p.update(epochs=4, batch_size=256)
    p.update(overrides)
    return p


def _ndcg(model, q: Queries) -> float:
    return float(ndcg_at_k(model.recommend(q, 10), q.targets, 10).mean())


@pytest.fixture(scope="module")
def social():
    data = make_social(n_users=300, n_items=400, n_interactions=9_000, seed=0)
    split = split_dataset(data)
    return split, make_queries(split.train, split.valid, max_queries=300)


def _tiny() -> Interactions:
    # u0: 0 -> 1 -> 2 ; u1: 2 -> 3 ; u2: nothing. Item 4 never seen.
    rows = [(0, 0, 1), (0, 1, 2), (0, 2, 3), (1, 2, 1), (1, 3, 2)]
    ev = pd.DataFrame(
        [(u, i, 1.0, 1, t, -1) for u, i, t in rows], columns=list(EVENT_COLUMNS)
    ).astype({"label": "int8"})
    social = pd.DataFrame({"src": [0, 0, 1], "dst": [1, 2, 0]})
    return Interactions(ev, n_users=3, n_items=5, social=social, name="tiny")


def test_contract_and_search_space() -> None:
    family = TwoTower()
    assert isinstance(family, ModelFamily)
    assert family.name == "two-tower"
    defaults = family.default_params()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert family.suggest(optuna.trial.FixedTrial(defaults)) == defaults
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    family.suggest(trial)
    d = trial.distributions
    assert d["embedding_dim"].choices == (16, 32, 64, 128)
    assert d["batch_size"].choices == (256, 512, 1024, 2048)
    assert d["lr"].log and d["temperature"].log and d["weight_decay"].log
    assert (d["epochs"].low, d["epochs"].high) == (1, 20)


def test_beats_popularity_reports_epochs_and_keeps_best(social) -> None:
    split, q = social
    steps: list[tuple[int, float]] = []
    model = TwoTower().fit(
        _params(), split.train, q, on_step=lambda s, v: steps.append((s, v)), seed=0
    )
    assert isinstance(model, FittedModel)
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    got = _ndcg(model, q)
    assert got == pytest.approx(max(v for _, v in steps), abs=1e-9)
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert got > 1.3 * _ndcg(pop, q)
    assert model.size_bytes() > 4 * 64 * (split.train.n_items + split.train.n_users)


def test_impression_queries_rank_only_shown_items() -> None:
    data = make_news(n_users=400, n_items=200, n_impressions=800, seed=0)
    split = split_dataset(data)
    q = make_queries(split.train, split.valid, max_queries=100)
    model = TwoTower().fit(_params(epochs=3), split.train, q)
    top = model.recommend(q, 20)
    for row, shown in zip(top, q.candidates, strict=True):
        valid = row[row >= 0]
        assert sorted(valid.tolist()) == sorted(set(shown.tolist()))
        assert (row[len(valid) :] == -1).all()
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert _ndcg(model, q) > _ndcg(pop, q)


def test_pruned_propagates(social) -> None:
    split, q = social
    seen: list[int] = []

    def on_step(step: int, value: float) -> None:
        seen.append(step)
        if step == 2:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        TwoTower().fit(_params(), split.train, q, on_step=on_step)
    assert seen == [1, 2]


def test_same_seed_same_model_and_global_rng_untouched(social) -> None:
    split, q = social
    family = TwoTower()
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    a = family.fit(_params(epochs=2), split.train, None, seed=7)
    after_fit = torch.rand(3)
    assert torch.get_num_threads() == threads
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.testing.assert_close(after_fit, expected)
    b = family.fit(_params(epochs=2), split.train, None, seed=7)
    np.testing.assert_array_equal(a.recommend(q, 10), b.recommend(q, 10))
    c = family.fit(_params(epochs=2), split.train, None, seed=8)
    assert not np.array_equal(a.recommend(q, 10), c.recommend(q, 10))


def test_recommend_shape_padding_exclusion_cold_and_unseen() -> None:
    data = _tiny()
    model = TwoTower().fit(_params(epochs=2, batch_size=256), data)
    # User 2 has no events and 3 is beyond the training users: both are cold.
    q = Queries(
        users=np.array([0, 1, 2, 3]),
        targets=[np.array([3])] * 4,
        candidates=None,
        exclude=[np.array([0, 1, 2]), np.array([2, 3]), np.zeros(0, np.int64), np.array([4])],
        timestamps=None,
        n_items=5,
    )
    top = model.recommend(q, 7)
    assert top.shape == (4, 7) and top.dtype == np.int64
    assert sorted(top[0][top[0] >= 0].tolist()) == [3, 4]
    assert sorted(top[1][top[1] >= 0].tolist()) == [0, 1, 4]
    assert sorted(top[2][:5].tolist()) == [0, 1, 2, 3, 4]
    assert (top[:, 5:] == -1).all() and (top[3] != 4).all()
    # An item never seen in training has a zero vector: it scores exactly 0.
    assert model.item_vectors()[4].abs().sum() == 0
    shown = Queries(np.array([2]), [np.array([4])], [np.array([4, 0])], None, None, 5)
    assert sorted(model.recommend(shown, 3)[0].tolist()) == [-1, 0, 4]


def test_training_histories_precede_their_targets() -> None:
    data = tt._TrainingData(_tiny(), history_len=2, max_friends=10, seed=0)
    assert data.ev_item.tolist() == [0, 1, 2, 2, 3]  # (user, time) order
    bags = data.train_history(torch.arange(5))
    hist = [[] for _ in range(5)]
    for code, seg in zip(bags.codes.tolist(), bags.seg.tolist(), strict=True):
        hist[seg].append(code)
    # Each example sees only its own user's earlier items, at most history_len of them.
    assert hist == [[], [0], [0, 1], [], [2]]
    last = data.last_history(torch.tensor([0, 1, 2, 3]))
    assert last.counts.tolist() == [2, 2, 0, 0]  # code 3 is the cold row
    # log q: the item's share of the training events.
    np.testing.assert_allclose(
        data.log_q[:4].numpy(), np.log([1 / 5, 1 / 5, 2 / 5, 1 / 5]), rtol=1e-6
    )
    friends = data.friend_bags(torch.tensor([0, 1, 2]))
    assert friends.counts.tolist() == [2, 1, 0]
    assert sorted(friends.codes[:2].tolist()) == [1, 2]


def test_bag_mean_known_values() -> None:
    table = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    bags = tt._Bags(torch.tensor([0, 2, 3]), torch.tensor([0, 0, 2]), torch.tensor([2, 0, 1]))
    out = bags.mean(table)
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0, 5.0], [0.0, 0, 0], [9.0, 10, 11]]))


def test_feature_columns_split_into_categorical_and_numeric() -> None:
    # Integer codes with few distinct values are categorical (-1: unknown); the rest is
    # numeric and standardised, 0 where missing.
    frame = pd.DataFrame(
        {
            "category": [0, 1, 1, -1, 0, 1],
            "publish_time": [10.0, 20.0, 30.0, np.nan, 20.0, 20.0],
        },
        index=[0, 1, 2, 4, 5, 6],
    )
    cats, num = tt._split_features(frame, 8)
    codes, n = cats[0]
    assert n == 2 and codes.tolist() == [0, 1, 1, 2, 2, 0, 1, 2]  # 2 = unknown / missing
    assert num.shape == (8, 1)
    z = (np.array([10.0, 20.0, 30.0, 20.0, 20.0]) - 20.0) / np.std([10.0, 20, 30, 20, 20])
    np.testing.assert_allclose(num[[0, 1, 2, 5, 6], 0].numpy(), z, rtol=1e-6)
    assert num[[3, 4, 7], 0].tolist() == [0.0, 0.0, 0.0]


def test_bad_params_name_the_problem() -> None:
    family = TwoTower()
    bad = family.default_params()
    bad["emb_dim"] = bad.pop("embedding_dim")
    with pytest.raises(ValueError, match=r"unknown \['emb_dim'\], missing \['embedding_dim'\]"):
        family.fit(bad, _tiny())
    with pytest.raises(ValueError, match="dropout must be in"):
        family.fit(dict(family.default_params(), dropout=1.0), _tiny())
    empty = Interactions(pd.DataFrame(columns=list(EVENT_COLUMNS)), 1, 1, name="empty")
    with pytest.raises(ValueError, match="'empty' has no positive events"):
        family.fit(family.default_params(), empty)
    model = TwoTower().fit(_params(epochs=1), _tiny())
    with pytest.raises(ValueError, match="candidate item code 9"):
        model.recommend(Queries(np.array([0]), [np.array([1])], [np.array([9])], None, None, 5), 2)


@pytest.mark.slow
@pytest.mark.realdata
def test_real_movielens_beats_popularity(data_dir) -> None:
    from optuna_rl_sampler.recsys.loaders import load_dataset

    data = load_dataset(data_dir / "general" / "ml_latest_small", "movielens")
    split = split_dataset(data)
    q = make_queries(split.train, split.valid)
    family = TwoTower()
    model = family.fit(dict(family.default_params(), epochs=4), split.train, q)
    pop = Popularity().fit(Popularity().default_params(), split.train, q)
    assert _ndcg(model, q) > 1.5 * _ndcg(pop, q)


def test_best_step_is_the_epoch_whose_weights_were_kept(social) -> None:
    split, q = social
    family = TwoTower()
    values: list[float] = []
    model = family.fit(_params(epochs=4), split.train, q, on_step=lambda step, v: values.append(v))
    assert model.best_step == int(np.argmax(values)) + 1
    assert _ndcg(model, q) == pytest.approx(max(values))
    assert family.fit(_params(epochs=1), split.train).best_step is None  # no validation
    assert family.params_for_steps(_params(epochs=9), 3)["epochs"] == 3
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        family.params_for_steps(_params(), 0)
