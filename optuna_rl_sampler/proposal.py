"""One proposal step: from the evidence of a study to the next configuration.

This is the single place where a proposal is made. :class:`~optuna_rl_sampler.RLSampler`
calls :func:`propose` with what it read from the storage, and meta-training
(:mod:`optuna_rl_sampler.training.rollout`) calls it with what a simulated study has
seen, so the policy is trained on exactly the states it meets at run time: pending
points of parallel workers and pruned trials included.

The step, top to bottom:

1. the values become normal scores (pruned trials, given ``-inf``, rank last) and at
   most ``max_observations`` of them are kept (:func:`~.surrogate.select_points`);
2. a GP is fitted to them and conditioned on the pending points;
3. the meta-prior (when there are source studies) weights its sources by how well they
   rank the study's trials, then offers prior candidates (never a configuration the
   study has evaluated or is evaluating) and a score per candidate;
4. candidates are drawn (Sobol, local moves around the incumbents and steps up the GP
   mean from the best of them, prior) and snapped;
5. the features of every candidate are computed and the policy scores them;
6. one candidate is drawn from ``pi(a|s)`` (or the most probable one, if greedy); a
   draw that repeats a configuration the study has (evaluated or running) is drawn
   again among the candidates that do not, while there are any; in the first
   ``prior_startup`` trials, while the sources keep their weight, the draw is
   restricted to the prior candidates, except for one probe away from them (the third
   trial with two or more sources, the trial after its best configuration with one)
   that tests whether the sources hold; once the first trials contradict the sources,
   the rest of the phase probes, and after it a policy trained without sources
   (``handoff``) chooses while the sources hold little weight. Distrusted sources
   contribute nothing then (no candidates, no scores): the study goes on as one without
   sources would, until its trials make the sources credible again;
7. while other trials run whose parameters are not known yet (``unplaced``: another
   worker is proposing them from the same trials), a chosen candidate that the trials
   alone determine (a source's configuration, a move uphill) is moved by a small
   Gaussian step from the trial's own stream, so that concurrent workers do not
   evaluate one point twice.

Pure numerics: no Study, no storage. Randomness comes only from ``rng``.

SHAPES (n observed, p pending, P parameters, N candidates, F features):
    points:  (n, P) cube points; values: (n,) higher is better, -inf for pruned
    pending: (p, P) cube points
    features: (N, F); probs: (N,)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from optuna_rl_sampler.candidates import SOURCES
from optuna_rl_sampler.candidates import generate_candidates
from optuna_rl_sampler.candidates import gradient_steps
from optuna_rl_sampler.candidates import mean_ascent
from optuna_rl_sampler.candidates import quadratic_step
from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.features import candidate_features
from optuna_rl_sampler.meta_prior import MetaPrior
from optuna_rl_sampler.meta_prior import PriorWeights
from optuna_rl_sampler.meta_prior import same_points
from optuna_rl_sampler.policy import PolicyWeights
from optuna_rl_sampler.scalarised_gp import ScalarisedPosterior
from optuna_rl_sampler.surrogate import GPPosterior
from optuna_rl_sampler.surrogate import condition_on_pending
from optuna_rl_sampler.surrogate import fit_gp
from optuna_rl_sampler.surrogate import normal_scores
from optuna_rl_sampler.surrogate import select_points

__all__ = ["Proposal", "normalised_entropy", "propose"]

N_INCUMBENTS = 5
#: Incumbents from which candidates step up the GP mean (:func:`~.candidates.gradient_steps`).
N_GRADIENT_INCUMBENTS = 4
#: Incumbents from which candidates climb to a local maximum of the GP mean
#: (:func:`~.candidates.mean_ascent`).
N_ASCENT_INCUMBENTS = 5
#: Trials a study without sources has before the moves aimed at precision join the
#: local moves and the GP's grid takes short length scales (see :func:`propose`).
PRECISION_FROM = 30
#: The policy's temperature in a study of one objective without constraints from its
#: :data:`SHARPEN_FROM`-th trial on: the sampler passes it as ``temperature`` to
#: :func:`propose`, which draws from ``softmax(scores / T)``.
POLICY_TEMPERATURE = 0.3
SHARPEN_FROM = 5
#: Share of the candidate set offered to the meta-prior's configurations.
PRIOR_SHARE = 8
#: Least total source weight for which a prior-startup trial keeps to prior candidates.
PRIOR_TRUST = 0.5
#: Trials observed when the prior-startup phase of a study with several sources spends
#: one trial on a probe away from the prior (see :func:`propose`); ``None``: never.
PROBE_AT: int | None = 2
#: Fewest matched sources for which the probe comes at :data:`PROBE_AT` trials; a
#: single source is probed by the trial after its best configuration instead.
PROBE_MIN_SOURCES = 2
#: Source weight below which the policy given as ``handoff`` (the generic weights)
#: chooses instead of the transfer policy, once the prior-startup phase is over.
HANDOFF_TRUST = 0.75
#: Standard deviation (in the unit cube, per numeric coordinate) of the step that moves
#: a chosen candidate which other workers may be choosing at the same moment (see
#: ``unplaced`` in :func:`propose`): the smallest scale of the local moves.
CONCURRENT_SPREAD = 0.01


@dataclass(frozen=True)
class Proposal:
    """The chosen configuration and everything needed to explain or learn from it.

    Attributes:
        point: ``(P,)`` snapped cube point of the chosen candidate.
        index: Its index in the candidate set.
        features: ``(N, F)`` features the policy saw.
        probs: ``(N,)`` policy probabilities.
        reason: Compact JSON-able explanation (stored with the trial by the sampler).
    """

    point: np.ndarray
    index: int
    features: np.ndarray
    probs: np.ndarray
    reason: dict[str, Any]


def propose(
    encoder: SearchSpaceEncoder,
    points: np.ndarray,
    values: np.ndarray,
    pending: np.ndarray,
    *,
    weights: PolicyWeights,
    rng: np.random.Generator,
    progress: float,
    n_candidates: int,
    max_observations: int,
    prior: MetaPrior | None = None,
    greedy: bool = False,
    prior_startup: int = 0,
    handoff: PolicyWeights | None = None,
    gradient_moves: bool = True,
    objectives: tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None = None,
    repeats: Callable[[np.ndarray], np.ndarray] | None = None,
    temperature: float = 1.0,
    unplaced: int = 0,
) -> Proposal:
    """Make one proposal (see the module docstring for the steps).

    Args:
        encoder: Encoder of the relative search space.
        points: ``(n, P)`` cube points of the evaluated trials (``n >= 0``).
        values: ``(n,)`` their values, higher is better; ``-inf`` for pruned trials.
        pending: ``(p, P)`` cube points of running trials.
        weights: The policy.
        rng: The proposal's random stream.
        progress: Trials so far over the expected budget.
        n_candidates: Size of the candidate set.
        max_observations: Most trials the surrogate conditions on.
        prior: Source studies matched to this search space, or ``None``.
        greedy: Take the most probable candidate instead of drawing one.
        prior_startup: While fewer than this many trials are observed and the sources
            hold at least :data:`PRIOR_TRUST` of the weight, the policy chooses among
            the prior candidates only (its probabilities renormalised over them), so
            the first trials try what the sources agree on, as long as the study's own
            trials keep confirming them. One trial of the phase, when :data:`PROBE_AT`
            trials are observed, is a probe instead: the space-filling candidate
            that the sources rate lowest (reason ``"phase": "prior-probe"``; see
            :func:`_probe_index`). Trials drawn from the sources' best region alone
            cannot show that the sources are wrong (a source can rank its own best
            region well and the rest of the space backwards); a point they rate low,
            ranked against them, can, and the source weights (ranking loss) then drop.
            The probe was first the candidate farthest from the trials; the sources'
            worst-rated one was chosen on the v2 transfer benchmark's development
            split (new minus old regret by the median, paired, intervals over tasks):
            backwards sources -0.119 [-0.177, -0.066] at 3 trials and -0.037 [-0.070,
            -0.006] at 10, one good source among four backwards ones -0.018 [-0.035,
            -0.002] at 10, honest sources +0.002 [+0.000, +0.005] at 3 trials and ties
            from 5 (reason ``"probe": "lowest-rated"``). Sources that know only part
            of the space (:attr:`~.meta_prior.MetaPrior.partial`: a conditional
            study's other branches) keep the farthest candidate, which also finds
            those branches (``"probe": "farthest"``). With the farthest candidate, on
            the leave-one-dataset-out benchmark with misleading sources the probe
            took regret at 5 trials from 0.435 to 0.300 and at 20 from 0.210 to
            0.172, at the cost of 0.025 at 3
            trials with helpful sources (0.222 to 0.247; 5 trials and later unchanged
            or better). With fewer than :data:`PROBE_MIN_SOURCES` matched sources (a
            single source, which no other source can check) the probe is instead the
            trial right after the source's best configuration was evaluated (the
            second trial when the study starts from the source, the third after an
            enqueued default), so that the source's favourite is ranked at once
            against a point the source rates low. On the transfer benchmark's test
            split this took the regret at 3 trials with one backwards source from
            0.545 to 0.475 (no sources: 0.473; new minus old -0.070 [-0.124, -0.024])
            and left a single
            honest source's gain as it was (another sample of the data: -0.000
            [-0.007, +0.007] at 3 trials, -0.002 [-0.021, +0.017] at 20). Before, a
            single source was never probed.
            When the sources fall below :data:`PRIOR_TRUST` during the
            phase (the study's trials contradict them), its remaining trials are
            probes too, so the study does not go on from a cluster of points in the
            region the sources wrongly favoured. Defaults to 0 (never).
        handoff: Policy that chooses instead of ``weights`` after the prior-startup
            phase while the sources hold less than :data:`HANDOFF_TRUST` of the weight
            (reason ``"handoff": true`` and ``"distrusted"``, the cause); the
            sources then offer no candidates and no ``prior_*`` features, so the
            handoff policy sees the state of a study without sources. The sampler
            passes the generic weights here:
            the transfer weights were trained mostly on episodes whose sources helped
            and exploit around the incumbents more than a study that has to search
            without trustworthy sources should. On the leave-one-dataset-out benchmark
            with misleading sources this took regret at 20 trials from 0.166 to 0.137
            (generic alone: 0.146), and with helpful sources from 0.111 to 0.103.
            ``None`` (or the same weights) turns it off. Defaults to ``None``.
        gradient_moves: Whether some local moves are steps up the GP mean
            (:func:`~.candidates.gradient_steps`). The sampler turns them off in
            multi-objective and constrained studies, where the GP models a scalarised
            or penalised score: on the multi-objective benchmark they lowered the
            hypervolume at 100 trials on bbob-biobj f10 (0.852 to 0.701) and on the
            constrained Gramacy problem (0.984 to 0.919). With them, a study without
            sources takes moves aimed at precision from its :data:`PRECISION_FROM`-th
            trial on: the GP's grid adds short length scales, and the local moves add
            the maximiser of a quadratic model of the values around the best trial (at
            several fractions of its step) and the GP mean's local maxima climbed from
            the incumbents (reasons ``"move": "quadratic-model"`` or
            ``"mean-maximum"``). The GP of rank scores takes the steep region around a
            converging incumbent for noise, and from about 30 trials on the generic
            policy chooses almost uniformly, so the candidate set decides what a late
            trial tries. On BBOB (45 tasks) the average rank among six samplers went from
            2.47 / 2.56 to 2.23 / 2.25 at 50 / 100 trials (GPSampler 2.41 / 2.42 beside
            it; seeds 0-4, run once after choosing on seeds 5-9) and the mean log10
            regret at 100 trials from 0.47 to 0.14 (GPSampler -0.01). Earlier trials,
            and every study with sources, are as before: the same moves from the first
            trial on made 20-trial transfer studies worse (+0.024 to +0.058 in regret
            at 20 trials on the transfer benchmark's test split).
        objectives: ``(values, weights, violations)`` of a multi-objective or
            constrained study: the ``(n, k)`` objective values of the trials (rows as in
            ``points``, higher is better, ``-inf`` in pruned rows), the ``(k,)`` weights
            that scalarised them into ``values`` (``(1,)`` for one objective; ``None``
            when ``values`` are two objectives' hypervolume utilities,
            :mod:`~optuna_rl_sampler.hypervolume`) and, with
            constraints, the ``(n,)`` total violations that penalised them (else
            ``None``). The candidates' posterior then comes from one GP per objective,
            and one on the violation, scalarised and penalised after the model
            (:class:`~.scalarised_gp.ScalarisedPosterior`; reason ``"surrogate":
            "per-objective"`` or ``"per-objective+violation"``); the single GP on
            ``values`` still weighs the sources, and scores the candidates while no kept
            trial is feasible. ``None`` (the default): the single GP scores the
            candidates too.
        repeats: Which candidates would repeat a configuration the study has: ``(N, P)``
            cube points to an ``(N,)`` boolean mask, in place of comparing them with
            ``points`` and ``pending``. The sampler passes it for a group of a
            conditional search space whose proposal, with the other groups', would
            repeat a whole trial: what repeats is the trial, not the group's own values
            (a choice of three models has repeated its values by the fourth trial).
            ``None`` (the default): a candidate repeats when it equals a point of
            ``points`` or ``pending``.
        temperature: The draw is from ``softmax(scores / temperature)``: below 1 the
            policy's preferences are sharpened (reason ``"temperature"``). The policy
            was trained at 1, which meta-training keeps (the default). The sampler
            passes :data:`POLICY_TEMPERATURE` from the :data:`SHARPEN_FROM`-th trial of
            a study of one objective without constraints (unless every parameter is a
            choice): the policies spread their probability widely once the first trials
            are in (a normalised entropy of about 0.4-0.95 over 256 candidates), and on
            the recommender tuning tasks of the transfer benchmark's development split
            the generic one trailed GPSampler at 20 trials by 0.037 in regret;
            sharpened, level with it. The transfer policy gains too, most with honest
            sources and after a hand-off.
        unplaced: Running trials that ``pending`` leaves out because their parameters
            are not known yet. Another worker is then most likely proposing them from
            the same trials: a trial's parameters reach the storage only once its
            proposal is made. The candidates that those trials alone determine (a
            source's configuration, a move uphill: a gradient step, a GP-mean
            maximum, a quadratic model's maximiser) are then the same for every worker,
            and two workers that choose one would evaluate the same point. While any
            trial is unplaced, such a choice is moved by a Gaussian step of
            :data:`CONCURRENT_SPREAD` per numeric coordinate, drawn from the trial's own
            stream (reason ``"spread"``: the step's scale, and ``"n_unplaced"``). A study
            run by one worker never has such trials and is unaffected. Defaults to 0.
    """
    # Precision late in a study without sources (see gradient_moves).
    precision = gradient_moves and prior is None and len(values) >= PRECISION_FROM
    observed = _observe(
        encoder,
        points,
        values,
        pending,
        max_observations,
        rng,
        objectives,
        single_gp=prior is not None or gradient_moves,
        precision=precision,
    )
    prior_weights, distrusted = _weigh_sources(
        prior, observed, rng, weights=weights, handoff=handoff, prior_startup=prior_startup
    )
    cands = _score_candidates(
        encoder,
        observed,
        n_candidates,
        rng,
        prior,
        None if distrusted else prior_weights,
        gradient_moves=gradient_moves,
        precision=precision,
    )
    phase = _phase(
        observed.n_obs,
        cands,
        prior_weights,
        weights=weights,
        handoff=handoff,
        prior_startup=prior_startup,
        after_source_best=_after_source_best(prior, observed),
    )
    features, probs = _policy_probabilities(
        encoder, observed, cands, phase.policy, progress, temperature
    )
    # Sources that know only part of the space (a conditional study's other branches)
    # rate the rest by guesswork: their probe is the farthest candidate, which also
    # finds the branches they never took.
    probe_scores = None if prior is None or prior.partial else cands.prior_score
    choice = _choose(probs, observed, cands, phase, rng, greedy, repeats, probe_scores)
    reason = _reason(observed, cands, phase, choice, prior, prior_weights)
    if temperature != 1.0:
        reason["temperature"] = temperature
    point = cands.points[choice.index]
    if unplaced > 0:
        reason["n_unplaced"] = int(unplaced)
        if _shared_by_workers(cands, choice.index) and not encoder.is_categorical.all():
            point = _spread(encoder, point, rng)
            reason["spread"] = CONCURRENT_SPREAD
    return Proposal(point, choice.index, features, choice.probs, reason)


# -- the phases of a proposal, in order -----------------------------------------------


@dataclass(frozen=True)
class _Observed:
    """The study as the surrogate sees it (what :func:`_observe` returns).

    Attributes:
        n_obs: Number of evaluated trials (before at most ``max_observations`` are kept).
        n_pending: Number of running trials.
        seen: ``(n_obs + n_pending, P)`` every configuration the study has, the
            evaluated ones first: the sources never offer these, and the draw avoids
            repeating them.
        values: ``(n_obs,)`` the evaluated trials' values (higher is better, ``-inf``
            for pruned ones), in the order of ``seen``.
        points: ``(m, P)`` cube points of the kept trials.
        scores: ``(m,)`` their normal scores.
        embedded: ``(m, D)`` the kept points embedded for the GP.
        embedded_pending: ``(p, D)`` the pending points embedded, or ``None``.
        base_gp: The GP fitted to the kept trials' scores, or ``None`` without any (or
            when ``candidate_gp`` scores the candidates and nothing else reads it).
        gp: ``base_gp`` conditioned on the pending points (``base_gp`` without any).
        incumbents: ``(<= N_INCUMBENTS, P)`` the best kept points, best first.
        candidate_gp: The posterior the candidates are scored with when it is not
            ``gp``: one GP per objective (see ``objectives`` of :func:`propose`).
    """

    n_obs: int
    n_pending: int
    seen: np.ndarray
    values: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    embedded: np.ndarray
    embedded_pending: np.ndarray | None
    base_gp: GPPosterior | None
    gp: GPPosterior | None
    incumbents: np.ndarray
    candidate_gp: ScalarisedPosterior | None = None


def _observe(
    encoder: SearchSpaceEncoder,
    points: np.ndarray,
    values: np.ndarray,
    pending: np.ndarray,
    max_observations: int,
    rng: np.random.Generator,
    objectives: tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None = None,
    single_gp: bool = True,
    precision: bool = False,
) -> _Observed:
    """Steps 1 and 2: normal scores of the values, at most ``max_observations`` trials
    kept (:func:`~.surrogate.select_points`, which draws from ``rng``), and a GP fitted
    to them and conditioned on the pending points; with ``objectives``, one GP per
    objective on the kept trials that have every value (at least two), and then the GP
    on the scores only when ``single_gp`` (there are sources or gradient steps)."""
    # Every configuration the study has: the sources never offer these again.
    seen = np.vstack([points, pending]) if len(pending) else points
    scores = normal_scores(values)
    keep = select_points(scores, max_observations, rng)
    kept, scores = points[keep], scores[keep]
    embedded = encoder.embed(kept)
    embedded_pending = encoder.embed(pending) if len(pending) else None

    candidate_gp = None
    if objectives is not None:
        objective_values, scalarisation_weights, violations = objectives
        rows = objective_values[keep]
        finite = np.isfinite(rows).all(axis=1)
        kept_violations = None if violations is None else violations[keep][finite]
        # The penalised score needs a feasible trial to cap the others at.
        capped = kept_violations is None or not (kept_violations > 0).all()
        if finite.sum() >= 2 and capped:
            candidate_gp = ScalarisedPosterior(
                embedded[finite],
                rows[finite],
                scalarisation_weights,
                embedded_pending,
                rng,
                violations=kept_violations,
            )
    # The GP on the scores scores the candidates unless one GP per objective does; the
    # sources' weights and the gradient steps read it too.
    base_gp = None
    if len(scores) and (candidate_gp is None or single_gp):
        base_gp = fit_gp(
            embedded,
            scores,
            short_length_scales=precision,
            categorical=encoder.embedded_categorical,
        )
    gp = base_gp
    if base_gp is not None and embedded_pending is not None:
        gp = condition_on_pending(base_gp, embedded_pending)

    order = np.argsort(-scores, kind="stable")
    return _Observed(
        n_obs=len(values),
        n_pending=len(pending),
        seen=seen,
        values=np.asarray(values, dtype=float),
        points=kept,
        scores=scores,
        embedded=embedded,
        embedded_pending=embedded_pending,
        base_gp=base_gp,
        gp=gp,
        incumbents=kept[order[:N_INCUMBENTS]],
        candidate_gp=candidate_gp,
    )


def _weigh_sources(
    prior: MetaPrior | None,
    observed: _Observed,
    rng: np.random.Generator,
    *,
    weights: PolicyWeights,
    handoff: PolicyWeights | None,
    prior_startup: int,
) -> tuple[PriorWeights | None, bool]:
    """Step 3, the sources' weights: how well each source ranks the study's trials
    (``None`` without sources), and whether the sources are distrusted.

    After the prior-startup phase, sources below :data:`HANDOFF_TRUST` are distrusted:
    the handoff policy chooses, and the sources offer no candidates and no scores, so
    the study goes on exactly as one without sources would (until trust returns).
    """
    if prior is None or len(prior) == 0:
        return None, False
    gp = observed.base_gp if len(observed.scores) >= 2 else None
    prior_weights = prior.weights(observed.points, observed.scores, gp, rng)
    distrusted = (
        handoff is not None
        and handoff is not weights
        and observed.n_obs >= prior_startup
        and prior_weights.total < HANDOFF_TRUST
    )
    return prior_weights, distrusted


def _after_source_best(prior: MetaPrior | None, observed: _Observed) -> bool:
    """Whether the study has a single matched source and its latest evaluated trial is
    that source's best configuration (the trial after it is the probe)."""
    if prior is None or len(prior) != 1 or observed.n_obs == 0:
        return False
    return prior.is_best_configuration(observed.seen[observed.n_obs - 1])


@dataclass(frozen=True)
class _Candidates:
    """The candidate set, scored (what :func:`_score_candidates` returns).

    Attributes:
        source: ``(N,)`` index in :data:`~.candidates.SOURCES` of each candidate.
        points: ``(N, P)`` snapped cube points.
        embedded: ``(N, D)`` the points embedded for the GP.
        mean: ``(N,)`` GP posterior mean (0 without a GP).
        std: ``(N,)`` GP posterior standard deviation (1 without a GP).
        prior_score: ``(N,)`` what the sources predict, or ``None`` when they have no
            say.
        prior_total: The sources' total weight that the policy sees (0 when they have
            no say).
        moves: ``(N,)`` for each local move uphill, the index in :data:`MOVES` of its
            kind (``-1`` for every other candidate), or ``None`` without any.
    """

    source: np.ndarray
    points: np.ndarray
    embedded: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    prior_score: np.ndarray | None
    prior_total: float
    moves: np.ndarray | None = None


def _score_candidates(
    encoder: SearchSpaceEncoder,
    observed: _Observed,
    n_candidates: int,
    rng: np.random.Generator,
    prior: MetaPrior | None,
    prior_weights: PriorWeights | None,
    *,
    gradient_moves: bool = True,
    precision: bool = False,
) -> _Candidates:
    """Steps 3 and 4: the candidates (Sobol, local moves around the incumbents, and up
    to one in :data:`PRIOR_SHARE` offered by the sources), snapped, with the GP's
    posterior and the sources' scores at each.

    ``prior_weights`` is ``None`` when the sources have no say (none, or distrusted):
    they then offer no candidates and no scores.
    """
    prior_points = None
    if prior is not None and prior_weights is not None:
        incumbents = observed.incumbents
        prior_points = prior.prior_points(
            max(1, n_candidates // PRIOR_SHARE),
            prior_weights,
            rng,
            incumbent=incumbents[0] if len(incumbents) else None,
            exclude=observed.seen,
        )
    uphill = _gradient_points(encoder, observed, precision) if gradient_moves else None
    cands = generate_candidates(
        n_candidates,
        encoder.n_params,
        rng,
        incumbents=observed.incumbents,
        is_categorical=encoder.is_categorical,
        prior_points=prior_points,
        gradient_points=None if uphill is None else uphill[0],
    )
    moves = None
    if cands.gradient is not None and uphill is not None:
        # The moves took the last places, in their order (as many as there was room for).
        moves = np.full(len(cands), -1)
        moves[cands.gradient] = uphill[1][: int(cands.gradient.sum())]
    cand_points = encoder.snap(cands.points)
    cand_embedded = encoder.embed(cand_points)
    if observed.candidate_gp is not None:
        mean, std = observed.candidate_gp.predict(cand_embedded)
    elif observed.gp is not None:
        mean, std = observed.gp.predict(cand_embedded)
    else:
        mean, std = np.zeros(len(cand_points)), np.ones(len(cand_points))
    prior_score = None
    prior_total = 0.0
    if prior is not None and prior_weights is not None and prior_weights.total > 0:
        prior_score = prior.scores(cand_points, prior_weights)
        prior_total = prior_weights.total
    return _Candidates(
        cands.source,
        cand_points,
        cand_embedded,
        mean,
        std,
        prior_score,
        prior_total,
        moves,
    )


#: The kinds of move uphill, as the reasons name them (``"move"``), in the order
#: :func:`_gradient_points` returns them.
MOVES = ("quadratic-model", "mean-maximum", "gradient-step")


def _gradient_points(
    encoder: SearchSpaceEncoder, observed: _Observed, precision: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """The moves uphill, numeric parameters only (``None`` without a GP): the maximiser
    of a quadratic model of the values around the best trial
    (:func:`~.candidates.quadratic_step`, a point per step fraction or none) and the
    local maxima of the GP mean from the best :data:`N_ASCENT_INCUMBENTS` incumbents
    (:func:`~.candidates.mean_ascent`), both only with ``precision``, then steps up the
    GP mean from the best :data:`N_GRADIENT_INCUMBENTS`
    (:func:`~.candidates.gradient_steps`); and the index in :data:`MOVES` of each
    point's kind."""
    gp = observed.gp
    if gp is None or len(observed.incumbents) == 0:
        return None
    incumbents = observed.incumbents[:N_GRADIENT_INCUMBENTS]
    gradient = gp.mean_gradient(encoder.embed(incumbents))
    steps = gradient_steps(incumbents, encoder.numeric_part(gradient))
    if not precision:
        return steps, np.full(len(steps), MOVES.index("gradient-step"))
    maxima = mean_ascent(
        observed.incumbents[:N_ASCENT_INCUMBENTS],
        lambda x: gp.predict_mean(encoder.embed(x)),
        lambda x: encoder.numeric_part(gp.mean_gradient(encoder.embed(x))),
    )
    quadratic = quadratic_step(
        observed.seen[: observed.n_obs], observed.values, encoder.is_categorical
    )
    parts = (quadratic, maxima, steps)
    kinds = np.concatenate([np.full(len(part), k) for k, part in enumerate(parts)])
    return np.vstack(parts), kinds


@dataclass(frozen=True)
class _Phase:
    """Which policy chooses, and how (what :func:`_phase` returns).

    Attributes:
        in_phase: The trial is in the prior-startup phase (``prior_startup``) and the
            sources offer candidates.
        startup: In the phase with sources holding at least :data:`PRIOR_TRUST`: the
            draw keeps to the prior candidates.
        handed_off: After the phase, with sources below :data:`HANDOFF_TRUST`: the
            ``handoff`` policy chooses.
        policy: The policy that chooses.
        probe: In the trusted phase, at :data:`PROBE_AT` observed trials with at
            least :data:`PROBE_MIN_SOURCES` sources, or right after the best
            configuration of a single source: the trial is the probe.
    """

    in_phase: bool
    startup: bool
    handed_off: bool
    policy: PolicyWeights
    probe: bool = False


def _phase(
    n_obs: int,
    cands: _Candidates,
    prior_weights: PriorWeights | None,
    *,
    weights: PolicyWeights,
    handoff: PolicyWeights | None,
    prior_startup: int,
    after_source_best: bool = False,
) -> _Phase:
    """The policy that scores the candidates (``weights``, or ``handoff`` while the
    sources are distrusted after the prior-startup phase) and whether the draw keeps to
    the prior candidates (step 6)."""
    has_prior = bool((cands.source == SOURCES.index("prior")).any())
    in_phase = n_obs < prior_startup and prior_weights is not None and has_prior
    startup = in_phase and cands.prior_total >= PRIOR_TRUST
    handed_off = (
        handoff is not None
        and handoff is not weights
        and prior_weights is not None
        and not in_phase
        and cands.prior_total < HANDOFF_TRUST
    )
    policy = handoff if handed_off and handoff is not None else weights
    several = prior_weights is not None and len(prior_weights.sources) >= PROBE_MIN_SOURCES
    probe = startup and (n_obs == PROBE_AT if several else after_source_best)
    return _Phase(in_phase, startup, handed_off, policy, probe)


def _policy_probabilities(
    encoder: SearchSpaceEncoder,
    observed: _Observed,
    cands: _Candidates,
    policy: PolicyWeights,
    progress: float,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: the ``(N, F)`` features of every candidate and the ``(N,)`` probabilities
    ``pi(a|s)`` that ``policy`` gives them (at ``temperature``, see :func:`propose`).

    Raises:
        FloatingPointError: The features are not finite (a fault of the study's points
            or values, named), or the probabilities are not (a fault of the weights).
    """
    state = candidate_features(
        cands.embedded,
        cands.source,
        observed.embedded,
        observed.scores,
        mean=cands.mean,
        std=cands.std,
        pending=observed.embedded_pending,
        progress=progress,
        n_params=encoder.n_params,
        prior_score=cands.prior_score,
        prior_weight=cands.prior_total,
    )
    _check_finite(encoder, state.features, np.vstack([observed.seen, cands.points]))
    probs = policy.probabilities(state.features, temperature=temperature)
    if not np.isfinite(probs).all():
        raise FloatingPointError(
            f"the policy {policy.name!r} gave non-finite probabilities; the weights file "
            "may be corrupt."
        )
    return state.features, probs


@dataclass(frozen=True)
class _Choice:
    """The chosen candidate (what :func:`_choose` returns).

    Attributes:
        index: Its index in the candidate set.
        probs: ``(N,)`` the probabilities it was drawn from (renormalised over the prior
            candidates in the prior-startup phase).
        probe: It is the prior-startup phase's probe, not drawn.
        avoided: A first draw repeated a configuration the study has and was redrawn.
        probe_rule: How the probe was chosen: ``"lowest-rated"`` (by the sources) or
            ``"farthest"`` (from the trials); empty when it is not the probe.
    """

    index: int
    probs: np.ndarray
    probe: bool
    avoided: bool
    probe_rule: str = ""


def _choose(
    probs: np.ndarray,
    observed: _Observed,
    cands: _Candidates,
    phase: _Phase,
    rng: np.random.Generator,
    greedy: bool,
    repeats: Callable[[np.ndarray], np.ndarray] | None = None,
    probe_scores: np.ndarray | None = None,
) -> _Choice:
    """Step 6: the probe of the prior-startup phase, or a draw from ``pi(a|s)`` (the most
    probable candidate when ``greedy``; only prior candidates while the phase keeps to
    them) that avoids repeating a configuration the study has (``repeats``, when
    given, says which candidates do; see :func:`propose`). ``probe_scores`` are the
    sources' ratings the probe goes by (:func:`_probe_index`; ``None``: the farthest
    candidate)."""
    n_obs = observed.n_obs
    probe = None
    if phase.probe or (phase.in_phase and not phase.startup and n_obs >= 1):
        probe = _probe_index(cands.embedded, cands.source, observed.embedded, probe_scores)
    if probe is not None:
        rule = "farthest" if probe_scores is None else "lowest-rated"
        return _Choice(probe, probs, True, False, rule)
    if phase.startup:
        prior_mask = cands.source == SOURCES.index("prior")
        masked = np.where(prior_mask, probs, 0.0)
        total = masked.sum()
        probs = masked / total if total > 0 else prior_mask / prior_mask.sum()
    index = int(np.argmax(probs)) if greedy else int(rng.choice(len(probs), p=probs))
    if repeats is None:
        seen = observed.seen

        def repeats(points: np.ndarray) -> np.ndarray:
            return same_points(points, seen) if len(seen) else np.zeros(len(points), bool)

    index, avoided = _avoid_repeat(index, probs, cands.points, repeats, rng, greedy)
    return _Choice(index, probs, False, avoided)


def _reason(
    observed: _Observed,
    cands: _Candidates,
    phase: _Phase,
    choice: _Choice,
    prior: MetaPrior | None,
    prior_weights: PriorWeights | None,
) -> dict[str, Any]:
    """The proposal's compact JSON-able explanation (stored with the trial)."""
    index, probs = choice.index, choice.probs
    reason: dict[str, Any] = {
        "source": SOURCES[int(cands.source[index])],
        "gp_mean": round(float(cands.mean[index]), 4),
        "gp_std": round(float(cands.std[index]), 4),
        "probability": round(float(probs[index]), 4),
        "probability_rank": int((probs > probs[index]).sum()) + 1,
        "entropy": round(normalised_entropy(probs), 3),
        "n_candidates": len(probs),
        "n_observed": int(observed.n_obs),
        "n_pending": int(observed.n_pending),
        "weights": phase.policy.name,
    }
    if choice.probe:
        reason["phase"] = "prior-probe"
        reason["probe"] = choice.probe_rule
    elif phase.startup:
        reason["phase"] = "prior-startup"
    if phase.handed_off and prior_weights is not None:
        reason["handoff"] = True
        reason["distrusted"] = prior_weights.distrusted or (
            f"the sources hold {prior_weights.total:.2f} of the weight, less than {HANDOFF_TRUST}"
        )
    if observed.candidate_gp is not None:
        reason["surrogate"] = (
            "per-objective+violation" if observed.candidate_gp.constrained else "per-objective"
        )
    if cands.moves is not None and cands.moves[index] >= 0:
        reason["move"] = MOVES[int(cands.moves[index])]
    if choice.avoided:
        reason["avoided_repeat"] = True
    # Said when the choice repeats a configuration the study has: only when every
    # candidate does (a small grid whose every point is evaluated or running).
    chosen = cands.points[index][None, :]
    if same_points(chosen, observed.seen[: observed.n_obs])[0]:
        reason["repeat"] = "evaluated"
    elif same_points(chosen, observed.seen[observed.n_obs :])[0]:
        reason["repeat"] = "pending"
    if prior is not None and prior_weights is not None:
        reason["prior"] = prior.describe(prior_weights)
        if cands.prior_score is not None:
            reason["prior_score"] = round(float(cands.prior_score[index]), 4)
    return reason


# -- what the phases share ------------------------------------------------------------


def _shared_by_workers(cands: _Candidates, index: int) -> bool:
    """Whether candidate ``index`` comes from the trials alone (a source's configuration
    or a move uphill), not from the trial's random stream, so that another worker
    proposing from the same trials has it too."""
    return bool(cands.source[index] == SOURCES.index("prior")) or (
        cands.moves is not None and cands.moves[index] >= 0
    )


def _spread(
    encoder: SearchSpaceEncoder, point: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``point`` moved by a Gaussian step of :data:`CONCURRENT_SPREAD` in its numeric
    coordinates (categorical ones stay), clipped to the cube and snapped."""
    step = CONCURRENT_SPREAD * rng.standard_normal(len(point))
    moved = np.where(encoder.is_categorical, point, np.clip(point + step, 0.0, 1.0))
    return encoder.snap(moved[None, :])[0]


def normalised_entropy(probs: np.ndarray) -> float:
    """Entropy of a choice's probabilities divided by that of a uniform choice among as
    many candidates: 1 when the policy has no preference, 0 when one candidate holds all
    the probability (and for a single candidate)."""
    p = np.asarray(probs, dtype=float)
    if len(p) < 2:
        return 0.0
    nz = p[p > 0]
    return float(min(1.0, max(0.0, -(nz * np.log(nz)).sum() / np.log(len(p)))))


def _avoid_repeat(
    index: int,
    probs: np.ndarray,
    cand_points: np.ndarray,
    repeats: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    greedy: bool,
) -> tuple[int, bool]:
    """``index``, unless its candidate repeats a configuration the study has (evaluated
    or running; ``repeats`` marks the candidates that do) while another candidate does
    not: then the policy's choice among the candidates that do not (its probabilities
    renormalised over them; greedy: the most probable), and ``True``. A study whose
    every candidate is a repeat keeps ``index``.
    """
    if not repeats(cand_points[index][None, :])[0]:
        return index, False
    fresh = ~repeats(cand_points)
    if not fresh.any():
        return index, False
    p = np.where(fresh, probs, 0.0)
    total = p.sum()
    p = p / total if total > 0 else fresh / fresh.sum()
    return (int(np.argmax(p)) if greedy else int(rng.choice(len(p), p=p))), True


def _check_finite(encoder: SearchSpaceEncoder, features: np.ndarray, points: np.ndarray) -> None:
    """Raise, naming the cause, when the features the policy would score are not finite:
    a fault of the study's points or values, which the weights file must not be blamed
    for."""
    finite = np.isfinite(features).all(axis=0)
    if finite.all():
        return
    columns = [FEATURE_NAMES[j] for j in np.flatnonzero(~finite)]
    params = [encoder.param_names[j] for j in np.flatnonzero(~np.isfinite(points).all(axis=0))]
    cause = (
        f"the encoded values of {params} are not finite (their range cannot be mapped)"
        if params
        else "the study's values or the surrogate overflowed"
    )
    raise FloatingPointError(
        f"the candidates' features {columns} are not finite: {cause}. The policy's weights "
        "are not the cause."
    )


def _probe_index(
    cand_embedded: np.ndarray,
    source: np.ndarray,
    embedded: np.ndarray,
    prior_score: np.ndarray | None = None,
) -> int | None:
    """The probe: the space-filling candidate that the sources rate lowest
    (``prior_score``, the weighted mean of their predictions), or, without source
    scores, the one farthest from every observed point (maximin); ``None`` when there
    is no space-filling candidate or no observed point.

    The sources' worst-rated point is the experiment that tells honest sources from
    misleading ones most plainly: where they are right it scores low, as any probe
    away from their best region would, and where they rank the space backwards it is
    among the best configurations, which both gives the study a good trial and turns
    the ranked pairs against the sources at once. Ties (equal source scores) go to the
    candidate farthest from the trials.
    """
    sobol = np.flatnonzero(source == SOURCES.index("sobol"))
    if len(sobol) == 0 or len(embedded) == 0:
        return None
    gaps = np.linalg.norm(cand_embedded[sobol, None, :] - embedded[None, :, :], axis=2)
    far = gaps.min(axis=1)
    if prior_score is None:
        return int(sobol[np.argmax(far)])
    # lexsort: the last key is the primary one (lowest source score first).
    return int(sobol[np.lexsort((-far, prior_score[sobol]))[0]])
