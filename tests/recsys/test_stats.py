from __future__ import annotations

import math

import numpy as np
import pytest

from optuna_rl_sampler.recsys.data import Queries
from optuna_rl_sampler.recsys.metrics import evaluate
from optuna_rl_sampler.recsys.stats import bootstrap_ci
from optuna_rl_sampler.recsys.stats import paired_bootstrap
from optuna_rl_sampler.recsys.stats import per_query_values
from optuna_rl_sampler.recsys.stats import standard_error


def test_two_values_give_the_exact_bootstrap_distribution() -> None:
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% quantiles are 0 and 1.
    ci = bootstrap_ci([0.0, 1.0], n_resamples=4000, seed=1)
    assert (ci.mean, ci.low, ci.high, ci.n, ci.confidence) == (0.5, 0.0, 1.0, 2, 0.95)
    # The 40% interval, quantiles 0.3 and 0.7, lies inside the 1/2 mass at 0.5.
    middle = bootstrap_ci([0.0, 1.0], n_resamples=4000, confidence=0.4, seed=1)
    assert (middle.low, middle.high) == (0.5, 0.5)


def test_constant_values_have_a_zero_width_interval() -> None:
    ci = bootstrap_ci(np.full(50, 0.25))
    assert (ci.low, ci.mean, ci.high) == (0.25, 0.25, 0.25)
    assert str(ci) == "0.2500 [0.2500, 0.2500]"


def test_interval_matches_the_normal_approximation_for_many_queries() -> None:
    # Bernoulli(0.3) hits over 4000 queries: the 95% interval is about
    # 0.3 +- 1.96 * sqrt(0.3 * 0.7 / 4000) = 0.3 +- 0.0142.
    values = np.zeros(4000)
    values[:1200] = 1.0
    ci = bootstrap_ci(values, n_resamples=2000, seed=0)
    assert ci.mean == pytest.approx(0.3)
    half_width = 1.96 * math.sqrt(0.3 * 0.7 / 4000)
    assert ci.low == pytest.approx(0.3 - half_width, abs=0.002)
    assert ci.high == pytest.approx(0.3 + half_width, abs=0.002)
    assert standard_error(values) == pytest.approx(math.sqrt(0.3 * 0.7 / 3999), rel=1e-3)


def test_bootstrap_is_seeded() -> None:
    values = np.random.default_rng(5).random(300)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_paired_bootstrap_known_values() -> None:
    tuned = np.array([0.5, 0.7, 0.2, 0.9])
    default = np.array([0.4, 0.7, 0.1, 0.8])
    diff = paired_bootstrap(tuned, default, n_resamples=20000, seed=0)
    # Differences [0.1, 0, 0.1, 0.1]: a resample has mean 0 only when it draws the tied
    # query four times, probability (1/4)**4 = 1/256.
    assert diff.mean == pytest.approx(0.075)
    assert diff.p_value == pytest.approx(1 / 256, abs=0.0015)
    assert diff.high == pytest.approx(0.1)
    assert diff.significant
    assert diff.verdict.startswith("significantly better")


def test_paired_bootstrap_sees_a_consistent_gain_that_unpaired_intervals_miss() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(500)  # large spread between queries
    tuned = base + 0.01  # a small gain on every query
    unpaired_a, unpaired_b = bootstrap_ci(tuned), bootstrap_ci(base)
    assert unpaired_a.low < unpaired_b.high  # the separate intervals overlap
    diff = paired_bootstrap(tuned, base)
    assert diff.low == pytest.approx(0.01) and diff.high == pytest.approx(0.01)
    assert diff.significant and diff.p_value == 0.0


def test_paired_bootstrap_with_no_difference_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(400)
    b = a[rng.permutation(400)]  # same values, shuffled: pure noise between queries
    diff = paired_bootstrap(a, b)
    assert diff.low < 0.0 < diff.high
    assert not diff.significant
    assert diff.verdict.startswith("not significantly different")
    worse = paired_bootstrap(a - 0.05, a)
    assert worse.verdict.startswith("significantly worse") and worse.p_value == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci([]), "non-empty 1-D"),
        (lambda: bootstrap_ci([0.1, float("nan")]), "1 non-finite"),
        (lambda: bootstrap_ci([0.1], n_resamples=0), "n_resamples must be a positive"),
        (lambda: bootstrap_ci([0.1], confidence=95), "confidence must be in"),
        (lambda: paired_bootstrap([0.1, 0.2], [0.1]), "2 and 1 values"),
    ],
)
def test_bad_input_names_the_problem(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_per_query_values_average_to_the_metric() -> None:
    queries = Queries(
        users=np.array([0, 1, 2]),
        targets=[np.array([1]), np.array([5, 6]), np.array([9])],
        candidates=None,
        exclude=None,
        timestamps=None,
        n_items=10,
    )
    ranked = np.array([[1, 2, 3], [6, 0, 5], [0, 2, 3]])
    ndcg = per_query_values(ranked, queries, "ndcg@3")
    assert ndcg == pytest.approx([1.0, (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), 0.0])
    recall = per_query_values(ranked, queries, "Recall@1")
    assert recall == pytest.approx([1.0, 0.5, 0.0])
    assert per_query_values(ranked, queries, "coverage@3") is None
    values = evaluate(ranked, queries, ["ndcg@3", "mrr", "hitrate@2"])
    for spec in values:
        assert per_query_values(ranked, queries, spec).mean() == pytest.approx(values[spec])
