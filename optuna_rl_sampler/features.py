"""Per-candidate features: what the policy sees of the study at each proposal.

The state of a study is summarised, for each of the ``N`` candidates, by a fixed list of
numbers (:data:`FEATURE_NAMES`) that do not depend on the number of parameters or their
types. That is what lets one small network score candidates in any search space: it
never sees coordinates, only how a candidate relates to the evidence.

Features, all bounded to about ``[-1, 1]``:

* ``mean``, ``std``: GP posterior of the candidate's normal score (higher is better);
* ``z_improve``: ``(mean - best) / std``, the standardised gap to the incumbent;
* ``log_ei_rel``, ``mean_rel``, ``ucb_rel``: expected improvement (log), mean and an
  upper confidence bound *relative to the best candidate of the set* (1 = best);
* ``dist_obs``, ``dist_pending``, ``dist_incumbent``: Euclidean distances (divided by
  the square root of the number of parameters) to the nearest evaluated point, the
  nearest running trial, and the incumbent; ``is_duplicate`` flags a candidate that was
  already evaluated;
* ``progress``: trials so far over the budget; ``log_n_obs``, ``log_n_params``: size of
  the evidence and of the space;
* ``source_*``: one-hot candidate source (see :mod:`optuna_rl_sampler.candidates`);
* ``prior_score``, ``has_prior``: the meta-prior's expected quality of the candidate
  (0 and 0 when no prior is loaded).

SHAPES:
    candidates: (N, D) embedded candidate points
    observed: (n, D) embedded evaluated points, scores: (n,)
    pending: (p, D)
    features: (N, F) with F = len(FEATURE_NAMES)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.candidates import SOURCES
from optuna_rl_sampler.surrogate import fit_gp

__all__ = ["FEATURE_NAMES", "StateFeatures", "candidate_features", "log_expected_improvement"]

FEATURE_NAMES: tuple[str, ...] = (
    "mean",
    "std",
    "z_improve",
    "log_ei_rel",
    "mean_rel",
    "ucb_rel",
    "dist_obs",
    "dist_pending",
    "dist_incumbent",
    "is_duplicate",
    "progress",
    "log_n_obs",
    "log_n_params",
    *(f"source_{s}" for s in SOURCES),
    "prior_score",
    "has_prior",
)
N_FEATURES = len(FEATURE_NAMES)
_LOG_2PI_HALF = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class StateFeatures:
    """Features of one candidate set plus the surrogate's raw outputs (for reasons)."""

    features: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def log_expected_improvement(z: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``log(EI)`` for a maximised normal score, stable for very negative ``z``.

    ``EI = std * (z * Phi(z) + phi(z))``; for ``z < -5`` the asymptotic form
    ``log phi(z) - 2 log|z|`` avoids cancellation.
    """
    from scipy.special import log_ndtr  # lazy: scipy.special is slow to import

    z = np.asarray(z, dtype=float)
    log_phi = -0.5 * z * z - _LOG_2PI_HALF
    safe = np.maximum(z, -5.0)
    h = safe * np.exp(log_ndtr(safe)) + np.exp(-0.5 * safe * safe - _LOG_2PI_HALF)
    tail = log_phi - 2.0 * np.log(np.maximum(-z, 1.0))
    log_h = np.where(z < -5.0, tail, np.log(np.maximum(h, 1e-300)))
    return np.log(np.maximum(std, 1e-12)) + log_h


def _min_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(b) == 0:
        return np.full(len(a), np.inf)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d.min(1), 0.0))


def _relative(v: np.ndarray) -> np.ndarray:
    """Map a score to ``[0, 1]`` with 1 for the best of the set, by the set's spread."""
    spread = v.std() + 1e-9
    return 1.0 + np.clip((v - v.max()) / spread, -5.0, 0.0) / 5.0


def candidate_features(
    candidates: np.ndarray,
    source: np.ndarray,
    observed: np.ndarray,
    scores: np.ndarray,
    *,
    pending: np.ndarray | None = None,
    progress: float,
    n_params: int,
    prior_score: np.ndarray | None = None,
) -> StateFeatures:
    """Compute the ``(N, F)`` feature matrix for a candidate set.

    Args:
        candidates: ``(N, D)`` embedded candidates.
        source: ``(N,)`` source index of each candidate (into ``SOURCES``).
        observed: ``(n, D)`` embedded evaluated points; may be empty.
        scores: ``(n,)`` their normal scores, higher is better.
        pending: ``(p, D)`` embedded points of running trials, or ``None``.
        progress: Trials so far divided by the budget, in ``[0, 1]``.
        n_params: Number of parameters ``P`` (distances are divided by ``sqrt(P)``).
        prior_score: ``(N,)`` meta-prior scores in ``[-1, 1]``, or ``None``.
    """
    n_cand = len(candidates)
    pending = np.zeros((0, candidates.shape[1])) if pending is None else pending
    norm = np.sqrt(max(n_params, 1))
    if len(observed) > 0:
        gp = fit_gp(observed, scores, pending)
        mean, std = gp.predict(candidates)
        best = float(scores.max())
        incumbent = observed[int(np.argmax(scores))][None, :]
        dist_inc = _min_dist(candidates, incumbent) / norm
    else:
        mean, std = np.zeros(n_cand), np.ones(n_cand)
        best = 0.0
        dist_inc = np.ones(n_cand)
    z = (mean - best) / std
    log_ei = log_expected_improvement(z, std)
    log_ei_rel = 1.0 + np.clip(log_ei - log_ei.max(), -10.0, 0.0) / 10.0
    dist_obs = _min_dist(candidates, observed) / norm
    dist_pend = _min_dist(candidates, pending) / norm
    feats = np.empty((n_cand, N_FEATURES))
    feats[:, 0] = np.clip(mean, -3.0, 3.0) / 3.0
    feats[:, 1] = np.clip(std, 0.0, 1.0)
    feats[:, 2] = np.clip(z, -5.0, 5.0) / 5.0
    feats[:, 3] = log_ei_rel
    feats[:, 4] = _relative(mean)
    feats[:, 5] = _relative(mean + 2.0 * std)
    feats[:, 6] = np.minimum(dist_obs, 1.0)
    feats[:, 7] = np.minimum(dist_pend, 1.0)
    feats[:, 8] = np.minimum(dist_inc, 1.0)
    feats[:, 9] = (dist_obs < 1e-9).astype(float)
    feats[:, 10] = float(np.clip(progress, 0.0, 1.0))
    feats[:, 11] = np.log1p(len(observed)) / np.log1p(1000.0)
    feats[:, 12] = np.log1p(n_params) / np.log1p(100.0)
    feats[:, 13 : 13 + len(SOURCES)] = np.eye(len(SOURCES))[source]
    if prior_score is None:
        feats[:, -2] = 0.0
        feats[:, -1] = 0.0
    else:
        feats[:, -2] = np.clip(prior_score, -1.0, 1.0)
        feats[:, -1] = 1.0
    return StateFeatures(feats, mean, std)
