"""Conditional search spaces: parameters that only some trials hold.

A tuning study often chooses a model (or an optimiser) first and then suggests that
choice's own parameters. RLSampler proposes each group of parameters that appear
together from the trials that hold it (:meth:`~optuna_rl_sampler.search_space.
CurrentSearchSpace.groups`); with ``group=False`` it proposes only the parameters every
trial holds and leaves the others to its independent sampler (uniform random), as
Optuna's GPSampler and CmaEsSampler do. This benchmark compares the two with TPE
(independent per parameter, Optuna's default, and ``multivariate=True, group=True``)
and random search on three synthetic conditional problems whose optimum is 0:

- ``three-models``: a linear model (1 parameter, best 1.0), a tree (2, best 0) or a
  network (2, best 0.5);
- ``optimizer``: a batch size and a dropout every trial holds, then SGD, Adam or
  RMSprop with a learning rate and one more parameter each (best 0 with Adam);
- ``recsys-models``: a LightGBM ranker (4 parameters, best 0.05) or a two-tower model
  (5 parameters, best 0, a narrower optimum).

With source studies (``rl-refresh``, ``rl-backwards``) RLSampler transfers per group
from last month's study of the same problem (:func:`past_study`: 60 TPE trials), as
given (a data refresh) or with its values negated (a source that ranks every
configuration backwards), or (``rl-other``) from the study of another of the problems
that shares a parameter name or two with it (:data:`OTHER_PROBLEM`), to measure what
transfer gains in a conditional space and what a misleading or unrelated source costs
there.

Every study runs ``n_trials`` trials; the regret of a study after ``t`` trials is its
best value so far (the optimum is 0). Samplers are paired by seed.

Run ``python -m benchmarks conditional``; it writes ``results.json.gz``,
``summary.md`` and ``regret.png`` into ``benchmarks/results/conditional/``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import environment
from benchmarks.harness import results_file
from benchmarks.harness import run_pool
from benchmarks.harness import write_json
from benchmarks.tables import fmt
from benchmarks.tables import table

__all__ = [
    "DEFAULT_SEEDS",
    "PROBLEMS",
    "SAMPLERS",
    "run_study",
    "seed_ranges",
    "summarise",
    "write_conditional",
]

DEFAULT_OUT = RESULTS_DIR / "conditional"
#: Trial counts of the summary's tables.
CHECKPOINTS = (10, 20, 40, 60)
#: The seeds of the committed results; seeds 10-39 are for development (choosing a rule
#: or a setting), so that the committed figures come from seeds no decision looked at.
DEFAULT_SEEDS = (*range(10), *range(40, 60))


def seed_ranges(seeds: Sequence[int]) -> str:
    """``seeds`` as runs of consecutive numbers: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    ordered = sorted(set(seeds))
    parts: list[str] = []
    start = prev = ordered[0]
    for seed in [*ordered[1:], None]:
        if seed is not None and seed == prev + 1:
            prev = seed
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if seed is not None:
            start = prev = seed
    return ",".join(parts)


