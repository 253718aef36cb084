"""Run samplers side by side on the same tasks and seeds, and write ``results.json.gz``.

One *job* is one study: ``(task, seed, sampler)``, ``n_trials`` trials in in-memory
storage. Jobs run in a pool of ``workers`` processes (spawned, one torch thread each) and
report raw objective values per trial; everything else (best so far, regret, ranks) is
computed afterwards by :mod:`benchmarks.metrics`. A study of 100 trials gives the curves
for every smaller budget, so budgets 50 and 100 come from the same run.

Determinism: a job's result depends only on its task, seed and sampler (each sampler is
built with ``seed``; BBOB's instance is a function of the seed), not on the worker or
the order in which jobs run.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gzip
import json
import logging
import math
import multiprocessing
import os
import platform
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from benchmarks.metrics import DEFAULT_CHECKPOINTS
from benchmarks.metrics import summarise
from benchmarks.tasks import TaskSpec
from optuna_rl_sampler import sampler_registry
from optuna_rl_sampler.sampler_registry import SamplerOptions

SCHEMA_VERSION = 1
SamplerFactory = Callable[[int], BaseSampler]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Name of every suite's results file in its output folder: gzipped JSON, so that the
#: committed records (a few MB of curves) stay small.
RESULTS_FILE = "results.json.gz"
#: Significant digits of the floats in a results file (see :func:`write_json`).
RESULTS_DIGITS = 10


# --------------------------------------------------------------------------------------
# Sampler registry
# --------------------------------------------------------------------------------------


def registry_sampler(name: str, seed: int) -> BaseSampler:
    """Sampler ``name`` of :mod:`optuna_rl_sampler.sampler_registry`, built with ``seed``.

    The factory behind every registry name in a benchmark: ``functools.partial(
    registry_sampler, "tpe")`` is a ``factory(seed)`` that pickles by name, so spawned
    workers build the same sampler from their own copy of the registry.
    """
    return sampler_registry.make_sampler(name, seed)


def _from_seed_factory(factory: SamplerFactory, options: SamplerOptions) -> BaseSampler:
    """A benchmark ``factory(seed)`` seen as a registry ``factory(options)``: it takes the
    run's seed and nothing else."""
    return factory(options.seed)


#: The samplers a benchmark runs unless told otherwise.
DEFAULT_SAMPLERS: tuple[str, ...] = ("rl", "random", "tpe", "gp", "cmaes", "qmc")

#: name -> factory(seed) of the samplers offered by name here: the registry's
#: (:mod:`optuna_rl_sampler.sampler_registry`; e.g. ``tpe`` is ``TPESampler(seed,
#: multivariate=True)``) and those added with :func:`register_sampler`. Any other name
#: of the registry (``nsga2``, ``rl-generic``) is accepted too.
SAMPLERS: dict[str, SamplerFactory] = {
    name: functools.partial(registry_sampler, name) for name in DEFAULT_SAMPLERS
}


def register_sampler(
    name: str,
    factory: SamplerFactory,
    *,
    replace: bool = False,
    description: str | None = None,
) -> None:
    """Add a sampler under ``name``, here and in the package's sampler registry.

    Args:
        name: Name used on the command line and in the results; letters, digits, ``-``
            and ``_``.
        factory: Module-level function ``factory(seed) -> BaseSampler`` (workers receive
            it by pickling).
        replace: Allow replacing an existing entry.
        description: One line for the registry's listings (default: the first line of
            the factory's docstring).

    Raises:
        ValueError: ``name`` is taken (here or in the registry) and ``replace`` is off,
            or it has other characters.
    """
    if name in SAMPLERS and not replace:
        raise ValueError(f"Sampler {name!r} is already registered; pass replace=True.")
    sampler_registry.register_sampler(
        name,
        functools.partial(_from_seed_factory, factory),
        description or _first_doc_line(factory) or name,
        replace=replace,
    )
    SAMPLERS[name] = factory


