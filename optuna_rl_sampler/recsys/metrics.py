"""Ranking metrics with binary relevance, vectorised over all queries at once.

Every metric reads a ``ranked`` array of shape ``(n_queries, width)`` (int64 item codes,
best first, padded with ``-1``; the output of
:meth:`~optuna_rl_sampler.recsys.models.base.FittedModel.recommend`) and the relevant
items of each query (:attr:`~optuna_rl_sampler.recsys.data.Queries.targets`). An item is
relevant (gain 1) if it is among the query's targets, otherwise not (gain 0).

The definitions follow `ranx <https://amenra.github.io/ranx/metrics/>`_ (checked against it
in the tests):

* ``ndcg@k``: :math:`\\mathrm{DCG@k} / \\mathrm{IDCG@k}` with
  :math:`\\mathrm{DCG@k} = \\sum_{i=1}^{k} \\mathrm{rel}_i / \\log_2(i + 1)`; the ideal
  list holds :math:`\\min(|T|, k)` relevant items.
* ``recall@k``: hits in the top ``k`` divided by :math:`|T|`, the number of relevant
  items (ranx's and TREC's definition). When :math:`|T| > k` the best reachable value is
  :math:`k / |T| < 1`; ``hitrate@k`` and ``ndcg@k`` do not have that ceiling.
* ``mrr@k``: :math:`1 / \\mathrm{rank}` of the first relevant item in the top ``k``, 0 if none.
* ``hitrate@k``: 1 if any relevant item is in the top ``k``, else 0.
* ``coverage@k``: distinct items recommended in the top ``k`` over all queries, divided
  by the catalogue size; a catalogue-level number, not a mean over queries.

Without ``@k`` the whole ranked row is used (and ``ndcg`` takes :math:`|T|` ideal items).
A query with no relevant items scores 0 on every per-query metric. An item repeated in a
row counts once, at its first position; ``-1`` padding is never relevant.

Examples:
    One query whose only relevant item, ``1``, is ranked second:

    >>> import numpy as np
    >>> from optuna_rl_sampler.recsys.metrics import hit_rate_at_k, mrr, ndcg_at_k
    >>> ranked = np.array([[3, 1, -1]])
    >>> targets = [np.array([1])]
    >>> ndcg_at_k(ranked, targets, k=2)  # 1 / log2(3)
    array([0.6309...])
    >>> mrr(ranked, targets), hit_rate_at_k(ranked, targets, k=1)
    (array([0.5]), array([0.]))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Queries

__all__ = [
    "METRICS",
    "MetricFn",
    "coverage",
    "evaluate",
    "hit_rate_at_k",
    "mrr",
    "ndcg_at_k",
    "parse_metric",
    "recall_at_k",
]

#: ``fn(ranked, queries, k) -> float``: the metric's value over all queries of ``queries``
#: (the mean of the per-query values; catalogue-level for ``coverage``). ``k=None`` means
#: the whole ranked row.
MetricFn = Callable[[np.ndarray, "Queries", "int | None"], float]


def _check_ranked(ranked: np.ndarray, n_queries: int | None = None) -> np.ndarray:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(
            f"ranked must be a 2-D array of shape (n_queries, k), got shape {ranked.shape}; "
            "pass the output of FittedModel.recommend(queries, k)."
        )
    if ranked.size and not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must hold integer item codes, got dtype {ranked.dtype}.")
    if n_queries is not None and ranked.shape[0] != n_queries:
        raise ValueError(
            f"ranked has {ranked.shape[0]} rows but there are {n_queries} queries; "
            "recommend() must return one row per query."
        )
    return ranked.astype(np.int64, copy=False)


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1):
        raise ValueError(f"k must be a positive integer or None (whole list), got {k!r}.")


def _cut(ranked: np.ndarray, k: int | None) -> np.ndarray:
    return ranked if k is None else ranked[:, :k]


def _first_occurrence(ranked: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a row's item is valid (>= 0) and not seen earlier in the row."""
    valid = ranked >= 0
    if ranked.shape[1] < 2:
        return valid
    order = np.argsort(ranked, axis=1, kind="stable")
    srt = np.take_along_axis(ranked, order, axis=1)
    repeat = np.zeros_like(valid)
    dup_sorted = srt[:, 1:] == srt[:, :-1]
    rows, cols = np.nonzero(dup_sorted)
    # Stable sort keeps equal items in row order, so the later copy is the repeat.
    repeat[rows, order[rows, cols + 1]] = True
    return valid & ~repeat


