"""The first trials without sources: RLSampler against Random, per suite.

A study without past studies meets the generic policy first, and its first trials are
where a learnt policy can lose to plain random search (it starts from one random trial
and has almost nothing to model). This report reads the committed results of every suite
(no new runs) and compares RLSampler without sources with RandomSampler after 1, 3 and 5
trials, paired by task and seed:

- ``bbob``: 45 BBOB tasks, normalised regret (``benchmarks.metrics``);
- ``tabular``: LightGBM tuned on six small generated tables (``benchmarks.tabular``),
  normalised regret, by split;
- ``mixed``: four problems of numeric and categorical parameters together
  (``benchmarks.tasks.mixed_suite``), normalised regret, by problem;
- ``transfer-v1``: the leave-one-dataset-out tasks (``rl-generic`` vs ``random``);
- ``transfer-v2/<split>/<kind>``: the v2 benchmark's tasks without sources, by split
  (dev, test) and kind (surrogate, real LightGBM), range-normalised regret;
- ``multiobjective``: ``1 - HV/HV(front)`` (for one objective, the best feasible
  normalised regret), by problem group.

GPSampler and TPESampler draw their first 10 trials from Random's stream, so "RL vs
Random" here is also "RL vs GP and TPE" in these trials.

Run ``python -m benchmarks first-trials``; it writes ``summary.md``, ``summary.json`` and
``first_trials.png`` into ``benchmarks/results/first-trials/``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import read_json
from benchmarks.harness import results_file
from benchmarks.harness import write_json
from benchmarks.metrics import best_so_far
from benchmarks.metrics import group_key
from benchmarks.metrics import mean_se
from benchmarks.metrics import normalisation_bounds
from benchmarks.metrics import normalised_regret
from benchmarks.report import SEED_CLUSTERED_SUITES
from benchmarks.tables import fmt
from benchmarks.tables import table

__all__ = ["CHECKPOINTS", "compare", "suites", "write_first_trials"]

CHECKPOINTS = (1, 3, 5)
DEFAULT_OUT = RESULTS_DIR / "first-trials"
#: Curves of one sampler: (task, seed) -> loss after each trial (lower is better).
Curves = dict[tuple[str, int], np.ndarray]


def _harness(
    results: Mapping[str, Any], suite: str, group: Callable[[Mapping[str, Any]], str]
) -> dict[str, dict[str, Curves]]:
    """The curves of a harness suite (BBOB, tabular): normalised regret per (task, seed),
    for the whole suite and per group (``group(meta)``)."""
    bounds = normalisation_bounds(results["runs"])
    out: dict[str, dict[str, Curves]] = defaultdict(lambda: defaultdict(dict))
    for run in results["runs"]:
        if run.get("values") is None or run["sampler"] not in ("rl", "random"):
            continue
        b = bounds[group_key(run)]
        curve = normalised_regret(
            best_so_far(run["values"], run["direction"]), b["best"], b["worst"]
        )
        # A BBOB task is a function and dimension; its instances vary with the seed.
        key = (str(run["task"]), int(run["seed"]))
        side = "rl" if run["sampler"] == "rl" else "random"
        out[suite][side][key] = curve
        out[f"{suite}, {group(run.get('meta', {}))}"][side][key] = curve
    return out


def _bbob(results: Mapping[str, Any]) -> dict[str, dict[str, Curves]]:
    return _harness(results, "bbob", lambda meta: f"{meta.get('dimension')}-D")


def _tabular(results: Mapping[str, Any]) -> dict[str, dict[str, Curves]]:
    return _harness(results, "tabular", lambda meta: f"{meta.get('split')} split")


def _mixed(results: Mapping[str, Any]) -> dict[str, dict[str, Curves]]:
    return _harness(results, "mixed", lambda meta: str(meta.get("problem")))


def _transfer_v1(results: Mapping[str, Any]) -> dict[str, dict[str, Curves]]:
    out: dict[str, Curves] = defaultdict(dict)
    for run in results["runs"]:
        if run.get("values") is None or run.get("variant", "standard") != "standard":
            continue
        if run["sampler"] not in ("rl-generic", "random"):
            continue
        curve = normalised_regret(
            best_so_far(run["values"], run["direction"]), run["best"], run["worst"]
        )
        side = "rl" if run["sampler"] == "rl-generic" else "random"
        out[side][(str(run["task"]), int(run["seed"]))] = curve
    return {"transfer-v1": out}


def _transfer_v2(folder: Path) -> dict[str, dict[str, Curves]]:
    import json

    from benchmarks.transfer_v2 import read_records
    from benchmarks.transfer_v2 import read_split
    from benchmarks.transfer_v2_report import current_records
    from benchmarks.transfer_v2_report import regret_curves
    from benchmarks.transfer_v2_report import task_best

    meta = json.loads((folder / "summary.json").read_text()).get("meta", {})
    records = current_records(read_records(folder), meta.get("fingerprints"))
    split = read_split()
    best = task_best(records)
    out: dict[str, dict[str, Curves]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if r.get("values") is None or r["scenario"] != "none":
            continue
        if r["sampler"] not in ("rl-generic", "random"):
            continue
        part = split.get(r["task"].split("/", 1)[1], "unsplit")
        curve = regret_curves(r, best[(r["kind"], r["task"])])["range"]
        side = "rl" if r["sampler"] == "rl-generic" else "random"
        out[f"transfer-v2, {part}, {r['kind']}"][side][(r["task"], int(r["seed"]))] = curve
    return out


def _multiobjective(results: Mapping[str, Any]) -> dict[str, dict[str, Curves]]:
    from benchmarks.multiobjective import problem_group
    from benchmarks.multiobjective import run_curve

    out: dict[str, dict[str, Curves]] = defaultdict(lambda: defaultdict(dict))
    for run in results["runs"]:
        if run.get("values") is None or run["sampler"] not in ("rl", "random"):
            continue
        info = results["problems"][run["problem"]][run.get("instance", "")]
        hv = np.asarray(run_curve(run, info), dtype=float)
        front = float(info.get("front_hv") or 1.0)
        loss = 1.0 - hv / front if len(info["directions"]) > 1 else 1.0 - hv
        key = (str(run["problem"]), int(run["seed"]))
        side = run["sampler"]
        out["multiobjective"][side][key] = loss
        out[f"multiobjective, {problem_group(run['problem'])}"][side][key] = loss
    return out


def suites(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Curves]]:
    """Suite (or group) -> ``{"rl": curves, "random": curves}`` from the committed results;
    a suite whose results are missing is left out."""
    found: dict[str, dict[str, Curves]] = {}
    readers = (
        ("bbob", _bbob),
        ("tabular", _tabular),
        ("mixed", _mixed),
        ("transfer", _transfer_v1),
        ("multiobjective", _multiobjective),
    )
    for folder, reader in readers:
        path = results_file(results_dir / folder)
        if path.is_file():
            found.update(reader(read_json(path)))
    v2 = results_dir / "transfer-v2"
    if (v2 / "summary.json").is_file():
        found.update(_transfer_v2(v2))
    return found


def compare(rl: Curves, random: Curves, t: int, by: str = "task") -> dict[str, Any] | None:
    """RL minus Random after ``t`` trials: the mean over tasks of each task's mean paired
    difference, a 95% percentile-bootstrap interval over tasks (over runs, marked, with
    fewer than 5 tasks), and both means. ``by="seed"`` groups the runs by seed instead
    (unit ``"seeds"``), as :func:`summarise` does for the suites whose tasks share one
    search space (:data:`benchmarks.report.SEED_CLUSTERED_SUITES`)."""
    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    if by not in ("task", "seed"):
        raise ValueError(f"by must be 'task' or 'seed', got {by!r}.")
    part = 0 if by == "task" else 1
    per: dict[Any, list[float]] = defaultdict(list)
    rl_at: dict[Any, list[float]] = defaultdict(list)
    rnd_at: dict[Any, list[float]] = defaultdict(list)
    tasks: set[str] = set()
    for key in sorted(set(rl) & set(random)):
        a, b = rl[key], random[key]
        if len(a) >= t and len(b) >= t and np.isfinite(a[t - 1]) and np.isfinite(b[t - 1]):
            per[key[part]].append(float(a[t - 1] - b[t - 1]))
            rl_at[key[part]].append(float(a[t - 1]))
            rnd_at[key[part]].append(float(b[t - 1]))
            tasks.add(key[0])
    diffs = [float(np.mean(v)) for v in per.values()]
    unit = "tasks" if by == "task" else "seeds"
    if len(diffs) < 5:
        diffs, unit = [d for v in per.values() for d in v], "runs"
    if len(diffs) < 2:
        return None
    ci = bootstrap_ci(diffs, n_resamples=10_000, seed=0)
    return {
        "rl": mean_se([float(np.mean(v)) for v in rl_at.values()])["mean"],
        "random": mean_se([float(np.mean(v)) for v in rnd_at.values()])["mean"],
        "mean": ci.mean,
        "low": ci.low,
        "high": ci.high,
        "n_tasks": len(tasks),
        "unit": unit,
        "verdict": "better" if ci.high < 0 else "worse" if ci.low > 0 else "tie",
    }


def summarise(found: Mapping[str, Mapping[str, Curves]]) -> dict[str, Any]:
    """Suite -> checkpoint -> :func:`compare`."""
    return {
        name: {
            str(t): compare(
                sides.get("rl", {}),
                sides.get("random", {}),
                t,
                by="seed" if name.split(",")[0] in SEED_CLUSTERED_SUITES else "task",
            )
            for t in CHECKPOINTS
        }
        for name, sides in found.items()
    }


def markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md``."""
    rows = []
    for name, by_t in summary.items():
        cells = [name]
        for t in CHECKPOINTS:
            c = by_t.get(str(t))
            if c is None:
                cells.append("-")
                continue
            mark = f" **{c['verdict']}**" if c["verdict"] != "tie" else ""
            runs = f" ({c['unit']})" if c["unit"] != "tasks" else ""
            cells.append(
                f"{fmt(c['rl'])} vs {fmt(c['random'])}: {c['mean']:+.3f} "
                f"[{c['low']:+.3f}, {c['high']:+.3f}]{runs}{mark}"
            )
        first = next((c for c in by_t.values() if c), None)
        cells.append(str(first["n_tasks"]) if first else "-")
        rows.append(cells)
    losing = [
        n
        for n, by_t in summary.items()
        if any(c and c["verdict"] == "worse" for c in by_t.values())
    ]
    above = [
        f"{name} ({c['mean']:+.3f})"
        for name, by_t in summary.items()
        if (c := by_t.get("5")) and c["mean"] > 0
    ]
    lines = [
        "# The first trials without sources: RLSampler vs Random",
        "",
        "Generated by `python -m benchmarks first-trials` from the committed results of each "
        "suite (no new runs; see `benchmarks/first_trials.py`). Loss: normalised regret "
        "(BBOB, transfer), `1 - HV/HV(front)` (multi-objective), after 1, 3 and 5 trials; "
        "RLSampler without sources (the generic policy) against RandomSampler, paired by "
        "task and seed. Cells: RL vs Random, then RL minus Random with its 95% bootstrap "
        "interval over tasks (over runs with fewer than 5 tasks, over seeds where every "
        "task shares one search space, as in `tabular`; both marked); **better**/"
        "**worse** only when the interval excludes 0. GP and TPE draw their first 10 "
        "trials from Random's stream, so these are their first trials too.",
        "",
        *table(["suite", "@1", "@3", "@5", "tasks"], rows),
        "",
        (
            "Where RLSampler is worse than Random in its first trials: " + ", ".join(losing) + "."
            if losing
            else "RLSampler is nowhere worse than Random in its first trials (no interval "
            "excludes 0 on the losing side)."
        ),
        "",
        (
            "Where its mean after 5 trials is above Random's (a direction, not shown): "
            + ", ".join(above)
            + "."
            if above
            else "Its mean after 5 trials is at or below Random's everywhere."
        ),
        "",
    ]
    return "\n".join(lines)


def plot(summary: Mapping[str, Any], path: Path) -> Path:
    """RL minus Random after 5 trials, per suite, with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, by_t in summary.items() if by_t.get("5")]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.2))
    for i, name in enumerate(names):
        c = summary[name]["5"]
        colour = {"better": "#2ca02c", "worse": "#d62728"}.get(c["verdict"], "#7f7f7f")
        ax.errorbar(
            c["mean"], i, xerr=[[c["mean"] - c["low"]], [c["high"] - c["mean"]]], fmt="o",
            color=colour, capsize=3,
        )  # fmt: skip
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("RLSampler minus Random after 5 trials (loss; < 0: RL better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_first_trials(results_dir: Path = RESULTS_DIR, out: Path = DEFAULT_OUT) -> list[Path]:
    """Compute and write the report; return the paths written."""
    summary = summarise(suites(results_dir))
    out.mkdir(parents=True, exist_ok=True)
    write_json({"checkpoints": list(CHECKPOINTS), "summary": summary}, out / "summary.json")
    (out / "summary.md").write_text(markdown(summary))
    return [out / "summary.json", out / "summary.md", plot(summary, out / "first_trials.png")]
