"""Ready-made Optuna objectives that tune a recommender model family on a dataset.

:func:`make_objective` splits the data once (no future leaks into the past), builds the
validation queries (history = train, targets = valid) and the test queries (history =
train + valid, targets = test) once, and returns a :class:`RecsysObjective`. Each call
of the objective draws a configuration with the family's ``suggest``, trains it, reports
intermediate values to Optuna's pruner, ranks the validation queries, and returns the
chosen metric (higher is better: create the study with ``direction="maximize"``).

Several goals. ``objectives=["ndcg@10", "coverage@10"]`` makes it a multi-objective
objective: each call returns a tuple in that order, and ``objective.directions`` gives
the study's directions. An objective is a metric spec (maximised) or one of the
:data:`COSTS` (minimised): ``"train_s"``, the trial's training wall time in seconds, and
``"model_mb"``, the fitted model's size in MB. Optuna has no pruning in multi-objective
studies (``Trial.report`` raises :class:`NotImplementedError` there), so such an
objective reports no intermediate values. ``constraints={"model_mb": 1.0}`` caps the
same costs: each trial sets its constraint values with Optuna's
:meth:`optuna.trial.Trial.set_constraint` (``cost - limit``, feasible when ``<= 0``), which
RLSampler, Optuna's constraint-aware samplers (TPE, GP, NSGA-II), ``study.best_trial``,
``study.best_trials`` and Optuna's plots read from the trials.

Validation that does not overfit. Tuning picks the best of many noisy validation
values, so the noise must be small next to the gains it looks for:

- **Enough validation queries.** The rule: at least :data:`MIN_VALID_QUERIES` (1,000)
  validation queries in all (over the folds). A per-query metric lies in ``[0, 1]``,
  so its standard deviation is at most 0.5 and the standard error of its mean at most
  ``0.5 / sqrt(1000) = 0.016`` (about 0.01 for the usual per-query spread of NDCG,
  0.3); the gains of tuning a ranker are of that size, and with fewer queries the best
  trial is largely the luckiest one. :func:`make_objective` logs a warning when a
  split gives fewer (it names the count and the remedy: more data, more folds, or a
  higher ``max_valid_queries``).
- **Folds.** ``folds=K`` evaluates every configuration on ``K`` rolling validation
  windows before the test part (:func:`~optuna_rl_sampler.recsys.splits.validation_folds`)
  and returns the mean: K times the queries, and a configuration must do well on
  several periods rather than one.

Example:

    .. code-block:: python

        import optuna

        from optuna_rl_sampler.recsys.objective import make_objective
        from optuna_rl_sampler.recsys.synthetic import make_dataset

        objective = make_objective("popularity", make_dataset("ecommerce"), "ndcg@10")
        study = optuna.create_study(direction="maximize")
        study.optimize(objective, n_trials=10)
        print(objective.evaluate_params(study.best_params, on="test"))

    Accuracy against coverage, for models of at most 1 MB:

    .. code-block:: python

        objective = make_objective(
            "popularity",
            make_dataset("ecommerce"),
            objectives=["ndcg@10", "coverage@10"],
            constraints={"model_mb": 1.0},
        )
        study = optuna.create_study(directions=objective.directions)
        study.optimize(objective, n_trials=10)
        print([t.values for t in study.best_trials])  # the feasible Pareto front
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from optuna_rl_sampler.recsys.metrics import evaluate
from optuna_rl_sampler.recsys.metrics import parse_metric

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import ModelFamily
    from optuna_rl_sampler.recsys.splits import Split

__all__ = [
    "BYTES_PER_MB",
    "COSTS",
    "DEFAULT_EXTRA_METRICS",
    "LIST_LENGTH_WITHOUT_K",
    "MIN_VALID_QUERIES",
    "Evaluation",
    "RecsysObjective",
    "evaluate_params",
    "make_objective",
    "objective_direction",
    "parse_constraints",
    "parse_objectives",
    "resolve_model",
    "trial_costs",
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
#: Fewest validation queries (over all folds) for a trustworthy objective (see the
#: module's docstring for the rule); :func:`make_objective` warns below it.
MIN_VALID_QUERIES = 1000

#: The costs of a trial, minimised when they are objectives and capped by constraints:
#: name -> what it measures. Both come from the trial's user attributes
#: (:func:`trial_costs`), and ``constraints`` orders its values as this dict does.
COSTS: dict[str, str] = {
    "model_mb": "size of the fitted model in MB (the last fold's model)",
    "train_s": "training wall time of the trial in seconds, summed over the folds (noisy: "
    "it depends on what else the machine runs)",
}
#: Bytes in one MB of ``model_mb`` (decimal megabytes).
BYTES_PER_MB = 1_000_000

#: A logger under Optuna's tree (``optuna.optuna_rl_sampler.recsys...``), so that
#: ``optuna.logging.set_verbosity`` governs it.
_logger = logging.getLogger(f"optuna.{__name__}")


def objective_direction(spec: str) -> str:
    """``"minimize"`` for a cost of :data:`COSTS`, ``"maximize"`` for a metric spec.

    Raises:
        ValueError: ``spec`` is neither; the message names it and the allowed values.
    """
    if spec in COSTS:
        return "minimize"
    try:
        parse_metric(spec)
    except ValueError as exc:
        raise ValueError(
            f"Objective {spec!r} is neither a cost to minimise ({', '.join(COSTS)}) nor a "
            f"metric to maximise: {exc}"
        ) from None
    return "maximize"


def parse_objectives(specs: str | Sequence[str]) -> list[str]:
    """Check the objectives of a multi-objective study before any work is done.

    Args:
        specs: Metric specs (maximised, as accepted by
            :func:`~optuna_rl_sampler.recsys.metrics.parse_metric`) and costs of
            :data:`COSTS` (minimised), as a sequence or one comma-separated string such
            as ``"ndcg@10,coverage@10"``.

    Returns:
        The specs, stripped and lower-cased, in the given order.

    Raises:
        ValueError: A spec is unknown, one is repeated, or none is a metric (costs
            alone are minimised by the smallest, fastest model, whatever it ranks).

    Example:
        >>> parse_objectives("NDCG@10, model_mb")
        ['ndcg@10', 'model_mb']
    """
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    out = [str(s).strip().lower() for s in items]
    if not out or any(not s for s in out):
        raise ValueError(
            f"Objectives {specs!r} have an empty entry; give metric specs or costs "
            f"({', '.join(COSTS)}) separated by commas, e.g. 'ndcg@10,coverage@10'."
        )
    for spec in out:
        objective_direction(spec)
    repeated = sorted({s for s in out if out.count(s) > 1})
    if repeated:
        raise ValueError(
            f"Objectives {specs!r} repeat {', '.join(map(repr, repeated))}; give each once."
        )
    if all(s in COSTS for s in out):
        raise ValueError(
            f"Objectives {specs!r} have no metric: add one to maximise, e.g. "
            f"'ndcg@10,{out[0]}' (costs alone are won by the smallest model)."
        )
    return out


def parse_constraints(constraints: Mapping[str, float] | None) -> dict[str, float]:
    """Check upper limits on the costs; returns them in the order of :data:`COSTS`.

    Args:
        constraints: ``{cost: limit}``, e.g. ``{"model_mb": 1.0, "train_s": 30.0}``;
            ``None`` or empty for none.

    Raises:
        ValueError: A name is not in :data:`COSTS` or a limit is not a positive number.
    """
    constraints = dict(constraints or {})
    unknown = [k for k in constraints if k not in COSTS]
    if unknown:
        raise ValueError(
            f"Unknown constraint {unknown[0]!r}; the costs that can be capped are "
            f"{', '.join(COSTS)}."
        )
    out: dict[str, float] = {}
    for name in COSTS:
        if name not in constraints:
            continue
        try:
            limit = float(constraints[name])
        except (TypeError, ValueError):
            limit = math.nan
        if not (math.isfinite(limit) and limit > 0):
            raise ValueError(
                f"The limit on {name} must be a positive number, got {constraints[name]!r}."
            )
        out[name] = limit
    return out


def trial_costs(user_attrs: Mapping[str, Any]) -> dict[str, float]:
    """A trial's :data:`COSTS` from its user attributes (``train_time_s`` and
    ``model_size_bytes``, as :class:`RecsysObjective` stores them).

    Raises:
        KeyError: The trial was not run by a :class:`RecsysObjective` (or not finished).

    Example:
        >>> trial_costs({"train_time_s": 1.5, "model_size_bytes": 2_500_000})
        {'model_mb': 2.5, 'train_s': 1.5}
    """
    return {
        "model_mb": float(user_attrs["model_size_bytes"]) / BYTES_PER_MB,
        "train_s": float(user_attrs["train_time_s"]),
    }


@dataclass(frozen=True)
class Evaluation:
    """One configuration trained and ranked on the validation or test queries.

    Attributes:
        values: ``{metric: value}``: means over the queries (per fold, then averaged
            over the folds on validation); ``coverage`` is catalogue-level.
        per_query: ``{metric: values}`` for the per-query metrics (not ``coverage``):
            one value per query, in query order (the folds one after another on
            validation), for bootstrap intervals
            (:func:`~optuna_rl_sampler.recsys.stats.bootstrap_ci`).
        train_time_s: Wall time of the fits.
        model_size_bytes: Size of the (last) fitted model.
    """

    values: dict[str, float]
    per_query: dict[str, np.ndarray] = field(repr=False)
    train_time_s: float
    model_size_bytes: int


def resolve_model(model: str | ModelFamily) -> ModelFamily:
    """A registered model family by name (see :func:`optuna_rl_sampler.recsys.plugins.get_model`),
    or ``model`` itself if it already is a family."""
    if isinstance(model, str):
        from optuna_rl_sampler.recsys.plugins import get_model

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


def _params_key(family: ModelFamily, params: dict[str, Any]) -> tuple[str, str]:
    import json

    return family.name, json.dumps(params, sort_keys=True, default=repr)


def _merge(first: Interactions, second: Interactions) -> Interactions:
    import pandas as pd

    events = pd.concat([first.events, second.events], ignore_index=True)
    return first.with_events(events)


class RecsysObjective:
    """A callable Optuna objective over one model family, dataset split and metric.

    Build it with :func:`make_objective`. Calling it with a trial returns the validation
    value of :attr:`metric` (with :attr:`objectives`: a tuple of their values in that
    order); the values of all :attr:`metrics` (as their spec strings), ``train_time_s``,
    ``eval_time_s`` and ``model_size_bytes`` are stored as the trial's user attributes.
    With :attr:`constraints`, the trial's constraint values are set with
    :meth:`optuna.trial.Trial.set_constraint` (see :meth:`constraint_values`) and the user
    attribute ``feasible`` says whether every one is ``<= 0``.

    The study records what it tunes: each call writes :attr:`record` (model family,
    metric and direction, dataset and its fingerprint) to the study user attribute
    ``"rl:recsys"`` (:data:`~optuna_rl_sampler.sources.RECSYS_RECORD_KEY`) unless the
    study holds it already; ``RLSampler(source_studies="auto")`` transfers from the
    shipped past studies of that family only for a study with this record. Call
    :meth:`record_on` after creating a study to have it before the first trial.

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
        folds: ``[(train, queries), ...]``: the validation folds, fold 0 being
            ``(split.train, valid_queries)``; a trial's value is the mean over them.
        refit_best_step: Whether the test-time refit trains for the number of boosting
            rounds or epochs that early stopping kept on validation (see
            :meth:`refit_params`).
        objectives: ``None`` (one objective, :attr:`metric`; a call returns a float), or
            the objectives a call returns as a tuple, in order: metric specs
            (maximised) and costs of :data:`COSTS` (minimised); see :attr:`directions`.
        constraints: ``{cost: limit}`` in the order of :data:`COSTS`; empty for an
            unconstrained study.
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
        folds: Sequence[tuple[Interactions, Queries]] | None = None,
        refit_best_step: bool = True,
        objectives: Sequence[str] | None = None,
        constraints: Mapping[str, float] | None = None,
    ) -> None:
        self.objectives = None if objectives is None else parse_objectives(objectives)
        self.constraints = parse_constraints(constraints)
        self.family = family
        self.data = data
        self.split = split
        self.valid_queries = valid_queries
        self.train_valid = train_valid
        self.test_queries = test_queries
        self.metric = metric
        goals = [o for o in self.objectives or () if o not in COSTS]
        self.metrics = list(dict.fromkeys([metric, *goals, *extra_metrics]))
        cutoffs = [parse_metric(m)[1] for m in self.metrics]
        known = [c for c in cutoffs if c is not None]
        if len(known) < len(cutoffs):
            known.append(LIST_LENGTH_WITHOUT_K)
        self.k = max(known)
        self.seed = seed
        self.prune = prune
        self.folds = list(folds) if folds else [(split.train, valid_queries)]
        self.refit_best_step = bool(refit_best_step)
        self._best_steps: dict[tuple[str, str], list[int]] = {}
        self._fingerprint = data.fingerprint()

    @property
    def record(self) -> dict[str, Any]:
        """What a study of this objective tunes, as stored under
        :data:`~optuna_rl_sampler.sources.RECSYS_RECORD_KEY` (see there for the keys)."""
        record: dict[str, Any] = {
            "model": self.family.name,
            "metric": self.metric,
            "direction": objective_direction(self.metric),
            "dataset": self.data.name,
            "dataset_fingerprint": self._fingerprint,
        }
        if self.objectives is not None:
            record["objectives"] = list(self.objectives)
            record["directions"] = self.directions
        return record

    def record_on(self, study: optuna.Study) -> None:
        """Write :attr:`record` to ``study``'s user attributes, unless it is there already.

        A call of the objective does this too; call it yourself right after
        ``optuna.create_study`` so the record is stored before the first trial.
        """
        from optuna_rl_sampler.sources import RECSYS_RECORD_KEY

        record = self.record
        if study.user_attrs.get(RECSYS_RECORD_KEY) != record:
            study.set_user_attr(RECSYS_RECORD_KEY, record)

    @property
    def directions(self) -> list[str]:
        """The study's directions, one per value a call returns: ``["maximize"]`` for one
        metric; with :attr:`objectives`, ``"maximize"`` for a metric and ``"minimize"``
        for a cost. Pass them to ``optuna.create_study(directions=...)``."""
        if self.objectives is None:
            return ["maximize"]
        return [objective_direction(o) for o in self.objectives]

    def constraint_values(self, trial: optuna.trial.FrozenTrial) -> list[float]:
        """``[cost - limit, ...]`` of a finished trial, in the order of
        :attr:`constraints` (e.g. ``[model_mb - X, train_s - Y]``); the trial is feasible
        when every value is ``<= 0``. The same values a call sets on its trial, from the
        user attributes it stored: usable as a sampler's ``constraints_func``.

        Raises:
            KeyError: The trial has no costs (it was not run by this objective, or was
                pruned or failed before its model was fitted).
        """
        return self._constraint_values(trial_costs(trial.user_attrs))

    def _constraint_values(self, costs: Mapping[str, float]) -> list[float]:
        return [costs[name] - limit for name, limit in self.constraints.items()]

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        """Train one configuration drawn from ``trial`` and return its validation metric.

        With several :attr:`folds` the configuration is trained and ranked once per
        fold and the value is the mean over the folds; the per-fold values of
        :attr:`metric` are stored as the user attribute ``fold_values``. Intermediate
        values (for the pruner) come from fold 0 only, so every trial's learning curve
        is measured on the same data. With several :attr:`objectives` no intermediate
        value is reported and nothing is pruned (Optuna supports neither in
        multi-objective studies).

        Returns:
            The value of :attr:`metric`, or with :attr:`objectives` the tuple of their
            values in order (a metric's validation value; ``train_s`` and ``model_mb``
            as :func:`trial_costs` computes them).

        Raises:
            optuna.TrialPruned: ``prune`` is on and the pruner stopped the trial.
        """
        import optuna

        study = getattr(trial, "study", None)  # a FixedTrial has none
        if isinstance(study, optuna.Study):
            self.record_on(study)
        params = self.family.suggest(trial)
        # Trial.report raises NotImplementedError in a multi-objective study.
        reports = len(self.directions) == 1

        def on_step(step: int, value: float) -> None:
            value = float(value)
            if not math.isfinite(value):
                return
            trial.report(value, step)
            if self.prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} (intermediate value {value:.6g})")

        train_time = eval_time = 0.0
        per_fold: list[dict[str, float]] = []
        steps: list[int | None] = []
        for j, (train, queries) in enumerate(self.folds):
            start = time.perf_counter()
            model = self.family.fit(
                params,
                train,
                queries,
                on_step=on_step if j == 0 and reports else None,
                seed=self.seed,
            )
            train_time += time.perf_counter() - start
            steps.append(getattr(model, "best_step", None))
            start = time.perf_counter()
            per_fold.append(evaluate(model.recommend(queries, self.k), queries, self.metrics))
            eval_time += time.perf_counter() - start
        self._remember_steps(self.family, params, steps)
        values = {m: float(np.mean([v[m] for v in per_fold])) for m in self.metrics}
        for name, value in values.items():
            trial.set_user_attr(name, value)
        if len(per_fold) > 1:
            trial.set_user_attr("fold_values", [v[self.metric] for v in per_fold])
        sizes = {"train_time_s": round(train_time, 4), "model_size_bytes": int(model.size_bytes())}
        trial.set_user_attr("train_time_s", sizes["train_time_s"])
        trial.set_user_attr("eval_time_s", round(eval_time, 4))
        trial.set_user_attr("model_size_bytes", sizes["model_size_bytes"])
        costs = trial_costs(sizes)
        if self.constraints:
            constraint_values = self._constraint_values(costs)
            for name, value in zip(self.constraints, constraint_values, strict=True):
                trial.set_constraint(name, value)
            trial.set_user_attr("feasible", all(v <= 0 for v in constraint_values))
        if self.objectives is None:
            return values[self.metric]
        return tuple(costs[o] if o in COSTS else values[o] for o in self.objectives)

    def evaluate_params(
        self,
        params: dict[str, Any],
        on: str = "test",
        *,
        model: str | ModelFamily | None = None,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """Train with fixed ``params`` and evaluate on the validation or test queries.

        ``on="valid"`` fits on each fold's training part with its validation queries
        for early stopping, exactly as in a trial (so the value of :attr:`metric` equals
        the trial's). ``on="test"`` refits on :attr:`train_valid` (train + valid, the
        history of the test queries, as the model would be deployed) without
        validation queries, so nothing from the test period is seen and the most
        recent events before it are; it trains for the boosting rounds or epochs that
        early stopping kept on validation (:meth:`refit_params`). Every configuration
        and model in a report goes through the same protocol, so they compare on equal
        terms.

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
        result = self.score_params(params, on, model=model, metrics=metrics)
        out = dict(result.values)
        out["train_time_s"] = result.train_time_s
        out["model_size_bytes"] = float(result.model_size_bytes)
        return out

    def score_params(
        self,
        params: dict[str, Any],
        on: str = "test",
        *,
        model: str | ModelFamily | None = None,
        metrics: Sequence[str] | None = None,
    ) -> Evaluation:
        """:meth:`evaluate_params` with the per-query values that intervals need.

        Same protocol and arguments as :meth:`evaluate_params`.

        Returns:
            An :class:`Evaluation`.
        """
        from optuna_rl_sampler.recsys.stats import per_query_values

        if on not in ("valid", "test"):
            raise ValueError(f"on must be 'valid' or 'test', got {on!r}.")
        family = self.family if model is None else resolve_model(model)
        metrics = self.metrics if metrics is None else list(metrics)
        k = self._list_length(metrics)
        if on == "valid":
            runs = [(train, queries, queries) for train, queries in self.folds]
            fit_params = dict(params)
        else:
            runs = [(self.train_valid, None, self.test_queries)]
            fit_params = self.refit_params(params, model=family)
        train_time = 0.0
        per_fold: list[dict[str, float]] = []
        per_query: dict[str, list[np.ndarray]] = {}
        steps: list[int | None] = []
        for train, valid, queries in runs:
            start = time.perf_counter()
            fitted = family.fit(dict(fit_params), train, valid, seed=self.seed)
            train_time += time.perf_counter() - start
            steps.append(getattr(fitted, "best_step", None))
            ranked = fitted.recommend(queries, k)
            per_fold.append(evaluate(ranked, queries, metrics))
            for spec in metrics:
                values = per_query_values(ranked, queries, spec)
                if values is not None:
                    per_query.setdefault(spec, []).append(values)
        if on == "valid":
            self._remember_steps(family, params, steps)
        return Evaluation(
            values={m: float(np.mean([v[m] for v in per_fold])) for m in metrics},
            per_query={m: np.concatenate(v) for m, v in per_query.items()},
            train_time_s=train_time,
            model_size_bytes=int(fitted.size_bytes()),
        )

    def refit_params(
        self, params: dict[str, Any], *, model: str | ModelFamily | None = None
    ) -> dict[str, Any]:
        """The configuration of the test-time refit on train + valid.

        That refit has no validation queries, so nothing stops it early: trained for
        ``params``' full number of boosting rounds (or epochs) it would go on well past
        the round that early stopping kept on validation, where the trials measured
        the configuration, and a configuration with many rounds at a high learning
        rate would be judged on test by a different, over-fitted model. So where the
        family can say how (a ``params_for_steps(params, steps)`` method) and its models
        report the step they kept (a ``best_step`` attribute), the refit trains for
        that step: the mean over the folds, rounded. The steps come from the trial of
        these parameters when this objective ran it, else from fits on the folds as in
        a trial.

        Args:
            params: The configuration.
            model: The family (default :attr:`family`).

        Returns:
            ``params`` with the kept number of steps, or ``params`` unchanged when
            :attr:`refit_best_step` is off, the family has no ``params_for_steps`` or
            its models kept no step.
        """
        family = self.family if model is None else resolve_model(model)
        to_steps = getattr(family, "params_for_steps", None)
        if not self.refit_best_step or not callable(to_steps):
            return dict(params)
        key = _params_key(family, params)
        if key not in self._best_steps:
            models = [family.fit(dict(params), t, q, seed=self.seed) for t, q in self.folds]
            self._remember_steps(family, params, [getattr(m, "best_step", None) for m in models])
        steps = self._best_steps.get(key)
        if steps is None:
            _logger.info(
                "%s kept no best step for %s; the test refit uses the parameters as given.",
                family.name,
                params,
            )
            return dict(params)
        return to_steps(dict(params), int(round(float(np.mean(steps)))))

    def _remember_steps(
        self, family: ModelFamily, params: dict[str, Any], steps: Sequence[int | None]
    ) -> None:
        if steps and all(isinstance(s, int | np.integer) and s > 0 for s in steps):
            self._best_steps[_params_key(family, params)] = [int(s) for s in steps]

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
            f"metric={self.metric!r}, "
            + (f"objectives={self.objectives!r}, " if self.objectives is not None else "")
            + (f"constraints={self.constraints!r}, " if self.constraints else "")
            + f"valid_queries={len(self.valid_queries)}, "
            f"folds={len(self.folds)}, test_queries={len(self.test_queries)})"
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
    folds: int = 1,
    refit_best_step: bool = True,
    objectives: Sequence[str] | None = None,
    constraints: Mapping[str, float] | None = None,
) -> RecsysObjective:
    """Build an objective that tunes ``model`` on ``data`` for a maximising study.

    With ``objectives`` it is a multi-objective objective for
    ``optuna.create_study(directions=objective.directions)``; with ``constraints`` its
    trials carry constraint values (see :class:`RecsysObjective`).

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
        folds: Rolling validation folds whose mean is the objective (see
            :func:`~optuna_rl_sampler.recsys.splits.validation_folds`); each has its own
            ``max_valid_queries``. 1 (the default) is the single validation part.
        refit_best_step: The test-time refit trains for the rounds or epochs early
            stopping kept on validation (:meth:`RecsysObjective.refit_params`).
        objectives: ``None`` for the one objective ``metric``; else 1 or more (2 or 3
            make sense) objectives a call returns as a tuple, in order: metric specs
            (maximised; they are computed and stored like the extra metrics) and
            ``"train_s"`` or ``"model_mb"`` (minimised; see :data:`COSTS`). ``metric``
            stays the metric of reports (e.g. the first metric of ``objectives``).
        constraints: Upper limits ``{cost: limit}`` on ``"model_mb"`` and ``"train_s"``;
            each trial sets ``cost - limit`` with ``Trial.set_constraint`` (feasible when
            ``<= 0``), read by ``RLSampler``, Optuna's TPE, GP and NSGA-II samplers,
            ``study.best_trial`` (the best feasible trial) and ``study.best_trials``.
            Training time is noisy: it varies with the machine's load.

    Returns:
        A :class:`RecsysObjective`; ``objective.split``, ``objective.valid_queries`` and
        ``objective.test_queries`` are reused by :meth:`RecsysObjective.evaluate_params`.

    Raises:
        ValueError: ``metric``, an extra metric, an objective or a constraint is
            unknown (raised before any trial; see :func:`parse_objectives` and
            :func:`parse_constraints`), the model name is not registered, the split
            leaves no validation or test queries, or ``folds`` do not fit the split.
    """
    for spec in (metric, *extra_metrics):
        parse_metric(spec)
    if objectives is not None:
        objectives = parse_objectives(objectives)
    constraints = parse_constraints(constraints)
    family = resolve_model(model)
    from optuna_rl_sampler.recsys.splits import make_queries
    from optuna_rl_sampler.recsys.splits import split_dataset
    from optuna_rl_sampler.recsys.splits import validation_folds

    if split is None:
        split = split_dataset(data)
    fold_parts = validation_folds(split, folds, seed=seed)
    valid_queries = make_queries(
        split.train, split.valid, max_queries=max_valid_queries, seed=seed
    )
    fold_queries = [(split.train, valid_queries)]
    for j, (train_j, valid_j) in enumerate(fold_parts[1:], start=1):
        fold_queries.append(
            (train_j, make_queries(train_j, valid_j, max_queries=max_valid_queries, seed=seed))
        )
        if len(fold_queries[-1][1]) == 0:
            raise ValueError(
                f"Validation fold {j} of dataset {data.name!r} gives no queries; use fewer folds."
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
    total = sum(len(q) for _, q in fold_queries)
    if total < MIN_VALID_QUERIES:
        capped = max_valid_queries is not None and any(
            len(q) == max_valid_queries for _, q in fold_queries
        )
        _logger.warning(
            "Dataset %r gives %d validation queries (%d fold(s)); fewer than %d make the "
            "best trial partly the luckiest one. Use more data or more folds%s.",
            data.name,
            total,
            len(fold_queries),
            MIN_VALID_QUERIES,
            f", or raise max_valid_queries (now {max_valid_queries})" if capped else "",
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
        folds=fold_queries,
        refit_best_step=refit_best_step,
        objectives=objectives,
        constraints=constraints,
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
