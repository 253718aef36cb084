"""Plots and ``summary.md`` from a ``results.json.gz`` (the JSON is the single source).

``write_report(results, folder)`` dispatches on ``results["kind"]``:

- ``"benchmark"``: ``regret_curves.png`` (mean normalised regret per trial, one panel per
  group, e.g. per dimension, plus all tasks; bands are +-1 standard error),
  ``rank_curves.png`` (average rank per trial), ``summary.md``.
- ``"overhead"``: ``overhead.png`` (median ms per proposal, log scale), ``summary.md``.
- ``"transfer"``: :func:`benchmarks.transfer.write_transfer_report`.
- ``"multiobjective"``: :func:`benchmarks.multiobjective.write_report`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from benchmarks.tables import fmt
from benchmarks.tables import mean_se_cell
from benchmarks.tables import panel_title
from benchmarks.tables import table

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

_COLOURS = {
    "rl": "#d62728",
    "random": "#7f7f7f",
    "tpe": "#1f77b4",
    "gp": "#2ca02c",
    "cmaes": "#ff7f0e",
    "qmc": "#9467bd",
    # transfer suite
    "rl-transfer": "#d62728",
    "rl-generic": "#e377c2",
    "cmaes-warm": "#ff7f0e",
    "enqueue5-tpe": "#17becf",
}


def _colour(name: str, index: int) -> str:
    return _COLOURS.get(name, f"C{index % 10}")


def write_report(results: dict[str, Any], folder: Path | str) -> list[Path]:
    """Write the plots and ``summary.md`` for a results dict of the harness's suites
    (BBOB, toy, overhead); return the paths written. The transfer and multi-objective
    suites write their own (:func:`benchmarks.suites.write_any_report` picks)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if results.get("kind") == "overhead":
        paths = [plot_overhead(results, folder / "overhead.png")]
        text = overhead_markdown(results)
    else:
        paths = [
            plot_curves(results, folder / "regret_curves.png", metric="regret"),
            plot_curves(results, folder / "rank_curves.png", metric="rank"),
        ]
        text = benchmark_markdown(results)
    md = folder / "summary.md"
    md.write_text(text)
    return [*paths, md]


def _panels(summary: dict[str, Any]) -> list[str]:
    groups: list[str] = summary["groups"]
    sub = [g for g in groups if g != "all"]
    return [*sub, "all"] if len(sub) > 1 else ["all"]