def _three_models(trial: optuna.Trial) -> float:
    model = trial.suggest_categorical("model", ["linear", "tree", "network"])
    if model == "linear":
        alpha = trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        return (math.log10(alpha) + 2.0) ** 2 + 1.0
    if model == "tree":
        depth = trial.suggest_int("depth", 2, 12)
        lr = trial.suggest_float("lr", 1e-3, 0.3, log=True)
        return (depth - 7) ** 2 / 10.0 + (math.log10(lr) + 1.5) ** 2
    units = trial.suggest_int("units", 16, 512, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    return (math.log2(units) - 7.0) ** 2 / 5.0 + 4.0 * (dropout - 0.2) ** 2 + 0.5


def _optimizer(trial: optuna.Trial) -> float:
    batch = trial.suggest_int("batch_size", 16, 512, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    base = (math.log2(batch) - 6.0) ** 2 / 8.0 + 4.0 * (dropout - 0.15) ** 2
    name = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    if name == "sgd":
        lr = trial.suggest_float("sgd_lr", 1e-4, 1.0, log=True)
        momentum = trial.suggest_float("momentum", 0.0, 0.99)
        return base + (math.log10(lr) + 1.0) ** 2 + 2.0 * (momentum - 0.9) ** 2 + 0.3
    if name == "adam":
        lr = trial.suggest_float("adam_lr", 1e-5, 0.1, log=True)
        beta1 = trial.suggest_float("beta1", 0.5, 0.999)
        return base + (math.log10(lr) + 3.0) ** 2 + 4.0 * (beta1 - 0.9) ** 2
    lr = trial.suggest_float("rmsprop_lr", 1e-5, 0.1, log=True)
    alpha = trial.suggest_float("rho", 0.8, 0.999)
    return base + (math.log10(lr) + 3.5) ** 2 + 10.0 * (alpha - 0.95) ** 2 + 0.15


def _recsys_models(trial: optuna.Trial) -> float:
    model = trial.suggest_categorical("model", ["lightgbm-ranker", "two-tower"])
    if model == "lightgbm-ranker":
        leaves = trial.suggest_int("num_leaves", 8, 256, log=True)
        lr = trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        child = trial.suggest_int("min_child_samples", 5, 100, log=True)
        fraction = trial.suggest_float("feature_fraction", 0.5, 1.0)
        return (
            0.05
            + 0.5 * ((math.log2(leaves) - 5.5) / 4.0) ** 2
            + 0.3 * (math.log10(lr) + 1.2) ** 2
            + 0.1 * ((math.log(child) - math.log(20.0)) / 2.0) ** 2
            + 0.3 * (fraction - 0.8) ** 2
        )
    dim = trial.suggest_int("embedding_dim", 16, 256, log=True)
    lr = trial.suggest_float("lr", 1e-4, 0.1, log=True)
    decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    epochs = trial.suggest_int("epochs", 1, 20)
    lr_gap = math.log10(lr) + 2.5
    return (
        0.4 * ((math.log2(dim) - 6.5) / 2.0) ** 2
        + 2.0 * lr_gap**2
        + 0.05 * (math.log10(decay) + 4.0) ** 2
        + 1.0 * (dropout - 0.2 - 0.2 * lr_gap) ** 2
        + 0.002 * (epochs - 12) ** 2
    )


#: The problems: name -> objective (minimised; optimum 0).
PROBLEMS: dict[str, Callable[[optuna.Trial], float]] = {
    "three-models": _three_models,
    "optimizer": _optimizer,
    "recsys-models": _recsys_models,
}


#: Trials of the past study that ``rl-refresh`` and ``rl-backwards`` transfer from.
SOURCE_TRIALS = 60


def past_study(problem: str, seed: int, backwards: bool = False) -> Any:
    """Last month's study of ``problem``: :data:`SOURCE_TRIALS` trials of
    ``TPESampler(seed=1000 + seed)`` on the same objective (a data refresh that left the
    landscape as it was), as a source; ``backwards``: its values negated, so that it
    ranks every configuration the wrong way round (a source that misleads)."""
    from optuna_rl_sampler import SourceStudy

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1000 + seed))
    study.optimize(PROBLEMS[problem], n_trials=SOURCE_TRIALS)
    source = SourceStudy.from_study(study, name=f"{problem}-last-month")
    if backwards:
        source = SourceStudy(
            f"{source.name}-backwards", source.distributions, source.params, -source.values
        )
    return source


#: The problem whose past study ``rl-other`` transfers from: another of the three, which
#: shares a parameter name or two with one of the problem's branches (``dropout``,
#: ``lr``) and nothing else.
OTHER_PROBLEM = {
    "three-models": "optimizer",
    "optimizer": "recsys-models",
    "recsys-models": "three-models",
}


