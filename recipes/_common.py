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

Errors a user can fix (a bad path, an unknown model or sampler) end the script with a
one-line message and exit status 2; ``--traceback`` shows the full trace instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.objective import Evaluation
    from optuna_rl_sampler.recsys.objective import RecsysObjective

# LightGBM's OpenMP threads spin while they wait; on a machine that is busy with other
# work that makes boosting tens of times slower. Passive waiting costs nothing when the
# cores are free. It must be set before LightGBM (libgomp) is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SAMPLERS = ("rl", "tpe", "random", "gp", "cmaes", "qmc")
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
        default=recipe.metric,
        help=f"validation metric to maximise (default: {recipe.metric})",
    )
    parser.add_argument(
        "--sampler",
        default="rl",
        help="Optuna sampler, or several separated by commas to compare them in one run "
        f"with the same seed (one of {', '.join(SAMPLERS)}; default: rl)",
    )
    parser.add_argument(
        "--no-transfer",
        action="store_true",
        help="with --sampler rl: do not transfer from the past studies shipped with the "
        "package (by default they are used when the model's search space matches)",
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
        default=f"sqlite:///recipes-{domain}.db",
        help=f"Optuna storage URL (default: sqlite:///recipes-{domain}.db)",
    )
    parser.add_argument(
        "--study-name",
        help="study name (default: <domain>-<dataset>-<model>-<sampler>-seed<seed>, with "
        "-folds<K> for K > 1); with several samplers, -<sampler> is appended; an existing "
        "study of that name is resumed",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=f"recipes-{domain}-out",
        help="folder for the best parameters (JSON), the report, the plots and the "
        f"artifact store (default: recipes-{domain}-out)",
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
    return args


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


# --------------------------------------------------------------------------- studies


def study_name(args: argparse.Namespace, data: Interactions, sampler: str) -> str:
    """``--study-name`` (plus ``-<sampler>`` when comparing), or the descriptive default."""
    if args.study_name:
        return args.study_name if len(args.samplers) == 1 else f"{args.study_name}-{sampler}"
    folds = f"-folds{args.folds}" if args.folds > 1 else ""
    return f"{args.domain}-{data.name}-{args.model}-{sampler}-seed{args.seed}{folds}"


def create_study(
    args: argparse.Namespace, data: Interactions, objective: RecsysObjective, sampler: str
) -> optuna.Study:
    """A maximising study in ``--storage`` whose first trial is the default configuration.

    The default configuration (``family.default_params()``) is enqueued with the user
    attribute ``default=True`` unless the study already holds it, so tuning is never
    worse than the default on validation: the best trial is at least as good.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name(args, data, sampler)
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
            sampler, args.seed, budget=done + args.trials, transfer=not args.no_transfer
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
        load_if_exists=True,
    )
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise RecipeError(
            f"study {name!r} in {args.storage} is not a single maximised objective; pass "
            "another --study-name"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([args.metric])
    for key, value in (
        ("domain", args.domain),
        ("dataset", data.name),
        ("model", args.model),
        ("metric", args.metric),
        ("sampler", sampler),
        ("folds", args.folds),
    ):
        study.set_user_attr(key, value)
    if done:
        print(f"Resuming study {name!r} ({done} trials so far).")
    if args.trials and not any(t.user_attrs.get(DEFAULT_ATTR) for t in study.trials):
        study.enqueue_trial(
            objective.family.default_params(), user_attrs={DEFAULT_ATTR: True}, skip_if_exists=True
        )
    return study


def tune(study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace) -> float:
    """Run ``--trials`` trials with a progress bar; returns the wall time in seconds."""
    import optuna

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
        name: ``"tuned"`` (``"tuned:<sampler>"`` when comparing), ``"default"`` or
            ``"popularity"``.
        params: The configuration.
        valid: ``{metric: value}`` on validation (a tuned or default column: the values
            its trial recorded; popularity: a refit as in a trial).
        test: The refit on train + valid, ranked for the test queries.
        study: The study a tuned column comes from.
        tune_s: Wall time of this run's trials of that study.
    """

    name: str
    params: dict[str, Any] | None
    valid: dict[str, float]
    test: Evaluation
    study: optuna.Study | None = None
    tune_s: float = 0.0


def _valid_values(
    objective: RecsysObjective, trial: optuna.trial.FrozenTrial | None, params: dict[str, Any]
) -> dict[str, float]:
    """Validation values of ``params``: the trial's own, else a refit as in a trial."""
    if trial is not None and all(m in trial.user_attrs for m in objective.metrics):
        return {m: float(trial.user_attrs[m]) for m in objective.metrics}
    values = objective.evaluate_params(params, on="valid")
    return {m: values[m] for m in objective.metrics}


def evaluate_columns(
    objective: RecsysObjective, studies: list[tuple[str, optuna.Study, float]]
) -> list[Column]:
    """Tuned (one per study), default and popularity, each on validation and test."""
    import optuna

    from optuna_rl_sampler.recsys.baselines import Popularity

    columns: list[Column] = []
    default_params = objective.family.default_params()
    default_valid: dict[str, float] | None = None
    for sampler, study, seconds in studies:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        name = "tuned" if len(studies) == 1 else f"tuned:{sampler}"
        if not complete:
            print(f"\n{study.study_name}: no trial completed, so there is no tuned column.")
            continue
        best = study.best_trial
        valid = _valid_values(objective, best, best.params)
        test = objective.score_params(best.params, on="test")
        columns.append(Column(name, best.params, valid, test, study, seconds))
        if default_valid is None and default_trial(study) is not None:
            default_valid = _valid_values(objective, default_trial(study), default_params)
    if default_valid is None:
        default_valid = _valid_values(objective, None, default_params)
    columns.append(
        Column(
            "default",
            default_params,
            default_valid,
            objective.score_params(default_params, on="test"),
        )
    )
    popularity = Popularity()
    pop_valid = objective.evaluate_params(popularity.default_params(), "valid", model=popularity)
    columns.append(
        Column(
            "popularity",
            popularity.default_params(),
            {m: pop_valid[m] for m in objective.metrics},
            objective.score_params(popularity.default_params(), "test", model=popularity),
        )
    )
    return columns


@dataclass
class Comparison:
    """Tuned - default on the test queries, paired bootstrap, per tuned column."""

    column: str
    metric: str
    text: str
    significant: bool


def compare_to_default(columns: list[Column], metric: str, seed: int) -> list[Comparison]:
    """The paired bootstrap of each tuned column against the default on ``metric``."""
    from optuna_rl_sampler.recsys.stats import paired_bootstrap

    default = next(c for c in columns if c.name == "default")
    out = []
    for column in columns:
        if not column.name.startswith("tuned"):
            continue
        a, b = column.test.per_query.get(metric), default.test.per_query.get(metric)
        if a is None or b is None:
            out.append(Comparison(column.name, metric, "no per-query values", False))
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
                f"{column.name} is significantly WORSE than default on test {metric}: {numbers}. "
                "The validation gain did not hold; try --folds 3 or more validation queries."
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
    """Header and rows: per metric, the test value with its interval, then validation."""
    header = ["metric", *(c.name for c in columns)]
    rows = []
    for metric in objective.metrics:
        mark = "*" if metric == objective.metric else ""
        rows.append(
            [f"{metric}{mark} test", *(_interval_text(c.test, metric, seed) for c in columns)]
        )
    for metric in objective.metrics:
        mark = "*" if metric == objective.metric else ""
        rows.append([f"{metric}{mark} valid", *(f"{c.valid[metric]:.4f}" for c in columns)])
    rows.append(["train s (test fit)", *(f"{c.test.train_time_s:.2f}" for c in columns)])
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


def _sampler_rows(columns: list[Column]) -> list[list[str]]:
    rows = []
    for c in columns:
        if c.study is None:
            continue
        import optuna

        states = [t.state for t in c.study.trials]
        rows.append(
            [
                c.name,
                c.study.study_name,
                str(len(states)),
                str(states.count(optuna.trial.TrialState.PRUNED)),
                f"#{c.study.best_trial.number}",
                f"{c.tune_s:.1f}",
            ]
        )
    return rows


# ----------------------------------------------------------------------------- files


def absolute_storage(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so it works from any folder."""
    match = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", url)
    if match is None or match.group(2) == ":memory:":
        return url
    return match.group(1) + str(Path(match.group(2)).resolve())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _save_plots(
    columns: list[Column], metric: str, out: Path, seed: int
) -> dict[str | None, list[Path]]:
    """PNG plots: each study's optimisation history (keyed by study name) and the test
    intervals of every column (key ``None``, shared by all studies)."""
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
    for c in columns:
        if c.study is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ax = plot_optimization_history(c.study, target_name=f"valid {metric}")
        path = out / f"{_safe(c.study.study_name)}.history.png"
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
        plots[c.study.study_name] = [path]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(columns), 3.2))
    for i, c in enumerate(columns):
        values = c.test.per_query.get(metric)
        if values is None:
            ax.bar(i, c.test.values[metric], color="tab:blue")
            continue
        ci = bootstrap_ci(values, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=seed)
        ax.bar(i, ci.mean, color="tab:orange" if c.name.startswith("tuned") else "tab:blue")
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
    """Best params JSON, report, plots; study notes; artifacts. Returns the folders used."""
    from optuna.artifacts import FileSystemArtifactStore

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    artifacts = out / "artifacts"
    artifacts.mkdir(exist_ok=True)
    store = FileSystemArtifactStore(str(artifacts))
    plots = _save_plots(columns, objective.metric, out, args.seed)
    written: list[Path] = []
    for c in columns:
        if c.study is None:
            continue
        best = c.study.best_trial
        record = {
            "study": c.study.study_name,
            "storage": absolute_storage(args.storage),
            "dataset": objective.data.name,
            "model": objective.family.name,
            "metric": objective.metric,
            "folds": len(objective.folds),
            "trial": best.number,
            "valid_value": best.value,
            "test": c.test.values,
            "params": best.params,
        }
        params_path = out / f"{_safe(c.study.study_name)}.best_params.json"
        params_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        report_path = out / f"{_safe(c.study.study_name)}.report.md"
        report_path.write_text(note + "\n")
        written += [params_path, report_path]
        _save_note(c.study, note)
        # A finished trial cannot take artifacts, so everything goes to the study.
        _upload(store, c.study, c.study, params_path, "application/json")
        _upload(store, c.study, c.study, report_path, "text/markdown")
        for plot in plots.get(c.study.study_name, []) + plots.get(None, []):
            _upload(store, c.study, c.study, plot, "image/png")
    return artifacts, written + [p for paths in plots.values() for p in paths]


# ---------------------------------------------------------------------------- report


def print_report(
    columns: list[Column], objective: RecsysObjective, args: argparse.Namespace
) -> str:
    """Print the report; returns it as Markdown for the study note and the report file."""
    data = objective.data
    split = objective.split.method or "custom"
    n_valid = sum(len(q) for _, q in objective.folds)
    print()
    print(
        f"Data: {data.name} ({data.n_users} users, {data.n_items} items, "
        f"{data.n_interactions} events); split: {split}; {n_valid} validation queries in "
        f"{len(objective.folds)} fold(s), {len(objective.test_queries)} test queries"
    )
    for c in columns:
        if c.study is None:
            continue
        print(f"\nBest trial of {c.study.study_name!r}: #{c.study.best_trial.number}, valid "
              f"{args.metric} = {c.study.best_value:.4f}")  # fmt: skip
        print("Best params:")
        for key, value in c.study.best_params.items():
            shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
            print(f"  {key}: {shown}")
    header, rows = report_table(columns, objective, args.seed)
    print()
    print(_text_table(header, rows))
    comparisons = compare_to_default(columns, objective.metric, args.seed)
    print()
    for comparison in comparisons:
        print(comparison.text)
    sampler_rows = _sampler_rows(columns)
    if len(sampler_rows) > 1:
        print()
        sampler_header = ["column", "study", "trials", "pruned", "best", "tune s"]
        print(_text_table(sampler_header, sampler_rows))
    legend = (
        "* the tuned metric. test: refit on train + valid (for the boosting rounds or "
        "epochs early stopping kept on validation), ranked for the test period, "
        f"mean [{CONFIDENCE:.0%} bootstrap interval: {RESAMPLES} resamples of the "
        f"{len(objective.test_queries)} test queries, seed {args.seed}]; coverage is "
        "catalogue-level (no interval). tuned - default: paired bootstrap over the same "
        "test queries; significant when its interval excludes 0 (one-sided p below "
        f"{(1 - CONFIDENCE) / 2:g}). valid: the trials' values (mean over the folds). "
        f"tuned = the best trial (the first trial of every study is {args.model}'s "
        "default configuration, so tuned >= default on validation); popularity = "
        "most-popular baseline."
    )
    print(legend)
    note = "\n".join(
        [
            f"## {objective.family.name} on {data.name}: tuned vs default vs popularity",
            "",
            _markdown_table(header, rows),
            "",
            *(f"- {c.text}" for c in comparisons),
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
    )
    # 3. One study per sampler, same seed; the first trial is the default configuration.
    studies = []
    for sampler in args.samplers:
        study = create_study(args, data, objective, sampler)
        seconds = tune(study, objective, args)
        if sampler == "rl":
            print_transfer(study)
        studies.append((sampler, study, seconds))
    # 4. Tuned vs default vs popularity on test, with intervals.
    columns = evaluate_columns(objective, studies)
    note = print_report(columns, objective, args)
    # 5. JSON, report, plots, study note, artifacts; the dashboard command.
    artifacts, files = save_outputs(columns, objective, args, note)
    print(f"\nSaved: {', '.join(str(p) for p in files)}")
    print("\nSee every trial, the note and the artifacts in the dashboard:")
    print(f"  optuna-dashboard {absolute_storage(args.storage)} --artifact-dir {artifacts}")
    return 0


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
