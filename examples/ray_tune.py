"""Ray Tune with RLSampler: Tune schedules the trials, the policy proposes them.

``ray.tune.search.optuna.OptunaSearch`` keeps an Optuna study in the Tune driver and
asks it for each new Tune trial, so any Optuna sampler, ``RLSampler`` included, chooses
the configurations while Tune runs them in parallel. Tune trials still running are
RUNNING trials of that study: the policy sees them as pending points and spreads the
concurrent trials out. Passing ``storage`` and ``study_name`` keeps the study (with the
sampler's reasons for every proposal) readable after the run.

Runs locally in a few seconds on two CPU cores:

    pip install "ray[tune]"
    python examples/ray_tune.py --trials 12
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Sequence
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.sampler import REASON_KEY

STUDY_NAME = "ray-tune-example"


def trainable(config: dict[str, Any]) -> dict[str, float]:
    """One Tune trial: a cheap stand-in for training a model with ``config``."""
    x, lr = config["x"], config["lr"]
    return {"loss": (x - 2.0) ** 2 + (math.log10(lr) + 3.0) ** 2}


def main(n_trials: int = 12, concurrency: int = 2, seed: int = 0) -> optuna.Study:
    """Tune ``trainable`` with ``n_trials`` Tune trials, ``concurrency`` at a time.

    Returns the Optuna study behind the search, one trial per Tune trial.
    """
    if n_trials < 1 or concurrency < 1:
        raise ValueError(
            f"n_trials and concurrency must be at least 1, got {n_trials} and {concurrency}."
        )
    storage = optuna.storages.InMemoryStorage()
    search = OptunaSearch(
        metric="loss",
        mode="min",
        sampler=RLSampler(seed=seed, budget=n_trials),
        study_name=STUDY_NAME,
        storage=storage,
    )
    ray.init(num_cpus=concurrency, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as results_dir:
            tuner = tune.Tuner(
                trainable,
                param_space={"x": tune.uniform(-10.0, 10.0), "lr": tune.loguniform(1e-5, 1e-1)},
                tune_config=tune.TuneConfig(
                    search_alg=search,
                    num_samples=n_trials,
                    max_concurrent_trials=concurrency,
                    reuse_actors=True,  # one worker process per slot, not per trial
                ),
                run_config=tune.RunConfig(storage_path=results_dir, verbose=0),
            )
            results = tuner.fit()
            errors = [r.error for r in results if r.error is not None]
            if errors:
                raise RuntimeError(f"{len(errors)} Tune trials failed; the first: {errors[0]!r}")
    finally:
        ray.shutdown()
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


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
    parser.add_argument("--trials", type=int, default=12, help="Tune trials (default 12)")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at once (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="RLSampler's seed (default 0)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = main(args.trials, args.concurrency, args.seed)
    print(f"Ray Tune: {summary(study)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
