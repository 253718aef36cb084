from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.loaders import load_dataset
from optuna_rl_sampler.recsys.splits import Split
from optuna_rl_sampler.recsys.splits import has_impressions
from optuna_rl_sampler.recsys.splits import holdout_last_positive
from optuna_rl_sampler.recsys.splits import holdout_latest_impressions
from optuna_rl_sampler.recsys.splits import holdout_time_windows
from optuna_rl_sampler.recsys.splits import leave_last_out
from optuna_rl_sampler.recsys.splits import make_queries
from optuna_rl_sampler.recsys.splits import split_dataset
from optuna_rl_sampler.recsys.splits import temporal_split
from optuna_rl_sampler.recsys.splits import validation_folds
from optuna_rl_sampler.recsys.synthetic import make_ecommerce
from optuna_rl_sampler.recsys.synthetic import make_news
from optuna_rl_sampler.recsys.synthetic import make_social


def _data(rows: list[tuple], n_users: int | None = None, n_items: int | None = None):
    """Interactions from (user, item, label, timestamp, group) rows."""
    ev = pd.DataFrame(rows, columns=["user", "item", "label", "timestamp", "group"])
    ev.insert(2, "weight", 1.0)
    ev = ev.astype(
        {
            "user": "int64",
            "item": "int64",
            "weight": "float64",
            "label": "int8",
            "timestamp": "int64",
            "group": "int64",
        }
    )
    return Interactions(
        events=ev,
        n_users=n_users or int(ev["user"].max()) + 1,
        n_items=n_items or int(ev["item"].max()) + 1,
        name="tiny",
    )


def _assert_no_leak(split: Split) -> None:
    tr, va, te = (p.events["timestamp"] for p in (split.train, split.valid, split.test))
    assert tr.max() < va.min()
    assert va.max() < te.min()


def _assert_groups_whole(split: Split) -> None:
    seen: dict[int, int] = {}
    for k, part in enumerate((split.train, split.valid, split.test)):
        for g in part.events.loc[part.events["group"] >= 0, "group"].unique():
            assert seen.setdefault(int(g), k) == k, f"group {g} is split"


# --- temporal -------------------------------------------------------------------------------


def test_temporal_split_known_values() -> None:
    data = _data([(t % 3, t, 1, t, -1) for t in range(10)])
    split = temporal_split(data, valid_frac=0.2, test_frac=0.2)
    assert split.method == "temporal"
    assert split.train.events["timestamp"].tolist() == [0, 1, 2, 3, 4, 5]
    assert split.valid.events["timestamp"].tolist() == [6, 7]
    assert split.test.events["timestamp"].tolist() == [8, 9]
    assert split.notes["valid_start"] == 6 and split.notes["test_start"] == 8
    # Side tables and codes carry over.
    assert split.train.n_items == data.n_items and split.train.name == "tiny"


def test_temporal_split_drops_straddling_groups() -> None:
    group_of = [0, 0, 1, 1, 2, 3, 3, 4, 5, 6]  # group 3 spans t=5 and t=6
    data = _data([(g % 2, t, 1, t, g) for t, g in enumerate(group_of)])
    split = temporal_split(data, valid_frac=0.2, test_frac=0.2)
    _assert_no_leak(split)
    _assert_groups_whole(split)
    assert (split.notes["valid_start"], split.notes["test_start"]) == (6, 8)
    assert (split.notes["dropped_groups"], split.notes["dropped_events"]) == (1, 2)
    assert split.train.events["group"].tolist() == [0, 0, 1, 1, 2]
    assert split.valid.events["group"].tolist() == [4]
    assert split.test.events["group"].tolist() == [5, 6]