def _relevance(ranked: np.ndarray, targets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Binary gains ``(n_queries, width)`` and the number of distinct targets per query."""
    n_queries = ranked.shape[0]
    if len(targets) != n_queries:
        raise ValueError(
            f"ranked has {n_queries} rows but targets has {len(targets)} entries; "
            "pass one target array per query (Queries.targets)."
        )
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=n_queries)
    flat = (
        np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in targets])
        if lengths.sum()
        else np.zeros(0, dtype=np.int64)
    )
    qid = np.repeat(np.arange(n_queries, dtype=np.int64), lengths)
    keep = flat >= 0
    flat, qid = flat[keep], qid[keep]
    span = int(max(flat.max(initial=-1), ranked.max(initial=-1))) + 2
    target_keys = np.unique(qid * span + flat)
    n_targets = np.bincount(target_keys // span, minlength=n_queries).astype(np.int64)
    row_keys = np.arange(n_queries, dtype=np.int64)[:, None] * span + ranked
    rel = np.isin(row_keys, target_keys) & _first_occurrence(ranked)
    return rel, n_targets


def _discounts(width: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, width + 2, dtype=np.float64))


def ndcg_at_k(
    ranked: np.ndarray, targets: Sequence[np.ndarray], k: int | None = None
) -> np.ndarray:
    """Normalised discounted cumulative gain at ``k`` for each query (binary gains).

    Args:
        ranked: ``(n_queries, width)`` int64 item codes, best first, ``-1`` padded.
        targets: One array of relevant item codes per query.
        k: Cut-off; ``None`` uses the whole row and :math:`|T|` items in the ideal list.

    Returns:
        A float64 array of shape ``(n_queries,)`` with values in ``[0, 1]``.
    """
    _check_k(k)
    ranked = _cut(_check_ranked(ranked), k)
    rel, n_targets = _relevance(ranked, targets)
    disc = _discounts(ranked.shape[1])
    dcg = rel @ disc
    n_ideal = n_targets if k is None else np.minimum(n_targets, k)
    ideal_cum = np.concatenate([[0.0], np.cumsum(_discounts(int(n_ideal.max(initial=0))))])
    idcg = ideal_cum[n_ideal]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def recall_at_k(
    ranked: np.ndarray, targets: Sequence[np.ndarray], k: int | None = None
) -> np.ndarray:
    """Relevant items in the top ``k`` divided by the number of relevant items, per query.

    The denominator is :math:`|T|`, not :math:`\\min(|T|, k)` (ranx's definition), so a
    query with more than ``k`` targets cannot reach 1.

    Args:
        ranked: ``(n_queries, width)`` int64 item codes, best first, ``-1`` padded.
        targets: One array of relevant item codes per query.
        k: Cut-off; ``None`` uses the whole row.

    Returns:
        A float64 array of shape ``(n_queries,)`` with values in ``[0, 1]``.
    """
    _check_k(k)
    ranked = _cut(_check_ranked(ranked), k)
    rel, n_targets = _relevance(ranked, targets)
    hits = rel.sum(axis=1).astype(np.float64)
    return np.divide(hits, n_targets, out=np.zeros_like(hits), where=n_targets > 0)


def hit_rate_at_k(
    ranked: np.ndarray, targets: Sequence[np.ndarray], k: int | None = None
) -> np.ndarray:
    """1.0 where at least one relevant item is in the top ``k``, else 0.0, per query.

    Args:
        ranked: ``(n_queries, width)`` int64 item codes, best first, ``-1`` padded.
        targets: One array of relevant item codes per query.
        k: Cut-off; ``None`` uses the whole row.

    Returns:
        A float64 array of shape ``(n_queries,)``.
    """
    _check_k(k)
    ranked = _cut(_check_ranked(ranked), k)
    rel, _ = _relevance(ranked, targets)
    return rel.any(axis=1).astype(np.float64)


def mrr(ranked: np.ndarray, targets: Sequence[np.ndarray], k: int | None = None) -> np.ndarray:
    """Reciprocal rank of the first relevant item in the top ``k`` (0 if none), per query.

    The mean of these values over queries is the mean reciprocal rank.

    Args:
        ranked: ``(n_queries, width)`` int64 item codes, best first, ``-1`` padded.
        targets: One array of relevant item codes per query.
        k: Cut-off; ``None`` uses the whole row.

    Returns:
        A float64 array of shape ``(n_queries,)`` with values in ``[0, 1]``.
    """
    _check_k(k)
    ranked = _cut(_check_ranked(ranked), k)
    rel, _ = _relevance(ranked, targets)
    if rel.shape[1] == 0:
        return np.zeros(rel.shape[0], dtype=np.float64)
    any_hit = rel.any(axis=1)
    first = np.argmax(rel, axis=1)
    return np.where(any_hit, 1.0 / (first + 1.0), 0.0)


def coverage(ranked: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list.

    Args:
        ranked: ``(n_queries, width)`` int64 item codes, best first, ``-1`` padded.
        n_items: Catalogue size (:attr:`Queries.n_items`).
        k: Cut-off; ``None`` uses the whole row.

    Returns:
        Distinct recommended items divided by ``n_items``, in ``[0, 1]``.
    """
    _check_k(k)
    if n_items < 1:
        raise ValueError(f"n_items must be positive, got {n_items}.")
    ranked = _cut(_check_ranked(ranked), k)
    items = ranked[ranked >= 0]
    return float(np.unique(items).size) / float(n_items)


def _mean_of(per_query: Callable[..., np.ndarray]) -> MetricFn:
    def fn(ranked: np.ndarray, queries: Queries, k: int | None) -> float:
        ranked = _check_ranked(ranked, len(queries))
        return float(np.mean(per_query(ranked, queries.targets, k)))

    fn.__name__ = per_query.__name__
    fn.__doc__ = f"Mean over queries of :func:`{per_query.__name__}`."
    return fn


def _coverage_fn(ranked: np.ndarray, queries: Queries, k: int | None) -> float:
    return coverage(_check_ranked(ranked, len(queries)), queries.n_items, k)


#: Metric names accepted by :func:`parse_metric` (``name`` or ``name@k``), mapped to their
#: aggregate function. ``hit_rate`` is an alias of ``hitrate``.
METRICS: dict[str, MetricFn] = {
    "ndcg": _mean_of(ndcg_at_k),
    "recall": _mean_of(recall_at_k),
    "mrr": _mean_of(mrr),
    "hitrate": _mean_of(hit_rate_at_k),
    "coverage": _coverage_fn,
}
_ALIASES = {"hit_rate": "hitrate", "hr": "hitrate", "hit": "hitrate"}
_METRIC_RE = re.compile(r"^\s*([a-z_]+)\s*(?:@\s*(\S+))?\s*$")


def parse_metric(spec: str) -> tuple[MetricFn, int | None]:
    """Turn ``"ndcg@10"`` into the metric function and its cut-off.

    Args:
        spec: A metric name from :data:`METRICS`, optionally ``@k`` with a positive
            integer ``k`` (``"ndcg@10"``, ``"recall@20"``, ``"mrr"``, ``"coverage@10"``).
            Case-insensitive.

    Returns:
        ``(fn, k)``: ``fn(ranked, queries, k) -> float`` as in :data:`MetricFn`, and ``k``
        (``None`` when the spec has no ``@k``).

    Raises:
        ValueError: The name is unknown (the message lists the valid names) or ``k`` is
            not a positive integer.
    """
    valid = ", ".join(sorted(METRICS))
    match = _METRIC_RE.match(spec.lower()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f"Cannot parse metric {spec!r}: write NAME or NAME@K, e.g. 'ndcg@10'. "
            f"Valid names: {valid}."
        )
    name, k_text = match.group(1), match.group(2)
    name = _ALIASES.get(name, name)
    if name not in METRICS:
        raise ValueError(f"Unknown metric {spec!r}. Valid names: {valid} (as NAME or NAME@K).")
    k: int | None = None
    if k_text is not None:
        try:
            k = int(k_text)
        except ValueError:
            k = 0
        if k < 1:
            raise ValueError(
                f"Metric {spec!r} has cut-off {k_text!r}; K must be a positive integer, "
                "e.g. 'ndcg@10'."
            )
    return METRICS[name], k


def evaluate(ranked: np.ndarray, queries: Queries, metrics: Sequence[str]) -> dict[str, float]:
    """Compute several metrics of one ranking.

    Args:
        ranked: ``(len(queries), width)`` int64 item codes, best first, ``-1`` padded. A
            row shorter than a metric's ``k`` counts as padded.
        queries: The queries that were ranked; their ``targets`` are the relevant items.
        metrics: Metric specs as accepted by :func:`parse_metric`.

    Returns:
        ``{spec: value}`` with the specs as given: per-query metrics are means over the
        queries, ``coverage`` is catalogue-level.

    Raises:
        ValueError: A spec is invalid, ``ranked`` has the wrong shape, or there are no
            queries.
    """
    parsed = [(spec, *parse_metric(spec)) for spec in metrics]
    if len(queries) == 0:
        raise ValueError("Cannot evaluate on zero queries; check the split and make_queries.")
    ranked = _check_ranked(ranked, len(queries))
    out: dict[str, float] = {}
    for spec, fn, k in parsed:
        value = fn(ranked, queries, k)
        out[spec] = float(value) if math.isfinite(value) else float("nan")
    return out
