from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from optuna_rl_sampler.recsys.baselines import Popularity
from optuna_rl_sampler.recsys.baselines import PopularityModel
from optuna_rl_sampler.recsys.metrics import evaluate
from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS
from optuna_rl_sampler.recsys.objective import RecsysObjective
from optuna_rl_sampler.recsys.objective import evaluate_params
from optuna_rl_sampler.recsys.objective import make_objective
from optuna_rl_sampler.recsys.synthetic import make_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def shop():
    return make_dataset("ecommerce", seed=3, n_users=300, n_items=150, n_interactions=4000)


@pytest.fixture(scope="module")
def news():
    return make_dataset("news", seed=3, n_users=300, n_items=200, n_impressions=800)


class Stepwise:
    """A popularity model trained in ``n_steps`` reported steps with falling values."""

    name = "stepwise"

    def __init__(self, n_steps: int = 5) -> None:
        self.n_steps = n_steps
        self.steps_run: list[int] = []

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {"x": trial.suggest_float("x", 0.0, 1.0)}

    def default_params(self) -> dict[str, Any]:
        return {"x": 0.5}

    def fit(self, params, train, valid=None, on_step=None, seed=0) -> PopularityModel:
        for step in range(self.n_steps):
            self.steps_run.append(step)
            if on_step is not None:
                on_step(step, 1.0 - 0.1 * step)
        return Popularity().fit(Popularity().default_params(), train)


def test_trial_returns_metric_and_sets_user_attrs(shop) -> None:
    objective = make_objective("popularity", shop, "recall@20", max_valid_queries=40)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=3)
    for trial in study.trials:
        attrs = trial.user_attrs
        assert set(attrs) == {
            "recall@20",
            *DEFAULT_EXTRA_METRICS,
            "train_time_s",
            "eval_time_s",
            "model_size_bytes",
        }
        assert trial.value == attrs["recall@20"]
        assert all(0.0 <= attrs[m] <= 1.0 for m in DEFAULT_EXTRA_METRICS)
        assert attrs["model_size_bytes"] == 8 * shop.n_items
    assert len(objective.valid_queries) == 40
    assert objective.metrics == ["recall@20", *DEFAULT_EXTRA_METRICS]
    assert objective.k == 100  # "mrr" has no @k: ranked lists of LIST_LENGTH_WITHOUT_K


def test_trial_value_is_the_metric_of_the_fitted_model(shop) -> None:
    objective = make_objective("popularity", shop, "ndcg@10", extra_metrics=())
    trial = optuna.trial.FixedTrial({"half_life": 0.5, "use_weight": True})
    value = objective(trial)
    model = Popularity().fit({"half_life": 0.5, "use_weight": True}, objective.split.train)
    queries = objective.valid_queries
    expected = evaluate(model.recommend(queries, 10), queries, ["ndcg@10"])["ndcg@10"]
    assert value == pytest.approx(expected)
    assert objective.k == 10


def test_split_and_queries_are_built_once_without_leaks(news) -> None:
    objective = make_objective("popularity", news, max_valid_queries=50)
    split = objective.split
    assert split.train.events["timestamp"].max() <= split.valid.events["timestamp"].min()
    assert split.valid.events["timestamp"].max() <= split.test.events["timestamp"].min()
    # Impression data: candidates are the shown items.
    assert objective.valid_queries.candidates is not None
    assert len(objective.valid_queries) == 50
    assert len(objective.test_queries) > 0
    assert isinstance(objective, RecsysObjective)
    assert "popularity" in repr(objective)


def test_bad_metric_fails_before_any_work() -> None:
    # data=None: the error must come before the data is touched.
    with pytest.raises(ValueError, match="Unknown metric 'ndgc@10'.*ndcg"):
        make_objective("popularity", None, "ndgc@10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown metric 'precision@5'"):
        make_objective("popularity", None, extra_metrics=("precision@5",))  # type: ignore[arg-type]


def test_unknown_model_lists_registered_ones(shop) -> None:
    with pytest.raises(ValueError, match="Unknown model 'poplarity'.*popularity"):
        make_objective("poplarity", shop)
    with pytest.raises(TypeError, match="registered model name or a ModelFamily"):
        make_objective(object(), shop)  # type: ignore[arg-type]


