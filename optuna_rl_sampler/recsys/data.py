"""The interaction data model shared by loaders, generators, splits, models and metrics.

An :class:`Interactions` holds one table of user-item events plus optional side tables.
Every loader and synthetic generator returns one; every split, candidate generator,
model plugin and metric consumes one. Ids are contiguous ``int64`` codes (``0..n-1``);
the original ids are kept in ``user_ids`` / ``item_ids`` so results can be mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :attr:`Interactions.events`, in order. ``group`` is -1 where unknown.
EVENT_COLUMNS = ("user", "item", "weight", "label", "timestamp", "group")


def events_frame(
    user: np.ndarray,
    item: np.ndarray,
    *,
    weight: np.ndarray | float = 1.0,
    label: np.ndarray | int = 1,
    timestamp: np.ndarray | int = 0,
    group: np.ndarray | int = -1,
) -> pd.DataFrame:
    """An events table with the columns of :data:`EVENT_COLUMNS` and their dtypes.

    Scalars are broadcast to the length of ``user``; arrays are copied.
    """
    import pandas as pd

    n = len(user)

    def col(v: Any, dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return pd.DataFrame(
        {
            "user": col(user, np.int64),
            "item": col(item, np.int64),
            "weight": col(weight, np.float64),
            "label": col(label, np.int8),
            "timestamp": col(timestamp, np.int64),
            "group": col(group, np.int64),
        }
    )


@dataclass(frozen=True)
class Interactions:
    """User-item events with optional features and a social graph.

    Attributes:
        events: A DataFrame with the columns in :data:`EVENT_COLUMNS`:
            ``user`` and ``item`` (int64 codes), ``weight`` (float, e.g. a rating or a
            play count; 1.0 for implicit feedback), ``label`` (int8: 1 for a positive
            event such as a click, 0 for a shown-but-not-clicked impression entry),
            ``timestamp`` (int64 seconds; a monotone counter where the source has only
            an order) and ``group`` (int64 impression or session id, -1 if none).
        n_users: Number of user codes (``events.user.max() + 1`` or more).
        n_items: Number of item codes.
        user_ids: Original user id for each code (length ``n_users``) or ``None``.
        item_ids: Original item id for each code (length ``n_items``) or ``None``.
        user_features: Optional DataFrame indexed by user code (numeric columns).
        item_features: Optional DataFrame indexed by item code; a ``category`` column
            (int codes) is used by the news ranker features where present.
        social: Optional DataFrame of directed user-user links with columns ``src``,
            ``dst`` (user codes); a two-way friendship appears as two rows.
        name: Short dataset name for reports (e.g. ``"mind_sample"``).
        domain: One of ``"news"``, ``"ecommerce"``, ``"social"``, ``"general"``.
        notes: Free-form facts a loader wants to report (rows dropped or merged, ...).
    """

    events: pd.DataFrame
    n_users: int
    n_items: int
    user_ids: list | None = None
    item_ids: list | None = None
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    social: pd.DataFrame | None = None
    name: str = "unnamed"
    domain: str = "general"
    notes: dict = field(default_factory=dict)

    @property
    def n_interactions(self) -> int:
        """Number of event rows as stored."""
        return int(len(self.events))

    def positives(self) -> pd.DataFrame:
        """Events with ``label == 1`` (clicks, purchases, ratings, plays)."""
        return self.events[self.events["label"] == 1]

    def with_events(self, events: pd.DataFrame) -> Interactions:
        """A copy that shares every side table but holds ``events`` instead."""
        return replace(self, events=events)

    def fingerprint(self) -> str:
        """``"<name>:<hash>"``: the dataset's name and the first 12 hex digits of a SHA-256
        of its counts (user and item codes, events, positives, first and last timestamp),
        so two datasets that share a name but not their contents are told apart.

        Examples:
            >>> from optuna_rl_sampler.recsys.data import Interactions, events_frame
            >>> data = Interactions(events_frame([0, 1], [0, 0]), 2, 1, name="tiny")
            >>> data.fingerprint()
            'tiny:50c4acbfba49'
        """
        import hashlib
        import json

        ev = self.events
        empty = len(ev) == 0
        counts = [
            int(self.n_users),
            int(self.n_items),
            int(len(ev)),
            int((ev["label"] == 1).sum()),
            0 if empty else int(ev["timestamp"].min()),
            0 if empty else int(ev["timestamp"].max()),
        ]
        digest = hashlib.sha256(json.dumps(counts).encode("utf-8")).hexdigest()
        return f"{self.name}:{digest[:12]}"

    def stats(self) -> dict:
        """Counts as the dataset README states them.

        ``n_users`` / ``n_items`` are the distinct ids that appear in the events (not the
        code-space sizes), ``n_interactions`` the event rows.
        """
        ev = self.events
        out = {
            "name": self.name,
            "domain": self.domain,
            "n_users": int(ev["user"].nunique()),
            "n_items": int(ev["item"].nunique()),
            "n_interactions": int(len(ev)),
            "n_positive": int((ev["label"] == 1).sum()),
        }
        if (ev["group"] >= 0).any():
            out["n_groups"] = int(ev.loc[ev["group"] >= 0, "group"].nunique())
        if self.social is not None:
            out["n_social_links"] = int(len(self.social))
        out.update(self.notes)
        return out


@dataclass(frozen=True)
class Queries:
    """What a model is asked to rank, and what counts as relevant, for one evaluation.

    One query is one user (full-catalogue ranking) or one impression/session group
    (ranking the items that were shown). Built from a history and a later target period
    by :func:`optuna_rl_sampler.recsys.splits.make_queries`.

    Attributes:
        users: ``(n_queries,)`` int64 user code of each query.
        targets: Per query, the int64 codes of the relevant items (positives in the
            target period).
        candidates: Per query, the int64 item codes to rank (the shown items of an
            impression), or ``None`` to rank the whole catalogue.
        exclude: Per query, item codes never to recommend in full-catalogue ranking
            (items the user already consumed in the history), or ``None``.
        timestamps: ``(n_queries,)`` int64 time of each query (for recency features),
            or ``None``.
        n_items: Catalogue size (for coverage and full ranking).
    """

    users: np.ndarray
    targets: list[np.ndarray]
    candidates: list[np.ndarray] | None
    exclude: list[np.ndarray] | None
    timestamps: np.ndarray | None
    n_items: int

    def __len__(self) -> int:
        return int(len(self.users))
