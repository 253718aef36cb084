"""Episodes: the policy optimising one task, recorded for PPO.

Each step of an episode is :func:`optuna_rl_sampler.proposal.propose`, the very
function :class:`~optuna_rl_sampler.RLSampler` calls, on a simulated study instead of a
stored one. The simulation covers what real studies show the sampler:

* **parallel workers**: with ``workers = k > 1`` the last ``k - 1`` proposals are still
  running when the next one is made, so they are pending points and their values are
  revealed only later;
* **pruned trials**: with ``prune_prob > 0`` a proposal whose value is below the median
  of the study so far is pruned with that probability; it enters the evidence with
  value ``-inf`` (as the sampler reads a pruned trial) and never counts as the best;
* **source studies**: a :class:`~optuna_rl_sampler.meta_prior.MetaPrior` built from
  the episode's sources (related, unrelated or misleading past studies);
* **the prior-startup phase**: with ``prior_startup > 0`` the first steps keep to the
  prior candidates and one probes far from them, exactly as the sampler's
  ``prior_startup_trials`` makes them (see :func:`~optuna_rl_sampler.proposal.propose`).
  In a restricted step (``"prior-startup"``) the policy still chooses, among the prior
  candidates only, and PPO learns that choice under the same restriction; the probe is
  forced (``free`` is False) and shapes the returns without being learnt as a choice;
* **the hand-off**: with ``handoff`` weights (the sampler's generic weights), steps
  taken while the sources are distrusted are chosen by them, as in the sampler; they
  shape the returns but are not the trained policy's choices (``free`` is False).

SHAPES (T = budget - 1 policy steps, N candidates, F features):
    features: (T, N, F) float32
    actions:  (T,) int64
    logp:     (T,) float32, log pi(a_t | s_t) under the behaviour policy
    free:     (T,) bool, whether the action was the policy's choice (False for the
              probes of the prior-startup phase, which are forced, and for steps
              handed off to other weights)
    restricted: (T,) bool, whether the choice was restricted to the prior candidates
              (the ``source_prior`` feature), as in the prior-startup phase
    rewards:  (T,) float32, minus the normalised simple regret after step t
    regrets:  (T + 1,) normalised simple regret after each evaluation (the first is the
              random initial point)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.proposal import propose
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.training.tasks import SyntheticTask

__all__ = ["LOG_REWARD_FLOOR", "Episode", "run_episode", "step_rewards"]

_MAX_OBSERVATIONS = 200


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
    n_sources: int = 0
    free: np.ndarray | None = None
    restricted: np.ndarray | None = None

    def free_steps(self) -> np.ndarray:
        """``(T,)`` bool: the steps whose action was the policy's choice."""
        if self.free is None:
            return np.ones(len(self.actions), dtype=bool)
        return self.free

    def restricted_steps(self) -> np.ndarray:
        """``(T,)`` bool: the steps whose choice was among the prior candidates only."""
        if self.restricted is None:
            return np.zeros(len(self.actions), dtype=bool)
        return self.restricted


#: Regret below which the log-scale reward gains nothing more (a 1e-5 fraction of the
#: task's range: far below what a tuning study can tell apart).
LOG_REWARD_FLOOR = 1e-5


def step_rewards(norm_regret: np.ndarray, log_weight: float = 0.0) -> np.ndarray:
    """Each step's reward from the normalised simple regret after it: minus a mix of the
    regret itself and its log-scale form ``log10(max(r, floor) / floor) / -log10(floor)``
    (both 1 at the worst value and 0 at the optimum; see :data:`LOG_REWARD_FLOOR`).

    The linear reward hardly tells apart choices late in a study, where the regret is
    already a few hundredths and the next gains are thousandths; on the log scale each
    tenfold cut of the regret earns the same reward, early or late. It was tried as a
    cause of generic-v1 choosing almost uniformly among its candidates from about 30
    trials on (``python -m benchmarks policy-sharpness``) and is not one: generic-v1
    fine-tuned with weight 0.5 (120 iterations, budgets 25-100 trials) chose as
    uniformly late in a study (entropy 0.98 of uniform at trials 76-100) and was worse on
    BBOB's development seeds (average rank +0.16 at 50 and 100 trials). The option stays
    for experiments; the shipped weights use 0.

    Args:
        norm_regret: ``(T,)`` normalised regret in ``[0, 1]``.
        log_weight: Weight of the log-scale form, in ``[0, 1]``.
    """
    r = np.clip(np.asarray(norm_regret, dtype=float), 0.0, 1.0)
    depth = -np.log10(LOG_REWARD_FLOOR)
    log_form = np.log10(np.maximum(r, LOG_REWARD_FLOOR) / LOG_REWARD_FLOOR) / depth
    return (-((1.0 - log_weight) * r + log_weight * log_form)).astype(np.float32)


