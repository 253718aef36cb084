"""The report of the transfer benchmark v2: regret tables, paired intervals, plots.

Pure functions of the run records that :mod:`benchmarks.transfer_v2` writes. For every
run, after ``t`` trials:

- ``range`` regret: ``(best - best so far) / (best - worst)``, clipped to [0, 1];
- ``median`` regret: ``(best - best so far) / (best - median)``, at least 0 and not
  clipped above: 1 is as bad as a random configuration's median value, and a run whose
  best is a catastrophe counts as one.

``best`` is the larger of the task's reference (surrogate: the dense sample and the
task's own evaluations; real: the task's evaluations in the corpus) and the best value
any run found on the task, so every regret is at least 0.

A comparison of ``rl-transfer`` with another sampler is paired by (task, seed): the
difference of their regrets is averaged over the seeds of each task, and the 95%
interval of the mean over tasks is a percentile bootstrap over tasks (the tasks, not the
seeds, are the independent units). A claim holds only when the interval excludes 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import write_json
from benchmarks.metrics import best_so_far
from benchmarks.metrics import mean_se

CHECKPOINTS: tuple[int, ...] = (1, 3, 5, 10, 20)
PAIRED_AT: tuple[int, ...] = (3, 5, 10, 20)
NORMALISATIONS: tuple[str, ...] = ("range", "median")
#: "Transfer never much worse than none": rl-transfer against 1.1x rl-generic.
SAFETY_FACTOR = 1.1
RL = "rl-transfer"
#: Fewer tasks than this (the real datasets of a split, the data-refresh tasks): the
#: interval resamples runs (task x seed), marked as such, since a bootstrap over two or
#: three tasks says nothing; seeds of one task are not independent, so such an interval
#: is too narrow and reads as a direction only.
MIN_TASKS = 5
Record = Mapping[str, Any]


def task_best(records: Sequence[Record]) -> dict[tuple[str, str], float]:
    """``(kind, task)`` -> the best value known: the reference or any run's best."""
    out: dict[tuple[str, str], float] = {}
    for r in records:
        if r.get("values") is None:
            continue
        found = [v for v in r["values"] if v is not None and math.isfinite(v)]
        top = max([r["best"], *found])
        key = (r["kind"], r["task"])
        out[key] = max(out.get(key, -math.inf), top)
    return out


def regret_curves(record: Record, best: float) -> dict[str, np.ndarray]:
    """The run's ``range`` and ``median`` regret after each trial."""
    bsf = best_so_far(record["values"], "maximize")
    bsf = np.where(np.isnan(bsf), record["worst"], bsf)
    gap = best - bsf
    span = best - record["worst"]
    below_median = best - record["median"]
    rng = np.clip(gap / span, 0.0, 1.0) if span > 0 else np.zeros_like(gap)
    med = np.maximum(gap / below_median, 0.0) if below_median > 0 else np.zeros_like(gap)
    return {"range": rng, "median": med}


def _cells(
    records: Sequence[Record], split: Mapping[str, str]
) -> dict[tuple[str, str, str, str], dict[str, dict[tuple[str, int], np.ndarray]]]:
    """(split, kind, scenario, sampler) -> normalisation -> (task, seed) -> curve."""
    best = task_best(records)
    cells: dict = defaultdict(lambda: {n: {} for n in NORMALISATIONS})
    for r in records:
        if r.get("values") is None:
            continue
        part = split.get(r["task"].split("/", 1)[1], "unsplit")
        curves = regret_curves(r, best[(r["kind"], r["task"])])
        cell = cells[(part, r["kind"], r["scenario"], r["sampler"])]
        for norm in NORMALISATIONS:
            cell[norm][(r["task"], int(r["seed"]))] = curves[norm]
    return cells


def _task_means(curves: Mapping[tuple[str, int], np.ndarray], t: int) -> dict[str, float]:
    """Task -> mean regret over its seeds after ``t`` trials."""
    per: dict[str, list[float]] = defaultdict(list)
    for (task, _), curve in curves.items():
        if len(curve) >= t:
            per[task].append(float(curve[t - 1]))
    return {task: float(np.mean(v)) for task, v in per.items()}


