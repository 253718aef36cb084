"""Train/validation/test splits that don't leak the future, and evaluation queries.

Two ways to split an :class:`Interactions`:

* :func:`temporal_split` cuts the timeline at two global timestamps: everything in train
  happened strictly before everything in validation, which happened strictly before
  everything in test. Impression and session groups are never cut in two.
* :func:`leave_last_out` holds out each user's last positive event(s): the usual
  protocol for per-user sequences (Amazon, MovieLens) and for data with no clock
  (Last.fm, FilmTrust), where ties are broken at random, so it becomes a per-user random
  hold-out.

:func:`split_dataset` picks one of them, and :func:`make_queries` turns a history and a
later target period into the :class:`Queries` a model ranks and a metric scores.
:func:`validation_folds` steps the validation window back in time for a mean over
several periods.

The same holdouts, applied inside a training part, give a learning-to-rank model its
training lists (:class:`HoldoutLists`): :func:`holdout_protocol` picks the one that
resembles the validation queries, and :func:`holdout_latest_impressions`,
:func:`holdout_time_windows` or :func:`holdout_last_positive` cut the lists.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np

from optuna_rl_sampler.recsys.data import Interactions
from optuna_rl_sampler.recsys.data import Queries

if TYPE_CHECKING:
    import pandas as pd

#: A logger under Optuna's tree (``optuna.optuna_rl_sampler.recsys...``), so that
#: ``optuna.logging.set_verbosity`` governs it.
_logger = logging.getLogger(f"optuna.{__name__}")

#: Split methods :func:`split_dataset` accepts.
SPLIT_METHODS = ("auto", "temporal", "leave-last-out")
#: Query modes :func:`make_queries` accepts.
QUERY_MODES = ("auto", "impression", "user")


@dataclass(frozen=True)
class Split:
    """Three disjoint parts of one dataset, in time order.

    Attributes:
        train: Events to fit on.
        valid: Events to tune on (the objective of a study).
        test: Events for the final report, never seen while tuning.
        method: ``"temporal"`` or ``"leave-last-out"``.
        notes: Facts about the split (cut times, rows dropped, users held out).
    """

    train: Interactions
    valid: Interactions
    test: Interactions
    method: str = ""
    notes: dict = field(default_factory=dict)


def temporal_split(data: Interactions, valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    """Split at two global time cuts, keeping impression/session groups whole.

    The cuts are the event-timestamp quantiles ``1 - valid_frac - test_frac`` and
    ``1 - test_frac``, over the events that belong to a group when there are any (so
    ungrouped rows such as MIND history clicks don't move the cuts), else over all
    events. An event goes to train if its time is before the first cut, to
    validation if before the second, else to test, so ``max(train) < min(valid)`` and
    ``max(valid) < min(test)``. A group (``group`` >= 0) whose events fall on both sides
    of a cut would break either that order or the group, so it is dropped; ``notes``
    count such groups (a few sessions at each cut; none for single-time impressions).

    Args:
        data: The events; their timestamps must not all be equal.
        valid_frac: Share of events (about) for validation, in ``[0, 1)``; 0 for none.
        test_frac: Share of events (about) for test, in ``(0, 1)``.

    Returns:
        The split; ``notes`` hold ``valid_start``, ``test_start`` and
        ``dropped_groups`` / ``dropped_events``.

    Raises:
        ValueError: A fraction is out of range, the data has no time spread, or a part
            would be empty.
    """
    if not 0.0 <= valid_frac < 1.0:
        raise ValueError(f"valid_frac must be in [0, 1), got {valid_frac!r}")
    if not 0.0 < test_frac < 1.0:
        raise ValueError(f"test_frac must be in (0, 1), got {test_frac!r}")
    if valid_frac + test_frac >= 1.0:
        raise ValueError(
            f"valid_frac + test_frac must be < 1 to leave events for training, got "
            f"{valid_frac} + {test_frac}"
        )
    ev = data.events
    ts = ev["timestamp"].to_numpy()
    if len(ts) == 0:
        raise ValueError(f"dataset {data.name!r} has no events to split")
    if ts.min() == ts.max():
        raise ValueError(
            f"dataset {data.name!r} has no time information (every timestamp is "
            f"{int(ts.min())}); use leave_last_out, which holds out events per user"
        )
    group = ev["group"].to_numpy()
    grouped = group >= 0
    # With groups, the fractions are shares of the grouped events, so that ungrouped
    # rows (e.g. MIND history clicks before the logged period) don't move the cuts.
    sorted_ts = np.sort(ts[grouped] if grouped.any() else ts)
    n = len(sorted_ts)
    valid_start = int(sorted_ts[min(n - 1, int(n * (1.0 - valid_frac - test_frac)))])
    test_start = int(sorted_ts[min(n - 1, int(n * (1.0 - test_frac)))])
    cuts = np.array([valid_start, test_start])
    part = np.searchsorted(cuts, ts, side="right").astype(np.int8)  # 0 train, 1 valid, 2 test

    n_dropped_groups = 0
    if grouped.any():
        import pandas as pd

        g = pd.DataFrame({"group": group[grouped], "part": part[grouped]})
        span = g.groupby("group")["part"].agg(["min", "max"])
        straddling = span.index[span["min"] != span["max"]]
        n_dropped_groups = int(len(straddling))
        if n_dropped_groups:
            drop = np.zeros(len(ev), dtype=bool)
            drop[grouped] = np.isin(group[grouped], straddling.to_numpy())
            part[drop] = -1
    parts = [_subset(data, part == k) for k in range(3)]
    names = ("train", "validation", "test")
    for k, p in enumerate(parts):
        if p.n_interactions == 0 and (k != 1 or valid_frac > 0):
            raise ValueError(
                f"temporal split of {data.name!r} leaves the {names[k]} part empty "
                f"(cuts at {valid_start} and {test_start}); change valid_frac/test_frac"
            )
    notes = {
        "valid_start": valid_start,
        "test_start": test_start,
        "dropped_groups": n_dropped_groups,
        "dropped_events": int((part == -1).sum()),
    }
    return Split(*parts, method="temporal", notes=notes)


def leave_last_out(
    data: Interactions, n_valid: int = 1, n_test: int = 1, *, seed: int = 0
) -> Split:
    """Hold out each user's last positive events for validation and test.

    Per user, positive events are ordered by timestamp (ties broken at random with
    ``seed``): the last ``n_test`` go to test, the ``n_valid`` before them to
    validation, the rest to train. Users with fewer than ``n_valid + n_test + 1``
    positives stay entirely in train, so every evaluated user has some history.
    Label-0 rows stay in train when they come before the user's first held-out event and
    are dropped otherwise.

    Args:
        data: The events.
        n_valid: Positives per user for validation (0 for none).
        n_test: Positives per user for test (at least 1).
        seed: Seed of the random tie-break.

    Returns:
        The split; ``notes`` hold ``users_held_out``, ``users_train_only`` and
        ``dropped_events``.

    Raises:
        ValueError: ``n_valid`` or ``n_test`` is out of range, or no user has enough
            events to hold any out.
    """
    import pandas as pd

    if isinstance(n_valid, bool) or not isinstance(n_valid, (int, np.integer)) or n_valid < 0:
        raise ValueError(f"n_valid must be an integer >= 0, got {n_valid!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise ValueError(f"n_test must be an integer >= 1, got {n_test!r}")
    ev = data.events
    n = len(ev)
    rng = np.random.default_rng(seed)
    user = ev["user"].to_numpy()
    ts = ev["timestamp"].to_numpy()
    positive = ev["label"].to_numpy() == 1
    pos_idx = np.flatnonzero(positive)
    order = pos_idx[np.lexsort((rng.random(len(pos_idx)), ts[pos_idx], user[pos_idx]))]
    u_sorted = user[order]
    counts = pd.Series(u_sorted).value_counts(sort=False)
    size = counts.reindex(u_sorted).to_numpy()
    rank_from_end = size - 1 - pd.Series(u_sorted).groupby(u_sorted).cumcount().to_numpy()
    enough = size >= n_valid + n_test + 1
    part = np.zeros(n, dtype=np.int8)
    part[order] = np.where(
        enough & (rank_from_end < n_test),
        2,
        np.where(enough & (rank_from_end < n_test + n_valid), 1, 0),
    )
    n_held_users = int(len(np.unique(u_sorted[enough])))
    if n_held_users == 0:
        raise ValueError(
            f"no user of {data.name!r} has the {n_valid + n_test + 1} positive events "
            f"needed to hold out n_valid={n_valid} and n_test={n_test}; lower them"
        )
    n_dropped = 0
    if not positive.all():
        held = part > 0
        first_held = pd.Series(ts[held]).groupby(user[held]).min()
        cut = first_held.reindex(user[~positive]).to_numpy()
        keep = np.isnan(cut) | (ts[~positive] < np.nan_to_num(cut, nan=np.inf))
        neg_part = np.where(keep, 0, -1).astype(np.int8)
        part[~positive] = neg_part
        n_dropped = int((~keep).sum())
    notes = {
        "users_held_out": n_held_users,
        "users_train_only": int(len(counts)) - n_held_users,
        "dropped_events": n_dropped,
    }
    parts = [_subset(data, part == k) for k in range(3)]
    return Split(*parts, method="leave-last-out", notes=notes)


def split_dataset(
    data: Interactions,
    method: str = "auto",
    *,
    valid_frac: float = 0.1,
    test_frac: float = 0.1,
    n_valid: int = 1,
    n_test: int = 1,
    seed: int = 0,
) -> Split:
    """Split a dataset with the protocol that suits it.

    The ``"auto"`` rule: data with impression or session groups (any ``group`` >= 0:
    MIND, YOOCHOOSE, the synthetic news and e-commerce data) is split in time with
    :func:`temporal_split`, since a group shares one moment and later groups must not
    inform earlier ones. Everything else (per-user sequences and data with no clock:
    Amazon, MovieLens, Last.fm, FilmTrust) is split with :func:`leave_last_out`.

    Args:
        data: The events.
        method: ``"auto"``, ``"temporal"`` or ``"leave-last-out"``.
        valid_frac: For the temporal split, see :func:`temporal_split`.
        test_frac: For the temporal split.
        n_valid: For leave-last-out, see :func:`leave_last_out`.
        n_test: For leave-last-out.
        seed: For leave-last-out's tie-break.

    Returns:
        The split.

    Raises:
        ValueError: ``method`` is unknown (or the chosen split fails).
    """
    key = str(method).lower().replace("_", "-")
    if key not in SPLIT_METHODS:
        raise ValueError(
            f"unknown split method {method!r}; valid methods are: {', '.join(SPLIT_METHODS)}"
        )
    if key == "auto":
        key = "temporal" if (data.events["group"] >= 0).any() else "leave-last-out"
    if key == "temporal":
        return temporal_split(data, valid_frac=valid_frac, test_frac=test_frac)
    return leave_last_out(data, n_valid=n_valid, n_test=n_test, seed=seed)


def validation_folds(
    split: Split, n_folds: int, *, seed: int = 0
) -> list[tuple[Interactions, Interactions]]:
    """Rolling validation folds before the test part: ``[(train, valid), ...]``.

    Fold 0 is ``(split.train, split.valid)`` itself. Each further fold moves the
    validation window one step back in time inside ``train + valid`` (the test part is
    never touched), and everything after its window is left out, so no fold trains on
    its own future:

    - ``"temporal"`` splits: the validation window of fold ``j`` holds the same share
      of ``train + valid`` as the original one (``f``) and ends where the events of the
      latest ``j * f`` share begin (:func:`temporal_split` of ``train + valid`` with
      ``valid_frac=f`` and ``test_frac=j * f``);
    - ``"leave-last-out"`` splits: fold ``j`` holds out each user's ``(j + 1)``-th last
      positive event of ``train + valid`` and drops the ``j`` after it
      (:func:`leave_last_out` with ``n_valid=1`` and ``n_test=j``); users with fewer
      positives stay in that fold's training part whole.

    The mean of a metric over the folds is a steadier objective than one window: a
    configuration must do well on several periods, not on one draw of validation
    events.

    Args:
        split: A split made by :func:`temporal_split` or :func:`leave_last_out` (its
            ``method`` says which).
        n_folds: Number of folds, 1 or more (1 returns fold 0 only).
        seed: Seed of leave-last-out's random tie-break.

    Returns:
        ``n_folds`` pairs of (training events, validation events), latest first.

    Raises:
        ValueError: ``n_folds`` is not a positive integer, the split's method is neither
            temporal nor leave-last-out, or the data is too short for that many folds.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ValueError(f"n_folds must be a positive integer, got {n_folds!r}")
    folds = [(split.train, split.valid)]
    if n_folds == 1:
        return folds
    if split.method not in ("temporal", "leave-last-out"):
        raise ValueError(
            f"validation folds need a temporal or leave-last-out split, got method "
            f"{split.method!r}; make the split with split_dataset, or use n_folds=1"
        )
    import pandas as pd

    events = pd.concat([split.train.events, split.valid.events], ignore_index=True)
    train_valid = split.train.with_events(events)
    if split.method == "temporal":
        # The shares of temporal_split are shares of the grouped events where there are
        # groups (impressions, sessions), else of all events.
        by_group = bool((events["group"] >= 0).any())

        def size(part: Interactions) -> int:
            if by_group:
                return int((part.events["group"] >= 0).sum())
            return part.n_interactions

        # Rounded down so that the cut positions temporal_split computes from the
        # fractions do not fall one event short through floating-point error.
        share = math.floor(size(split.valid) / max(size(train_valid), 1) * 1e9) / 1e9
        if (n_folds + 0.5) * share >= 1.0:
            raise ValueError(
                f"{n_folds} temporal folds of {share:.0%} of the data each do not fit "
                f"before the test part of {split.train.name!r}; use at most "
                f"{max(int(1.0 / share - 0.5), 1)} folds"
            )
        for j in range(1, n_folds):
            part = temporal_split(train_valid, valid_frac=share, test_frac=j * share)
            folds.append((part.train, part.valid))
    else:
        for j in range(1, n_folds):
            part = leave_last_out(train_valid, n_valid=1, n_test=j, seed=seed)
            folds.append((part.train, part.valid))
    return folds


def make_queries(
    history: Interactions,
    target: Interactions,
    *,
    mode: str = "auto",
    exclude_seen: bool = True,
    max_queries: int | None = None,
    seed: int = 0,
) -> Queries:
    """Build the queries to rank from a history and a later target period.

    Impression mode (one query per impression group that has at least one click and one
    shown-but-not-clicked entry): ``candidates`` are the shown items in shown order,
    ``targets`` the clicked ones, ``exclude`` is ``None``; queries are in time order.
    User mode (one query per user with at least one positive in ``target``): ``targets``
    are the user's positive items in ``target``, ``candidates`` is ``None`` (rank the
    whole catalogue) and ``exclude`` the items the user consumed (label 1) in
    ``history``; queries are in user order. Users absent from ``history`` are kept (cold
    users, with an empty ``exclude``). A target item the user also consumed in the history
    (a repeat) stays a target and is excluded too; pass ``exclude_seen=False`` for data
    where repeats matter.

    Args:
        history: What the model may know (usually the train part).
        target: The later events to predict (the valid or test part).
        mode: ``"auto"`` (impression mode when ``target`` has groups with label-0 rows,
            else user mode), ``"impression"`` or ``"user"``.
        exclude_seen: In user mode, exclude the user's history items from ranking.
        max_queries: Keep at most this many queries, drawn at random with ``seed``
            (order kept), for fast tuning; ``None`` keeps all.
        seed: Seed of the subsample.

    Returns:
        The queries; empty when no group or user qualifies.

    Raises:
        ValueError: ``mode`` is unknown, impression mode is asked for a target with no
            label-0 rows in groups, or ``max_queries`` < 1.
    """
    key = str(mode).lower()
    if key not in QUERY_MODES:
        raise ValueError(f"unknown query mode {mode!r}; valid modes are: {', '.join(QUERY_MODES)}")
    if max_queries is not None and (
        isinstance(max_queries, bool)
        or not isinstance(max_queries, (int, np.integer))
        or max_queries < 1
    ):
        raise ValueError(f"max_queries must be a positive integer or None, got {max_queries!r}")
    ev = target.events
    has_impressions = bool(((ev["group"] >= 0) & (ev["label"] == 0)).any())
    if key == "auto":
        key = "impression" if has_impressions else "user"
    if key == "impression" and not has_impressions:
        raise ValueError(
            f"impression mode needs target groups with shown-but-not-clicked (label 0) "
            f"rows, and {target.name!r} has none; use mode='user'"
        )
    n_items = max(history.n_items, target.n_items)
    if key == "impression":
        users, targets, candidates, timestamps = _impression_queries(ev)
        exclude = None
    else:
        users, targets, timestamps = _user_queries(ev)
        candidates = None
        exclude = _seen_items(history.events, users) if exclude_seen else None
    if max_queries is not None and len(users) > max_queries:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(users), size=max_queries, replace=False))
        users, timestamps = users[keep], timestamps[keep]
        targets = [targets[i] for i in keep]
        candidates = None if candidates is None else [candidates[i] for i in keep]
        exclude = None if exclude is None else [exclude[i] for i in keep]
    return Queries(
        users=users,
        targets=targets,
        candidates=candidates,
        exclude=exclude,
        timestamps=timestamps,
        n_items=int(n_items),
    )


