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
* ``prior_score``: the meta-prior's expected quality of the candidate (the
  weight-averaged prediction of the source studies, see :mod:`optuna_rl_sampler.meta_prior`);
  ``prior_rel``: the same relative to the best candidate of the set; ``prior_weight``:
  how much weight the sources have earned by ranking this study's trials (all three 0
  without sources).

The surrogate is fitted by the caller (:mod:`optuna_rl_sampler.proposal`); this module
only turns its posterior and the distances into the named columns.

SHAPES:
    candidates: (N, D) embedded candidate points
    mean, std:  (N,) surrogate posterior at the candidates
    observed: (n, D) embedded evaluated points, scores: (n,)
    pending: (p, D)
    features: (N, F) with F = len(FEATURE_NAMES)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_rl_sampler.candidates import SOURCES

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
    "prior_rel",
    "prior_weight",
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
    mean: np.ndarray,
    std: np.ndarray,
    pending: np.ndarray | None = None,
    progress: float,
    n_params: int,
    prior_score: np.ndarray | None = None,
    prior_weight: float = 0.0,
) -> StateFeatures:
    """Compute the ``(N, F)`` feature matrix for a candidate set, column by name.

    Args:
        candidates: ``(N, D)`` embedded candidates.
        source: ``(N,)`` source index of each candidate (into ``SOURCES``).
        observed: ``(n, D)`` embedded evaluated points; may be empty.
        scores: ``(n,)`` their normal scores, higher is better.
        mean: ``(N,)`` surrogate posterior mean at the candidates (0 with no evidence).
        std: ``(N,)`` surrogate posterior standard deviation (1 with no evidence).
        pending: ``(p, D)`` embedded points of running trials, or ``None``.
        progress: Trials so far divided by the budget, in ``[0, 1]``.
        n_params: Number of parameters ``P`` (distances are divided by ``sqrt(P)``).
        prior_score: ``(N,)`` meta-prior scores in normal-score units, or ``None``.
        prior_weight: Total weight of the source studies, in ``[0, 1]``.
    """
    n_cand = len(candidates)
    pending = np.zeros((0, candidates.shape[1])) if pending is None else pending
    norm = np.sqrt(max(n_params, 1))
    finite = np.isfinite(scores)
    if finite.any():
        best = float(scores[finite].max())
        incumbent = observed[int(np.argmax(np.where(finite, scores, -np.inf)))][None, :]
        dist_inc = _min_dist(candidates, incumbent) / norm
    else:
        best = 0.0
        dist_inc = np.ones(n_cand)
    z = (mean - best) / std
    log_ei = log_expected_improvement(z, std)
    dist_obs = _min_dist(candidates, observed) / norm
    ones = np.ones(n_cand)
    cols: dict[str, np.ndarray] = {
        "mean": np.clip(mean, -3.0, 3.0) / 3.0,
        "std": np.clip(std, 0.0, 1.0),
        "z_improve": np.clip(z, -5.0, 5.0) / 5.0,
        "log_ei_rel": 1.0 + np.clip(log_ei - log_ei.max(), -10.0, 0.0) / 10.0,
        "mean_rel": _relative(mean),
        "ucb_rel": _relative(mean + 2.0 * std),
        "dist_obs": np.minimum(dist_obs, 1.0),
        "dist_pending": np.minimum(_min_dist(candidates, pending) / norm, 1.0),
        "dist_incumbent": np.minimum(dist_inc, 1.0),
        "is_duplicate": (dist_obs < 1e-9).astype(float),
        "progress": float(np.clip(progress, 0.0, 1.0)) * ones,
        "log_n_obs": np.log1p(len(observed)) / np.log1p(1000.0) * ones,
        "log_n_params": np.log1p(n_params) / np.log1p(100.0) * ones,
    }
    one_hot = np.eye(len(SOURCES))[source]
    for k, name in enumerate(SOURCES):
        cols[f"source_{name}"] = one_hot[:, k]
    if prior_score is None or prior_weight <= 0.0:
        cols["prior_score"] = cols["prior_rel"] = cols["prior_weight"] = np.zeros(n_cand)
    else:
        cols["prior_score"] = np.clip(prior_score, -3.0, 3.0) / 3.0
        cols["prior_rel"] = _relative(prior_score)
        cols["prior_weight"] = float(np.clip(prior_weight, 0.0, 1.0)) * ones
    feats = np.column_stack([cols[name] for name in FEATURE_NAMES])
    return StateFeatures(feats, mean, std)
