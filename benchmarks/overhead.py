"""Cost of a proposal: milliseconds per ``ask`` + suggest at N existing trials, memory, import.

For each sampler, dimension ``d`` and history size ``N``, a fresh spawned process:

1. builds a study whose history is the same ``N`` completed trials for every sampler
   (``study.add_trials``; points uniform in [-5, 5]^d from a fixed seed, values of a
   Rosenbrock function), so all samplers see the same data;
2. makes one untimed-for-the-median *first call* (imports, caches, model loading; its time
   is reported as ``first_call_ms``);
3. times ``study.ask()`` plus the suggestion of every parameter (the whole proposal) up
   to ``repeats`` times, stopping early once ``max_seconds`` have passed (at least
   ``min_repeats`` timed calls); each proposal is then told its true value, so the
   history grows by at most ``repeats`` trials;
4. reports its peak resident memory (``VmHWM``; ``ru_maxrss`` off Linux), both after
   building the study and at the end, and the proposals' own peak: on Linux the peak is
   reset once the study is built, and ``proposal_peak_mb`` is how far the resident
   memory then rose above where it stood. The whole-process peak alone can hide what
   the proposals need (memory freed after the build is reused) or charge them for what
   the build left behind.

Every cell runs with one BLAS/torch thread (as in the benchmark workers). Import time is
measured in fresh interpreters: ``import optuna_rl_sampler``, then ``RLSampler``
attribute access (the lazy import of the sampler module), then ``RLSampler()``; and
``import optuna`` alone as the baseline.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmarks.harness import SCHEMA_VERSION
from benchmarks.harness import SamplerFactory
from benchmarks.harness import environment
from benchmarks.harness import init_worker
from benchmarks.harness import register_sampler
from benchmarks.harness import resolve_samplers
from benchmarks.harness import results_file
from benchmarks.harness import single_thread_env
from benchmarks.harness import write_json
from benchmarks.tasks import suggest_all
from optuna_rl_sampler.sampler_registry import make_sampler

HISTORY_SEED = 12345


def rosenbrock(x: np.ndarray) -> float:
    """Rosenbrock on x / 2 (so the valley crosses the [-5, 5] box)."""
    z = np.asarray(x, dtype=float) / 2.0
    return float(np.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))


#: Kinds of search space: ``float`` (continuous), ``int`` (the integers -5 .. 5, where a
#: study's draws start to repeat configurations once it has many trials) and ``cat``
#: (categorical, :data:`CATEGORIES` choices each: a wide one-hot embedding).
SPACES = ("float", "int", "cat")
#: Choices of each parameter of the ``cat`` space.
CATEGORIES = 50


def search_space(
    dim: int, space: str = "float"
) -> dict[str, optuna.distributions.BaseDistribution]:
    """``x0 .. x{dim-1}``: floats in [-5, 5], integers in [-5, 5] (``space="int"``), or
    :data:`CATEGORIES` choices ``"c0" ..`` (``space="cat"``)."""
    if space not in SPACES:
        raise ValueError(f"space={space!r}: use one of {', '.join(SPACES)}.")
    if space == "int":
        return {f"x{i}": optuna.distributions.IntDistribution(-5, 5) for i in range(dim)}
    if space == "cat":
        choices = [f"c{j}" for j in range(CATEGORIES)]
        return {f"x{i}": optuna.distributions.CategoricalDistribution(choices) for i in range(dim)}
    return {f"x{i}": optuna.distributions.FloatDistribution(-5.0, 5.0) for i in range(dim)}


def as_numbers(params: dict[str, Any], space: str = "float") -> np.ndarray:
    """The point in [-5, 5]^d that Rosenbrock is evaluated at (a choice ``"c{j}"`` is
    ``-5 + 10 j / (CATEGORIES - 1)``)."""
    if space == "cat":
        return np.array([-5.0 + 10.0 * int(v[1:]) / (CATEGORIES - 1) for v in params.values()])
    return np.array([float(v) for v in params.values()])


def history(dim: int, n_trials: int, space: str = "float") -> list[optuna.trial.FrozenTrial]:
    """The shared history: ``n_trials`` completed trials at fixed random points."""
    rng = np.random.default_rng(HISTORY_SEED + dim)
    distributions = search_space(dim, space)
    points = rng.uniform(-5.0, 5.0, size=(n_trials, dim))
    trials = []
    for x in points:
        if space == "cat":
            params: dict[str, Any] = {
                f"x{i}": f"c{round((x[i] + 5.0) / 10.0 * (CATEGORIES - 1))}" for i in range(dim)
            }
        elif space == "int":
            params = {f"x{i}": int(np.rint(x[i])) for i in range(dim)}
        else:
            params = {f"x{i}": float(x[i]) for i in range(dim)}
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                value=rosenbrock(as_numbers(params, space)),
            )
        )
    return trials


def make_rl_with_sources(seed: int) -> optuna.samplers.BaseSampler:
    """RLSampler with 5 source studies of 200 trials each (name ``rl-5x200``).

    The sources cover ``x0 .. x19`` in [-5, 5] (so every dimension here matches them) with
    shifted Rosenbrock values; this measures what transfer adds to a proposal.
    """
    from optuna_rl_sampler import SourceStudy

    space = search_space(20)
    sources = []
    for k in range(5):
        rng = np.random.default_rng(HISTORY_SEED + 100 + k)
        points = rng.uniform(-5.0, 5.0, size=(200, 20))
        values = np.array([-rosenbrock(x - 0.3 * k) for x in points])
        params = tuple({f"x{i}": float(x[i]) for i in range(20)} for x in points)
        sources.append(SourceStudy(f"rosenbrock-shift{k}", space, params, values))
    return make_sampler("rl", seed, source_studies=sources)


register_sampler(
    "rl-5x200",
    make_rl_with_sources,
    replace=True,
    description="RLSampler(seed, source_studies=5 shifted Rosenbrock studies of 200 trials)",
)


def _maxrss_mb() -> float:
    """Peak resident memory of this process in MB.

    Linux: ``VmHWM`` from ``/proc/self/status``, which starts afresh at ``exec``.
    (``ru_maxrss`` does not: a spawned child inherits its parent's peak, so every cell
    would report the parent's.) Elsewhere: ``ru_maxrss``.
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _status_mb(field: str) -> float | None:
    """``field`` of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MB; ``None`` where
    there is no such file (off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Set this process's ``VmHWM`` back to its current resident memory (Linux 4.0 and
    later: ``5`` written to ``/proc/self/clear_refs``); whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def measure_cell(
    sampler: str,
    factory: SamplerFactory,
    dim: int,
    n_trials: int,
    repeats: int,
    max_seconds: float,
    min_repeats: int = 2,
    seed: int = 0,
    space: str = "float",
) -> dict[str, Any]:
    """Time proposals for one ``(sampler, dim, n_trials)``; meant for a fresh process."""
    cell: dict[str, Any] = {
        "sampler": sampler,
        "dim": dim,
        "n_trials": n_trials,
        "ms": [],
        "first_call_ms": None,
        "ms_median": None,
        "ms_mean": None,
        "repeats": 0,
        "capped": False,
        "build_s": None,
        "rss_after_build_mb": None,
        "peak_rss_mb": None,
        "proposal_peak_mb": None,
        "error": None,
    }
    start_rss = None
    try:
        distributions = search_space(dim, space)
        t0 = time.perf_counter()
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), sampler=factory(seed)
        )
        study.add_trials(history(dim, n_trials, space))
        cell["build_s"] = time.perf_counter() - t0
        cell["rss_after_build_mb"] = _maxrss_mb()
        start_rss = _status_mb("VmRSS") if _reset_peak() else None

        def propose() -> float:
            start = time.perf_counter()
            trial = study.ask()
            params = suggest_all(trial, distributions)
            elapsed = time.perf_counter() - start
            study.tell(trial, rosenbrock(as_numbers(params, space)))
            return elapsed * 1000.0

        cell["first_call_ms"] = propose()
        began = time.perf_counter()
        timings: list[float] = []
        while len(timings) < repeats:
            if len(timings) >= min_repeats and time.perf_counter() - began > max_seconds:
                cell["capped"] = True
                break
            timings.append(propose())
        cell["ms"] = timings
        cell["repeats"] = len(timings)
        cell["ms_median"] = float(np.median(timings))
        cell["ms_mean"] = float(np.mean(timings))
    except Exception as exc:  # reported in the results, never raised
        cell["error"] = f"{type(exc).__name__}: {exc}"
    # After the reset VmHWM covers the proposals only; the build's peak is kept above.
    cell["peak_rss_mb"] = max(_maxrss_mb(), cell["rss_after_build_mb"] or 0.0)
    peak = _status_mb("VmHWM")
    if start_rss is not None and peak is not None:
        cell["proposal_peak_mb"] = max(0.0, peak - start_rss)
    return cell


def _measure_cell_star(args: tuple[Any, ...]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. ExperimentalWarning; irrelevant to cost
        *positional, space = args
        return measure_cell(*positional, space=space)


_IMPORT_SNIPPET = """
import json, time
t0 = time.perf_counter()
import optuna_rl_sampler
t1 = time.perf_counter()
out = {"import_s": t1 - t0}
try:
    from optuna_rl_sampler import RLSampler
    t2 = time.perf_counter()
    RLSampler()
    t3 = time.perf_counter()
    out.update(sampler_module_s=t2 - t1, construct_s=t3 - t2, total_s=t3 - t0)
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""

_OPTUNA_SNIPPET = """
import json, time
t0 = time.perf_counter()
import optuna
print(json.dumps({"import_s": time.perf_counter() - t0}))
"""


def _run_snippet(code: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_times(repeats: int = 3) -> dict[str, Any]:
    """Best-of-``repeats`` import times of ``optuna_rl_sampler`` and ``optuna``, in seconds.

    The first interpreter warms the file cache, so the minimum is the steady cost.
    """
    out: dict[str, Any] = {}
    for name, code in (("optuna_rl_sampler", _IMPORT_SNIPPET), ("optuna", _OPTUNA_SNIPPET)):
        runs = [_run_snippet(code) for _ in range(repeats + 1)][1:]
        good = [r for r in runs if "error" not in r]
        if not good:
            out[name] = runs[-1]
            continue
        best = min(good, key=lambda r: r.get("total_s", r["import_s"]))
        out[name] = {**best, "repeats": len(good)}
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            out[name]["error"] = errors[-1]
    return out


def run_overhead(
    samplers: Sequence[str],
    n_trials: Sequence[int] = (100, 1000),
    dims: Sequence[int] = (5, 10),
    *,
    repeats: int = 20,
    max_seconds: float = 60.0,
    skip: Sequence[str] = (),
    workers: int = 1,
    busy: int = 0,
    rounds: int = 1,
    space: str = "float",
    out: Path | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every ``(sampler, dim, N)`` cell in its own spawned process.

    Args:
        samplers: Sampler names (skipped with a note when they cannot be built).
        n_trials: History sizes N.
        dims: Dimensions of the fixed Rosenbrock search space.
        repeats: Timed proposals per cell (at most).
        max_seconds: Per-cell time cap for the timed loop (at least two timed calls are
            made; GP at 1,000 trials needs seconds per proposal).
        skip: Cells not to measure, as ``"sampler@N"`` (e.g. ``"gp@1000"``).
        workers: Cells measured at once; keep 1 for clean timings.
        busy: Busy processes (each a pure-Python loop on one core) kept running while
            the cells are measured, as when the objective trains on the same cores; the
            load average they caused is recorded.
        rounds: Times each cell is measured, each time in a fresh process; a round
            measures every cell once, the samplers of one ``(dim, N)`` one after
            another, so that drifts of the machine's speed hit them alike. A cell's
            timings are pooled over rounds and each round's median is kept.
        space: ``"float"`` (the default), ``"int"`` (every parameter an integer in
            [-5, 5], so that a study's configurations repeat) or ``"cat"`` (every
            parameter a categorical one of :data:`CATEGORIES` choices); see
            :data:`SPACES`.
        out: Folder for ``results.json.gz``; ``None`` writes nothing.
        progress: Show a tqdm bar.
        log: Where notes go.
    """
    factories, skipped = resolve_samplers(samplers)
    for name, reason in skipped.items():
        log(f"note: skipping sampler {name!r}: {reason}")
    if rounds < 1:
        raise ValueError(f"rounds={rounds}: measure every cell at least once (rounds >= 1).")
    search_space(1, space)  # a bad name fails here, before any cell
    cells_args, skipped_cells = plan_cells(
        factories, dims, n_trials, repeats, max_seconds, skip, space
    )
    start = time.perf_counter()
    with background_load(busy) as load:
        cells = pool_rounds(measure_cells(cells_args * rounds, workers, progress))
    log("measuring import time ...")
    imports = import_times()
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "overhead",
        "suite": "overhead",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "samplers": list(factories),
            "requested_samplers": list(samplers),
            "n_trials": list(n_trials),
            "dims": list(dims),
            "repeats": repeats,
            "max_seconds": max_seconds,
            "skip": list(skip),
            "workers": workers,
            "history": f"N points uniform in [-5, 5]^d (seed {HISTORY_SEED}+d)"
            + {"int": ", rounded to integers", "cat": f", as {CATEGORIES} choices"}.get(space, "")
            + ", Rosenbrock(x/2)",
            "space": space,
            "threads": 1,
            "busy_processes": busy,
            "rounds": rounds,
        },
        "load_average": load,
        "skipped_samplers": skipped,
        "environment": environment(),
        "total_wall_s": time.perf_counter() - start,
        "cells": cells + skipped_cells,
        "imports": imports,
        "ratio_rl_tpe_at_1000": rl_tpe_ratio(cells, dims),
        "ratio_rl_tpe_at_1000_rounds": rl_tpe_round_ratios(cells, dims),
    }
    if out is not None:
        write_json(results, results_file(out))
    return results


_BUSY_LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def background_load(n: int) -> Iterator[dict[str, Any]]:
    """Keep ``n`` busy Python processes running inside the block.

    Yields a dict with the busy processes' ids and, after the block, the 1-minute load
    average at its start (a lagging figure: it climbs for a minute after the processes
    start) and end (``None`` where the platform has none), so a summary can say how
    loaded the machine was.
    """
    if n < 0:
        raise ValueError(f"busy={n}: the number of busy processes must be 0 or more.")
    record: dict[str, Any] = {"busy_processes": n}
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP]) for _ in range(n)]
    record["pids"] = [proc.pid for proc in procs]
    try:
        if procs:
            time.sleep(2.0)  # let the scheduler spread them before the first cell
        record["start"] = _load_average()
        yield record
    finally:
        record["end"] = _load_average()
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def plan_cells(
    factories: dict[str, SamplerFactory],
    dims: Sequence[int],
    n_trials: Sequence[int],
    repeats: int,
    max_seconds: float,
    skip: Sequence[str],
    space: str = "float",
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """The arguments of :func:`measure_cell` for every ``(sampler, dim, N)`` cell (its
    positional ones, then ``space``), the samplers of one ``(dim, N)`` next to each
    other, and a record for each cell that ``skip`` (``"sampler@N"``) leaves out."""
    cells_args: list[tuple[Any, ...]] = []
    skipped_cells: list[dict[str, Any]] = []
    for dim in dims:
        for n in n_trials:
            for name, factory in factories.items():
                if f"{name}@{n}" in skip:
                    skipped_cells.append(
                        {"sampler": name, "dim": dim, "n_trials": n, "skipped": "--skip"}
                    )
                    continue
                cells_args.append((name, factory, dim, n, repeats, max_seconds, space))
    return cells_args, skipped_cells


def measure_cells(
    cells_args: Sequence[tuple[Any, ...]], workers: int, progress: bool
) -> list[dict[str, Any]]:
    """Measure each cell in a fresh spawned process (so its peak memory is its own),
    ``workers`` at once, in the order given."""
    from tqdm import tqdm

    ctx = multiprocessing.get_context("spawn")
    cells: list[dict[str, Any]] = []
    bar = tqdm(total=len(cells_args), desc="cells", unit="cell", disable=not progress)
    with (
        single_thread_env(),
        ctx.Pool(max(1, workers), initializer=init_worker, maxtasksperchild=1) as pool,
    ):
        for cell in pool.imap(_measure_cell_star, cells_args, chunksize=1):
            cells.append(cell)
            bar.update()
    bar.close()
    return cells


def pool_rounds(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per ``(sampler, dim, N)`` from its measurements in several rounds.

    Timed calls are pooled (median and mean over all of them), ``round_medians`` keeps
    each round's median, the first call is the median of the rounds' first calls,
    memory the largest of any round; an error in any round is reported. One round's
    record comes back as it was, with ``round_medians`` added.
    """
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["sampler"], cell["dim"], cell["n_trials"]), []).append(cell)
    pooled = []
    for group in groups.values():
        good = [c for c in group if c["ms_median"] is not None]
        merged = dict(group[0])
        merged["round_medians"] = [c["ms_median"] for c in good]
        if len(group) > 1:
            timings = [t for c in good for t in c["ms"]]
            firsts = [c["first_call_ms"] for c in good]
            merged.update(
                ms=timings,
                repeats=len(timings),
                ms_median=float(np.median(timings)) if timings else None,
                ms_mean=float(np.mean(timings)) if timings else None,
                first_call_ms=float(np.median(firsts)) if firsts else None,
                capped=any(c["capped"] for c in group),
                build_s=max((c["build_s"] or 0.0) for c in group),
                rss_after_build_mb=max((c["rss_after_build_mb"] or 0.0) for c in group),
                peak_rss_mb=max((c["peak_rss_mb"] or 0.0) for c in group),
                proposal_peak_mb=_largest(c.get("proposal_peak_mb") for c in group),
                error=next((c["error"] for c in group if c["error"]), None),
            )
        pooled.append(merged)
    return pooled


def _largest(values: Iterable[float | None]) -> float | None:
    """The largest of the known values, ``None`` when none is known."""
    return max((v for v in values if v is not None), default=None)


def rl_tpe_round_ratios(
    cells: Sequence[dict[str, Any]], dims: Sequence[int]
) -> dict[str, list[float]]:
    """``rl``'s median over ``tpe``'s at N = 1,000 in each round (rounds pair the two:
    they ran one after the other), per dimension where both have every round."""
    ratios: dict[str, list[float]] = {}
    by_key = {(c["sampler"], c["dim"], c["n_trials"]): c for c in cells}
    for dim in dims:
        rl = by_key.get(("rl", dim, 1000), {}).get("round_medians", [])
        tpe = by_key.get(("tpe", dim, 1000), {}).get("round_medians", [])
        if rl and len(rl) == len(tpe):
            ratios[f"dim={dim}"] = [a / b for a, b in zip(rl, tpe, strict=True)]
    return ratios


def rl_tpe_ratio(cells: Sequence[dict[str, Any]], dims: Sequence[int]) -> dict[str, float]:
    """``rl``'s median ms per proposal over ``tpe``'s at N = 1,000, per dimension where
    both were measured."""
    ratio: dict[str, float] = {}
    by_key = {(c["sampler"], c["dim"], c["n_trials"]): c for c in cells}
    for dim in dims:
        rl = by_key.get(("rl", dim, 1000))
        tpe = by_key.get(("tpe", dim, 1000))
        if rl and tpe and rl["ms_median"] and tpe["ms_median"]:
            ratio[f"dim={dim}"] = rl["ms_median"] / tpe["ms_median"]
    return ratio
