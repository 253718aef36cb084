"""Tests of the ``tabular`` benchmark suite (``benchmarks/tabular.py``): the generated data,
the LightGBM objective, the tasks' spaces and splits, the CLI entry and a tiny run."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from benchmarks import tabular
from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import read_json
from benchmarks.harness import results_file

needs_lightgbm = pytest.mark.skipif(
    importlib.util.find_spec("lightgbm") is None, reason="needs lightgbm (the recsys extra)"
)

#: The loss of the constant model on each dataset (the task's ``worst``): it depends on the
#: generated labels and folds alone, so it pins the data. A change here means the tasks
#: changed and committed results no longer compare.
CONSTANT_LOSS = {
    "lgbm_binary_interactions": 0.6929484693024451,
    "lgbm_multiclass_three": 1.0986162466012535,
    "lgbm_regression_friedman": 1.006569173344565,
    "lgbm_binary_imbalanced": 0.3206661689759345,
    "lgbm_binary_categorical": 0.6442963757652279,
    "lgbm_regression_student_t": 1.0008287144606458,
}

#: A configuration a practitioner would start from, and one that cannot learn anything
#: (20 rounds at learning rate 1e-3 barely move from the prior).
SENSIBLE: dict[str, Any] = {
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_child_samples": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "lambda_l1": 1e-8,
    "lambda_l2": 1e-3,
    "num_boost_round": 200,
}
SILLY: dict[str, Any] = {**SENSIBLE, "learning_rate": 1e-3, "num_boost_round": 20}


# -------------------------------------------------------------------------------- data


def test_datasets_are_deterministic_with_known_values() -> None:
    assert list(tabular.DATASETS) == list(CONSTANT_LOSS)
    for name, spec in tabular.DATASETS.items():
        a, b = tabular.make_dataset(name), tabular.make_dataset(name)
        np.testing.assert_array_equal(a.X, b.X)  # NaNs in the same places count as equal
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.folds, b.folds)
        n, d = a.X.shape
        assert 300 <= n <= 1500 and d >= 8 and a.y.shape == (n,)
        assert a.kind == spec.kind
        # Folds: three of (almost) equal size; stratified for classification.
        sizes = np.bincount(a.folds, minlength=tabular.N_FOLDS)
        assert sizes.max() - sizes.min() <= 1 and sizes.size == tabular.N_FOLDS
        if a.kind == "regression":
            assert abs(a.y.mean()) < 1e-12 and abs(a.y.std() - 1.0) < 1e-12
        else:
            assert set(np.unique(a.y)) == set(range(a.n_classes))
            for c in range(a.n_classes):
                counts = np.bincount(a.folds[a.y == c], minlength=tabular.N_FOLDS)
                assert counts.max() - counts.min() <= 1
        for col in a.categorical:
            codes = a.X[:, col]
            assert np.all(codes >= 0) and np.all(codes == np.round(codes))
        constant = tabular.LightGBMCV(name).constant_loss()  # numpy only, no LightGBM fit
        assert constant == pytest.approx(CONSTANT_LOSS[name], rel=1e-9)
    imbalanced = tabular.make_dataset("lgbm_binary_imbalanced")
    assert imbalanced.y.mean() == pytest.approx(0.098)  # 147 positives of 1,500
    categorical = tabular.make_dataset("lgbm_binary_categorical")
    assert categorical.categorical == (0, 1, 2)
    assert [len(np.unique(categorical.X[:, c])) for c in (0, 1, 2)] == [4, 8, 20]
    assert int(np.isnan(categorical.X).sum()) == 65  # 5% missing in one numeric column


def test_the_data_does_not_depend_on_the_benchmark_seed() -> None:
    specs = {s.name: s for s in tabular.tabular_suite()}
    spec = specs["lgbm_regression_friedman"]
    a, b = spec.build(0), spec.build(7)
    assert a.instance == b.instance == ""
    assert a.worst == b.worst == pytest.approx(CONSTANT_LOSS[spec.name], rel=1e-9)
    np.testing.assert_array_equal(a.objective.data.X, b.objective.data.X)


# --------------------------------------------------------------------------- objective


@needs_lightgbm
def test_objective_of_a_fixed_configuration_is_deterministic() -> None:
    config = {**SENSIBLE, "feature_fraction": 0.6, "bagging_fraction": 0.5, "num_boost_round": 40}
    for name in ("lgbm_multiclass_three", "lgbm_binary_categorical"):
        first = tabular.LightGBMCV(name)
        value = first(config)
        assert np.isfinite(value)
        assert first(config) == value
        assert tabular.LightGBMCV(name)(config) == value  # a fresh copy of the data too


@needs_lightgbm
def test_a_sensible_configuration_beats_a_silly_one_on_every_dataset() -> None:
    for name in tabular.DATASETS:
        objective = tabular.LightGBMCV(name)
        constant = objective.constant_loss()
        sensible, silly = objective(SENSIBLE), objective(SILLY)
        # The silly model stays within 5% of the prior; the sensible one learns.
        assert silly == pytest.approx(constant, rel=0.05), name
        assert sensible < silly - 0.01 and sensible < constant, name


def test_cv_loss_known_values() -> None:
    y = np.array([0.0, 1.0, 1.0])
    assert tabular.cv_loss("binary", y, np.full(3, 0.5)) == pytest.approx(np.log(2.0))
    assert tabular.cv_loss("regression", y, np.zeros(3)) == pytest.approx(2 / 3)
    probs = np.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]])
    expected = -np.mean(np.log([0.5, 0.6, 0.8]))
    assert tabular.cv_loss("multiclass", np.array([0.0, 1.0, 2.0]), probs) == pytest.approx(
        expected
    )
    # A confident wrong answer is clipped, not infinite.
    assert np.isfinite(tabular.cv_loss("binary", np.array([1.0]), np.array([0.0])))


# ------------------------------------------------------------------------ tasks, splits


def test_every_task_space_and_meta_match_the_suite() -> None:
    expected = {
        "num_leaves": IntDistribution(2, 256, log=True),
        "learning_rate": FloatDistribution(1e-3, 0.3, log=True),
        "min_child_samples": IntDistribution(2, 100, log=True),
        "feature_fraction": FloatDistribution(0.4, 1.0),
        "bagging_fraction": FloatDistribution(0.4, 1.0),
        "lambda_l1": FloatDistribution(1e-8, 10.0, log=True),
        "lambda_l2": FloatDistribution(1e-8, 10.0, log=True),
        "num_boost_round": IntDistribution(20, 300, log=True),
    }
    specs = tabular.tabular_suite(functions=[1], dims=[2], worst_quantile=0.5)  # ignored
    assert [s.name for s in specs] == list(tabular.DATASETS)
    for spec in specs:
        pickle.loads(pickle.dumps(spec))  # workers receive specs by pickling
        task = spec.build(0)
        assert task.name == spec.name and task.name.startswith("lgbm_")
        assert task.search_space == expected
        assert task.direction == "minimize" and task.best is None
        assert task.worst == pytest.approx(CONSTANT_LOSS[task.name], rel=1e-9)
        assert task.meta["suite"] == "tabular" and task.meta["dimension"] == 8
        assert task.meta["kind"] == tabular.DATASETS[task.name].kind
        assert task.meta["split"] in ("dev", "test")
        assert spec.meta.items() <= task.meta.items()
        assert spec.meta["eval_s"] == tabular.EVAL_SECONDS[task.name]


def test_dev_and_test_splits() -> None:
    dev, test = tabular.SPLITS["dev"], tabular.SPLITS["test"]
    assert len(dev) == len(test) == 3 and not set(dev) & set(test)
    assert set(dev) | set(test) == set(tabular.DATASETS)
    for names in (dev, test):
        kinds = {tabular.DATASETS[n].kind for n in names}
        assert "regression" in kinds and kinds & {"binary", "multiclass"}
    assert [s.name for s in tabular.tabular_suite("dev")] == list(dev)
    assert [s.name for s in tabular.tabular_suite("test")] == list(test)
    with pytest.raises(ValueError, match="splits"):
        tabular.tabular_suite("train")

    from benchmarks.tasks import SUITES

    assert [s.name for s in SUITES["tabular"]()] == list(tabular.DATASETS)
    assert [s.name for s in SUITES["tabular-dev"](dims=[5])] == list(dev)
    assert [s.name for s in SUITES["tabular-test"]()] == list(test)


# ---------------------------------------------------------------------------- the CLI


def test_the_suite_is_listed_by_the_cli_with_its_defaults() -> None:
    from benchmarks.__main__ import build_parser
    from benchmarks.suites import SUITES

    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    choices = next(a.choices for a in run._actions if a.dest == "suite")
    assert {"tabular", "tabular-dev", "tabular-test"} <= set(choices)
    for name in ("tabular", "tabular-dev", "tabular-test"):
        assert SUITES[name].name == name and "\n" not in SUITES[name].description

    args = parser.parse_args(["run", "--suite", "tabular", "--samplers", "random"])
    jobs = SUITES["tabular"].jobs(args)
    assert args.out == RESULTS_DIR / "tabular"
    assert len(jobs) == 6 * 5  # tasks x the default 5 seeds
    assert {job.n_trials for job in jobs} == {30}
    # The objective's seconds count in the cost: the multi-class task (the slowest) first.
    assert jobs[0].spec.name == "lgbm_multiclass_three"
    assert jobs[0].cost > 30 * tabular.EVAL_SECONDS["lgbm_multiclass_three"]


@needs_lightgbm
def test_tiny_run_writes_a_results_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchmarks import tasks
    from benchmarks.__main__ import main

    # One task (the cheapest) through the command line, as `run --suite tabular` runs it.
    (spec,) = [s for s in tabular.tabular_suite() if s.name == "lgbm_regression_friedman"]
    monkeypatch.setitem(tasks.SUITES, "tabular", lambda **_options: [spec])
    out = tmp_path / "tabular"
    argv = ["run", "--suite", "tabular", "--samplers", "random,tpe", "--seeds", "1"]
    argv += ["--trials", "4", "--workers", "0", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    results = read_json(results_file(out))
    assert results["suite"] == "tabular" and results["n_failed"] == 0
    assert results["config"]["group_by"] == "split"
    runs = {r["sampler"]: r for r in results["runs"]}
    assert set(runs) == {"random", "tpe"}
    for run in runs.values():
        assert run["task"] == spec.name and run["meta"]["split"] == "dev"
        assert len(run["values"]) == 4 and all(np.isfinite(run["values"]))
        assert run["worst"] == pytest.approx(CONSTANT_LOSS[spec.name], rel=1e-9)
    # TPE's first trials are RandomSampler(seed)'s: the same configurations, same values.
    assert runs["tpe"]["values"] == runs["random"]["values"]
    assert results["summary"]["groups"] == ["all", "split=dev"]
    assert (out / "summary.md").is_file()
