"""Popularity: the baseline every tuned recommender must beat.

:class:`Popularity` is a :class:`~optuna_rl_sampler.recsys.models.base.ModelFamily`
registered as the built-in model ``"popularity"``. It scores each item by its number of
positive events in the training data, optionally weighted by the event ``weight`` and
decayed with time, and recommends the same order to everyone (minus the items a query
excludes; within the shown items for impression queries). It needs only numpy, trains in
milliseconds, and is the baseline row of the recipes' report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import StepCallback

__all__ = ["Popularity", "PopularityModel", "rank_by_scores"]


def rank_by_scores(scores: np.ndarray, queries: Queries, k: int) -> np.ndarray:
    """Top-``k`` items per query under one global score per item.

    Ties are broken by the smaller item code. Where ``queries.candidates`` is set only
    those items are ranked; otherwise the whole catalogue minus ``queries.exclude``.

    Args:
        scores: ``(n_items,)`` float scores, higher is better.
        queries: The queries to rank for.
        k: List length.

    Returns:
        An int64 array of shape ``(len(queries), k)`` padded with ``-1``.
    """
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}.")
    n_q = len(queries)
    out = np.full((n_q, k), -1, dtype=np.int64)
    if n_q == 0:
        return out
    if queries.candidates is not None:
        return _rank_candidates(scores, queries.candidates, k, out)
    n_items = scores.shape[0]
    order = np.lexsort((np.arange(n_items), -scores))  # best first, ties by item code
    exclude = queries.exclude
    max_ex = max((len(e) for e in exclude), default=0) if exclude is not None else 0
    width = min(n_items, k + max_ex)
    head = np.broadcast_to(order[:width], (n_q, width))
    if max_ex:
        lengths = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=n_q)
        flat = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
        keys = np.repeat(np.arange(n_q, dtype=np.int64), lengths) * (n_items + 1) + flat
        row_keys = np.arange(n_q, dtype=np.int64)[:, None] * (n_items + 1) + head
        keep = ~np.isin(row_keys, keys)
    else:
        keep = np.ones(head.shape, dtype=bool)
    # Position of each kept item among the kept ones; the first k go to the output.
    pos = np.cumsum(keep, axis=1) - 1
    rows, cols = np.nonzero(keep & (pos < k))
    out[rows, pos[rows, cols]] = head[rows, cols]
    return out


def _rank_candidates(
    scores: np.ndarray, candidates: list[np.ndarray], k: int, out: np.ndarray
) -> np.ndarray:
    n_q = len(candidates)
    lengths = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=n_q)
    if lengths.sum() == 0:
        return out
    items = np.concatenate([np.asarray(c, dtype=np.int64) for c in candidates])
    qid = np.repeat(np.arange(n_q, dtype=np.int64), lengths)
    valid = (items >= 0) & (items < scores.shape[0])
    item_score = np.where(valid, scores[np.clip(items, 0, scores.shape[0] - 1)], -np.inf)
    order = np.lexsort((items, -item_score, qid))
    items, qid = items[order], qid[order]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pos = np.arange(items.size) - np.repeat(starts, lengths)
    take = pos < k
    out[qid[take], pos[take]] = items[take]
    return out


@dataclass(frozen=True)
class PopularityModel:
    """A fitted :class:`Popularity`: one score per item."""

    scores: np.ndarray

    def recommend(self, queries: Queries, k: int) -> np.ndarray:
        """Top-``k`` items per query by popularity; see :func:`rank_by_scores`."""
        scores = self.scores
        if queries.n_items > scores.shape[0]:  # items unseen in training score 0
            scores = np.concatenate([scores, np.zeros(queries.n_items - scores.shape[0])])
        return rank_by_scores(scores, queries, k)

    def size_bytes(self) -> int:
        """Bytes of the score vector."""
        return int(self.scores.nbytes)


class Popularity:
    """Most-popular-items recommender with optional event weights and time decay.

    An item's score is :math:`\\sum_e w_e \\cdot 0.5^{(t_{max} - t_e) / (h \\cdot span)}`
    over its positive training events :math:`e`, where :math:`w_e` is the event weight
    (or 1), :math:`t_{max}` the last training timestamp, :math:`span` the training time
    span and :math:`h` the ``half_life`` as a fraction of that span.

    Search space: ``half_life`` (float, log, 0.01 to 1000; 1000 is practically no decay)
    and ``use_weight`` (bool). Defaults: plain counts (``half_life=1000``,
    ``use_weight=False``).
    """

    name = "popularity"

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw ``half_life`` and ``use_weight``."""
        return {
            "half_life": trial.suggest_float("half_life", 0.01, 1000.0, log=True),
            "use_weight": trial.suggest_categorical("use_weight", [False, True]),
        }

    def default_params(self) -> dict[str, Any]:
        """Plain positive-event counts."""
        return {"half_life": 1000.0, "use_weight": False}

    def fit(
        self,
        params: dict[str, Any],
        train: Interactions,
        valid: Queries | None = None,
        on_step: StepCallback | None = None,
        seed: int = 0,
    ) -> PopularityModel:
        """Count the positive events of ``train`` (``valid``, ``on_step``, ``seed`` unused)."""
        params = {**self.default_params(), **params}
        half_life = float(params["half_life"])
        if not half_life > 0:
            raise ValueError(f"half_life must be positive, got {half_life}.")
        pos = train.positives()
        items = pos["item"].to_numpy(dtype=np.int64)
        weight = (
            pos["weight"].to_numpy(dtype=np.float64)
            if params["use_weight"]
            else np.ones(items.size, dtype=np.float64)
        )
        t = pos["timestamp"].to_numpy(dtype=np.float64)
        if t.size and t.max() > t.min():
            span = t.max() - t.min()
            weight = weight * np.exp2(-(t.max() - t) / (half_life * span))
        scores = np.bincount(items, weights=weight, minlength=train.n_items).astype(np.float64)
        return PopularityModel(scores=scores)

    def __repr__(self) -> str:
        return "Popularity()"
