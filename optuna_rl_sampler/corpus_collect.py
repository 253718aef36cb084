"""The corpus sweeps: one study of a model family on one dataset, resumable, with
several worker processes on one storage (``optuna-rl corpus collect``).

:func:`collect` builds the objective from a dataset spec
(:mod:`optuna_rl_sampler.corpus_data`), runs the chosen sampler (:data:`SAMPLERS`: a
Sobol or random design, TPE, GP or the generic RLSampler) into a study of any Optuna
storage, and records on the study what it tunes, so the table of
:mod:`optuna_rl_sampler.corpus` and the shipped sources can be rebuilt from it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.trial import TrialState

from optuna_rl_sampler.corpus import open_storage
from optuna_rl_sampler.corpus_data import history_cut
from optuna_rl_sampler.corpus_data import load_data
from optuna_rl_sampler.corpus_data import subsample_users

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.objective import RecsysObjective

# Under Optuna's logger tree, so optuna.logging.set_verbosity governs it too.
_logger = logging.getLogger(f"optuna.{__name__}")

#: ``sampler`` names :func:`collect` accepts: a space-filling design (``"sobol"``) and the
#: optimisers a team's past studies were run with (``"random"``, ``"tpe"``, ``"gp"`` and
#: ``"rl-generic"``, RLSampler with no sources).
SAMPLERS = ("sobol", "random", "tpe", "gp", "rl-generic")


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to rebuild the objective (picklable for spawn)."""

    model: str
    data: str
    format: str | None
    metric: str
    storage: str
    study_name: str
    trials: int
    sampler: str
    seed: int
    max_users: int | None
    max_events_per_user: int | None
    max_valid_queries: int | None
    model_options: dict[str, Any]
    sampler_seed: int | None = None
    history_fraction: float | None = None

    @property
    def seed_of_sampler(self) -> int:
        return self.seed if self.sampler_seed is None else self.sampler_seed


def _single_thread_env() -> None:
    # LightGBM's OpenMP threads spin while they wait; on a busy machine that makes
    # boosting tens of times slower. Must be set before libgomp is first loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _family(model: str, options: Mapping[str, Any]) -> Any:
    import inspect

    from optuna_rl_sampler.recsys.objective import resolve_model

    family = resolve_model(model)
    cls = type(family)
    accepted = inspect.signature(cls).parameters
    kwargs = dict(options)
    if "num_threads" in accepted:
        kwargs.setdefault("num_threads", 1)
    if model == "lightgbm-ranker":
        # The candidate index and the training lists depend on the data, the seed and
        # the constructor options, never on the trial's parameters; a sweep fits the
        # same split hundreds of times, so they are built once (identical results).
        kwargs.setdefault("cache", True)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {model!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(accepted) or 'none'}."
        )
    return cls(**kwargs) if kwargs else family


