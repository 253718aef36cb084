"""PPO meta-training of the candidate-scoring policy, readable top to bottom.

The loop follows the paper (Schulman et al. 2017, "Proximal Policy Optimization") in
the shape of CleanRL's single-file ``ppo.py``: collect episodes with the current
policy, compute advantages with GAE (Schulman et al. 2016), then take a few epochs of
clipped-surrogate updates on minibatches. The pieces that carry the maths
(:func:`compute_gae`, :func:`ppo_loss`) are plain functions with known-value tests.

The policy is :class:`PolicyNet`: the scoring MLP shared by all candidates (the same
tensors the sampler evaluates in NumPy) and a value head on pooled candidate features.

SHAPES (B states, N candidates, F features, H hidden):
    features: (B, N, F)
    logits:   (B, N)         pi(.|s) = softmax(logits)
    values:   (B,)
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from optuna_rl_sampler._missing import require_extra

require_extra("train", "torch", feature="optuna_rl_sampler.training.ppo (meta-training)")

import torch
from torch import nn

from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.features import N_FEATURES
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.policy import WeightsError
from optuna_rl_sampler.policy import load_named_weights
from optuna_rl_sampler.policy import load_weights
from optuna_rl_sampler.policy import remap_features
from optuna_rl_sampler.policy import save_weights
from optuna_rl_sampler.proposal import HANDOFF_TRUST
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.training.config import PPOConfig
from optuna_rl_sampler.training.rollout import Episode
from optuna_rl_sampler.training.rollout import run_episode
from optuna_rl_sampler.training.surrogate_tasks import surrogate_task
from optuna_rl_sampler.training.tasks import sample_sources
from optuna_rl_sampler.training.tasks import sample_task

__all__ = ["PPOConfig", "PolicyNet", "checkpoint_path", "compute_gae", "ppo_loss", "train"]

#: Feature column that marks a prior candidate (the choices of a restricted step).
_PRIOR_COLUMN = FEATURE_NAMES.index("source_prior")
#: Logit of a candidate a restricted step could not choose (finite, so the entropy of
#: the masked distribution stays a number: its probability is exactly 0).
_MASKED_LOGIT = -1e9


class PolicyNet(nn.Module):
    """Candidate-scoring MLP (``score.*``) plus a value head (``value.*``).

    The value head sees the mean and the max of the candidate features over the set,
    plus nothing else, so it too is independent of the number of parameters.
    """

    def __init__(self, n_features: int = N_FEATURES, hidden: int = 64) -> None:
        super().__init__()
        self.score = nn.ModuleList(
            [nn.Linear(n_features, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)]
        )
        self.value = nn.ModuleList(
            [nn.Linear(2 * n_features, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)]
        )
        # A zero last layer starts from the uniform policy over candidates.
        nn.init.zeros_(self.score[2].weight)
        nn.init.zeros_(self.score[2].bias)

    @staticmethod
    def _mlp(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(layers[0](x))
        x = torch.tanh(layers[1](x))
        return layers[2](x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, N, F)`` -> ``(B, N)``."""
        return self._mlp(self.score, features).squeeze(-1)

    def values(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, N, F)`` -> ``(B,)``."""
        pooled = torch.cat([features.mean(1), features.amax(1)], dim=-1)
        return self._mlp(self.value, pooled).squeeze(-1)

    def to_weights(self, name: str = "training") -> PolicyWeights:
        """NumPy copy of the tensors, as the sampler would load them."""
        tensors = {
            k: v.detach().cpu().numpy().astype(np.float64) for k, v in self.state_dict().items()
        }
        return PolicyWeights(tensors, {}, name)


def compute_gae(
    rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates for one finished episode.

    Args:
        rewards: ``(T,)`` rewards ``r_t``.
        values: ``(T,)`` value estimates ``V(s_t)``; the state after the last step is
            terminal (value 0).
        gamma: Discount.
        lam: GAE's lambda.

    Returns:
        ``(advantages, returns)``, each ``(T,)``, with
        ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)``,
        ``A_t = sum_k (gamma lam)^k delta_{t+k}`` and ``returns = A + V``.
    """
    t_len = len(rewards)
    adv = np.zeros(t_len, dtype=np.float64)
    last = 0.0
    for t in reversed(range(t_len)):
        next_value = values[t + 1] if t + 1 < t_len else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, adv + values


