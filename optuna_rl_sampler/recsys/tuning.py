"""Tune a recommender for one domain and report tuned vs default vs popularity on test.

The workflow behind ``optuna-rl tune --domain {news,ecommerce,social}`` and the scripts
``recipes/news.py``, ``recipes/ecommerce.py`` and ``recipes/social.py``. A
:class:`Recipe` (the domain's metric, extra metrics and model; :data:`RECIPES` holds the
three) and the shared command line (:func:`add_arguments`) go to :func:`run`, which does
the same steps for every domain:

1. load ``--data`` (any registered dataset source), or the domain's synthetic data;
2. split it once and build the objective (``--folds`` rolling validation windows);
3. for each sampler of ``--sampler`` (``rl,tpe,random`` compares them): a study whose
   first trial is the model's default configuration, so the tuned result is never
   below the default on validation; tune for ``--trials`` trials
   (:mod:`~optuna_rl_sampler.recsys.tuning_studies`);
4. refit tuned, default and popularity and rank the test queries: a table with
   bootstrap 95% intervals, the paired bootstrap of tuned - default, and a plain
   verdict (:mod:`~optuna_rl_sampler.recsys.tuning_report`);
5. save the best parameters as JSON, a report and plots in ``--out``; set the study's
   metric name; write the table as the study's note in optuna-dashboard; upload the
   JSON, report and plots to an artifact store; print the dashboard command.

Several goals (the fronts are in :mod:`~optuna_rl_sampler.recsys.pareto`):

- ``--objectives ndcg@10,coverage@10`` (2 or 3 metric specs, maximised, or the costs
  ``train_s`` and ``model_mb``, minimised) makes each study multi-objective (no pruning:
  Optuna has none there; ``cmaes`` is refused, ``nsga2`` is offered). The study name
  gets ``-mo-<objectives>``. Step 4 then prints each study's Pareto front on validation
  and refits at most 5 front trials spread along it (columns ``front#<trial>``,
  :func:`~optuna_rl_sampler.recsys.pareto.pick_front` says which) beside default and
  popularity; step 5 saves the front as ``<study>.pareto.json`` and its plot instead of
  the best parameters.
- ``--max-model-mb X`` and ``--max-train-s Y`` cap the model's size and the trial's
  training time: the objective sets each trial's constraint values (``cost - limit``,
  feasible when ``<= 0``) with Optuna's ``Trial.set_constraint``, which every sampler
  reads. Tuned is the best feasible trial and the front holds feasible trials only;
  with none feasible the least-violating trial is reported, as ``infeasible#<trial>``.
  The report gives each column's size, training time and feasibility, and says when
  the default configuration itself breaks a limit.

Errors a user can fix (a bad path, an unknown model or sampler, a bad objective) end the
command with a one-line message and exit status 2; ``--traceback`` shows the full trace
instead.

Example:
    In a script, the whole command line of a recipe (what ``recipes/social.py`` runs)::

        from optuna_rl_sampler.recsys.tuning import main

        main(["--size", "tiny", "--trials", "3", "--sampler", "random"], domain="social")
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS
from optuna_rl_sampler.recsys.tuning_studies import TuningError
from optuna_rl_sampler.recsys.tuning_studies import absolute_storage
from optuna_rl_sampler.recsys.tuning_studies import sampler_choices

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Interactions

__all__ = [
    "COMMAND_DESCRIPTION",
    "RECIPES",
    "SIZES",
    "Recipe",
    "TuningError",
    "add_arguments",
    "check_args",
    "dashboard_hint",
    "load_data",
    "main",
    "resolve_goals",
    "run",
    "run_command",
]

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


@dataclass(frozen=True)
class Recipe:
    """What makes one domain's tuning different from the others'.

    Attributes:
        domain: ``"news"``, ``"ecommerce"`` or ``"social"``: the synthetic data (the
            registered dataset source ``synthetic-<domain>``), the default storage and
            output folder, and the recipe script's name.
        metric: The validation metric tuned by default.
        summary: One line on the domain, for ``optuna-rl tune --help``.
        extra_metrics: Further metrics recorded per trial and shown in the report
            (``None``: :data:`~optuna_rl_sampler.recsys.objective.DEFAULT_EXTRA_METRICS`).
        model: The model family tuned by default.
        check_data: Called with the loaded data; may print a note about it.
    """

    domain: str
    metric: str
    summary: str = ""
    extra_metrics: tuple[str, ...] | None = None
    model: str = "lightgbm-ranker"
    check_data: Callable[[Interactions], None] | None = field(default=None, compare=False)


def _note_missing_social_graph(data: Interactions) -> None:
    if data.social is None:
        print(f"Note: {data.name} has no social graph; friends add nothing to the model.")


#: The three domains: what ``--domain`` picks, and what each ``recipes/<domain>.py`` runs.
RECIPES: dict[str, Recipe] = {
    "news": Recipe(
        domain="news",
        metric="ndcg@10",
        summary="rank the articles of each impression by click probability; temporal "
        "split; synthetic MIND-like data",
        # An impression shows few articles, so hit rate and recall at 10 are nearly
        # always 1; these tell the models apart.
        extra_metrics=("ndcg@5", "mrr", "hitrate@1", "recall@3"),
    ),
    "ecommerce": Recipe(
        domain="ecommerce",
        metric="recall@20",
        summary="predict what each shopper buys next over the whole catalogue; "
        "synthetic Amazon/YOOCHOOSE-like data",
        extra_metrics=(*DEFAULT_EXTRA_METRICS, "ndcg@20"),
    ),
    "social": Recipe(
        domain="social",
        metric="ndcg@10",
        summary="suggest what a user will like, helped by the friend graph; "
        "leave-last-out split; synthetic Last.fm-like data",
        check_data=_note_missing_social_graph,
    ),
}

#: ``optuna-rl tune --help``'s description.
COMMAND_DESCRIPTION = "\n".join(
    [
        textwrap.fill(
            "Tune a recommender model on one domain's data (a real dataset with --data, or "
            "the domain's synthetic data), then refit tuned, default and popularity and "
            "compare them on the test queries with bootstrap intervals and a paired test. "
            "The first trial of every study is the model's default configuration. Saves "
            "the best parameters (JSON), a report and plots, writes the study note and "
            "prints the optuna-dashboard command. The same run as "
            "python recipes/<domain>.py.",
            width=88,
        ),
        "",
        "domains (--domain picks the default --metric, --model, synthetic data, --storage",
        "and --out):",
        *(
            textwrap.fill(
                f"{r.domain:<10} {r.metric}, {r.model}: {r.summary}",
                width=88,
                initial_indent="  ",
                subsequent_indent=" " * 13,
            )
            for r in RECIPES.values()
        ),
    ]
)


# ------------------------------------------------------------------------- arguments


def add_arguments(parser: argparse.ArgumentParser, recipe: Recipe | None = None) -> None:
    """Add the tuning command line to ``parser``.

    Args:
        parser: The parser of a recipe script, or of ``optuna-rl tune``.
        recipe: The recipe script's domain: its defaults are the arguments' defaults.
            ``None`` (``optuna-rl tune``): a required ``--domain`` picks them, after
            parsing (:func:`check_args`).
    """
    if recipe is None:
        parser.add_argument(
            "--domain",
            required=True,
            choices=list(RECIPES),
            help="the recommender's domain: picks the synthetic data and the defaults of "
            "--metric, --model, --storage and --out (see above)",
        )
    else:
        parser.set_defaults(domain=recipe.domain)
    domain = "<domain>" if recipe is None else recipe.domain
    model_default = "the domain's" if recipe is None else recipe.model
    metric_default = "the domain's" if recipe is None else recipe.metric
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="folder (or file) of a real dataset, or generated data named by a registered "
        "source and its arguments, e.g. synthetic-ecommerce:popularity_skew=1.5 "
        "(optuna-rl data list); default: synthetic data of this domain at --size",
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
        "--model",
        default=None if recipe is None else recipe.model,
        help=f"registered model (default: {model_default})",
    )
    parser.add_argument(
        "--metric",
        help=f"validation metric to maximise (default: {metric_default}); not with "
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
        f"with the same seed (one of {', '.join(sampler_choices())}; default: rl); nsga2 is meant "
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
        default=None if recipe is None else f"sqlite:///runs/recipes-{domain}.db",
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
        default=None if recipe is None else f"runs/recipes-{domain}",
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


def check_args(args: argparse.Namespace) -> Recipe:
    """Check the parsed command line, fill in the domain's defaults and return its recipe.

    Idempotent: :func:`main` checks before :func:`run_command` checks again.

    Sets ``args.samplers`` (the ``--sampler`` list) and ``args.default_metric``; fills
    ``--model``, ``--storage`` and ``--out`` when they were left to the domain.

    Raises:
        TuningError: A bad value (negative ``--trials``, ``--format`` without ``--data``,
            an unknown or repeated sampler, ...); the message is the one line to print.
    """
    recipe = RECIPES[args.domain]
    if args.trials < 0:
        raise TuningError(f"--trials must be 0 or more, got {args.trials}")
    if args.folds < 1:
        raise TuningError(f"--folds must be 1 or more, got {args.folds}")
    if args.format is not None and args.data is None:
        raise TuningError("--format describes --data; pass --data PATH too")
    for flag in ("max_valid_queries", "max_test_queries"):
        if getattr(args, flag) < 1:
            raise TuningError(
                f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}"
            )
    samplers = [s.strip().lower() for s in args.sampler.split(",") if s.strip()]
    unknown = [s for s in samplers if s not in sampler_choices()]
    if not samplers or unknown:
        raise TuningError(
            f"--sampler {args.sampler!r}: unknown {', '.join(map(repr, unknown)) or 'empty'}; "
            f"choose from {', '.join(sampler_choices())}, separated by commas"
        )
    if len(set(samplers)) < len(samplers):
        raise TuningError(f"--sampler {args.sampler!r} names a sampler twice")
    args.samplers = samplers
    args.default_metric = recipe.metric
    if args.model is None:
        args.model = recipe.model
    if args.storage is None:
        args.storage = f"sqlite:///runs/recipes-{recipe.domain}.db"
    if args.out is None:
        args.out = f"runs/recipes-{recipe.domain}"
    return recipe


def resolve_goals(args: argparse.Namespace) -> None:
    """Check ``--objectives`` and the limits before any work; set ``args.objectives``
    (a list, or ``None`` for one metric), ``args.metric`` and ``args.limits``.

    Raises:
        TuningError: A bad objective (unknown, repeated, not 2 or 3, no metric), a
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
            raise TuningError(f"--objectives {given!r}: {exc}") from None
        if not 2 <= len(objectives) <= 3:
            raise TuningError(
                f"--objectives {given!r} gives {len(objectives)}; give 2 or 3 separated by "
                "commas, e.g. ndcg@10,coverage@10 (for one metric use --metric)"
            )
        if args.metric is not None:
            raise TuningError(
                f"--metric {args.metric!r} and --objectives {given!r} both given; put the "
                "metric in --objectives (the first metric there is the report's main one)"
            )
        usable_names = sampler_choices(multi_objective=True)
        refused = [s for s in args.samplers if s not in usable_names]
        if refused:
            usable = ", ".join(usable_names)
            why = (
                "Optuna's CmaEsSampler is single-objective (it raises ValueError on a "
                "multi-objective study)"
                if refused[0] == "cmaes"
                else "it is registered as single-objective"
            )
            raise TuningError(
                f"--sampler {refused[0]} cannot take --objectives: {why}; use one of {usable}"
            )
        args.objectives = objectives
        args.metric = next(o for o in objectives if o not in COSTS)
    limits = {"model_mb": args.max_model_mb, "train_s": args.max_train_s}
    flags = {"model_mb": "--max-model-mb", "train_s": "--max-train-s"}
    for name, limit in limits.items():
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise TuningError(f"{flags[name]} must be a positive number, got {limit:g}")
    args.limits = parse_constraints({k: v for k, v in limits.items() if v is not None})


