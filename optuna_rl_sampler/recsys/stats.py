"""Confidence intervals for recommender metrics: per-query values and the bootstrap.

A metric such as NDCG@10 is a mean over queries, so the uncertainty that matters when
two configurations are compared on the same test queries is how much that mean would
move under another draw of queries. :func:`bootstrap_ci` resamples the queries with
replacement (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13) and
:func:`paired_bootstrap` resamples the same queries for both configurations, which is
what makes a small but consistent difference detectable: the query-to-query variation
that both share cancels out (the paired bootstrap test of Koehn 2004 and of Sakai 2006
for IR metrics).

Both are seeded, so a report is reproducible to the last digit.

Examples:

    Four test queries, ranked by a tuned and a default configuration:

    >>> import numpy as np
    >>> from optuna_rl_sampler.recsys.stats import bootstrap_ci, paired_bootstrap
    >>> tuned = np.array([0.5, 0.7, 0.2, 0.9])  # per-query NDCG@10
    >>> default = np.array([0.4, 0.7, 0.1, 0.8])
    >>> print(bootstrap_ci(tuned))
    0.5750 [0.3250, 0.8000]
    >>> diff = paired_bootstrap(tuned, default)
    >>> print(diff, diff.significant)
    0.0750 [0.0250, 0.1000] True

    Only the resamples that draw the tied query four times have no gain, about
    ``(1/4) ** 4`` of them, which is the one-sided p-value:

    >>> diff.p_value
    0.004
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optuna_rl_sampler.recsys.metrics import METRICS
from optuna_rl_sampler.recsys.metrics import hit_rate_at_k
from optuna_rl_sampler.recsys.metrics import mrr
from optuna_rl_sampler.recsys.metrics import ndcg_at_k
from optuna_rl_sampler.recsys.metrics import parse_metric
from optuna_rl_sampler.recsys.metrics import recall_at_k

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Queries

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "Interval",
    "PairedDifference",
    "bootstrap_ci",
    "paired_bootstrap",
    "per_query_values",
    "standard_error",
]

#: Bootstrap resamples of the reports (enough for stable 2.5% and 97.5% percentiles).
DEFAULT_RESAMPLES = 1000
#: Two-sided confidence level of the reports' intervals.
DEFAULT_CONFIDENCE = 0.95
#: Resamples drawn at once; bounds the memory to ``_CHUNK * n_queries`` int32 indices.
_CHUNK = 100

_PER_QUERY = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "mrr": mrr,
    "hitrate": hit_rate_at_k,
}


def per_query_values(ranked: np.ndarray, queries: Queries, spec: str) -> np.ndarray | None:
    """The value of metric ``spec`` for each query, whose mean is the metric.

    Args:
        ranked: ``(len(queries), width)`` item codes, as
            :meth:`~optuna_rl_sampler.recsys.models.base.FittedModel.recommend` returns.
        queries: The ranked queries.
        spec: A metric spec accepted by
            :func:`~optuna_rl_sampler.recsys.metrics.parse_metric`.

    Returns:
        A float64 array of shape ``(len(queries),)``, or ``None`` for a catalogue-level
        metric (``coverage``), which is no mean over queries and so has no per-query
        values.

    Raises:
        ValueError: ``spec`` is not a metric.
    """
    fn, k = parse_metric(spec)
    name = next(n for n, f in METRICS.items() if f is fn)
    per_query = _PER_QUERY.get(name)
    if per_query is None:
        return None
    return np.asarray(per_query(ranked, queries.targets, k), dtype=np.float64)


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval.

    Attributes:
        mean: The mean of the values (the metric itself).
        low: Lower end of the interval.
        high: Upper end of the interval.
        confidence: Two-sided confidence level, e.g. 0.95.
        n: Number of values (queries) resampled.
    """

    mean: float
    low: float
    high: float
    confidence: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class PairedDifference(Interval):
    """The mean of ``a - b`` over paired values, its interval and a one-sided p-value.

    Attributes:
        p_value: Share of the bootstrap resamples whose mean difference is 0 or less:
            the one-sided bootstrap p-value of "``a`` is better than ``b``".
    """

    p_value: float = 1.0

    @property
    def significant(self) -> bool:
        """Whether the whole interval lies above 0: ``a`` is significantly better."""
        return self.low > 0.0

    @property
    def verdict(self) -> str:
        """One plain sentence: better, worse, or no significant difference."""
        level = f"{self.confidence:.0%}"
        if self.low > 0.0:
            return f"significantly better (the {level} interval of the difference is above 0)"
        if self.high < 0.0:
            return f"significantly worse (the {level} interval of the difference is below 0)"
        return f"not significantly different (the {level} interval of the difference spans 0)"


def _check(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of per-query values, got shape "
            f"{arr.shape}; pass per_query_values(...) of at least one query."
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{name} holds {bad} non-finite values; per-query metric values must be finite."
        )
    return arr


def _check_options(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}.")


def _resampled_means(
    columns: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:  # (n_resamples, n_columns)
    """Means of ``columns`` (``(n, c)``) over ``n_resamples`` row resamples."""
    n = columns.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, columns.shape[1]), dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = columns[idx].mean(axis=1)
    return out


def _percentiles(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval of the mean of per-query values.

    The queries are resampled with replacement ``n_resamples`` times; the interval is
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled
    means (numpy's default linear interpolation).

    Args:
        values: One value per query, e.g. from :func:`per_query_values`.
        n_resamples: Bootstrap resamples.
        confidence: Two-sided level, in ``(0, 1)``.
        seed: Seed of the resampling.

    Returns:
        The :class:`Interval`.

    Raises:
        ValueError: ``values`` is empty, not 1-D or not finite, or an option is out of
            range.
    """
    arr = _check(values, "values")
    _check_options(n_resamples, confidence)
    means = _resampled_means(arr[:, None], n_resamples, seed)[:, 0]
    low, high = _percentiles(means, confidence)
    return Interval(float(arr.mean()), low, high, float(confidence), int(arr.size))


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> PairedDifference:
    """Paired bootstrap of the mean difference ``a - b`` over the same queries.

    Each resample draws one set of query indices and applies it to both arrays, so the
    interval is that of the mean per-query difference. ``a`` is significantly better
    than ``b`` when the whole interval lies above 0 (:attr:`PairedDifference.significant`).

    Args:
        a: Per-query values of the first configuration (e.g. the tuned one).
        b: Per-query values of the second (e.g. the default), same queries, same order.
        n_resamples: Bootstrap resamples.
        confidence: Two-sided level, in ``(0, 1)``.
        seed: Seed of the resampling.

    Returns:
        The :class:`PairedDifference`.

    Raises:
        ValueError: The arrays differ in length, or as :func:`bootstrap_ci`.
    """
    a_arr, b_arr = _check(a, "a"), _check(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"a and b must hold one value per query of the same queries, got {a_arr.size} "
            f"and {b_arr.size} values."
        )
    _check_options(n_resamples, confidence)
    diff = a_arr - b_arr
    means = _resampled_means(diff[:, None], n_resamples, seed)[:, 0]
    low, high = _percentiles(means, confidence)
    p_value = float(np.mean(means <= 0.0))
    return PairedDifference(
        float(diff.mean()), low, high, float(confidence), int(diff.size), p_value=p_value
    )


def standard_error(values: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean of ``values`` (sample standard deviation / sqrt(n)).

    Returns ``nan`` for fewer than two values.
    """
    arr = _check(values, "values")
    if arr.size < 2:
        return math.nan
    return float(arr.std(ddof=1) / math.sqrt(arr.size))
