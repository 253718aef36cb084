"""``RLSampler``: where a proposal comes from, top to bottom.

This is the only module that touches :class:`optuna.study.Study` and its storage. Each
call of :meth:`RLSampler.sample_relative` reads the study from storage and runs:

1. **evidence**: COMPLETE trials (and PRUNED ones, see below) of the current search
   space are encoded to the unit cube; their values become direction-aware normal
   scores; RUNNING trials become pending points;
2. **candidates**: Sobol points, local moves around the incumbents and (when a
   meta-prior is loaded) prior configurations;
3. **features**: a GP fitted to the study scores every candidate, and the features of
   :mod:`optuna_rl_sampler.features` describe it to the policy;
4. **policy**: the pretrained network gives ``pi(a|s) = softmax(scores)`` over the
   candidates; one is drawn with the trial's own random stream and decoded.

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

from optuna_rl_sampler.candidates import SOURCES
from optuna_rl_sampler.candidates import generate_candidates
from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.features import candidate_features
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.policy import load_weights
from optuna_rl_sampler.surrogate import normal_scores
from optuna_rl_sampler.surrogate import select_points

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = ["RLSampler", "REASON_KEY"]

_logger = optuna.logging.get_logger(__name__)

#: Trial system attribute holding the sampler's reasons for a proposal.
REASON_KEY = "rl_sampler:reason"
_N_INCUMBENTS = 5
_ASSUMED_BUDGET = 100


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

    The reasons for each proposal (candidate source, GP mean and standard deviation,
    policy probability, weights name) are stored in the trial's system attribute
    ``"rl_sampler:reason"``.

    Example:

        .. testcode::

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
        if self._warn_independent_sampling and not param_distribution.single():
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
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
        rng = np.random.default_rng([self._seed, trial.number])
        scores = normal_scores(values)
        keep = select_points(scores, self._max_observations, rng)
        points, scores = points[keep], scores[keep]

        incumbents = points[np.argsort(-scores, kind="stable")[:_N_INCUMBENTS]]
        cands = generate_candidates(
            self._n_candidates,
            encoder.n_params,
            rng,
            incumbents=incumbents,
            is_categorical=encoder.is_categorical,
        )
        cand_points = encoder.snap(cands.points)
        state = candidate_features(
            encoder.embed(cand_points),
            cands.source,
            encoder.embed(points),
            scores,
            pending=encoder.embed(pending) if len(pending) else None,
            progress=len(values) / self._budget,
            n_params=encoder.n_params,
        )
        probs = self._weights.probabilities(state.features)
        if self._greedy:
            choice = int(np.argmax(probs))
        else:
            choice = int(rng.choice(len(probs), p=probs))
        params = encoder.decode(cand_points[choice])
        reason = {
            "source": SOURCES[int(cands.source[choice])],
            "gp_mean": round(float(state.mean[choice]), 4),
            "gp_std": round(float(state.std[choice]), 4),
            "probability": round(float(probs[choice]), 4),
            "probability_rank": int((probs > probs[choice]).sum()) + 1,
            "n_candidates": len(probs),
            "n_observed": int(len(values)),
            "n_pending": int(len(pending)),
            "weights": self._weights.name,
        }
        study._storage.set_trial_system_attr(trial._trial_id, REASON_KEY, reason)
        return params


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