# ------------------------------------------------------------------------------ data


def load_data(args: argparse.Namespace) -> Interactions:
    """``--data`` read as a dataset spec, or the domain's synthetic data at ``--size``.

    Both go through the dataset registry (``register_datasets`` hooks) by
    :mod:`~optuna_rl_sampler.recsys.dataset_specs`: ``--data`` is a folder or file
    (``--format`` names its registered loader; ``None``: detected among the built-in
    file formats) or generated data such as ``synthetic-news:n_users=2000``; without it
    the data is the registered source ``synthetic-<domain>`` at the ``--size`` preset.
    """
    from optuna_rl_sampler.recsys.dataset_specs import DatasetSpec
    from optuna_rl_sampler.recsys.dataset_specs import load_dataset_spec

    if args.data is None:
        preset, knobs = SIZES[args.size]
        spec = DatasetSpec(
            f"synthetic-{args.domain}",
            knobs={"size": preset, "seed": args.seed, **knobs.get(args.domain, {})},
        )
        data = load_dataset_spec(spec)
        if args.size != preset:
            from dataclasses import replace

            data = replace(data, name=f"synthetic_{args.domain}_{args.size}")
        return data
    try:
        return load_dataset_spec(args.data, format=args.format)
    except (FileNotFoundError, ValueError) as exc:
        raise TuningError(f"cannot load --data {args.data}: {exc}") from exc


