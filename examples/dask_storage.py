"""Dask with RLSampler: workers of a Dask cluster share one study through DaskStorage.

``optuna_integration.DaskStorage`` keeps an Optuna storage (in memory here; or any
storage URL) on the cluster's scheduler and forwards every storage call of the workers
to it, so ``study.optimize`` submitted to several Dask workers runs one study. The study
object, ``RLSampler`` included, is pickled to each worker; the sampler holds nothing but
its weights, reads the study from the storage at each trial, sees the trials running on
other workers as pending points and draws from a stream of ``(seed, trial number)``, so
the workers never propose the same configuration twice.

Runs locally in a few seconds on two CPU cores:

    pip install "dask[distributed]" optuna-integration
    python examples/dask_storage.py --trials 16 --workers 2
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Sequence

import optuna
from dask.distributed import Client
from dask.distributed import LocalCluster
from dask.distributed import wait
from optuna_integration import DaskStorage

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.sampler import REASON_KEY


def objective(trial: optuna.Trial) -> float:
    """A stand-in for training a model: a formula, and 0.4-0.7 s of "training" during
    which the other workers' proposals see this trial as running. The durations differ
    from trial to trial, as real training times do, so the workers do not run in lockstep
    (finishing and asking at the same instant, each would miss the other's trial)."""
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    time.sleep(0.4 + 0.1 * (trial.number % 4))
    return (x - 2.0) ** 2 + (math.log10(lr) + 3.0) ** 2


def quiet() -> None:
    """Set-up of every process: Optuna logs warnings only, and the notice that DaskStorage
    is experimental (its interface may change between Optuna releases), which each
    process would print on receiving the storage, is muted."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def main(n_trials: int = 16, n_workers: int = 2, seed: int = 0) -> optuna.Study:
    """Run ``n_trials`` trials of one study on a local cluster of ``n_workers`` processes.

    Each worker runs ``n_trials / n_workers`` trials (``n_trials`` must divide evenly).
    Returns an in-memory copy of the study: the storage lives on the scheduler and goes
    away with the cluster.
    """
    if n_workers < 1 or n_trials < 1 or n_trials % n_workers:
        raise ValueError(
            f"n_trials must be a positive multiple of n_workers (at least 1), got "
            f"n_trials={n_trials} and n_workers={n_workers}."
        )
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers)
        client.run(quiet)
        study = optuna.create_study(
            storage=DaskStorage(client=client),
            sampler=RLSampler(seed=seed, budget=n_trials),
            direction="minimize",
        )
        # One optimize loop per worker, pinned to it so that the loops run side by side.
        futures = [
            client.submit(
                study.optimize,
                objective,
                n_trials=n_trials // n_workers,
                pure=False,
                workers=[address],
            )
            for address in client.scheduler_info()["workers"]
        ]
        wait(futures)
        for future in futures:
            future.result()  # re-raises a worker's error here
        # Copy the trials out before the cluster (and the storage on it) goes away.
        copy = optuna.create_study(direction="minimize")
        copy.add_trials(study.get_trials())
    return copy


def summary(study: optuna.Study) -> str:
    """One line: trials, how many the policy proposed, pending points seen, the best."""
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    reasons = [
        t.system_attrs[REASON_KEY]
        for t in trials
        if t.system_attrs.get(REASON_KEY, {}).get("source") not in (None, "startup", "independent")
    ]
    with_pending = sum(r.get("n_pending", 0) > 0 for r in reasons)
    best = study.best_trial
    params = ", ".join(f"{k}={v:.4g}" for k, v in sorted(best.params.items()))
    return (
        f"{len(trials)} trials complete, {len(reasons)} proposed by RLSampler "
        f"({with_pending} while other trials were running); "
        f"best loss {best.value:.4g} at {params}"
    )


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16, help="trials in all (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="RLSampler's seed (default 0)")
    args = parser.parse_args(argv)
    quiet()
    study = main(args.trials, args.workers, args.seed)
    print(f"Dask: {summary(study)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