def test_temporal_split_ignores_ungrouped_rows_for_cuts() -> None:
    # Ten history rows long before ten one-row impressions: the cuts follow impressions.
    rows = [(0, i, 1, i, -1) for i in range(10)]
    rows += [(1, 20 + i, 1 if i % 2 else 0, 100 + i, i) for i in range(10)]
    split = temporal_split(_data(rows), valid_frac=0.2, test_frac=0.2)
    assert split.notes["valid_start"] == 106
    assert split.train.n_interactions == 16


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_news(200, 150, 600, 6, 4, seed=0),
        lambda: make_ecommerce(200, 150, 4000, seed=0),
    ],
)
def test_temporal_split_on_synthetic(make) -> None:
    data = make()
    split = temporal_split(data, valid_frac=0.1, test_frac=0.1)
    _assert_no_leak(split)
    _assert_groups_whole(split)
    n_grouped = int((data.events["group"] >= 0).sum())
    n_test = int((split.test.events["group"] >= 0).sum())
    assert 0.05 < n_test / n_grouped < 0.15


def test_temporal_split_errors() -> None:
    flat = _data([(0, 0, 1, 7, -1), (1, 1, 1, 7, -1)])
    with pytest.raises(ValueError, match="no time information.*leave_last_out"):
        temporal_split(flat)
    data = _data([(0, 0, 1, t, -1) for t in range(10)])
    with pytest.raises(ValueError, match="test_frac must be in"):
        temporal_split(data, test_frac=0.0)
    with pytest.raises(ValueError, match="valid_frac \\+ test_frac must be < 1"):
        temporal_split(data, valid_frac=0.5, test_frac=0.5)


def test_temporal_split_without_validation() -> None:
    data = _data([(0, 0, 1, t, -1) for t in range(10)])
    split = temporal_split(data, valid_frac=0.0, test_frac=0.3)
    assert split.valid.n_interactions == 0
    assert split.test.events["timestamp"].tolist() == [7, 8, 9]


# --- leave-last-out --------------------------------------------------------------------------


def test_leave_last_out_known_values() -> None:
    rows = [
        (0, 10, 1, 1, -1),
        (0, 11, 1, 4, -1),  # user 0's last -> test
        (0, 12, 1, 3, -1),  # second last -> valid
        (0, 13, 1, 2, -1),
        (0, 14, 0, 5, -1),  # a negative after the held-out events: dropped
        (0, 15, 0, 0, -1),  # a negative before them: train
        (1, 10, 1, 1, -1),  # user 1 has two positives: too few, all train
        (1, 11, 1, 2, -1),
    ]
    split = leave_last_out(_data(rows), n_valid=1, n_test=1)
    assert split.method == "leave-last-out"
    assert split.test.events[["user", "item"]].values.tolist() == [[0, 11]]
    assert split.valid.events[["user", "item"]].values.tolist() == [[0, 12]]
    assert sorted(split.train.events["item"][split.train.events["user"] == 0]) == [10, 13, 15]
    assert split.train.events["user"].tolist().count(1) == 2
    assert split.notes == {"users_held_out": 1, "users_train_only": 1, "dropped_events": 1}


def test_leave_last_out_ties_are_seeded() -> None:
    data = make_social(100, 200, 3000, seed=0)
    flat = data.with_events(data.events.assign(timestamp=0))
    a = leave_last_out(flat, seed=1)
    b = leave_last_out(flat, seed=1)
    c = leave_last_out(flat, seed=2)
    pd.testing.assert_frame_equal(a.test.events, b.test.events)
    assert not a.test.events.equals(c.test.events)
    assert a.test.n_interactions == a.notes["users_held_out"]


def test_leave_last_out_errors() -> None:
    data = _data([(0, 0, 1, 0, -1), (0, 1, 1, 1, -1)])
    with pytest.raises(ValueError, match="n_test must be an integer >= 1"):
        leave_last_out(data, n_test=0)
    with pytest.raises(ValueError, match="no user of 'tiny' has the 3 positive events"):
        leave_last_out(data)


@pytest.mark.realdata
def test_leave_last_out_on_amazon(data_dir: Path) -> None:
    path = data_dir / "ecommerce/amazon_beauty"
    if not path.is_dir():
        pytest.skip("amazon_beauty not found")
    data = load_dataset(path)
    start = time.perf_counter()
    split = split_dataset(data)
    assert time.perf_counter() - start < 5.0
    assert split.method == "leave-last-out"
    last = data.events.sort_values("timestamp").groupby("user")["item"].last()
    test = split.test.events.set_index("user")["item"]
    assert len(test) == data.stats()["n_users"]  # 5-core: every user is held out
    assert (test.sort_index() == last.sort_index()).all()
    assert split.train.n_interactions == data.n_interactions - 2 * len(test)