# ------------------------------------------------------------------------------- run


def run(recipe: Recipe, args: argparse.Namespace) -> int:
    """Run the steps of the module docstring for checked arguments (:func:`check_args`).

    Returns:
        The exit status, 0.

    Raises:
        TuningError: A problem the user can fix (and the errors of the data, the model
            and the storage: ``ValueError``, ``FileNotFoundError``, ...).
    """
    from optuna_rl_sampler.recsys.objective import make_objective
    from optuna_rl_sampler.recsys.tuning_report import evaluate_columns
    from optuna_rl_sampler.recsys.tuning_report import print_report
    from optuna_rl_sampler.recsys.tuning_report import save_outputs
    from optuna_rl_sampler.recsys.tuning_studies import check_like_for_like
    from optuna_rl_sampler.recsys.tuning_studies import create_study
    from optuna_rl_sampler.recsys.tuning_studies import print_transfer
    from optuna_rl_sampler.recsys.tuning_studies import tune

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
    check_like_for_like(created)
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


def _passive_openmp() -> None:
    # LightGBM's OpenMP threads spin while they wait; on a machine that is busy with other
    # work that makes boosting tens of times slower. Passive waiting costs nothing when
    # the cores are free. It must be set before LightGBM (libgomp) is first loaded, which
    # the entry points below do before any model is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run_command(args: argparse.Namespace, *, prog: str) -> int:
    """Check and run a parsed command line; errors a user can fix become one line.

    Args:
        args: Parsed by a parser given :func:`add_arguments`.
        prog: The command's name in error lines, e.g. ``"optuna-rl tune"``.

    Returns:
        The exit status: 0, 2 after an error a user can fix (``prog: error: ...`` on
        stderr; ``--traceback`` raises it instead), 130 when interrupted.
    """
    _passive_openmp()
    if args.traceback:
        return run(check_args(args), args)
    try:
        return run(check_args(args), args)
    except KeyboardInterrupt:
        print("interrupted; finished trials are saved in the study", file=sys.stderr)
        return 130
    except (TuningError, ValueError, FileNotFoundError, ImportError, TypeError) as exc:
        message = " ".join(str(exc).split())
        if isinstance(exc, (ImportError, TypeError)):
            message += " (rerun with --traceback to see where)"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


def main(
    argv: Sequence[str] | None = None,
    *,
    domain: str,
    prog: str | None = None,
    description: str | None = None,
) -> int:
    """Entry point of a recipe script: parse its command line and run it.

    Args:
        argv: The arguments after the script's name (``None``: ``sys.argv[1:]``).
        domain: The recipe's domain, a key of :data:`RECIPES`.
        prog: The script's name in ``--help`` and errors (default ``<domain>.py``).
        description: The ``--help`` text (default: the domain's summary).

    Returns:
        The exit status, as :func:`run_command` says. A bad argument exits with status 2
        through ``argparse`` (usage and one line).
    """
    _passive_openmp()
    recipe = RECIPES[domain]
    prog = prog or f"{domain}.py"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or f"Tune a {domain} recommender: {recipe.summary}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, recipe)
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except TuningError as exc:
        parser.error(str(exc))
    return run_command(args, prog=prog)