def _make_sampler(name: str, seed: int, problem: str) -> optuna.samplers.BaseSampler:
    from optuna_rl_sampler import RLSampler

    if name in ("rl-refresh", "rl-backwards", "rl-other"):
        if name == "rl-other":
            source = past_study(OTHER_PROBLEM[problem], seed)
        else:
            source = past_study(problem, seed, backwards=name == "rl-backwards")
        return RLSampler(seed=seed, source_studies=[source], warn_independent_sampling=False)
    if name == "rl":
        return RLSampler(seed=seed, warn_independent_sampling=False)
    if name == "rl-intersection":
        return RLSampler(seed=seed, group=False, warn_independent_sampling=False)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-group":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"sampler {name!r}: use one of {', '.join(SAMPLERS)}.")


#: The samplers compared.
SAMPLERS = (
    "rl",
    "rl-intersection",
    "tpe",
    "tpe-group",
    "random",
    "rl-refresh",
    "rl-backwards",
    "rl-other",
)


@dataclass(frozen=True)
class StudyJob:
    """One study: a problem, a sampler, a seed and its number of trials."""

    problem: str
    sampler: str
    seed: int
    n_trials: int


def run_study(job: StudyJob) -> dict[str, Any]:
    """Run one study; its record holds every trial's value in order."""
    import warnings

    objective = PROBLEMS[job.problem]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings of TPE's group
        sampler = _make_sampler(job.sampler, job.seed, job.problem)
        study = optuna.create_study(sampler=sampler)
        start = time.process_time()
        study.optimize(objective, n_trials=job.n_trials)
        cpu = time.process_time() - start
    return {
        "problem": job.problem,
        "sampler": job.sampler,
        "seed": job.seed,
        "values": [t.value for t in study.trials],
        "cpu_s": cpu,
    }


def _regret(values: Sequence[float], t: int) -> float:
    return float(np.min(values[:t]))


