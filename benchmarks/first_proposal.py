"""Wall time of a study's first proposals in a fresh process, and what SciPy they import.

Every user pays the cost of the first trials once per process: importing the package,
constructing :class:`~optuna_rl_sampler.RLSampler` and the lazy imports of the first
proposals. The ``SOBOL`` candidates used to come from ``scipy.stats.qmc``, whose import
(about a second) fell on the first proposal; they now come from
:mod:`optuna_rl_sampler._sobol`, which draws the same points with numpy alone.

Each repeat runs one fresh interpreter per variant (variants interleaved, after one
discarded warm-up run each, so both see a warm file cache) that times, in order:

* ``import_s``: ``import optuna_rl_sampler`` (the package is lazy: almost nothing);
* ``sampler_import_s``: ``from optuna_rl_sampler import RLSampler`` (the sampler module,
  Optuna included);
* ``construct_s``: ``RLSampler(seed=0)``;
* ``study_s``: ``optuna.create_study`` (in-memory storage);
* ``trial_s``: each of the first ``--trials`` trials, one ``study.optimize(obj,
  n_trials=1)`` call each, on a 3-parameter float/int/categorical objective that costs
  nothing, so the times are the sampler's;

and records after which trial ``scipy.stats`` first appeared in ``sys.modules``. Trial 1
has no completed trial to learn from: Optuna's search space is still empty and
RLSampler draws it independently, so trial 2 is the first proposal of the policy and
carries the lazy imports (SciPy's linear algebra and special functions; formerly
``scipy.stats`` as well).
``startup_s`` is the sum of the above up to the end of trial 3; ``process_s`` is the
whole child process seen from outside (interpreter start-up included).

Variants:

* ``numpy``: the package as it is;
* ``scipy``: the former code path, restored by patching
  ``optuna_rl_sampler.candidates.scrambled_sobol`` with the
  ``scipy.stats.qmc.Sobol(...).random_base2(m)`` call it replaced (same points, the
  import of ``scipy.stats`` on first use).

Run from the repository root::

    python -m benchmarks.first_proposal --repeats 5

Writes ``benchmarks/results/first-proposal/results.json`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "first-proposal"
VARIANTS = ("numpy", "scipy")
#: Trials summed into ``startup_s``.
STARTUP_TRIALS = 3

_CHILD = r"""
import json, sys, time
variant, n_trials = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
import optuna_rl_sampler
t1 = time.perf_counter()
from optuna_rl_sampler import RLSampler
t2 = time.perf_counter()
sampler = RLSampler(seed=0)
t3 = time.perf_counter()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
if variant == "scipy":
    import optuna_rl_sampler.candidates as candidates

    def scipy_sobol(d, m, rng):
        from scipy.stats import qmc  # the former code path: imported on first use
        return qmc.Sobol(d=d, scramble=True, seed=rng).random_base2(m)

    candidates.scrambled_sobol = scipy_sobol
t4 = time.perf_counter()
study = optuna.create_study(sampler=sampler)
t5 = time.perf_counter()


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 16)
    c = trial.suggest_categorical("c", ["a", "b", "c"])
    return x * x + n + (c == "a")


trial_s, stats_after = [], None
for i in range(n_trials):
    start = time.perf_counter()
    study.optimize(objective, n_trials=1)
    trial_s.append(time.perf_counter() - start)
    if stats_after is None and "scipy.stats" in sys.modules:
        stats_after = i + 1
print(json.dumps({
    "import_s": t1 - t0,
    "sampler_import_s": t2 - t1,
    "construct_s": t3 - t2,
    "study_s": t5 - t4,
    "trial_s": trial_s,
    "scipy_stats_after_trial": stats_after,
    "params": [t.params for t in study.trials],
}))
"""


def run_child(variant: str, n_trials: int) -> dict[str, Any]:
    """One fresh interpreter: the timings of :data:`_CHILD` plus ``process_s``."""
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, str(n_trials)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    process_s = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{variant} child failed:\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    trials = out["trial_s"]
    out["first_trial_s"] = trials[0]
    out["second_trial_s"] = trials[1] if len(trials) > 1 else float("nan")
    out["next_trials_s"] = sum(trials[1:])
    out["startup_s"] = (
        out["import_s"]
        + out["sampler_import_s"]
        + out["construct_s"]
        + out["study_s"]
        + sum(trials[:STARTUP_TRIALS])
    )
    out["process_s"] = process_s
    return out


#: Columns of the table: (key, header).
COLUMNS = (
    ("import_s", "import pkg"),
    ("sampler_import_s", "import RLSampler"),
    ("construct_s", "RLSampler()"),
    ("study_s", "create_study"),
    ("first_trial_s", "trial 1"),
    ("second_trial_s", "trial 2 (1st proposal)"),
    ("next_trials_s", "trials 2-N"),
    ("startup_s", f"startup (to trial {STARTUP_TRIALS})"),
    ("process_s", "process"),
)


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median of every timing per variant, and when ``scipy.stats`` got imported."""
    summary: dict[str, dict[str, Any]] = {}
    for variant, rows in runs.items():
        med = {key: statistics.median(r[key] for r in rows) for key, _ in COLUMNS}
        n_trials = len(rows[0]["trial_s"])
        med["trial_s"] = [
            statistics.median(r["trial_s"][i] for r in rows) for i in range(n_trials)
        ]
        med["scipy_stats_after_trial"] = sorted(
            {r["scipy_stats_after_trial"] for r in rows}, key=lambda v: (v is None, v or 0)
        )
        summary[variant] = med
    return summary


