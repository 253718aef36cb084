"""Feasibility and Pareto fronts for tuning with several goals or with limits.

:mod:`~optuna_rl_sampler.recsys.tuning` runs the studies and
:mod:`~optuna_rl_sampler.recsys.tuning_report` builds the report; this module holds what
is particular to studies with several objectives (``--objectives ndcg@10,coverage@10``)
or with limits on the model's size and training time (``--max-model-mb``,
``--max-train-s``):

- **Feasibility** follows Optuna: a trial's constraint values (set by the objective with
  ``Trial.set_constraint``, ``cost - limit``) are feasible when every one is ``<= 0``;
  its violation is the sum of the positive ones, the quantity Optuna's samplers rank
  infeasible trials by (it adds MB to seconds: it ranks, it does not measure).
- **The Pareto front** of a study: its completed feasible trials that no other completed
  feasible trial dominates (at least as good on every objective, better on one),
  sorted by the first objective, best first.
- **The front's test columns**: at most :data:`MAX_FRONT_COLUMNS` front trials are refit
  on test (:func:`pick_front` says which).
- **Files**: the front as JSON (``<study>.pareto.json``) and Optuna's Pareto-front plot
  with the default configuration marked (``<study>.pareto.png``).

It imports nothing from the tuning modules, so it can be read on its own.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import optuna

#: Most front trials refit on test and shown as report columns, per study.
MAX_FRONT_COLUMNS = 5
#: How the report names each cost: (label, unit, format).
COST_LABELS: dict[str, tuple[str, str, str]] = {
    "model_mb": ("model", "MB", ".4g"),
    "train_s": ("train", "s", ".3g"),
}


# ---------------------------------------------------------------------- feasibility


def violation(trial: optuna.trial.FrozenTrial) -> float:
    """Sum of the trial's positive constraint values: 0 for a feasible trial (or one
    without constraints)."""
    return float(sum(max(float(v), 0.0) for v in trial.constraints.values()))


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether every constraint value of the trial is ``<= 0`` (Optuna's rule; a trial
    without constraint values is feasible)."""
    return all(float(v) <= 0.0 for v in trial.constraints.values())


def feasible_costs(costs: Mapping[str, float], limits: Mapping[str, float]) -> bool | None:
    """Whether ``costs`` (``{"model_mb": ..., "train_s": ...}``) keep every limit;
    ``None`` when there are no limits."""
    if not limits:
        return None
    return all(costs[name] <= limit for name, limit in limits.items())


def broken_limits(costs: Mapping[str, float], limits: Mapping[str, float]) -> str:
    """The limits ``costs`` break, in words: ``"model 1.52 MB > 1 MB, train 12.3 s > 10 s"``."""
    parts = []
    for name, limit in limits.items():
        if costs[name] > limit:
            label, unit, fmt = COST_LABELS[name]
            parts.append(f"{label} {costs[name]:{fmt}} {unit} > {limit:g} {unit}")
    return ", ".join(parts) or "none"


def least_violating(trials: Sequence[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    """The trial with the smallest :func:`violation` (the earliest among equals)."""
    return min(trials, key=lambda t: (violation(t), t.number))


def choose_tuned(study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, bool]:
    """The single-objective study's result and whether it is feasible.

    ``study.best_trial`` (in a constrained study Optuna returns the best feasible
    trial) when some completed trial is feasible; else the least-violating completed
    trial, to be reported as infeasible.

    Raises:
        ValueError: No trial completed.
    """
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no completed trial")
    if any(is_feasible(t) for t in complete):
        return study.best_trial, True
    return least_violating(complete), False


def no_feasible_message(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, limits: Mapping[str, float]
) -> str:
    """The one line that says a study has no feasible trial, and what is reported."""
    import optuna

    from optuna_rl_sampler.recsys.objective import trial_costs

    n = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return (
        f"No feasible trial in study {study.study_name!r}: all {n} completed trials break "
        f"the limits; the smallest violation is trial #{trial.number}'s "
        f"({broken_limits(trial_costs(trial.user_attrs), limits)}). Reporting it instead, "
        f"as infeasible#{trial.number}; raise the limits or change --model."
    )


# ---------------------------------------------------------------------- Pareto front


def _signs(directions: Sequence[Any]) -> list[float]:
    """+1 for a maximised objective, -1 for a minimised one (StudyDirection or str)."""
    out = []
    for d in directions:
        name = getattr(d, "name", str(d)).lower()
        out.append(1.0 if name == "maximize" else -1.0)
    return out


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Any]) -> bool:
    """Whether values ``a`` dominate ``b``: at least as good on every objective, better
    on one.

    Example:
        >>> dominates([0.5, 1.0], [0.4, 2.0], ["maximize", "minimize"])
        True
        >>> dominates([0.5, 1.0], [0.5, 1.0], ["maximize", "minimize"])
        False
    """
    signs = _signs(directions)
    sa = [s * x for s, x in zip(signs, a, strict=True)]
    sb = [s * x for s, x in zip(signs, b, strict=True)]
    pairs = list(zip(sa, sb, strict=True))
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's completed feasible trials that no other one dominates, sorted by the
    first objective (best first; equal values by trial number). Empty when no completed
    trial is feasible."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    feasible = [t for t in complete if is_feasible(t)]
    directions = study.directions
    front = [
        t
        for t in feasible
        if not any(dominates(o.values, t.values, directions) for o in feasible if o is not t)
    ]
    sign = _signs(directions)[0]
    return sorted(front, key=lambda t: (-sign * t.values[0], t.number))