def _first_doc_line(factory: Callable[..., Any]) -> str:
    """The first line of a factory's docstring (of the wrapped function for a
    ``functools.partial``), or ``""``."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def resolve_samplers(names: Sequence[str]) -> tuple[dict[str, SamplerFactory], dict[str, str]]:
    """Factories for ``names`` that can be built here, and a reason for each one skipped.

    A name is a key of :data:`SAMPLERS`, a name of the package's sampler registry, or
    ``module:function`` (a ``factory(seed)``). A sampler is skipped (with a reason) when
    its factory fails, e.g. ``rl`` before ``RLSampler`` exists or has weights. A name
    added to the registry directly must be added at import of a module, so that spawned
    workers know it as well.

    Raises:
        ValueError: A name is none of these.
    """
    ok: dict[str, SamplerFactory] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            factory = _factory_of(name)
        except ImportError as exc:  # reported to the user
            skipped[name] = str(exc)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                factory(0)
        except Exception as exc:  # reported to the user
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        ok[name] = factory
    return ok, skipped


def _factory_of(name: str) -> SamplerFactory:
    """The ``factory(seed)`` of one name of :func:`resolve_samplers` (raises ImportError
    when a ``module:function`` cannot be imported)."""
    import importlib

    if name in SAMPLERS:
        return SAMPLERS[name]
    if name in sampler_registry.SAMPLERS:
        return functools.partial(registry_sampler, name)
    if ":" in name:
        module, attr = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module), attr)
        except Exception as exc:
            raise ImportError(f"cannot import {name}: {exc!r}") from exc
    known = dict.fromkeys([*SAMPLERS, *sampler_registry.SAMPLERS])
    raise ValueError(f"Unknown sampler {name!r}; known: {', '.join(known)}.")


# --------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One study: a task spec, a seed and a sampler."""

    spec: TaskSpec
    seed: int
    sampler: str
    factory: SamplerFactory
    n_trials: int
    cost: float = 1.0


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class _CapturingHandler(logging.Handler):
    """Counts Optuna log records at WARNING and above instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[f"{record.levelname}: {record.getMessage()[:300]}"] += 1


@contextlib.contextmanager
def captured_messages() -> Iterator[Counter[str]]:
    """Count Optuna's log records (WARNING and above) and Python warnings in the block.

    Yields the counter (``"Category: message" -> count``); a study's messages become
    part of its run record instead of flooding the terminal.
    """
    handler = _CapturingHandler()
    optuna_logger = logging.getLogger("optuna")
    optuna_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield handler.messages
            finally:
                for w in caught:
                    handler.messages[f"{w.category.__name__}: {str(w.message)[:300]}"] += 1
    finally:
        optuna_logger.removeHandler(handler)


def trial_values(trials: Iterable[optuna.trial.FrozenTrial]) -> list[float | None]:
    """Each trial's value, ``None`` unless it is COMPLETE with a finite value."""
    values: list[float | None] = []
    for trial in trials:
        ok = trial.state == optuna.trial.TrialState.COMPLETE
        value = trial.value if ok else None
        values.append(value if value is not None and math.isfinite(value) else None)
    return values


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """Set the BLAS/OpenMP thread variables to 1 (restored on exit).

    They take effect only in processes started inside the block: OpenBLAS reads them
    when numpy is imported, and a spawned worker imports numpy before any initializer
    runs. Without them each study also runs BLAS thread pools that spin on a small
    machine (measured: GPSampler 3x more CPU per study on 2 cores).
    """
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    os.environ.update({v: "1" for v in _THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _limit_threads() -> Any:
    """Limit already-loaded BLAS and torch pools to one thread; return a restorer."""
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its thread count
        limits = None
    else:
        limits = threadpool_limits(limits=1)

    def restore() -> None:
        if limits is not None:
            limits.restore_original_limits()
        if torch is not None and saved_torch is not None:
            torch.set_num_threads(saved_torch)

    return restore


def init_worker() -> None:
    """Per-process setup: one BLAS/torch thread, Optuna logs captured, not printed."""
    os.environ.update({v: "1" for v in _THREAD_VARS})  # for torch, imported later
    _limit_threads()
    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def in_process_worker() -> Iterator[None]:
    """:func:`init_worker` for the current process, undone on exit."""
    saved_verbosity = optuna.logging.get_verbosity()
    with single_thread_env():
        restore = _limit_threads()
        optuna.logging.disable_default_handler()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            yield
        finally:
            restore()
            optuna.logging.enable_default_handler()
            optuna.logging.set_verbosity(saved_verbosity)


def run_job(job: Job) -> dict[str, Any]:
    """Run one study and return its run record (never raises)."""
    record: dict[str, Any] = {
        "task": job.spec.name,
        "instance": "",
        "seed": job.seed,
        "sampler": job.sampler,
        "direction": None,
        "best": None,
        "worst": None,
        "meta": dict(job.spec.meta),
        "n_trials": job.n_trials,
        "values": None,
        "wall_s": None,
        "cpu_s": None,
        "n_failed_trials": None,
        "error": None,
        "warnings": {},
    }
    with captured_messages() as messages:
        try:
            task = job.spec.build(job.seed)
            record.update(
                instance=task.instance,
                direction=task.direction,
                best=task.best,
                worst=task.worst,
                meta={**job.spec.meta, **task.meta},
            )
            sampler = job.factory(job.seed)
            study = optuna.create_study(
                storage=optuna.storages.InMemoryStorage(),
                sampler=sampler,
                direction=task.direction,
            )
            objective = task.optuna_objective()
            start, cpu_start = time.perf_counter(), time.process_time()
            study.optimize(objective, n_trials=job.n_trials, catch=(Exception,))
            record["wall_s"] = time.perf_counter() - start
            record["cpu_s"] = time.process_time() - cpu_start
            values = trial_values(study.get_trials(deepcopy=False))
            record["values"] = values
            record["n_failed_trials"] = sum(v is None for v in values)
        except Exception as exc:  # a failed study is data, not a crash
            record["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    record["warnings"] = dict(messages.most_common(5))
    return record


# Rough CPU seconds per 100-trial study, one thread, in continuous spaces (measured on a
# 2-core machine, see README): used only to order jobs (slowest first) and to print a
# time estimate. GPSampler in mixed integer/log spaces costs about ten times more (the
# tabular suite: about 1 s per proposal in 8-D), so the estimate is low there.
_COST_PER_100: dict[str, dict[int, float]] = {
    "gp": {2: 10.5, 3: 11.0, 5: 12.0, 10: 15.0, 20: 25.0, 40: 40.0},
    "rl": {2: 0.35, 3: 0.35, 5: 0.35, 10: 0.4, 20: 0.6, 40: 1.0},
    "tpe": {2: 0.15, 3: 0.15, 5: 0.2, 10: 0.25, 20: 0.5, 40: 1.0},
    "cmaes": {2: 0.05, 3: 0.05, 5: 0.05, 10: 0.07, 20: 0.1, 40: 0.2},
    "qmc": {2: 0.05, 3: 0.05, 5: 0.05, 10: 0.07, 20: 0.1, 40: 0.2},
    "random": {2: 0.03, 3: 0.03, 5: 0.03, 10: 0.03, 20: 0.05, 40: 0.1},
}


def estimate_cost(sampler: str, dimension: int | None, n_trials: int) -> float:
    """Estimated seconds for one study (unknown samplers are assumed to cost like TPE)."""
    table = _COST_PER_100.get(sampler, _COST_PER_100["tpe"])
    d = dimension if dimension is not None else 5
    nearest = min(table, key=lambda k: abs(k - d))
    scale = n_trials / 100
    # GP cost per trial grows with the history; the others roughly linearly.
    return table[nearest] * (scale**1.5 if sampler == "gp" else scale) + 0.05


def make_jobs(
    specs: Sequence[TaskSpec],
    factories: dict[str, SamplerFactory],
    seeds: Sequence[int],
    n_trials: int,
) -> list[Job]:
    """All ``(task, seed, sampler)`` jobs, most expensive first (for load balance)."""
    jobs = [
        Job(
            spec=spec,
            seed=seed,
            sampler=name,
            factory=factory,
            n_trials=n_trials,
            cost=estimate_cost(name, spec.meta.get("dimension"), n_trials),
        )
        for spec in specs
        for seed in seeds
        for name, factory in factories.items()
    ]
    jobs.sort(key=lambda j: -j.cost)
    return jobs


def run_pool(
    run: Callable[[Any], dict[str, Any]],
    jobs: Sequence[Any],
    workers: int,
    on_record: Callable[[dict[str, Any]], None],
    progress: bool = True,
) -> None:
    """Run ``run(job)`` for every job with a progress bar, in a pool of ``workers``
    spawned processes, or in this process when ``workers == 0`` (for tests and
    debugging), and hand each record to ``on_record`` as soon as it finishes.

    ``run`` must be a module-level function (spawned workers import it by name).
    """
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="studies", unit="study", disable=not progress)
    try:
        if workers <= 0:
            with in_process_worker():
                for job in jobs:
                    on_record(run(job))
                    bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            # Workers inherit the environment when they start (also any restarted later).
            with single_thread_env(), ctx.Pool(workers, initializer=init_worker) as pool:
                for record in pool.imap_unordered(run, jobs, chunksize=1):
                    on_record(record)
                    bar.update()
    finally:
        bar.close()


def execute(jobs: Sequence[Job], workers: int, progress: bool = True) -> list[dict[str, Any]]:
    """Run BBOB-style jobs (see :func:`run_pool`); records sorted by task, seed, sampler."""
    records: list[dict[str, Any]] = []
    run_pool(run_job, jobs, workers, records.append, progress=progress)
    records.sort(key=lambda r: (r["task"], r["seed"], r["sampler"]))
    return records


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every result file, read from package
    metadata (importing torch just for its version costs seconds); ``None`` for a
    package that is not installed."""
    from importlib import metadata

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    for dist in _RECORDED_PACKAGES:
        try:
            env[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist.replace("-", "_")] = None
    return env


#: Packages whose versions :func:`environment` records.
_RECORDED_PACKAGES = (
    "optuna",
    "numpy",
    "scipy",
    "cmaes",
    "torch",
    "lightgbm",
    "coco-experiment",
    "optuna-rl-sampler",
)


@dataclass(frozen=True)
class BenchmarkPlan:
    """What a harness run will do (:func:`plan_benchmark`): its tasks, the samplers asked
    for and those that can be built here, its seeds and trials, and its jobs."""

    specs: tuple[TaskSpec, ...]
    samplers: tuple[str, ...]
    factories: dict[str, SamplerFactory]
    skipped: dict[str, str]
    seeds: tuple[int, ...]
    n_trials: int
    jobs: tuple[Job, ...]


def plan_benchmark(
    specs: Sequence[TaskSpec],
    samplers: Sequence[str],
    seeds: Sequence[int],
    n_trials: int,
    log: Callable[[str], None] = print,
) -> BenchmarkPlan:
    """Resolve the samplers (logging a note for each one skipped) and make the jobs of
    a run (arguments of :func:`run_benchmark`).

    Raises:
        RuntimeError: No sampler can be built here.
    """
    factories, skipped = resolve_samplers(samplers)
    for name, reason in skipped.items():
        log(f"note: skipping sampler {name!r}: {reason}")
    if not factories:
        raise RuntimeError("No sampler could be built; nothing to run.")
    jobs = make_jobs(specs, factories, seeds, n_trials)
    return BenchmarkPlan(
        tuple(specs), tuple(samplers), factories, skipped, tuple(seeds), n_trials, tuple(jobs)
    )


def run_benchmark(
    specs: Sequence[TaskSpec],
    samplers: Sequence[str],
    seeds: Sequence[int],
    n_trials: int,
    *,
    suite: str,
    workers: int = 2,
    out: Path | str | None = None,
    checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
    group_by: str | None = "dimension",
    reference: str = "tpe",
    config_extra: dict[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every sampler on every task and seed; write and return the results.

    Args:
        specs: Task specs (see :mod:`benchmarks.tasks`).
        samplers: Sampler names (registry keys or ``module:function``); any that cannot be
            built here are skipped with a note.
        seeds: Seeds; each sampler is built with the seed, and seeded tasks (BBOB) pick
            their instance from it.
        n_trials: Trials per study.
        suite: Suite name, recorded in the results.
        workers: Worker processes; 0 runs the studies in this process.
        out: Folder for ``results.json.gz`` (plots and ``summary.md`` are written by
            :mod:`benchmarks.report`); ``None`` writes nothing.
        checkpoints: Trial counts reported in the summary.
        group_by: ``meta`` key to break the summary down by.
        reference: Sampler for the speed-up measure.
        config_extra: More facts to record under ``config``.
        progress: Show a tqdm bar.
        log: Where notes go.

    Returns:
        The results dict (schema in ``benchmarks/README.md``).
    """
    return run_plan(
        plan_benchmark(specs, samplers, seeds, n_trials, log),
        suite=suite,
        workers=workers,
        out=out,
        checkpoints=checkpoints,
        group_by=group_by,
        reference=reference,
        config_extra=config_extra,
        progress=progress,
        log=log,
    )


def run_plan(
    plan: BenchmarkPlan,
    *,
    suite: str,
    workers: int = 2,
    out: Path | str | None = None,
    checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
    group_by: str | None = "dimension",
    reference: str = "tpe",
    config_extra: dict[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the jobs of ``plan`` (:func:`plan_benchmark`), summarise them, and write and
    return the results; the other arguments are :func:`run_benchmark`'s."""
    specs, factories, seeds, n_trials = plan.specs, plan.factories, plan.seeds, plan.n_trials
    jobs = plan.jobs
    estimate = sum(j.cost for j in jobs) / max(1, workers)
    log(
        f"{len(jobs)} studies ({len(specs)} tasks x {len(seeds)} seeds x "
        f"{len(factories)} samplers), {workers} worker(s); about {estimate / 60:.1f} min "
        "of CPU per worker on an idle machine (more when it is shared)"
    )
    start = time.perf_counter()
    records = execute(jobs, workers, progress=progress)
    elapsed = time.perf_counter() - start
    log_failures(records, log)
    config = {
        "samplers": list(factories),
        "requested_samplers": list(plan.samplers),
        "seeds": list(seeds),
        "n_trials": n_trials,
        "tasks": [s.name for s in specs],
        "workers": workers,
        "checkpoints": list(checkpoints),
        "group_by": group_by,
        **(config_extra or {}),
    }
    summary = summarise(
        records,
        list(factories),
        n_trials,
        checkpoints=checkpoints,
        group_by=group_by,
        reference=reference,
    )
    results = benchmark_results(suite, config, records, summary, plan.skipped, elapsed)
    if out is not None:
        write_json(results, results_file(out))
    return results


def log_failures(records: Sequence[dict[str, Any]], log: Callable[[str], None]) -> None:
    """Log the first five failed studies and how many failed in all."""
    errors = [r for r in records if r["error"]]
    for r in errors[:5]:
        log(f"error: {r['sampler']} on {r['task']} seed {r['seed']}: {r['error'].splitlines()[0]}")
    if errors:
        log(f"{len(errors)} studies failed; they are excluded from the summary.")


def benchmark_results(
    suite: str,
    config: dict[str, Any],
    records: list[dict[str, Any]],
    summary: dict[str, Any],
    skipped: dict[str, str],
    elapsed: float,
) -> dict[str, Any]:
    """The results dict of a run (schema in ``benchmarks/README.md``): what ran, on what
    machine, every run record and their summary; created now."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "benchmark",
        "suite": suite,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "skipped_samplers": skipped,
        "environment": environment(),
        "total_wall_s": elapsed,
        "n_failed": sum(1 for r in records if r["error"]),
        "runs": records,
        "summary": summary,
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` as JSON (NaN/inf become null), creating the folder.

    When ``path`` ends in ``.gz`` (a results file) the JSON is gzipped without a
    timestamp (equal data, equal bytes) and every float keeps
    :data:`RESULTS_DIGITS` significant digits: a relative change of at most 5e-11,
    far below any figure a summary prints, that halves the size of the curves.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digits = RESULTS_DIGITS if path.suffix == ".gz" else None
    text = json.dumps(_jsonable(data, digits), indent=1, allow_nan=False) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)


def read_json(path: Path | str) -> dict[str, Any]:
    """Read a results file (``.json`` or ``.json.gz``)."""
    path = Path(path)
    if path.suffix == ".gz":
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text())


def results_file(folder: Path | str) -> Path:
    """The results file of a suite's output folder (:data:`RESULTS_FILE`)."""
    return Path(folder) / RESULTS_FILE


def _jsonable(obj: Any, digits: int | None = None) -> Any:
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return obj if digits is None else float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, digits) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item(), digits)
    return obj


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a resumable run's ``runs.jsonl`` (a torn last line, from a kill,
    is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line, flushed at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(_jsonable(record), allow_nan=False) + "\n")
        fh.flush()


class BadArgument(ValueError):
    """A command-line value that cannot be used; ``python -m benchmarks`` prints it as a
    usage error (no traceback)."""


def seeds_from_arg(text: str) -> list[int]:
    """``"5"`` means seeds 0-4; ``"0,3,7"`` or ``"10-14"`` lists them.

    Raises:
        BadArgument: the text gives no seed (``"0"``, an empty list or a range such as
            ``"5-3"``), which would run nothing.
    """
    from benchmarks.tasks import parse_int_list

    text = text.strip()
    seeds = list(range(int(text))) if text.isdigit() else parse_int_list(text)
    if not seeds:
        raise BadArgument(
            f"--seeds {text!r} gives no seed: a count runs seeds 0 to count - 1 ('5' = "
            "seeds 0-4); for seed 0 alone pass '0-0', for a list '0,3' or '10-14'."
        )
    return seeds
