"""Many processes, one study: RLSampler on shared storages, and a worker killed mid-trial.

Every worker is a separate process (``spawn``) that loads the same study with
``RLSampler(seed=0)``, as independent jobs of a cluster would. The sampler keeps nothing
between trials but its weights: each proposal reads the study from the storage, sees the
other workers' RUNNING trials as pending points, and draws from a stream of ``(seed,
trial number)``, so workers sharing a seed never repeat each other.

4 workers x 25 trials run on PostgreSQL and on a journal file (``JournalFileBackend``);
a worker is killed mid-trial on PostgreSQL and on SQLite (the journal storage has no
heartbeat). PostgreSQL needs ``ORS_TEST_POSTGRES_URL``, a SQLAlchemy URL (``.ci/postgres.sh
start DIR`` starts a throwaway server and prints one); without it those variants are
skipped, or fail when ``CI=true``.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import signal
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.sampler import REASON_KEY

POSTGRES_ENV = "ORS_TEST_POSTGRES_URL"
N_WORKERS = 4
TRIALS_PER_WORKER = 25
#: Seconds each evaluation sleeps, so that the workers' trials overlap.
EVALUATION_SECONDS = 0.15
HEARTBEAT_INTERVAL = 1
GRACE_PERIOD = 2
#: Most seconds a group of workers may take before the test gives up on them.
WORKER_TIMEOUT = 120.0

# Heartbeats and their retry callback are labelled experimental by Optuna.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# Optuna 4.9 renamed the retry callback and its RDBStorage argument; older releases
# (the package supports optuna>=4.0) know only the old names.
_RetryCallback: Any = (
    getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    or optuna.storages.RetryFailedTrialCallback
)
_RETRY_ARGUMENT = (
    "heartbeat_stale_trial_callback"
    if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
    else "failed_trial_callback"
)


@dataclass(frozen=True)
class Backend:
    """A storage every process can open: its kind and its URL or journal file.

    A description rather than a storage object, because storages hold connections and
    locks that must be made anew in each process.
    """

    kind: str
    location: str

    def storage(self, *, heartbeat: bool = False) -> BaseStorage:
        """Open the storage; with ``heartbeat``, running trials send a heartbeat every
        ``HEARTBEAT_INTERVAL`` seconds and a trial silent for ``GRACE_PERIOD`` seconds
        is failed and re-queued once."""
        if self.kind == "journal":
            if heartbeat:
                raise ValueError(f"the journal storage has no heartbeat (backend {self}).")
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(self.location))
        if self.kind not in ("postgresql", "sqlite"):
            raise ValueError(
                f"unknown backend kind {self.kind!r}; expected one of "
                "'postgresql', 'sqlite', 'journal'."
            )
        options: dict[str, Any] = {}
        if self.kind == "sqlite":
            # Writers queue for SQLite's file lock instead of failing after 5 s.
            options["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if heartbeat:
                options.update(
                    heartbeat_interval=HEARTBEAT_INTERVAL,
                    grace_period=GRACE_PERIOD,
                    **{_RETRY_ARGUMENT: _RetryCallback(max_retry=1)},
                )
            return optuna.storages.RDBStorage(self.location, **options)


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if url:
        return url
    message = (
        f"{POSTGRES_ENV} is not set: export the SQLAlchemy URL of a PostgreSQL database "
        "(e.g. printed by `.ci/postgres.sh start DIR`, which starts a throwaway server) "
        "to run the PostgreSQL variants"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true, where this test must run, not skip.")
    pytest.skip(message)


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind = request.param
    if kind == "postgresql":
        return Backend(kind, _postgres_url())
    if kind == "sqlite":
        return Backend(kind, f"sqlite:///{tmp_path / 'study.db'}")
    return Backend(kind, str(tmp_path / "study.journal"))


# -- workers (run in child processes) -------------------------------------------------


def _objective(
    worker: int, hang_in_trial: int | None = None, marker: Path | None = None
) -> Callable[[optuna.Trial], float]:
    """A two-parameter bowl that sleeps a little and records which worker ran it.

    With ``hang_in_trial=k`` the worker's ``k``-th trial (from 0) hangs once its
    parameters are set: it waits until a heartbeat is surely in the storage, writes its
    trial number to ``marker`` (so the test knows whom to kill) and sleeps until killed.
    """
    count = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal count
        x = trial.suggest_float("x", -5.0, 5.0)
        y = trial.suggest_float("y", -5.0, 5.0)
        trial.set_user_attr("worker", worker)
        if count == hang_in_trial:
            if marker is None:
                raise ValueError(f"hang_in_trial={hang_in_trial} needs a marker file")
            time.sleep(HEARTBEAT_INTERVAL * 1.5)
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(str(trial.number))
            tmp.rename(marker)
            time.sleep(3600)
            raise AssertionError("the hanging worker was not killed")
        count += 1
        time.sleep(EVALUATION_SECONDS)
        return (x - 1.0) ** 2 + (y + 2.0) ** 2

    return objective


def _load(backend: Backend, study_name: str, *, heartbeat: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(
        study_name=study_name,
        storage=backend.storage(heartbeat=heartbeat),
        sampler=RLSampler(seed=0),
    )


def _worker(backend: Backend, study_name: str, worker: int, barrier: Any, n_trials: int) -> None:
    """Run ``n_trials`` trials once every worker is ready (so that they overlap)."""
    study = _load(backend, study_name, heartbeat=False)
    # A process's first proposal imports SciPy's statistics modules (seconds on a busy
    # machine); one proposal in memory first, so the workers really start together.
    warm_up = optuna.create_study(sampler=RLSampler(seed=0))
    warm_up.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    barrier.wait(timeout=WORKER_TIMEOUT)
    study.optimize(_objective(worker), n_trials=n_trials)


def _victim(backend: Backend, study_name: str, marker: str, hang_in_trial: int) -> None:
    """Complete ``hang_in_trial`` trials, then hang in the next one (until killed)."""
    study = _load(backend, study_name, heartbeat=True)
    study.optimize(_objective(0, hang_in_trial, Path(marker)), n_trials=hang_in_trial + 1)


def _survivor(backend: Backend, study_name: str, max_trials: int) -> None:
    """Run trials until one that retries a failed trial completes (at most ``max_trials``).

    The heartbeat check runs before each of this worker's trials: it fails a RUNNING
    trial whose heartbeat is older than the grace period and queues its retry, which is
    the next trial this worker asks for.
    """
    study = _load(backend, study_name, heartbeat=True)

    def stop_after_retry(study: optuna.Study, trial: FrozenTrial) -> None:
        if _RetryCallback.retried_trial_number(trial) is not None:
            study.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(_objective(1), n_trials=max_trials, callbacks=[stop_after_retry])


# -- helpers of the parent ------------------------------------------------------------

_SPAWN = multiprocessing.get_context("spawn")


def _start(target: Callable[..., None], *args: Any) -> multiprocessing.process.BaseProcess:
    process = _SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _join(processes: list[multiprocessing.process.BaseProcess], timeout: float) -> None:
    """Wait for the processes; kill them all and fail if one is late or failed."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    late = [p.pid for p in processes if p.is_alive()]
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert not late, f"workers {late} were still running after {timeout:.0f} s"
    codes = [p.exitcode for p in processes]
    assert codes == [0] * len(processes), f"worker exit codes {codes} (traceback above)"