def paired(
    a: Mapping[tuple[str, int], np.ndarray],
    b: Mapping[tuple[str, int], np.ndarray],
    t: int,
    factor: float = 1.0,
) -> dict[str, Any] | None:
    """``a - factor * b`` after ``t`` trials, paired by (task, seed), averaged per task,
    with a 95% percentile-bootstrap interval over tasks (seeded, 10,000 resamples)."""
    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    per: dict[str, list[float]] = defaultdict(list)
    for key in sorted(set(a) & set(b)):
        if len(a[key]) >= t and len(b[key]) >= t:
            per[key[0]].append(float(a[key][t - 1]) - factor * float(b[key][t - 1]))
    diffs = [float(np.mean(v)) for v in per.values()]
    unit = "tasks"
    if len(diffs) < MIN_TASKS:
        # Too few tasks for an interval over tasks: resample the runs, and say so.
        diffs, unit = [d for v in per.values() for d in v], "runs"
    if len(diffs) < 2:
        return None
    ci = bootstrap_ci(diffs, n_resamples=10_000, seed=0)
    verdict = "better" if ci.high < 0 else "worse" if ci.low > 0 else "tie"
    return {
        "mean": ci.mean,
        "low": ci.low,
        "high": ci.high,
        "n_tasks": len(per),
        "unit": unit,
        "verdict": verdict,
    }


def _row(curves: Mapping[tuple[str, int], np.ndarray]) -> dict[str, Any]:
    return {
        str(t): mean_se(list(_task_means(curves, t).values()), se_of_one=None) for t in CHECKPOINTS
    }


def summarise(records: Sequence[Record], split: Mapping[str, str]) -> dict[str, Any]:
    """Regret tables and paired comparisons per split, kind and scenario."""
    cells = _cells(records, split)
    regret: dict[str, Any] = {}
    for (part, kind, scenario, sampler), cell in sorted(cells.items()):
        row = {
            norm: {
                str(t): mean_se(list(_task_means(cell[norm], t).values()), se_of_one=None)
                for t in CHECKPOINTS
            }
            for norm in NORMALISATIONS
        }
        regret.setdefault(part, {}).setdefault(kind, {}).setdefault(scenario, {})[sampler] = row
    comparisons: dict[str, Any] = {}
    for (part, kind, scenario, sampler), cell in sorted(cells.items()):
        if sampler != RL:
            continue
        rivals = {
            s: c
            for (p, k, sc, s), c in cells.items()
            if p == part and k == kind and sc in (scenario, "none") and s != RL
        }
        out = {}
        for rival, other in sorted(rivals.items()):
            out[rival] = {
                norm: {str(t): paired(cell[norm], other[norm], t) for t in PAIRED_AT}
                for norm in NORMALISATIONS
            }
            if rival == "rl-generic":
                out[f"{SAFETY_FACTOR}x rl-generic"] = {
                    norm: {
                        str(t): paired(cell[norm], other[norm], t, SAFETY_FACTOR)
                        for t in PAIRED_AT
                    }
                    for norm in NORMALISATIONS
                }
        comparisons.setdefault(part, {}).setdefault(kind, {})[scenario] = out
    return {"regret": regret, "paired": comparisons, "counts": _counts(records, split)}


