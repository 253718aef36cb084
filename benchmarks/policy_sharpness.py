"""How sure the generic policy is of its choice, trial by trial (BBOB, no sources).

RLSampler draws each trial from ``pi(a|s)`` over its candidate set. When the policy
is sure, a few candidates hold most of the probability; when it is not, the draw is
close to uniform over the candidates and what the study tries is set by how the
candidate set is made (half Sobol points, half moves around the incumbents), not by
the policy. This report measures which of the two a study without sources meets, at
every trial of 100-trial BBOB studies:

- ``entropy``: the entropy of ``pi`` over the candidates divided by ``log N`` (1 is
  uniform, 0 is one candidate);
- ``top``: the largest probability times ``N`` (1 is uniform);
- the candidate source of the chosen trial (Sobol, local move, gradient step).

The first trial of a study is drawn before there is a search space to propose in
(Optuna's independent sampling), so the rows start at trial 2.

It runs its own studies (the harness's BBOB tasks, 15 functions in 2, 5 and 10
dimensions, sampler seeds 5-7, the development seeds of the BBOB benchmark) and
records every proposal's probabilities through a wrapper around the sampler's call of
:func:`optuna_rl_sampler.proposal.propose`, which leaves the proposals unchanged.

Run ``python -m benchmarks policy-sharpness``; it writes ``summary.json``,
``summary.md``, ``policy_sharpness.png`` and the rows (``records.json.gz``) into
``benchmarks/results/policy-sharpness/``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import environment
from benchmarks.harness import in_process_worker
from benchmarks.harness import run_pool
from benchmarks.harness import write_json
from benchmarks.tables import table
from benchmarks.tasks import BBOB_DEFAULT_FUNCTIONS
from optuna_rl_sampler.proposal import normalised_entropy

__all__ = ["BUCKETS", "run_study", "summarise", "write_policy_sharpness"]

DEFAULT_OUT = RESULTS_DIR / "policy-sharpness"
DIMENSIONS = (2, 5, 10)
SEEDS = (5, 6, 7)
N_TRIALS = 100
#: Trial ranges (1-based, inclusive) of the summary table.
BUCKETS: tuple[tuple[int, int], ...] = ((1, 10), (11, 20), (21, 30), (31, 50), (51, 75), (76, 100))


@dataclass(frozen=True)
class StudyJob:
    """One 100-trial study of RLSampler without sources on a BBOB task."""

    function: int
    dimension: int
    seed: int
    n_trials: int = N_TRIALS
    meta_model: str | None = None


@contextlib.contextmanager
def _recorded_proposals(rows: list[dict[str, Any]]) -> Iterator[None]:
    """Record every proposal RLSampler makes in this process into ``rows`` (its
    probabilities' entropy and top, the chosen candidate's source), then restore."""
    from optuna_rl_sampler import sampler as sampler_module

    original = sampler_module.propose

    def recording(*args: Any, **kwargs: Any) -> Any:
        proposal = original(*args, **kwargs)
        p = np.asarray(proposal.probs, dtype=float)
        source = proposal.reason.get("source", "")
        if proposal.reason.get("move") == "gradient-step":
            source = "gradient"
        rows.append(
            {
                "n_observed": int(proposal.reason.get("n_observed", len(rows))),
                "entropy": round(normalised_entropy(p), 4),
                "top": round(float(p.max() * len(p)), 2),
                "source": source,
                "weights": proposal.reason.get("weights", ""),
            }
        )
        return proposal

    sampler_module.propose = recording
    try:
        yield
    finally:
        sampler_module.propose = original


def run_study(job: StudyJob) -> dict[str, Any]:
    """Run one study and return its record: the task, and one row per proposal."""
    import optuna

    from benchmarks.tasks import bbob_task
    from optuna_rl_sampler import RLSampler

    task = bbob_task(job.seed, function=job.function, dimension=job.dimension)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with _recorded_proposals(rows):
        sampler = RLSampler(seed=job.seed, meta_model=job.meta_model)
        study = optuna.create_study(sampler=sampler, direction=task.direction)
        study.optimize(task.optuna_objective(), n_trials=job.n_trials)
    return {
        "function": job.function,
        "dimension": job.dimension,
        "seed": job.seed,
        "wall_s": round(time.perf_counter() - start, 2),
        "proposals": rows,
    }


def _bucket_of(trial: int) -> int | None:
    for i, (lo, hi) in enumerate(BUCKETS):
        if lo <= trial <= hi:
            return i
    return None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per trial: the median and quartiles of the entropy over studies, per dimension
    and overall; per bucket of trials: mean entropy, mean top and the chosen sources'
    shares."""
    groups: dict[str, list[dict[str, Any]]] = {"all": list(records)}
    for d in sorted({r["dimension"] for r in records}):
        groups[f"{d}-D"] = [r for r in records if r["dimension"] == d]
    curves: dict[str, dict[str, list[float]]] = {}
    buckets: dict[str, list[dict[str, Any]]] = {}
    for name, recs in groups.items():
        n = min(len(r["proposals"]) for r in recs)
        ent = np.array([[p["entropy"] for p in r["proposals"][:n]] for r in recs])
        q25, q50, q75 = np.percentile(ent, [25, 50, 75], axis=0)
        curves[name] = {
            "trial": [p["n_observed"] + 1 for p in recs[0]["proposals"][:n]],
            "q25": q25.round(4).tolist(),
            "median": q50.round(4).tolist(),
            "q75": q75.round(4).tolist(),
        }
        rows_by_bucket: list[list[dict[str, Any]]] = [[] for _ in BUCKETS]
        for r in recs:
            for p in r["proposals"]:
                b = _bucket_of(p["n_observed"] + 1)
                if b is not None:
                    rows_by_bucket[b].append(p)
        out = []
        for (lo, hi), rows in zip(BUCKETS, rows_by_bucket, strict=True):
            if not rows:  # a study shorter than the bucket
                continue
            sources = [p["source"] for p in rows]
            out.append(
                {
                    "trials": f"{lo}-{hi}",
                    "entropy": float(np.mean([p["entropy"] for p in rows])),
                    "top": float(np.mean([p["top"] for p in rows])),
                    "share": {
                        s: sources.count(s) / len(sources) for s in ("sobol", "local", "gradient")
                    },
                }
            )
        buckets[name] = out
    weights = sorted({p["weights"] for r in records for p in r["proposals"]})
    return {"curves": curves, "buckets": buckets, "n_studies": len(records), "weights": weights}


