"""``RLSampler``: where a proposal comes from, top to bottom.

This is the only module that touches :class:`optuna.study.Study` and its storage. Each
call of :meth:`RLSampler.sample_relative` reads the study from storage and runs:

1. **evidence**: COMPLETE trials (and PRUNED ones, see below) of the current search
   space are encoded to the unit cube; their values become direction-aware normal
   scores; RUNNING trials become pending points;
2. **proposal**: :func:`optuna_rl_sampler.proposal.propose`, the one proposal step
   shared with meta-training: a GP on the study, the meta-prior of the source studies
   (weighted by how well they rank this study's trials), candidates (Sobol, local
   moves, prior configurations), their features, and ``pi(a|s) = softmax(scores)``;
   one candidate is drawn with the trial's own random stream;
3. **reasons**: the choice is decoded and its reasons written to the trial.

Nothing but the loaded weights lives on the sampler object, so any number of processes
sharing one storage propose correctly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.policy import load_weights
from optuna_rl_sampler.proposal import propose
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.sources import load_builtin_sources
from optuna_rl_sampler.surrogate import normal_scores

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = ["RLSampler", "REASON_KEY"]

_logger = optuna.logging.get_logger(__name__)

#: Trial system attribute holding the sampler's reasons for a proposal.
REASON_KEY = "rl_sampler:reason"
_ASSUMED_BUDGET = 100
#: Built-in sources apply only to a study whose space they cover this well (both ways).
_AUTO_MATCH_SHARE = 0.75
_PRIOR_CACHE_SIZE = 8


class RLSampler(BaseSampler):
    """Sampler that proposes each trial with a pretrained reinforcement-learning policy.

    At every trial the sampler builds a set of candidate configurations (scrambled
    Sobol points, local moves around the best trials so far, and configurations from a
    meta-prior when one is loaded), describes each candidate by features that do not
    depend on the search space (a Gaussian-process posterior fitted to the study,
    expected improvement, distances to evaluated and running trials, budget progress),
    and lets a small policy network choose among them: ``pi(a|s) = softmax`` over the
    network's scores. The network was meta-trained with PPO on thousands of synthetic
    optimisation episodes (functions drawn from a GP prior and other families, of 1 to
    20+ dimensions), so it has learned how to trade exploration for exploitation as the
    budget runs out. Proposing is a forward pass, never training.

    Trials are read from the storage at each call: COMPLETE trials are the evidence;
    PRUNED trials with at least one intermediate value count as worse than every
    complete trial (a pruner stopped them for looking bad), those without are ignored;
    FAIL trials are ignored; RUNNING trials are pending points that the policy sees, so
    parallel workers spread out. Parameters outside the intersection search space
    (dynamic or conditional ones) are sampled by ``independent_sampler``.

    With source studies (past studies of a related task) a meta-prior
    (:mod:`optuna_rl_sampler.meta_prior`) maps their configurations into the new search
    space by parameter name, scores every candidate by what the sources predict, offers
    their best configurations as candidates, and weights each source by how well it
    ranks the new study's own trials (RGPE's ranking loss), so a misleading source
    loses its say as evidence arrives. The policy sees the prior's score and weight as
    features and was meta-trained on episodes with related, unrelated and misleading
    sources, so it learned how far to trust them.

    The reasons for each proposal (candidate source, GP mean and standard deviation,
    policy probability, weights name, and the sources with their weights) are stored in
    the trial's system attribute ``"rl_sampler:reason"``.

    Example:

        .. testcode::

            import math

            import optuna
            from optuna_rl_sampler import RLSampler


            def objective(trial):
                x = trial.suggest_float("x", -10, 10)
                lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
                return (x - 2) ** 2 + (math.log10(lr) + 3) ** 2


            study = optuna.create_study(sampler=RLSampler(seed=0))
            study.optimize(objective, n_trials=30)

    Args:
        seed: Seed for the random streams. Each trial's stream derives from the seed and
            the trial number, so results do not depend on which process runs a trial.
        independent_sampler: Sampler for parameters outside the relative search space
            and for the first ``n_startup_trials`` trials. Defaults to
            :class:`~optuna.samplers.RandomSampler` with the same seed.
        n_startup_trials: Number of complete trials before the policy takes over.
        warn_independent_sampling: Warn when a parameter falls back to
            ``independent_sampler`` after the startup trials.
        n_candidates: Number of candidates the policy chooses among at each trial.
        meta_model: Path of a ``.safetensors`` weights file (with its ``.json`` card)
            written by ``optuna-rl pretrain`` or ``optuna-rl finetune``. ``None`` uses
            the generic weights shipped in the package. Checked at construction, so a
            bad file fails before any trial runs.
        budget: Expected number of trials of the study; the policy explores less as the
            study approaches it. ``None`` assumes 100.
        greedy: Take the candidate of highest probability instead of drawing from the
            policy.
        max_observations: Most trials the surrogate conditions on (the best half and a
            random sample of the rest), which bounds the cost per proposal.
        source_studies: Past studies to transfer from. ``"auto"`` (the default) uses the
            corpus of recommender tuning studies shipped with the package, but only for
            a study whose search space and a past study's cover each other for at
            least 75% of their parameters (by name and kind), e.g. the built-in
            ``lightgbm-ranker`` and ``two-tower`` families; any other study runs without
            transfer. A list of :class:`optuna.study.Study` (from any storage; read
            once, here) or :class:`~optuna_rl_sampler.sources.SourceStudy` records
            transfers from those; explicit sources also seed the first trials with
            their best configurations. ``None`` or ``"none"`` turns transfer off.
        constraints_func: Not supported yet; passing a function raises ``ValueError``.

    Raises:
        ValueError: an argument is out of range, or ``constraints_func`` is given.
        optuna_rl_sampler.policy.WeightsError: ``meta_model`` is missing, unreadable or
            incompatible (a subclass of ``ValueError``).
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        n_startup_trials: int = 1,
        warn_independent_sampling: bool = True,
        n_candidates: int = 256,
        meta_model: str | Path | None = None,
        budget: int | None = None,
        greedy: bool = False,
        max_observations: int = 200,
        source_studies: Sequence[Study | SourceStudy] | str | None = "auto",
        constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
    ) -> None:
        if constraints_func is not None:
            raise ValueError(
                "RLSampler does not support constraints_func yet. Fold the constraint into "
                "the objective (e.g. return a penalty) or use optuna.samplers.TPESampler "
                "with constraints_func."
            )
        if n_startup_trials < 1:
            raise ValueError(
                f"n_startup_trials must be at least 1 (the search space is known only "
                f"after a complete trial), got {n_startup_trials}."
            )
        if n_candidates < 2:
            raise ValueError(f"n_candidates must be at least 2, got {n_candidates}.")
        if budget is not None and budget < 1:
            raise ValueError(f"budget must be a positive number of trials, got {budget}.")
        if max_observations < 2:
            raise ValueError(f"max_observations must be at least 2, got {max_observations}.")
        self._seed = int(np.random.SeedSequence(seed).entropy % (2**63))
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._n_startup_trials = n_startup_trials
        self._warn_independent_sampling = warn_independent_sampling
        self._n_candidates = n_candidates
        self._budget = budget or _ASSUMED_BUDGET
        self._greedy = greedy
        self._max_observations = max_observations
        self._weights: PolicyWeights = load_weights(meta_model)
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        self._auto_sources = isinstance(source_studies, str)
        self._sources: list[SourceStudy] = _read_sources(source_studies)
        self._prior_cache: dict[tuple, MetaPrior] = {}
        self._ranking: list[tuple[int, int]] | None = None

    @property
    def weights(self) -> PolicyWeights:
        """The loaded policy weights and their card."""
        return self._weights

    def reseed_rng(self) -> None:
        """Draw a fresh base seed (Optuna calls this in each worker of ``n_jobs > 1``)."""
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._raise_if_unsupported(study)
        return {
            name: dist
            for name, dist in self._search_space.calculate(study).items()
            if not dist.single()
        }

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._raise_if_unsupported(study)
        if not search_space:
            return {}
        try:
            # Small dense algebra: one BLAS thread is faster and immune to oversubscription.
            with threadpool_limits(limits=1, user_api="blas"):
                return self._propose(study, trial, search_space)
        except Exception as err:  # noqa: BLE001 - the user's study must go on
            warnings.warn(
                f"RLSampler could not propose trial {trial.number} ({type(err).__name__}: "
                f"{err}); its parameters are sampled by "
                f"{type(self._independent_sampler).__name__} instead.",
                stacklevel=2,
            )
            return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        self._raise_if_unsupported(study)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete and not param_distribution.single():
            startup = self._startup_value(study, trial, param_name, param_distribution)
            if startup is not None:
                value, source_name = startup
                study._storage.set_trial_system_attr(
                    trial._trial_id,
                    REASON_KEY,
                    {
                        "source": "prior-startup",
                        "from": source_name,
                        "weights": self._weights.name,
                    },
                )
                return value
        if self._warn_independent_sampling and not param_distribution.single():
            if len(complete) >= self._n_startup_trials:
                _logger.warning(
                    f"The parameter {param_name!r} in trial#{trial.number} is sampled "
                    f"independently by {type(self._independent_sampler).__name__} instead "
                    "of RLSampler, because it is not in every trial so far (a dynamic or "
                    "conditional parameter) or its distribution changed. Pass "
                    "warn_independent_sampling=False to silence this."
                )
        return self._independent_sampler.sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)

    # -- the proposal ---------------------------------------------------------------

    def _raise_if_unsupported(self, study: Study) -> None:
        if study._is_multi_objective():
            raise ValueError(
                f"RLSampler supports single-objective studies only; this study has "
                f"{len(study.directions)} objectives. Use optuna.samplers.TPESampler or "
                "NSGAIISampler for multi-objective optimisation."
            )

    def _propose(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        encoder = SearchSpaceEncoder(search_space)
        points, values, pending = _read_evidence(study, trial, encoder)
        if len(values) < self._n_startup_trials:
            return {}
        proposal = propose(
            encoder,
            points,
            values,
            pending,
            weights=self._weights,
            rng=np.random.default_rng([self._seed, trial.number]),
            progress=len(values) / self._budget,
            n_candidates=self._n_candidates,
            max_observations=self._max_observations,
            prior=self._meta_prior(search_space),
            greedy=self._greedy,
        )
        study._storage.set_trial_system_attr(trial._trial_id, REASON_KEY, proposal.reason)
        return encoder.decode(proposal.point)

    # -- transfer -------------------------------------------------------------------

    @property
    def source_studies(self) -> list[SourceStudy]:
        """The past studies this sampler transfers from (empty without transfer)."""
        return list(self._sources)

    def _meta_prior(self, search_space: dict[str, BaseDistribution]) -> MetaPrior | None:
        """The sources matched to ``search_space``, built once per search space.

        The cache holds only a function of the constructor's sources and the search
        space, never anything read from the study, so it is correct in every process.
        """
        if not self._sources:
            return None
        key = tuple(sorted((k, repr(v)) for k, v in search_space.items()))
        prior = self._prior_cache.get(key)
        if prior is None:
            share = _AUTO_MATCH_SHARE if self._auto_sources else None
            prior = MetaPrior(self._sources, search_space, family_share=share)
            if len(self._prior_cache) >= _PRIOR_CACHE_SIZE:
                self._prior_cache.pop(next(iter(self._prior_cache)))
            self._prior_cache[key] = prior
        return prior if len(prior) else None

    def _startup_value(
        self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution
    ) -> tuple[Any, str] | None:
        """Value of ``name`` in the best past configuration for a startup trial.

        Startup trial ``k`` takes the ``k``-th best configuration (by normal score within
        its source) among the explicit sources that know the parameter and hold a value
        that fits ``dist``. Built-in sources are not used here: before the first trial
        completes the study's search space is unknown, so whether they fit is too.
        """
        if self._auto_sources or not self._sources:
            return None
        ranked = self._startup_ranking()
        if not ranked:
            return None
        start = trial.number % len(ranked)
        for k in range(len(ranked)):
            src, row = ranked[(start + k) % len(ranked)]
            params = self._sources[src].params[row]
            if name in params:
                value = params[name]
                try:
                    if dist._contains(dist.to_internal_repr(value)):
                        return value, self._sources[src].name
                except (ValueError, TypeError):
                    continue
        return None

    def _startup_ranking(self) -> list[tuple[int, int]]:
        if self._ranking is None:
            entries = []
            for i, src in enumerate(self._sources):
                for row, score in enumerate(normal_scores(src.values)):
                    entries.append((-float(score), i, row))
            entries.sort()
            self._ranking = [(i, row) for _, i, row in entries]
        return self._ranking


def _read_evidence(
    study: Study,
    trial: FrozenTrial,
    encoder: SearchSpaceEncoder,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cube points and direction-aware values (higher is better) of the usable trials,
    and the cube points of the other running trials."""
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False, states=states)
    sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
    evidence: list[FrozenTrial] = []
    values: list[float] = []
    running: list[FrozenTrial] = []
    for t in trials:
        if t.number == trial.number:
            continue
        if t.state == TrialState.RUNNING:
            running.append(t)
        elif t.state == TrialState.COMPLETE:
            value = t.values[0] if t.values else math.nan
            if not math.isnan(value):
                evidence.append(t)
                values.append(sign * value)
        elif t.intermediate_values:  # PRUNED: worse than every complete trial.
            evidence.append(t)
            values.append(-math.inf)
    points, ok = encoder.encode_many([t.params for t in evidence])
    pending, ok_pending = encoder.encode_many([t.params for t in running])
    return points[ok], np.array(values, dtype=float)[ok], pending[ok_pending]


def _read_sources(spec: Sequence[Study | SourceStudy] | str | None) -> list[SourceStudy]:
    """Turn the ``source_studies`` argument into source studies (read once)."""
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec == "auto":
            return load_builtin_sources()
        if spec == "none":
            return []
        raise ValueError(
            f"source_studies must be 'auto', 'none', None or a list of studies, got {spec!r}."
        )
    if isinstance(spec, (SourceStudy, optuna.Study)):
        spec = [spec]
    out: list[SourceStudy] = []
    for i, item in enumerate(spec):
        if isinstance(item, SourceStudy):
            out.append(item)
        elif isinstance(item, optuna.Study):
            out.append(SourceStudy.from_study(item))
        else:
            raise ValueError(
                f"source_studies[{i}] is a {type(item).__name__}; pass optuna.Study objects "
                "(e.g. optuna.load_study(...)) or optuna_rl_sampler.SourceStudy records."
            )
    empty = [s.name for s in out if len(s) == 0]
    if empty:
        _logger.warning(
            f"Source studies {empty} have no complete trial with a finite value; they are ignored."
        )
    return [s for s in out if len(s) > 0]