@pytest.mark.realdata
def test_temporal_split_on_yoochoose(data_dir: Path) -> None:
    path = data_dir / "ecommerce/yoochoose_clicks_100k"
    if not path.is_dir():
        pytest.skip("yoochoose_clicks_100k not found")
    split = split_dataset(load_dataset(path))
    assert split.method == "temporal"
    _assert_no_leak(split)
    _assert_groups_whole(split)


# --- split_dataset ---------------------------------------------------------------------------


def test_split_dataset_rule() -> None:
    assert split_dataset(make_news(100, 100, 200, 5, 3, seed=0)).method == "temporal"
    assert split_dataset(make_ecommerce(100, 100, 2000, seed=0)).method == "temporal"
    assert split_dataset(make_social(100, 100, 2000, seed=0)).method == "leave-last-out"
    ecommerce = make_ecommerce(100, 100, 2000, seed=0)
    assert split_dataset(ecommerce, "leave_last_out").method == "leave-last-out"
    with pytest.raises(ValueError, match="unknown split method 'random'.*temporal"):
        split_dataset(ecommerce, "random")


# --- make_queries ----------------------------------------------------------------------------


def _impressions():
    history = _data(
        [
            (0, 1, 1, 1, -1),
            (0, 2, 1, 2, -1),
            (1, 3, 1, 3, 100),
            (1, 4, 0, 3, 100),
        ],
        n_users=4,
        n_items=8,
    )
    target = _data(
        [
            (2, 5, 0, 20, 7),  # group 7: later, two shown, one click
            (2, 6, 1, 20, 7),
            (0, 3, 1, 10, 5),  # group 5: earlier, three shown, two clicks
            (0, 1, 0, 10, 5),
            (0, 4, 1, 10, 5),
            (1, 2, 1, 15, 6),  # group 6: only clicks, skipped in impression mode
            (3, 7, 0, 16, 8),  # group 8: no click, skipped
        ],
        n_users=4,
        n_items=8,
    )
    return history, target


def test_make_queries_impression_mode() -> None:
    history, target = _impressions()
    q = make_queries(history, target)
    assert len(q) == 2
    assert q.users.tolist() == [0, 2]
    assert [c.tolist() for c in q.candidates] == [[3, 1, 4], [5, 6]]
    assert [t.tolist() for t in q.targets] == [[3, 4], [6]]
    assert q.exclude is None
    assert q.timestamps.tolist() == [10, 20]
    assert q.n_items == 8


def test_make_queries_user_mode() -> None:
    history, target = _impressions()
    q = make_queries(history, target, mode="user")
    assert q.users.tolist() == [0, 1, 2]
    assert [t.tolist() for t in q.targets] == [[3, 4], [2], [6]]
    assert q.candidates is None
    # User 0 consumed 1 and 2, user 1 clicked 3 (its shown-not-clicked 4 is not
    # excluded), user 2 is cold.
    assert [e.tolist() for e in q.exclude] == [[1, 2], [3], []]
    assert q.timestamps.tolist() == [10, 15, 20]
    assert make_queries(history, target, mode="user", exclude_seen=False).exclude is None


def test_make_queries_auto_picks_user_mode_without_negatives() -> None:
    history = _data([(0, 0, 1, 0, -1), (1, 1, 1, 1, -1)])
    target = _data([(0, 1, 1, 5, 3), (1, 0, 1, 6, 4), (1, 0, 1, 7, 4)])
    q = make_queries(history, target)
    assert q.candidates is None
    assert [t.tolist() for t in q.targets] == [[1], [0]]  # repeated pair counted once
    with pytest.raises(ValueError, match="impression mode needs.*mode='user'"):
        make_queries(history, target, mode="impression")