def ppo_loss(
    new_logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip_coef: float,
    vf_coef: float,
    ent_coef: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate loss with a value loss and an entropy bonus.

    ``L = -mean(min(rho A, clip(rho, 1-eps, 1+eps) A)) + vf_coef * 0.5 * mean((V - R)^2)
    - ent_coef * mean(H)`` with ``rho = exp(new_logp - old_logp)``.

    Returns:
        The loss and diagnostics: ``policy_loss``, ``value_loss``, ``entropy``,
        ``approx_kl`` (the ``(rho - 1) - log rho`` estimator) and ``clip_fraction``.
    """
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    policy_loss = torch.max(pg1, pg2).mean()
    value_loss = 0.5 * ((new_values - returns) ** 2).mean()
    ent = entropy.mean()
    loss = policy_loss + vf_coef * value_loss - ent_coef * ent
    with torch.no_grad():
        stats = {
            "policy_loss": float(policy_loss),
            "value_loss": float(value_loss),
            "entropy": float(ent),
            "approx_kl": float(((ratio - 1.0) - log_ratio).mean()),
            "clip_fraction": float(((ratio - 1.0).abs() > clip_coef).float().mean()),
        }
    return loss, stats


def _source_kinds(rng: np.random.Generator, cfg: PPOConfig) -> list[str]:
    """A mix of source kinds (:attr:`PPOConfig.source_kind_weights`): all related,
    related and unrelated, all unrelated, or misleading sources (alone or beside a
    related one, :attr:`PPOConfig.misleading_beside_related`)."""
    n = int(rng.integers(1, cfg.max_sources + 1))
    weights = np.asarray(cfg.source_kind_weights, dtype=float)
    bounds = np.cumsum(weights / weights.sum())
    u = rng.random()
    if u < bounds[0]:
        return ["related"] * n
    if u < bounds[1]:
        return [str(k) for k in rng.choice(["related", "unrelated"], size=n)]
    if u < bounds[2]:
        return ["unrelated"] * n
    kinds = ["misleading"] * n
    if n > 1 and rng.random() < cfg.misleading_beside_related:
        kinds[0] = "related"
    return kinds


_HANDOFF: dict[str, PolicyWeights] = {}


def _handoff_weights(name: str | None) -> PolicyWeights | None:
    """The hand-off weights of :attr:`PPOConfig.handoff`, loaded once per process."""
    if name is None:
        return None
    if name not in _HANDOFF:
        try:
            _HANDOFF[name] = load_named_weights(name)
        except WeightsError as err:
            raise WeightsError(f"handoff {err}") from err
    return _HANDOFF[name]


def _episode_job(
    args: tuple[int, int, PolicyWeights, PPOConfig, Sequence[SourceStudy]],
) -> Episode:
    """Run one episode in a worker: task and stream derive from (seed, iteration, index);
    ``corpus`` holds the studies whose surrogates may be the episode's task."""
    iteration, index, weights, cfg, corpus = args
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng([cfg.seed, iteration, index])
    p = np.asarray(cfg.dim_weights, dtype=float)
    n_params = int(rng.choice(cfg.dims, p=p / p.sum()))
    budget = int(rng.choice(cfg.budgets))
    workers = int(rng.integers(2, 5)) if rng.random() < cfg.parallel_prob else 1
    prune = 0.5 if rng.random() < cfg.prune_prob else 0.0
    with threadpool_limits(1):
        sources: list[SourceStudy] = []
        if corpus and rng.random() < cfg.corpus_prob:
            own = int(rng.integers(len(corpus)))
            task = surrogate_task(corpus[own], seed=int(rng.integers(2**31)))
            others = [s for i, s in enumerate(corpus) if i != own]
            if others and rng.random() < cfg.corpus_source_prob:
                k = min(len(others), int(rng.integers(1, cfg.max_sources + 1)))
                sources = [others[i] for i in rng.choice(len(others), k, replace=False)]
        else:
            task = sample_task(
                rng, n_params=n_params, style_weights=cfg.style_weights, families=cfg.families
            )
            if rng.random() < cfg.source_prob:
                sources = sample_sources(task, rng, _source_kinds(rng, cfg))
        return run_episode(
            task,
            weights,
            rng,
            budget=budget,
            n_candidates=cfg.n_candidates,
            workers=workers,
            prune_prob=prune,
            sources=sources,
            start_from_prior=bool(sources) and rng.random() < cfg.start_from_prior_prob,
            prior_startup=cfg.prior_startup,
            handoff=_handoff_weights(cfg.handoff) if sources else None,
            log_reward=cfg.log_reward,
        )


def collect(
    iteration: int,
    weights: PolicyWeights,
    cfg: PPOConfig,
    pool: Any | None,
    corpus: Sequence[SourceStudy] = (),
) -> list[Episode]:
    """Roll out one iteration's episodes (in order, so results do not depend on workers);
    ``corpus``: studies whose surrogates become episodes (``cfg.corpus_prob``)."""
    jobs = [(iteration, i, weights, cfg, corpus) for i in range(cfg.episodes_per_iteration)]
    if pool is None:
        return [_episode_job(j) for j in jobs]
    return pool.map(_episode_job, jobs, chunksize=1)


def update(
    net: PolicyNet,
    optimizer: torch.optim.Optimizer,
    episodes: list[Episode],
    cfg: PPOConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """Advantages with GAE, then ``update_epochs`` of clipped PPO on minibatches."""
    feats = torch.from_numpy(np.concatenate([e.features for e in episodes]))
    actions = torch.from_numpy(np.concatenate([e.actions for e in episodes]))
    old_logp = torch.from_numpy(np.concatenate([e.logp for e in episodes]))
    with torch.no_grad():
        values = net.values(feats).numpy().astype(np.float64)
    advs, rets, start = [], [], 0
    for e in episodes:
        end = start + len(e.rewards)
        a, r = compute_gae(
            e.rewards.astype(np.float64), values[start:end], cfg.gamma, cfg.gae_lambda
        )
        advs.append(a)
        rets.append(r)
        start = end
    advantages = torch.from_numpy(np.concatenate(advs)).float()
    returns = torch.from_numpy(np.concatenate(rets)).float()
    # The probe of the prior-startup phase is forced: it shapes the returns above but is
    # not the policy's decision, so the loss leaves it out. The phase's other steps are
    # choices among the prior candidates only, learnt under that same restriction.
    free = torch.from_numpy(np.concatenate([e.free_steps() for e in episodes]))
    restricted = torch.from_numpy(np.concatenate([e.restricted_steps() for e in episodes]))
    allowed = torch.ones(feats.shape[:2], dtype=torch.bool)
    allowed[restricted] = feats[restricted][:, :, _PRIOR_COLUMN] > 0.5
    states = torch.nonzero(free).squeeze(1)
    n_states = len(states)
    stats: dict[str, list[float]] = {}
    for _ in range(cfg.update_epochs):
        order = states[torch.randperm(n_states, generator=generator)]
        for lo in range(0, n_states, cfg.minibatch_states):
            idx = order[lo : lo + cfg.minibatch_states]
            if len(idx) < 2:
                # One state has no advantage spread to normalise by (its std is NaN).
                continue
            logits = net.logits(feats[idx]).masked_fill(~allowed[idx], _MASKED_LOGIT)
            logp_all = torch.log_softmax(logits, dim=-1)
            new_logp = logp_all.gather(1, actions[idx, None]).squeeze(1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            adv = advantages[idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            loss, s = ppo_loss(
                new_logp,
                old_logp[idx],
                adv,
                net.values(feats[idx]),
                returns[idx],
                entropy,
                clip_coef=cfg.clip_coef,
                vf_coef=cfg.vf_coef,
                ent_coef=cfg.ent_coef,
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
            optimizer.step()
            for k, v in s.items():
                stats.setdefault(k, []).append(v)
    var_y = float(returns.var())
    out = {k: float(np.mean(v)) for k, v in stats.items()}
    out["explained_variance"] = (
        float("nan")
        if var_y == 0
        else 1.0 - float((returns - torch.from_numpy(values).float()).var()) / var_y
    )
    return out


def _start_from(net: PolicyNet, path: str | None) -> str | None:
    """Load ``path`` (``"default"``: the shipped weights) into ``net``, remapping older
    feature schemas by name. Returns the name of the weights started from."""
    if path is None:
        return None
    from safetensors.numpy import load_file

    from optuna_rl_sampler.policy import card_path
    from optuna_rl_sampler.policy import default_weights_path

    file = default_weights_path() if path == "default" else Path(path)
    card = json.loads(card_path(file).read_text())
    schema = card.get("feature_schema", list(FEATURE_NAMES))
    if list(schema) == list(FEATURE_NAMES):
        tensors = load_weights(file).tensors
    else:
        tensors = remap_features(dict(load_file(str(file))), schema)
    state = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    bad = [k for k, v in state.items() if k in shapes and tuple(v.shape) != shapes[k]]
    if bad or set(shapes) - set(state):
        raise ValueError(
            f"Weights {str(file)!r} do not fit a network with hidden={net.score[0].out_features}"
            f" (mismatched tensors: {sorted(bad or set(shapes) - set(state))}); pass the "
            "same --hidden as the weights were trained with."
        )
    net.load_state_dict({k: state[k] for k in shapes})
    return str(card.get("name", file.stem))


#: How the card names each task family (``cfg.families``, in that order).
_FAMILY_WORDS = {
    "gp": "GP-prior draws",
    "bowl": "bowls",
    "bumps": "bumps",
    "ripples": "ripples",
    "plateau": "plateaus",
    "table": "tables (quantised values, exact ties)",
    "heavy": "heavy-tailed log-loss-like losses",
    "cliff": "cliffs (a divergence region of one bad value)",
}


def _trained_on(cfg: PPOConfig, corpus: list[SourceStudy], start: str | None) -> str:
    families = ", ".join(_FAMILY_WORDS.get(f, f) for f in dict.fromkeys(cfg.families))
    parts = [
        f"synthetic tasks (optuna_rl_sampler.training.tasks): {families}; mixed, grid, "
        f"categorical and float search spaces of {min(cfg.dims)}-{max(cfg.dims)} parameters"
    ]
    if cfg.source_prob > 0:
        parts.append(
            f"{cfg.source_prob:.0%} of synthetic episodes with 1-{cfg.max_sources} synthetic "
            "source studies (related, unrelated, misleading)"
        )
    if corpus and cfg.corpus_prob > 0:
        names = sorted({str(s.attrs.get("dataset", s.name)) for s in corpus})
        parts.append(
            f"{cfg.corpus_prob:.0%} of episodes on GP surrogates of {len(corpus)} corpus "
            f"studies (datasets: {', '.join(names)}), each with the others as sources"
        )
    has_sources = cfg.source_prob > 0 or bool(corpus and cfg.corpus_prob > 0)
    if cfg.prior_startup > 0 and has_sources:
        parts.append(
            f"episodes with sources start with the sampler's {cfg.prior_startup}-trial "
            "prior-startup phase"
        )
    if cfg.handoff:
        parts.append(
            f"{cfg.handoff} chooses while an episode's sources hold under "
            f"{HANDOFF_TRUST:g} of the weight (simulated, not learnt)"
        )
    parts.append(
        f"pending points in {cfg.parallel_prob:.0%} and pruned trials in "
        f"{cfg.prune_prob:.0%} of episodes"
    )
    if start:
        parts.append(f"started from {start}")
    return "; ".join(parts)


def train(
    cfg: PPOConfig,
    out: str | Path,
    *,
    progress: bool = True,
    plot: bool = True,
    name: str = "generic-v1",
    corpus: list[SourceStudy] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Meta-train a policy and write ``out`` (+ card, curve JSON and PNG).

    Starts from ``cfg.init_weights`` when set (that is how ``optuna-rl finetune``
    continues from the shipped weights), else from a uniform policy. Deterministic for a
    given ``cfg.seed`` (and number of torch threads) when ``cfg.max_minutes`` is unset:
    every episode derives its task and random stream from ``(seed, iteration, index)``,
    episodes are gathered in order, and torch's minibatch order comes from a seeded
    generator.

    Args:
        cfg: The run's configuration (written into the card).
        out: Weights file to write (``.safetensors``).
        progress: Show a progress bar.
        plot: Write the training curve as a PNG beside the weights.
        name: Name recorded in the card and in every trial's reasons.
        corpus: Source studies whose GP surrogates become episodes (``cfg.corpus_prob``
            of them), each with the other studies as its sources.
        resume: Continue from the checkpoint beside ``out`` (:func:`checkpoint_path`),
            which every iteration rewrites and a run that did every iteration removes.
            The resumed run ends with the same weights as one that was never
            interrupted. ``cfg.max_minutes`` counts this invocation only;
            ``cfg.iterations`` may be raised to train longer.

    Returns:
        The card written beside the weights.

    Raises:
        ValueError: ``resume`` with no checkpoint, or with one written by a run of a
            different configuration or corpus (nothing is overwritten).
    """
    import multiprocessing as mp

    from tqdm.auto import tqdm

    corpus = list(corpus or [])
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.workers))
    generator = torch.Generator().manual_seed(cfg.seed)
    net = PolicyNet(N_FEATURES, cfg.hidden)
    start = _start_from(net, cfg.init_weights)
    _handoff_weights(cfg.handoff)  # a bad name fails here, before any episode runs
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, eps=1e-5)
    out = Path(out)
    ckpt = checkpoint_path(out)
    run_key = _run_key(cfg, corpus)
    history: list[dict[str, float]] = []
    before = 0.0  # seconds spent by the invocations this one resumes
    if resume:
        history, before = _load_checkpoint(ckpt, run_key, net, optimizer, generator)
    started = time.time()
    first = len(history)
    pool = mp.get_context("fork").Pool(cfg.workers) if cfg.workers > 1 else None
    try:
        bar = tqdm(
            range(first, cfg.iterations),
            desc=name,
            disable=not progress,
            initial=first,
            total=cfg.iterations,
        )
        for iteration in bar:
            if cfg.max_minutes is not None and time.time() - started > 60 * cfg.max_minutes:
                bar.write(
                    f"stopping after {iteration} iterations: --minutes reached (continue "
                    "with --resume)"
                )
                break
            episodes = collect(iteration, net.to_weights(), cfg, pool, corpus)
            stats = update(net, optimizer, episodes, cfg, generator)
            stats["iteration"] = iteration
            stats["final_regret"] = float(np.mean([e.regrets[-1] for e in episodes]))
            stats["mean_regret"] = float(np.mean([e.regrets.mean() for e in episodes]))
            stats["elapsed_s"] = before + time.time() - started
            history.append(stats)
            _save_checkpoint(ckpt, run_key, net, optimizer, generator, history)
            bar.set_postfix(
                regret=f"{stats['final_regret']:.3f}",
                auc=f"{stats['mean_regret']:.3f}",
                kl=f"{stats['approx_kl']:.4f}",
            )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    card = {
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "trained_on": _trained_on(cfg, corpus, start),
        "iterations_done": len(history),
        "algorithm": "PPO (clipped surrogate, GAE)",
        "config": _config_dict(cfg),
        "seed": cfg.seed,
        "train_time_s": round(before + time.time() - started, 1),
        "final": {k: history[-1][k] for k in ("final_regret", "mean_regret")} if history else {},
        "torch_version": torch.__version__,
    }
    tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    save_weights(tensors, out, card)
    out.with_suffix(".curve.json").write_text(json.dumps(history, indent=1) + "\n")
    if plot and history:
        plot_curve(history, out.with_suffix(".png"))
    if len(history) >= cfg.iterations:
        ckpt.unlink(missing_ok=True)
    return card


def checkpoint_path(out: str | Path) -> Path:
    """The checkpoint a training run writing ``out`` keeps beside it (``.ckpt``)."""
    return Path(out).with_suffix(".ckpt")


#: Settings a resumed run may change: how long it runs, and on how many processes
#: (episodes are gathered in order, so the result does not depend on the latter).
_RESUMABLE_CHANGES = frozenset({"iterations", "max_minutes", "workers"})


def _config_dict(cfg: PPOConfig) -> dict[str, Any]:
    """``cfg`` as JSON-ready values (tuples as lists), as the card records it."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


def _run_key(cfg: PPOConfig, corpus: list[SourceStudy]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the configuration and the corpus."""
    config = {k: v for k, v in _config_dict(cfg).items() if k not in _RESUMABLE_CHANGES}
    return {"config": config, "corpus": [[s.name, len(s)] for s in corpus]}


def _save_checkpoint(
    path: Path,
    run_key: dict[str, Any],
    net: PolicyNet,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    history: list[dict[str, float]],
) -> None:
    """Write the state after the last iteration atomically (a kill never leaves half a
    checkpoint): network, optimiser, minibatch generator and the curve so far."""
    state = {
        "format": 1,
        "run_key": json.dumps(run_key, sort_keys=True),
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "history": json.dumps(history),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _load_checkpoint(
    path: Path,
    run_key: dict[str, Any],
    net: PolicyNet,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> tuple[list[dict[str, float]], float]:
    """Restore a checkpoint in place; returns the curve so far and its seconds."""
    if not path.exists():
        raise ValueError(
            f"--resume: no checkpoint {str(path)!r} to continue from (a run that did "
            "every iteration removes it). Run without --resume to start afresh."
        )
    try:
        state = torch.load(path, weights_only=True)
        saved = json.loads(state["run_key"])
    except Exception as err:  # a truncated or foreign file
        raise ValueError(
            f"--resume: {str(path)!r} is not a readable training checkpoint ({err}). "
            "Delete it and run without --resume."
        ) from err
    mine = json.loads(json.dumps(run_key, sort_keys=True))
    if saved != mine:
        keys = sorted(
            k
            for k in set(saved["config"]) | set(mine["config"])
            if saved["config"].get(k) != mine["config"].get(k)
        )
        if saved["corpus"] != mine["corpus"]:
            keys.append("corpus (the past studies)")
        raise ValueError(
            f"--resume: the checkpoint {str(path)!r} is of a run with other settings "
            f"({', '.join(keys)}); only {', '.join(sorted(_RESUMABLE_CHANGES))} may change. "
            "Resume with the same options, or write to another --out."
        )
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    history = json.loads(state["history"])
    return history, float(history[-1]["elapsed_s"]) if history else 0.0


def plot_curve(history: list[dict[str, float]], path: Path) -> None:
    """Training curve: regret of the rollouts and PPO diagnostics per iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [h["iteration"] for h in history]
    window = max(1, min(15, len(history) // 10))

    def smooth(v: list[float]) -> np.ndarray:
        return np.convolve(v, np.ones(window) / window, mode="valid")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key, label in (("final_regret", "final regret"), ("mean_regret", "mean regret (AUC)")):
        raw = [h[key] for h in history]
        line = axes[0].plot(it, raw, alpha=0.25)[0]
        axes[0].plot(it[window - 1 :], smooth(raw), color=line.get_color(), label=label)
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("normalised regret")
    axes[0].legend()
    axes[1].plot(it, [h["entropy"] for h in history])
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("policy entropy (nats)")
    axes[2].plot(it, [h["approx_kl"] for h in history], label="approx KL")
    axes[2].plot(it, [h["clip_fraction"] for h in history], label="clip fraction")
    axes[2].set_xlabel("iteration")
    axes[2].legend()
    fig.suptitle("RLSampler meta-training (PPO on synthetic tasks)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