def _new_study(backend: Backend, *, heartbeat: bool = False) -> tuple[str, optuna.Study]:
    name = f"distributed-{uuid.uuid4().hex[:12]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=backend.storage(heartbeat=heartbeat), direction="minimize"
    )
    return name, study


def _delete(backend: Backend, study_name: str) -> None:
    if backend.kind == "postgresql":  # a shared server: leave no study behind
        optuna.delete_study(study_name=study_name, storage=backend.storage())


def _params(trial: FrozenTrial) -> tuple[float, float]:
    return trial.params["x"], trial.params["y"]


# -- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql", "journal"], indirect=True)
def test_four_workers_share_one_study(backend: Backend) -> None:
    """4 processes x 25 trials: 100 distinct COMPLETE trials, pending points seen."""
    name, study = _new_study(backend)
    try:
        barrier = _SPAWN.Barrier(N_WORKERS)
        workers = [
            _start(_worker, backend, name, w, barrier, TRIALS_PER_WORKER) for w in range(N_WORKERS)
        ]
        _join(workers, WORKER_TIMEOUT)
        trials = study.get_trials(deepcopy=False)
    finally:
        _delete(backend, name)

    total = N_WORKERS * TRIALS_PER_WORKER
    assert Counter(t.state for t in trials) == {TrialState.COMPLETE: total}
    assert sorted(t.number for t in trials) == list(range(total))
    assert Counter(t.user_attrs["worker"] for t in trials) == {
        w: TRIALS_PER_WORKER for w in range(N_WORKERS)
    }
    # Streams of (seed, trial number): the same seed in every worker, no repeated draw.
    assert len({_params(t) for t in trials}) == total

    reasons = {t.number: t.system_attrs.get(REASON_KEY) for t in trials}
    # Only a worker's first trial can start before any trial is complete (nothing to
    # propose from); every other trial was proposed by the policy, none fell back.
    startup = [n for n, r in reasons.items() if r["source"] == "startup"]
    assert 0 in startup and len(startup) <= N_WORKERS, startup
    proposed = [r for r in reasons.values() if r["source"] != "startup"]
    assert all(r["source"] != "fallback" for r in proposed), proposed
    pending = [r["n_pending"] for r in proposed]
    # At most the other workers' trials can be running while one worker proposes...
    assert all(0 <= p <= N_WORKERS - 1 for p in pending), Counter(pending)
    # ... and with overlapping evaluations many proposals saw some of them (about 2/3
    # of them on 2 busy cores; a sampler blind to running trials would see none).
    assert sum(p > 0 for p in pending) >= len(pending) // 4, Counter(pending)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_killed_worker_is_failed_by_heartbeat_and_retried(
    backend: Backend, tmp_path: Path
) -> None:
    """SIGKILL a worker mid-trial: its trial ends FAIL, a retry of it completes."""
    name, study = _new_study(backend, heartbeat=True)
    marker = tmp_path / "hanging-trial"
    victim = _start(_victim, backend, name, str(marker), 2)
    survivor = _start(_survivor, backend, name, 100)
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT
        while not marker.exists():
            assert victim.is_alive(), f"the victim exited ({victim.exitcode}) instead of hanging"
            assert time.monotonic() < deadline, f"the victim did not hang in {WORKER_TIMEOUT} s"
            time.sleep(0.05)
        killed_number = int(marker.read_text())
        assert study.trials[killed_number].state == TrialState.RUNNING
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        assert victim.exitcode == -signal.SIGKILL
        _join([survivor], WORKER_TIMEOUT)
        trials = study.get_trials(deepcopy=False)
    finally:
        for process in (victim, survivor):
            if process.is_alive():
                process.kill()
                process.join()
        _delete(backend, name)

    killed = trials[killed_number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["worker"] == 0
    retries = [t for t in trials if _RetryCallback.retried_trial_number(t) is not None]
    assert [_RetryCallback.retried_trial_number(t) for t in retries] == [killed_number]
    retry = retries[0]
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs["worker"] == 1  # the survivor ran it
    assert _params(retry) == _params(killed)  # the same configuration, evaluated again
    assert retry.number > killed_number
    # Nothing else failed or was left behind; the victim completed its first 2 trials.
    states = Counter(t.state for t in trials)
    assert states == {TrialState.COMPLETE: len(trials) - 1, TrialState.FAIL: 1}, states
    assert sum(t.user_attrs.get("worker") == 0 for t in trials) == 3
