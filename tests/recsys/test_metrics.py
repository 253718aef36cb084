from __future__ import annotations

import math

import numpy as np
import pytest

from optuna_rl_sampler.recsys.data import Queries
from optuna_rl_sampler.recsys.metrics import METRICS
from optuna_rl_sampler.recsys.metrics import coverage
from optuna_rl_sampler.recsys.metrics import evaluate
from optuna_rl_sampler.recsys.metrics import hit_rate_at_k
from optuna_rl_sampler.recsys.metrics import mrr
from optuna_rl_sampler.recsys.metrics import ndcg_at_k
from optuna_rl_sampler.recsys.metrics import parse_metric
from optuna_rl_sampler.recsys.metrics import recall_at_k


def _queries(targets: list[list[int]], n_items: int = 10) -> Queries:
    return Queries(
        users=np.arange(len(targets), dtype=np.int64),
        targets=[np.asarray(t, dtype=np.int64) for t in targets],
        candidates=None,
        exclude=None,
        timestamps=None,
        n_items=n_items,
    )


# Two queries: targets {1, 2} ranked at positions 2 and 4; target {7} ranked first.
RANKED = np.array([[5, 1, 6, 2], [7, 3, -1, -1]], dtype=np.int64)
TARGETS = [np.array([1, 2]), np.array([7])]


def test_ndcg_known_values() -> None:
    # Query 0 @4: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    np.testing.assert_allclose(ndcg_at_k(RANKED, TARGETS, 4), [dcg / idcg, 1.0])
    # @2: only position 2 hits; the ideal list still holds min(2, 2) = 2 items.
    np.testing.assert_allclose(ndcg_at_k(RANKED, TARGETS, 2), [(1 / math.log2(3)) / idcg, 1.0])
    # @1: nothing for query 0.
    np.testing.assert_allclose(ndcg_at_k(RANKED, TARGETS, 1), [0.0, 1.0])


def test_ndcg_ideal_list_is_capped_at_k() -> None:
    # Three targets, k=1, the top item is relevant: perfect score.
    np.testing.assert_allclose(ndcg_at_k(np.array([[4, 0]]), [np.array([4, 5, 6])], 1), [1.0])


def test_recall_divides_by_all_targets() -> None:
    np.testing.assert_allclose(recall_at_k(RANKED, TARGETS, 2), [0.5, 1.0])
    np.testing.assert_allclose(recall_at_k(RANKED, TARGETS, 4), [1.0, 1.0])
    # |T| = 3 > k = 1: the best reachable value is 1/3 (ranx's definition).
    np.testing.assert_allclose(recall_at_k(np.array([[4]]), [np.array([4, 5, 6])], 1), [1 / 3])


def test_mrr_and_hit_rate_known_values() -> None:
    np.testing.assert_allclose(mrr(RANKED, TARGETS), [0.5, 1.0])
    np.testing.assert_allclose(mrr(RANKED, TARGETS, k=1), [0.0, 1.0])
    np.testing.assert_allclose(hit_rate_at_k(RANKED, TARGETS, 1), [0.0, 1.0])
    np.testing.assert_allclose(hit_rate_at_k(RANKED, TARGETS, 2), [1.0, 1.0])


def test_coverage_counts_distinct_items_in_top_k() -> None:
    assert coverage(RANKED, n_items=10, k=2) == pytest.approx(4 / 10)  # 5, 1, 7, 3
    assert coverage(RANKED, n_items=10) == pytest.approx(6 / 10)  # padding not counted
    assert coverage(np.array([[1, 2], [2, 1]]), n_items=4, k=2) == pytest.approx(0.5)


