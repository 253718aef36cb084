"""The one ``main()`` of the tuning recipes (``recipes/news.py``, ``ecommerce.py``, ``social.py``).

A recipe is a :class:`Recipe` (its domain, metric, extra metrics and prose) handed to
:func:`main`, which does the same steps for every domain:

1. load ``--data`` (any registered dataset source), or the domain's synthetic data;
2. split it once and build the objective (``--folds`` rolling validation windows);
3. for each sampler of ``--sampler`` (``rl,tpe,random`` compares them): a study whose
   first trial is the model's default configuration, so the tuned result is never
   below the default on validation; tune for ``--trials`` trials;
4. refit tuned, default and popularity and rank the test queries: a table with
   bootstrap 95% intervals, the paired bootstrap of tuned - default, and a plain
   verdict;
5. save the best parameters as JSON, a report and plots in ``--out``; set the study's
   metric name; write the table as the study's note in optuna-dashboard; upload the
   JSON, report and plots to an artifact store; print the dashboard command.

Several goals (the helpers are in :mod:`_pareto`):

- ``--objectives ndcg@10,coverage@10`` (2 or 3 metric specs, maximised, or the costs
  ``train_s`` and ``model_mb``, minimised) makes each study multi-objective (no pruning:
  Optuna has none there; ``cmaes`` is refused, ``nsga2`` is offered). The study name
  gets ``-mo-<objectives>``. Step 4 then prints each study's Pareto front on validation
  and refits at most 5 front trials spread along it (columns ``front#<trial>``,
  :func:`_pareto.pick_front` says which) beside default and popularity; step 5 saves the
  front as ``<study>.pareto.json`` and its plot instead of the best parameters.
- ``--max-model-mb X`` and ``--max-train-s Y`` cap the model's size and the trial's
  training time: the objective sets each trial's constraint values (``cost - limit``,
  feasible when ``<= 0``) with Optuna's ``Trial.set_constraint``, which every sampler
  reads. Tuned is the best feasible trial and the front holds feasible trials only;
  with none feasible the least-violating trial is reported, as ``infeasible#<trial>``.
  The report gives each column's size, training time and feasibility, and says when
  the default configuration itself breaks a limit.

Errors a user can fix (a bad path, an unknown model or sampler, a bad objective) end the
script with a one-line message and exit status 2; ``--traceback`` shows the full trace
instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import _pareto

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.objective import Evaluation
    from optuna_rl_sampler.recsys.objective import RecsysObjective

# LightGBM's OpenMP threads spin while they wait; on a machine that is busy with other
# work that makes boosting tens of times slower. Passive waiting costs nothing when the
# cores are free. It must be set before LightGBM (libgomp) is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SAMPLERS = ("rl", "tpe", "random", "gp", "cmaes", "qmc", "nsga2")
#: Samplers refused with ``--objectives``: Optuna's CmaEsSampler raises ``ValueError`` in
#: a multi-objective study (at the first trial after its random start).
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
#: Report names of the columns that are not a study's result.
BASELINE_COLUMNS = ("default", "popularity")
#: Bootstrap resamples and confidence level of the report's intervals.
RESAMPLES = 1000
CONFIDENCE = 0.95
#: User attribute that marks the enqueued default-configuration trial.
DEFAULT_ATTR = "default"

#: ``--size`` presets. ``small`` and ``medium`` are ``make_dataset``'s presets (about 50k
#: and 300k events); ``quick`` (the default) keeps 30 LightGBM trials to a few minutes on
#: two CPU cores; ``tiny`` is for smoke tests.
SIZES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "tiny": (
        "small",
        {
            "news": {"n_users": 150, "n_items": 120, "n_impressions": 400},
            "ecommerce": {"n_users": 150, "n_items": 100, "n_interactions": 2500},
            "social": {"n_users": 120, "n_items": 150, "n_interactions": 2500},
        },
    ),
    "quick": (
        "small",
        {
            "news": {"n_users": 800, "n_items": 400, "n_impressions": 2000},
            "ecommerce": {"n_users": 800, "n_items": 400, "n_interactions": 12000},
            "social": {"n_users": 500, "n_items": 800, "n_interactions": 12000},
        },
    ),
    "small": ("small", {}),
    "medium": ("medium", {}),
}


class RecipeError(Exception):
    """A problem the user can fix; printed as one line without a traceback."""


@dataclass(frozen=True)
class Recipe:
    """What makes one recipe different from the others.

    Attributes:
        domain: ``"news"``, ``"ecommerce"`` or ``"social"``: the synthetic data and the
            script's name.
        metric: The validation metric tuned by default.
        description: The script's ``--help`` text (its module docstring).
        extra_metrics: Further metrics recorded per trial and shown in the report
            (``None``: :data:`~optuna_rl_sampler.recsys.objective.DEFAULT_EXTRA_METRICS`).
        model: The model family tuned by default.
        check_data: Called with the loaded data; may print a note about it.
    """

    domain: str
    metric: str
    description: str | None
    extra_metrics: tuple[str, ...] | None = None
    model: str = "lightgbm-ranker"
    check_data: Callable[[Interactions], None] | None = field(default=None, compare=False)


# ------------------------------------------------------------------------- arguments


def parse_args(recipe: Recipe, argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line every recipe shares, with the recipe's defaults."""
    domain = recipe.domain
    parser = argparse.ArgumentParser(
        prog=f"{domain}.py",
        description=recipe.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="folder (or file) of a real dataset; default: synthetic data of this domain",
    )
    parser.add_argument(
        "--format",
        help="format of --data: a registered dataset source that reads files (mind, "
        "amazon-seq, yoochoose, lastfm-hetrec, filmtrust, movielens, or a plugin's); "
        "default: detected from the files",
    )
    parser.add_argument(
        "--size",
        choices=list(SIZES),
        default="quick",
        help="size of the synthetic data (default: quick; ignored with --data)",
    )
    parser.add_argument("--trials", type=int, default=30, help="trials to run (default: 30)")
    parser.add_argument(
        "--model", default=recipe.model, help=f"registered model (default: {recipe.model})"
    )
    parser.add_argument(
        "--metric",
        help=f"validation metric to maximise (default: {recipe.metric}); not with "
        "--objectives, whose first metric is the report's main one",
    )
    parser.add_argument(
        "--objectives",
        metavar="SPECS",
        help="tune for 2 or 3 goals at once, separated by commas, e.g. ndcg@10,coverage@10: "
        "metric specs (maximised) or the costs train_s (training seconds) and model_mb "
        "(model size in MB), minimised. Each study is then multi-objective (no pruning); "
        "the report prints its Pareto front on validation and refits up to 5 front "
        "trials on test; not with --sampler cmaes",
    )
    parser.add_argument(
        "--max-model-mb",
        type=float,
        metavar="X",
        help="keep the model at most X MB (10^6 bytes): trials above are infeasible, and "
        "tuned (or the front) is chosen among the feasible ones",
    )
    parser.add_argument(
        "--max-train-s",
        type=float,
        metavar="Y",
        help="keep a trial's training time (summed over --folds) at most Y seconds, as "
        "--max-model-mb does. Training time is noisy: it depends on what else the machine "
        "runs, so a trial near the limit may land on either side of it",
    )
    parser.add_argument(
        "--sampler",
        default="rl",
        help="Optuna sampler, or several separated by commas to compare them in one run "
        f"with the same seed (one of {', '.join(SAMPLERS)}; default: rl); nsga2 is meant "
        "for --objectives, cmaes cannot take them",
    )
    parser.add_argument(
        "--no-transfer",
        action="store_true",
        help="with --sampler rl: do not transfer from the past studies shipped with the "
        "package (by default they are used when the model's search space matches)",
    )
    parser.add_argument(
        "--previous-study",
        metavar="NAME",
        action="append",
        default=[],
        help="a finished study of this model in --storage, e.g. last month's run on older "
        "data (repeatable): --sampler rl transfers from it instead of the shipped past "
        "studies; every other sampler starts from its 3 best configurations (enqueued, "
        "the usual warm start); single-objective runs only",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=1,
        help="rolling validation windows before the test part; the objective is their "
        "mean (default: 1)",
    )
    parser.add_argument(
        "--storage",
        default=f"sqlite:///runs/recipes-{domain}.db",
        help=f"Optuna storage URL (default: sqlite:///runs/recipes-{domain}.db; runs/ is "
        "git-ignored)",
    )
    parser.add_argument(
        "--study-name",
        help="study name (default: <domain>-<dataset>-<model>-<sampler>-seed<seed>, with "
        "-folds<K> for K > 1, -mo-<objectives> with --objectives and -max-model-mb<X>, "
        "-max-train-s<Y> with limits); with several samplers, -<sampler> is appended; an "
        "existing study of that name is resumed if it has the same objectives and limits",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=f"runs/recipes-{domain}",
        help="folder for the best parameters (JSON), the report, the plots and the "
        f"artifact store (default: runs/recipes-{domain})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    parser.add_argument(
        "--max-valid-queries",
        type=int,
        default=2000,
        help="validation queries per fold, drawn at random (default: 2000; fewer than "
        "1000 in all are reported as too few)",
    )
    parser.add_argument(
        "--max-test-queries",
        type=int,
        default=5000,
        help="test queries of the final report, drawn at random (default: 5000)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks for errors")
    args = parser.parse_args(argv)
    if args.trials < 0:
        parser.error(f"--trials must be 0 or more, got {args.trials}")
    if args.folds < 1:
        parser.error(f"--folds must be 1 or more, got {args.folds}")
    if args.format is not None and args.data is None:
        parser.error("--format describes --data; pass --data PATH too")
    for flag in ("max_valid_queries", "max_test_queries"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    samplers = [s.strip().lower() for s in args.sampler.split(",") if s.strip()]
    unknown = [s for s in samplers if s not in SAMPLERS]
    if not samplers or unknown:
        parser.error(
            f"--sampler {args.sampler!r}: unknown {', '.join(map(repr, unknown)) or 'empty'}; "
            f"choose from {', '.join(SAMPLERS)}, separated by commas"
        )
    if len(set(samplers)) < len(samplers):
        parser.error(f"--sampler {args.sampler!r} names a sampler twice")
    args.samplers = samplers
    args.domain = domain
    args.default_metric = recipe.metric
    return args


def resolve_goals(args: argparse.Namespace) -> None:
    """Check ``--objectives`` and the limits before any work; set ``args.objectives``
    (a list, or ``None`` for one metric), ``args.metric`` and ``args.limits``.

    Raises:
        RecipeError: A bad objective (unknown, repeated, not 2 or 3, no metric), a
            sampler that cannot take several objectives, ``--metric`` with
            ``--objectives``, or a limit that is not a positive number.
    """
    from optuna_rl_sampler.recsys.objective import COSTS
    from optuna_rl_sampler.recsys.objective import parse_constraints
    from optuna_rl_sampler.recsys.objective import parse_objectives

    if args.objectives is None:
        args.metric = args.metric or args.default_metric
    else:
        given = args.objectives
        try:
            objectives = parse_objectives(given)
        except ValueError as exc:
            raise RecipeError(f"--objectives {given!r}: {exc}") from None
        if not 2 <= len(objectives) <= 3:
            raise RecipeError(
                f"--objectives {given!r} gives {len(objectives)}; give 2 or 3 separated by "
                "commas, e.g. ndcg@10,coverage@10 (for one metric use --metric)"
            )
        if args.metric is not None:
            raise RecipeError(
                f"--metric {args.metric!r} and --objectives {given!r} both given; put the "
                "metric in --objectives (the first metric there is the report's main one)"
            )
        refused = [s for s in args.samplers if s in SINGLE_OBJECTIVE_SAMPLERS]
        if refused:
            usable = ", ".join(s for s in SAMPLERS if s not in SINGLE_OBJECTIVE_SAMPLERS)
            raise RecipeError(
                f"--sampler {refused[0]} cannot take --objectives: Optuna's CmaEsSampler is "
                f"single-objective (it raises ValueError on a multi-objective study); use "
                f"one of {usable}"
            )
        args.objectives = objectives
        args.metric = next(o for o in objectives if o not in COSTS)
    limits = {"model_mb": args.max_model_mb, "train_s": args.max_train_s}
    flags = {"model_mb": "--max-model-mb", "train_s": "--max-train-s"}
    for name, limit in limits.items():
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise RecipeError(f"{flags[name]} must be a positive number, got {limit:g}")
    args.limits = parse_constraints({k: v for k, v in limits.items() if v is not None})


# ------------------------------------------------------------------------------ data


def load_data(args: argparse.Namespace) -> Interactions:
    """``--data`` read by its dataset source, or the domain's synthetic data at ``--size``.

    Both go through the dataset registry (``register_datasets`` hooks): ``--format``
    names a registered source (``None``: detected among the built-in file formats), and
    the synthetic data is the registered source ``synthetic-<domain>``.
    """
    from optuna_rl_sampler.recsys.plugins import get_dataset_source

    if args.data is None:
        preset, knobs = SIZES[args.size]
        source = get_dataset_source(f"synthetic-{args.domain}")
        data = source(size=preset, seed=args.seed, **knobs.get(args.domain, {}))
        if args.size != preset:
            from dataclasses import replace

            data = replace(data, name=f"synthetic_{args.domain}_{args.size}")
        return data
    from optuna_rl_sampler.recsys.loaders import load_dataset

    try:
        return load_dataset(args.data, format=args.format)
    except (FileNotFoundError, ValueError) as exc:
        raise RecipeError(f"cannot load --data {args.data}: {exc}") from exc


# -------------------------------------------------------------------------- samplers


def make_sampler(
    name: str,
    seed: int,
    budget: int,
    transfer: bool = True,
    multi_objective: bool = False,
    model: str | None = None,
    previous: Sequence[optuna.Study] = (),
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (one of :data:`SAMPLERS`), seeded.

    ``rl`` uses the shipped meta-model and, unless ``transfer`` is off or the study is
    multi-objective (the shipped past studies are single-objective, and RLSampler uses
    no sources there), the shipped past studies of the study's model family as sources
    (``RLSampler(source_studies="auto")``, which reads the family from the record the
    objective stores on the study; ``model`` names it in the printed line). With
    ``previous`` studies (``--previous-study``) those are its sources instead; other
    samplers ignore them here (the caller enqueues their best configurations).

    No sampler gets a ``constraints_func``: with ``--max-model-mb`` or ``--max-train-s``
    the objective sets each trial's constraint values itself (``Trial.set_constraint``),
    which RLSampler and Optuna's samplers read from the trials (Optuna 5 deprecates
    ``constraints_func`` in TPE, GP and NSGA-II for it; Random and QMC ignore
    constraints either way).
    """
    import optuna

    transfer = transfer and not multi_objective

    if name == "rl":
        try:
            from optuna_rl_sampler import RLSampler
        except Exception as exc:  # noqa: BLE001 - any import failure gets the same advice
            raise RecipeError(
                f"--sampler rl needs optuna_rl_sampler.RLSampler, which failed to import "
                f"({type(exc).__name__}: {exc}); run with --sampler tpe instead"
            ) from exc
        if previous:
            sampler = RLSampler(seed=seed, budget=max(budget, 1), source_studies=list(previous))
            shown = ", ".join(f"{s.study_name!r} ({len(_complete(s))} trials)" for s in previous)
            print(
                f"RLSampler: meta-model {sampler.weights.name!r}; transfer from "
                f"--previous-study {shown}."
            )
            return sampler
        sampler = RLSampler(
            seed=seed, budget=max(budget, 1), source_studies="auto" if transfer else None
        )
        from optuna_rl_sampler.policy import GENERIC_WEIGHTS
        from optuna_rl_sampler.sources import load_builtin_sources

        n_sources = len(load_builtin_sources(model)) if transfer and model else 0
        # Without sources RLSampler's shipped default proposes with the generic weights.
        meta_model = sampler.weights.name if transfer and n_sources else GENERIC_WEIGHTS
        print(
            f"RLSampler: meta-model {meta_model!r}; "
            + (
                f"transfer from the {n_sources} shipped past studies of {model!r}, the "
                "model family this study records (--no-transfer to turn off)."
                if transfer and n_sources
                else f"no transfer (no shipped past studies of {model!r})."
                if transfer
                else "no transfer (the shipped past studies are single-objective)."
                if multi_objective
                else "no transfer (--no-transfer)."
            )
        )
        return sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise RecipeError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


# --------------------------------------------------------------------------- studies


def goals_suffix(args: argparse.Namespace) -> str:
    """What the study name adds for ``--objectives`` and limits, e.g.
    ``-mo-ndcg@10+coverage@10-max-model-mb1``; empty for one metric without limits, so
    such studies keep their names.

    Example:
        >>> from argparse import Namespace
        >>> goals_suffix(Namespace(objectives=["ndcg@10", "model_mb"], limits={"train_s": 2.5}))
        '-mo-ndcg@10+model_mb-max-train-s2.5'
    """
    parts = []
    if args.objectives:
        parts.append("mo-" + "+".join(args.objectives))
    for name, limit in args.limits.items():
        parts.append(f"max-{name.replace('_', '-')}{limit:g}")
    suffix = "".join(f"-{part}" for part in parts)
    return re.sub(r"[^A-Za-z0-9@+._-]+", "_", suffix)


def study_name(args: argparse.Namespace, data: Interactions, sampler: str) -> str:
    """``--study-name`` (plus ``-<sampler>`` when comparing), or the descriptive default
    (with :func:`goals_suffix`, so a multi-objective or constrained run never resumes a
    study of other goals)."""
    if args.study_name:
        return args.study_name if len(args.samplers) == 1 else f"{args.study_name}-{sampler}"
    folds = f"-folds{args.folds}" if args.folds > 1 else ""
    return (
        f"{args.domain}-{data.name}-{args.model}-{sampler}-seed{args.seed}{folds}"
        f"{goals_suffix(args)}"
    )


def _check_resumable(
    study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace
) -> None:
    """Refuse to resume a study whose objectives or limits are not this run's."""
    import optuna

    name, where = study.study_name, args.storage
    wanted = [optuna.study.StudyDirection[d.upper()] for d in objective.directions]
    ours = objective.objectives or [objective.metric]
    theirs = study.metric_names or [d.name.lower() for d in study.directions]
    if len(study.directions) != len(wanted):
        raise RecipeError(
            f"study {name!r} in {where} has {len(study.directions)} objective(s) "
            f"({', '.join(theirs)}) but this run has {len(wanted)} ({', '.join(ours)}); pass "
            "another --study-name, or the study's own objectives"
        )
    stored = study.user_attrs.get("objectives")
    metric = study.user_attrs.get("metric")
    if (
        study.directions != wanted
        or stored != objective.objectives
        or (metric is not None and metric != objective.metric)
    ):
        raise RecipeError(
            f"study {name!r} in {where} tunes {', '.join(theirs)} "
            f"({', '.join(d.name.lower() for d in study.directions)}), not this run's "
            f"{', '.join(ours)}; pass another --study-name"
        )
    limits = study.user_attrs.get("limits", {})
    if limits != objective.constraints:
        raise RecipeError(
            f"study {name!r} in {where} was run with the limits {_limits_text(limits)}, this "
            f"run has {_limits_text(objective.constraints)}; their constraint values would not "
            "match: pass another --study-name, or the study's own limits"
        )


def _limits_text(limits: dict[str, float]) -> str:
    """``--max-model-mb 1 --max-train-s 5``, or ``none``."""
    flags = " ".join(f"--max-{name.replace('_', '-')} {limit:g}" for name, limit in limits.items())
    return flags or "none"


def create_study(
    args: argparse.Namespace, data: Interactions, objective: RecsysObjective, sampler: str
) -> optuna.Study:
    """A study in ``--storage`` whose first trial is the default configuration.

    One maximised objective, or with ``--objectives`` the objective's directions (its
    metric names are the objectives; no pruner, as Optuna prunes no multi-objective
    trial). An existing study of the name is resumed only if it has the same objectives
    and limits (:class:`RecipeError` otherwise).

    The default configuration (``family.default_params()``) is enqueued with the user
    attribute ``default=True`` unless the study already holds it, so tuning is never
    worse than the default on validation: the best trial is at least as good (unless
    the default breaks a limit), and the default is on the front or dominated.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name(args, data, sampler)
    _make_sqlite_folder(args.storage)
    try:
        storage = optuna.storages.get_storage(args.storage)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds
        raise RecipeError(f"cannot open --storage {args.storage}: {exc}") from exc
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        done = 0
    else:
        _check_resumable(existing, objective, args)
        done = len(existing.trials)
    multi = objective.objectives is not None
    if name in args.previous_study:
        raise RecipeError(
            f"the study of this run would be {name!r}, the --previous-study itself (same "
            "dataset name, model, sampler and seed); pass --study-name for the new study"
        )
    previous = _previous_studies(args, storage, objective)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=objective.directions,
        sampler=make_sampler(
            sampler,
            args.seed,
            budget=done + args.trials,
            transfer=not args.no_transfer,
            multi_objective=multi,
            model=objective.family.name,
            previous=previous,
        ),
        pruner=optuna.pruners.NopPruner()
        if multi
        else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
        load_if_exists=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective.objectives or [args.metric])
    attrs: list[tuple[str, Any]] = [
        ("domain", args.domain),
        ("dataset", data.name),
        ("model", args.model),
        ("metric", args.metric),
        ("sampler", sampler),
        ("folds", args.folds),
    ]
    if multi:
        attrs.append(("objectives", objective.objectives))
    if objective.constraints:
        attrs.append(("limits", objective.constraints))
    for key, value in attrs:
        study.set_user_attr(key, value)
    # What the study tunes (model family, metric, dataset): RLSampler's auto transfer
    # reads it before the first trial.
    objective.record_on(study)
    if done:
        print(f"Resuming study {name!r} ({done} trials so far).")
    if args.trials and not any(t.user_attrs.get(DEFAULT_ATTR) for t in study.trials):
        study.enqueue_trial(
            objective.family.default_params(), user_attrs={DEFAULT_ATTR: True}, skip_if_exists=True
        )
    if previous and sampler != "rl" and not done:
        # The warm start a practitioner would use with TPE, GP, ...: last time's best.
        for past, params in _best_configurations(previous, k=PREVIOUS_BEST):
            study.enqueue_trial(params, user_attrs={PREVIOUS_ATTR: past}, skip_if_exists=True)
    return study


#: Best configurations of the ``--previous-study`` studies enqueued for samplers other
#: than rl (which transfers from the studies instead).
PREVIOUS_BEST = 3
#: User attribute naming the previous study an enqueued configuration comes from.
PREVIOUS_ATTR = "previous_study"


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _previous_studies(
    args: argparse.Namespace, storage: Any, objective: RecsysObjective
) -> list[optuna.Study]:
    """The ``--previous-study`` studies, checked: in ``--storage``, single-objective, of
    this run's model and metric direction, with complete trials."""
    import optuna

    from optuna_rl_sampler.meta_prior import MIN_SOURCE_TRIALS

    names = list(dict.fromkeys(args.previous_study))
    if not names:
        return []
    if objective.objectives is not None:
        raise RecipeError(
            "--previous-study works for one metric; drop --objectives, or the previous study"
        )
    found = []
    for name in names:
        try:
            past = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            known = optuna.get_all_study_names(storage)
            raise RecipeError(
                f"--previous-study {name!r}: no such study in {args.storage}; it holds "
                + (", ".join(map(repr, known)) if known else "no study")
            ) from None
        model = past.user_attrs.get("model")
        if model is not None and model != args.model:
            raise RecipeError(
                f"--previous-study {name!r} tuned the model {model!r}, not {args.model!r}; "
                f"pass --model {model} or a study of {args.model!r}"
            )
        if (
            len(past.directions) != 1
            or past.directions[0] != optuna.study.StudyDirection[objective.directions[0].upper()]
        ):
            raise RecipeError(
                f"--previous-study {name!r} has direction(s) "
                f"{[d.name.lower() for d in past.directions]}, this run "
                f"{objective.directions}; pass a single-objective study of the same metric"
            )
        if not _complete(past):
            raise RecipeError(f"--previous-study {name!r} has no complete trial to start from")
        if "rl" in args.samplers and len(_complete(past)) < MIN_SOURCE_TRIALS:
            raise RecipeError(
                f"--previous-study {name!r} has {len(_complete(past))} complete trials; "
                f"RLSampler learns from a study of at least {MIN_SOURCE_TRIALS}. Pass a "
                "longer study, or --sampler tpe (which starts from its best configurations)"
            )
        found.append(past)
    return found


def _best_configurations(
    studies: Sequence[optuna.Study], k: int
) -> list[tuple[str, dict[str, Any]]]:
    """Up to ``k`` distinct best configurations over ``studies``, best first, each with
    its study's name."""
    import optuna

    ranked = sorted(
        (
            (t.value if s.direction == optuna.study.StudyDirection.MINIMIZE else -t.value),
            s.study_name,
            t.number,
            t.params,
        )
        for s in studies
        for t in _complete(s)
        if t.value is not None
    )
    out: list[tuple[str, dict[str, Any]]] = []
    for _, name, _, params in ranked:
        if params and all(params != p for _, p in out):
            out.append((name, dict(params)))
        if len(out) == k:
            break
    return out


def _check_like_for_like(created: Sequence[tuple[str, optuna.Study]]) -> None:
    """Refuse to compare samplers whose studies would end with different trial counts
    (one of them resumed): the comparison would not be like for like."""
    import optuna

    if len(created) < 2:
        return
    ran = (optuna.trial.TrialState.WAITING,)
    counts = {s: len([t for t in st.trials if t.state not in ran]) for s, st in created}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{s} has {n}" for s, n in counts.items())
        raise RecipeError(
            f"--sampler {','.join(counts)} would compare studies of different lengths "
            f"({shown} trials already); pass another --storage (or --seed) so every "
            "sampler starts from the same point."
        )


def tune(study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace) -> float:
    """Run ``--trials`` trials with a progress bar; returns the wall time in seconds."""
    import optuna

    goals = ", ".join(objective.objectives or [args.metric])
    print(
        f"Tuning {objective.family.name} on {objective.data.name} for {goals} "
        f"(validation): {args.trials} trials with {study.user_attrs.get('sampler')}, "
        f"study {study.study_name!r}."
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=args.trials, show_progress_bar=not args.no_progress)
    return time.perf_counter() - start


def default_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's completed default-configuration trial, if any."""
    import optuna

    for trial in study.trials:
        if trial.user_attrs.get(DEFAULT_ATTR) and trial.state == optuna.trial.TrialState.COMPLETE:
            return trial
    return None


# --------------------------------------------------------------------------- results


@dataclass
class Column:
    """One column of the report: a configuration's validation and test results.

    Attributes:
        name: ``"tuned"`` (``"tuned:<sampler>"`` when comparing), ``"front#<trial>"``
            (``"front#<trial>:<sampler>"``) with ``--objectives``,
            ``"infeasible#<trial>"`` for a study's least-violating trial when none is
            feasible, ``"default"`` or ``"popularity"``.
        params: The configuration.
        valid: ``{metric: value}`` on validation (a study's or the default column: the
            values its trial recorded; popularity: a refit as in a trial).
        test: The refit on train + valid, ranked for the test queries.
        study: The study a tuned, front or infeasible column comes from.
        tune_s: Wall time of this run's trials of that study.
        trial: The trial the column's configuration comes from (the default column:
            the first study's default trial, if it completed).
        valid_costs: ``{"model_mb": ..., "train_s": ...}`` of the validation fit (the
            trial's, or the refit's).
        feasible: Whether :attr:`valid_costs` keep ``--max-model-mb`` and
            ``--max-train-s``; ``None`` without limits.
    """

    name: str
    params: dict[str, Any] | None
    valid: dict[str, float]
    test: Evaluation
    study: optuna.Study | None = None
    tune_s: float = 0.0
    trial: optuna.trial.FrozenTrial | None = None
    valid_costs: dict[str, float] = field(default_factory=dict)
    feasible: bool | None = None


def _valid_values(
    objective: RecsysObjective,
    trial: optuna.trial.FrozenTrial | None,
    params: dict[str, Any],
    model: Any = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Validation values and costs of ``params``: the trial's own, else a refit as in a
    trial (of ``model``, by default the objective's family)."""
    from optuna_rl_sampler.recsys.objective import trial_costs

    if trial is not None and all(
        m in trial.user_attrs for m in (*objective.metrics, "train_time_s", "model_size_bytes")
    ):
        values = {m: float(trial.user_attrs[m]) for m in objective.metrics}
        return values, trial_costs(trial.user_attrs)
    result = objective.evaluate_params(params, on="valid", model=model)
    return {m: result[m] for m in objective.metrics}, trial_costs(
        {"train_time_s": result["train_time_s"], "model_size_bytes": result["model_size_bytes"]}
    )


def _study_picks(
    objective: RecsysObjective, study: optuna.Study, suffix: str
) -> list[tuple[str, optuna.trial.FrozenTrial]]:
    """The study's columns: its tuned trial, or with ``--objectives`` the front trials
    that :func:`_pareto.pick_front` chooses; the least-violating trial, named
    ``infeasible#<trial>``, when no completed trial is feasible (said in one line)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if objective.objectives is None:
        trial, feasible = _pareto.choose_tuned(study)
        if feasible:
            return [(f"tuned{suffix}", trial)]
    else:
        front = _pareto.pareto_front(study)
        if front:
            picks = _pareto.pick_front(front, study.directions)
            return [(f"front#{t.number}{suffix}", t) for t in picks]
        trial = _pareto.least_violating(complete)
    print(f"\n{_pareto.no_feasible_message(study, trial, objective.constraints)}")
    return [(f"infeasible#{trial.number}{suffix}", trial)]


def evaluate_columns(
    objective: RecsysObjective, studies: list[tuple[str, optuna.Study, float]]
) -> list[Column]:
    """Each study's result (tuned, or front trials), default and popularity, each on
    validation and test."""
    import optuna

    from optuna_rl_sampler.recsys.baselines import Popularity

    limits = objective.constraints
    columns: list[Column] = []
    default_params = objective.family.default_params()
    default_record: tuple[dict[str, float], dict[str, float]] | None = None
    default_source: optuna.trial.FrozenTrial | None = None
    for sampler, study, seconds in studies:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        suffix = "" if len(studies) == 1 else f":{sampler}"
        if not complete:
            what = "front" if objective.objectives else "tuned column"
            print(f"\n{study.study_name}: no trial completed, so there is no {what}.")
            continue
        for name, trial in _study_picks(objective, study, suffix):
            valid, costs = _valid_values(objective, trial, trial.params)
            test = objective.score_params(trial.params, on="test")
            feasible = _pareto.feasible_costs(costs, limits)
            columns.append(
                Column(name, trial.params, valid, test, study, seconds, trial, costs, feasible)
            )
        if default_record is None and default_trial(study) is not None:
            default_source = default_trial(study)
            default_record = _valid_values(objective, default_source, default_params)
    if default_record is None:
        default_record = _valid_values(objective, None, default_params)
    columns.append(
        Column(
            "default",
            default_params,
            default_record[0],
            objective.score_params(default_params, on="test"),
            trial=default_source,
            valid_costs=default_record[1],
            feasible=_pareto.feasible_costs(default_record[1], limits),
        )
    )
    popularity = Popularity()
    pop_valid, pop_costs = _valid_values(
        objective, None, popularity.default_params(), model=popularity
    )
    columns.append(
        Column(
            "popularity",
            popularity.default_params(),
            pop_valid,
            objective.score_params(popularity.default_params(), "test", model=popularity),
            valid_costs=pop_costs,
            feasible=_pareto.feasible_costs(pop_costs, limits),
        )
    )
    return columns


@dataclass
class Comparison:
    """A study's column - default on the test queries, paired bootstrap."""

    column: str
    metric: str
    text: str
    significant: bool


def compare_to_default(
    columns: list[Column], metric: str, seed: int, front: bool = False
) -> list[Comparison]:
    """The paired bootstrap of each column (other than default and popularity) against
    the default on ``metric``.

    ``front``: the columns are Pareto-front trials, which may trade ``metric`` for
    another objective, so a significantly worse one gets no advice, and the default
    configuration's own trial is said to be the default instead of compared with itself.
    """
    from optuna_rl_sampler.recsys.stats import paired_bootstrap

    default = next(c for c in columns if c.name == "default")
    out = []
    for column in columns:
        if column.name in BASELINE_COLUMNS:
            continue
        if front and column.trial is not None and column.trial.user_attrs.get(DEFAULT_ATTR):
            text = f"{column.name} is the default configuration (the default column refit)."
            out.append(Comparison(column.name, metric, text, False))
            continue
        a, b = column.test.per_query.get(metric), default.test.per_query.get(metric)
        if a is None or b is None:
            text = (
                f"{column.name} vs default on test {metric}: "
                f"{column.test.values[metric]:.4f} vs {default.test.values[metric]:.4f}; a "
                "catalogue-level metric has no per-query values, so no paired interval."
            )
            out.append(Comparison(column.name, metric, text, False))
            continue
        diff = paired_bootstrap(a, b, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=seed)
        sign = "+" if diff.mean >= 0 else ""
        p_text = (
            f"p < {1 / RESAMPLES:g}" if diff.p_value < 1 / RESAMPLES else f"p = {diff.p_value:.3f}"
        )
        numbers = f"{sign}{diff.mean:.4f} [{diff.low:+.4f}, {diff.high:+.4f}], one-sided {p_text}"
        if diff.significant:
            text = (
                f"{column.name} is significantly better than default on test {metric}: {numbers}."
            )
        elif diff.high < 0:
            text = (
                f"{column.name} is significantly WORSE than default on test {metric}: {numbers}."
            )
            if not front:
                text += (
                    " The validation gain did not hold; try --folds 3 or more validation queries."
                )
        else:
            text = (
                f"{column.name} is NOT significantly better than default on test {metric}: "
                f"{numbers}. The difference is within the noise of {diff.n} test queries."
            )
        out.append(Comparison(column.name, metric, text, diff.significant))
    return out


def _interval_text(evaluation: Evaluation, metric: str, seed: int) -> str:
    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    values = evaluation.per_query.get(metric)
    if values is None:
        return f"{evaluation.values[metric]:.4f}"
    return str(bootstrap_ci(values, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=seed))


def report_table(
    columns: list[Column], objective: RecsysObjective, seed: int
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per metric, the test value with its interval, then validation.

    A ``*`` marks the tuned metric (with ``--objectives``, every objective). With
    ``--objectives`` or limits, the validation fit's size and training time follow
    (whether they keep the limits too), then the test fit's.
    """
    from optuna_rl_sampler.recsys.objective import BYTES_PER_MB

    goals = objective.objectives or [objective.metric]
    header = ["metric", *(c.name for c in columns)]
    rows = []
    for metric in objective.metrics:
        mark = "*" if metric in goals else ""
        rows.append(
            [f"{metric}{mark} test", *(_interval_text(c.test, metric, seed) for c in columns)]
        )
    for metric in objective.metrics:
        mark = "*" if metric in goals else ""
        rows.append([f"{metric}{mark} valid", *(f"{c.valid[metric]:.4f}" for c in columns)])
    extended = objective.objectives is not None or bool(objective.constraints)
    if extended:
        for cost, label, fmt in (("model_mb", "model MB", ".4f"), ("train_s", "train s", ".2f")):
            mark = "*" if cost in goals else ""
            rows.append(
                [f"{label}{mark} (valid)", *(f"{c.valid_costs[cost]:{fmt}}" for c in columns)]
            )
    if objective.constraints:
        rows.append(["feasible (valid)", *("yes" if c.feasible else "NO" for c in columns)])
    rows.append(["train s (test fit)", *(f"{c.test.train_time_s:.2f}" for c in columns)])
    if extended:
        rows.append(
            [
                "model MB (test fit)",
                *(f"{c.test.model_size_bytes / BYTES_PER_MB:.4f}" for c in columns),
            ]
        )
    return header, rows


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cells(row: list[str]) -> str:
        return "| " + " | ".join(cell.replace("*", "\\*") for cell in row) + " |"

    lines = [cells(header), "|" + "---|" * len(header)]
    lines += [cells(row) for row in rows]
    return "\n".join(lines)


def _studies_of(columns: list[Column]) -> list[tuple[optuna.Study, float]]:
    """The studies of the columns, once each, in order, with their tuning time."""
    seen: dict[int, tuple[optuna.Study, float]] = {}
    for c in columns:
        if c.study is not None and id(c.study) not in seen:
            seen[id(c.study)] = (c.study, c.tune_s)
    return list(seen.values())


def _sampler_rows(
    columns: list[Column], objective: RecsysObjective
) -> tuple[list[str], list[list[str]]]:
    """Header and one row per study: trials, pruned, the result, tuning time (and with
    limits the feasible trials)."""
    import optuna

    multi = objective.objectives is not None
    header = ["sampler" if multi else "column", "study", "trials", "pruned"]
    header += ["front" if multi else "best", "tune s"]
    if objective.constraints:
        header.append("feasible")
    rows = []
    for study, tune_s in _studies_of(columns):
        states = [t.state for t in study.trials]
        mine = [c for c in columns if c.study is study]
        if multi:
            first = str(study.user_attrs.get("sampler", "?"))
            result = f"{len(_pareto.pareto_front(study))} trials"
        else:
            first = mine[0].name
            trial = mine[0].trial
            result = f"#{trial.number}" if trial is not None else "-"
        row = [first, study.study_name, str(len(states))]
        row += [str(states.count(optuna.trial.TrialState.PRUNED)), result, f"{tune_s:.1f}"]
        if objective.constraints:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            row.append(f"{sum(_pareto.is_feasible(t) for t in complete)}/{len(complete)}")
        rows.append(row)
    return header, rows


# ----------------------------------------------------------------------------- files


def _make_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file (the default one lives in ``runs/``)."""
    match = re.match(r"^sqlite(?:\+\w+)?:///(.+)$", url)
    if match is not None and match.group(1) != ":memory:":
        Path(match.group(1)).parent.mkdir(parents=True, exist_ok=True)


def absolute_storage(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so it works from any folder."""
    match = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", url)
    if match is None or match.group(2) == ":memory:":
        return url
    return match.group(1) + str(Path(match.group(2)).resolve())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _save_plots(
    columns: list[Column], objective: RecsysObjective, out: Path, seed: int
) -> dict[str | None, list[Path]]:
    """PNG plots: each study's optimisation history, or with ``--objectives`` its
    Pareto front (keyed by study name), and the test intervals of every column on the
    main metric (key ``None``, shared by all studies)."""
    metric = objective.metric
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print(f"Plots skipped: matplotlib is not installed ({exc}); pip install matplotlib.")
        return {}
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    plots: dict[str | None, list[Path]] = {}
    for study, _ in _studies_of(columns):
        if objective.objectives is not None:
            front_plot = _pareto.save_front_plot(
                study,
                objective.objectives,
                out / f"{_safe(study.study_name)}.pareto.png",
                default_trial(study),
            )
            plots[study.study_name] = [front_plot] if front_plot else []
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ax = plot_optimization_history(study, target_name=f"valid {metric}")
        path = out / f"{_safe(study.study_name)}.history.png"
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
        plots[study.study_name] = [path]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(columns), 3.2))
    for i, c in enumerate(columns):
        values = c.test.per_query.get(metric)
        if values is None:
            ax.bar(i, c.test.values[metric], color="tab:blue")
            continue
        ci = bootstrap_ci(values, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=seed)
        ax.bar(i, ci.mean, color="tab:orange" if c.study is not None else "tab:blue")
        ax.errorbar(i, ci.mean, yerr=[[ci.mean - ci.low], [ci.high - ci.mean]], color="k")
    ax.set_xticks(range(len(columns)), [c.name for c in columns], rotation=20)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"test {metric}, {CONFIDENCE:.0%} bootstrap intervals")
    first = next((c.study.study_name for c in columns if c.study is not None), "report")
    path = out / f"{_safe(first)}.test.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    plots[None] = [path]
    return plots


def _save_note(study: optuna.Study, body: str) -> bool:
    try:
        from optuna_dashboard import save_note
    except ImportError as exc:
        print(
            f"Study note skipped: optuna-dashboard is not installed ({exc}); "
            "pip install 'optuna-rl-sampler[dashboard]' to get the note."
        )
        return False
    save_note(study, body)
    return True


def _upload(
    store: Any, study: optuna.Study, target: optuna.Study, path: Path, mimetype: str | None = None
) -> None:
    from optuna.artifacts import upload_artifact

    with warnings.catch_warnings():
        import optuna

        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        upload_artifact(
            artifact_store=store,
            file_path=str(path),
            study_or_trial=target,
            storage=study._storage,
            mimetype=mimetype,
        )


def save_outputs(
    columns: list[Column],
    objective: RecsysObjective,
    args: argparse.Namespace,
    note: str,
) -> tuple[Path, list[Path]]:
    """Best params JSON (with ``--objectives``: the front's JSON), report, plots; study
    notes; artifacts. Returns the artifact folder and the files written."""
    from optuna.artifacts import FileSystemArtifactStore

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    artifacts = out / "artifacts"
    artifacts.mkdir(exist_ok=True)
    store = FileSystemArtifactStore(str(artifacts))
    plots = _save_plots(columns, objective, out, args.seed)
    written: list[Path] = []
    for study, _ in _studies_of(columns):
        mine = [c for c in columns if c.study is study]
        base: dict[str, Any] = {
            "storage": absolute_storage(args.storage),
            "dataset": objective.data.name,
            "model": objective.family.name,
            "metric": objective.metric,
            "folds": len(objective.folds),
        }
        if objective.objectives is not None:
            default = default_trial(study)
            record = _pareto.front_record(
                study,
                _pareto.pareto_front(study),
                objective.objectives,
                objective.constraints,
                tests={c.trial.number: c.test.values for c in mine if c.trial is not None},
                default_number=None if default is None else default.number,
                extra=base,
            )
            params_path = _pareto.save_front_json(
                record, out / f"{_safe(study.study_name)}.pareto.json"
            )
        else:
            column = mine[0]
            assert column.trial is not None
            record = {
                "study": study.study_name,
                **base,
                "trial": column.trial.number,
                "valid_value": column.trial.value,
                "test": column.test.values,
                "params": column.trial.params,
            }
            if objective.constraints:
                record.update(
                    limits=objective.constraints,
                    feasible=column.feasible,
                    costs=column.valid_costs,
                )
            params_path = out / f"{_safe(study.study_name)}.best_params.json"
            params_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        report_path = out / f"{_safe(study.study_name)}.report.md"
        report_path.write_text(note + "\n")
        written += [params_path, report_path]
        _save_note(study, note)
        # A finished trial cannot take artifacts, so everything goes to the study.
        _upload(store, study, study, params_path, "application/json")
        _upload(store, study, study, report_path, "text/markdown")
        for plot in plots.get(study.study_name, []) + plots.get(None, []):
            _upload(store, study, study, plot, "image/png")
    return artifacts, written + [p for paths in plots.values() for p in paths]


# ---------------------------------------------------------------------------- report


def _legend(objective: RecsysObjective, args: argparse.Namespace) -> str:
    """What the report's marks and columns mean."""
    limits = objective.constraints
    multi = objective.objectives is not None
    first = f"the first trial of every study is {args.model}'s default configuration"
    if multi:
        result = (
            "front#N = trial N of the study's Pareto front on validation (its completed "
            f"{'feasible ' if limits else ''}trials that no other one dominates), refit on "
            f"test: at most {_pareto.MAX_FRONT_COLUMNS} per study, the best on each objective "
            f"and then evenly spaced along the front sorted by {objective.objectives[0]}; "
            f"{first}, so it is on the front or dominated"
        )
    elif limits:
        result = (
            f"tuned = the best feasible trial; {first}, so tuned >= default on validation "
            "when the default is feasible"
        )
    else:
        result = f"tuned = the best trial ({first}, so tuned >= default on validation)"
    if limits:
        caps = ", ".join(
            f"{_pareto.COST_LABELS[n][0]} <= {v:g} {_pareto.COST_LABELS[n][1]}"
            for n, v in limits.items()
        )
        result += (
            f"; feasible: the validation fit keeps the limits ({caps}; training time is "
            "noisy); infeasible#N = the least-violating trial of a study with no feasible one"
        )
    return (
        f"* {'an objective' if multi else 'the tuned metric'}. test: refit on train + valid "
        "(for the boosting rounds or epochs early stopping kept on validation), ranked for "
        f"the test period, mean [{CONFIDENCE:.0%} bootstrap interval: {RESAMPLES} resamples "
        f"of the {len(objective.test_queries)} test queries, seed {args.seed}]; coverage is "
        f"catalogue-level (no interval). {'column' if multi else 'tuned'} - default: paired "
        "bootstrap over the same test queries; significant when its interval excludes 0 "
        f"(one-sided p below {(1 - CONFIDENCE) / 2:g}). valid: the trials' values (mean over "
        f"the folds). {result}; popularity = most-popular baseline."
    )


def _study_lines(
    columns: list[Column], objective: RecsysObjective, args: argparse.Namespace
) -> list[str]:
    """Print each study's result (best trial and params, or its Pareto front); returns
    the Markdown of the fronts for the note."""
    import optuna

    markdown: list[str] = []
    limits = objective.constraints
    for study, _ in _studies_of(columns):
        mine = [c for c in columns if c.study is study]
        if objective.objectives is None:
            column = mine[0]
            trial = column.trial
            assert trial is not None
            what = "Best" if column.feasible is not False else "Least-violating (INFEASIBLE)"
            feasible = " feasible" if column.feasible else ""
            costs = (
                f" (model {column.valid_costs['model_mb']:.4g} MB, train "
                f"{column.valid_costs['train_s']:.3g} s)"
                if limits
                else ""
            )
            print(f"\n{what}{feasible} trial of {study.study_name!r}: #{trial.number}, valid "
                  f"{args.metric} = {trial.value:.4f}{costs}")  # fmt: skip
            print("Best params:" if column.feasible is not False else "Its params:")
            for key, value in trial.params.items():
                shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
                print(f"  {key}: {shown}")
            continue
        front = _pareto.pareto_front(study)
        default = default_trial(study)
        header, rows = _pareto.front_table(
            front,
            objective.objectives,
            default_number=None if default is None else default.number,
            tested=[c.trial.number for c in mine if c.trial is not None],
        )
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        n_feasible = sum(_pareto.is_feasible(t) for t in complete)
        title = (
            f"Pareto front of {study.study_name!r} on validation: {len(front)} of "
            f"{len(complete)} completed trials"
            + (f" ({n_feasible} feasible)" if limits else "")
            + f", sorted by {objective.objectives[0]}"
        )
        print(f"\n{title}:")
        if front:
            print(_text_table(header, rows))
            markdown += [f"### {title}", "", _markdown_table(header, rows), ""]
        else:
            print("  (empty: no completed trial is feasible)")
    return markdown


def print_report(
    columns: list[Column], objective: RecsysObjective, args: argparse.Namespace
) -> str:
    """Print the report; returns it as Markdown for the study note and the report file."""
    from optuna_rl_sampler.recsys.objective import COSTS

    data = objective.data
    split = objective.split.method or "custom"
    n_valid = sum(len(q) for _, q in objective.folds)
    multi = objective.objectives is not None
    print()
    print(
        f"Data: {data.name} ({data.n_users} users, {data.n_items} items, "
        f"{data.n_interactions} events); split: {split}; {n_valid} validation queries in "
        f"{len(objective.folds)} fold(s), {len(objective.test_queries)} test queries"
    )
    front_markdown = _study_lines(columns, objective, args)
    warnings_text: list[str] = []
    default = next(c for c in columns if c.name == "default")
    if default.feasible is False:
        warnings_text.append(
            "The default configuration breaks the limits on validation ("
            f"{_pareto.broken_limits(default.valid_costs, objective.constraints)}), so it "
            f"cannot be {'on the front' if multi else 'the tuned result'}; its column is "
            "shown for comparison."
        )
    header, rows = report_table(columns, objective, args.seed)
    print()
    print(_text_table(header, rows))
    metrics = [o for o in objective.objectives if o not in COSTS] if multi else [objective.metric]
    comparisons: list[Comparison] = []
    for metric in metrics:
        for comparison in compare_to_default(columns, metric, args.seed, front=multi):
            if all(comparison.text != c.text for c in comparisons):
                comparisons.append(comparison)
    print()
    for comparison in comparisons:
        print(comparison.text)
    for text in warnings_text:
        print(text)
    sampler_header, sampler_rows = _sampler_rows(columns, objective)
    if len(sampler_rows) > 1:
        print()
        print(_text_table(sampler_header, sampler_rows))
    legend = _legend(objective, args)
    print(legend)
    what = "Pareto front" if multi else "tuned"
    note = "\n".join(
        [
            f"## {objective.family.name} on {data.name}: {what} vs default vs popularity",
            "",
            *front_markdown,
            _markdown_table(header, rows),
            "",
            *(f"- {c.text}" for c in comparisons),
            *(f"- {text}" for text in warnings_text),
            "",
            legend,
        ]
    )
    return note


def print_transfer(study: optuna.Study) -> None:
    """Which past studies RLSampler transferred from, as its last proposal says."""
    from optuna_rl_sampler.sampler import REASON_KEY

    for trial in reversed(study.trials):
        prior = trial.system_attrs.get(REASON_KEY, {}).get("prior")
        if prior:
            weights = ", ".join(f"{k} {v:.2f}" for k, v in prior["top_sources"].items())
            print(
                f"Transfer (trial #{trial.number}): {prior['n_sources']} matching past "
                f"studies, weight {prior['source_weight']:.2f} (this study's own "
                f"{prior['own_weight']:.2f}); top: {weights}"
            )
            return


# ------------------------------------------------------------------------------ main


def _run(recipe: Recipe, args: argparse.Namespace) -> int:
    from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS
    from optuna_rl_sampler.recsys.objective import make_objective

    extra = DEFAULT_EXTRA_METRICS if recipe.extra_metrics is None else recipe.extra_metrics
    # 0. --objectives and the limits, checked before any work.
    resolve_goals(args)

    # 1. The data: a registered dataset source reads --data, or synthetic data.
    data = load_data(args)
    if recipe.check_data is not None:
        recipe.check_data(data)
    # 2. One split and one set of validation folds and test queries, reused by every
    #    trial of every sampler.
    objective = make_objective(
        args.model,
        data,
        args.metric,
        max_valid_queries=args.max_valid_queries,
        max_test_queries=args.max_test_queries,
        extra_metrics=extra,
        seed=args.seed,
        folds=args.folds,
        objectives=args.objectives,
        constraints=args.limits,
    )
    # 3. One study per sampler, same seed; the first trial is the default configuration.
    created = [
        (sampler, create_study(args, data, objective, sampler)) for sampler in args.samplers
    ]
    _check_like_for_like(created)
    studies = []
    for sampler, study in created:
        seconds = tune(study, objective, args)
        if sampler == "rl":
            print_transfer(study)
        studies.append((sampler, study, seconds))
    # 4. Tuned (or the Pareto front) vs default vs popularity on test, with intervals.
    columns = evaluate_columns(objective, studies)
    note = print_report(columns, objective, args)
    # 5. JSON (best params, or the front), report, plots, study note, artifacts; the
    #    dashboard command.
    artifacts, files = save_outputs(columns, objective, args, note)
    print(f"\nSaved: {', '.join(str(p) for p in files)}")
    print("\nSee every trial, the note and the artifacts in the dashboard:")
    for line in dashboard_hint(args.storage, artifacts):
        print(f"  {line}")
    return 0


def dashboard_hint(storage: str, artifacts: Path | str) -> list[str]:
    """The command that opens the study in optuna-dashboard, preceded by its install
    line when the command is not installed (never a command that fails as not found)."""
    command = f"optuna-dashboard {absolute_storage(storage)} --artifact-dir {artifacts}"
    if shutil.which("optuna-dashboard") is None:
        return [
            'pip install "optuna-dashboard>=0.15"   # first: it is not installed here',
            command,
        ]
    return [command]


def main(recipe: Recipe, argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the recipe; user errors become one line and exit 2."""
    args = parse_args(recipe, argv)
    if args.traceback:
        return _run(recipe, args)
    try:
        return _run(recipe, args)
    except KeyboardInterrupt:
        print("interrupted; finished trials are saved in the study", file=sys.stderr)
        return 130
    except (RecipeError, ValueError, FileNotFoundError, ImportError, TypeError) as exc:
        message = " ".join(str(exc).split())
        if isinstance(exc, (ImportError, TypeError)):
            message += " (rerun with --traceback to see where)"
        print(f"{args.domain}.py: error: {message}", file=sys.stderr)
        return 2