def test_make_queries_max_queries_is_seeded() -> None:
    data = make_social(300, 200, 4000, seed=0)
    split = leave_last_out(data)
    full = make_queries(split.train, split.test)
    a = make_queries(split.train, split.test, max_queries=50, seed=3)
    b = make_queries(split.train, split.test, max_queries=50, seed=3)
    c = make_queries(split.train, split.test, max_queries=50, seed=4)
    assert len(a) == 50 and len(full) > 50
    assert a.users.tolist() == b.users.tolist() != c.users.tolist()
    assert np.all(np.diff(a.users) > 0)  # order kept
    lookup = dict(zip(full.users.tolist(), full.targets, strict=True))
    for u, t in zip(a.users, a.targets, strict=True):
        assert t.tolist() == lookup[int(u)].tolist()
    with pytest.raises(ValueError, match="max_queries must be a positive integer"):
        make_queries(split.train, split.test, max_queries=0)
    with pytest.raises(ValueError, match="unknown query mode 'group'"):
        make_queries(split.train, split.test, mode="group")


def test_make_queries_empty_target() -> None:
    history, target = _impressions()
    empty = target.with_events(target.events.iloc[:0])
    q = make_queries(history, empty, mode="user")
    assert len(q) == 0 and q.targets == []


def test_split_and_queries_are_fast_on_300k_rows() -> None:
    rng = np.random.default_rng(0)
    n = 300_000
    ev = pd.DataFrame(
        {
            "user": rng.integers(0, 30_000, n),
            "item": rng.integers(0, 10_000, n),
            "weight": np.ones(n),
            "label": (rng.random(n) < 0.2).astype(np.int8),
            "timestamp": rng.integers(0, 1_000_000, n),
            "group": rng.integers(0, 20_000, n),
        }
    )
    ev["timestamp"] = ev["group"] * 50 + ev["timestamp"] % 10  # groups at one moment
    data = Interactions(events=ev, n_users=30_000, n_items=10_000)
    start = time.perf_counter()
    split = temporal_split(data)
    q_imp = make_queries(split.train, split.valid)
    q_user = make_queries(split.train, split.valid, mode="user")
    lo = leave_last_out(data.with_events(ev.assign(group=-1)))
    q_lo = make_queries(lo.train, lo.test)
    elapsed = time.perf_counter() - start
    assert len(q_imp) > 1000 and len(q_user) > 1000 and len(q_lo) > 1000
    assert elapsed < 10.0


# --- validation folds --------------------------------------------------------------------


def test_temporal_folds_step_the_validation_window_back() -> None:
    rows = [(t % 7, t % 13, 1, t, -1) for t in range(100)]
    split = temporal_split(_data(rows), valid_frac=0.1, test_frac=0.1)
    folds = validation_folds(split, 4)
    assert folds[0] == (split.train, split.valid)
    spans = [
        (tr.events["timestamp"].max(), va.events["timestamp"].min(), va.events["timestamp"].max())
        for tr, va in folds
    ]
    # Windows of 10 events, each the 10 before the previous one; train ends before each.
    assert spans == [(79, 80, 89), (69, 70, 79), (59, 60, 69), (49, 50, 59)]
    assert all(tr.events["timestamp"].min() == 0 for tr, _ in folds)
    # Nothing of the test part is in any fold.
    assert all(va.events["timestamp"].max() < 90 for _, va in folds)


def test_leave_last_out_folds_hold_out_earlier_events_per_user() -> None:
    # User 0: five positives (items 0-4 in time order); user 1: three (items 5-7).
    rows = [(0, i, 1, i, -1) for i in range(5)] + [(1, 5 + i, 1, i, -1) for i in range(3)]
    split = leave_last_out(_data(rows), n_valid=1, n_test=1)
    folds = validation_folds(split, 3)

    def items(part, user):
        ev = part.events
        return sorted(ev.loc[ev["user"] == user, "item"].tolist())

    assert [(items(tr, 0), items(va, 0)) for tr, va in folds] == [
        ([0, 1, 2], [3]),
        ([0, 1], [2]),
        ([0], [1]),
    ]
    # User 1 has too few positives to hold out one more: fold 1 trains on them all.
    assert (items(folds[1][0], 1), items(folds[1][1], 1)) == ([5, 6], [])


