"""Shared logic of the tuning recipes (``recipes/news.py``, ``ecommerce.py``, ``social.py``).

A recipe reads like this, and each domain script spells these steps out::

    args = parse_args(DOMAIN, DEFAULT_METRIC, __doc__, argv)
    data = load_data(args)
    objective = make_objective(args.model, data, args.metric, ...)
    study = create_study(args, data)
    study.optimize(objective, n_trials=args.trials, show_progress_bar=True)
    print_report(study, objective, args)

Errors a user can fix (a bad path, an unknown model or sampler) end the script with a
one-line message and exit status 2; ``--traceback`` shows the full trace instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.objective import RecsysObjective

# LightGBM's OpenMP threads spin while they wait; on a machine that is busy with other
# work that makes boosting tens of times slower. Passive waiting costs nothing when the
# cores are free. It must be set before LightGBM (libgomp) is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SAMPLERS = ("rl", "tpe", "random", "gp", "cmaes", "qmc")

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


def parse_args(
    domain: str, default_metric: str, description: str | None, argv: Sequence[str] | None
) -> argparse.Namespace:
    """The command line every recipe shares."""
    parser = argparse.ArgumentParser(
        prog=f"{domain}.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="folder (or file) of a real dataset; default: synthetic data of this domain",
    )
    parser.add_argument(
        "--format",
        help="format of --data (mind, amazon-seq, yoochoose, lastfm-hetrec, filmtrust, "
        "movielens); default: detected from the files",
    )
    parser.add_argument(
        "--size",
        choices=list(SIZES),
        default="quick",
        help="size of the synthetic data (default: quick; ignored with --data)",
    )
    parser.add_argument("--trials", type=int, default=30, help="trials to run (default: 30)")
    parser.add_argument(
        "--model", default="lightgbm-ranker", help="registered model (default: lightgbm-ranker)"
    )
    parser.add_argument(
        "--metric",
        default=default_metric,
        help=f"validation metric to maximise (default: {default_metric})",
    )
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default="rl", help="Optuna sampler (default: rl)"
    )
    parser.add_argument(
        "--no-transfer",
        action="store_true",
        help="with --sampler rl: do not transfer from the past studies shipped with the "
        "package (by default they are used when the model's search space matches)",
    )
    parser.add_argument(
        "--storage",
        default=f"sqlite:///recipes-{domain}.db",
        help=f"Optuna storage URL (default: sqlite:///recipes-{domain}.db)",
    )
    parser.add_argument(
        "--study-name",
        help="study name (default: <domain>-<dataset>-<model>-<sampler>-seed<seed>); an "
        "existing study of that name is resumed",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    parser.add_argument(
        "--max-valid-queries",
        type=int,
        default=500,
        help="validation queries per trial, drawn at random (default: 500)",
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
    if args.format is not None and args.data is None:
        parser.error("--format describes --data; pass --data PATH too")
    for flag in ("max_valid_queries", "max_test_queries"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    args.domain = domain
    return args


def load_data(args: argparse.Namespace) -> Interactions:
    """``--data`` loaded with ``--format``, or the domain's synthetic data at ``--size``."""
    if args.data is None:
        from optuna_rl_sampler.recsys.synthetic import make_dataset

        preset, knobs = SIZES[args.size]
        data = make_dataset(args.domain, preset, seed=args.seed, **knobs.get(args.domain, {}))
        if args.size != preset:
            from dataclasses import replace

            data = replace(data, name=f"synthetic_{args.domain}_{args.size}")
        return data
    from optuna_rl_sampler.recsys.loaders import load_dataset

    try:
        return load_dataset(args.data, format=args.format)
    except (FileNotFoundError, ValueError) as exc:
        raise RecipeError(f"cannot load --data {args.data}: {exc}") from exc