def test_padding_repeats_and_empty_targets_score_nothing() -> None:
    ranked = np.array([[3, 3, -1], [-1, -1, -1], [1, 2, 3]])
    targets = [np.array([3]), np.array([-1, 5]), np.array([], dtype=np.int64)]
    # A repeated hit counts once: recall 1, not 2.
    np.testing.assert_allclose(recall_at_k(ranked, targets, 3), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(ndcg_at_k(ranked, targets, 3), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(mrr(ranked, targets), [1.0, 0.0, 0.0])


def test_k_longer_than_the_ranked_rows_counts_as_padding() -> None:
    # Two targets, only one slot ranked: NDCG@5 uses an ideal list of two items.
    value = ndcg_at_k(np.array([[1]]), [np.array([1, 2])], 5)
    np.testing.assert_allclose(value, [1 / (1 + 1 / math.log2(3))])


def test_evaluate_returns_means_keyed_by_spec() -> None:
    queries = _queries([[1, 2], [7]])
    out = evaluate(RANKED, queries, ["ndcg@1", "recall@2", "MRR", "hitrate@2", "coverage@2"])
    assert out == pytest.approx(
        {"ndcg@1": 0.5, "recall@2": 0.75, "MRR": 0.75, "hitrate@2": 1.0, "coverage@2": 0.4}
    )


def test_evaluate_checks_shapes() -> None:
    with pytest.raises(ValueError, match="2 rows but there are 3 queries"):
        evaluate(RANKED, _queries([[1], [2], [3]]), ["ndcg@10"])
    with pytest.raises(ValueError, match="2-D"):
        evaluate(np.array([1, 2]), _queries([[1]]), ["ndcg@10"])
    with pytest.raises(ValueError, match="zero queries"):
        evaluate(np.zeros((0, 3), dtype=np.int64), _queries([]), ["ndcg@10"])


@pytest.mark.parametrize(
    ("spec", "name", "k"),
    [
        ("ndcg@10", "ndcg", 10),
        ("Recall@20", "recall", 20),
        ("mrr", "mrr", None),
        ("mrr@5", "mrr", 5),
        ("hit_rate@3", "hitrate", 3),
        ("coverage@10", "coverage", 10),
    ],
)
def test_parse_metric(spec: str, name: str, k: int | None) -> None:
    fn, got_k = parse_metric(spec)
    assert fn is METRICS[name]
    assert got_k == k


@pytest.mark.parametrize("spec", ["ndgc@10", "precision@5", "", "@10"])
def test_parse_metric_rejects_unknown_names_and_lists_valid_ones(spec: str) -> None:
    with pytest.raises(ValueError, match="Valid names: coverage, hitrate, mrr, ndcg, recall"):
        parse_metric(spec)


@pytest.mark.parametrize("spec", ["ndcg@x", "ndcg@0", "ndcg@-1", "recall@2.5"])
def test_parse_metric_rejects_bad_cutoffs(spec: str) -> None:
    with pytest.raises(ValueError, match=f"Metric '{spec}' has cut-off .*positive integer"):
        parse_metric(spec)


# ranx is the reference implementation (a test-only dependency).


def _ranx_lists(ranked: np.ndarray, targets: list[np.ndarray]):
    from numba.typed import List

    qrels, run = List(), List()
    for row, target in zip(ranked, targets, strict=True):
        row = row[row >= 0]
        qrels.append(np.column_stack([target.astype(np.float64), np.ones(len(target))]))
        scores = np.arange(len(row), 0, -1, dtype=np.float64)  # best first
        run.append(np.column_stack([row.astype(np.float64), scores]))
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_ranx_on_random_rankings(seed: int) -> None:
    pytest.importorskip("ranx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ranx.metrics import hit_rate as ranx_hit_rate
        from ranx.metrics import ndcg as ranx_ndcg
        from ranx.metrics import recall as ranx_recall
        from ranx.metrics import reciprocal_rank as ranx_rr

    rng = np.random.default_rng(seed)
    n_items, n_queries, width = 30, 200, 15
    ranked = np.full((n_queries, width), -1, dtype=np.int64)
    targets = []
    for q in range(n_queries):
        length = rng.integers(1, width + 1)
        ranked[q, :length] = rng.permutation(n_items)[:length]
        targets.append(rng.choice(n_items, size=rng.integers(0, 8), replace=False))
    qrels, run = _ranx_lists(ranked, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's uint64 -> int64 cast notes
        for k in (1, 5, 10):
            np.testing.assert_allclose(ndcg_at_k(ranked, targets, k), ranx_ndcg(qrels, run, k))
            np.testing.assert_allclose(recall_at_k(ranked, targets, k), ranx_recall(qrels, run, k))
            np.testing.assert_allclose(
                hit_rate_at_k(ranked, targets, k), ranx_hit_rate(qrels, run, k)
            )
            np.testing.assert_allclose(mrr(ranked, targets, k), ranx_rr(qrels, run, k))
        np.testing.assert_allclose(ndcg_at_k(ranked, targets), ranx_ndcg(qrels, run, 0))
        np.testing.assert_allclose(mrr(ranked, targets), ranx_rr(qrels, run, 0))
