"""The data of a corpus sweep: which dataset a study is tuned on, and how it is cut.

A corpus study names its dataset by a *dataset spec*
(:mod:`optuna_rl_sampler.recsys.dataset_specs`, read through the dataset registry): a
real dataset folder, or generated data such as ``synthetic-news:n_users=300``. The study
records the spec with its size and seed, in the corpus's spelling
(``synthetic:<domain>:<knob>=<value>,...``), so the same data can be rebuilt exactly.
:func:`subsample_users` keeps a sweep's trials to seconds, :func:`history_cut` makes
"last month's" data (the oldest share of the events) for the data-refresh studies.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Interactions

# Under Optuna's logger tree, so optuna.logging.set_verbosity governs it too.
_logger = logging.getLogger(f"optuna.{__name__}")


def load_data(
    data: str | os.PathLike[str],
    *,
    format: str | None = None,
    seed: int = 0,
) -> tuple[Interactions, dict[str, Any]]:
    """Load a dataset folder or generate a synthetic one, and describe it.

    Args:
        data: A dataset spec: a dataset folder or file, or generated data such as
            ``synthetic-news[:knob=value,...]`` (also spelled ``synthetic:news:...``)
            whose knobs go to :func:`~optuna_rl_sampler.recsys.synthetic.make_dataset`
            (``size=small|medium`` picks the preset; ``seed=`` the generator seed).
        format: Format of a dataset folder (see
            :data:`~optuna_rl_sampler.recsys.loaders.FORMATS`). Defaults to ``None``:
            detected from the files.
        seed: Generator seed of synthetic data when the spec sets none. Defaults to 0.

    Returns:
        ``(interactions, description)``; the description holds no file-system path:
        ``{"source": "synthetic" | "files", "spec": ..., "format": ..., ...}``.

    Raises:
        ValueError: The spec, the format or a knob is bad, or the files cannot be read.
    """
    from dataclasses import replace

    from optuna_rl_sampler.recsys.dataset_specs import DatasetSpec
    from optuna_rl_sampler.recsys.dataset_specs import load_dataset_spec
    from optuna_rl_sampler.recsys.dataset_specs import parse_dataset_spec

    spec = parse_dataset_spec(data, format=format)
    if spec.path is None:
        knobs = dict(spec.knobs)
        size, data_seed = knobs.pop("size", "small"), knobs.pop("seed", seed)
        spec = DatasetSpec(spec.source, knobs={"size": size, "seed": data_seed, **knobs})
        interactions = load_dataset_spec(spec)
        name = spec.corpus_name()
        description = {
            "source": "synthetic",
            "spec": name,
            "domain": interactions.domain,
            "size": size,
            "generator_seed": int(data_seed),
            "knobs": knobs,
        }
        return replace(interactions, name=name), description
    from optuna_rl_sampler.recsys.loaders import detect_format

    try:
        fmt = format or detect_format(Path(spec.path))
    except FileNotFoundError as exc:
        raise ValueError(f"data {spec.path!r}: {exc}") from None
    interactions = load_dataset_spec(DatasetSpec(fmt, path=spec.path))
    description = {
        "source": "files",
        "spec": f"{fmt}:{interactions.name}",
        "format": fmt,
        "domain": interactions.domain,
    }
    return interactions, description


def subsample_users(
    data: Interactions,
    max_users: int | None,
    seed: int = 0,
    *,
    max_events_per_user: int | None = None,
) -> Interactions:
    """Keep the events of at most ``max_users`` users drawn at random.

    Kept users and the items of their kept events get contiguous codes in their original
    order (``user_ids``, ``item_ids``, ``user_features``, ``item_features`` and the
    social links among kept users follow), so the catalogue shrinks with the sample.

    Args:
        data: The dataset.
        max_users: Most users to keep (users that appear in the events); ``None`` keeps
            every user.
        seed: Seed of the draw (and of the order of same-time events). Defaults to 0.
        max_events_per_user: Keep only each user's latest this many events (events
            at the same timestamp are ordered at random, seeded). Defaults to ``None``:
            all events.

    Returns:
        ``data`` itself when nothing is dropped, else the subsample with
        ``notes["subsample"]`` describing it.

    Raises:
        ValueError: ``max_users`` or ``max_events_per_user`` is below 1.
    """
    import numpy as np

    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be at least 1, got {max_users!r}.")
    if max_events_per_user is not None and max_events_per_user < 1:
        raise ValueError(f"max_events_per_user must be at least 1, got {max_events_per_user!r}.")
    users = np.unique(data.events["user"].to_numpy())
    rng = np.random.default_rng(seed)
    capped = data.events
    if max_events_per_user is not None:
        ev = data.events
        ties = rng.random(len(ev))
        order = np.lexsort((ties, ev["timestamp"].to_numpy(), ev["user"].to_numpy()))
        sorted_users = ev["user"].to_numpy()[order]
        counts = np.bincount(sorted_users)
        ends = np.cumsum(counts)[sorted_users]
        rank_from_end = ends - np.arange(len(order)) - 1
        keep_rows = np.sort(order[rank_from_end < max_events_per_user])
        capped = ev.iloc[keep_rows]
    if (max_users is None or len(users) <= max_users) and len(capped) == len(data.events):
        return data
    if max_users is None or len(users) <= max_users:
        max_users = len(users)
    keep = np.sort(rng.choice(users, size=max_users, replace=False))
    new_code = np.full(max(data.n_users, int(users.max()) + 1), -1, dtype=np.int64)
    new_code[keep] = np.arange(len(keep))
    events = capped[np.isin(capped["user"].to_numpy(), keep)].copy()
    events["user"] = new_code[events["user"].to_numpy()]
    events = events.reset_index(drop=True)
    social = data.social
    if social is not None:
        src = social["src"].to_numpy()
        dst = social["dst"].to_numpy()
        inside = (src < len(new_code)) & (dst < len(new_code))
        inside[inside] = (new_code[src[inside]] >= 0) & (new_code[dst[inside]] >= 0)
        social = social[inside].copy()
        social["src"] = new_code[social["src"].to_numpy()]
        social["dst"] = new_code[social["dst"].to_numpy()]
        social = social.reset_index(drop=True)
    user_features = data.user_features
    if user_features is not None:
        user_features = user_features.reindex(keep).reset_index(drop=True)
    user_ids = None if data.user_ids is None else [data.user_ids[u] for u in keep]
    items = np.unique(events["item"].to_numpy())
    item_code = np.full(max(data.n_items, int(items.max()) + 1), -1, dtype=np.int64)
    item_code[items] = np.arange(len(items))
    events["item"] = item_code[events["item"].to_numpy()]
    item_features = data.item_features
    if item_features is not None:
        item_features = item_features.reindex(items).reset_index(drop=True)
    item_ids = None if data.item_ids is None else [data.item_ids[i] for i in items]
    notes = {
        **data.notes,
        "subsample": {
            "max_users": int(max_users),
            "max_events_per_user": max_events_per_user,
            "seed": int(seed),
            "users_before": int(len(users)),
            "items_before": int(data.events["item"].nunique()),
            "events_before": int(len(data.events)),
        },
    }
    from dataclasses import replace

    return replace(
        data,
        events=events,
        n_users=len(keep),
        n_items=len(items),
        user_ids=user_ids,
        item_ids=item_ids,
        user_features=user_features,
        item_features=item_features,
        social=social,
        notes=notes,
    )


def history_cut(data: Interactions, fraction: float, seed: int = 0) -> Interactions:
    """The dataset as it was earlier: keep the oldest ``fraction`` of its events.

    A study tuned on this cut is "last month's study" of the full dataset, the most common
    source a team has. Data with a clock (impression or click times) is cut at the
    ``fraction`` quantile of its timestamps, so every user's later events go. Data whose
    timestamps are only positions in each user's sequence keeps each user's earliest
    ``ceil(fraction * n)`` events, and data with no time at all (every timestamp equal) a
    seeded random share of each user's events. Users and items keep their codes, so the
    catalogue is the same as the full dataset's.

    Args:
        data: The dataset.
        fraction: Share of the events to keep, strictly between 0 and 1.
        seed: Seed of the order of same-time events. Defaults to 0.

    Returns:
        The cut dataset, ``notes["history"]`` describing the cut.

    Raises:
        ValueError: ``fraction`` is not strictly between 0 and 1.
    """
    import numpy as np

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}.")
    events = data.events
    ts = events["timestamp"].to_numpy()
    clock = "timestamp" not in data.notes and len(np.unique(ts)) > 1
    if clock:
        cut = np.quantile(ts, fraction, method="lower")
        keep = ts <= cut
        how = "oldest events by timestamp"
    else:
        rng = np.random.default_rng(seed)
        users = events["user"].to_numpy()
        order = np.lexsort((rng.random(len(events)), ts, users))
        counts = np.bincount(users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(events), dtype=np.int64)
        rank[order] = np.arange(len(events)) - starts[users[order]]
        keep = rank < np.ceil(fraction * counts[users])
        how = "each user's earliest events" if len(np.unique(ts)) > 1 else "random per user"
    from dataclasses import replace

    notes = {
        **data.notes,
        "history": {
            "fraction": float(fraction),
            "how": how,
            "events_before": int(len(events)),
            "events_after": int(keep.sum()),
        },
    }
    return replace(data, events=events[keep].reset_index(drop=True), notes=notes)