def _build(task: _Task) -> tuple[RecsysObjective, dict[str, Any]]:
    from optuna_rl_sampler.recsys.objective import make_objective

    data, description = load_data(task.data, format=task.format, seed=task.seed)
    if task.history_fraction is not None:
        data = history_cut(data, task.history_fraction, seed=task.seed)
        description["history"] = data.notes["history"]
    if task.max_users is not None or task.max_events_per_user is not None:
        data = subsample_users(
            data, task.max_users, seed=task.seed, max_events_per_user=task.max_events_per_user
        )
        if "subsample" in data.notes:
            description["subsample"] = data.notes["subsample"]
    family = _family(task.model, task.model_options)
    try:
        objective = make_objective(
            family,
            data,
            task.metric,
            max_valid_queries=task.max_valid_queries,
            seed=task.seed,
            prune=False,
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    stats = data.stats()
    description.update(
        n_users=stats["n_users"],
        n_items=stats["n_items"],
        n_interactions=stats["n_interactions"],
        split=objective.split.method,
        n_valid_queries=len(objective.valid_queries),
    )
    return objective, description


def _make_sampler(name: str, seed: int, worker: int) -> optuna.samplers.BaseSampler:
    """The optimiser of a past study, from the sampler registry: ``sobol`` is the
    registry's ``qmc``; TPE keeps Optuna's default ``multivariate``, as most past
    studies were run."""
    from optuna_rl_sampler.sampler_registry import make_sampler

    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    if name == "sobol":
        # Every worker draws from one scrambled sequence; the sample index is kept in the
        # study, so workers (under the ask lock) take consecutive points.
        return make_sampler("qmc", seed)
    import numpy as np

    # Other workers get their own stream, or they would propose the same points.
    if worker:
        seed = int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])
    # The constant liar keeps parallel TPE workers apart.
    return make_sampler(name, seed, multivariate=None, constant_liar=worker > 0)


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _fail_stale(study: optuna.Study) -> int:
    """Mark the RUNNING trials of a killed run as FAIL; returns how many."""
    storage = study._storage
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        storage.set_trial_user_attr(
            t._trial_id, "fail_reason", "stale: left RUNNING by a killed run"
        )
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(stale)


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def collect(
    model: str,
    data: str | os.PathLike[str],
    *,
    storage: str = "sqlite:///corpus.db",
    study_name: str | None = None,
    trials: int = 150,
    sampler: str = "sobol",
    metric: str = "ndcg@10",
    workers: int = 1,
    seed: int = 0,
    format: str | None = None,
    max_users: int | None = None,
    max_events_per_user: int | None = None,
    max_valid_queries: int | None = 500,
    model_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    sampler_seed: int | None = None,
    history_fraction: float | None = None,
) -> optuna.Study:
    """Tune or sweep one model family on one dataset into an Optuna study (resumable).

    Each trial draws a configuration with the family's ``suggest`` from ``sampler`` (a
    scrambled Sobol design, or an optimiser as a past study would have been run with:
    Random, TPE, GP or RLSampler without sources), trains it and stores the validation
    ``metric`` (no pruning, so every trial is a full evaluation). The study is created
    or resumed (``load_if_exists``); RUNNING trials left by a killed run are marked FAIL
    (and counted in the log), and trials are started until the study holds ``trials``
    COMPLETE ones: FAIL and PRUNED trials do not count.

    With ``workers > 1``, that many processes (``spawn``) each load the data and evaluate
    trials on the same storage; a lock shared by the processes makes the count exact.
    Separate ``collect`` calls on one study must not run at the same time (each would
    mark the other's running trials FAIL on start). Every model runs with one thread and
    ``OMP_WAIT_POLICY=PASSIVE``.

    Args:
        model: A registered model name (``"lightgbm-ranker"``, ``"two-tower"``, ...).
        data: A dataset folder or ``synthetic:DOMAIN[:knob=value,...]`` (see
            :func:`load_data`).
        storage: RDB URL or journal file of the study. Defaults to
            ``"sqlite:///corpus.db"``.
        study_name: Name of the study. Defaults to ``None``:
            ``"<model>/<dataset spec>/<sampler>-seed<seed>"``.
        trials: COMPLETE trials the study must end with. Defaults to 150.
        sampler: ``"sobol"`` (scrambled Sobol, :class:`optuna.samplers.QMCSampler`),
            ``"random"``, ``"tpe"`` (Optuna's default :class:`~optuna.samplers.TPESampler`),
            ``"gp"`` (:class:`~optuna.samplers.GPSampler`) or ``"rl-generic"``
            (:class:`~optuna_rl_sampler.RLSampler` with ``source_studies=None``). Defaults
            to ``"sobol"``.
        metric: Validation metric to maximise. Defaults to ``"ndcg@10"``.
        workers: Processes evaluating trials. Defaults to 1 (in this process).
        seed: Seed of the sampler, the user subsample, the validation queries, model
            fitting and (unless the spec sets one) synthetic data. Defaults to 0.
        format: Format of a dataset folder. Defaults to ``None`` (detected).
        max_users: Keep at most this many users, drawn with ``seed``
            (:func:`subsample_users`). Defaults to ``None``: all users.
        max_events_per_user: Keep each user's latest this many events. Defaults to
            ``None``: all events.
        max_valid_queries: Validation queries per trial, drawn with ``seed``. Defaults
            to 500.
        model_options: Keyword arguments of the model family's constructor (e.g.
            ``{"max_train_queries": 1000}``); ``num_threads`` defaults to 1. Defaults to
            ``None``: the family's defaults.
        progress: Show a progress bar of COMPLETE trials. Defaults to ``True``.
        sampler_seed: Seed of the sampler alone, so that several studies of one dataset
            share its data, split and validation queries (``seed``) but not their
            configurations. Defaults to ``None``: ``seed``.
        history_fraction: Keep only the oldest this share of the events before
            splitting (:func:`history_cut`): the dataset as it was before a data refresh.
            Defaults to ``None``: all events.

    Returns:
        The study (loaded from ``storage``).

    Raises:
        ValueError: A bad argument, data spec, storage or model name; the study exists
            with another direction; or a worker process failed.
    """
    import warnings

    _single_thread_env()
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials!r}.")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}.")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be at least 1, got {max_users!r}.")
    if max_events_per_user is not None and max_events_per_user < 1:
        raise ValueError(f"max_events_per_user must be at least 1, got {max_events_per_user!r}.")
    if max_valid_queries is not None and max_valid_queries < 1:
        raise ValueError(f"max_valid_queries must be at least 1, got {max_valid_queries!r}.")
    if history_fraction is not None and not 0.0 < history_fraction < 1.0:
        raise ValueError(
            f"history_fraction must lie strictly between 0 and 1, got {history_fraction!r} "
            "(0.75 keeps the oldest 75% of the events; None keeps them all)."
        )
    from optuna_rl_sampler.recsys.metrics import parse_metric

    parse_metric(metric)
    storage_obj = open_storage(storage)
    if not isinstance(storage, str) and workers > 1:
        raise ValueError("workers > 1 needs storage as a URL or journal path, not an object.")
    task = _Task(
        model=model,
        data=str(data),
        format=format,
        metric=metric,
        storage=storage if isinstance(storage, str) else "",
        study_name="",
        trials=int(trials),
        sampler=sampler,
        seed=int(seed),
        max_users=max_users,
        max_events_per_user=max_events_per_user,
        max_valid_queries=max_valid_queries,
        model_options=dict(model_options or {}),
        sampler_seed=None if sampler_seed is None else int(sampler_seed),
        history_fraction=history_fraction,
    )
    if study_name is not None and _already_done(storage_obj, study_name, trials):
        _logger.info("study %r already has %d COMPLETE trials; nothing to do", study_name, trials)
        return optuna.load_study(study_name=study_name, storage=storage_obj)
    # Build once here: bad data, model or metric fail fast, and the study gets its attrs.
    start = time.perf_counter()
    objective, description = _build(task)
    setup_s = time.perf_counter() - start
    name = study_name or f"{model}/{description['spec']}/{sampler}-seed{task.seed_of_sampler}"
    task = _Task(**{**task.__dict__, "study_name": name})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            storage=storage_obj,
            study_name=name,
            direction="maximize",
            sampler=_make_sampler(sampler, task.seed_of_sampler, 0),
            load_if_exists=True,
        )
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise ValueError(f"study {name!r} exists and does not maximise one objective.")
    attrs = {
        "dataset": objective.data.name,
        "model": model,
        "metric": metric,
        "data": description,
        "sampler": sampler,
        "seed": int(seed),
        "max_users": max_users,
        "max_events_per_user": max_events_per_user,
        "max_valid_queries": max_valid_queries,
        "model_options": dict(model_options or {}),
        "prune": False,
        "corpus_format": 1,
    }
    if sampler_seed is not None:
        attrs["sampler_seed"] = int(sampler_seed)
    if history_fraction is not None:
        attrs["history_fraction"] = float(history_fraction)
    _check_same_settings(name, study.user_attrs, attrs)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    stale = _fail_stale(study)
    done = _count(study, TrialState.COMPLETE)
    _logger.info(
        "study %r: %d COMPLETE so far, %d stale RUNNING trial%s marked FAIL; data ready in %.1f s",
        name,
        done,
        stale,
        "" if stale == 1 else "s",
        setup_s,
    )
    if stale:
        print(f"Marked {stale} stale RUNNING trial(s) of study {name!r} as FAIL.", flush=True)
    if done < trials:
        _optimize(task, workers, study, objective, progress)
    return optuna.load_study(study_name=name, storage=storage_obj)


