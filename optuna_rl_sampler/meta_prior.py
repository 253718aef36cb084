"""The meta-prior: what past studies say about the candidates of a new study.

Given source studies (:class:`~optuna_rl_sampler.sources.SourceStudy`) and the search
space of the new study, :class:`MetaPrior`

1. **matches parameters** by name and kind. A numeric source parameter (float or int)
   matches a numeric target parameter of the same name; its values are mapped through
   the target's own encoding (log scale included), and values outside a re-ranged
   target range are clipped to the nearest bound; a source trial whose value is not a
   number (a ``bool`` or a string) is dropped. A categorical parameter matches a
   categorical one of the same name; source trials whose choice is not among the
   target's choices (Optuna's equality, ``1 == 1.0``, but a ``bool`` only equals a
   ``bool``) are dropped. A renamed parameter does not match (names are the only
   link between studies). Unmatched parameters are marginalised: the source's model is
   fitted on the matched coordinates only, so whatever the others did is averaged into
   its noise, and target parameters a source never had leave its prediction unchanged;
2. **fits one surrogate per source**: a GP (:func:`~optuna_rl_sampler.surrogate.fit_gp`)
   on the normal scores of the source's values over the matched coordinates;
3. **weights the sources** by how well each ranks the new study's own trials, as the
   ranking-weighted Gaussian-process ensemble does (RGPE; Feurer, Letham, Hutter and
   Bakshy, 2018): the ranking loss of a model is its number of discordant pairs among
   the observed trials (the new study's own model is scored by leave-one-out); over
   bootstrap resamples of the observed trials, each model's weight is the share of
   resamples in which it has the lowest loss; sources whose median loss is above the
   95th percentile of the new study's own loss are dropped, and in each resample a
   source that ranks no better than chance (half or more of its comparable pairs
   discordant) cannot win: with many sources one always ranks a few trials right by
   luck. Sources that rank the new study's trials backwards (misleading) therefore
   lose their weight as trials arrive. On top of that, all sources lose their weight
   together while their *consensus* (the plain mean of their predictions, fixed before
   the study's trials are seen, so not chosen to fit them) ranks the study's trials no
   better than chance on at least :data:`MIN_TRUST_PAIRS` comparable pairs: the
   per-resample winner is the best of many sources picked after the fact, and with
   dozens of misleading sources one keeps winning by luck for ten trials or more.
   One source that ranks the trials better than the luckiest of as many random
   rankings would (a permutation test, :data:`TRUST_ALPHA`) keeps them trusted, so a
   good source among misleading ones is not thrown away with them. From
   :data:`PROOF_FROM` ranked trials on, a study with several sources needs that proof
   to trust them at all: sources that are merely not wrong (unrelated studies, whose
   consensus ranks by chance, sometimes well) would otherwise keep enough lucky
   resample wins to steer a study for all of its trials;
4. **scores candidates**: ``prior_score`` is the weight-averaged source prediction and
   ``prior_weight`` the total weight given to the sources (how much to trust them);
5. **offers prior candidates**: the best configurations of each source, mapped into
   the new space, in proportion to the source weights. Coordinates a source does not
   know are filled from the new study's incumbent (or at random before any trial). A
   configuration the study has already evaluated or is evaluating (equal after snapping
   to the grid), or one already offered, gives way to the source's next best.

Pure numerics: it never sees a Study. A :class:`MetaPrior` depends only on the sources
and the search space, so the sampler builds it once per search space.

SHAPES (P target parameters, N candidates, n observed trials, S sources):
    points:  (N, P) target cube points
    weights: (S,) source weights; ``1 - weights.sum()`` is the new study's own weight
    scores:  (N,) weighted source prediction, normal-score units
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.encoding import is_number
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.surrogate import GPPosterior
from optuna_rl_sampler.surrogate import fit_gp
from optuna_rl_sampler.surrogate import normal_scores

__all__ = ["MatchedSource", "MetaPrior", "PriorWeights", "match_source", "startup_ranking"]

#: Most trials of one source the surrogate conditions on (the best half kept).
MAX_SOURCE_POINTS = 120
#: Most observed trials of the new study used for ranking the sources.
MAX_RANKING_POINTS = 40
N_BOOTSTRAP = 64
#: Comparable pairs of observed trials (different values, different consensus
#: predictions) from which a consensus no better than chance distrusts the sources.
MIN_TRUST_PAIRS = 3
#: Best configurations per source that :func:`startup_ranking` orders by the others.
CONSENSUS_PER_SOURCE = 3
#: Permutations of the study's values for the test of the best source.
N_PERMUTATIONS = 200
#: A source whose permutation p-value (corrected for the number of sources) is at most
#: this keeps the sources trusted even when their consensus is no better than chance.
TRUST_ALPHA = 0.1
#: Ranked trials from which a study with at least :data:`PROOF_MIN_SOURCES` sources
#: trusts them only while one of them passes the permutation test (:data:`TRUST_ALPHA`),
#: counted as the comparable pairs that many trials give (:data:`PROOF_PAIRS`).
#: Chosen on the transfer benchmark's development split (10 seeds) between 6 and 10:
#: with 6, unrelated (shuffled) sources cost 0.010 less regret at 20 trials and a good
#: source among misleading ones 0.006 less, honest sources 0.004 more at 10 trials.
PROOF_FROM = 6
#: Fewest sources for the test of :data:`PROOF_FROM`. A single source is tested by a
#: probe instead (see ``prior_startup`` of :func:`~.proposal.propose`), and a single
#: honest source (last month's study) rarely passes a test built for many: on the
#: development split it would have cost 0.009 regret at 10 trials.
PROOF_MIN_SOURCES = 2
#: Comparable pairs (different values) the ranked trials need before the test of
#: :data:`PROOF_FROM` applies: as many as that many trials of different values give. A
#: plateau's ties rank nothing, so on a plateau the test waits for trials that differ
#: rather than distrust sources that have had no pair to rank.
PROOF_PAIRS = PROOF_FROM * (PROOF_FROM - 1) // 2
#: A source is used only if at least this share of the new study's parameters match.
MIN_MATCHED_SHARE = 0.25
MIN_SOURCE_TRIALS = 5
#: Largest cube distance (per coordinate) at which two snapped points are the same
#: configuration (a decoded-then-encoded continuous value moves by rounding only).
SAME_POINT_TOL = 1e-9
#: Largest ``n x m x P`` comparison :func:`same_points` makes at once (1 MB of floats).
_PAIRWISE_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class MatchedSource:
    """One source mapped into the target space.

    Attributes:
        name: The source's name.
        columns: ``(m,)`` indices of the target parameters the source matches.
        points: ``(n, P)`` source configurations in the target cube (unmatched columns
            hold NaN).
        scores: ``(n,)`` normal scores of the source's values (higher is better).
        gp: Surrogate on the matched columns' embedding.
        encoder: Encoder of the matched sub-space (embeds ``points[:, columns]``).
        n_dropped: Source trials dropped because a categorical choice did not exist
            or a numeric value was not a number.
        n_clipped: Source trials with a numeric value clipped into a re-ranged range.
    """

    name: str
    columns: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    gp: GPPosterior
    encoder: SearchSpaceEncoder
    n_dropped: int
    n_clipped: int

    def predict(self, points: np.ndarray) -> np.ndarray:
        """Predicted normal score of ``(k, P)`` target cube points."""
        return self.gp.predict_mean(self.encoder.embed(points[:, self.columns]))


@dataclass(frozen=True)
class PriorWeights:
    """Source weights after ranking the new study's trials.

    Attributes:
        sources: ``(S,)`` weight of each source (sums with ``target`` to 1).
        target: Weight of the new study's own model.
        n_ranked: Number of observed trials the weights were computed on.
        consensus: ``(concordant, discordant)`` pairs of the observed trials as the
            sources' consensus (their mean prediction) ranks them; ``None`` before two
            trials have different values.
        distrusted: Why the sources were given no weight at all (the consensus ranks
            the study's trials no better than chance), or ``None``.
    """

    sources: np.ndarray
    target: float
    n_ranked: int
    consensus: tuple[int, int] | None = None
    distrusted: str | None = None

    @property
    def total(self) -> float:
        """Total weight of the sources, ``1 - target``."""
        return float(self.sources.sum())


def _is_numeric(dist: BaseDistribution) -> bool:
    return not isinstance(dist, CategoricalDistribution)


def match_source(
    source: SourceStudy,
    search_space: Mapping[str, BaseDistribution],
    rng: np.random.Generator,
    *,
    family_share: float | None = None,
    min_share: float = MIN_MATCHED_SHARE,
) -> MatchedSource | None:
    """Map ``source`` into ``search_space``; ``None`` when too little of it matches.

    Args:
        source: A past study.
        search_space: The new study's relative search space.
        rng: Stream for the subsample of large sources.
        family_share: If set, also require that this share of the target's parameters
            *and* of the source's parameters match (a study of the same model family).
            Defaults to ``None``.
        min_share: The share of the target's parameters the source must hold.
            Defaults to :data:`MIN_MATCHED_SHARE` (a quarter); a group of a conditional
            search space asks for all of them (see ``RLSampler``'s ``group``).

    Returns:
        The matched source, or ``None`` when too few parameters match or fewer than 5
        trials survive the mapping.
    """
    target = SearchSpaceEncoder(search_space)
    names = target.param_names
    columns = [
        j
        for j, name in enumerate(names)
        if name in source.distributions
        and _is_numeric(source.distributions[name]) == _is_numeric(search_space[name])
    ]
    if not columns or len(columns) < min_share * len(names):
        return None
    if family_share is not None and (
        len(columns) < family_share * len(names)
        or len(columns) < family_share * len(source.distributions)
    ):
        return None
    sub_space = {names[j]: search_space[names[j]] for j in columns}
    sub = SearchSpaceEncoder(sub_space)
    n = len(source)
    cube = np.full((n, len(names)), np.nan)
    keep = np.ones(n, dtype=bool)
    clipped = np.zeros(n, dtype=bool)
    for j in columns:
        name, dist = names[j], search_space[names[j]]
        raw = [row.get(name) for row in source.params]
        if isinstance(dist, CategoricalDistribution):
            col = SearchSpaceEncoder({name: dist})
            for i, v in enumerate(raw):
                if not keep[i]:
                    continue
                try:
                    cube[i, j] = col.encode({name: v})[0]
                except (ValueError, KeyError):
                    keep[i] = False
        else:
            vals = np.array([float(v) if is_number(v) else np.nan for v in raw])
            keep &= np.isfinite(vals)
            low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
            inside = (vals >= low) & (vals <= high)
            clipped |= keep & ~inside
            safe = np.clip(np.where(np.isfinite(vals), vals, low), low, high)
            col = SearchSpaceEncoder({name: dist})
            encoded, _ = col.encode_many([{name: float(v)} for v in safe])
            cube[:, j] = col.snap(encoded)[:, 0]
    if keep.sum() < MIN_SOURCE_TRIALS:
        return None
    points, values = cube[keep], source.values[keep]
    scores = normal_scores(values)
    if len(scores) > MAX_SOURCE_POINTS:
        order = np.argsort(-scores, kind="stable")
        top = order[: MAX_SOURCE_POINTS // 2]
        rest = rng.choice(order[MAX_SOURCE_POINTS // 2 :], MAX_SOURCE_POINTS - len(top), False)
        idx = np.sort(np.concatenate([top, rest]))
        points, scores = points[idx], scores[idx]
    cols = np.array(columns, dtype=int)
    gp = fit_gp(sub.embed(points[:, cols]), scores)
    return MatchedSource(
        source.name,
        cols,
        points,
        scores,
        gp,
        sub,
        int((~keep).sum()),
        int(clipped.sum()),
    )


def same_points(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``(n,)`` mask of the rows of ``points`` equal to some row of ``others`` (both
    ``(., P)`` snapped cube points), within :data:`SAME_POINT_TOL` per coordinate.

    Few comparisons (one chosen point against the study's trials) are made at once. For
    many, a study's ``m`` trials are sorted by one projection, and each point is compared
    only with the trials whose projection lies within reach of its own: a comparison of
    every pair would hold ``n x m x P`` numbers (at 256 candidates and 10,000 trials of
    10 parameters, 200 MB), and a study of integer and categorical parameters asks for it
    at every proposal once its draws start to repeat configurations.

    Example:
        >>> import numpy as np
        >>> others = np.array([[0.0, 0.5], [1.0, 0.25]])
        >>> same_points(np.array([[1.0, 0.25 + 1e-12], [0.5, 0.5]]), others).tolist()
        [True, False]
    """
    points = np.asarray(points, dtype=float)
    others = np.asarray(others, dtype=float)
    if len(points) == 0 or len(others) == 0:
        return np.zeros(len(points), dtype=bool)
    if len(points) * others.size <= _PAIRWISE_ELEMENTS:
        gaps = points[:, None, :] - others[None, :, :]
        return (np.abs(gaps, out=gaps).max(axis=2) <= SAME_POINT_TOL).any(axis=1)
    # Rows within the tolerance project within ``SAME_POINT_TOL * sum(w)`` of each
    # other; the margin covers the rounding of the projections themselves.
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=points.shape[1])
    key = others @ w
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    target = points @ w
    reach = SAME_POINT_TOL * float(w.sum()) + 1e-12 * (1.0 + float(np.abs(sorted_key).max()))
    lo = np.searchsorted(sorted_key, target - reach, side="left")
    hi = np.searchsorted(sorted_key, target + reach, side="right")
    found = np.zeros(len(points), dtype=bool)
    for i in np.flatnonzero(hi > lo):
        near = others[order[lo[i] : hi[i]]]
        found[i] = bool((np.abs(near - points[i]).max(axis=1) <= SAME_POINT_TOL).any())
    return found


def _discordance(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(n, n)`` indicator of pairs ranked differently by ``pred`` and ``y``."""
    dp = np.sign(pred[:, None] - pred[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    return ((dp * dy) < 0) | ((dp == 0) & (dy != 0))


def _pair_counts(pred: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """``(concordant, discordant)`` pairs of ``pred`` against ``y``; a pair tied in
    either (a plateau of equal values, or equal predictions) counts as neither."""
    upper = np.triu(np.ones((len(y), len(y)), dtype=bool), k=1)
    agree = np.sign(pred[:, None] - pred[None, :]) * np.sign(y[:, None] - y[None, :])
    return int((agree[upper] > 0).sum()), int((agree[upper] < 0).sum())


def _best_source_p_value(preds: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """Permutation p-value of the source that ranks ``y`` best, corrected for having
    picked it among ``len(preds)`` sources: the share of random permutations of ``y``
    under which *some* source ranks it at least as well (concordant minus discordant
    pairs). The sources' correlation is kept, so many similar sources count as few."""
    upper = np.triu_indices(len(y), k=1)
    signs = np.sign(preds[:, :, None] - preds[:, None, :])[:, upper[0], upper[1]]  # (S, pairs)
    perms = np.argsort(rng.random((N_PERMUTATIONS, len(y))), axis=1)
    permuted = y[perms]
    y_signs = np.sign(permuted[:, upper[0]] - permuted[:, upper[1]])  # (K, pairs)
    observed = (signs @ np.sign(y[upper[0]] - y[upper[1]])).max()
    luckiest = (signs @ y_signs.T).max(axis=0)  # (K,)
    return float((1 + (luckiest >= observed).sum()) / (1 + N_PERMUTATIONS))


def _loo_mean(gp: GPPosterior, y: np.ndarray) -> np.ndarray:
    """Leave-one-out posterior means of a GP conditioned on ``y`` (first ``len(y)`` rows)."""
    from scipy.linalg import cho_solve

    n = len(y)
    inv = cho_solve((gp.chol, True), np.eye(len(gp.chol)), check_finite=False)
    alpha = inv @ np.concatenate([y, np.zeros(len(gp.chol) - n)])
    return y - alpha[:n] / np.maximum(np.diag(inv)[:n], 1e-12)


class MetaPrior:
    """Sources matched to one search space; see the module docstring.

    Args:
        sources: Past studies.
        search_space: The new study's relative search space.
        seed: Seed for subsampling large sources (the prior is deterministic given it).
            Defaults to 0.
        family_share: See :func:`match_source`. Defaults to ``None``.
        min_share: See :func:`match_source`. Defaults to :data:`MIN_MATCHED_SHARE`.

    Examples:
        A source whose best value is at ``x = 0.3``, matched to a new study where ``x``
        ranges over ``[0, 2]`` (cube coordinate ``0.15``):

        >>> import numpy as np
        >>> from optuna.distributions import FloatDistribution
        >>> from optuna_rl_sampler.meta_prior import MetaPrior
        >>> from optuna_rl_sampler.sources import SourceStudy
        >>> xs = np.linspace(0.0, 1.0, 11)
        >>> source = SourceStudy(
        ...     "bowl",
        ...     {"x": FloatDistribution(0.0, 1.0)},
        ...     tuple({"x": float(x)} for x in xs),
        ...     -((xs - 0.3) ** 2),
        ... )
        >>> prior = MetaPrior([source], {"x": FloatDistribution(0.0, 2.0)})
        >>> prior.names
        ['bowl']

        Before the new study has ranked trials, the sources hold all the weight:

        >>> rng = np.random.default_rng(0)
        >>> weights = prior.weights(np.zeros((0, 1)), np.zeros(0), None, rng)
        >>> weights.total
        1.0
        >>> scores = prior.scores(np.array([[0.15], [0.9]]), weights)
        >>> bool(scores[0] > scores[1])
        True
        >>> prior.prior_points(1, weights, rng)  # the source's best configuration
        array([[0.15]])
    """

    def __init__(
        self,
        sources: Sequence[SourceStudy],
        search_space: Mapping[str, BaseDistribution],
        *,
        seed: int = 0,
        family_share: float | None = None,
        min_share: float = MIN_MATCHED_SHARE,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.search_space = dict(search_space)
        self.n_params = len(search_space)
        self._encoder = SearchSpaceEncoder(search_space)
        matched = [
            match_source(s, search_space, rng, family_share=family_share, min_share=min_share)
            for s in sources
        ]
        self.matched: list[MatchedSource] = [m for m in matched if m is not None]
        #: Position in ``sources`` of each matched source.
        self.source_indices: list[int] = [i for i, m in enumerate(matched) if m is not None]
        self.n_offered = len(sources)

    @property
    def partial(self) -> bool:
        """Whether a matched source left out some of its trials: trials without a
        parameter of the space (a conditional source, some of whose trials took
        another branch) or with a choice or value the space cannot hold. Such sources
        have seen part of what the space's study may reach, and their ratings of the
        rest are guesses (see :func:`~optuna_rl_sampler.proposal.propose`'s probe)."""
        return any(m.n_dropped > 0 for m in self.matched)

    def __len__(self) -> int:
        return len(self.matched)

    @property
    def names(self) -> list[str]:
        """Names of the sources that matched the space."""
        return [m.name for m in self.matched]

    def source_predictions(self, points: np.ndarray) -> np.ndarray:
        """``(S, k)`` predicted normal scores of ``(k, P)`` cube points by each source."""
        if not self.matched:
            return np.zeros((0, len(points)))
        return np.stack([m.predict(points) for m in self.matched])

    def weights(
        self,
        observed: np.ndarray,
        scores: np.ndarray,
        target_gp: GPPosterior | None,
        rng: np.random.Generator,
    ) -> PriorWeights:
        """RGPE-style weights of the sources given the new study's observed trials.

        Args:
            observed: ``(n, P)`` cube points of the new study's trials.
            scores: ``(n,)`` their normal scores.
            target_gp: The new study's own GP fitted on ``embed(observed)`` and
                ``scores`` (first ``n`` conditioning rows); ``None`` when ``n < 2``.
            rng: Stream for the bootstrap (derived from the seed and trial number).

        Returns:
            With fewer than two distinct observed values (no ranked pair) every source
            weighs the same and the new study's own model nothing.
        """
        n_src = len(self.matched)
        if n_src == 0:
            return PriorWeights(np.zeros(0), 1.0, 0)
        finite = np.isfinite(scores)
        if finite.sum() < 2 or np.unique(scores[finite]).size < 2 or target_gp is None:
            return PriorWeights(np.full(n_src, 1.0 / n_src), 0.0, int(len(scores)))
        idx = np.arange(len(scores))
        if len(idx) > MAX_RANKING_POINTS:
            idx = np.sort(rng.choice(idx, MAX_RANKING_POINTS, replace=False))
        y = scores[idx]
        preds = self.source_predictions(observed[idx])
        loo = _loo_mean(target_gp, scores)[idx]
        disc = np.stack([_discordance(p, y) for p in (*preds, loo)]).astype(np.float64)
        boot = rng.integers(0, len(idx), size=(N_BOOTSTRAP, len(idx)))
        # losses[b, m] = discordant pairs of model m on bootstrap sample b
        # = sum_ij counts[b, i] * disc[m, i, j] * counts[b, j], counts = draws of each point.
        counts = np.zeros((N_BOOTSTRAP, len(idx)))
        np.add.at(counts, (np.arange(N_BOOTSTRAP)[:, None], boot), 1.0)
        losses = np.einsum("bi,mij,bj->bm", counts, disc, counts)
        own = losses[:, -1]
        keep = np.median(losses[:, :-1], axis=0) <= np.percentile(own, 95)
        losses[:, :-1][:, ~keep] = np.inf
        # A source that ranks the resample no better than chance (at least half of its
        # comparable pairs discordant) is not evidence: among many sources one always
        # wins a few pairs by luck, and a misleading one ranks them backwards.
        comparable = (y[:, None] != y[None, :]).astype(np.float64)
        pairs = np.einsum("bi,ij,bj->b", counts, comparable, counts)
        chance = (losses[:, :-1] >= 0.5 * pairs[:, None]) & (pairs[:, None] > 0)
        losses[:, :-1][chance] = np.inf
        best = losses.min(axis=1, keepdims=True)
        winners = losses == best
        share = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
        consensus = _pair_counts(preds.mean(axis=0), y)
        good, bad = consensus
        n_pairs = int(comparable.sum()) // 2  # pairs of different values (ties rank nothing)
        if n_src >= PROOF_MIN_SOURCES and n_pairs >= PROOF_PAIRS:
            p_value = _best_source_p_value(preds, y, rng)
            if p_value > TRUST_ALPHA:
                why = (
                    f"after {len(idx)} trials no source ranks the study's trials better "
                    "than the luckiest of as many random rankings (permutation p = "
                    f"{p_value:.2f}, more than {TRUST_ALPHA})"
                )
                return PriorWeights(np.zeros(n_src), 1.0, int(len(idx)), consensus, why)
        elif (
            good + bad >= MIN_TRUST_PAIRS
            and good <= bad
            and _best_source_p_value(preds, y, rng) > TRUST_ALPHA
        ):
            why = (
                f"the sources' consensus ranks {bad} of {good + bad} pairs of the study's "
                "trials wrong (no better than chance), and no source ranks them better "
                "than the luckiest of as many random rankings"
            )
            return PriorWeights(np.zeros(n_src), 1.0, int(len(idx)), consensus, why)
        return PriorWeights(share[:-1], float(share[-1]), int(len(idx)), consensus)

    def scores(self, points: np.ndarray, weights: PriorWeights) -> np.ndarray:
        """``(N,)`` weight-averaged source prediction at ``(N, P)`` cube points (0 when
        the sources have no weight)."""
        if weights.total <= 0:
            return np.zeros(len(points))
        preds = self.source_predictions(points)
        return weights.sources @ preds / weights.total

    def prior_points(
        self,
        n_points: int,
        weights: PriorWeights,
        rng: np.random.Generator,
        *,
        incumbent: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> np.ndarray:
        """Up to ``n_points`` of the sources' best configurations, snapped, in the target
        cube.

        Each source contributes in proportion to its weight (at least one point when it
        has any weight), best configurations first; unmatched coordinates come from
        ``incumbent`` or are drawn uniformly. A configuration equal to a row of
        ``exclude`` (the study's evaluated and pending points) or to one offered before
        is skipped for the source's next best: the sources never offer a configuration
        the study already has.

        Args:
            n_points: Most points returned.
            weights: The source weights (:meth:`weights`).
            rng: Stream for the coordinates filled at random.
            incumbent: ``(P,)`` cube point of the study's best trial, or ``None``.
            exclude: ``(e, P)`` snapped cube points never to offer, or ``None``.
        """
        if weights.total <= 0 or n_points <= 0:
            return np.zeros((0, self.n_params))
        share = weights.sources / weights.total
        counts = np.floor(share * n_points).astype(int)
        counts[(share > 0) & (counts == 0)] = 1
        taken = np.zeros((0, self.n_params)) if exclude is None else np.asarray(exclude)
        n_excluded = len(taken)
        for m, k in zip(self.matched, counts, strict=True):
            order = np.argsort(-m.scores, kind="stable")
            start, kept = 0, 0
            while kept < k and start < len(order):
                # The next rows of the source, best first, as many as still wanted.
                rows = m.points[order[start : start + k - kept]].copy()
                start += len(rows)
                holes = np.isnan(rows)
                fill = (
                    np.broadcast_to(incumbent, rows.shape)
                    if incumbent is not None
                    else rng.random(rows.shape)
                )
                rows[holes] = fill[holes]
                for row in self._encoder.snap(rows):
                    if not same_points(row[None, :], taken)[0]:
                        taken = np.vstack([taken, row])
                        kept += 1
        return taken[n_excluded:][:n_points]

    def is_best_configuration(self, point: np.ndarray, source: int = 0) -> bool:
        """Whether the snapped cube point ``point`` (``(P,)``) is the best configuration
        of the matched source ``source``, on the parameters that source knows (the others
        are taken from ``point``, as :meth:`prior_points` fills them)."""
        m = self.matched[source]
        row = m.points[int(np.argmax(m.scores))].copy()
        holes = np.isnan(row)
        row[holes] = np.asarray(point, dtype=float)[holes]
        return bool(same_points(self._encoder.snap(row[None, :]), point[None, :])[0])

    def describe(self, weights: PriorWeights, top: int = 5) -> dict[str, Any]:
        """Compact record of the sources and weights, for a trial's reasons."""
        order = np.argsort(-weights.sources, kind="stable")[:top]
        return {
            "n_sources": len(self.matched),
            "n_offered": self.n_offered,
            "source_weight": round(weights.total, 4),
            "own_weight": round(weights.target, 4),
            **({"consensus": list(weights.consensus)} if weights.consensus else {}),
            **({"distrusted": weights.distrusted} if weights.distrusted else {}),
            "top_sources": {
                self.matched[i].name: round(float(weights.sources[i]), 4) for i in order
            },
        }


def startup_ranking(
    sources: Sequence[SourceStudy],
    name: str,
    prior_of: Callable[[dict[str, BaseDistribution]], MetaPrior],
) -> list[tuple[int, int]]:
    """``(source, row)`` pairs for a study's first trials, best first.

    The sources that know the parameter ``name`` are grouped by search space (parameter
    names and distributions) and the largest group is used. The best
    :data:`CONSENSUS_PER_SOURCE` configurations of each of its sources come first,
    ordered by the mean prediction of the *other* sources (``prior_of(space)``, the
    meta-prior of that search space, which the first proposal reuses): the first trial
    is the configuration the sources agree on, not the favourite of whichever source
    happens to be listed first. Every other configuration follows by its normal score
    within its source.
    """
    groups: dict[tuple, list[int]] = {}
    for i, src in enumerate(sources):
        if name in src.distributions:
            key = tuple(sorted((k, repr(v)) for k, v in src.distributions.items()))
            groups.setdefault(key, []).append(i)
    if not groups:
        return []
    members = max(groups.values(), key=len)
    entries = sorted(
        (-float(score), i, row)
        for i in members
        for row, score in enumerate(normal_scores(sources[i].values))
    )
    space = dict(sources[members[0]].distributions)
    head = _consensus(sources, members, prior_of(space), space)
    seen = set(head)
    return head + [(i, row) for _, i, row in entries if (i, row) not in seen]


def _consensus(
    sources: Sequence[SourceStudy],
    members: list[int],
    prior: MetaPrior,
    space: dict[str, BaseDistribution],
) -> list[tuple[int, int]]:
    """The best configurations (``(source, row)``) of the sources ``members``, which
    share the search space ``space``, ordered by the mean prediction of the other
    sources; empty when fewer than two sources have a model there."""
    if len(prior) < 2:
        return []
    encoder = SearchSpaceEncoder(space)
    picks, rows = [], []
    for i in members:
        src = sources[i]
        for row in np.argsort(-src.values, kind="stable")[:CONSENSUS_PER_SOURCE]:
            try:
                cube = encoder.encode(dict(src.params[row]))
            except (KeyError, ValueError):  # a trial without every parameter
                continue
            picks.append((i, int(row)))
            rows.append(encoder.snap(cube[None, :])[0])
    if not picks:
        return []
    preds = prior.source_predictions(np.array(rows))  # (S, k)
    others = np.array(prior.source_indices)[:, None] != np.array([i for i, _ in picks])
    score = (preds * others).sum(axis=0) / np.maximum(others.sum(axis=0), 1)
    return [picks[k] for k in np.argsort(-score, kind="stable")]