def make_sampler(
    name: str, seed: int, budget: int, transfer: bool = True
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (one of :data:`SAMPLERS`), seeded.

    ``rl`` uses the shipped meta-model and, unless ``transfer`` is off, the shipped
    corpus of past studies as sources (``RLSampler(source_studies="auto")``).
    """
    import optuna

    if name == "rl":
        try:
            from optuna_rl_sampler import RLSampler
        except Exception as exc:  # noqa: BLE001 - any import failure gets the same advice
            raise RecipeError(
                f"--sampler rl needs optuna_rl_sampler.RLSampler, which failed to import "
                f"({type(exc).__name__}: {exc}); run with --sampler tpe instead"
            ) from exc
        sampler = RLSampler(
            seed=seed, budget=max(budget, 1), source_studies="auto" if transfer else None
        )
        n_sources = len(sampler.source_studies)
        print(
            f"RLSampler: meta-model {sampler.weights.name!r}; "
            + (
                f"transfer from the {n_sources} shipped past studies whose search space "
                "matches this model's (--no-transfer to turn off)."
                if transfer and n_sources
                else "no transfer (no shipped past studies)."
                if transfer
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
    raise RecipeError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def create_study(args: argparse.Namespace, data: Interactions) -> optuna.Study:
    """A maximising study in ``--storage`` with the chosen sampler and a median pruner."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = args.study_name or (
        f"{args.domain}-{data.name}-{args.model}-{args.sampler}-seed{args.seed}"
    )
    try:
        storage = optuna.storages.get_storage(args.storage)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds
        raise RecipeError(f"cannot open --storage {args.storage}: {exc}") from exc
    try:
        done = len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:
        done = 0
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        sampler=make_sampler(
            args.sampler, args.seed, budget=done + args.trials, transfer=not args.no_transfer
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
        load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise RecipeError(f"study {name!r} in {args.storage} minimises; pass another --study-name")
    study.set_user_attr("domain", args.domain)
    study.set_user_attr("dataset", data.name)
    study.set_user_attr("model", args.model)
    study.set_user_attr("metric", args.metric)
    if done:
        print(f"Resuming study {name!r} ({done} trials so far).")
    return study


def tune(study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace) -> float:
    """Run ``--trials`` trials with a progress bar; returns the wall time in seconds."""
    import optuna

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=args.trials, show_progress_bar=not args.no_progress)
    return time.perf_counter() - start


def _fmt(value: float) -> str:
    return f"{value:.4f}" if value == value else "nan"


def print_report(
    study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace, tune_s: float
) -> None:
    """Best parameters, then tuned vs default vs popularity on valid and test."""
    import optuna

    from optuna_rl_sampler.recsys.baselines import Popularity

    data = objective.data
    states = [t.state for t in study.trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    print()
    print(
        f"Study {study.study_name!r}: {len(states)} trials ({complete} complete, "
        f"{pruned} pruned); this run: {args.trials} trials in {tune_s:.1f} s"
    )
    print(
        f"Data: {data.name} ({data.n_users} users, {data.n_items} items, "
        f"{data.n_interactions} events); split: {objective.split.method or 'custom'}; "
        f"{len(objective.valid_queries)} validation and {len(objective.test_queries)} "
        "test queries"
    )
    columns: dict[str, Callable[[], dict[str, dict[str, float]]]] = {}
    if complete:
        best = study.best_trial
        print(f"\nBest trial #{best.number}: valid {args.metric} = {_fmt(best.value)}")
        print("Best params:")
        for key, value in best.params.items():
            shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
            print(f"  {key}: {shown}")
        columns["tuned"] = lambda: objective.report_params(best.params)
    else:
        print("\nNo trial completed yet, so there are no tuned parameters to report.")
    columns["default"] = lambda: objective.report_params(objective.family.default_params())
    columns["popularity"] = lambda: objective.report_params(
        Popularity().default_params(), model="popularity"
    )
    results = {name: compute() for name, compute in columns.items()}

    print(f"\n{'metric':<13}{'split':<7}" + "".join(f"{name:>12}" for name in results))
    for metric in objective.metrics:
        for split in ("valid", "test"):
            mark = "*" if metric == args.metric else " "
            row = f"{metric + mark:<13}{split:<7}"
            row += "".join(f"{_fmt(r[split][metric]):>12}" for r in results.values())
            print(row)
    for split in ("valid", "test"):
        row = f"{'train s':<13}{split:<7}"
        row += "".join(f"{r[split]['train_time_s']:>12.2f}" for r in results.values())
        print(row)
    _print_transfer(study)
    print(f"* the tuned metric. tuned = best trial's params, default = {args.model}'s default")
    print("params, popularity = most-popular baseline. valid: fit on train, as in the trials;")
    print("test: refit on train + valid, then ranked for the test period.")
    print("\nSee every trial in the dashboard:")
    print(f"  optuna-dashboard {args.storage}")


def _print_transfer(study: optuna.Study) -> None:
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


def run(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call ``main(args)``; user errors become one line on stderr and exit status 2."""
    if args.traceback:
        return main(args)
    try:
        return main(args)
    except KeyboardInterrupt:
        print("interrupted; finished trials are saved in the study", file=sys.stderr)
        return 130
    except (RecipeError, ValueError, FileNotFoundError, ImportError, TypeError) as exc:
        message = " ".join(str(exc).split())
        if isinstance(exc, (ImportError, TypeError)):
            message += " (rerun with --traceback to see where)"
        print(f"{args.domain}.py: error: {message}", file=sys.stderr)
        return 2
