"""Metrics over raw benchmark curves: best-so-far, normalised regret, ranks, summaries.

Pure numpy on the run records that the harness writes; no Optuna, no plotting. Every
number in ``results.json.gz``'s ``summary`` and in the plots comes from here.

Definitions
-----------
- *Best so far* after ``t`` trials: the best finite objective value among trials
  ``1..t`` (failed trials count as trials but have no value).
- *Normalised regret*: ``(best_so_far - best) / (worst - best)``, clipped to ``[0, 1]``.
  The same formula serves both directions because ``best``/``worst`` are direction-aware
  (for maximisation ``best > worst``). Before the first finite value it is 1. If
  ``worst == best`` it is 0.
- ``best``/``worst`` come from the task when known; otherwise from all evaluations of all
  samplers and seeds on that ``(task, instance)`` in the run (observed min and max).
- *Rank*: per ``(task, instance, seed, trial)``, samplers are ranked by their best so
  far (direction-aware; 1 = best); ties share the average rank.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

DEFAULT_CHECKPOINTS: tuple[int, ...] = (5, 10, 25, 50, 100)
LOG_REGRET_FLOOR = 1e-8

Run = dict[str, Any]


def as_array(values: Sequence[float | None]) -> np.ndarray:
    """Objective values as floats; ``None`` and non-finite values become NaN."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def loss(values: Sequence[float | None] | np.ndarray, direction: str) -> np.ndarray:
    """Values turned into lower-is-better losses (negated when maximising); NaN kept."""
    arr = values if isinstance(values, np.ndarray) else as_array(values)
    return -arr if direction == "maximize" else arr.copy()


def best_so_far(values: Sequence[float | None] | np.ndarray, direction: str) -> np.ndarray:
    """Best finite value among the first ``t`` trials, for each ``t`` (NaN until one)."""
    arr = loss(values, direction)
    filled = np.where(np.isnan(arr), np.inf, arr)
    running = np.minimum.accumulate(filled) if len(filled) else filled
    running = np.where(np.isinf(running), np.nan, running)
    return -running if direction == "maximize" else running


def normalised_regret(
    best_so_far_values: np.ndarray | Sequence[float], best: float, worst: float
) -> np.ndarray:
    """Normalised regret of a best-so-far curve, clipped to [0, 1]; NaN entries give 1."""
    bsf = np.asarray(best_so_far_values, dtype=float)
    span = worst - best
    if span == 0 or not math.isfinite(span):
        out = np.zeros_like(bsf)
    else:
        out = (bsf - best) / span
    out = np.clip(out, 0.0, 1.0)
    out[np.isnan(bsf)] = 1.0
    return out


def log10_regret(best_so_far_values: np.ndarray, best: float, direction: str) -> np.ndarray:
    """``log10(max(simple regret, 1e-8))`` of a best-so-far curve (NaN stays NaN)."""
    gap = best_so_far_values - best if direction == "minimize" else best - best_so_far_values
    with np.errstate(invalid="ignore"):
        return np.log10(np.maximum(gap, LOG_REGRET_FLOOR))


def rank_losses(losses: np.ndarray) -> np.ndarray:
    """Average ranks along axis 0 (1 = lowest loss; ties share the mean rank; NaN last)."""
    filled = np.where(np.isnan(losses), np.inf, losses)
    return rankdata(filled, method="average", axis=0)


def normalisation_bounds(runs: Iterable[Run]) -> dict[str, dict[str, Any]]:
    """``best``/``worst`` per ``task|instance``: the task's own, else observed min/max.

    Returns ``{key: {"best", "worst", "best_source", "worst_source"}}`` where a source is
    ``"known"`` (given by the task) or ``"observed"`` (over all samplers and seeds).
    """
    known: dict[str, dict[str, Any]] = {}
    observed: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run.get("values") is None:
            continue
        key = group_key(run)
        info = known.setdefault(
            key, {"best": run.get("best"), "worst": run.get("worst"), "dir": run["direction"]}
        )
        if info["best"] is None and run.get("best") is not None:
            info["best"] = run["best"]
        if info["worst"] is None and run.get("worst") is not None:
            info["worst"] = run["worst"]
        arr = as_array(run["values"])
        observed[key].extend(arr[~np.isnan(arr)].tolist())
    out: dict[str, dict[str, Any]] = {}
    for key, info in known.items():
        vals = observed[key]
        lo = min(vals) if vals else math.nan
        hi = max(vals) if vals else math.nan
        obs_best, obs_worst = (lo, hi) if info["dir"] == "minimize" else (hi, lo)
        out[key] = {
            "best": info["best"] if info["best"] is not None else obs_best,
            "worst": info["worst"] if info["worst"] is not None else obs_worst,
            "best_source": "known" if info["best"] is not None else "observed",
            "worst_source": "known" if info["worst"] is not None else "observed",
        }
    return out


def group_key(run: Run) -> str:
    """Normalisation key of a run: ``task|instance``."""
    return f"{run['task']}|{run.get('instance', '')}"


