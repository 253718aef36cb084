"""Ready-made Optuna objectives that tune a recommender model family on a dataset.

:func:`make_objective` splits the data once (no future leaks into the past), builds the
validation queries (history = train, targets = valid) and the test queries (history =
train + valid, targets = test) once, and returns a :class:`RecsysObjective`. Each call
of the objective draws a configuration with the family's ``suggest``, trains it, reports
intermediate values to Optuna's pruner, ranks the validation queries, and returns the
chosen metric (higher is better: create the study with ``direction="maximize"``).

Example:

    .. code-block:: python

        import optuna

        from optuna_rl_sampler.recsys.objective import make_objective
        from optuna_rl_sampler.recsys.synthetic import make_dataset

        objective = make_objective("popularity", make_dataset("ecommerce"), "ndcg@10")
        study = optuna.create_study(direction="maximize")
        study.optimize(objective, n_trials=10)
        print(objective.evaluate_params(study.best_params, on="test"))
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from optuna_rl_sampler.recsys.metrics import evaluate
from optuna_rl_sampler.recsys.metrics import parse_metric

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import ModelFamily
    from optuna_rl_sampler.recsys.splits import Split

__all__ = [
    "DEFAULT_EXTRA_METRICS",
    "LIST_LENGTH_WITHOUT_K",
    "RecsysObjective",
    "evaluate_params",
    "make_objective",
    "resolve_model",
]

#: Metrics recorded as user attributes of every trial besides the optimised one.
DEFAULT_EXTRA_METRICS: tuple[str, ...] = (
    "ndcg@10",
    "recall@10",
    "mrr",
    "hitrate@10",
    "coverage@10",
)
#: Length of the ranked lists when some metric has no ``@k`` (e.g. ``"mrr"``).
LIST_LENGTH_WITHOUT_K = 100


def resolve_model(model: str | ModelFamily) -> ModelFamily:
    """A registered model family by name (see :func:`optuna_rl_sampler.plugins.get_model`),
    or ``model`` itself if it already is a family."""
    if isinstance(model, str):
        from optuna_rl_sampler.plugins import get_model

        return get_model(model)
    missing = [
        m for m in ("suggest", "default_params", "fit") if not callable(getattr(model, m, None))
    ]
    if missing or not isinstance(getattr(model, "name", None), str):
        raise TypeError(
            f"model must be a registered model name or a ModelFamily, got {model!r} "
            f"(missing: {', '.join(missing) or 'name'})."
        )
    return model


def _merge(first: Interactions, second: Interactions) -> Interactions:
    import pandas as pd

    events = pd.concat([first.events, second.events], ignore_index=True)
    return first.with_events(events)


class RecsysObjective:
    """A callable Optuna objective over one model family, dataset split and metric.

    Build it with :func:`make_objective`. Calling it with a trial returns the validation
    value of :attr:`metric`; the values of all :attr:`metrics` (as their spec strings),
    ``train_time_s``, ``eval_time_s`` and ``model_size_bytes`` are stored as the trial's
    user attributes.

    Attributes:
        family: The model family being tuned.
        data: The full dataset.
        split: ``Split(train, valid, test)``, computed once.
        valid_queries: Queries with history ``split.train`` and targets ``split.valid``.
        train_valid: ``split.train`` and ``split.valid`` together: the history of the
            test queries and the training data of the test-time refit.
        test_queries: Queries with history :attr:`train_valid` and targets ``split.test``.
        metric: The optimised metric spec (e.g. ``"ndcg@10"``).
        metrics: ``metric`` followed by the extra metrics, without repeats.
        k: Length of the ranked lists requested from the model.
        seed: Seed passed to ``fit``.
        prune: Whether ``on_step`` raises :class:`optuna.TrialPruned` when the pruner
            says so.
    """

    def __init__(
        self,
        family: ModelFamily,
        data: Interactions,
        metric: str,
        *,
        split: Split,
        valid_queries: Queries,
        train_valid: Interactions,
        test_queries: Queries,
        extra_metrics: Sequence[str],
        seed: int,
        prune: bool,
    ) -> None:
        self.family = family
        self.data = data
        self.split = split
        self.valid_queries = valid_queries
        self.train_valid = train_valid
        self.test_queries = test_queries
        self.metric = metric
        self.metrics = list(dict.fromkeys([metric, *extra_metrics]))
        cutoffs = [parse_metric(m)[1] for m in self.metrics]
        known = [c for c in cutoffs if c is not None]
        if len(known) < len(cutoffs):
            known.append(LIST_LENGTH_WITHOUT_K)
        self.k = max(known)
        self.seed = seed
        self.prune = prune

    def __call__(self, trial: optuna.Trial) -> float:
        """Train one configuration drawn from ``trial`` and return its validation metric.

        Raises:
            optuna.TrialPruned: ``prune`` is on and the pruner stopped the trial.
        """
        import optuna

        params = self.family.suggest(trial)

        def on_step(step: int, value: float) -> None:
            value = float(value)
            if not math.isfinite(value):
                return
            trial.report(value, step)
            if self.prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} (intermediate value {value:.6g})")

        start = time.perf_counter()
        model = self.family.fit(
            params, self.split.train, self.valid_queries, on_step=on_step, seed=self.seed
        )
        train_time = time.perf_counter() - start
        start = time.perf_counter()
        values = evaluate(
            model.recommend(self.valid_queries, self.k), self.valid_queries, self.metrics
        )
        for name, value in values.items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("train_time_s", round(train_time, 4))
        trial.set_user_attr("eval_time_s", round(time.perf_counter() - start, 4))
        trial.set_user_attr("model_size_bytes", int(model.size_bytes()))
        return values[self.metric]

    def evaluate_params(
        self,
        params: dict[str, Any],
        on: str = "test",
        *,
        model: str | ModelFamily | None = None,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """Train with fixed ``params`` and evaluate on the validation or test queries.

        ``on="valid"`` fits on ``split.train`` with the validation queries for early
        stopping, exactly as in a trial. ``on="test"`` refits on :attr:`train_valid`
        (train + valid, the history of the test queries, as the model would be deployed)
        without validation queries, so nothing from the test period is seen and the most
        recent events before it are. Every configuration and model in a report goes
        through the same protocol, so they compare on equal terms.

        Args:
            params: A configuration, e.g. ``study.best_params`` or
                ``family.default_params()``.
            on: ``"valid"`` or ``"test"``.
            model: Another family to evaluate on the same split and queries (e.g. the
                ``"popularity"`` baseline); defaults to :attr:`family`.
            metrics: Metric specs; defaults to :attr:`metrics`.

        Returns:
            ``{metric: value}`` plus ``train_time_s`` and ``model_size_bytes``.

        Raises:
            ValueError: ``on`` is neither ``"valid"`` nor ``"test"``, or a metric is
                unknown.
        """
        if on not in ("valid", "test"):
            raise ValueError(f"on must be 'valid' or 'test', got {on!r}.")
        family = self.family if model is None else resolve_model(model)
        metrics = self.metrics if metrics is None else list(metrics)
        k = self._list_length(metrics)
        start = time.perf_counter()
        if on == "valid":
            queries = self.valid_queries
            fitted = family.fit(dict(params), self.split.train, queries, seed=self.seed)
        else:
            queries = self.test_queries
            fitted = family.fit(dict(params), self.train_valid, None, seed=self.seed)
        train_time = time.perf_counter() - start
        out = evaluate(fitted.recommend(queries, k), queries, metrics)
        out["train_time_s"] = train_time
        out["model_size_bytes"] = float(fitted.size_bytes())
        return out

    def report_params(
        self,
        params: dict[str, Any],
        *,
        model: str | ModelFamily | None = None,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, dict[str, float]]:
        """:meth:`evaluate_params` on both parts: what a final report needs.

        Returns:
            ``{"valid": {...}, "test": {...}}``, each as :meth:`evaluate_params` returns.
        """
        return {
            on: self.evaluate_params(params, on, model=model, metrics=metrics)
            for on in ("valid", "test")
        }

    def _list_length(self, metrics: Sequence[str]) -> int:
        cutoffs = [parse_metric(m)[1] for m in metrics]
        return max([self.k, *(c for c in cutoffs if c is not None)])

    def __repr__(self) -> str:
        return (
            f"RecsysObjective(model={self.family.name!r}, data={self.data.name!r}, "
            f"metric={self.metric!r}, valid_queries={len(self.valid_queries)}, "
            f"test_queries={len(self.test_queries)})"
        )


def make_objective(
    model: str | ModelFamily,
    data: Interactions,
    metric: str = "ndcg@10",
    *,
    split: Split | None = None,
    max_valid_queries: int | None = 2000,
    max_test_queries: int | None = None,
    extra_metrics: Sequence[str] = DEFAULT_EXTRA_METRICS,
    seed: int = 0,
    prune: bool = True,
) -> RecsysObjective:
    """Build an objective that tunes ``model`` on ``data`` for a maximising study.

    Args:
        model: A registered model name (``"lightgbm-ranker"``, ``"two-tower"``,
            ``"popularity"`` or a plugin's) or a
            :class:`~optuna_rl_sampler.recsys.models.base.ModelFamily`.
        data: The interactions to split.
        metric: The metric to maximise, as accepted by
            :func:`~optuna_rl_sampler.recsys.metrics.parse_metric`.
        split: A precomputed ``Split(train, valid, test)``; by default
            ``split_dataset(data)`` (temporal or leave-last-out, whichever fits the data).
        max_valid_queries: Cap on the validation queries (drawn at random with ``seed``);
            ``None`` for all.
        max_test_queries: Cap on the test queries; ``None`` for all.
        extra_metrics: Further metrics stored as user attributes of every trial.
        seed: Seed for query sampling and for ``fit``.
        prune: Report intermediate values and stop trials the study's pruner rejects.

    Returns:
        A :class:`RecsysObjective`; ``objective.split``, ``objective.valid_queries`` and
        ``objective.test_queries`` are reused by :meth:`RecsysObjective.evaluate_params`.

    Raises:
        ValueError: ``metric`` or an extra metric is unknown (raised before any trial),
            the model name is not registered, or the split leaves no validation or test
            queries.
    """
    for spec in (metric, *extra_metrics):
        parse_metric(spec)
    family = resolve_model(model)
    from optuna_rl_sampler.recsys.splits import make_queries
    from optuna_rl_sampler.recsys.splits import split_dataset

    if split is None:
        split = split_dataset(data)
    valid_queries = make_queries(
        split.train, split.valid, max_queries=max_valid_queries, seed=seed
    )
    train_valid = _merge(split.train, split.valid)
    test_queries = make_queries(train_valid, split.test, max_queries=max_test_queries, seed=seed)
    for name, queries in (("validation", valid_queries), ("test", test_queries)):
        if len(queries) == 0:
            raise ValueError(
                f"The {name} split of dataset {data.name!r} gives no queries (no user with "
                "history in the earlier part has a positive in that part); use a larger "
                "dataset or another split."
            )
    return RecsysObjective(
        family,
        data,
        metric,
        split=split,
        valid_queries=valid_queries,
        train_valid=train_valid,
        test_queries=test_queries,
        extra_metrics=extra_metrics,
        seed=seed,
        prune=prune,
    )


def evaluate_params(
    model: str | ModelFamily,
    data: Interactions,
    params: dict[str, Any],
    *,
    split: Split | None = None,
    on: str = "test",
    metrics: Sequence[str] = DEFAULT_EXTRA_METRICS,
    max_valid_queries: int | None = 2000,
    max_test_queries: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Train ``model`` with fixed ``params`` and evaluate it on the validation or test part.

    The protocol is :meth:`RecsysObjective.evaluate_params`'s: fit on train for
    ``on="valid"``, refit on train + valid for ``on="test"``.

    A one-off version of :meth:`RecsysObjective.evaluate_params`; when you already have
    an objective, call its method instead so the split and queries are not rebuilt.

    Args:
        model: A registered model name or a model family.
        data: The interactions.
        params: The configuration to train.
        split: A precomputed split; by default ``split_dataset(data)``.
        on: ``"valid"`` or ``"test"``.
        metrics: Metric specs to compute.
        max_valid_queries: Cap on the validation queries.
        max_test_queries: Cap on the test queries.
        seed: Seed for query sampling and for ``fit``.

    Returns:
        ``{metric: value}`` plus ``train_time_s`` and ``model_size_bytes``.
    """
    if on not in ("valid", "test"):
        raise ValueError(f"on must be 'valid' or 'test', got {on!r}.")
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics is empty; pass at least one metric spec such as 'ndcg@10'.")
    objective = make_objective(
        model,
        data,
        metrics[0],
        split=split,
        max_valid_queries=max_valid_queries,
        max_test_queries=max_test_queries,
        extra_metrics=metrics[1:],
        seed=seed,
    )
    return objective.evaluate_params(params, on=on)
