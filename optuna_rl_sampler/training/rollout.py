"""Episodes: the policy optimising one synthetic task, recorded for PPO.

An episode mirrors exactly what :class:`~optuna_rl_sampler.RLSampler` does at each
trial (same candidates, same features, same NumPy forward pass), on a task of
:mod:`.tasks` instead of a study, so what is learned transfers as is.

SHAPES (T = budget - 1 policy steps, N candidates, F features):
    features: (T, N, F) float32
    actions:  (T,) int64
    logp:     (T,) float32, log pi(a_t | s_t) under the behaviour policy
    rewards:  (T,) float32, minus the normalised simple regret after step t
    regrets:  (T + 1,) normalised simple regret after each evaluation (the first is the
              random initial point)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.candidates import generate_candidates
from optuna_rl_sampler.features import candidate_features
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.surrogate import normal_scores
from optuna_rl_sampler.training.tasks import SyntheticTask

__all__ = ["Episode", "run_episode"]

_N_INCUMBENTS = 5


@dataclass(frozen=True)
class Episode:
    """One recorded episode (see the module's SHAPES)."""

    features: np.ndarray
    actions: np.ndarray
    logp: np.ndarray
    rewards: np.ndarray
    regrets: np.ndarray
    family: str
    n_params: int


def run_episode(
    task: SyntheticTask,
    weights: PolicyWeights,
    rng: np.random.Generator,
    *,
    budget: int,
    n_candidates: int,
    greedy: bool = False,
) -> Episode:
    """Let the policy optimise ``task`` for ``budget`` evaluations.

    The first evaluation is a uniform random point (as the sampler's first trial comes
    from its independent sampler); each later one is chosen by the policy.
    """
    enc = task.encoder
    p = enc.n_params
    x0 = enc.snap(rng.random((1, p)))
    points = [x0[0]]
    observed = [float(task.evaluate(x0, rng)[0])]
    clean_best = float(task.f(enc.embed(x0))[0])
    f_max = max(task.f_max, clean_best)
    regrets = [(f_max - clean_best)]
    feats, actions, logps = [], [], []
    for step in range(1, budget):
        x = np.array(points)
        y = np.array(observed)
        scores = normal_scores(y)
        incumbents = x[np.argsort(-scores, kind="stable")[:_N_INCUMBENTS]]
        cands = generate_candidates(
            n_candidates, p, rng, incumbents=incumbents, is_categorical=enc.is_categorical
        )
        cand_points = enc.snap(cands.points)
        state = candidate_features(
            enc.embed(cand_points),
            cands.source,
            enc.embed(x),
            scores,
            progress=step / budget,
            n_params=p,
        )
        probs = weights.probabilities(state.features)
        a = int(np.argmax(probs)) if greedy else int(rng.choice(len(probs), p=probs))
        chosen = cand_points[a : a + 1]
        points.append(chosen[0])
        observed.append(float(task.evaluate(chosen, rng)[0]))
        clean = float(task.f(enc.embed(chosen))[0])
        clean_best = max(clean_best, clean)
        f_max = max(f_max, clean)
        regrets.append(f_max - clean_best)
        feats.append(state.features.astype(np.float32))
        actions.append(a)
        logps.append(np.log(max(probs[a], 1e-30)))
    span = max(f_max - task.f_min, 1e-12)
    norm_regret = np.clip(np.array(regrets) / span, 0.0, 1.0)
    return Episode(
        features=np.stack(feats),
        actions=np.array(actions, dtype=np.int64),
        logp=np.array(logps, dtype=np.float32),
        rewards=-norm_regret[1:].astype(np.float32),
        regrets=norm_regret,
        family=task.family,
        n_params=p,
    )
