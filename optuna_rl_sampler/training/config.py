"""The configuration of a meta-training run: the single place that defines it.

:class:`PPOConfig` holds every setting of :func:`~optuna_rl_sampler.training.ppo.train`,
the episode mix included, and is written whole into the weights card. ``optuna-rl
pretrain`` and ``optuna-rl finetune`` generate their options from its fields (the help
is each field's ``metadata["help"]``, the default that of :func:`pretrain_config` or
:func:`finetune_config`), so the command line and the library cannot disagree. This
module needs no torch: the command line reads it without the training extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

__all__ = ["PPOConfig", "finetune_config", "pretrain_config"]


@dataclass
class PPOConfig:
    """Everything that defines a training run (written into the weights card)."""

    seed: int = field(default=0, metadata={"help": "seed of tasks and updates"})
    #: PPO iterations (each: collect ``episodes_per_iteration`` episodes, then update).
    iterations: int = field(
        default=300, metadata={"help": "PPO iterations (each: collect the episodes, then update)"}
    )
    episodes_per_iteration: int = field(default=32, metadata={"help": "episodes per iteration"})
    #: Episode budgets (evaluations per task), drawn uniformly.
    budgets: tuple[int, ...] = field(
        default=(15, 25, 40, 60), metadata={"help": "episode lengths in trials, drawn uniformly"}
    )
    #: Task dimensions, drawn with weights favouring 2-10 parameters.
    dims: tuple[int, ...] = field(
        default=(1, 2, 3, 4, 5, 6, 8, 10, 14, 20),
        metadata={"help": "numbers of parameters of the synthetic tasks"},
    )
    #: Relative frequency of each of ``dims`` (one weight per dimension).
    dim_weights: tuple[float, ...] = field(
        default=(0.5, 1.5, 1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 0.5, 0.5),
        metadata={"help": "relative frequency of each of --dims, one weight per dimension"},
    )
    #: Task families of the synthetic episodes, drawn uniformly (a name given twice is
    #: drawn twice as often); see :mod:`~optuna_rl_sampler.training.tasks`. The default
    #: is :data:`~optuna_rl_sampler.training.tasks.FAMILIES` (``generic-v1``'s mix), which
    #: draws exactly as before the field existed; the other families are ``table``
    #: (ties), ``heavy`` (heavy-tailed losses) and ``cliff`` (divergence regions).
    families: tuple[str, ...] = field(
        default=("gp", "bowl", "bumps", "ripples", "plateau"),
        metadata={
            "help": (
                "task families of the synthetic episodes, drawn uniformly: gp bowl bumps "
                "ripples plateau table heavy cliff (see optuna_rl_sampler.training.tasks)"
            )
        },
    )
    #: Weight of the log-scale regret in each step's reward
    #: (:func:`~optuna_rl_sampler.training.rollout.step_rewards`); 0 is generic-v1's
    #: reward, minus the normalised regret.
    log_reward: float = field(
        default=0.0,
        metadata={
            "help": (
                "weight in [0, 1] of the log-scale regret in each step's reward (0: minus the "
                "normalised regret, as generic-v1 was trained)"
            )
        },
    )
    n_candidates: int = field(default=256, metadata={"help": "candidates per proposal"})
    hidden: int = 64
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam step"})
    gamma: float = 0.98
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    ent_coef: float = 0.003
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    update_epochs: int = 4
    minibatch_states: int = 256
    workers: int = field(default=2, metadata={"help": "rollout processes"})
    #: Probabilities of the search-space styles (mixed, grid, categorical, float).
    style_weights: tuple[float, ...] = (0.35, 0.2, 0.15, 0.3)
    #: Share of synthetic episodes that come with source studies (see
    #: :func:`~.tasks.sample_sources`), and the most sources an episode gets.
    source_prob: float = field(
        default=0.6, metadata={"help": "share of synthetic episodes with synthetic source studies"}
    )
    max_sources: int = 5
    #: Share of episodes simulating 2-4 parallel workers (pending points).
    parallel_prob: float = field(
        default=0.2,
        metadata={"help": "share of episodes with 2-4 parallel workers (pending points)"},
    )
    #: Share of episodes with a pruner (a below-median proposal is pruned half the time).
    prune_prob: float = field(default=0.2, metadata={"help": "share of episodes with pruning"})
    #: Mix of the synthetic source kinds of an episode with sources: all related, related
    #: and unrelated mixed, all unrelated, misleading (:func:`_source_kinds`).
    source_kind_weights: tuple[float, ...] = (0.45, 0.2, 0.15, 0.2)
    #: Share of misleading episodes (with 2 or more sources) whose first source is
    #: related: one good source among misleading ones.
    misleading_beside_related: float = 0.5
    #: Share of corpus episodes that get other corpus studies as sources.
    corpus_source_prob: float = 0.85
    #: Share of episodes with sources whose first trial is the sources' consensus
    #: configuration, as the sampler's first trial is with explicit sources.
    start_from_prior_prob: float = 0.5
    #: Share of episodes on surrogate tasks of the corpus, when :func:`train` is given
    #: one (the episode's own study is left out of its sources).
    corpus_prob: float = field(
        default=0.0,
        metadata={
            "help": ("share of episodes on surrogates of your studies (the rest are synthetic)")
        },
    )
    #: The sampler's ``prior_startup_trials`` in episodes with sources, so the policy
    #: learns in the states it meets after that phase (0: no phase).
    prior_startup: int = field(
        default=0,
        metadata={
            "help": (
                "the sampler's prior_startup_trials, simulated in episodes with sources so the "
                "policy learns in the states it meets after that phase (0: none)"
            )
        },
    )
    #: Weights the sampler hands off to while an episode's sources are distrusted (a
    #: path or a shipped name such as ``"generic-v1"``, as the sampler does with its
    #: default weights); those steps are simulated but not learnt. Recorded in the card,
    #: so ``RLSampler(meta_model=PATH)`` hands off to it too. ``None``: no hand-off.
    handoff: str | None = field(
        default=None,
        metadata={
            "help": (
                "weights (a shipped name such as generic-v1, or a file) that choose while an "
                "episode's sources are distrusted, as the shipped pair does; those steps are "
                "simulated, not learnt, and recorded in the card, so RLSampler(meta_model=OUT) "
                "hands off to them too ('none': the trained policy chooses throughout)"
            )
        },
    )
    #: Weights to start from (``None``: a fresh network with a uniform policy).
    init_weights: str | None = field(
        default=None,
        metadata={
            "help": (
                "weights to start from ('default': the shipped transfer weights; unset: a fresh "
                "network with a uniform policy)"
            )
        },
    )
    #: Stop after this many minutes of training (``None``: run every iteration).
    max_minutes: float | None = field(
        default=None,
        metadata={"help": "stop after this many minutes of training (unset: run every iteration)"},
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.dim_weights):
            raise ValueError(
                f"dims {tuple(self.dims)} and dim_weights {tuple(self.dim_weights)} differ in "
                "length; give one weight per dimension (e.g. --dims 2 5 30 --dim-weights 1 1 0.5)."
            )
        if not 0.0 <= float(self.log_reward) <= 1.0:
            raise ValueError(
                f"log_reward {self.log_reward!r}: give a weight in [0, 1] (e.g. 0.5), or 0 "
                "for the plain normalised regret."
            )
        if not self.dims or any(int(d) < 1 for d in self.dims):
            raise ValueError(f"dims {tuple(self.dims)}: give dimensions of at least 1.")
        if any(w < 0 for w in self.dim_weights) or sum(self.dim_weights) <= 0:
            raise ValueError(
                f"dim_weights {tuple(self.dim_weights)}: weights must be >= 0 with a positive sum."
            )


def pretrain_config(**changes: Any) -> PPOConfig:
    """The run ``optuna-rl pretrain`` starts from: the defaults, with the sampler's
    5-trial prior-startup phase simulated in episodes with sources."""
    return replace(PPOConfig(prior_startup=5), **changes)


def finetune_config(**changes: Any) -> PPOConfig:
    """The run ``optuna-rl finetune`` starts from: the shipped transfer weights, 70% of
    the episodes on the user's studies, a smaller step, 10 minutes at most, and the
    hand-off to ``generic-v1`` the shipped pair uses."""
    base = PPOConfig(
        iterations=200,
        episodes_per_iteration=16,
        learning_rate=3e-4,
        corpus_prob=0.7,
        init_weights="default",
        max_minutes=10.0,
        prior_startup=5,
        handoff="generic-v1",
    )
    return replace(base, **changes)