def _paired(records: Sequence[dict[str, Any]], a: str, b: str, problem: str, t: int) -> Any:
    from optuna_rl_sampler.recsys.stats import bootstrap_ci

    runs = {(r["sampler"], r["seed"]): r for r in records if r["problem"] == problem}
    seeds = sorted({s for (name, s) in runs if name == a} & {s for (name, s) in runs if name == b})
    if len(seeds) < 2:
        return None
    diffs = [_regret(runs[a, s]["values"], t) - _regret(runs[b, s]["values"], t) for s in seeds]
    return bootstrap_ci(diffs, n_resamples=10000, seed=0)


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean regret per problem, sampler and checkpoint, and RLSampler's paired
    differences with every other sampler (intervals over seeds)."""
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    samplers = [s for s in SAMPLERS if any(r["sampler"] == s for r in records)]
    n_trials = min(len(r["values"]) for r in records)
    checkpoints = [t for t in CHECKPOINTS if t <= n_trials]
    out: dict[str, Any] = {"problems": {}, "checkpoints": checkpoints}
    for problem in problems:
        rows: dict[str, Any] = {}
        for sampler in samplers:
            runs = [r for r in records if r["problem"] == problem and r["sampler"] == sampler]
            regrets = np.array([[_regret(r["values"], t) for t in checkpoints] for r in runs])
            rows[sampler] = {
                "n": len(runs),
                "mean": regrets.mean(axis=0).tolist(),
                "se": (regrets.std(axis=0, ddof=1) / np.sqrt(len(runs))).tolist()
                if len(runs) > 1
                else [None] * len(checkpoints),
                "cpu_s": float(np.mean([r["cpu_s"] for r in runs])),
            }
        paired: dict[str, Any] = {}
        for other in samplers:
            if other == "rl":
                continue
            cells = []
            for t in checkpoints:
                ci = _paired(records, "rl", other, problem, t)
                cells.append(None if ci is None else [ci.mean, ci.low, ci.high])
            paired[other] = cells
        out["problems"][problem] = {"samplers": rows, "rl_minus": paired}
    return out


def _markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    checkpoints = summary["checkpoints"]
    lines = [
        "# Conditional search spaces",
        "",
        f"Created {meta['created']}. Command: `{meta['command']}`. {meta['n_studies']} "
        f"studies, seeds {meta['seeds']}, {meta['n_trials']} trials each. Regret: the best "
        "value so far (every problem's optimum is 0); lower is better. `rl`: RLSampler, "
        "each group of parameters that appear together proposed from the trials that hold "
        "it (a choice of family from the better half of them); `rl-intersection`: "
        "RLSampler(group=False), only the parameters every trial holds, the others "
        "uniform at random; `tpe`: TPESampler (independent per "
        "parameter); `tpe-group`: TPESampler(multivariate=True, group=True); "
        "`rl-refresh`: RLSampler transferring from last month's study of the same problem "
        "(60 TPE trials, another seed); `rl-backwards`: the same past study with its values "
        "negated (a source that misleads); `rl-other`: last month's study of another of "
        "the three problems, which shares a parameter name or two with one branch. See "
        "`benchmarks/conditional.py` for the problems.",
        "",
    ]
    for problem, block in summary["problems"].items():
        lines += [f"## {problem}", ""]
        rows = []
        for sampler, row in block["samplers"].items():
            cells = [
                f"{fmt(m, 3)} ± {fmt(se, 3)}" if se is not None else fmt(m, 3)
                for m, se in zip(row["mean"], row["se"], strict=True)
            ]
            rows.append([sampler, str(row["n"]), *cells, fmt(row["cpu_s"], 2)])
        header = ["sampler", "seeds", *[f"regret@{t}" for t in checkpoints], "CPU s/study"]
        lines += table(header, rows) + [""]
        rows = []
        for other, cells in block["rl_minus"].items():
            rows.append(
                [
                    f"rl - {other}",
                    *[
                        "-" if c is None else f"{c[0]:+.3f} [{c[1]:+.3f}, {c[2]:+.3f}]"
                        for c in cells
                    ],
                ]
            )
        lines += ["Paired by seed, 95% bootstrap intervals (negative: RLSampler lower):", ""]
        lines += table(["difference", *[f"@{t}" for t in checkpoints]], rows) + [""]
    return "\n".join(lines)


def _plot(records: Sequence[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6))
    axes = np.atleast_1d(axes)
    for ax, problem in zip(axes, problems, strict=True):
        for sampler in SAMPLERS:
            runs = [r for r in records if r["problem"] == problem and r["sampler"] == sampler]
            if not runs:
                continue
            curves = np.array([np.minimum.accumulate(r["values"]) for r in runs])
            ax.plot(np.arange(1, curves.shape[1] + 1), np.median(curves, axis=0), label=sampler)
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel("trial")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("regret (median over seeds)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_conditional(
    out: Path | str = DEFAULT_OUT,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    n_trials: int = 60,
    samplers: Sequence[str] = SAMPLERS,
    problems: Sequence[str] = tuple(PROBLEMS),
    workers: int = 2,
    progress: bool = True,
) -> list[Path]:
    """Run every ``(problem, sampler, seed)`` study and write the results, the summary
    and the plot into ``out``."""
    for name in samplers:
        if name not in SAMPLERS:
            raise ValueError(f"sampler {name!r}: use one of {', '.join(SAMPLERS)}.")
    for name in problems:
        if name not in PROBLEMS:
            raise ValueError(f"problem {name!r}: use one of {', '.join(PROBLEMS)}.")
    if n_trials < 2:
        raise ValueError(f"n_trials={n_trials}: run at least 2 trials per study.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [StudyJob(p, s, seed, n_trials) for p in problems for seed in seeds for s in samplers]
    records: list[dict[str, Any]] = []
    run_pool(run_study, jobs, workers, records.append, progress=progress)
    records.sort(key=lambda r: (r["problem"], r["sampler"], r["seed"]))
    summary = summarise(records)
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m benchmarks conditional"
        + (f" --seeds {seed_ranges(seeds)}" if list(seeds) != list(DEFAULT_SEEDS) else "")
        + (f" --trials {n_trials}" if n_trials != 60 else ""),
        "seeds": seed_ranges(seeds),
        "n_trials": n_trials,
        "n_studies": len(records),
        "environment": environment(),
    }
    results = results_file(out)
    write_json({"meta": meta, "summary": summary, "runs": records}, results)
    md = out / "summary.md"
    md.write_text(_markdown(summary, meta) + "\n")
    return [results, md, _plot(records, out / "regret.png")]