def environment() -> dict[str, Any]:
    """Python, package versions and CPU count (from package metadata: imports nothing)."""
    from importlib import metadata

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    for dist in ("numpy", "scipy", "optuna", "optuna-rl-sampler"):
        try:
            env[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist.replace("-", "_")] = None
    try:
        env["load_average"] = list(os.getloadavg())
    except OSError:
        env["load_average"] = None
    return env


def table(summary: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the medians, seconds with 3 decimals."""
    head = ["variant", *(h for _, h in COLUMNS), "scipy.stats after trial"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, med in summary.items():
        cells = [f"{med[key]:.3f}" for key, _ in COLUMNS]
        after = ", ".join("never" if v is None else str(v) for v in med["scipy_stats_after_trial"])
        lines.append("| " + " | ".join([variant, *cells, after]) + " |")
    return "\n".join(lines)


def run(
    repeats: int = 5,
    n_trials: int = 5,
    variants: Sequence[str] = VARIANTS,
    out: Path | str = DEFAULT_OUT,
) -> dict[str, Any]:
    """Measure every variant ``repeats`` times and write ``results.json`` and ``summary.md``."""
    if n_trials < 2 or repeats < 1:
        raise ValueError("repeats must be at least 1 and trials at least 2")
    start = time.perf_counter()
    for variant in variants:  # warm-up: file cache, .pyc files; discarded
        run_child(variant, n_trials)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            runs[variant].append(run_child(variant, n_trials))
    identical = all(
        r["params"] == runs[variants[0]][0]["params"] for v in variants for r in runs[v]
    )
    summary = summarise(runs)
    for rows in runs.values():
        for r in rows:
            r.pop("params")
    results = {
        "kind": "first-proposal",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "repeats": repeats,
            "trials": n_trials,
            "variants": list(variants),
            "sampler": "RLSampler(seed=0)",
            "objective": "x float [-5, 5], n int [1, 16], c categorical {a, b, c}; no cost",
            "statistic": "median over repeats, seconds",
        },
        "environment": environment(),
        "same_params_in_every_run": identical,
        "median": summary,
        "runs": runs,
        "total_wall_s": time.perf_counter() - start,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "summary.md").write_text(_summary_md(results))
    return results


def _summary_md(results: dict[str, Any]) -> str:
    env = results["environment"]
    cfg = results["config"]
    lines = [
        "# First proposals: wall time in a fresh process",
        "",
        f"Median of {cfg['repeats']} fresh interpreters per variant, seconds; "
        f"{cfg['trials']} trials of {cfg['sampler']} on a cost-free "
        "float/int/categorical objective. `numpy`: the package as it is (SOBOL candidates "
        "from `optuna_rl_sampler._sobol`); `scipy`: the former `scipy.stats.qmc` code path "
        "(the same points). Generated by `python -m benchmarks.first_proposal`.",
        "",
        table(results["median"]),
        "",
        "Trials drew the same parameters in every run and variant: "
        f"{results['same_params_in_every_run']}.",
        "",
        f"Environment: Python {env['python']}, numpy {env['numpy']}, scipy {env['scipy']}, "
        f"optuna {env['optuna']}, {env['cpu_count']} CPUs, {env['platform']}; "
        f"load average at the end {env['load_average']}. Created {results['created']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.first_proposal",
        description="Wall time of RLSampler's first proposals in fresh processes.",
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--trials", type=int, default=5, help="trials per process")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="what to time"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    results = run(args.repeats, args.trials, args.variants, args.out)
    print(table(results["median"]))
    print(f"same params in every run: {results['same_params_in_every_run']}")
    print(f"wrote {Path(args.out) / 'results.json'} and summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
