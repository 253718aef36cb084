"""The report of a tuning run (:mod:`~optuna_rl_sampler.recsys.tuning`): test refits,
the paired comparison with the default, tables, files.

- :func:`evaluate_columns`: each study's result (its tuned trial, or with several
  objectives up to :data:`~optuna_rl_sampler.recsys.pareto.MAX_FRONT_COLUMNS` trials of
  its Pareto front), the default configuration and popularity, each refit on train +
  valid and ranked for the test queries (:class:`Column`);
- :func:`compare_to_default`: the paired bootstrap of each column - default, in a plain
  sentence (:class:`Comparison`);
- :func:`print_report`: the table with bootstrap intervals, the comparisons, the legend;
  returned as Markdown for the study note and the report file;
- :func:`save_outputs`: the best parameters (or the front) as JSON, the report, the
  plots, the study note in optuna-dashboard, and the artifact store.
"""

from __future__ import annotations

import argparse
import json
import re
import warnings
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from optuna_rl_sampler.recsys import pareto
from optuna_rl_sampler.recsys.tuning_studies import DEFAULT_ATTR
from optuna_rl_sampler.recsys.tuning_studies import absolute_storage
from optuna_rl_sampler.recsys.tuning_studies import default_trial

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.objective import Evaluation
    from optuna_rl_sampler.recsys.objective import RecsysObjective

#: Report names of the columns that are not a study's result.
BASELINE_COLUMNS = ("default", "popularity")
#: Bootstrap resamples and confidence level of the report's intervals.
RESAMPLES = 1000
CONFIDENCE = 0.95

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
    that :func:`~optuna_rl_sampler.recsys.pareto.pick_front` chooses; the least-violating
    trial, named ``infeasible#<trial>``, when no completed trial is feasible (said in one
    line)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if objective.objectives is None:
        trial, feasible = pareto.choose_tuned(study)
        if feasible:
            return [(f"tuned{suffix}", trial)]
    else:
        front = pareto.pareto_front(study)
        if front:
            picks = pareto.pick_front(front, study.directions)
            return [(f"front#{t.number}{suffix}", t) for t in picks]
        trial = pareto.least_violating(complete)
    print(f"\n{pareto.no_feasible_message(study, trial, objective.constraints)}")
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
            feasible = pareto.feasible_costs(costs, limits)
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
            feasible=pareto.feasible_costs(default_record[1], limits),
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
            feasible=pareto.feasible_costs(pop_costs, limits),
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
            result = f"{len(pareto.pareto_front(study))} trials"
        else:
            first = mine[0].name
            trial = mine[0].trial
            result = f"#{trial.number}" if trial is not None else "-"
        row = [first, study.study_name, str(len(states))]
        row += [str(states.count(optuna.trial.TrialState.PRUNED)), result, f"{tune_s:.1f}"]
        if objective.constraints:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            row.append(f"{sum(pareto.is_feasible(t) for t in complete)}/{len(complete)}")
        rows.append(row)
    return header, rows


# ----------------------------------------------------------------------------- files


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
            front_plot = pareto.save_front_plot(
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
            record = pareto.front_record(
                study,
                pareto.pareto_front(study),
                objective.objectives,
                objective.constraints,
                tests={c.trial.number: c.test.values for c in mine if c.trial is not None},
                default_number=None if default is None else default.number,
                extra=base,
            )
            params_path = pareto.save_front_json(
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
            f"test: at most {pareto.MAX_FRONT_COLUMNS} per study, the best on each objective "
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
            f"{pareto.COST_LABELS[n][0]} <= {v:g} {pareto.COST_LABELS[n][1]}"
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
        front = pareto.pareto_front(study)
        default = default_trial(study)
        header, rows = pareto.front_table(
            front,
            objective.objectives,
            default_number=None if default is None else default.number,
            tested=[c.trial.number for c in mine if c.trial is not None],
        )
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        n_feasible = sum(pareto.is_feasible(t) for t in complete)
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
            f"{pareto.broken_limits(default.valid_costs, objective.constraints)}), so it "
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
