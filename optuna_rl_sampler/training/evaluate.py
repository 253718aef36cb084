"""Held-out evaluation of a policy on synthetic tasks, against hand-written policies.

The same episodes as in training, on tasks drawn from a stream that training never
uses (seed ``999``), so a weights file can be compared with the policies that a
hand-designed acquisition function would give on exactly the same tasks:

* ``uniform``: any candidate with equal probability (what an untrained network does);
* ``ei-greedy``: the candidate of highest expected improvement (GP-EI over the same
  candidate set);
* ``ucb-greedy``: the candidate of highest ``mean + 2 std``.

Reported per policy: mean normalised simple regret after 10, 20 and ``budget``
evaluations and its mean over the whole episode (the area under the regret curve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.features import N_FEATURES
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.training.rollout import run_episode
from optuna_rl_sampler.training.tasks import sample_task

__all__ = ["PolicySpec", "evaluate_policies", "feature_policy"]

_EVAL_STREAM = 999


@dataclass(frozen=True)
class PolicySpec:
    """A named policy and whether to act greedily."""

    name: str
    weights: PolicyWeights
    greedy: bool = False


def feature_policy(feature: str, scale: float = 50.0) -> PolicyWeights:
    """A one-unit network whose logits are ``scale * tanh(feature)``: with a large scale,
    it takes the candidate that maximises ``feature`` (a hand-written acquisition)."""
    if feature not in FEATURE_NAMES:
        raise ValueError(f"Unknown feature {feature!r}; choose one of {FEATURE_NAMES}.")
    w0 = np.zeros((1, N_FEATURES))
    w0[0, FEATURE_NAMES.index(feature)] = 1.0
    tensors = {
        "score.0.weight": w0,
        "score.0.bias": np.zeros(1),
        "score.1.weight": np.eye(1),
        "score.1.bias": np.zeros(1),
        "score.2.weight": np.full((1, 1), scale),
        "score.2.bias": np.zeros(1),
    }
    return PolicyWeights(tensors, {}, feature)


def baseline_policies() -> list[PolicySpec]:
    """The hand-written comparison policies."""
    return [
        PolicySpec("uniform", feature_policy("mean", 0.0)),
        PolicySpec("ei-greedy", feature_policy("log_ei_rel"), greedy=True),
        PolicySpec("ucb-greedy", feature_policy("ucb_rel"), greedy=True),
    ]


def _episode(args: tuple[PolicySpec, int, int, int]) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    spec, index, budget, n_candidates = args
    rng = np.random.default_rng([_EVAL_STREAM, index])
    n_params = int(rng.choice([2, 3, 5, 8, 10]))
    task = sample_task(rng, n_params=n_params)
    with threadpool_limits(1):
        ep = run_episode(
            task, spec.weights, rng, budget=budget, n_candidates=n_candidates, greedy=spec.greedy
        )
    return ep.regrets


def evaluate_policies(
    policies: list[PolicySpec],
    *,
    n_tasks: int = 60,
    budget: int = 40,
    n_candidates: int = 256,
    workers: int = 2,
) -> dict[str, dict[str, float]]:
    """Run every policy on the same ``n_tasks`` held-out tasks.

    Returns:
        Policy name -> ``{"regret@10", "regret@20", "regret@<budget>", "mean_regret"}``.
    """
    import multiprocessing as mp

    out: dict[str, dict[str, float]] = {}
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for spec in policies:
            jobs = [(spec, i, budget, n_candidates) for i in range(n_tasks)]
            curves = np.array(pool.map(_episode, jobs) if pool else [_episode(j) for j in jobs])
            out[spec.name] = {
                "regret@10": float(curves[:, min(9, budget - 1)].mean()),
                "regret@20": float(curves[:, min(19, budget - 1)].mean()),
                f"regret@{budget}": float(curves[:, -1].mean()),
                "mean_regret": float(curves.mean()),
            }
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return out