def plot_curves(results: dict[str, Any], path: Path, metric: str = "regret") -> Path:
    """Mean normalised regret (log scale) or average rank per trial, with +-1 SE bands."""
    import numpy as np

    summary = results["summary"]
    panels = _panels(summary)
    ncols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(6.0, 4.2 * ncols), 3.4 * nrows + 0.5),
        squeeze=False,
        sharey=metric == "rank",
    )
    for k, group in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        curves = summary["curves"].get(group, {})
        for i, sampler in enumerate(summary["samplers"]):
            if sampler not in curves:
                continue
            c = curves[sampler]
            mean = np.asarray(c[f"{metric}_mean"], dtype=float)
            se = np.asarray(c[f"{metric}_se"], dtype=float)
            x = np.arange(1, mean.size + 1)
            colour = _colour(sampler, i)
            lw = 2.2 if sampler in ("rl", "rl-transfer") else 1.4
            ax.plot(x, mean, color=colour, lw=lw, label=sampler)
            lo, hi = mean - se, mean + se
            if metric == "regret":
                lo = np.maximum(lo, 1e-8)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.18, lw=0)
        if metric == "regret":
            ax.set_yscale("log")
            ax.set_ylabel("normalised regret (mean)")
        else:
            ax.set_ylabel("average rank (1 = best)")
        for cp in summary["checkpoints"]:
            ax.axvline(cp, color="0.85", lw=0.6, zorder=0)
        n = curves[next(iter(curves))]["n"] if curves else 0
        ax.set_title(f"{panel_title(group)} ({n} runs per sampler)", fontsize=10)
        ax.set_xlabel("trial")
        ax.grid(alpha=0.25)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    per_row = max(3, 2 * ncols)
    legend_rows = math.ceil(len(labels) / per_row)
    fig.legend(handles, labels, loc="lower center", ncol=per_row, frameon=False)
    title = "normalised regret" if metric == "regret" else "average rank"
    fig.suptitle(f"{results.get('suite', '')}: {title} (mean +- 1 SE)", fontsize=11)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.3 * legend_rows / height, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_overhead(results: dict[str, Any], path: Path) -> Path:
    """Grouped bars: median ms per proposal per sampler at each (dim, N), log scale."""
    import numpy as np

    cells = [c for c in results["cells"] if c.get("ms_median")]
    samplers = [s for s in results["config"]["samplers"] if any(c["sampler"] == s for c in cells)]
    keys = sorted({(c["dim"], c["n_trials"]) for c in cells})
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(keys) + 2), 4.0))
    width = 0.8 / max(1, len(samplers))
    for i, sampler in enumerate(samplers):
        by = {(c["dim"], c["n_trials"]): c for c in cells if c["sampler"] == sampler}
        heights = [by[k]["ms_median"] if k in by else np.nan for k in keys]
        xs = np.arange(len(keys)) + (i - (len(samplers) - 1) / 2) * width
        ax.bar(xs, heights, width=width, color=_colour(sampler, i), label=sampler)
    ax.set_xticks(np.arange(len(keys)))
    ax.set_xticklabels([f"{d}-D, N={n}" for d, n in keys])
    ax.set_yscale("log")
    ax.set_ylabel("ms per proposal (median)")
    ax.set_title("proposal cost: study.ask() + suggest all params", fontsize=10)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(
        ncol=min(len(samplers), 6),
        fontsize=8,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def benchmark_markdown(results: dict[str, Any]) -> str:
    """The benchmark's ``summary.md``: the run, then per group regret, rank, the share
    of solved runs, the speed-up over the reference, log10 regret, time and the
    definitions."""
    s = results["summary"]
    cps = [str(c) for c in s["checkpoints"]]
    samplers = s["samplers"]
    groups = s["groups"]
    out = _benchmark_intro(results)
    for g in groups:
        out += [f"## Normalised regret ({panel_title(g)})", ""]
        rows = [
            [m] + [mean_se_cell(s["regret"].get(m, {}).get(g, {}).get(c)) for c in cps]
            for m in samplers
        ]
        out += table(["sampler", *[f"t={c}" for c in cps]], rows) + [""]
    for g in groups:
        out += [f"## Average rank ({panel_title(g)}; 1 = best)", ""]
        rows = [
            [m] + [mean_se_cell(s["rank"].get(m, {}).get(g, {}).get(c), 2) for c in cps]
            for m in samplers
        ]
        out += table(["sampler", *[f"t={c}" for c in cps]], rows) + [""]
    out += paired_lines(results)
    out += _within_lines(s)
    if s["speedup"]["by"]:
        out += _speedup_lines(s)
    if s["log10_regret"]:
        out += ["## log10 simple regret (f - f_opt, floor 1e-8; tasks with a known optimum)", ""]
        rows = [
            [m]
            + [mean_se_cell(s["log10_regret"].get(m, {}).get("all", {}).get(c), 2) for c in cps]
            for m in samplers
        ]
        out += table(["sampler", *[f"t={c}" for c in cps]], rows) + [""]
    out += _time_lines(results)
    d = s["definitions"]
    out += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in d.items()] + [""]
    return "\n".join(out)


def _benchmark_intro(results: dict[str, Any]) -> list[str]:
    """Title, samplers, scale and wall-clock of the run; skipped samplers and failed
    trials."""
    s = results["summary"]
    cfg = results["config"]
    out = [
        f"# Benchmark `{results['suite']}`",
        "",
        f"Created {results.get('created', '?')}. Samplers: {', '.join(s['samplers'])}. "
        f"{len(cfg['tasks'])} tasks x {len(cfg['seeds'])} seeds x {cfg['n_trials']} trials. "
        f"Total wall-clock {results.get('total_wall_s', 0) / 60:.1f} min on "
        f"{cfg['workers']} worker(s). Failed studies: {results.get('n_failed', 0)}.",
    ]
    for name, reason in results.get("skipped_samplers", {}).items():
        out += ["", f"- Skipped `{name}`: {reason}"]
    failed = {k: v for k, v in s.get("failed_trials", {}).items() if v}
    if failed:
        out += [
            "",
            "- Trials that failed or returned a non-finite value (counted as trials without "
            "a value; see each run's `warnings`): "
            + ", ".join(f"{k} {v}" for k, v in failed.items()),
        ]
    for note in results.get("notes", []):
        out += ["", note]
    return out + ["", "All numbers are mean ± standard error over runs (task x seed).", ""]


#: Harness suites whose tasks share one search space, so that a seed gives a sampler
#: the same first configurations on every task: paired intervals resample seeds there.
SEED_CLUSTERED_SUITES = ("tabular", "tabular-dev", "tabular-test")