def test_pruned_trial_stops_training(shop) -> None:
    family = Stepwise(n_steps=5)
    objective = make_objective(family, shop, max_valid_queries=50)
    # Prune as soon as an intermediate value falls below 0.75 (step 3: 0.7).
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.75)
    )
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.intermediate_values == pytest.approx({0: 1.0, 1: 0.9, 2: 0.8, 3: 0.7})
    assert family.steps_run == [0, 1, 2, 3]


def test_prune_false_reports_but_never_prunes(shop) -> None:
    family = Stepwise(n_steps=5)
    objective = make_objective(family, shop, max_valid_queries=50, prune=False)
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.75)
    )
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert len(trial.intermediate_values) == 5


def test_evaluate_params_on_valid_and_test(shop) -> None:
    objective = make_objective("popularity", shop, max_valid_queries=80)
    params = Popularity().default_params()
    on_valid = objective.evaluate_params(params, on="valid")
    trial_value = objective(optuna.trial.FixedTrial(params))
    assert on_valid["ndcg@10"] == pytest.approx(trial_value)
    on_test = objective.evaluate_params(params, on="test")
    assert set(on_test) == {*objective.metrics, "train_time_s", "model_size_bytes"}
    one_off = evaluate_params("popularity", shop, params, split=objective.split, on="test")
    assert one_off["ndcg@10"] == pytest.approx(on_test["ndcg@10"])
    with pytest.raises(ValueError, match="on must be 'valid' or 'test', got 'train'"):
        objective.evaluate_params(params, on="train")


def test_evaluate_params_of_another_model_on_the_same_queries(shop) -> None:
    objective = make_objective(Stepwise(), shop, max_valid_queries=80)
    baseline = objective.evaluate_params(
        Popularity().default_params(), on="test", model="popularity", metrics=["hitrate@5"]
    )
    assert set(baseline) == {"hitrate@5", "train_time_s", "model_size_bytes"}
    assert 0.0 < baseline["hitrate@5"] <= 1.0


def test_popularity_ranks_candidates_and_excludes_seen_items() -> None:
    from optuna_rl_sampler.recsys.data import Queries

    model = PopularityModel(scores=np.array([5.0, 1.0, 3.0, 3.0, 0.0]))
    queries = Queries(
        users=np.array([0, 1, 2]),
        targets=[np.array([1]), np.array([2]), np.array([4])],
        candidates=None,
        exclude=[np.array([0]), np.array([], dtype=np.int64), np.array([0, 2, 3, 1])],
        timestamps=None,
        n_items=5,
    )
    np.testing.assert_array_equal(model.recommend(queries, 3), [[2, 3, 1], [0, 2, 3], [4, -1, -1]])
    impressions = Queries(
        users=np.array([0, 1]),
        targets=[np.array([1]), np.array([4])],
        candidates=[np.array([4, 1, 3]), np.array([4])],
        exclude=None,
        timestamps=None,
        n_items=5,
    )
    np.testing.assert_array_equal(model.recommend(impressions, 2), [[3, 1], [4, -1]])


def test_report_params_covers_both_parts(shop) -> None:
    family = Stepwise(n_steps=2)
    objective = make_objective(family, shop, max_valid_queries=60)
    report = objective.report_params(family.default_params(), metrics=["ndcg@10", "mrr@5"])
    assert set(report) == {"valid", "test"}
    for part in ("valid", "test"):
        assert set(report[part]) == {"ndcg@10", "mrr@5", "train_time_s", "model_size_bytes"}
    single = objective.evaluate_params(family.default_params(), on="test", metrics=["mrr@5"])
    assert report["test"]["mrr@5"] == pytest.approx(single["mrr@5"])


