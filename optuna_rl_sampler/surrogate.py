"""The in-study surrogate: a small Gaussian process on the study's own trials.

Pure numerics (arrays in, arrays out); it never sees a Study. The policy does not trust
the surrogate blindly: it only reads the posterior mean and standard deviation as two of
the per-candidate features.

Model: zero-mean GP with a Matern-5/2 kernel of one length scale (isotropic, scaled by
the square root of the embedding width so that one value serves 1 to 50+ parameters),
unit signal variance and a noise variance; both hyperparameters are chosen by the log
marginal likelihood over a small fixed grid. Grid search keeps a fit deterministic,
free of optimiser failures and cheap: a handful of Cholesky factorisations of an
``n x n`` matrix, with ``n`` capped by :func:`select_points`.
Late in a study without sources the proposal asks for short length scales too (0.03
and 0.06), so that a sharp peak of scores around a converging incumbent can be fitted
rather than taken for noise (on BBOB this mattered most on multimodal functions such as
f16). In a space of numeric and categorical parameters the single GP of a proposal
also weighs the categorical columns of the embedding (a third hyperparameter on the
grid, see ``categorical`` in :func:`fit_gp`).

Observations are first turned into standard normal scores of their ranks (see
:func:`normal_scores`), which makes the model indifferent to the objective's scale,
to outliers and to infinite values.

Pending points (trials still running) enter as "kriging believer" fantasies: they are
added to the conditioning set with the posterior mean as their value, which leaves the
mean unchanged and shrinks the variance around them, so parallel workers spread out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GPPosterior", "condition_on_pending", "fit_gp", "normal_scores", "select_points"]

_LENGTH_SCALES = (0.1, 0.2, 0.35, 0.6, 1.0)
#: Shorter length scales added to the grid when a fit is asked for precision
#: (``fit_gp(..., short_length_scales=True)``).
_SHORT_LENGTH_SCALES = (0.03, 0.06)
_NOISES = (1e-4, 1e-2, 0.1)
#: Factors on the embedded columns of categorical parameters that a fit chooses among
#: (with ``categorical``): how far apart two choices are, against a numeric axis.
_CATEGORICAL_WEIGHTS = (1.0, 0.5, 0.25)
#: Log marginal likelihood (nats) by which a factor below 1 must beat the choices at
#: their full distance before the fit takes it (a Bayes factor of about 7).
_CATEGORICAL_EVIDENCE = 2.0
_GRID_POINTS = 80
#: Widest embedding whose mean gradient is summed over an explicit ``(k, m, D)`` array
#: of differences; wider ones (a categorical parameter with hundreds of choices) use
#: matrix products (:meth:`GPPosterior.mean_gradient`).
_PAIRWISE_GRADIENT_DIMS = 64
_SQRT5 = np.sqrt(5.0)


@functools.cache
def _lapack() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """LAPACK's ``potrf``, ``potrs`` and ``trtrs`` for float64 (lazy: scipy is slow to
    import). A fit makes about 20 small factorisations and solves, so it calls them
    directly: ``scipy.linalg.cholesky``, ``cho_solve`` and ``solve_triangular`` call the
    same routines with the same arguments, and their checks and conversions cost about
    as much as the routines themselves at these sizes."""
    from scipy.linalg.lapack import dpotrf
    from scipy.linalg.lapack import dpotrs
    from scipy.linalg.lapack import dtrtrs

    return dpotrf, dpotrs, dtrtrs


def _cho_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L L^T)^{-1} b`` for the lower Cholesky factor ``chol``."""
    x, info = _lapack()[1](chol, b, lower=1)
    if info != 0:  # pragma: no cover - only for malformed arguments
        raise ValueError(f"LAPACK potrs refused argument {-info}.")
    return x


def _solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``L^{-1} b`` for the lower triangular ``chol`` (as ``solve_triangular`` solves
    it: a C-ordered factor is passed transposed, as an upper one)."""
    trtrs = _lapack()[2]
    if chol.flags.f_contiguous:
        x, info = trtrs(chol, b, lower=1, trans=0)
    else:
        x, info = trtrs(chol.T, b, lower=0, trans=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"triangular solve failed (LAPACK trtrs info {info}).")
    return x


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Map values (higher is better) to standard normal scores of their ranks.

    Ties share the mean rank; ``+inf`` and ``-inf`` are the best and worst ranks. With
    ``n`` values the scores are ``ndtri((rank - 0.5) / n)`` where rank is 1-based, so a
    single value scores 0.
    """
    from scipy.special import ndtri  # lazy: scipy is slow to import

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return values.copy()
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1, dtype=float)
    # Average the ranks of ties.
    uniq, inverse = np.unique(values, return_inverse=True)
    if len(uniq) < n:
        sums = np.bincount(inverse, weights=ranks)
        counts = np.bincount(inverse)
        ranks = (sums / counts)[inverse]
    return ndtri((ranks - 0.5) / n)