def paired_lines(results: dict[str, Any], sampler: str = "rl") -> list[str]:
    """``sampler`` minus each other sampler in normalised regret at every checkpoint,
    per group, with a 95% percentile-bootstrap interval.

    The unit resampled is the task (each task's mean paired difference over seeds), or
    the seed (each seed's mean over tasks) for :data:`SEED_CLUSTERED_SUITES`, whose runs
    are not independent across tasks. Empty when ``sampler`` did not run.
    """
    from benchmarks.metrics import best_so_far
    from benchmarks.metrics import group_key
    from benchmarks.metrics import normalisation_bounds
    from benchmarks.metrics import normalised_regret
    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    s = results["summary"]
    samplers = s["samplers"]
    if sampler not in samplers or len(samplers) < 2:
        return []
    by_seed = results.get("suite") in SEED_CLUSTERED_SUITES
    group_by = results["config"].get("group_by", "dimension")
    bounds = normalisation_bounds(results["runs"])
    curves: dict[tuple[str, str, str, int], np.ndarray] = {}
    groups: dict[tuple[str, str], str] = {}
    for run in results["runs"]:
        if run.get("values") is None:
            continue
        b = bounds[group_key(run)]
        curve = normalised_regret(
            best_so_far(run["values"], run["direction"]), b["best"], b["worst"]
        )
        curves[(run["sampler"], run["task"], run.get("instance", ""), run["seed"])] = curve
        groups[(run["task"], run.get("instance", ""))] = f"{group_by}={run['meta'].get(group_by)}"
    unit = "seeds" if by_seed else "tasks"
    out = [
        f"## Paired differences: `{sampler}` minus each sampler (normalised regret)",
        "",
        f"Mean paired difference with a 95% bootstrap interval over {unit} (each "
        + (
            "seed's mean over the tasks: a seed gives a sampler the same configurations on "
            "every task, so runs are not independent across tasks"
            if by_seed
            else "task's mean over its seeds"
        )
        + "); **better** / **worse** only where the interval excludes 0.",
        "",
    ]
    cps = [int(c) for c in s["checkpoints"]]
    for g in s["groups"]:
        rows = []
        for other in samplers:
            if other == sampler:
                continue
            cells = [f"{sampler} - {other}"]
            for c in cps:
                per: dict[Any, list[float]] = {}
                for (m, task, inst, seed), curve in curves.items():
                    if m != sampler or (g != "all" and groups[(task, inst)] != g):
                        continue
                    twin = curves.get((other, task, inst, seed))
                    if twin is None or len(curve) < c or len(twin) < c:
                        continue
                    key = seed if by_seed else (task, inst)
                    per.setdefault(key, []).append(float(curve[c - 1] - twin[c - 1]))
                diffs = [float(np.mean(v)) for v in per.values()]
                if len(diffs) < 2:
                    cells.append("-")
                    continue
                ci = bootstrap_ci(diffs, n_resamples=10_000, seed=0)
                mark = " **better**" if ci.high < 0 else " **worse**" if ci.low > 0 else ""
                cells.append(f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]{mark}")
            rows.append(cells)
        out += [f"### {panel_title(g)}", ""]
        out += table(["difference", *[f"t={c}" for c in cps]], rows) + [""]
    return out


def _within_lines(s: dict[str, Any]) -> list[str]:
    """Share of runs within the regret threshold by the given trial, per group."""
    w = s["within"]
    out = [
        f"## Share of runs within {w['threshold']:.0%} normalised regret by trial {w['trial']}",
        "",
    ]
    rows = [
        [m]
        + [
            f"{w['share'][m][g]['share']:.0%} (n={w['share'][m][g]['n']})"
            if g in w["share"].get(m, {})
            else "-"
            for g in s["groups"]
        ]
        for m in s["samplers"]
    ]
    return out + table(["sampler", *[panel_title(g) for g in s["groups"]]], rows) + [""]


def _speedup_lines(s: dict[str, Any]) -> list[str]:
    """Median trials to match the reference's final best so far, per group."""
    sp = s["speedup"]
    out = [
        f"## Trials to match `{sp['reference']}` after {sp['n_trials']} trials",
        "",
        "Median trials to reach the reference's final best so far (per task and seed), "
        "the median speed-up n/median, and the share of runs that got there.",
        "",
    ]
    rows = []
    for m in s["samplers"]:
        row = [m]
        for g in s["groups"]:
            e = sp["by"].get(m, {}).get(g)
            if not e:
                row.append("-")
                continue
            med = e["median_trials_to_match"]
            spd = e["median_speedup"]
            row.append(
                f"{fmt(med, 0) if med else '>n'} ({fmt(spd, 2) + 'x' if spd else '-'}; "
                f"{e['share_matched']:.0%})"
            )
        rows.append(row)
    return out + table(["sampler", *[panel_title(g) for g in s["groups"]]], rows) + [""]


def _time_lines(results: dict[str, Any]) -> list[str]:
    """Median wall-clock (median CPU) seconds per study, per group."""
    s = results["summary"]
    out = [
        "## Time per study (s)",
        "",
        f"Median wall-clock (median CPU) per study of {results['config']['n_trials']} "
        "trials, objective included; one thread per worker. CPU time is the better guide "
        "on a shared machine.",
        "",
    ]
    rows = []
    for m in s["samplers"]:
        row = [m]
        for g in s["groups"]:
            e = s["wall_s"].get(m, {}).get(g)
            c = s.get("cpu_s", {}).get(m, {}).get(g)
            cpu = fmt(c["median"], 2) if c else "-"
            row.append(f"{fmt(e['median'], 2)} ({cpu})" if e else "-")
        rows.append(row)
    return out + table(["sampler", *[panel_title(g) for g in s["groups"]]], rows) + [""]