def test_test_evaluation_refits_on_train_and_valid(shop) -> None:
    seen: list[tuple[int, bool]] = []

    class Spy(Stepwise):
        def fit(self, params, train, valid=None, on_step=None, seed=0):
            seen.append((train.n_interactions, valid is None))
            return super().fit(params, train, valid, on_step, seed)

    objective = make_objective(Spy(), shop, max_valid_queries=60)
    split = objective.split
    objective.evaluate_params({"x": 0.1}, on="valid")
    objective.evaluate_params({"x": 0.1}, on="test")
    n_train, n_valid = split.train.n_interactions, split.valid.n_interactions
    assert seen == [(n_train, False), (n_train + n_valid, True)]
    assert objective.train_valid.n_interactions == n_train + n_valid
    # The refit model knows the validation period, so popularity there counts.
    params = Popularity().default_params()
    refit = Popularity().fit(params, objective.train_valid)
    queries = objective.test_queries
    expected = evaluate(refit.recommend(queries, 100), queries, ["ndcg@10"])["ndcg@10"]
    got = objective.evaluate_params(params, on="test", model="popularity")["ndcg@10"]
    assert got == pytest.approx(expected)


def test_folds_average_the_validation_windows(shop) -> None:
    objective = make_objective("popularity", shop, "ndcg@10", extra_metrics=(), folds=3)
    assert len(objective.folds) == 3
    assert objective.folds[0] == (objective.split.train, objective.valid_queries)
    params = {"half_life": 0.5, "use_weight": True}
    value = objective(optuna.trial.FixedTrial(params))
    per_fold = []
    for train, queries in objective.folds:
        model = Popularity().fit(params, train)
        per_fold.append(evaluate(model.recommend(queries, 10), queries, ["ndcg@10"])["ndcg@10"])
    assert value == pytest.approx(np.mean(per_fold))
    assert len(set(per_fold)) == 3  # three different windows
    # The report's validation value is the trial's value.
    assert objective.evaluate_params(params, on="valid")["ndcg@10"] == pytest.approx(value)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params)
    study.optimize(objective, n_trials=1)
    assert study.trials[0].user_attrs["fold_values"] == pytest.approx(per_fold)


def test_score_params_gives_per_query_values_of_the_report(shop) -> None:
    objective = make_objective("popularity", shop, "ndcg@10", max_test_queries=60)
    result = objective.score_params(Popularity().default_params(), on="test")
    assert set(result.per_query) == {"ndcg@10", "recall@10", "mrr", "hitrate@10"}
    for spec, values in result.per_query.items():
        assert values.shape == (60,)
        assert values.mean() == pytest.approx(result.values[spec])
    assert "coverage@10" in result.values  # catalogue-level: a value, no per-query array
    flat = objective.evaluate_params(Popularity().default_params(), on="test")
    assert flat["ndcg@10"] == result.values["ndcg@10"]


def test_too_few_validation_queries_are_logged(shop, optuna_caplog) -> None:
    caplog = optuna_caplog
    make_objective("popularity", shop, "ndcg@10", max_valid_queries=50)
    assert "gives 50 validation queries (1 fold(s)); fewer than 1000" in caplog.text
    assert "raise max_valid_queries (now 50)" in caplog.text
    assert {r.name for r in caplog.records} == {"optuna.optuna_rl_sampler.recsys.objective"}
    caplog.clear()
    make_objective("popularity", shop, "ndcg@10", max_valid_queries=400, folds=3)
    # The rule counts the queries of all folds (75 + 86 + 76); none hit the cap.
    assert "gives 237 validation queries (3 fold(s))" in caplog.text
    assert "max_valid_queries" not in caplog.text
    # Optuna's verbosity governs it: at ERROR the warning is not emitted.
    caplog.clear()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    make_objective("popularity", shop, "ndcg@10", max_valid_queries=50)
    assert "validation queries" not in caplog.text


class Rounds:
    """A family whose models keep a known step per fold and record the params fitted."""

    name = "rounds"

    def __init__(self, kept: dict[int, int]) -> None:
        self.kept = kept  # training-part size -> the step its validation fit keeps
        self.fits: list[tuple[dict, bool]] = []

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {"rounds": trial.suggest_int("rounds", 10, 20)}

    def default_params(self) -> dict[str, Any]:
        return {"rounds": 10}

    def params_for_steps(self, params: dict[str, Any], steps: int) -> dict[str, Any]:
        return {**params, "rounds": steps}

    def fit(self, params, train, valid=None, on_step=None, seed=0) -> KeptStep:
        self.fits.append((dict(params), valid is not None))
        model = Popularity().fit(Popularity().default_params(), train)
        return KeptStep(model, self.kept[train.n_interactions] if valid is not None else None)


