"""``RLSampler``: where a proposal comes from, top to bottom.

This is the only module that touches :class:`optuna.study.Study` and its storage,
directly or through the two modules that read trials for it
(:mod:`~optuna_rl_sampler.evidence` and :mod:`~optuna_rl_sampler.fallbacks`). Each call
of :meth:`RLSampler.sample_relative` reads the study from storage and runs:

1. **evidence** (:mod:`~optuna_rl_sampler.evidence`): COMPLETE trials (and PRUNED ones,
   see below) of the current search space are encoded to the unit cube; their values
   become direction-aware normal scores; RUNNING trials become pending points;
2. **proposal**: :func:`optuna_rl_sampler.proposal.propose`, the one proposal step
   shared with meta-training: a GP on the study, the meta-prior of the source studies
   (weighted by how well they rank this study's trials), candidates (Sobol, local
   moves, prior configurations), their features, and ``pi(a|s) = softmax(scores)``;
   one candidate is drawn with the trial's own random stream;
3. **reasons**: the choice is decoded and its reasons written to the trial.

If a proposal fails (a bug, a numerical fault), the trial's parameters are sampled
independently instead, and the failure is logged with its cause and recorded in the
trial's reasons (``{"source": "fallback", "error": ..., "consecutive_fallbacks": k}``).
``k`` is counted from the reasons of the previous trials in the storage
(:mod:`~optuna_rl_sampler.fallbacks`); past ``max_consecutive_fallbacks`` the sampler
raises instead of quietly turning the study into random search.

Nothing but the loaded weights (and caches of constructor arguments) lives on the
sampler object, so any number of processes sharing one storage propose correctly: the
trial's random streams derive from ``(seed, trial number)``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers._base import _process_constraints_after_trial
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rl_sampler.arguments import check_bool
from optuna_rl_sampler.arguments import check_constraints_func
from optuna_rl_sampler.arguments import check_int
from optuna_rl_sampler.arguments import check_meta_model
from optuna_rl_sampler.arguments import check_sampler
from optuna_rl_sampler.blas import one_blas_thread
from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.encoding import fit_value
from optuna_rl_sampler.evidence import EVIDENCE_STATES
from optuna_rl_sampler.evidence import EvidenceCache
from optuna_rl_sampler.evidence import WholeTrials
from optuna_rl_sampler.evidence import better_half
from optuna_rl_sampler.evidence import read_evidence
from optuna_rl_sampler.evidence import scalarise
from optuna_rl_sampler.evidence import source_led
from optuna_rl_sampler.evidence import sources_beaten
from optuna_rl_sampler.fallbacks import fallback_reason
from optuna_rl_sampler.fallbacks import fell_back
from optuna_rl_sampler.fallbacks import refusal_cause
from optuna_rl_sampler.fallbacks import refused_by_optuna
from optuna_rl_sampler.fallbacks import sample_uniform
from optuna_rl_sampler.fallbacks import waits_for_startup
from optuna_rl_sampler.fallbacks import was_refused
from optuna_rl_sampler.meta_prior import MIN_MATCHED_SHARE
from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.meta_prior import startup_ranking
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.policy import load_policies
from optuna_rl_sampler.proposal import POLICY_TEMPERATURE
from optuna_rl_sampler.proposal import SHARPEN_FROM
from optuna_rl_sampler.proposal import propose
from optuna_rl_sampler.reasons import DASHBOARD_KEY
from optuna_rl_sampler.reasons import REASON_KEY
from optuna_rl_sampler.reasons import SOURCES_KEY
from optuna_rl_sampler.reasons import summarise_reason
from optuna_rl_sampler.reasons import summarise_sources
from optuna_rl_sampler.reasons import taken_branch
from optuna_rl_sampler.search_space import CurrentSearchSpace
from optuna_rl_sampler.sources import RECSYS_RECORD_KEY
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.sources import describe_source_studies
from optuna_rl_sampler.sources import load_builtin_sources
from optuna_rl_sampler.sources import read_source_studies
from optuna_rl_sampler.sources import select_auto_sources

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "DASHBOARD_KEY",
    "REASON_KEY",
    "RLSampler",
    "SOURCES_KEY",
    "summarise_reason",
    "summarise_sources",
]

#: Under Optuna's logger tree ("optuna.optuna_rl_sampler.sampler"), so that
#: ``optuna.logging.set_verbosity`` governs it and Optuna's handler prints it.
_logger = optuna.logging.get_logger(f"optuna.{__name__}")

_ASSUMED_BUDGET = 100
_PRIOR_CACHE_SIZE = 8
#: Studies whose transfer decision this process has logged (bounds the log dedupe).
_MAX_ANNOUNCED = 1024
#: Largest candidate set accepted (memory and time grow linearly with it).
_MAX_CANDIDATES = 65536
#: How the default independent sampling is named in messages.
_DEFAULT_INDEPENDENT = "RLSampler's per-trial uniform random sampling"


def _cube_repeats(
    encoder: SearchSpaceEncoder, repeats: Callable[[dict[str, Any]], bool]
) -> Callable[[np.ndarray], np.ndarray]:
    """``repeats`` (of the parameters a group proposes) on the group's cube points, each
    distinct point decoded once (a group of few choices has many equal candidates)."""

    def on_points(points: np.ndarray) -> np.ndarray:
        known: dict[bytes, bool] = {}
        out = np.zeros(len(points), dtype=bool)
        for i, point in enumerate(points):
            key = point.tobytes()
            if key not in known:
                known[key] = repeats(encoder.decode(point))
            out[i] = known[key]
        return out

    return on_points


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
    parallel workers spread out. The joint proposal covers the parameters every finished
    trial has with compatible distributions, each over its latest range
    (:mod:`optuna_rl_sampler.search_space`: a widened range stays in, and the trials
    whose values still fit stay evidence). In a conditional search space (``if model ==
    "tree": suggest depth``) each group of parameters that appear together is proposed
    from the trials that hold it (``group``); a parameter whose kind or log scale
    changed, or that no finished trial holds yet, is sampled by ``independent_sampler``.

    With source studies (past studies of a related task) a meta-prior
    (:mod:`optuna_rl_sampler.meta_prior`) maps their configurations into the new search
    space by parameter name, scores every candidate by what the sources predict, offers
    their best configurations as candidates, and weights each source by how well it
    ranks the new study's own trials (RGPE's ranking loss), so a misleading source
    loses its say as evidence arrives. The policy sees the prior's score and weight as
    features and was meta-trained on episodes with related, unrelated and misleading
    sources, so it learned how far to trust them.

    Multi-objective studies (``directions=[...]``) are scalarised per trial (ParEGO's
    random augmented Chebyshev weights, each objective scaled by the current Pareto
    front, without the linear term while that front has collapsed onto one end;
    :mod:`optuna_rl_sampler.objectives`), so every proposal aims at another part
    of the front with the same policy; one GP per objective scores the candidates and
    the scalarisation comes after it (:mod:`optuna_rl_sampler.scalarised_gp`).
    Constraints (``constraints_func``, or Optuna's per-trial constraint values) cap an
    infeasible trial's score below the best feasible one, less a penalty that grows with
    its violation; once a trial is feasible, a GP on the violation penalises the
    candidates' posterior samples the same way. Source studies are single-objective and
    are not used in multi-objective studies.

    The reasons for each proposal (candidate source, GP mean and standard deviation,
    policy probability, weights name, and the sources with their weights) are stored in
    the trial's system attribute ``"rl_sampler:reason"``. The sources never offer a
    configuration the study has evaluated or is evaluating; when the policy still picks
    one (a Sobol point or local move on a small grid), the reasons say
    ``"repeat": "evaluated"`` (or ``"pending"``).

    Examples:
        A 20-trial study (a forward pass per trial, no training):

        >>> import math
        >>> import optuna
        >>> from optuna_rl_sampler import RLSampler
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> def objective(trial):
        ...     x = trial.suggest_float("x", -10, 10)
        ...     lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        ...     return (x - 2) ** 2 + (math.log10(lr) + 3) ** 2
        >>> study = optuna.create_study(sampler=RLSampler(seed=0, budget=20))
        >>> study.optimize(objective, n_trials=20)
        >>> study.best_value < 1.0
        True

        Each trial records why it was proposed; without source studies the generic
        policy is used:

        >>> reason = study.trials[-1].system_attrs["rl_sampler:reason"]
        >>> reason["weights"]
        'generic-v1'

    If a proposal fails, the trial's parameters are sampled independently (so a
    transient fault does not stop the study), the cause is logged through Optuna's
    logger with the trial number, and the trial's reasons record it as
    ``{"source": "fallback", "error": "<type>: <message>", "consecutive_fallbacks": k}``.
    ``k`` counts this failure and the failures of the trials just before it, read from
    the storage (so it is the same in every process). When ``k`` exceeds
    ``max_consecutive_fallbacks`` the sampler raises :class:`RuntimeError` instead:
    a persistent fault must not silently turn the study into random search.

    Args:
        seed: Seed for the random streams: a non-negative int, or ``None`` for a fresh
            random seed. Each trial's streams (the policy's draw and the independent
            sampling) derive from the seed and the trial number, so results do not
            depend on which process runs a trial, and workers sharing a storage with
            the same seed never repeat each other's draws. Defaults to ``None``.
        independent_sampler: A :class:`~optuna.samplers.BaseSampler` instance for
            parameters outside the relative search space and for the first
            ``n_startup_trials`` trials (and for a trial whose proposal failed); used as
            is. ``None`` draws uniformly at random
            (respecting ``log``, ``step`` and choices) from a stream derived from
            ``(seed, trial number, parameter name)``, like
            :class:`~optuna.samplers.RandomSampler` but identical in every process.
            Defaults to ``None``.
        n_startup_trials: Number of complete trials before the policy takes over; an
            int of at least 1. Defaults to ``1``.
        warn_independent_sampling: Log a warning when a parameter outside the relative
            search space (a dynamic or conditional parameter) is sampled by the
            independent sampler after the startup trials. Defaults to ``True``.
        n_candidates: Number of candidates the policy chooses among at each trial; an
            int from 2 to 65536. Defaults to ``256``.
        meta_model: Path (``str`` or :class:`~pathlib.Path`) of a ``.safetensors``
            weights file (with its ``.json`` card) written by ``optuna-rl pretrain`` or
            ``optuna-rl finetune``, used for every proposal, except while a study's
            sources are distrusted if its card names weights it was trained to hand off
            to (``finetune`` does, ``generic-v1`` by default). ``None`` uses the weights
            shipped in the package: ``transfer-v2`` (meta-trained with source studies)
            when the study has matching source studies, ``generic-v1`` (meta-trained
            without) otherwise, and also in a study with sources while they hold less
            than three quarters of the weight after the prior-startup phase (the
            sources are distrusted; see ``handoff`` in
            :func:`~optuna_rl_sampler.proposal.propose`). Checked at construction, so
            a bad file fails before any trial runs. Defaults to ``None``.
        budget: Expected number of trials of the study, a positive int; the policy
            explores less as the study approaches it. ``None`` assumes 100. Defaults to
            ``None``.
        greedy: Take the candidate of highest probability instead of drawing from the
            policy. Defaults to ``False``.
        max_observations: Most trials the surrogate conditions on (the best half and a
            random sample of the rest), which bounds the cost per proposal; an int of at
            least 2. Defaults to ``200``.
        source_studies: Past studies to transfer from. ``"auto"`` uses the corpus of
            recommender tuning studies shipped with the package, but only for a study
            that records what it tunes (the study user attribute ``"rl:recsys"``,
            :data:`~optuna_rl_sampler.sources.RECSYS_RECORD_KEY`, which
            :class:`~optuna_rl_sampler.recsys.objective.RecsysObjective` and the recipes
            write) and names a model family of the corpus, and then only that family's
            studies; parameter names alone never turn transfer on, and any other study
            runs without it. A family name of the corpus (``"lightgbm-ranker"`` or
            ``"two-tower"``, see :func:`~optuna_rl_sampler.sources.builtin_families`)
            opts in explicitly: that family's shipped studies, for your own objective. A
            list of :class:`optuna.study.Study` (from any storage; read once, here) or
            :class:`~optuna_rl_sampler.sources.SourceStudy` records transfers from
            those. Explicit sources (a list or a family name) also seed the first trials
            with their best configurations. ``None`` or ``"none"`` turns transfer off.
            Which sources a study uses, and why, is logged once per study (INFO).
            Defaults to ``"auto"``.
        prior_startup_trials: In the first this-many trials of a study with matching
            sources, the policy chooses among the sources' best configurations only
            (the prior candidates), for as long as the sources keep at least half of
            the weight; the weights come from how well each source ranks the study's
            own trials, so sources that the first trials contradict end this phase at
            once (its remaining trials then probe far from the trials so far). Such
            trials are marked ``"phase": "prior-startup"`` in their reasons. One
            trial of the phase is a probe far from the trials so far, which tests the
            sources (``"phase": "prior-probe"``, see
            :func:`~optuna_rl_sampler.proposal.propose`): the third with two or more
            sources, and with a single source (last month's study) the trial right
            after its best configuration (the second, or the third after an enqueued
            default).
            An int of at least 0; 0 lets the policy choose freely from the second trial.
            Defaults to ``5``.
        constraints_func: A function of a finished trial (COMPLETE or PRUNED) that
            returns a sequence of floats; the trial is feasible when every value is
            ``<= 0``. The values are stored in the trial's system attributes the way
            Optuna's samplers store them (so ``study.best_trial`` and the dashboard see
            them). An infeasible trial scores at most as well as the best feasible one,
            less a penalty that grows with its total violation
            (:func:`~optuna_rl_sampler.objectives.apply_constraints`). Trials whose
            constraint values were set otherwise (Optuna's per-trial constraints) are
            read the same way. Defaults to ``None``.
        max_consecutive_fallbacks: Most consecutive trials whose proposal may fail and
            fall back to independent sampling before the sampler raises
            :class:`RuntimeError`; an int of at least 0, or ``None`` to never raise
            (every fallback is still logged and recorded). Defaults to ``3``.
        dashboard_reasons: Also store a short summary of each trial's reasons in the
            user attribute ``"rl:reason"`` (and, with source studies, their weights in
            ``"rl:sources"``), which optuna-dashboard shows with the trial (system
            attributes it does not show). ``False`` keeps the user attributes free for
            your own. Defaults to ``True``.
        group: In a conditional search space, propose every group of parameters that
            appear together in the finished trials (the groups of Optuna's
            ``TPESampler(group=True)``: ``{model}``, ``{alpha}``, ``{depth, lr}``, ...)
            from the trials that hold it, one proposal per group, and a group of
            categorical parameters only (a choice of model family) from the better half
            of them (reason ``"choice_evidence"``); the trial's reason is that of its
            largest group, with every group's under ``"groups"``, and once the
            objective has chosen its branch the dashboard line gives the reason of
            the largest group the trial holds (:func:`~.reasons.taken_branch`). With source
            studies each group is proposed from the past trials that hold it too (a
            source must hold every parameter of the group), until
            a trial the sources did not choose beats every trial they chose (reason
            ``"sources_beaten"``; :func:`~optuna_rl_sampler.evidence.sources_beaten`).
            ``False`` proposes only the
            parameters every finished trial holds and samples the others with
            ``independent_sampler``. A study whose trials all hold the same parameters
            is proposed the same way either way. Defaults to ``True``.

    Raises:
        TypeError: an argument has the wrong type (e.g. ``n_candidates=2.5``,
            ``seed=[1, 2]``, ``independent_sampler="random"``); the message names the
            argument, the value given and what to pass instead.
        ValueError: an argument is out of range (e.g. ``seed=-1``, ``budget=0``); the
            message names the argument and value.
        optuna_rl_sampler.policy.WeightsError: ``meta_model`` is missing, unreadable,
            holds non-finite values or does not match its card (a subclass of
            ``ValueError``).
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
        prior_startup_trials: int = 5,
        constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
        max_consecutive_fallbacks: int | None = 3,
        dashboard_reasons: bool = True,
        group: bool = True,
    ) -> None:
        check_constraints_func(constraints_func)
        if seed is not None:
            seed = check_int("seed", seed, 0, hint="a non-negative int, or None")
        check_sampler(independent_sampler)
        n_startup_trials = check_int(
            "n_startup_trials",
            n_startup_trials,
            1,
            hint="an int of at least 1 (the search space is known only after a complete trial)",
        )
        n_candidates = check_int(
            "n_candidates", n_candidates, 2, _MAX_CANDIDATES, hint="an int such as 256"
        )
        if budget is not None:
            budget = check_int(
                "budget", budget, 1, hint="a positive int (expected trials), or None"
            )
        max_observations = check_int(
            "max_observations", max_observations, 2, hint="an int such as 200"
        )
        if max_consecutive_fallbacks is not None:
            max_consecutive_fallbacks = check_int(
                "max_consecutive_fallbacks",
                max_consecutive_fallbacks,
                0,
                hint="an int of at least 0, or None to never raise",
            )
        prior_startup_trials = check_int(
            "prior_startup_trials", prior_startup_trials, 0, hint="an int such as 5, or 0"
        )
        greedy = check_bool("greedy", greedy)
        dashboard_reasons = check_bool("dashboard_reasons", dashboard_reasons)
        self._group = check_bool("group", group)
        warn_independent_sampling = check_bool(
            "warn_independent_sampling", warn_independent_sampling
        )
        check_meta_model(meta_model)
        self._seed = int(np.random.SeedSequence(seed).entropy % (2**63))
        self._independent_sampler = independent_sampler
        self._n_startup_trials = n_startup_trials
        self._warn_independent_sampling = warn_independent_sampling
        self._n_candidates = n_candidates
        self._budget = budget or _ASSUMED_BUDGET
        self._greedy = greedy
        self._max_observations = max_observations
        self._max_consecutive_fallbacks = max_consecutive_fallbacks
        self._prior_startup_trials = prior_startup_trials
        self._constraints_func = constraints_func
        self._dashboard_reasons = dashboard_reasons
        # Which trials already hold a reason written by this process (saves rewriting
        # the first trial's reason once per parameter); never read for a decision.
        self._recorded: dict[int, str] = {}
        # What earlier proposals read from finished trials (they never change).
        self._evidence = EvidenceCache()
        # The shipped default is a pair (transfer weights for studies with matching
        # sources, generic ones for the others); the weights' card may name others that
        # choose while the sources are distrusted (config.handoff: generic-v1 shipped).
        self._weights, self._generic_weights, self._handoff_weights = load_policies(meta_model)
        self._search_space = CurrentSearchSpace()
        self._hold_sources(source_studies)
        self._prior_cache: dict[tuple, MetaPrior] = {}
        self._rankings: dict[str, list[tuple[int, int]]] = {}
        # Studies whose transfer decision this process has logged, with that line: the
        # log is once per study, never an input to a decision.
        self._announced: dict[tuple, str] = {}

    def _hold_sources(self, source_studies: Sequence[Study | SourceStudy] | str | None) -> None:
        """Hold what ``source_studies`` names (studies are read once, here).

        ``"auto"``: the shipped bank, of which each study uses the family its record
        names (read from the storage at every proposal); otherwise the sources
        themselves, those without a usable trial left out with a warning.
        """
        self._auto = isinstance(source_studies, str) and source_studies == "auto"
        self._sources: list[SourceStudy] = []
        if not self._auto:
            self._sources, empty = read_source_studies(source_studies)
            if empty:
                _logger.warning(
                    f"Source studies {empty} have no complete trial with a finite value; "
                    "they are ignored."
                )
        self._sources_origin = describe_source_studies(source_studies, len(self._sources))

    @property
    def weights(self) -> PolicyWeights:
        """The policy weights (and card) used for studies with source studies; without
        sources the shipped default uses ``generic-v1`` instead (see ``meta_model``);
        :meth:`weights_for` says which weights propose for a given study."""
        return self._weights

    def weights_for(self, study: Study) -> PolicyWeights:
        """The weights that propose the next trial of ``study``: :attr:`weights` when
        sources match the study's current search space, the weights trained without
        sources (``generic-v1`` for the shipped default) otherwise.

        A trial whose sources are distrusted is proposed by the hand-off weights instead
        (its reason says ``"handoff": true`` and names them in ``"weights"``); that is
        decided per trial, from the trials so far, and is not predicted here.

        Examples:
            >>> import optuna
            >>> from optuna_rl_sampler import RLSampler
            >>> optuna.logging.set_verbosity(optuna.logging.ERROR)
            >>> sampler = RLSampler(seed=0)
            >>> study = optuna.create_study(sampler=sampler)
            >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
            >>> sampler.weights.name, sampler.weights_for(study).name
            ('transfer-v2', 'generic-v1')
        """
        space = self._search_space.calculate(study)
        space = {name: dist for name, dist in space.items() if not dist.single()}
        prior = self._meta_prior(study, space) if space else None
        return self._weights if prior is not None else self._generic_weights

    def reseed_rng(self) -> None:
        """Draw a fresh base seed (Optuna calls this in each worker of ``n_jobs > 1``)."""
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        if self._independent_sampler is not None:
            self._independent_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        # One read of the study's new trials serves both the groups and the intersection.
        self._search_space.calculate(study)
        groups = self._groups()
        if len(groups) > 1:  # a conditional search space: every group is proposed
            return {name: dist for group in groups for name, dist in group.items()}
        return {
            name: dist
            for name, dist in self._search_space.last_space().items()
            if not dist.single()
        }

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            self._record_independent(study, trial)
            return {}
        try:
            # Small dense algebra: one BLAS thread is faster and immune to oversubscription.
            with one_blas_thread():
                # The groups as the search space's inference for this trial left them.
                groups = [
                    {name: search_space[name] for name in group if name in search_space}
                    for group in self._groups()
                ]
                groups = [group for group in groups if group]
                if len(groups) > 1:
                    return self._propose_groups(study, trial, groups)
                return self._propose(study, trial, search_space)
        except Exception as err:  # noqa: BLE001 - a transient fault must not end the study
            self._fall_back(study, trial, err)
            return {}

    def _groups(self) -> list[dict[str, BaseDistribution]]:
        """The study's parameter groups as of the last reading of its trials (see
        :meth:`CurrentSearchSpace.groups`) that have a parameter with more than one
        value; none with ``group=False``."""
        if not self._group:
            return []
        groups = []
        for group in self._search_space.last_groups():
            group = {name: dist for name, dist in group.items() if not dist.single()}
            if group:
                groups.append(group)
        return groups

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete and not param_distribution.single():
            startup = self._startup_value(study, trial, param_name, param_distribution)
            if startup is not None:
                value, source_name = startup
                if self._recorded.get(trial._trial_id) != "prior-startup":
                    self._record(
                        study,
                        trial,
                        {
                            "source": "prior-startup",
                            "from": source_name,
                            "weights": self._weights.name,
                        },
                    )
                return value
        if (
            self._warn_independent_sampling
            and not param_distribution.single()
            and len(complete) >= self._n_startup_trials
            and not fell_back(trial)
            and not was_refused(trial, param_name)
            and not waits_for_startup(trial, param_name)
        ):
            # A parameter of a trial whose proposal failed was logged with the cause by
            # _fall_back, one whose proposed value Optuna refused by _propose; this
            # warning is for parameters outside the relative space.
            _logger.warning(
                f"The parameter {param_name!r} in trial#{trial.number} is sampled "
                f"independently by {self._independent_name} instead of RLSampler, because "
                "it is not in every trial so far (a dynamic or conditional parameter) or "
                "its distribution changed. Pass warn_independent_sampling=False to "
                "silence this."
            )
        if self._independent_sampler is not None:
            return self._independent_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        return sample_uniform(self._seed, trial.number, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:
            # An enqueued trial: the parameters it fixes are never sampled (those it
            # leaves open are, and their proposal's reason replaces this one).
            self._record(study, trial, {"source": "enqueued"})
        if self._independent_sampler is not None:
            self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        if self._constraints_func is not None:
            _process_constraints_after_trial(self._constraints_func, study, trial, state)
        if self._independent_sampler is not None:
            self._independent_sampler.after_trial(study, trial, state, values)
        if self._dashboard_reasons:
            # A conditional trial's line was written before the objective chose its
            # branch: it now gives the reason of the branch the trial took.
            reason = trial.system_attrs.get(REASON_KEY)
            if isinstance(reason, dict) and isinstance(reason.get("groups"), list):
                taken = taken_branch(reason, trial.params)
                if taken is None:  # every parameter it holds was sampled independently
                    taken = {"source": "startup", "sampler": self._independent_name}
                study._storage.set_trial_user_attr(
                    trial._trial_id, DASHBOARD_KEY, summarise_reason(taken)
                )

    @property
    def _independent_name(self) -> str:
        if self._independent_sampler is None:
            return _DEFAULT_INDEPENDENT
        return type(self._independent_sampler).__name__

    # -- failures -------------------------------------------------------------------

    def _fall_back(self, study: Study, trial: FrozenTrial, err: Exception) -> None:
        """Record and log a failed proposal; raise once too many failed in a row.

        The count of consecutive failures is read from the reasons of the previous trials
        in the storage, never kept on the sampler, so it is right in every process.
        """
        reason = fallback_reason(study, trial, err)
        error, consecutive = reason["error"], reason["consecutive_fallbacks"]
        self._record(study, trial, reason)
        limit = self._max_consecutive_fallbacks
        if limit is not None and consecutive > limit:
            raise RuntimeError(
                f"RLSampler could not propose trial {trial.number}: {consecutive} "
                f"consecutive failed proposals, more than max_consecutive_fallbacks={limit}. "
                f"Last cause: {error}. Rather than silently turning the study into random "
                "search, the sampler stops here. Fix the cause (see the traceback above and "
                "the trials' system attribute 'rl_sampler:reason'), or pass "
                "RLSampler(..., max_consecutive_fallbacks=None) to keep sampling the "
                f"failing trials with {self._independent_name}."
            ) from err
        bound = "no limit" if limit is None else f"at most {limit}"
        _logger.warning(
            f"RLSampler could not propose trial {trial.number} ({error}); its parameters "
            f"are sampled by {self._independent_name} instead. Consecutive fallbacks: "
            f"{consecutive} ({bound}; see max_consecutive_fallbacks)."
        )
        _logger.debug(f"Traceback of the failed proposal of trial {trial.number}:", exc_info=err)

    # -- the proposal ---------------------------------------------------------------

    def _propose(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        proposed = self._propose_space(study, trial, search_space)
        if proposed is None:
            self._record_independent(study, trial)
            return {}
        params, reason = proposed
        self._record(study, trial, reason)
        return params

    def _propose_groups(
        self, study: Study, trial: FrozenTrial, groups: list[dict[str, BaseDistribution]]
    ) -> dict[str, Any]:
        """One proposal per parameter group of a conditional search space, each from the
        trials that hold the group (a group held by fewer than ``n_startup_trials`` is
        left to the independent sampler). The trial's reason is that of the largest
        group proposed, with every group's reason under ``"groups"``.

        With source studies, each group is also proposed from the source trials that
        hold all its parameters (a branch's parameters from the past trials of that
        branch, the choice of branch from every past trial), while no trial the sources
        did not lead beats every trial they led (:func:`sources_beaten`): a branch that
        few trials hold has too little evidence to distrust the sources by itself, so the
        study's own values decide for every group, as the probe does in a study without
        groups.
        """
        trials = study.get_trials(deepcopy=False, states=EVIDENCE_STATES)  # one read
        selected = self._select_sources(study)  # one read of the study's record
        beaten = sources_beaten(trials, study.direction) if selected[0] else None
        unled = None
        if beaten is not None:
            # Logged once (the reasons give the values, which change as the study goes).
            why = (
                "a conditional search space, in which a trial the source studies did not "
                "choose beat every trial they chose: sources set aside"
            )
            selected = ([], selected[1], why)
            # The trials the sources chose are no fair sample of their branch: left out
            # of the choice of branch, so that a misleading source's favourite does not
            # hold the study away from the branch it tried badly.
            unled = [t for t in trials if t.state == TrialState.RUNNING or not source_led(t)]

        def propose_group(
            index: int, repeats: Callable[[dict[str, Any]], bool] | None = None
        ) -> tuple[dict[str, Any], dict[str, Any]] | None:
            return self._propose_space(
                study,
                trial,
                groups[index],
                stream=(2 + index,),
                selected=selected,
                trials=trials,
                choice_trials=unled,
                repeats=repeats,
            )

        params: dict[str, Any] = {}
        parts: list[dict[str, Any]] = []
        for index, group in enumerate(groups):
            proposed = propose_group(index)
            if proposed is None:
                parts.append({"params": sorted(group), "source": "startup"})
                continue
            params.update(proposed[0])
            parts.append({"params": sorted(group), **proposed[1]})
        held = {
            i: sum(1 for t in trials if set(g) <= t.params.keys()) for i, g in enumerate(groups)
        }
        whole = WholeTrials(trials, trial.number)
        repeated = whole.repeated(params)
        if repeated is not None:
            # Each group avoided its own values where it could, but together they
            # repeat a whole trial (a small branch, or a choice whose every option is
            # tried, completes it). The groups that trial holds are proposed again, the
            # deepest first (held by the fewest trials), each avoiding the values that
            # would complete a repeat with the others', until none is.
            for index in sorted(held, key=lambda i: (held[i], i)):
                group = groups[index]
                if parts[index]["source"] == "startup" or not set(group) & repeated.params.keys():
                    continue
                others = {n: v for n, v in params.items() if n not in group}
                proposed = propose_group(
                    index,
                    lambda values, others=others: whole.repeated({**others, **values}) is not None,
                )
                if proposed is None:
                    continue
                params.update(proposed[0])
                parts[index] = {"params": sorted(group), **proposed[1]}
                repeated = whole.repeated(params)
                if repeated is None:
                    break
        for index, part in enumerate(parts):
            part["held_by"] = held[index]  # trials that hold the group (see taken_branch)
        done = [part for part in parts if part["source"] != "startup"]
        if not done:
            self._record_independent(study, trial)
            return {}
        main = max(done, key=lambda part: len(part["params"]))
        reason = {key: value for key, value in main.items() if key != "params"}
        reason["groups"] = parts
        waiting = sorted(
            name for part in parts if part["source"] == "startup" for name in part["params"]
        )
        if waiting:
            reason["startup_params"] = waiting
        refused = sorted({n for part in parts for n in part.get("refused_by_optuna", ())})
        reason.pop("refused_by_optuna", None)
        if refused:
            reason["refused_by_optuna"] = refused
        if beaten is not None:
            reason["sources_beaten"] = beaten
        # Said of the whole trial, as in a study without groups: the groups' own
        # "repeat" says only that the group's values were tried before.
        reason.pop("repeat", None)
        reason.pop("avoided_repeat", None)
        if repeated is not None:
            reason["repeat"] = "evaluated"
            reason["repeat_of"] = repeated.number
        elif any(part.get("avoided_repeat") for part in parts):
            reason["avoided_repeat"] = True
        self._record(study, trial, reason)
        return params

    def _propose_space(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
        stream: tuple[int, ...] = (),
        selected: tuple[list[SourceStudy], str, str] | None = None,
        trials: Sequence[FrozenTrial] | None = None,
        choice_trials: Sequence[FrozenTrial] | None = None,
        repeats: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The proposed parameters of ``search_space`` and their reason, from the trials
        that hold it; ``None`` while fewer than ``n_startup_trials`` do. ``stream``
        extends the trial's random streams (one per group of a conditional space);
        ``selected``, the study's sources as :meth:`_select_sources` gives them, when the
        caller has just chosen them; ``trials``, the study's trials just read (see
        :func:`read_evidence`), and ``choice_trials`` those a choice of branch reads;
        ``repeats``, whether the parameters proposed would repeat a trial the study has
        (else: whether they equal those of a trial that holds ``search_space``)."""
        encoder = SearchSpaceEncoder(search_space)
        choice = bool(stream) and bool(encoder.is_categorical.all())
        if choice and choice_trials is not None:
            trials = choice_trials
        points, objective_values, violations, pending, unplaced = read_evidence(
            study, trial, encoder, self._evidence, trials
        )
        if len(objective_values) < self._n_startup_trials:
            return None
        choice_reason: dict[str, Any] = {}
        if choice:
            points, objective_values, violations, choice_reason = better_half(
                points, objective_values, violations
            )
        values, objective_reason, scalarisation = scalarise(
            objective_values,
            violations,
            np.random.default_rng([self._seed, trial.number, 1, *stream]),
        )
        # Several objectives or constraints: one GP per objective, and one on the
        # violation with constraints, score the candidates (see propose).
        constrained = "constraints" in objective_reason
        objectives = None
        if objective_values.shape[1] > 1 or constrained:
            objectives = (
                objective_values,
                # None: two objectives scored by their hypervolume utility.
                scalarisation if objective_values.shape[1] > 1 else np.ones(1),
                violations if constrained else None,
            )
        prior = self._meta_prior(study, search_space, bool(stream), selected)
        proposal = propose(
            encoder,
            points,
            values,
            pending,
            weights=self._weights if prior is not None else self._generic_weights,
            rng=np.random.default_rng([self._seed, trial.number, *stream]),
            progress=len(values) / self._budget,
            n_candidates=self._n_candidates,
            max_observations=self._max_observations,
            prior=prior,
            greedy=self._greedy,
            prior_startup=self._prior_startup_trials,
            handoff=self._handoff_weights if prior is not None else None,
            # A scalarised or penalised score: no steps up its GP mean (see propose).
            gradient_moves=objective_values.shape[1] == 1 and not constrained,
            objectives=objectives,
            repeats=None if repeats is None else _cube_repeats(encoder, repeats),
            # Sharper with one objective and no constraints (see propose), unless every
            # parameter is a choice (of a model, say).
            temperature=POLICY_TEMPERATURE
            if objectives is None
            and not encoder.is_categorical.all()
            and len(values) >= SHARPEN_FROM
            else 1.0,
            unplaced=unplaced,
        )
        reason = {**proposal.reason, **objective_reason}
        params = encoder.decode(proposal.point)
        refused = {n: v for n, v in params.items() if refused_by_optuna(search_space[n], v)}
        if refused:
            # Optuna drops these and asks sample_independent; say why here, not there.
            reason["refused_by_optuna"] = sorted(refused)
            for name, value in refused.items():
                _logger.warning(
                    f"RLSampler proposed {value!r} for the parameter {name!r} in "
                    f"trial#{trial.number}, but Optuna does not take it as a value of "
                    f"{search_space[name]!r}: {refusal_cause(search_space[name], value)}. "
                    f"Optuna samples it independently with {self._independent_name} instead."
                )
        return params, {**reason, **choice_reason}

    # -- reasons --------------------------------------------------------------------

    def _record(self, study: Study, trial: FrozenTrial, reason: dict[str, Any]) -> None:
        """Store ``reason`` in the trial's system attrs and, unless turned off, its
        one-line summary in the user attr ``rl:reason`` (shown by optuna-dashboard)."""
        study._storage.set_trial_system_attr(trial._trial_id, REASON_KEY, reason)
        if self._dashboard_reasons:
            study._storage.set_trial_user_attr(
                trial._trial_id, DASHBOARD_KEY, summarise_reason(reason)
            )
            sources = summarise_sources(reason)
            if sources is not None:
                study._storage.set_trial_user_attr(trial._trial_id, SOURCES_KEY, sources)
        if len(self._recorded) > 1024:
            self._recorded.clear()
        self._recorded[trial._trial_id] = str(reason.get("source"))

    def _record_independent(self, study: Study, trial: FrozenTrial) -> None:
        """Reason of a trial sampled by the independent sampler: ``startup`` before the
        policy takes over, ``independent`` when no parameter is in every trial so far."""
        n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        source = "startup" if n_complete < self._n_startup_trials else "independent"
        self._record(study, trial, {"source": source, "sampler": self._independent_name})

    # -- transfer -------------------------------------------------------------------

    @property
    def source_studies(self) -> list[SourceStudy]:
        """The past studies this sampler may transfer from: those given as
        ``source_studies`` (a family name: that family's shipped studies); with
        ``"auto"``, the whole shipped corpus, of which a study uses only the family its
        record names (:meth:`sources_for`); empty without transfer."""
        return load_builtin_sources() if self._auto else list(self._sources)

    def sources_for(self, study: Study) -> list[SourceStudy]:
        """The past studies a proposal in ``study`` transfers from (before matching them
        to its search space); the reason is logged once per study.

        With ``source_studies="auto"`` it is read from the study's record (see
        :func:`~optuna_rl_sampler.sources.select_auto_sources`), so every process
        sharing the storage decides alike. A multi-objective study uses none.
        """
        return list(self._select_sources(study)[0])

    def _select_sources(self, study: Study) -> tuple[list[SourceStudy], str, str]:
        """``(sources, key, why)``: the sources for ``study``, a key naming that choice
        (for the cache of meta-priors) and a sentence saying why.

        A pure function of the constructor's arguments and what the study stores.
        """
        if study._is_multi_objective():
            return [], "", "a multi-objective study: no transfer (sources are single-objective)"
        if not self._auto:
            return self._sources, "explicit", self._sources_origin
        record = study.user_attrs.get(RECSYS_RECORD_KEY)
        directions = [d.name.lower() for d in study.directions]
        sources, why = select_auto_sources(record, directions)
        family = str(record.get("model")) if sources and isinstance(record, dict) else ""
        return sources, f"auto:{family}", why

    def _meta_prior(
        self,
        study: Study,
        search_space: dict[str, BaseDistribution],
        grouped: bool = False,
        selected: tuple[list[SourceStudy], str, str] | None = None,
    ) -> MetaPrior | None:
        """The sources chosen for ``study`` matched to ``search_space``, built once per
        choice and search space (``grouped``: a group of a conditional search space,
        logged apart from the others; ``selected``: the sources already chosen, see
        :meth:`_select_sources`).

        The cache holds only a function of the constructor's sources, the study's
        record and the search space, so it is correct in every process.
        """
        sources, choice, why = selected if selected is not None else self._select_sources(study)
        if not sources:
            self._announce(study, why)
            return None
        prior = self._matched_prior(sources, choice, search_space, whole=grouped)
        scope = tuple(sorted(search_space)) if grouped else ()
        where = f"the parameters {', '.join(scope)}" if grouped else "this search space"
        matched = f"; {len(prior)} of them match {where}"
        if 0 < len(prior) <= 3:
            matched += f" ({', '.join(prior.names)})"
        self._announce(study, why + matched, scope)
        return prior if len(prior) else None

    def _matched_prior(
        self,
        sources: list[SourceStudy],
        choice: str,
        search_space: dict[str, BaseDistribution],
        whole: bool = False,
    ) -> MetaPrior:
        """``MetaPrior(sources, search_space)``, cached by ``choice`` (which names
        ``sources``), the search space and ``whole``: a source matches only if it holds
        every parameter of the space (a group of a conditional space: a past study of
        another problem that shares a name or two with one branch would pull the study
        into that branch), not a quarter of them."""
        key = (choice, tuple(sorted((k, repr(v)) for k, v in search_space.items())), whole)
        prior = self._prior_cache.get(key)
        if prior is None:
            share = 1.0 if whole else MIN_MATCHED_SHARE
            prior = MetaPrior(sources, search_space, min_share=share)
            if len(self._prior_cache) >= _PRIOR_CACHE_SIZE:
                self._prior_cache.pop(next(iter(self._prior_cache)))
            self._prior_cache[key] = prior
        return prior

    def _announce(self, study: Study, line: str, scope: tuple[str, ...] = ()) -> None:
        """Log which sources ``study`` uses and why: once per study, ``scope`` (the
        parameters of a group of a conditional search space) and process (again only if
        the decision changes, e.g. a record written after the first trials)."""
        key = (id(study._storage), study._study_id, study.study_name, scope)
        if self._announced.get(key) == line:
            return
        if len(self._announced) >= _MAX_ANNOUNCED:
            self._announced.clear()
        self._announced[key] = line
        _logger.info(f"RLSampler transfer for study {study.study_name!r}: {line}.")

    def _startup_value(
        self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution
    ) -> tuple[Any, str] | None:
        """Value of ``name`` in a past configuration for a startup trial.

        Startup trial ``k`` takes the ``k``-th configuration of
        :meth:`_startup_ranking` (the sources that share a search space with ``name``)
        whose value of ``name`` fits ``dist`` in kind and range
        (:func:`~optuna_rl_sampler.encoding.fit_value`: a source's ``False`` is never
        an int parameter's value), as ``dist`` holds it (a categorical choice of
        ``dist`` itself). Built-in sources are not used here: before
        the first trial completes the study's search space is unknown, so whether they
        fit is too.
        """
        if self._auto or not self._sources or study._is_multi_objective():
            return None
        ranked = self._startup_ranking(name)
        if not ranked:
            return None
        start = trial.number % len(ranked)
        for k in range(len(ranked)):
            src, row = ranked[(start + k) % len(ranked)]
            params = self._sources[src].params[row]
            if name in params:
                try:
                    return fit_value(dist, params[name]), self._sources[src].name
                except ValueError:
                    continue
        return None

    def _startup_ranking(self, name: str) -> list[tuple[int, int]]:
        """``(source, row)`` pairs for the startup trials, best first
        (:func:`~optuna_rl_sampler.meta_prior.startup_ranking`), once per parameter."""
        if name not in self._rankings:
            self._rankings[name] = startup_ranking(
                self._sources,
                name,
                lambda space: self._matched_prior(self._sources, "explicit", space),
            )
        return self._rankings[name]