def _load_sentence(results: dict[str, Any]) -> str:
    """How many rounds were pooled and how loaded the machine was (``--rounds``,
    ``--busy``); empty for one round on a quiet machine."""
    rounds = results["config"].get("rounds", 1)
    text = ""
    if rounds > 1:
        text = (
            f" Every cell was measured in {rounds} rounds, each in a fresh process, the "
            "samplers of one (dim, N) one after the other; the median pools all rounds' "
            "calls, the note gives the range of the rounds' medians."
        )
    busy = results["config"].get("busy_processes", 0)
    if not busy:
        return text
    load = results.get("load_average", {})
    return text + (
        f" **Under load:** {busy} busy processes (pure-Python loops) ran beside every cell, "
        f"as an objective training on the same cores would; 1-minute load average "
        f"{load.get('start')} at the start, {load.get('end')} at the end."
    )


def overhead_markdown(results: dict[str, Any]) -> str:
    """The overhead run's ``summary.md``."""
    cfg = results["config"]
    out = [
        "# Proposal overhead",
        "",
        f"Created {results.get('created', '?')}. Median ms for `study.ask()` + suggesting all "
        f"parameters, with N completed trials in the study ({cfg['history']}); up to "
        f"{cfg['repeats']} timed calls after one first call, capped at {cfg['max_seconds']:.0f} "
        "s per cell; one thread. Peak RSS is the whole process (Python, Optuna, torch when "
        "loaded); the proposals' peak is how far its resident memory rose above where it "
        "stood once the study was built (the peak reset there; Linux only)."
        + _load_sentence(results),
        "",
    ]
    for name, reason in results.get("skipped_samplers", {}).items():
        out += [f"- Skipped `{name}`: {reason}", ""]
    rows = []
    for c in sorted(results["cells"], key=lambda c: (c["dim"], c["n_trials"], c["sampler"])):
        if c.get("skipped"):
            skipped = [c["sampler"], str(c["dim"]), str(c["n_trials"]), "-", "-", "0", "-", "-"]
            rows.append([*skipped, "skipped"])
            continue
        note = c["error"] or ("capped" if c.get("capped") else "")
        if len(c.get("round_medians", [])) > 1:
            low, high = min(c["round_medians"]), max(c["round_medians"])
            note = f"rounds {fmt(low, 2)}-{fmt(high, 2)}" + (f"; {note}" if note else "")
        rows.append(
            [
                c["sampler"],
                str(c["dim"]),
                str(c["n_trials"]),
                fmt(c["ms_median"], 2),
                fmt(c["first_call_ms"], 1),
                f"{c['repeats']}",
                f"{fmt(c['peak_rss_mb'], 0)} ({fmt(c['rss_after_build_mb'], 0)})",
                fmt(c.get("proposal_peak_mb"), 1),
                note,
            ]
        )
    out += table(
        [
            "sampler",
            "dim",
            "N",
            "ms median",
            "first call ms",
            "repeats",
            "peak RSS MB (after build)",
            "proposals' peak MB",
            "note",
        ],
        rows,
    ) + [""]
    ratio = results.get("ratio_rl_tpe_at_1000") or {}
    by_round = results.get("ratio_rl_tpe_at_1000_rounds") or {}

    def with_rounds(key: str, value: float) -> str:
        rounds = by_round.get(key, [])
        if len(rounds) < 2:
            return f"{panel_title(key)}: {value:.2f}x"
        return (
            f"{panel_title(key)}: {value:.2f}x (round by round {min(rounds):.2f}x to "
            f"{max(rounds):.2f}x, above 1 in {sum(r > 1 for r in rounds)} of {len(rounds)})"
        )

    if ratio:
        out += [
            "RL / TPE proposal time at N=1000: "
            + ", ".join(with_rounds(k, v) for k, v in ratio.items()),
            "",
        ]
    else:
        out += ["RL / TPE ratio at N=1000: not available (RL or TPE not measured at 1000).", ""]
    imp = results.get("imports", {})
    out += ["## Import time (best of fresh interpreters)", ""]
    for name, e in imp.items():
        parts = [f"{k} {v * 1000:.1f} ms" for k, v in e.items() if k.endswith("_s")]
        if e.get("error"):
            parts.append(f"error: {e['error']}")
        out.append(f"- `{name}`: " + ", ".join(parts))
    out.append("")
    return "\n".join(out)