def select_points(y: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``max_points`` observations to condition the GP on.

    Keeps the best half of the budget by value and fills the rest with a uniform random
    subset of the others, so the cost of a fit stays bounded at any study size while
    the region around the incumbents stays fully resolved.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    n_top = max_points // 2
    order = np.argsort(-y, kind="stable")
    top = order[:n_top]
    rest = rng.choice(order[n_top:], size=max_points - n_top, replace=False)
    return np.sort(np.concatenate([top, rest]))


def _matern52(sq_dist: np.ndarray, length_scale: float) -> np.ndarray:
    r = np.sqrt(np.maximum(sq_dist, 0.0)) / length_scale
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


@dataclass(frozen=True)
class GPPosterior:
    """A fitted GP; :meth:`predict` gives the posterior at new points.

    Attributes:
        x: ``(m, D)`` conditioning inputs (observations, then pending fantasies).
        chol: Lower Cholesky factor of ``K(x, x) + noise * I``.
        alpha: ``(K + noise I)^{-1} y`` for the conditioning values.
        length_scale: Selected length scale (already multiplied by ``sqrt(D)``).
        noise: Selected noise variance.
        input_scale: ``(D,)`` factors applied to every input (``x`` holds them applied),
            or ``None`` for none.
    """

    x: np.ndarray
    chol: np.ndarray
    alpha: np.ndarray
    length_scale: float
    noise: float
    input_scale: np.ndarray | None = None

    def _inputs(self, x_new: np.ndarray) -> np.ndarray:
        x_new = np.asarray(x_new, dtype=float)
        return x_new if self.input_scale is None else x_new * self.input_scale

    def predict_mean(self, x_new: np.ndarray) -> np.ndarray:
        """Posterior mean only at ``(k, D)`` points (skips the variance solve)."""
        return _matern52(_sq_dist(self._inputs(x_new), self.x), self.length_scale) @ self.alpha

    def mean_gradient(self, x_new: np.ndarray) -> np.ndarray:
        """Gradient of the posterior mean at ``(k, D)`` points, ``(k, D)``.

        For the Matern-5/2 kernel ``k(r) = (1 + sqrt(5) r/l + 5 r^2/(3 l^2))
        exp(-sqrt(5) r/l)``, ``dk/dx = -(5 / (3 l^2)) (1 + sqrt(5) r/l) exp(-sqrt(5) r/l)
        (x - x_i)``, which is finite at ``r = 0``.
        """
        x_new = self._inputs(x_new)
        out = self._scaled_gradient(x_new)
        return out if self.input_scale is None else out * self.input_scale

    def _scaled_gradient(self, x_new: np.ndarray) -> np.ndarray:
        if x_new.shape[1] > _PAIRWISE_GRADIENT_DIMS:
            # Wide embeddings (many categorical choices): two matrix products instead of
            # a (k, m, D) array of differences, sum_i c_i (x - x_i) = x sum_i c_i -
            # sum_i c_i x_i, with the distances of predict. Equal up to rounding.
            r = np.sqrt(_sq_dist(x_new, self.x)) / self.length_scale
            scale = -(5.0 / (3.0 * self.length_scale**2))
            weights = scale * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r) * self.alpha
            return x_new * weights.sum(axis=1)[:, None] - weights @ self.x
        diff = x_new[:, None, :] - self.x[None, :, :]
        r = np.sqrt(np.maximum((diff * diff).sum(-1), 0.0)) / self.length_scale
        coef = -(5.0 / (3.0 * self.length_scale**2)) * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r)
        return np.einsum("kn,knd,n->kd", coef, diff, self.alpha)

    def predict(self, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at ``(k, D)`` points."""
        k_star = _matern52(_sq_dist(self._inputs(x_new), self.x), self.length_scale)
        mean = k_star @ self.alpha
        v = _solve_lower(self.chol, k_star.T)
        var = np.maximum(1.0 - (v * v).sum(0), 1e-12)
        return mean, np.sqrt(var)


def _factor(kernel: np.ndarray, noise: float) -> np.ndarray | None:
    """Lower Cholesky factor of ``kernel + (noise + 1e-8) I``, or ``None`` where it is not
    positive definite."""
    k = np.array(kernel, dtype=float)  # a copy: the caller's kernel is reused
    k.flat[:: len(k) + 1] += noise + 1e-8
    chol, info = _lapack()[0](k, lower=1, clean=1, overwrite_a=1)
    return chol if info == 0 else None


def _grid_subset(y: np.ndarray) -> np.ndarray:
    n = len(y)
    if n <= _GRID_POINTS:
        return np.arange(n)
    order = np.argsort(-y, kind="stable")
    top = order[: _GRID_POINTS // 2]
    rest = np.sort(order[_GRID_POINTS // 2 :])
    spread = rest[np.linspace(0, len(rest) - 1, _GRID_POINTS - len(top)).astype(int)]
    return np.sort(np.concatenate([top, spread]))


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    x_pending: np.ndarray | None = None,
    *,
    short_length_scales: bool = False,
    categorical: np.ndarray | None = None,
) -> GPPosterior:
    """Fit the GP to ``(n, D)`` inputs and standardised values ``y`` (``n >= 1``).

    Args:
        x: Embedded observation points.
        y: Their normal scores (see :func:`normal_scores`).
        x_pending: ``(p, D)`` points being evaluated now, added as fantasies.
        short_length_scales: Also try the length scales 0.03 and 0.06, so that a sharp
            peak of scores around a converging incumbent can be fitted rather than
            taken for noise (the proposal asks for them late in a study without
            sources; see :data:`~.proposal.PRECISION_FROM`).
        categorical: ``(D,)`` mask of the embedded columns of categorical parameters.
            Beside numeric columns, the fit then also chooses a factor on them among
            :data:`_CATEGORICAL_WEIGHTS`; one below 1 only when its log marginal
            likelihood is :data:`_CATEGORICAL_EVIDENCE` higher than the best at 1. The
            embedding puts two choices as far apart as the ends of a numeric axis; when
            a choice shifts the values by a little (a loss function, a label gain),
            that keeps what the trials of one choice show about the numeric
            parameters from the others, and the GP predicts an untried choice at the
            best numeric values as a stranger, which the policy rarely picks.

    Returns:
        The posterior with the grid point of highest log marginal likelihood.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, dim = x.shape
    scale = np.sqrt(max(dim, 1))
    # Hyperparameters are chosen on at most _GRID_POINTS observations (the best half and
    # an even spread of the rest); only the chosen setting is factorised on all of them.
    grid = _grid_subset(y)
    y_grid = y[grid]
    cat = None if categorical is None else np.asarray(categorical, dtype=bool)
    if cat is not None and cat.shape != (dim,):
        raise ValueError(
            f"categorical must mark each of the {dim} embedded columns of x, got shape "
            f"{cat.shape}; pass the encoder's embedded_categorical, or None."
        )
    # Only beside numeric columns: on categorical columns alone a common factor is just
    # another length scale.
    mixed = cat is not None and bool(cat.any()) and not bool(cat.all())
    weights = _CATEGORICAL_WEIGHTS if mixed else (1.0,)
    best: tuple[float, float, float, np.ndarray, float] | None = None
    for weight in weights:
        x_grid = x[grid] if weight == 1.0 else np.where(cat, weight, 1.0) * x[grid]
        sq = _sq_dist(x_grid, x_grid)
        lengths = (
            (_SHORT_LENGTH_SCALES + _LENGTH_SCALES) if short_length_scales else _LENGTH_SCALES
        )
        for ls in lengths:
            kernel = _matern52(sq, ls * scale)
            for noise in _NOISES:
                chol = _factor(kernel, noise)
                if chol is None:
                    continue
                alpha = _cho_solve(chol, y_grid)
                lml = -0.5 * y_grid @ alpha - np.log(np.diag(chol)).sum()
                if weight != 1.0:
                    lml -= _CATEGORICAL_EVIDENCE
                if best is None or lml > best[0]:
                    best = (lml, ls * scale, noise, chol, weight)
    if best is None:  # pragma: no cover - the largest noise always factorises
        raise np.linalg.LinAlgError("GP kernel matrix is not positive definite")
    _, length_scale, noise, chol, weight = best
    input_scale = None
    if weight != 1.0:
        input_scale = np.where(cat, weight, 1.0)
        x = x * input_scale
    if len(grid) < n:
        chol = _factor(_matern52(_sq_dist(x, x), length_scale), noise)
        if chol is None:  # pragma: no cover - fall back to the largest noise
            noise = _NOISES[-1]
            chol = _factor(_matern52(_sq_dist(x, x), length_scale), noise)
    alpha = _cho_solve(chol, y)
    post = GPPosterior(x, chol, alpha, length_scale, noise, input_scale)
    if x_pending is not None and len(x_pending) > 0:
        return condition_on_pending(post, x_pending)
    return post


def condition_on_pending(post: GPPosterior, x_pending: np.ndarray) -> GPPosterior:
    """Add running trials at ``(p, D)`` points as kriging-believer fantasies.

    Each pending point gets the posterior mean as its value, so the mean is unchanged
    and the variance shrinks around it. The hyperparameters stay those of ``post``.
    """
    if len(x_pending) == 0:
        return post
    n = len(post.x)
    fantasy, _ = post.predict(x_pending)
    x = np.vstack([post.x, post._inputs(x_pending)])
    # alpha = (K + noise I)^-1 y, so the observed values are recovered from the factor.
    y_obs = post.chol @ (post.chol.T @ post.alpha)
    y = np.concatenate([y_obs[:n], fantasy])
    chol = _factor(_matern52(_sq_dist(x, x), post.length_scale), post.noise)
    if chol is None:  # pragma: no cover - duplicates are absorbed by the noise term
        return post
    alpha = _cho_solve(chol, y)
    return GPPosterior(x, chol, alpha, post.length_scale, post.noise, post.input_scale)
