"""Held-out evaluation of a policy on synthetic tasks, against hand-written policies.

The same episodes as in training, on tasks drawn from a stream that training never
uses (seed ``999``), so a weights file can be compared with the policies that a
hand-designed acquisition function would give on exactly the same tasks:

* ``uniform``: any candidate with equal probability (what an untrained network does);
* ``ei-greedy``: the candidate of highest expected improvement (GP-EI over the same
  candidate set);
* ``ucb-greedy``: the candidate of highest ``mean + 2 std``.

Reported per policy: mean normalised simple regret after 5, 10, 20 and ``budget``
evaluations and its mean over the whole episode (the area under the regret curve).

With ``sources="related"`` or ``"misleading"`` every task comes with two source
studies of that kind (:func:`~optuna_rl_sampler.training.tasks.sample_sources`), the
same for every policy, so the use of the meta-prior can be compared too (a
``prior-greedy`` policy takes the candidate the sources like best). With
``prior_startup`` the episodes go through the sampler's prior-startup phase, and a
:class:`PolicySpec` with ``handoff`` weights hands off to them while the sources are
distrusted, as ``RLSampler()`` does with its shipped weights: that measures weights the
way the sampler uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.features import N_FEATURES
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.training.rollout import run_episode
from optuna_rl_sampler.training.tasks import sample_sources
from optuna_rl_sampler.training.tasks import sample_task

__all__ = ["PolicySpec", "evaluate_policies", "feature_policy"]

_EVAL_STREAM = 999


@dataclass(frozen=True)
class PolicySpec:
    """A named policy, whether to act greedily, and the weights it hands off to while
    an episode's sources are distrusted (``None``: no hand-off)."""

    name: str
    weights: PolicyWeights
    greedy: bool = False
    handoff: PolicyWeights | None = None


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


def baseline_policies(with_prior: bool = False) -> list[PolicySpec]:
    """The hand-written comparison policies (and ``prior-greedy`` if ``with_prior``)."""
    out = [
        PolicySpec("uniform", feature_policy("mean", 0.0)),
        PolicySpec("ei-greedy", feature_policy("log_ei_rel"), greedy=True),
        PolicySpec("ucb-greedy", feature_policy("ucb_rel"), greedy=True),
    ]
    if with_prior:
        out.append(PolicySpec("prior-greedy", feature_policy("prior_rel"), greedy=True))
    return out


def _episode(args: tuple[PolicySpec, int, int, int, str | None, int]) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    spec, index, budget, n_candidates, kind, prior_startup = args
    rng = np.random.default_rng([_EVAL_STREAM, index])
    n_params = int(rng.choice([2, 3, 5, 8, 10]))
    task = sample_task(rng, n_params=n_params, style_weights=(0.35, 0.2, 0.15, 0.3))
    sources = []
    if kind is not None:
        sources = sample_sources(task, np.random.default_rng([_EVAL_STREAM, index, 1]), [kind] * 2)
    # The policy's own stream is the same for every policy, whatever the sources.
    rng = np.random.default_rng([_EVAL_STREAM, index, 2])
    with threadpool_limits(1):
        ep = run_episode(
            task,
            spec.weights,
            rng,
            budget=budget,
            n_candidates=n_candidates,
            greedy=spec.greedy,
            sources=sources,
            prior_startup=prior_startup,
            handoff=spec.handoff if sources else None,
        )
    return ep.regrets


def evaluate_policies(
    policies: list[PolicySpec],
    *,
    n_tasks: int = 60,
    budget: int = 40,
    n_candidates: int = 256,
    workers: int = 2,
    sources: str | None = None,
    prior_startup: int = 0,
) -> dict[str, dict[str, float]]:
    """Run every policy on the same ``n_tasks`` held-out tasks.

    Args:
        policies: The policies to compare.
        n_tasks: Number of tasks (at least 1). Defaults to 60.
        budget: Evaluations per task (at least 2). Defaults to 40.
        n_candidates: Candidates per proposal. Defaults to 256.
        workers: Processes. Defaults to 2.
        sources: ``None`` (no source studies), ``"related"``, ``"unrelated"`` or
            ``"misleading"``: two source studies of that kind per task. Defaults to
            ``None``.
        prior_startup: The sampler's ``prior_startup_trials`` (see
            :func:`~optuna_rl_sampler.proposal.propose`), simulated in episodes with
            sources for every policy. Defaults to ``0`` (no phase).

    Returns:
        Policy name -> ``{"regret@5", "regret@10", "regret@20", "regret@<budget>",
        "mean_regret"}``; a cut-off past ``budget`` is not reported.

    Raises:
        ValueError: ``n_tasks`` or ``budget`` is too small, or ``sources`` is unknown.
    """
    import multiprocessing as mp

    if n_tasks < 1:
        raise ValueError(f"n_tasks must be at least 1, got {n_tasks}.")
    if budget < 2:
        raise ValueError(f"budget must be at least 2 evaluations, got {budget}.")
    if prior_startup < 0:
        raise ValueError(f"prior_startup must be 0 or more trials, got {prior_startup}.")
    if sources not in (None, "related", "unrelated", "misleading"):
        raise ValueError(
            f"sources must be None, 'related', 'unrelated' or 'misleading', got {sources!r}."
        )

    out: dict[str, dict[str, float]] = {}
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for spec in policies:
            jobs = [
                (spec, i, budget, n_candidates, sources, prior_startup) for i in range(n_tasks)
            ]
            curves = np.array(pool.map(_episode, jobs) if pool else [_episode(j) for j in jobs])
            row = {
                f"regret@{k}": float(curves[:, k - 1].mean()) for k in (5, 10, 20) if k < budget
            }
            row[f"regret@{budget}"] = float(curves[:, -1].mean())
            row["mean_regret"] = float(curves.mean())
            out[spec.name] = row
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return out