# --- ranking lists held out of a training part ----------------------------------------------


def has_impressions(data: Interactions) -> bool:
    """Whether ``data`` has impressions: grouped rows with shown-but-not-clicked entries."""
    ev = data.events
    in_group = ev["group"].to_numpy() >= 0
    return bool(in_group.any() and (ev["label"].to_numpy()[in_group] == 0).any())


@dataclass(frozen=True)
class HoldoutLists:
    """Ranking lists held out of a training part: a history and later targets.

    A learning-to-rank model needs training queries that look like the validation
    queries, built from the training part alone: the ``holdout_*`` functions cut a
    history and per-user (or per-impression) targets out of it the way the validation
    queries were cut out of the data.

    Attributes:
        history: The events a list's candidates and features may use.
        users: ``(n_lists,)`` int64 user of each list.
        targets: Per list, the held-out positive item codes.
        weights: Per list, the weights of those positives (ratings, play counts).
        times: ``(n_lists,)`` int64 time of each list.
        candidates: Per list, the items to rank (the shown items of an impression), or
            ``None`` for lists over the whole catalogue.
    """

    history: Interactions
    users: np.ndarray
    targets: list[np.ndarray]
    weights: list[np.ndarray]
    times: np.ndarray
    candidates: list[np.ndarray] | None = None