def test_folds_refuse_what_they_cannot_do() -> None:
    rows = [(t % 7, t % 13, 1, t, -1) for t in range(100)]
    split = temporal_split(_data(rows), valid_frac=0.1, test_frac=0.1)
    with pytest.raises(ValueError, match="use at most 8 folds"):
        validation_folds(split, 9)
    with pytest.raises(ValueError, match="n_folds must be a positive integer, got 0"):
        validation_folds(split, 0)
    custom = Split(split.train, split.valid, split.test)
    assert validation_folds(custom, 1) == [(split.train, split.valid)]
    with pytest.raises(ValueError, match="got method ''"):
        validation_folds(custom, 2)


# --- ranking lists held out of a training part --------------------------------------------


def test_holdout_last_positive_known_lists() -> None:
    # User 0: items 0, 1, 2 at times 0, 1, 2; user 1: item 5 only (stays in the history).
    rows = [(0, 0, 1, 0, -1), (0, 1, 1, 1, -1), (0, 2, 1, 2, -1), (1, 5, 1, 0, -1)]
    lists = holdout_last_positive(_data(rows), np.random.default_rng(0))
    assert lists.users.tolist() == [0]
    assert [t.tolist() for t in lists.targets] == [[2]]
    assert lists.times.tolist() == [2]
    assert lists.candidates is None
    assert sorted(lists.history.events["item"].tolist()) == [0, 1, 5]
    with pytest.raises(ValueError, match="No user of 'tiny' has two positive events"):
        holdout_last_positive(_data([(0, 0, 1, 0, -1), (1, 1, 1, 0, -1)]), np.random.default_rng())


def test_holdout_time_windows_known_lists(optuna_caplog) -> None:
    # One user per time step 0..9, positives only; windows of 20% of the positives.
    rows = [(t % 3, t, 1, t, -1) for t in range(10)]
    windows = holdout_time_windows(_data(rows), 0.2, 2, np.random.default_rng(0))
    assert len(windows) == 2
    latest, older = windows
    # Latest window: times >= 8 (quantile 0.8); the history is everything before 8.
    assert sorted(t.tolist()[0] for t in latest.targets) == [8, 9]
    assert latest.history.events["timestamp"].max() == 7
    # Older window: times 6 and 7, history before 6.
    assert sorted(t.tolist()[0] for t in older.targets) == [6, 7]
    assert older.history.events["timestamp"].max() == 5
    # No time spread: no cut fits, so each user's last positive is held out, logged.
    flat = [(u, i, 1, 0, -1) for u in range(3) for i in range(3)]
    fallback = holdout_time_windows(_data(flat), 0.2, 2, np.random.default_rng(0))
    assert len(fallback) == 1 and sorted(fallback[0].users.tolist()) == [0, 1, 2]
    assert "No time cut fits the positives of 'tiny'" in optuna_caplog.text
    assert optuna_caplog.records[-1].name == "optuna.optuna_rl_sampler.recsys.splits"


def test_holdout_latest_impressions_known_lists() -> None:
    # Impressions 0-4 at times 0-4: item 2g clicked, item 2g + 1 shown but not clicked.
    rows = [(g, 2 * g + k, 1 - k, g, g) for g in range(5) for k in (0, 1)]
    lists = holdout_latest_impressions(_data(rows), 0.4, 10, np.random.default_rng(0))
    # The impressions that start at or after the 60% quantile of the start times (the
    # lower one: time 2) are the lists; the history keeps impressions 0 and 1.
    assert [c.tolist() for c in lists.candidates] == [[4, 5], [6, 7], [8, 9]]
    assert [t.tolist() for t in lists.targets] == [[4], [6], [8]]
    assert lists.users.tolist() == [2, 3, 4] and lists.times.tolist() == [2, 3, 4]
    assert lists.history.events["group"].max() == 1
    assert has_impressions(_data(rows)) and not has_impressions(_data([(0, 0, 1, 0, 0)]))
    one = holdout_latest_impressions(_data(rows), 0.4, 1, np.random.default_rng(0))
    assert len(one.users) == 1