def mean_se(
    values: Iterable[float | None] | np.ndarray, *, se_of_one: float | None = 0.0
) -> dict[str, float | int | None]:
    """``{"mean", "se", "n"}`` of the finite values (``None``, NaN and infinities left
    out); ``se`` is the standard error (``ddof=1``), ``se_of_one`` for a single value,
    and ``mean``/``se`` are ``None`` without any."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else se_of_one
    return {"mean": float(np.mean(x)), "se": se, "n": n}


def _groups_of(run: Run, group_by: str | None) -> list[str]:
    groups = ["all"]
    if group_by is not None and group_by in run.get("meta", {}):
        groups.append(f"{group_by}={run['meta'][group_by]}")
    return groups


def _group_sort_key(name: str) -> tuple[int, float | str]:
    if name == "all":
        return (0, 0.0)
    value = name.split("=", 1)[-1]
    try:
        return (1, float(value))
    except ValueError:
        return (2, value)


@dataclass(frozen=True)
class _RunCurves:
    """Per-trial curves of the runs a summary covers, by the run's index.

    Attributes:
        regret: Normalised regret.
        loss: Best so far as a lower-is-better loss.
        log10_regret: log10 simple regret, for the runs whose task knows its optimum.
        rank: Rank among the samplers with a valid run on the same task, instance and
            seed.
    """

    regret: dict[int, np.ndarray]
    loss: dict[int, np.ndarray]
    log10_regret: dict[int, np.ndarray]
    rank: dict[int, np.ndarray]


def summarise(
    runs: Sequence[Run],
    samplers: Sequence[str],
    n_trials: int,
    checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
    group_by: str | None = "dimension",
    within: float = 0.01,
    within_at: int = 25,
    reference: str = "tpe",
) -> dict[str, Any]:
    """Everything the report shows, from the raw run records.

    Args:
        runs: Run records (``task``, ``instance``, ``seed``, ``sampler``, ``direction``,
            ``best``, ``worst``, ``values``, ``wall_s``, ``meta``, ``error``).
        samplers: Samplers in display order.
        n_trials: Trials per study.
        checkpoints: Trial counts at which to report (those above ``n_trials`` dropped).
        group_by: A ``meta`` key to report by, besides ``"all"`` (BBOB: ``"dimension"``).
        within: Normalised-regret threshold of the "solved" share (1%).
        within_at: Trial at which the "solved" share is measured (25, or ``n_trials``).
        reference: Sampler whose final best-so-far the speed-up is measured against.

    Returns:
        A JSON-ready dict; every per-group entry is keyed ``"all"`` or ``"<key>=<value>"``.
    """
    cps = [c for c in checkpoints if c <= n_trials]
    if not cps or cps[-1] != n_trials:
        cps.append(n_trials)
    within_at = min(within_at, n_trials)
    bounds = normalisation_bounds(runs)
    ok = [r for r in runs if r.get("values") is not None and r["sampler"] in samplers]
    curves = _run_curves(ok, bounds, n_trials)
    by_group: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, run in enumerate(ok):
        for g in _groups_of(run, group_by):
            by_group[g][run["sampler"]].append(i)
    groups = sorted(by_group, key=_group_sort_key)
    matches = _trials_to_match(ok, curves.loss, reference)
    summary: dict[str, Any] = {
        "checkpoints": cps,
        "groups": groups,
        "samplers": [s for s in samplers if by_group["all"].get(s)],
        "normalisation": bounds,
        "definitions": _definitions(within, within_at, reference, n_trials),
        "regret": {},
        "log10_regret": {},
        "rank": {},
        "within": {"threshold": within, "trial": within_at, "share": {}},
        "wall_s": {},
        "cpu_s": {},
        "speedup": {"reference": reference, "n_trials": n_trials, "by": {}},
        "curves": {},
        "failed_trials": {
            s: int(sum(r.get("n_failed_trials") or 0 for r in ok if r["sampler"] == s))
            for s in samplers
        },
    }
    for g in groups:
        for s in summary["samplers"]:
            members = by_group[g].get(s, [])
            if members:
                _add_entries(summary, g, s, members, ok, curves, matches)
    return summary


def _run_curves(ok: Sequence[Run], bounds: dict[str, dict[str, Any]], n_trials: int) -> _RunCurves:
    """Each run's curves over ``n_trials`` trials (a shorter run is padded with failed
    trials); ranks per (task, instance, seed) among the samplers with a valid run there."""
    regret: dict[int, np.ndarray] = {}
    lossc: dict[int, np.ndarray] = {}
    logreg: dict[int, np.ndarray] = {}
    for i, run in enumerate(ok):
        values = as_array(run["values"])[:n_trials]
        if values.size < n_trials:
            values = np.concatenate([values, np.full(n_trials - values.size, np.nan)])
        bsf = best_so_far(values, run["direction"])
        b = bounds[group_key(run)]
        regret[i] = normalised_regret(bsf, b["best"], b["worst"])
        lossc[i] = loss(bsf, run["direction"])
        if b["best_source"] == "known":
            logreg[i] = log10_regret(bsf, b["best"], run["direction"])
    ranks: dict[int, np.ndarray] = {}
    cells: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, run in enumerate(ok):
        cells[(run["task"], run.get("instance", ""), run["seed"])].append(i)
    for members in cells.values():
        r = rank_losses(np.stack([lossc[i] for i in members]))
        for row, i in enumerate(members):
            ranks[i] = r[row]
    return _RunCurves(regret, lossc, logreg, ranks)


def _trials_to_match(
    ok: Sequence[Run], lossc: dict[int, np.ndarray], reference: str
) -> dict[int, float | None]:
    """Per run, the first trial whose best so far is at least as good as the
    ``reference`` sampler's final one on the same task, instance and seed (``inf``:
    never; ``None``: no reference run there, or it found no value)."""
    ref_final: dict[tuple[str, str, int], float] = {}
    for i, run in enumerate(ok):
        if run["sampler"] == reference:
            ref_final[(run["task"], run.get("instance", ""), run["seed"])] = lossc[i][-1]
    out: dict[int, float | None] = {}
    for i, run in enumerate(ok):
        target = ref_final.get((run["task"], run.get("instance", ""), run["seed"]))
        if target is None or math.isnan(target):
            out[i] = None
            continue
        hit = np.nonzero(np.nan_to_num(lossc[i], nan=np.inf) <= target)[0]
        out[i] = float(hit[0] + 1) if hit.size else math.inf
    return out


def _definitions(within: float, within_at: int, reference: str, n_trials: int) -> dict[str, str]:
    """What each measure of a summary means."""
    return {
        "normalised_regret": "(best_so_far - best) / (worst - best), clipped to [0, 1]",
        "best_worst": "task's own when known, else min/max over all evaluations of all "
        "samplers and seeds on that task|instance in this run",
        "rank": "per (task, instance, seed, trial) over samplers by best so far; "
        "ties share the average rank; 1 is best",
        "se": "standard error over runs (task x seed) in the group",
        "within": f"share of runs with normalised regret <= {within} at trial {within_at}",
        "speedup": f"trials each sampler needs to reach {reference!r}'s best after "
        f"{n_trials} trials, per (task, instance, seed)",
    }


def _add_entries(
    summary: dict[str, Any],
    g: str,
    s: str,
    members: Sequence[int],
    ok: Sequence[Run],
    curves: _RunCurves,
    matches: dict[int, float | None],
) -> None:
    """Fill in sampler ``s``'s entries for group ``g`` from its runs ``members``: regret,
    rank and log10 regret at the checkpoints, the share within the threshold, time,
    speed-up and the mean curves."""
    cps = summary["checkpoints"]
    R = np.stack([curves.regret[i] for i in members])
    K = np.stack([curves.rank[i] for i in members])
    summary["regret"].setdefault(s, {})[g] = {str(c): mean_se(R[:, c - 1]) for c in cps}
    summary["rank"].setdefault(s, {})[g] = {str(c): mean_se(K[:, c - 1]) for c in cps}
    logged = [curves.log10_regret[i] for i in members if i in curves.log10_regret]
    if logged:
        L = np.stack(logged)
        summary["log10_regret"].setdefault(s, {})[g] = {str(c): mean_se(L[:, c - 1]) for c in cps}
    within = summary["within"]
    hits = R[:, within["trial"] - 1] <= within["threshold"]
    within["share"].setdefault(s, {})[g] = {"share": float(np.mean(hits)), "n": int(hits.size)}
    for key in ("wall_s", "cpu_s"):
        times = np.array([_num(ok[i].get(key)) for i in members], dtype=float)
        stats = mean_se(times)
        finite = times[~np.isnan(times)]
        stats["median"] = float(np.median(finite)) if finite.size else None
        stats["total"] = float(finite.sum())
        summary[key].setdefault(s, {})[g] = stats
    found = [m for m in (matches[i] for i in members) if m is not None]
    if found:
        summary["speedup"]["by"].setdefault(s, {})[g] = _speedup(
            np.array(found), summary["speedup"]["n_trials"]
        )
    summary["curves"].setdefault(g, {})[s] = {
        "regret_mean": R.mean(axis=0).tolist(),
        "regret_se": _se_curve(R).tolist(),
        "rank_mean": K.mean(axis=0).tolist(),
        "rank_se": _se_curve(K).tolist(),
        "n": len(members),
    }


def _speedup(trials: np.ndarray, n_trials: int) -> dict[str, Any]:
    """The speed-up entry of runs that needed ``trials`` trials to match the reference
    (``inf``: never matched)."""
    median = float(np.median(trials))
    return {
        "share_matched": float(np.mean(np.isfinite(trials))),
        "median_trials_to_match": median if math.isfinite(median) else None,
        "median_speedup": n_trials / median if math.isfinite(median) else None,
        "n": int(trials.size),
    }


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _se_curve(x: np.ndarray) -> np.ndarray:
    if x.shape[0] < 2:
        return np.zeros(x.shape[1])
    return np.std(x, axis=0, ddof=1) / math.sqrt(x.shape[0])
