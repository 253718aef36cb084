"""Where candidate configurations come from: the policy's action set.

At every proposal the policy chooses one point among ``N`` candidates in the unit cube
(see :mod:`optuna_rl_sampler.encoding`). They come from three sources, each tagged so
that the policy can learn how far to trust it:

* ``SOBOL``: a scrambled Sobol sequence, for coverage of the whole space;
* ``LOCAL``: Gaussian moves around the best observed points (incumbents) at several
  scales; a categorical coordinate is redrawn with a small probability instead. A few of
  them are steps instead (:func:`gradient_steps`): from each of the best incumbents,
  along the GP mean's steepest ascent at several step lengths, the numeric coordinates
  only, clipped to the cube. Random moves rarely go straight uphill in 10 dimensions or
  reach a corner of the box; these do (on BBOB's development seeds they took RLSampler's
  regret at 50 trials from 0.033 to 0.025, most of it in 10-D and on the linear slope,
  whose optimum is a corner). Two more kinds aim at precision late in a study without
  sources (the proposal asks for them from its 30th trial on, see
  :data:`~.proposal.PRECISION_FROM`): :func:`mean_ascent`, the local maxima of the GP
  mean uphill of the best incumbents, and :func:`quadratic_step`, points along the
  step to the maximiser of a quadratic model of the raw values around the best trial.
  The GP models normal scores of the ranks, which are robust to outliers but flatten
  the region around a converging incumbent into noise; a quadratic fitted to the
  nearest trials' own values still sees the bowl;
* ``PRIOR``: configurations offered by a meta-prior (good configurations of similar
  past studies); the caller passes them in, the module does not know where they come
  from.

All candidates are snapped to canonical cube positions, so integer, stepped and
categorical values sit at their bin centres.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler._sobol import scrambled_sobol

__all__ = [
    "SOURCES",
    "CandidateSet",
    "generate_candidates",
    "gradient_steps",
    "mean_ascent",
    "quadratic_step",
]

#: Candidate sources, in the order of their one-hot feature columns.
SOURCES = ("sobol", "local", "prior")
SOBOL, LOCAL, PRIOR = range(3)
_LOCAL_SCALES = np.array([0.01, 0.03, 0.1, 0.25])
#: Step lengths (in the unit cube) of :func:`gradient_steps`.
GRADIENT_STEPS = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2])
#: Iterations of :func:`mean_ascent` and its first step length (in the unit cube).
ASCENT_ITERATIONS = 12
ASCENT_FIRST_STEP = 0.05
#: Nearest trials a quadratic model is fitted to, per coefficient (plus 2).
QUADRATIC_POINTS_PER_COEF = 1.5
#: Fractions of the quadratic model's step that :func:`quadratic_step` offers: the
#: model is least sure far from the best trial, so shorter steps come too.
QUADRATIC_FRACTIONS = (1.25, 1.0, 0.75, 0.5, 0.25)
#: Most numeric parameters for a full quadratic (66 coefficients); above it, or with
#: too few trials for one, the model has no cross terms.
QUADRATIC_FULL_MAX_PARAMS = 10


@dataclass(frozen=True)
class CandidateSet:
    """``(N, P)`` cube points, the ``(N,)`` source index of each, and which of the local
    moves are gradient steps (an ``(N,)`` mask; ``None`` when there are none)."""

    points: np.ndarray
    source: np.ndarray
    gradient: np.ndarray | None = None

    def __len__(self) -> int:
        return int(len(self.points))


def gradient_steps(incumbents: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Steps from each incumbent along its gradient, at every :data:`GRADIENT_STEPS`.

    Args:
        incumbents: ``(k, P)`` cube points.
        gradients: ``(k, P)`` ascent directions in the cube (zero where a coordinate
            must not move, e.g. a categorical one); rows without any direction give no
            steps.

    Returns:
        ``(m * len(GRADIENT_STEPS), P)`` points clipped to the cube, the steps of the
        first incumbent with a direction first, shortest step first.
    """
    inc = np.asarray(incumbents, dtype=float)
    grad = np.asarray(gradients, dtype=float)
    norm = np.linalg.norm(grad, axis=1, keepdims=True)
    moving = norm[:, 0] > 1e-12
    if not moving.any():
        return np.empty((0, inc.shape[1]))
    direction = grad[moving] / norm[moving]
    steps = inc[moving][:, None, :] + GRADIENT_STEPS[None, :, None] * direction[:, None, :]
    return np.clip(steps, 0.0, 1.0).reshape(-1, inc.shape[1])