def _markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# How sure the generic policy is, trial by trial",
        "",
        "Generated by `python -m benchmarks policy-sharpness` (see "
        "`benchmarks/policy_sharpness.py`). RLSampler without sources (weights "
        f"{', '.join(f'`{w}`' for w in summary['weights'])}) on "
        f"{summary['n_studies']} BBOB studies of {meta['n_trials']} trials "
        f"({len(meta['functions'])} functions, "
        f"{', '.join(f'{d}-D' for d in meta['dimensions'])}, sampler seeds "
        f"{', '.join(map(str, meta['seeds']))}). `entropy`: the policy's entropy over its "
        "candidates divided by log N (1 = uniform); `top`: the largest probability times N "
        "(1 = uniform), both of the probabilities the candidate was drawn from (from the "
        "5th trial at temperature 0.3, `softmax(scores / 0.3)`: "
        "`optuna_rl_sampler.proposal.POLICY_TEMPERATURE`); shares: where the chosen "
        "candidate came from. At temperature 1 (before 2026-12-04) the entropy was 0.41 "
        "at trials 11-20 and 0.95 at trials 76-100.",
        "",
    ]
    for name, rows in summary["buckets"].items():
        lines += [f"## {name}", ""]
        lines += table(
            ["trials", "entropy", "top", "Sobol", "local", "gradient step"],
            [
                [
                    r["trials"],
                    f"{r['entropy']:.2f}",
                    f"{r['top']:.1f}",
                    f"{r['share']['sobol']:.0%}",
                    f"{r['share']['local']:.0%}",
                    f"{r['share']['gradient']:.0%}",
                ]
                for r in rows
            ],
        )
        lines.append("")
    return "\n".join(lines)


def _plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in summary["curves"].items():
        x = curve["trial"]
        (line,) = ax.plot(x, curve["median"], label=name, lw=2 if name == "all" else 1)
        if name == "all":
            ax.fill_between(x, curve["q25"], curve["q75"], color=line.get_color(), alpha=0.2)
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set_xlabel("trial")
    ax.set_ylabel("entropy of pi / log N (1 = uniform)")
    ax.set_ylim(0, 1.02)
    ax.set_title("generic policy without sources, BBOB: median (band: quartiles, all)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_policy_sharpness(
    out: Path | str = DEFAULT_OUT,
    *,
    functions: Sequence[int] = BBOB_DEFAULT_FUNCTIONS,
    dimensions: Sequence[int] = DIMENSIONS,
    seeds: Sequence[int] = SEEDS,
    n_trials: int = N_TRIALS,
    workers: int = 2,
    progress: bool = True,
    meta_model: str | None = None,
) -> list[Path]:
    """Run the studies and write ``summary.json``, ``summary.md``, the plot and every
    proposal's row (``records.json.gz``). ``meta_model``: weights to measure instead
    of the shipped generic ones (a shipped name or a weights file, as
    ``RLSampler(meta_model=...)`` takes it)."""
    jobs = [
        StudyJob(f, d, s, n_trials, meta_model)
        for d in dimensions
        for f in functions
        for s in seeds
    ]
    records: list[dict[str, Any]] = []
    start = time.time()
    if workers <= 0:
        with in_process_worker():
            records = [run_study(j) for j in jobs]
    else:
        run_pool(run_study, jobs, workers, records.append, progress=progress)
    records.sort(key=lambda r: (r["dimension"], r["function"], r["seed"]))
    summary = summarise(records)
    meta = {
        "functions": list(functions),
        "dimensions": list(dimensions),
        "seeds": list(seeds),
        "n_trials": n_trials,
        "minutes": round((time.time() - start) / 60, 2),
        "environment": environment(),
    }
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_json({"meta": meta, "summary": summary}, folder / "summary.json")
    write_json({"meta": meta, "records": records}, folder / "records.json.gz")
    md = folder / "summary.md"
    md.write_text(_markdown(summary, meta) + "\n")
    return [folder / "summary.json", md, _plot(summary, folder / "policy_sharpness.png")]