#: Study attributes that define a task: resuming with other values would mix two tasks.
_TASK_KEYS = (
    "dataset",
    "model",
    "metric",
    "sampler",
    "seed",
    "max_users",
    "max_events_per_user",
    "max_valid_queries",
    "model_options",
    "sampler_seed",
    "history_fraction",
)


def _check_same_settings(name: str, previous: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    old_spec = (
        previous.get("data", {}).get("spec") if isinstance(previous.get("data"), dict) else None
    )
    pairs = [(k, previous[k], new.get(k)) for k in _TASK_KEYS if k in previous]
    if old_spec is not None:
        pairs.append(("data", old_spec, new["data"]["spec"]))
    for key, old, value in pairs:
        if old != value:
            raise ValueError(
                f"study {name!r} exists with {key}={old!r}, not {value!r}; pass the same "
                "settings to resume it, or another --study-name."
            )


def _already_done(storage: optuna.storages.BaseStorage, name: str, trials: int) -> bool:
    """Whether study ``name`` exists with ``trials`` COMPLETE trials and none RUNNING."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return False
    return _count(study, TrialState.COMPLETE) >= trials and _count(study, TrialState.RUNNING) == 0


def _optimize(
    task: _Task, workers: int, study: optuna.Study, objective: RecsysObjective, progress: bool
) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=task.trials,
        initial=_count(study, TrialState.COMPLETE),
        desc=task.study_name,
        unit="trial",
        disable=not progress,
    )
    try:
        if workers == 1:
            _run_in_process(task, study, objective, bar)
        else:
            _run_processes(task, workers, study, bar)
    finally:
        bar.close()


def _run_in_process(
    task: _Task, study: optuna.Study, objective: RecsysObjective, bar: Any
) -> None:
    # Reuse the objective built by collect(): no second data load in one process.
    import warnings

    class _Bar(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            bar.n = _count(study, TrialState.COMPLETE)
            bar.refresh()

    handler = _Bar(level=logging.INFO)
    _logger.addHandler(handler)
    previous = _logger.level
    _logger.setLevel(min(previous or logging.INFO, logging.INFO))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            _loop(task, study, objective, _NullLock())
    finally:
        _logger.removeHandler(handler)
        _logger.setLevel(previous)
        bar.n = _count(study, TrialState.COMPLETE)
        bar.refresh()


def _loop(task: _Task, study: optuna.Study, objective: Any, lock: Any) -> None:
    while True:
        with lock:
            if _count(study, TrialState.COMPLETE, TrialState.RUNNING) >= task.trials:
                return
            trial = study.ask()
        start = time.perf_counter()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # noqa: BLE001 - a failed configuration is data too
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            _logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
            continue
        frozen = study.tell(trial, value)
        _logger.info(
            "trial %d %s value=%s in %.2f s",
            trial.number,
            frozen.state.name,
            value,
            time.perf_counter() - start,
        )


def _run_processes(task: _Task, workers: int, study: optuna.Study, bar: Any) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    lock = ctx.Lock()
    level = _logger.getEffectiveLevel()
    procs = [
        ctx.Process(target=_worker_main, args=(task, i, lock, level), name=f"corpus-worker{i}")
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=1.0 / len(procs))
            bar.n = _count(study, TrialState.COMPLETE)
            bar.refresh()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    bar.n = _count(study, TrialState.COMPLETE)
    bar.refresh()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        raise ValueError(
            f"worker process(es) {', '.join(failed)} of study {task.study_name!r} exited with "
            f"codes {[p.exitcode for p in procs if p.exitcode != 0]}; see the log above. "
            "Rerun the same command to resume."
        )


def _worker_main(task: _Task, worker: int, lock: Any, log_level: int) -> None:
    """Entry point of a worker process."""
    _single_thread_env()
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s worker{worker} %(levelname)s %(message)s"
    )
    _logger.setLevel(log_level)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    objective, _ = _build(task)
    study = optuna.load_study(
        study_name=task.study_name,
        storage=open_storage(task.storage),
        sampler=_make_sampler(task.sampler, task.seed_of_sampler, worker),
    )
    _loop(task, study, objective, lock)
