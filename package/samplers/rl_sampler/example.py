"""RLSampler through OptunaHub: a study from scratch, then one that transfers from it.

Run from anywhere: ``python package/samplers/rl_sampler/example.py``. Once the package
is in the registry, ``optunahub.load_module("samplers/rl_sampler")`` loads the same
module.
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import optunahub

#: The folder holding ``samplers/rl_sampler`` (``package/`` of the registry).
REGISTRY_ROOT = Path(__file__).resolve().parents[2]
module = optunahub.load_local_module("samplers/rl_sampler", registry_root=str(REGISTRY_ROOT))
RLSampler = module.RLSampler
SourceStudy = module.SourceStudy


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 8)
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])
    penalty = 0.0 if activation == "gelu" else 0.5
    return (x - 2.0) ** 2 + (math.log10(lr) + 3.0) ** 2 + 0.1 * (layers - 4) ** 2 + penalty


def main(n_trials: int = 30) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    # A study from scratch: the policy proposes every trial after the first.
    study = optuna.create_study(sampler=RLSampler(seed=0, budget=n_trials))
    study.optimize(objective, n_trials=n_trials)
    print(f"from scratch: best value {study.best_value:.4f} with {study.best_params}")

    # A new study of the same task transfers from the finished one: its best
    # configurations seed the first trials, and a meta-prior weighted by how well it
    # ranks the new trials guides the rest.
    source = SourceStudy.from_study(study, name="previous run")
    sampler = RLSampler(seed=1, budget=10, source_studies=[source])
    warm = optuna.create_study(sampler=sampler)
    warm.optimize(objective, n_trials=10)
    print(f"with transfer, 10 trials: best value {warm.best_value:.4f}")
    reason = warm.trials[-1].system_attrs["rl_sampler:reason"]
    print(f"last proposal: {reason['source']} candidate, policy {reason['weights']}")


if __name__ == "__main__":
    main()
