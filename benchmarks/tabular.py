"""The ``tabular`` suite: tuning LightGBM on small tabular data, 3-fold cross-validated.

Why: the BBOB suite measures a sampler on cheap analytic functions; this suite measures
it where a user meets it, on the hyperparameters of a gradient-boosted model on a small
table, with a budget of 20-30 trials (the comparison a user without past studies
makes: RLSampler without sources beside TPE and GPSampler). Nothing is downloaded and
scikit-learn is not needed: every dataset is generated with numpy from its **own fixed seed**
(:data:`DATASETS`), never from the benchmark seed, so a task is the same problem for
every sampler seed (``Task.instance`` is empty) and its regret normalises over all seeds.

Datasets (rows x features; the split is :data:`SPLITS`):

- ``lgbm_binary_interactions`` (dev; 1,000 x 10): binary classification whose log-odds
  hold pairwise interactions (``x0 * x1``, ``x2 * x3``), a sine and a square of
  correlated Gaussian features, plus two pure-noise features; 8% of the labels flipped.
- ``lgbm_multiclass_three`` (dev; 750 x 8): three classes drawn from a softmax of
  nonlinear scores (a square, a sine, a product, a threshold) of correlated features;
  the classes overlap (the best log loss is far from 0).
- ``lgbm_regression_friedman`` (dev; 600 x 10): Friedman #1, ``10 sin(pi x0 x1) +
  20 (x2 - 0.5)^2 + 10 x3 + 5 x4`` on uniform [0, 1] features, five of them unused,
  Gaussian noise of sd 1.5.
- ``lgbm_binary_imbalanced`` (test; 1,500 x 12): a rare-event problem, about 10%
  positives (the intercept is set by bisection so the mean probability is 0.10); the
  log-odds mix a linear part, a product and a hinge; four features are noise.
- ``lgbm_binary_categorical`` (test; 1,200 x 12): a churn-like table with three
  integer-coded categorical columns (4, 8 and 20 levels with skewed, Zipf-like
  frequencies, each level with its own effect, one of them interacting with a numeric
  column), three informative numeric columns (one with 5% missing values), two noisy
  copies of informative columns and four useless columns; 5% of the labels flipped.
  LightGBM is told which columns are categorical.
- ``lgbm_regression_student_t`` (test; 800 x 8): a smooth nonlinear signal of
  correlated features with heavy-tailed Student-t noise (3 degrees of freedom), so a few
  rows are outliers that a squared loss chases.

Regression targets are standardised (mean 0, sd 1 over the whole table), so the loss of
predicting the mean is about 1 and losses compare across datasets.

Objective (:class:`LightGBMCV`): the 3-fold cross-validated loss of ``lightgbm.train``
(minimised), pooled over the out-of-fold predictions of all rows: binary log loss,
multi-class log loss, or mean squared error. The fold of each row is fixed per dataset
(stratified by class for classification). ``num_threads=1``, ``deterministic=True``
(with ``force_col_wise=True``, as LightGBM advises for it), ``verbose=-1``, ``seed=0``
and ``bagging_freq=1`` are fixed, so one configuration always gives the same value.

Search space (:func:`search_space`; LightGBM's own names, as a user writes them; the
``"dimension"`` of a task is its 8 parameters): ``num_leaves`` int 2-256 log,
``learning_rate`` 1e-3-0.3 log, ``min_child_samples`` int 2-100 log,
``feature_fraction`` 0.4-1.0, ``bagging_fraction`` 0.4-1.0, ``lambda_l1`` 1e-8-10 log,
``lambda_l2`` 1e-8-10 log, ``num_boost_round`` int 20-300 log (``lgb.train``'s argument;
an alias of ``n_estimators``).

Normalisation: ``worst`` is known, the loss of the constant model (the training folds'
class frequencies or mean, scored the same 3-fold way): normalised regret 1 means "no
better than predicting the prior"; a configuration worse than that clips to 1.
``best`` is unknown and is the best value observed over all samplers and seeds of a run.

Dev and test: :data:`SPLITS` fixes, before any sampler is run on the suite, which three
datasets one may look at while changing a sampler (``dev``: one binary, one multi-class,
one regression problem) and which three are reported once, at the end (``test``:
another binary, the categorical one and another regression one). ``--suite
tabular-dev`` and ``--suite tabular-test`` run one half; ``--suite tabular`` runs both
(its report shows each split apart, ``split=dev`` and ``split=test``).

Cost (:data:`EVAL_SECONDS`): mean CPU seconds per trial over 40 random configurations
of the space (uniform, in log scale where the space is logarithmic; numpy seed 0), one
core, measured on a 2-core machine with another job beside it (load about 2):
binary_interactions 0.21, multiclass_three 0.33 (three trees a round), regression_friedman 0.11,
binary_imbalanced 0.25, binary_categorical 0.23, regression_student_t 0.14; 0.21 on
average. The slowest single trial took 1.2 s (multi-class, 44 leaves, 144 rounds,
``min_child_samples`` 2). The harness adds these seconds to its time estimate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from benchmarks.tasks import Params
from benchmarks.tasks import SearchSpace
from benchmarks.tasks import Task
from benchmarks.tasks import TaskSpec

#: Folds of the cross-validation.
N_FOLDS = 3

#: Probabilities are clipped to [EPS, 1 - EPS] before the log loss: a confident wrong
#: prediction costs a large but finite loss (scikit-learn's long-time default).
EPS = 1e-15

#: LightGBM parameters fixed in every trial: one thread and the same result for the same
#: configuration (``deterministic`` wants ``force_col_wise`` or ``force_row_wise``);
#: ``bagging_freq=1`` makes ``bagging_fraction`` take effect.
FIXED_PARAMS: dict[str, Any] = {
    "bagging_freq": 1,
    "num_threads": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
    "seed": 0,
}

#: LightGBM objective of each dataset kind.
OBJECTIVES: dict[str, str] = {
    "binary": "binary",
    "multiclass": "multiclass",
    "regression": "regression",
}


def search_space() -> SearchSpace:
    """The search space of every task, with LightGBM's parameter names (8 parameters)."""
    return {
        "num_leaves": IntDistribution(2, 256, log=True),
        "learning_rate": FloatDistribution(1e-3, 0.3, log=True),
        "min_child_samples": IntDistribution(2, 100, log=True),
        "feature_fraction": FloatDistribution(0.4, 1.0),
        "bagging_fraction": FloatDistribution(0.4, 1.0),
        "lambda_l1": FloatDistribution(1e-8, 10.0, log=True),
        "lambda_l2": FloatDistribution(1e-8, 10.0, log=True),
        "num_boost_round": IntDistribution(20, 300, log=True),
    }


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabularData:
    """One generated dataset with its fixed fold assignment.

    Attributes:
        name: The task name (``lgbm_<kind>_<what>``).
        kind: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        X: Features, shape ``(n_rows, n_features)``, float (NaN marks a missing value;
            categorical columns hold non-negative integer codes).
        y: Labels (0 .. n_classes - 1) or the standardised regression target.
        folds: The fold (0 .. N_FOLDS - 1) of each row.
        categorical: Indices of the categorical columns.
        n_classes: Classes of a classification problem, 0 for regression.
    """

    name: str
    kind: str
    X: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    categorical: tuple[int, ...] = ()
    n_classes: int = 0