def mean_ascent(
    starts: np.ndarray,
    mean: Callable[[np.ndarray], np.ndarray],
    gradient: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Local maxima of a model's mean, by adaptive steepest ascent from ``starts``.

    Each start moves along its normalised gradient, clipped to the cube; a step that
    raises the mean is taken and the next one is 1.5 times longer, one that does not
    is refused and the next one is halved (from :data:`ASCENT_FIRST_STEP`, for at most
    :data:`ASCENT_ITERATIONS` steps).

    Args:
        starts: ``(k, P)`` cube points.
        mean: Model mean at ``(k, P)`` cube points, ``(k,)``.
        gradient: Its ascent direction at ``(k, P)`` cube points, ``(k, P)`` (zero where
            a coordinate must not move, e.g. a categorical one).

    Returns:
        ``(k, P)`` the points reached (a start without any uphill direction stays).

    Examples:
        >>> import numpy as np
        >>> bowl = lambda x: -((x - 0.3) ** 2).sum(axis=1)
        >>> slope = lambda x: -2.0 * (x - 0.3)
        >>> np.round(mean_ascent(np.array([[0.6, 0.2]]), bowl, slope), 2)
        array([[0.3, 0.3]])
    """
    x = np.array(starts, dtype=float)
    step = np.full(len(x), ASCENT_FIRST_STEP)
    value = mean(x)
    grad = gradient(x)
    for _ in range(ASCENT_ITERATIONS):
        norm = np.linalg.norm(grad, axis=1)
        live = (norm > 1e-12) & (step > 1e-5)
        if not live.any():
            break
        direction = np.zeros_like(grad)
        direction[live] = grad[live] / norm[live, None]
        trial = np.clip(x + step[:, None] * direction, 0.0, 1.0)
        trial_value = mean(trial)
        better = live & (trial_value > value)
        x[better], value[better] = trial[better], trial_value[better]
        step = np.where(better, step * 1.5, step * 0.5)
        if better.any():  # the gradient changes only where a point moved
            grad = gradient(x)
    return x


def quadratic_step(
    points: np.ndarray, values: np.ndarray, is_categorical: np.ndarray | None = None
) -> np.ndarray:
    """Candidates at the maximiser of a quadratic model around the best trial.

    The model is fitted by least squares to the standardised values of the trials
    nearest the best one (numeric coordinates only): with cross terms when the space
    has at most :data:`QUADRATIC_FULL_MAX_PARAMS` numeric parameters and there are
    enough trials, else one curvature per coordinate. Its maximiser is the Newton step
    where the model is concave; elsewhere the step is regularised until it is, and the
    step goes no farther than the farthest trial the model was fitted to (a trust
    region). The candidates lie along it at :data:`QUADRATIC_FRACTIONS` of its length
    (a quarter beyond it to a quarter of it), clipped to the cube: the model is least
    sure far from the best trial. Categorical coordinates keep the best trial's
    choices.

    Args:
        points: ``(n, P)`` cube points of the evaluated trials.
        values: ``(n,)`` their values, higher is better (non-finite ones are ignored).
        is_categorical: ``(P,)`` mask of the categorical coordinates.

    Returns:
        ``(len(QUADRATIC_FRACTIONS), P)`` cube points, or ``(0, P)`` with too few
        trials (fewer than :data:`QUADRATIC_POINTS_PER_COEF` per coefficient, plus 2)
        or no spread in their values.

    Examples:
        Trials of a bowl whose top is at ``(0.3, 0.6)``: one step reaches it.

        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((30, 2))
        >>> y = -((x - [0.3, 0.6]) ** 2 * [1.0, 5.0]).sum(axis=1)
        >>> np.round(quadratic_step(x, y)[QUADRATIC_FRACTIONS.index(1.0)], 3)
        array([0.3, 0.6])
    """
    points = np.asarray(points, dtype=float)
    values = np.asarray(values, dtype=float)
    n_params = points.shape[1] if points.ndim == 2 else 0
    none = np.empty((0, n_params))
    numeric = (
        np.ones(n_params, dtype=bool) if is_categorical is None else ~np.asarray(is_categorical)
    )
    finite = np.isfinite(values)
    # Copies only where rows or coordinates are left out (a proposal at 10,000 trials
    # holds these arrays next to everything else it has read).
    x, y = (points, values) if finite.all() else (points[finite], values[finite])
    if not numeric.all():
        x = x[:, numeric]
    p = x.shape[1]
    if p == 0 or len(y) == 0:
        return none
    n_full = (p + 1) * (p + 2) // 2
    full = p <= QUADRATIC_FULL_MAX_PARAMS and len(y) >= QUADRATIC_POINTS_PER_COEF * n_full + 2
    need = int(QUADRATIC_POINTS_PER_COEF * (n_full if full else 2 * p + 1)) + 2
    if len(y) < need:
        return none
    best = int(np.argmax(y))
    gap = x - x[best]
    dist = np.sqrt(np.add.reduce(np.multiply(gap, gap, out=gap), axis=1))  # as norm(gap)
    del gap
    near = np.argsort(dist, kind="stable")[:need]
    radius = float(dist[near].max())
    spread = float(y[near].std())
    if radius <= 0.0 or spread <= 0.0:
        return none
    d = (x[near] - x[best]) / radius
    z = (y[near] - y[near].mean()) / spread
    if full:
        upper = np.triu_indices(p)
        design = np.hstack(
            [np.ones((len(d), 1)), d, (d[:, :, None] * d[:, None, :])[:, upper[0], upper[1]]]
        )
    else:
        design = np.hstack([np.ones((len(d), 1)), d, d * d])
    gram = design.T @ design
    coef = np.linalg.solve(gram + 1e-6 * len(d) * np.eye(len(gram)), design.T @ z)
    grad = coef[1 : 1 + p]
    if full:
        hess = np.zeros((p, p))
        hess[upper] = coef[1 + p :]
        hess = hess + hess.T  # a squared term's coefficient c is half of H_ii = 2c
    else:
        hess = np.diag(2.0 * coef[1 + p :])
    eig = np.linalg.eigvalsh(hess)
    shift = max(0.0, float(eig.max())) + 1e-3 * max(1.0, float(np.abs(eig).max()))
    step = np.linalg.solve(shift * np.eye(p) - hess, grad)
    length = float(np.linalg.norm(step))
    if length > 1.0:
        step /= length
    fractions = np.asarray(QUADRATIC_FRACTIONS)
    out = np.repeat(points[finite][best][None, :], len(fractions), axis=0)
    out[:, numeric] = np.clip(x[best] + np.outer(fractions, step * radius), 0.0, 1.0)
    return out


def generate_candidates(
    n_candidates: int,
    n_params: int,
    rng: np.random.Generator,
    *,
    incumbents: np.ndarray | None = None,
    is_categorical: np.ndarray | None = None,
    prior_points: np.ndarray | None = None,
    local_fraction: float = 0.5,
    gradient_points: np.ndarray | None = None,
) -> CandidateSet:
    """Draw a candidate set.

    Args:
        n_candidates: Total number of candidates ``N`` (at least 1).
        n_params: Dimension ``P`` of the cube.
        rng: Source of randomness (derived from the seed and trial number by the caller).
        incumbents: ``(k, P)`` best observed points, best first; local moves centre on
            them with weights decreasing by rank. ``None`` or empty: no local moves.
        is_categorical: ``(P,)`` mask; categorical coordinates are redrawn uniformly
            with probability ``max(1/P, 0.1)`` instead of being perturbed.
        prior_points: ``(m, P)`` points from a meta-prior, included first (at most a
            quarter of the set).
        local_fraction: Share of the non-prior candidates given to local moves when
            incumbents exist.
        gradient_points: ``(g, P)`` steps along the surrogate's gradient
            (:func:`gradient_steps`); they take the places of the last ``g`` local
            moves (never more than there are), tagged ``LOCAL``.

    Returns:
        The candidates (not yet snapped; see ``SearchSpaceEncoder.snap``).
    """
    if is_categorical is None:
        is_categorical = np.zeros(n_params, dtype=bool)
    parts: list[np.ndarray] = []
    sources: list[np.ndarray] = []
    n_left = n_candidates
    if prior_points is not None and len(prior_points) > 0:
        prior = np.asarray(prior_points, dtype=float)[: max(1, n_candidates // 4)]
        parts.append(np.clip(prior, 0.0, 1.0))
        sources.append(np.full(len(prior), PRIOR))
        n_left -= len(prior)
    n_local = 0
    if incumbents is not None and len(incumbents) > 0:
        n_local = int(round(n_left * local_fraction))
    n_sobol = n_left - n_local
    if n_sobol > 0:
        # Drawing a power of two keeps the sequence balanced; the surplus is discarded.
        # scrambled_sobol equals scipy.stats.qmc.Sobol(n_params, scramble=True,
        # seed=rng).random_base2(m) bit for bit, without the second-long scipy.stats import.
        m = int(np.ceil(np.log2(max(n_sobol, 2))))
        parts.append(scrambled_sobol(n_params, m, rng)[:n_sobol])
        sources.append(np.full(n_sobol, SOBOL))
    if n_local > 0:
        inc = np.asarray(incumbents, dtype=float)
        weights = 1.0 / np.arange(1, len(inc) + 1)
        centre = rng.choice(len(inc), size=n_local, p=weights / weights.sum())
        scale = rng.choice(_LOCAL_SCALES, size=(n_local, 1))
        local = inc[centre] + scale * rng.standard_normal((n_local, n_params))
        if is_categorical.any():
            p_flip = max(1.0 / n_params, 0.1)
            flip = (rng.random((n_local, n_params)) < p_flip) & is_categorical
            local = np.where(is_categorical, inc[centre], local)
            local = np.where(flip, rng.random((n_local, n_params)), local)
        parts.append(np.clip(local, 0.0, 1.0))
        sources.append(np.full(n_local, LOCAL))
    points = np.vstack(parts)
    gradient = None
    n_steps = 0 if gradient_points is None else min(len(gradient_points), n_local)
    if n_steps > 0:
        # The local moves come last: the steps replace the last n_steps of them (drawn
        # all the same, so the random stream is the same with or without steps).
        points[-n_steps:] = np.asarray(gradient_points, dtype=float)[:n_steps]
        gradient = np.zeros(len(points), dtype=bool)
        gradient[-n_steps:] = True
    return CandidateSet(points, np.concatenate(sources).astype(int), gradient)