def pick_front(
    front: Sequence[optuna.trial.FrozenTrial],
    directions: Sequence[Any],
    n: int = MAX_FRONT_COLUMNS,
) -> list[optuna.trial.FrozenTrial]:
    """At most ``n`` trials of ``front`` (sorted by the first objective, as
    :func:`pareto_front` returns it) spread along it, for the test report.

    The rule: the whole front when it has at most ``n`` trials. Otherwise first the
    best trial on each objective (the earliest in the front's order among equals), then
    the trials at the evenly spaced positions ``round(linspace(0, m - 1, n))`` of the
    ``m`` front trials, then of finer grids (``2n - 1`` points, and so on) until ``n``
    are chosen. They are returned in the front's order.

    Example:
        >>> from types import SimpleNamespace as T
        >>> front = [T(number=i, values=[1.0 - i / 10, i / 10]) for i in range(10)]
        >>> [t.number for t in pick_front(front, ["maximize", "maximize"], n=5)]
        [0, 2, 4, 7, 9]
    """
    import numpy as np

    m = len(front)
    if m <= n:
        return list(front)
    chosen: list[int] = []
    signs = _signs(directions)
    for j, sign in enumerate(signs):
        best = max(range(m), key=lambda i: (sign * front[i].values[j], -i))
        if best not in chosen:
            chosen.append(best)
    points = n
    while len(chosen) < n:
        for position in np.linspace(0, m - 1, points):
            i = int(round(float(position)))
            if len(chosen) < n and i not in chosen:
                chosen.append(i)
        points = 2 * points - 1
    return [front[i] for i in sorted(chosen)]


def _format(spec: str, value: float) -> str:
    return f"{value:.2f}" if spec == "train_s" else f"{value:.4f}"


def front_table(
    front: Sequence[optuna.trial.FrozenTrial],
    objectives: Sequence[str],
    *,
    default_number: int | None,
    tested: Sequence[int] = (),
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the front: trial, each objective's validation value, the costs
    that are not objectives (train s, model MB), and a note (``default``: the default
    configuration; ``test``: refit on test in the report)."""
    from optuna_rl_sampler.recsys.objective import trial_costs

    extra = [c for c in ("train_s", "model_mb") if c not in objectives]
    header = ["trial", *objectives, *(f"{COST_LABELS[c][0]} {COST_LABELS[c][1]}" for c in extra)]
    header.append("note")
    rows = []
    for t in front:
        costs = trial_costs(t.user_attrs)
        marks = (("default", t.number == default_number), ("test", t.number in tested))
        note = [word for word, on in marks if on]
        rows.append(
            [
                f"#{t.number}",
                *(_format(s, v) for s, v in zip(objectives, t.values, strict=True)),
                *(_format(c, costs[c]) for c in extra),
                ", ".join(note),
            ]
        )
    return header, rows


# ---------------------------------------------------------------------------- files


def front_record(
    study: optuna.Study,
    front: Sequence[optuna.trial.FrozenTrial],
    objectives: Sequence[str],
    limits: Mapping[str, float],
    *,
    tests: Mapping[int, Mapping[str, float]],
    default_number: int | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``<study>.pareto.json`` record: the front's trials (number, values, params,
    costs, constraint values; ``test``: the test values of those refit for the report),
    and the least-violating trial when none is feasible."""
    import optuna

    from optuna_rl_sampler.recsys.objective import trial_costs

    def entry(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
        item: dict[str, Any] = {
            "number": t.number,
            "values": list(t.values),
            "params": t.params,
            "costs": trial_costs(t.user_attrs),
            "default": t.number == default_number,
        }
        if limits:
            item["constraints"] = dict(t.constraints)
            item["feasible"] = is_feasible(t)
        if t.number in tests:
            item["test"] = dict(tests[t.number])
        return item

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    record: dict[str, Any] = {
        "study": study.study_name,
        **extra,
        "objectives": list(objectives),
        "directions": [d.name.lower() for d in study.directions],
        "limits": dict(limits),
        "n_complete": len(complete),
        "n_feasible": sum(is_feasible(t) for t in complete),
        "front": [entry(t) for t in front],
    }
    if not front and complete:
        record["least_violating"] = entry(least_violating(complete))
    return record


def save_front_json(record: Mapping[str, Any], path: Path) -> Path:
    """Write :func:`front_record`'s record as JSON; returns ``path``."""
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def save_front_plot(
    study: optuna.Study,
    objectives: Sequence[str],
    path: Path,
    default: optuna.trial.FrozenTrial | None,
) -> Path | None:
    """Optuna's Pareto-front plot of the study (dominated and, greyed, infeasible trials
    included), the default configuration's trial marked with a gold star. ``None`` when
    matplotlib is missing or the study has no completed trial."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import optuna
    from optuna.visualization.matplotlib import plot_pareto_front

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_pareto_front(study, target_names=list(objectives))
    if default is not None and default.values is not None:
        ax.scatter(
            *([v] for v in default.values),
            marker="*",
            s=220,
            c="gold",
            edgecolors="k",
            zorder=5,
            label=f"default (trial #{default.number})",
        )
        ax.legend(loc="best", fontsize="small")
    ax.set_title(f"Pareto front (validation): {study.study_name}", fontsize="small")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    return path