def _correlated_normal(rng: np.random.Generator, n: int, d: int, rho: float) -> np.ndarray:
    """``n`` rows of ``d`` standard normal features with pairwise correlation ``rho``
    (a shared factor), as measured columns of a real table tend to be."""
    shared = rng.standard_normal((n, 1))
    own = rng.standard_normal((n, d))
    return math.sqrt(rho) * shared + math.sqrt(1.0 - rho) * own


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _flip(rng: np.random.Generator, y: np.ndarray, rate: float) -> np.ndarray:
    """Binary labels with a share ``rate`` of them flipped (label noise)."""
    flip = rng.random(y.size) < rate
    return np.where(flip, 1 - y, y)


def _standardise(y: np.ndarray) -> np.ndarray:
    return (y - y.mean()) / y.std()


def _binary_interactions(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 1000
    x = _correlated_normal(rng, n, 10, rho=0.3)
    logit = (
        2.0 * x[:, 0] * x[:, 1]
        - 1.5 * x[:, 2] * x[:, 3]
        + 2.0 * np.sin(2.0 * x[:, 4])
        + 1.0 * (x[:, 5] ** 2 - 1.0)
        + 1.5 * x[:, 6]
        - 1.0 * x[:, 7]
    )
    y = (rng.random(n) < _sigmoid(logit)).astype(float)
    return x, _flip(rng, y, 0.08)


def _multiclass_three(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 750
    x = _correlated_normal(rng, n, 8, rho=0.2)
    scores = np.stack(
        [
            1.2 * x[:, 0] + 0.6 * x[:, 1] ** 2,
            -1.0 * x[:, 0] + 1.4 * np.sin(2.0 * x[:, 2]) + 0.8 * x[:, 3] * x[:, 4],
            1.5 * (x[:, 5] > 0.3) - 0.7 * x[:, 1] + 0.4 * x[:, 6],
        ],
        axis=1,
    )
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    # Inverse-CDF draw of one class per row (the minimum guards against rounding).
    y = np.minimum((rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1), 2)
    return x, y.astype(float)


def _regression_friedman(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 600
    x = rng.random((n, 10))
    f = (
        10.0 * np.sin(np.pi * x[:, 0] * x[:, 1])
        + 20.0 * (x[:, 2] - 0.5) ** 2
        + 10.0 * x[:, 3]
        + 5.0 * x[:, 4]
    )
    return x, _standardise(f + 1.5 * rng.standard_normal(n))


def _binary_imbalanced(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 1500
    x = _correlated_normal(rng, n, 12, rho=0.25)
    score = (
        1.0 * x[:, 0]
        + 0.7 * x[:, 1]
        - 0.6 * x[:, 2]
        + 0.9 * x[:, 3] * x[:, 4]
        + 1.2 * np.maximum(x[:, 5] - 0.5, 0.0)
        + 0.4 * x[:, 6]
        - 0.3 * x[:, 7]
    )
    # The intercept that makes the mean probability 0.10 (bisection: it is monotone).
    low, high = -10.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if _sigmoid(score + mid).mean() < 0.10 else (low, mid)
    y = (rng.random(n) < _sigmoid(score + (low + high) / 2.0)).astype(float)
    return x, y


def _zipf_codes(rng: np.random.Generator, n: int, levels: int) -> np.ndarray:
    """Integer codes 0 .. levels - 1 with Zipf-like frequencies (level k ~ 1 / (k + 1)),
    in a shuffled order of the levels."""
    weights = 1.0 / np.arange(1, levels + 1)
    codes = rng.choice(levels, size=n, p=weights / weights.sum())
    return rng.permutation(levels)[codes]


def _binary_categorical(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 1200
    plan = (4, 8, 20)
    cats = [_zipf_codes(rng, n, k) for k in plan]
    effects = [rng.normal(0.0, s, size=k) for k, s in zip(plan, (1.2, 1.0, 1.2), strict=True)]
    num = _correlated_normal(rng, n, 3, rho=0.3)
    logit = (
        sum(e[c] for e, c in zip(effects, cats, strict=True))
        + 1.2 * num[:, 0]
        - 0.8 * num[:, 1]
        + 1.0 * np.where(cats[0] == 0, num[:, 2], -num[:, 2])
    )
    y = _flip(rng, (rng.random(n) < _sigmoid(logit)).astype(float), 0.05)
    noisy = num[:, :2] + rng.normal(0.0, 1.0, size=(n, 2))
    useless = rng.standard_normal((n, 4))
    num = num.copy()
    num[rng.random(n) < 0.05, 1] = np.nan
    x = np.column_stack([np.column_stack(cats).astype(float), num, noisy, useless])
    return x, y


def _regression_student_t(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 800
    x = _correlated_normal(rng, n, 8, rho=0.3)
    f = (
        np.sin(1.5 * x[:, 0])
        + 0.5 * x[:, 1] * x[:, 2]
        + 0.8 * np.abs(x[:, 3])
        + 0.4 * x[:, 4]
        - 0.3 * x[:, 5] ** 2
    )
    return x, _standardise(f + 0.5 * rng.standard_t(3.0, size=n))


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is made.

    Attributes:
        kind: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        seed: The dataset's own numpy seed (data and folds depend on it alone).
        split: ``"dev"`` or ``"test"`` (see :data:`SPLITS`).
        make: ``make(rng) -> (X, y)``.
        categorical: Indices of the integer-coded categorical columns.
        n_classes: Classes (0 for regression).
    """

    kind: str
    seed: int
    split: str
    make: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
    categorical: tuple[int, ...] = ()
    n_classes: int = 0


#: Task name -> how its dataset is made, in the order of the suite.
DATASETS: dict[str, DatasetSpec] = {
    "lgbm_binary_interactions": DatasetSpec("binary", 1001, "dev", _binary_interactions, (), 2),
    "lgbm_multiclass_three": DatasetSpec("multiclass", 1002, "dev", _multiclass_three, (), 3),
    "lgbm_regression_friedman": DatasetSpec("regression", 1003, "dev", _regression_friedman),
    "lgbm_binary_imbalanced": DatasetSpec("binary", 1004, "test", _binary_imbalanced, (), 2),
    "lgbm_binary_categorical": DatasetSpec(
        "binary", 1005, "test", _binary_categorical, (0, 1, 2), 2
    ),
    "lgbm_regression_student_t": DatasetSpec("regression", 1006, "test", _regression_student_t),
}

#: Split -> its tasks. Decide on ``dev``; run ``test`` once, at the end of a change.
SPLITS: dict[str, tuple[str, ...]] = {
    split: tuple(name for name, spec in DATASETS.items() if spec.split == split)
    for split in ("dev", "test")
}

#: Mean CPU seconds per trial of each task (see the module docstring for how measured);
#: the harness's time estimate adds them up.
EVAL_SECONDS: dict[str, float] = {
    "lgbm_binary_interactions": 0.21,
    "lgbm_multiclass_three": 0.33,
    "lgbm_regression_friedman": 0.11,
    "lgbm_binary_imbalanced": 0.25,
    "lgbm_binary_categorical": 0.23,
    "lgbm_regression_student_t": 0.14,
}


def _folds(rng: np.random.Generator, y: np.ndarray, stratify: bool) -> np.ndarray:
    """The fold of each row: rows shuffled and dealt round-robin, within each class when
    ``stratify`` (so each fold keeps the class shares, the rare class included)."""
    folds = np.empty(y.size, dtype=np.int64)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(y.size)]
    offset = 0
    for rows in groups:
        rows = rng.permutation(rows)
        folds[rows] = (np.arange(rows.size) + offset) % N_FOLDS
        offset += rows.size
    return folds


def make_dataset(name: str) -> TabularData:
    """The dataset of task ``name``, made from its own seed (the same arrays every call).

    Raises:
        KeyError: ``name`` is not a task of the suite.
    """
    spec = DATASETS[name]
    X, y = spec.make(np.random.default_rng(spec.seed))
    folds = _folds(np.random.default_rng([spec.seed, 1]), y, spec.kind != "regression")
    return TabularData(name, spec.kind, X, y, folds, spec.categorical, spec.n_classes)


# --------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------


def cv_loss(kind: str, y: np.ndarray, pred: np.ndarray) -> float:
    """The loss of out-of-fold predictions: binary log loss (``pred`` the probability of
    class 1), multi-class log loss (``pred`` of shape ``(n, n_classes)``), or the mean
    squared error (regression)."""
    if kind == "regression":
        return float(np.mean((y - pred) ** 2))
    if kind == "binary":
        p = np.clip(pred, EPS, 1.0 - EPS)
        return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))
    p = np.clip(pred[np.arange(y.size), y.astype(np.int64)], EPS, 1.0)
    return float(-np.mean(np.log(p)))


class LightGBMCV:
    """The 3-fold cross-validated loss of ``lightgbm.train`` on one dataset, as a function
    of the parameter dict of :func:`search_space` (any other LightGBM parameter in the
    dict is passed on as well).

    Args:
        name: The task (a key of :data:`DATASETS`).
    """

    def __init__(self, name: str) -> None:
        self.data = make_dataset(name)
        params: dict[str, Any] = {"objective": OBJECTIVES[self.data.kind], **FIXED_PARAMS}
        if self.data.kind == "multiclass":
            params["num_class"] = self.data.n_classes
        self.fixed = params

    def predict_oof(self, params: Params) -> np.ndarray:
        """Out-of-fold predictions of every row, each from the model of the other folds."""
        import lightgbm as lgb

        d = self.data
        rounds = int(params["num_boost_round"])
        lgb_params = {**self.fixed, **{k: v for k, v in params.items() if k != "num_boost_round"}}
        shape = (d.y.size, d.n_classes) if d.kind == "multiclass" else (d.y.size,)
        pred = np.empty(shape)
        for fold in range(N_FOLDS):
            train, valid = d.folds != fold, d.folds == fold
            dtrain = lgb.Dataset(
                d.X[train],
                d.y[train],
                categorical_feature=list(d.categorical) or "auto",
                free_raw_data=True,
            )
            booster = lgb.train(lgb_params, dtrain, num_boost_round=rounds)
            pred[valid] = booster.predict(d.X[valid])
        return pred

    def __call__(self, params: Params) -> float:
        return cv_loss(self.data.kind, self.data.y, self.predict_oof(params))

    def constant_loss(self) -> float:
        """The loss of the constant model (each training fold's class frequencies or
        mean), scored the same 3-fold way: the task's ``worst``."""
        d = self.data
        shape = (d.y.size, d.n_classes) if d.kind == "multiclass" else (d.y.size,)
        pred = np.empty(shape)
        for fold in range(N_FOLDS):
            train, valid = d.folds != fold, d.folds == fold
            if d.kind == "multiclass":
                counts = np.bincount(d.y[train].astype(np.int64), minlength=d.n_classes)
                pred[valid] = counts / counts.sum()
            else:
                pred[valid] = d.y[train].mean()
        return cv_loss(d.kind, d.y, pred)


def _meta(name: str) -> dict[str, Any]:
    spec = DATASETS[name]
    return {
        "suite": "tabular",
        "dimension": len(search_space()),
        "kind": spec.kind,
        "split": spec.split,
        "eval_s": EVAL_SECONDS[name],
    }


def tabular_task(seed: int, *, name: str) -> Task:
    """The task ``name``: minimise :class:`LightGBMCV` over :func:`search_space`.

    The seed is not used: the data, folds and LightGBM's own seed are fixed, so every
    sampler seed meets the same problem (empty ``instance``). ``worst`` is the constant
    model's loss (:meth:`LightGBMCV.constant_loss`), ``best`` is unknown (observed).
    """
    del seed
    objective = LightGBMCV(name)
    d = objective.data
    meta = {
        **_meta(name),
        "n_rows": int(d.X.shape[0]),
        "n_features": int(d.X.shape[1]),
        "n_categorical": len(d.categorical),
    }
    if d.kind != "regression":
        meta["class_shares"] = [round(float(np.mean(d.y == c)), 4) for c in range(d.n_classes)]
    return Task(
        name=name,
        objective=objective,
        search_space=search_space(),
        direction="minimize",
        worst=objective.constant_loss(),
        meta=meta,
    )


def tabular_suite(split: str = "all", **_options: Any) -> list[TaskSpec]:
    """Task specs of the ``split`` (``"dev"``, ``"test"`` or ``"all"``); the options of
    the other suites (``functions``, ``dims``, ``worst_quantile``) do not apply and are
    ignored.

    Raises:
        ValueError: An unknown split.
    """
    if split == "all":
        names: tuple[str, ...] = tuple(DATASETS)
    elif split in SPLITS:
        names = SPLITS[split]
    else:
        raise ValueError(f"Tabular splits are dev, test and all; got {split!r}.")
    return [
        TaskSpec(name, functools.partial(tabular_task, name=name), _meta(name)) for name in names
    ]