def _counts(records: Sequence[Record], split: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = defaultdict(lambda: {"runs": 0, "errors": 0, "unavailable": 0})
    for r in records:
        part = split.get(r["task"].split("/", 1)[1], "unsplit")
        c = out[f"{part}|{r['kind']}|{r['scenario']}|{r['sampler']}"]
        c["runs"] += 1
        c["errors"] += r.get("error") is not None
        c["unavailable"] += r.get("unavailable") is not None
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------
# Markdown and plots
# --------------------------------------------------------------------------------------


def _fmt(stat: Mapping[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    se = stat.get("se")
    return f"{stat['mean']:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def _fmt_pair(p: Mapping[str, Any] | None) -> str:
    if not p:
        return "—"
    mark = {"better": " **better**", "worse": " **worse**", "tie": ""}[p["verdict"]]
    runs = " (runs)" if p.get("unit") == "runs" else ""
    return f"{p['mean']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}]{runs}{mark}"


def regret_table(rows: Mapping[str, Any], norm: str) -> list[str]:
    """Markdown rows: sampler, then mean ± SE over tasks at each checkpoint."""
    head = "| sampler | " + " | ".join(f"@{t}" for t in CHECKPOINTS) + " | tasks |"
    lines = [head, "|---|" + "---|" * (len(CHECKPOINTS) + 1)]
    for sampler, row in rows.items():
        cells = [_fmt(row[norm][str(t)]) for t in CHECKPOINTS]
        n = max(row[norm][str(t)]["n"] for t in CHECKPOINTS)
        lines.append(f"| {sampler} | " + " | ".join(cells) + f" | {n} |")
    return lines


def paired_table(rivals: Mapping[str, Any], norm: str) -> list[str]:
    """Markdown rows: rl-transfer minus each rival (negative = transfer better)."""
    head = "| rl-transfer minus | " + " | ".join(f"@{t}" for t in PAIRED_AT) + " |"
    lines = [head, "|---|" + "---|" * len(PAIRED_AT)]
    for rival, by_norm in rivals.items():
        cells = [_fmt_pair(by_norm[norm][str(t)]) for t in PAIRED_AT]
        lines.append(f"| {rival} | " + " | ".join(cells) + " |")
    return lines


def losses(summary: Mapping[str, Any]) -> list[str]:
    """One line per (split, kind, scenario, rival, normalisation, t) where transfer is
    significantly worse."""
    out = []
    for part, kinds in summary["paired"].items():
        for kind, scenarios in kinds.items():
            for scenario, rivals in scenarios.items():
                for rival, by_norm in rivals.items():
                    for norm, by_t in by_norm.items():
                        for t, p in by_t.items():
                            if p and p["verdict"] == "worse":
                                out.append(
                                    f"- {part}, {kind}, {scenario}: against {rival} at {t} "
                                    f"trials ({norm}): {_fmt_pair(p)}"
                                )
    return out


def markdown(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The whole ``summary.md``."""
    lines = [
        "# Transfer benchmark v2",
        "",
        "Generated by `python -m benchmarks run --suite transfer` (see "
        "`benchmarks/transfer_v2.py` for the tasks, scenarios and samplers) from "
        "`runs.jsonl.gz` in this folder; `python -m benchmarks plot --suite transfer` "
        "rebuilds this page and the plots.",
        "",
        f"- corpus: `{meta.get('corpus')}` (sha256 {str(meta.get('corpus_sha'))[:12]})",
        f"- dev/test split: `benchmarks/splits/{meta.get('split_file')}`, frozen at commit "
        f"{meta.get('split_frozen_at')}; decisions are made on dev, and the test split is "
        "run once per change, at its end (each of its runs is listed here).",
        *[
            f"- {part} split last run {_invocation(inv)}"
            + "".join(f"; before: {_invocation(old)}" for old in reversed(inv.get("history", [])))
            for part, inv in sorted(meta.get("invocations", {}).items())
        ],
        "- regret: mean ± standard error over tasks (each task's mean over 5 seeds); "
        "`range` = share of the task's value range, `median` = share of (best − median).",
        "- paired: rl-transfer minus the rival, mean over tasks [95% bootstrap interval "
        "over tasks]; negative = transfer better; **better**/**worse** only when the "
        f"interval excludes 0. `{SAFETY_FACTOR}x rl-generic` asks whether transfer stays "
        f"within {SAFETY_FACTOR}x of no sources (**better** = shown to). With fewer than "
        f"{MIN_TASKS} tasks (real datasets, data refresh) the interval is over runs "
        "(task x seed), marked (runs): seeds of one dataset are not independent, so read "
        "it as a direction.",
        "",
    ]
    for part in ("dev", "test"):
        for kind, scenarios in summary["regret"].get(part, {}).items():
            lines += _split_section(summary, part, kind, scenarios)
    found = losses(summary)
    lines += ["## Where transfer loses (interval above 0)", ""]
    lines += found or ["- nowhere in these runs"]
    return "\n".join(lines) + "\n"


def _split_section(
    summary: Mapping[str, Any], part: str, kind: str, scenarios: Mapping[str, Any]
) -> list[str]:
    lines = [f"## {part} split, {kind} tasks", ""]
    reference = scenarios.get("none", {})
    for scenario, rows in scenarios.items():
        if scenario == "none":
            continue
        lines += [f"### {scenario}", ""]
        shown = {**rows, **{f"{s} (no sources)": r for s, r in reference.items()}}
        for norm in NORMALISATIONS:
            lines += [f"Regret ({norm}):", "", *regret_table(shown, norm), ""]
        rivals = summary["paired"].get(part, {}).get(kind, {}).get(scenario, {})
        for norm in NORMALISATIONS:
            if rivals:
                lines += [f"Paired ({norm}):", "", *paired_table(rivals, norm), ""]
    if reference and len(scenarios) == 1:
        lines += ["### none", "", *regret_table(reference, "range"), ""]
    return lines


def plot(summary: Mapping[str, Any], folder: Path) -> list[Path]:
    """One PNG per scenario: mean range regret per sampler, dev and test side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    scenarios = sorted(
        {sc for kinds in summary["regret"].values() for sc in kinds.get("surrogate", {})}
        - {"none"}
    )
    for scenario in scenarios:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, part in zip(axes, ("dev", "test"), strict=True):
            rows = summary["regret"].get(part, {}).get("surrogate", {})
            _plot_rows(ax, rows.get(scenario, {}), "-")
            _plot_rows(ax, rows.get("none", {}), ":")
            ax.set_title(f"{scenario} sources, {part} tasks")
            ax.set_xlabel("trials")
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("normalised regret (range), mean over tasks")
        for ax in axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"regret_{scenario}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _plot_rows(ax: Any, rows: Mapping[str, Any], style: str) -> None:
    for sampler, row in rows.items():
        pts = [(t, row["range"][str(t)]["mean"]) for t in CHECKPOINTS]
        pts = [(t, m) for t, m in pts if m is not None]
        if pts:
            label = sampler if style == "-" else f"{sampler} (no sources)"
            ax.plot(*zip(*pts, strict=True), style, marker="o", ms=3, label=label)


def current_records(
    records: Sequence[Record], fingerprints: Mapping[str, str] | None
) -> list[Record]:
    """The records whose fingerprint is their sampler's in ``fingerprints`` (all of
    them when ``fingerprints`` is ``None``)."""
    if not fingerprints:
        return list(records)
    return [r for r in records if r.get("fingerprint") == fingerprints.get(r["sampler"])]


def write_report(
    records: Sequence[Record],
    split: Mapping[str, str],
    meta: Mapping[str, Any],
    folder: Path,
    written: list[Path] | None = None,
) -> dict[str, Any]:
    """Write ``summary.json``, ``summary.md``, ``headline-<split>.md`` (the tables the
    README and the docs copy) and the plots; returns the summary, and appends the paths
    written to ``written`` when it is given.

    Only the records made by the code and corpus of ``meta["fingerprints"]`` (sampler
    -> fingerprint, those of the last run) count, in the curves and in each task's best
    value alike: the log keeps the runs of earlier code (and of rejected variants), which
    would otherwise mix into the figures.
    """
    records = current_records(records, meta.get("fingerprints"))
    summary = summarise(records, split)
    result = {"meta": dict(meta), **summary}
    paths = [folder / "summary.json", folder / "summary.md"]
    write_json(result, paths[0])
    paths[1].write_text(markdown(summary, meta))
    for part in summary["regret"]:
        paths.append(folder / f"headline-{part}.md")
        paths[-1].write_text(headline(summary, part))
    paths += plot(summary, folder)
    if written is not None:
        written += paths
    return result


def _invocation(inv: Mapping[str, Any]) -> str:
    """One invocation of a split, in words."""
    text = f"{inv.get('at_utc')} UTC: {inv.get('ran')} new runs in {inv.get('minutes')} min"
    text += " (with real evaluations)" if inv.get("real") else ""
    return text + (f" ({inv['note']})" if inv.get("note") else "")


# --------------------------------------------------------------------------------------
# The headline tables (README and docs copy them; a test checks they agree)
# --------------------------------------------------------------------------------------

HEADLINE_SAMPLERS: tuple[tuple[str, str, str], ...] = (
    ("honest", "rl-transfer", "RLSampler, transfer"),
    ("honest", "enqueue5-tpe", "enqueue 5 best past configs, then TPE"),
    ("honest", "enqueue5-gp", "enqueue 5 best past configs, then GP"),
    ("honest", "cmaes-warm", "CMA-ES warm-started"),
    ("none", "rl-generic", "RLSampler, no sources"),
    ("none", "gp", "GP"),
    ("none", "tpe", "TPE (multivariate)"),
    ("none", "random", "Random"),
)
HEADLINE_SCENARIOS: tuple[str, ...] = (
    "honest",
    "shifted",
    "shuffled",
    "one-good",
    "backwards",
    "one-bad",
)


def headline(summary: Mapping[str, Any], part: str = "test", kind: str = "surrogate") -> str:
    """Two Markdown tables of split ``part``: regret (range) of every sampler with the
    honest sources, and rl-transfer against no sources in each scenario (paired)."""
    rows = summary["regret"].get(part, {}).get(kind, {})
    out = ["| sampler | " + " | ".join(f"@{t}" for t in CHECKPOINTS) + " |"]
    out.append("|---|" + "---|" * len(CHECKPOINTS))
    for scenario, sampler, label in HEADLINE_SAMPLERS:
        row = rows.get(scenario, {}).get(sampler)
        if row is None:
            continue
        cells = [row["range"][str(t)]["mean"] for t in CHECKPOINTS]
        out.append(f"| {label} | " + " | ".join(_num(c) for c in cells) + " |")
    out += [
        "",
        "| sources | transfer @1 | @3 | @10 | @20 | transfer minus no sources @3 | @10 | @20 |",
    ]
    out.append("|---|---|---|---|---|---|---|---|")
    paired = summary["paired"].get(part, {}).get(kind, {})
    for scenario in HEADLINE_SCENARIOS:
        row = rows.get(scenario, {}).get(RL)
        pair = paired.get(scenario, {}).get("rl-generic")
        if row is None or pair is None:
            continue
        cells = [_num(row["range"][str(t)]["mean"]) for t in (1, 3, 10, 20)]
        diffs = [_fmt_pair(pair["range"][str(t)]) for t in (3, 10, 20)]
        out.append(f"| {scenario} | " + " | ".join(cells + diffs) + " |")
    return "\n".join(out) + "\n"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"