def run_episode(
    task: SyntheticTask,
    weights: PolicyWeights,
    rng: np.random.Generator,
    *,
    budget: int,
    n_candidates: int,
    greedy: bool = False,
    workers: int = 1,
    prune_prob: float = 0.0,
    sources: Sequence[SourceStudy] = (),
    start_from_prior: bool = False,
    prior_startup: int = 0,
    handoff: PolicyWeights | None = None,
    log_reward: float = 0.0,
) -> Episode:
    """Let the policy optimise ``task`` for ``budget`` evaluations.

    Args:
        task: The task (maximised).
        weights: The policy.
        rng: The episode's random stream.
        budget: Number of evaluations, the first included.
        n_candidates: Candidates per proposal.
        greedy: Take the most probable candidate at each step.
        workers: Simulated parallel workers (``k - 1`` proposals pending at each step).
        prune_prob: Probability that a below-median proposal is pruned.
        sources: Source studies for the meta-prior.
        start_from_prior: Start from the best configuration of the first source (as
            the sampler's first trial does with explicit sources) instead of a random
            point.
        prior_startup: The sampler's ``prior_startup_trials``: the prior-startup phase
            of :func:`~optuna_rl_sampler.proposal.propose` (0: none).
        handoff: The sampler's weights for distrusted sources (``handoff`` of
            :func:`~optuna_rl_sampler.proposal.propose`), or ``None``.
        log_reward: Weight of the log-scale regret in each step's reward
            (:func:`step_rewards`); 0 gives minus the normalised regret.

    The first evaluation is a uniform random point (as the sampler's first trial comes
    from its independent sampler) unless ``start_from_prior``; each later one is chosen
    by the policy.
    """
    enc = task.encoder
    p = enc.n_params
    prior = MetaPrior(sources, enc.search_space) if sources else None
    if prior is not None and len(prior) == 0:
        prior = None
    if start_from_prior and prior is not None:
        m = prior.matched[0]
        x0 = m.points[int(np.argmax(m.scores))][None, :].copy()
        holes = np.isnan(x0)
        x0[holes] = rng.random(int(holes.sum()))
        x0 = enc.snap(x0)
    else:
        x0 = enc.snap(rng.random((1, p)))
    points = [x0[0]]
    observed = [float(task.evaluate(x0, rng)[0])]
    clean_best = float(task.f(enc.embed(x0))[0])
    f_max = max(task.f_max, clean_best)
    regrets = [f_max - clean_best]
    feats, actions, logps, free, restricted = [], [], [], [], []
    n_pending = max(0, workers - 1)
    for step in range(1, budget):
        # Proposals made in the last ``n_pending`` steps are still running.
        done = max(1, len(points) - n_pending)
        x = np.array(points[:done])
        y = np.array(observed[:done])
        pending = np.array(points[done:]).reshape(-1, p)
        proposal = propose(
            enc,
            x,
            y,
            pending,
            weights=weights,
            rng=rng,
            progress=step / budget,
            n_candidates=n_candidates,
            max_observations=_MAX_OBSERVATIONS,
            prior=prior,
            greedy=greedy,
            prior_startup=prior_startup,
            handoff=handoff,
        )
        chosen = proposal.point[None, :]
        value = float(task.evaluate(chosen, rng)[0])
        clean = float(task.f(enc.embed(chosen))[0])
        finite = [v for v in observed if np.isfinite(v)]
        pruned = (
            prune_prob > 0
            and len(finite) >= 3
            and value < float(np.median(finite))
            and rng.random() < prune_prob
        )
        points.append(proposal.point)
        observed.append(-np.inf if pruned else value)
        if not pruned:
            clean_best = max(clean_best, clean)
        f_max = max(f_max, clean)
        regrets.append(f_max - clean_best)
        feats.append(proposal.features.astype(np.float32))
        actions.append(proposal.index)
        logps.append(np.log(max(proposal.probs[proposal.index], 1e-30)))
        phase = proposal.reason.get("phase")
        free.append(phase != "prior-probe" and not proposal.reason.get("handoff"))
        restricted.append(phase == "prior-startup")
    span = max(f_max - task.f_min, 1e-12)
    norm_regret = np.clip(np.array(regrets) / span, 0.0, 1.0)
    return Episode(
        features=np.stack(feats),
        actions=np.array(actions, dtype=np.int64),
        logp=np.array(logps, dtype=np.float32),
        rewards=step_rewards(norm_regret[1:], log_reward),
        regrets=norm_regret,
        family=task.family,
        n_params=p,
        n_sources=0 if prior is None else len(prior),
        free=np.array(free, dtype=bool),
        restricted=np.array(restricted, dtype=bool),
    )