class KeptStep:
    """A fitted popularity model that says which step it kept."""

    def __init__(self, model: PopularityModel, best_step: int | None) -> None:
        self.model = model
        self.best_step = best_step

    def recommend(self, queries, k: int):
        return self.model.recommend(queries, k)

    def size_bytes(self) -> int:
        return self.model.size_bytes()


def test_test_refit_trains_for_the_steps_kept_on_validation(shop) -> None:
    objective = make_objective("popularity", shop, "ndcg@10", extra_metrics=(), folds=2)
    sizes = [train.n_interactions for train, _ in objective.folds]
    family = Rounds({sizes[0]: 2, sizes[1]: 4})
    objective.family = family
    # A trial records the kept steps (2 and 4); the refit trains their mean, 3.
    objective(optuna.trial.FixedTrial({"rounds": 17}))
    family.fits.clear()
    objective.score_params({"rounds": 17}, on="test")
    assert family.fits == [({"rounds": 3}, False)]
    # Parameters no trial ran: the folds are fitted as in a trial first.
    family.fits.clear()
    assert objective.refit_params({"rounds": 12}) == {"rounds": 3}
    assert family.fits == [({"rounds": 12}, True), ({"rounds": 12}, True)]
    # Off, or for a family without params_for_steps: the parameters as given.
    objective.refit_best_step = False
    assert objective.refit_params({"rounds": 17}) == {"rounds": 17}
    objective.refit_best_step = True
    assert objective.refit_params({}, model="popularity") == {}


# ------------------------------------------------------------ several goals, constraints


def test_objectives_return_a_tuple_in_order_with_directions(shop) -> None:
    objective = make_objective(
        "popularity",
        shop,
        "ndcg@10",
        objectives=["Coverage@10", "model_mb", "ndcg@10", "train_s"],
        extra_metrics=("mrr",),
        max_valid_queries=40,
    )
    assert objective.objectives == ["coverage@10", "model_mb", "ndcg@10", "train_s"]
    assert objective.directions == ["maximize", "minimize", "maximize", "minimize"]
    # The metric objectives are computed and stored like the extra metrics.
    assert objective.metrics == ["ndcg@10", "coverage@10", "mrr"]
    study = optuna.create_study(
        directions=objective.directions, sampler=optuna.samplers.RandomSampler(0)
    )
    study.optimize(objective, n_trials=2)
    for trial in study.trials:
        attrs = trial.user_attrs
        assert trial.values == [
            attrs["coverage@10"],
            attrs["model_size_bytes"] / 1e6,
            attrs["ndcg@10"],
            attrs["train_time_s"],
        ]
        assert trial.constraints == {} and "feasible" not in attrs
    value = objective(optuna.trial.FixedTrial({"half_life": 0.5, "use_weight": True}))
    assert isinstance(value, tuple) and len(value) == 4
    # Without objectives: one maximised value, a float.
    single = make_objective("popularity", shop, "ndcg@10", extra_metrics=())
    assert single.objectives is None and single.directions == ["maximize"]
    fixed = optuna.trial.FixedTrial({"half_life": 0.5, "use_weight": True})
    assert isinstance(single(fixed), float)


def test_multi_objective_trials_report_nothing(shop) -> None:
    # Trial.report raises NotImplementedError in a multi-objective study: no on_step.
    family = Stepwise(n_steps=3)
    objective = make_objective(
        family, shop, objectives=["ndcg@10", "train_s"], max_valid_queries=40
    )
    study = optuna.create_study(directions=objective.directions)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.intermediate_values == {}
    assert family.steps_run == [0, 1, 2]


@pytest.mark.parametrize(
    ("objectives", "constraints", "message"),
    [
        (["ndcg@10", "bogus"], None, r"Objective 'bogus' is neither a cost to minimise "
         r"\(model_mb, train_s\) nor a metric to maximise: Unknown metric 'bogus'"),
        (["ndcg@10", "ndcg@0"], None, r"Objective 'ndcg@0'.*positive integer"),
        (["train_s", "model_mb"], None, "have no metric: add one to maximise"),
        (["ndcg@10", "NDCG@10"], None, "repeat 'ndcg@10'; give each once"),
        ("ndcg@10,,mrr", None, "have an empty entry"),
        (None, {"latency_ms": 3}, "Unknown constraint 'latency_ms'.*model_mb, train_s"),
        (None, {"model_mb": 0}, "limit on model_mb must be a positive number, got 0"),
        (None, {"train_s": float("nan")}, "limit on train_s must be a positive number"),
    ],
)  # fmt: skip
def test_bad_objectives_and_constraints_fail_before_any_work(objectives, constraints, message):
    # data=None: the error must come before the data is touched.
    with pytest.raises(ValueError, match=message):
        make_objective("popularity", None, objectives=objectives, constraints=constraints)  # type: ignore[arg-type]