def holdout_protocol(train: Interactions, valid: Queries | None) -> str:
    """How to hold ranking lists out of ``train`` so they resemble ``valid``.

    Args:
        train: The training part.
        valid: The validation queries, or ``None`` (a refit without validation).

    Returns:
        ``"impression"`` where the validation queries rank shown items (or, without
        validation queries, where the training data has impressions; use
        :func:`holdout_latest_impressions`); ``"temporal"`` where every validation
        query comes after the end of the training data, a temporal split
        (:func:`holdout_time_windows`); otherwise ``"leave-last-out"``
        (:func:`holdout_last_positive`).
    """
    if valid is None:
        return "impression" if has_impressions(train) else "leave-last-out"
    if valid.candidates is not None and has_impressions(train):
        return "impression"
    ts = train.events["timestamp"].to_numpy()
    if (
        valid.timestamps is not None
        and len(valid.timestamps)
        and len(ts)
        and np.min(valid.timestamps) > ts.max()
    ):
        return "temporal"
    return "leave-last-out"


def _split_runs(values: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """Cut ``values`` (sorted by ``keys``) into the runs of equal keys."""
    if len(keys) == 0:
        return []
    cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.split(values, cuts)


def holdout_last_positive(train: Interactions, rng: np.random.Generator) -> HoldoutLists:
    """Hold out each user's last positive event (users with at least two positives).

    Events at the same time are ordered at random. The users come back in a random
    order; the query time is the held-out event's.

    Args:
        train: The training part.
        rng: Draws the tie-break and the order of the users.

    Returns:
        One list per user, its single target the held-out item; the history is
        ``train`` without the held-out events.

    Raises:
        ValueError: No user has two positive events.
    """
    ev = train.events
    label = ev["label"].to_numpy() == 1
    rows = np.flatnonzero(label)
    users = ev["user"].to_numpy(np.int64)[rows]
    ts = ev["timestamp"].to_numpy(np.int64)[rows]
    # Ties in time (data with no clock) are broken at random, as the splits do.
    order = np.lexsort((rng.random(len(rows)), ts, users))
    rows, users = rows[order], users[order]
    is_last = np.r_[users[1:] != users[:-1], True]
    n_pos = np.bincount(users, minlength=train.n_users)
    last_rows = rows[is_last & (n_pos[users] >= 2)]
    if len(last_rows) == 0:
        raise ValueError(
            f"No user of {train.name!r} has two positive events, so no training list can "
            "be held out for lightgbm-ranker; it needs users with histories."
        )
    last_rows = last_rows[rng.permutation(len(last_rows))]
    keep = np.ones(len(ev), dtype=bool)
    keep[last_rows] = False
    pick = ev.iloc[last_rows]
    return HoldoutLists(
        history=train.with_events(ev[keep]),
        users=pick["user"].to_numpy(np.int64),
        targets=list(pick["item"].to_numpy(np.int64)[:, None]),
        weights=list(pick["weight"].to_numpy(np.float64)[:, None]),
        times=pick["timestamp"].to_numpy(np.int64),
    )


def holdout_time_windows(
    train: Interactions, holdout_share: float, n_cuts: int, rng: np.random.Generator
) -> list[HoldoutLists]:
    """Training lists at ``n_cuts`` time cuts, latest first.

    Cut ``c`` (1-based) is the ``1 - c * holdout_share`` time quantile of the positive
    events. A user's targets are their distinct positive items in the window from the
    cut to the next later cut (the end for the latest), the history every event before
    the cut, the query time the user's first event in the window. Users come back in a
    random order. Where no cut fits (the positives have no time spread, or
    ``holdout_share`` is 1 or more), the lists are :func:`holdout_last_positive`'s, and
    that is logged.

    Args:
        train: The training part.
        holdout_share: Share of the positive events in each window, in ``(0, 1)``.
        n_cuts: Most windows.
        rng: Draws the order of the users.

    Returns:
        The lists of each window, latest window first.
    """
    ev = train.events
    ts = ev["timestamp"].to_numpy(np.int64)
    label = ev["label"].to_numpy() == 1
    out: list[HoldoutLists] = []
    end = np.iinfo(np.int64).max
    for c in range(1, n_cuts + 1):
        q = 1.0 - c * holdout_share
        if q <= 0.0:
            break
        cut = np.quantile(ts[label], q, method="higher")
        if cut <= ts.min() or cut >= end:
            break
        late = ev[label & (ts >= cut) & (ts < end)]
        late = late.sort_values(["user", "item", "timestamp"], kind="stable")
        late = late.drop_duplicates(["user", "item"], keep="first")
        users_all = late["user"].to_numpy(np.int64)
        targets = _split_runs(late["item"].to_numpy(np.int64), users_all)
        weights = _split_runs(late["weight"].to_numpy(np.float64), users_all)
        users = np.unique(users_all)
        first_t = np.full(train.n_users, np.iinfo(np.int64).max)
        np.minimum.at(first_t, users_all, late["timestamp"].to_numpy(np.int64))
        order = rng.permutation(len(users))
        out.append(
            HoldoutLists(
                history=train.with_events(ev[ts < cut]),
                users=users[order],
                targets=[targets[i] for i in order],
                weights=[weights[i] for i in order],
                times=first_t[users][order],
            )
        )
        end = cut
    if out:
        return out
    _logger.info(
        "No time cut fits the positives of %r (holdout_share=%s); holding out each user's "
        "last positive instead.",
        train.name,
        holdout_share,
    )
    return [holdout_last_positive(train, rng)]


def holdout_latest_impressions(
    train: Interactions, holdout_share: float, max_lists: int, rng: np.random.Generator
) -> HoldoutLists:
    """The latest impressions as training lists, clicks as targets.

    The impressions that start at or after the ``1 - holdout_share`` quantile of the
    impression times, with a click and a non-click, are the lists (at most
    ``max_lists``, drawn at random, then in time order); every impression row from that
    period leaves the history.

    Args:
        train: The training part; it must have impression groups.
        holdout_share: Share of the impressions (by start time) held out.
        max_lists: Most lists.
        rng: Draws the lists when there are more than ``max_lists``.

    Returns:
        One list per chosen impression: its shown items are the candidates, its clicks
        the targets (weight 1).
    """
    ev = train.events
    group = ev["group"].to_numpy(np.int64)
    ts = ev["timestamp"].to_numpy(np.int64)
    in_group = np.flatnonzero(group >= 0)
    g = group[in_group]
    g_codes, g_inv = np.unique(g, return_inverse=True)
    g_time = np.full(len(g_codes), np.iinfo(np.int64).max)
    np.minimum.at(g_time, g_inv, ts[in_group])
    cutoff = np.quantile(g_time, 1.0 - holdout_share, method="lower")
    lab = ev["label"].to_numpy()[in_group] == 1
    n_click = np.bincount(g_inv, weights=lab, minlength=len(g_codes))
    n_rows = np.bincount(g_inv, minlength=len(g_codes))
    eligible = np.flatnonzero((g_time >= cutoff) & (n_click > 0) & (n_click < n_rows))
    if len(eligible) > max_lists:
        eligible = np.sort(rng.choice(eligible, max_lists, replace=False))
    late_row = np.zeros(len(ev), dtype=bool)
    late_row[in_group[g_time[g_inv] >= cutoff]] = True
    chosen = np.zeros(len(g_codes), dtype=bool)
    chosen[eligible] = True
    sel = chosen[g_inv]
    rows, row_g = in_group[sel], g_inv[sel]
    order = np.lexsort((rows, row_g))
    rows, row_g = rows[order], row_g[order]
    sub = ev.iloc[rows]
    items = sub["item"].to_numpy(np.int64)
    clicked = sub["label"].to_numpy() == 1
    starts = np.r_[0, np.flatnonzero(row_g[1:] != row_g[:-1]) + 1] if len(rows) else []
    candidates = _split_runs(items, row_g)
    targets = [c[k] for c, k in zip(candidates, _split_runs(clicked, row_g), strict=True)]
    return HoldoutLists(
        history=train.with_events(ev[~late_row]),
        users=sub["user"].to_numpy(np.int64)[starts],
        targets=targets,
        weights=[np.ones(len(t)) for t in targets],
        times=sub["timestamp"].to_numpy(np.int64)[starts],
        candidates=candidates,
    )


# --- helpers -----------------------------------------------------------------------------


def _subset(data: Interactions, mask: np.ndarray) -> Interactions:
    return data.with_events(data.events[mask].reset_index(drop=True))


def _split_by_counts(values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Cut ``values`` (already ordered by query) into consecutive runs of ``counts``."""
    if len(counts) == 0:
        return []
    return [a.astype(np.int64, copy=False) for a in np.split(values, np.cumsum(counts)[:-1])]


def _impression_queries(
    ev: pd.DataFrame,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    g = ev[ev["group"] >= 0]
    g = g.drop_duplicates(["group", "item"], keep="first")
    by = g.groupby("group", sort=False)
    info = by.agg(
        user=("user", "first"),
        ts=("timestamp", "min"),
        n_pos=("label", "sum"),
        n=("label", "size"),
    )
    info = info[(info["n_pos"] >= 1) & (info["n_pos"] < info["n"])]
    info = info.reset_index().sort_values(["ts", "group"], kind="stable", ignore_index=True)
    if len(info) == 0:
        return _empty_impression()
    import pandas as pd

    q = pd.Index(info["group"].to_numpy()).get_indexer(g["group"].to_numpy())
    keep = q >= 0
    q, items, labels = q[keep], g["item"].to_numpy()[keep], g["label"].to_numpy()[keep]
    order = np.argsort(q, kind="stable")  # stable: keeps the shown order in a group
    q, items, labels = q[order], items[order], labels[order]
    candidates = _split_by_counts(items, np.bincount(q, minlength=len(info)))
    pos = labels == 1
    targets = _split_by_counts(items[pos], np.bincount(q[pos], minlength=len(info)))
    return (
        info["user"].to_numpy(dtype=np.int64),
        targets,
        candidates,
        info["ts"].to_numpy(dtype=np.int64),
    )


def _empty_impression() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    return np.empty(0, np.int64), [], [], np.empty(0, np.int64)


def _user_queries(ev: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    pos = ev[ev["label"] == 1]
    if len(pos) == 0:
        return np.empty(0, np.int64), [], np.empty(0, np.int64)
    first_ts = pos.groupby("user")["timestamp"].min()
    pairs = pos[["user", "item"]].drop_duplicates().sort_values(["user", "item"])
    users = first_ts.index.to_numpy(dtype=np.int64)
    counts = pairs.groupby("user").size().reindex(users).to_numpy()
    targets = _split_by_counts(pairs["item"].to_numpy(), counts)
    return users, targets, first_ts.to_numpy(dtype=np.int64)


def _seen_items(history: pd.DataFrame, users: np.ndarray) -> list[np.ndarray]:
    pos = history[(history["label"] == 1) & history["user"].isin(users)]
    pairs = pos[["user", "item"]].drop_duplicates().sort_values(["user", "item"])
    counts = pairs.groupby("user").size().reindex(users, fill_value=0).to_numpy()
    return _split_by_counts(pairs["item"].to_numpy(), counts)