def test_constraints_are_set_on_every_trial(shop) -> None:
    size_mb = 8 * shop.n_items / 1e6  # popularity keeps one float per item
    objective = make_objective(
        "popularity",
        shop,
        "ndcg@10",
        extra_metrics=(),
        max_valid_queries=40,
        constraints={"train_s": 1000, "model_mb": size_mb / 2},
    )
    # Ordered as Optuna's constraints_func would return them: [model_mb - X, train_s - Y].
    assert list(objective.constraints) == ["model_mb", "train_s"]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=2)
    for trial in study.trials:
        attrs = trial.user_attrs
        expected = [size_mb - size_mb / 2, attrs["train_time_s"] - 1000]
        as_dict = {"model_mb": expected[0], "train_s": expected[1]}
        assert trial.constraints == pytest.approx(as_dict)
        assert objective.constraint_values(trial) == pytest.approx(expected)
        assert attrs["feasible"] is False
    # Optuna sees them: no feasible trial, so no best trial.
    with pytest.raises(ValueError, match="No feasible trials"):
        study.best_trial  # noqa: B018
    roomy = make_objective(
        "popularity", shop, extra_metrics=(), max_valid_queries=40, constraints={"model_mb": 1}
    )
    trial = optuna.trial.FixedTrial({"half_life": 0.5, "use_weight": True})
    roomy(trial)
    assert trial.constraints == pytest.approx({"model_mb": size_mb - 1})
    assert trial.user_attrs["feasible"] is True


def test_the_study_records_what_it_tunes_and_auto_transfer_reads_it(shop) -> None:
    from optuna_rl_sampler import RLSampler
    from optuna_rl_sampler.sources import RECSYS_RECORD_KEY

    objective = make_objective("popularity", shop, "recall@20", max_valid_queries=40)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    assert RECSYS_RECORD_KEY not in study.user_attrs
    study.optimize(objective, n_trials=1)  # a call records it on the trial's study
    record = study.user_attrs[RECSYS_RECORD_KEY]
    assert record == {
        "model": "popularity",
        "metric": "recall@20",
        "direction": "maximize",
        "dataset": shop.name,
        "dataset_fingerprint": shop.fingerprint(),
    }
    # As a source study, its record names what it tuned.
    from optuna_rl_sampler.sources import SourceStudy

    assert SourceStudy.from_study(study).attrs == {
        "dataset": shop.name,
        "model": "popularity",
        "metric": "recall@20",
    }
    # The fingerprint tells apart data that share a name: here the first half of events.
    assert (
        shop.fingerprint().startswith(f"{shop.name}:")
        and len(shop.fingerprint()) == len(shop.name) + 13
    )
    half = shop.with_events(shop.events.iloc[: len(shop.events) // 2])
    assert half.name == shop.name and half.fingerprint() != shop.fingerprint()
    # A multi-objective objective records its objectives and directions as well.
    multi = make_objective(
        "popularity", shop, objectives=["ndcg@10", "model_mb"], max_valid_queries=40
    )
    assert multi.record["objectives"] == ["ndcg@10", "model_mb"]
    assert multi.record["directions"] == ["maximize", "minimize"]
    # RLSampler's "auto" transfers from the shipped studies of the recorded family only
    # (none of popularity; the lightgbm-ranker ones for a lightgbm-ranker study).
    sampler = RLSampler(seed=0)
    assert sampler.sources_for(study) == []
    ranker = make_objective("lightgbm-ranker", shop, "recall@20", max_valid_queries=40)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    ranker.record_on(study)
    chosen = sampler.sources_for(study)
    assert len(chosen) == 52 and {s.attrs["model"] for s in chosen} == {"lightgbm-ranker"}
