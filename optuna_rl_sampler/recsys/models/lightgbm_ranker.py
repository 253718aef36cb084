"""``lightgbm-ranker``: a LightGBM LambdaRank model over retrieved candidates.

The model is the second stage of a two-stage recommender. For every query the first
stage, :class:`~optuna_rl_sampler.recsys.candidates.CandidateIndex`, supplies candidate
items (the shown items of an impression, or the item-kNN / friends / popularity
candidates of a full-catalogue query) and one feature row per (query, candidate) pair;
LightGBM's ``lambdarank`` objective (Burges 2010) learns to order each candidate list.

Training lists come from the training part alone, so nothing leaks from validation or
test. They are held out of it the way the validation queries were held out of the
data (:func:`~optuna_rl_sampler.recsys.splits.holdout_protocol` and the ``holdout_*``
functions of :mod:`optuna_rl_sampler.recsys.splits`):

- ``"impression"`` (validation queries rank shown items): the latest ``holdout_share``
  of the training impressions are the lists, their clicks the positives, the earlier
  events the history;
- ``"temporal"`` (every validation query is later than the training data): the
  positives after the ``1 - holdout_share`` time quantile of the training part are
  each user's targets, the events before it the history; older windows of the same
  length add lists until there are ``max_train_queries``;
- ``"leave-last-out"`` (otherwise): each user's last positive event is the target, the
  rest of the training part the history.

Candidates and features of the training lists are built from their history only.
Lists with no positive (or only positives) among the candidates carry no gradient in
LambdaRank and are dropped. Where the positive events have graded weights
(ratings, play counts) a target's label is its weight tercile (1-3), so the
``label_gain`` choice matters; with implicit feedback all positives are 1 and
``"linear"`` and ``"exponential"`` coincide.

The validation queries are ranked the way :meth:`LightGBMRankerModel.recommend` ranks
them, and their NDCG@10 (with the ideal list counting every target, also those the
candidates missed) drives early stopping and is reported to ``on_step`` after every
boosting round.

Example:

    .. code-block:: python

        family = LightGBMRanker()
        model = family.fit(family.default_params(), split.train, valid_queries)
        top10 = model.recommend(valid_queries, k=10)
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from optuna_rl_sampler.recsys.candidates import FEATURE_NAMES
from optuna_rl_sampler.recsys.candidates import CandidateIndex
from optuna_rl_sampler.recsys.candidates import CandidateLists
from optuna_rl_sampler.recsys.models.base import with_steps
from optuna_rl_sampler.recsys.splits import holdout_last_positive
from optuna_rl_sampler.recsys.splits import holdout_latest_impressions
from optuna_rl_sampler.recsys.splits import holdout_protocol
from optuna_rl_sampler.recsys.splits import holdout_time_windows

if TYPE_CHECKING:
    import lightgbm as lgb
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import StepCallback

#: Cut-off of the validation NDCG reported to ``on_step``.
EVAL_K = 10

_PARAM_NAMES = (
    "num_leaves",
    "learning_rate",
    "min_child_samples",
    "feature_fraction",
    "bagging_fraction",
    "lambda_l1",
    "lambda_l2",
    "n_estimators",
    "lambdarank_truncation_level",
    "label_gain",
)
_LABEL_GAINS = ("linear", "exponential")
_MAX_GRADE = 3
#: Maps positive-event weights to integer relevance grades.
Grader = Callable[[np.ndarray], np.ndarray]
#: Time cuts of the temporal protocol (more training lists from older windows).
_TEMPORAL_CUTS = 3


class LightGBMRanker:
    """LightGBM LambdaRank over item-kNN, friends and popularity candidates.

    Args:
        n_candidates: Candidates per full-catalogue query (training, validation and
            :meth:`~LightGBMRankerModel.recommend`; at least ``k`` there).
        max_train_queries: Most training lists (those with a positive among their
            candidates) to build; users are drawn at random, seeded.
        early_stopping_rounds: Stop when the validation NDCG@10 has not improved for
            this many rounds (only with validation queries).
        holdout_share: Share of the training part (latest impressions, or latest
            positive events) held out as training lists in the impression and temporal
            protocols.
        num_threads: LightGBM threads. The default is 1: on a two-core machine that is
            also running other work, two OpenMP threads made a fit 30x to 100x slower
            (each thread waits on the other at every parallel region); raise it on a
            dedicated machine.
        index_options: Keyword arguments for :class:`CandidateIndex` (e.g.
            ``{"neighbours": 200}``).
        cache: Keep the candidate indexes and the training lists of each training
            part and reuse them in later fits on the same part (the same
            :class:`Interactions` object) with the same seed. They depend on the data,
            the seed and the options above, never on the parameters of :meth:`fit`,
            so a study that fits one split many times builds them once; results are
            identical. The cache holds the data it was built from; :meth:`clear_cache`
            frees it. Off by default, so a family fitted on many datasets does not
            accumulate them.
    """

    name = "lightgbm-ranker"

    def __init__(
        self,
        *,
        n_candidates: int = 100,
        max_train_queries: int = 5000,
        early_stopping_rounds: int = 20,
        holdout_share: float = 0.2,
        num_threads: int = 1,
        index_options: dict[str, Any] | None = None,
        cache: bool = False,
    ) -> None:
        if n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {n_candidates!r}.")
        if early_stopping_rounds < 1:
            raise ValueError(f"early_stopping_rounds must be >= 1, got {early_stopping_rounds!r}.")
        if max_train_queries < 1:
            raise ValueError(f"max_train_queries must be >= 1, got {max_train_queries!r}.")
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads!r}.")
        if not 0.0 < holdout_share < 1.0:
            raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share!r}.")
        self.n_candidates = int(n_candidates)
        self.max_train_queries = int(max_train_queries)
        self.early_stopping_rounds = int(early_stopping_rounds)
        self.holdout_share = float(holdout_share)
        self.num_threads = int(num_threads)
        self.index_options = dict(index_options or {})
        self.cache = bool(cache)
        self._cache: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._cache_hits = 0

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The usual LightGBM ranking search space (log scales where practitioners use them)."""
        return {
            "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
            "n_estimators": trial.suggest_int("n_estimators", 50, 500),
            "lambdarank_truncation_level": trial.suggest_int("lambdarank_truncation_level", 5, 50),
            "label_gain": trial.suggest_categorical("label_gain", list(_LABEL_GAINS)),
        }

    def default_params(self) -> dict[str, Any]:
        """LightGBM's own defaults (``lambda_*`` at the space's floor, 1e-8, i.e. ~0)."""
        return {
            "num_leaves": 31,
            "learning_rate": 0.1,
            "min_child_samples": 20,
            "feature_fraction": 1.0,
            "bagging_fraction": 1.0,
            "lambda_l1": 1e-8,
            "lambda_l2": 1e-8,
            "n_estimators": 100,
            "lambdarank_truncation_level": 30,
            "label_gain": "exponential",
        }

    def params_for_steps(self, params: dict[str, Any], steps: int) -> dict[str, Any]:
        """``params`` with ``steps`` boosting rounds: a refit without validation queries
        trains as many rounds as early stopping kept (see
        :meth:`~optuna_rl_sampler.recsys.objective.RecsysObjective.refit_params`)."""
        return with_steps(params, "n_estimators", steps)

    def fit(
        self,
        params: dict[str, Any],
        train: Interactions,
        valid: Queries | None = None,
        on_step: StepCallback | None = None,
        seed: int = 0,
    ) -> LightGBMRankerModel:
        """Build training lists from ``train``, boost, early-stop on ``valid``.

        Args:
            params: A configuration from :meth:`suggest` or :meth:`default_params`.
            train: The training events (histories and the pseudo-targets).
            valid: Validation queries; if given, their NDCG@10 is reported to
                ``on_step(round, value)`` after every boosting round (rounds count from
                1) and early-stops the boosting.
            on_step: Called once per round; ``optuna.TrialPruned`` raised inside
                propagates out of :meth:`fit`.
            seed: Seeds the query sampling and LightGBM (bagging, feature sampling).

        Returns:
            The trained model, using the best round on ``valid`` where given.
        """
        import lightgbm as lgb

        lgb_params = self._lgb_params(params, seed)
        protocol = holdout_protocol(train, valid)
        exclude_seen = True if valid is None else valid.exclude is not None
        x_tr, y_tr, sizes_tr = self._training_lists(train, protocol, exclude_seen, seed)

        index = self._index(train, seed)
        dtrain = lgb.Dataset(
            x_tr, label=y_tr, group=sizes_tr, feature_name=list(FEATURE_NAMES), free_raw_data=True
        )
        valid_sets: list[lgb.Dataset] = []
        callbacks: list[Any] = []
        feval = None
        cands_v = index.for_queries(valid, self.n_candidates) if valid is not None else None
        if cands_v is not None and len(cands_v.items):
            x_v = index.features(cands_v, valid.users, valid.timestamps)
            evaluator = _NdcgEvaluator(cands_v, valid.targets, valid.n_items, EVAL_K)
            sizes_v = cands_v.sizes
            dvalid = lgb.Dataset(
                x_v,
                label=evaluator.labels.astype(np.int32),
                group=sizes_v[sizes_v > 0],
                reference=dtrain,
            )
            valid_sets = [dvalid]
            feval = evaluator
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
            if on_step is not None:
                callbacks.append(_StepReporter(on_step))
        booster = lgb.train(
            lgb_params,
            dtrain,
            num_boost_round=int(params["n_estimators"]),
            valid_sets=valid_sets,
            valid_names=["valid"] * len(valid_sets),
            feval=feval,
            callbacks=callbacks,
        )
        best = int(booster.best_iteration) if booster.best_iteration > 0 else None
        return LightGBMRankerModel(booster, index, self.n_candidates, best, self.num_threads)

    # ------------------------------------------------------------------ internals

    def cache_info(self) -> dict[str, int]:
        """``{"entries": ..., "hits": ...}``: what :attr:`cache` holds and how often it
        was reused."""
        return {"entries": len(self._cache), "hits": self._cache_hits}

    def clear_cache(self) -> None:
        """Drop the cached candidate indexes and training lists (and the data they hold)."""
        self._cache.clear()
        self._cache_hits = 0

    def _from_cache(self, key: tuple[Any, ...], keep: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, or its cached value when :attr:`cache` is on.

        ``key`` holds ``id(keep)``; the entry holds ``keep`` so that the id is not reused
        by another object while the entry lives.
        """
        if not self.cache:
            return compute()
        entry = self._cache.get(key)
        if entry is not None:
            self._cache_hits += 1
            return entry[1]
        value = compute()
        self._cache[key] = (keep, value)
        return value

    def _index(self, history: Interactions, seed: int) -> CandidateIndex:
        return self._from_cache(
            ("index", id(history), seed),
            history,
            lambda: CandidateIndex(history, **{"seed": seed, **self.index_options}),
        )

    def _lgb_params(self, params: dict[str, Any], seed: int) -> dict[str, Any]:
        unknown = sorted(set(params) - set(_PARAM_NAMES))
        missing = sorted(set(_PARAM_NAMES) - set(params))
        if unknown or missing:
            raise ValueError(
                f"lightgbm-ranker params: unknown {unknown}, missing {missing}; pass the "
                "dict from suggest(trial) or default_params()."
            )
        gain_kind = params["label_gain"]
        if gain_kind not in _LABEL_GAINS:
            raise ValueError(f"label_gain must be one of {_LABEL_GAINS}, got {gain_kind!r}.")
        grades = np.arange(32, dtype=np.float64)
        gain = grades if gain_kind == "linear" else np.exp2(grades) - 1.0
        return {
            "objective": "lambdarank",
            "metric": "None",
            "num_leaves": int(params["num_leaves"]),
            "learning_rate": float(params["learning_rate"]),
            "min_data_in_leaf": int(params["min_child_samples"]),
            "feature_fraction": float(params["feature_fraction"]),
            "bagging_fraction": float(params["bagging_fraction"]),
            "bagging_freq": 1,
            "lambda_l1": float(params["lambda_l1"]),
            "lambda_l2": float(params["lambda_l2"]),
            "lambdarank_truncation_level": int(params["lambdarank_truncation_level"]),
            "label_gain": gain.tolist(),
            "num_threads": self.num_threads,
            "seed": int(seed),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _training_lists(
        self,
        train: Interactions,
        protocol: str,
        exclude_seen: bool,
        seed: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, graded labels and list sizes of the training lists (cached)."""
        return self._from_cache(
            ("lists", id(train), protocol, exclude_seen, seed),
            train,
            lambda: self._build_training_lists(train, protocol, exclude_seen, seed),
        )

    def _build_training_lists(
        self,
        train: Interactions,
        protocol: str,
        exclude_seen: bool,
        seed: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, graded labels and list sizes of the training lists.

        The lists are built block by block (users in a seeded random order) until
        ``max_train_queries`` lists with a positive among their candidates exist.
        """
        rng = np.random.default_rng(seed)
        if protocol == "impression":
            share, most = self.holdout_share, self.max_train_queries
            sets = [holdout_latest_impressions(train, share, most, rng)]
        elif protocol == "temporal":
            sets = holdout_time_windows(train, self.holdout_share, _TEMPORAL_CUTS, rng)
        else:
            sets = [holdout_last_positive(train, rng)]
        grade = _grader(train)
        xs, ys, ss = [], [], []
        n_lists = 0
        block = 2048
        for pseudo, start in ((p, a) for p in sets for a in range(0, len(p.users), block)):
            if n_lists >= self.max_train_queries:
                break
            if start == 0:
                index = self._index(pseudo.history, seed)
            stop = min(start + block, len(pseudo.users))
            u = pseudo.users[start:stop]
            if pseudo.candidates is not None:
                cands = CandidateLists.from_lists(pseudo.candidates[start:stop])
            else:
                exclude = _seen_lists(index, u) if exclude_seen else None
                cands = index.generate(u, self.n_candidates, exclude=exclude)
            label = _graded_labels(
                cands, pseudo.targets[start:stop], pseudo.weights[start:stop], grade
            )
            qid = cands.query_index()
            n_pos = np.bincount(qid[label > 0], minlength=len(u))
            useful = (n_pos > 0) & (n_pos < cands.sizes)
            keep = useful[qid]
            if not keep.any():
                continue
            xs.append(index.features(cands, u, pseudo.times[start:stop])[keep])
            ys.append(label[keep])
            ss.append(cands.sizes[useful])
            n_lists += int(useful.sum())
        if not xs:
            raise ValueError(
                f"No training list of {train.name!r} ({protocol} protocol) has a held-out "
                f"positive among its candidates (n_candidates={self.n_candidates}); the "
                "data is too small or too sparse for lightgbm-ranker (use more data or a "
                "larger n_candidates)."
            )
        x, y, sizes = np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)
        n_keep = min(self.max_train_queries, len(sizes))
        n_rows = int(sizes[:n_keep].sum())
        return x[:n_rows], y[:n_rows], sizes[:n_keep]


class LightGBMRankerModel:
    """A trained :class:`LightGBMRanker`: candidates from the full training data, ranked.

    Attributes:
        booster: The LightGBM booster.
        index: The :class:`CandidateIndex` of the whole training part.
        best_iteration: Boosting rounds used for prediction (``None``: all).
    """

    def __init__(
        self,
        booster: lgb.Booster,
        index: CandidateIndex,
        n_candidates: int,
        best_iteration: int | None,
        num_threads: int = 1,
    ) -> None:
        self.booster = booster
        self.index = index
        self.n_candidates = n_candidates
        self.best_iteration = best_iteration
        self.num_threads = num_threads

    @property
    def best_step(self) -> int | None:
        """The boosting round early stopping kept (``None`` without validation queries)."""
        return self.best_iteration

    def score(
        self, cands: CandidateLists, users: np.ndarray, timestamps: np.ndarray | None = None
    ) -> np.ndarray:
        """Ranker scores of every (query, candidate) pair of ``cands``."""
        x = self.index.features(cands, users, timestamps)
        if len(x) == 0:
            return np.zeros(0)
        return self.booster.predict(
            x, num_iteration=self.best_iteration, num_threads=self.num_threads
        )

    def recommend(self, queries: Queries, k: int) -> np.ndarray:
        """Top-``k`` items per query, ``-1`` padded (see :class:`FittedModel`)."""
        if k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        cands = self.index.for_queries(queries, max(self.n_candidates, k))
        return cands.top_k(self.score(cands, queries.users, queries.timestamps), k)

    def size_bytes(self) -> int:
        """Size of the booster's text dump."""
        return len(self.booster.model_to_string(num_iteration=self.best_iteration))

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each feature, for reports."""
        gains = self.booster.feature_importance("gain", iteration=self.best_iteration)
        return dict(zip(FEATURE_NAMES, map(float, gains), strict=True))


class _NdcgEvaluator:
    """LightGBM ``feval``: NDCG@k of the ranked candidate lists against all targets.

    The ideal list holds ``min(|targets|, k)`` items even where the candidates missed some
    targets, so the value equals :func:`~optuna_rl_sampler.recsys.metrics.ndcg_at_k` of
    :meth:`LightGBMRankerModel.recommend` (averaged over all queries; a query without
    targets counts 0).
    """

    def __init__(
        self, cands: CandidateLists, targets: Sequence[np.ndarray], n_items: int, k: int
    ) -> None:
        self.k = k
        self.labels = cands.labels(targets, n_items)
        n_q = len(cands)
        qid = cands.query_index()
        self.qid = qid
        self.pos = np.arange(len(cands.items)) - cands.offsets[qid]
        width = int(cands.sizes.max(initial=0))
        self.shape = (n_q, max(width, 1))
        self.rel = np.zeros(self.shape)
        self.rel[qid, self.pos] = self.labels
        n_t = _n_distinct(targets)
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_t, k)]
        self.disc = disc
        self.inv_ideal = np.divide(1.0, ideal, out=np.zeros_like(ideal), where=ideal > 0)
        self.n_q = max(n_q, 1)

    def value(self, preds: np.ndarray) -> float:
        mat = np.full(self.shape, -np.inf)
        mat[self.qid, self.pos] = preds
        kk = min(self.k, self.shape[1])
        part = np.argpartition(-mat, kk - 1, axis=1)[:, :kk] if kk < self.shape[1] else None
        if part is None:
            part = np.broadcast_to(np.arange(self.shape[1]), self.shape)
        order = np.argsort(-np.take_along_axis(mat, part, 1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, 1)
        rel = np.take_along_axis(self.rel, top, 1)
        dcg = rel @ self.disc[: rel.shape[1]]
        return float((dcg * self.inv_ideal).sum() / self.n_q)

    def __call__(self, preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
        return f"ndcg@{self.k}", self.value(np.asarray(preds, dtype=np.float64)), True


class _StepReporter:
    """LightGBM callback: ``on_step(round, validation NDCG@10)`` after every round."""

    order = 20  # before early stopping (30), so a pruned trial stops at once
    before_iteration = False

    def __init__(self, on_step: StepCallback) -> None:
        self.on_step = on_step

    def __call__(self, env: Any) -> None:
        for entry in env.evaluation_result_list or ():
            if entry[1].startswith("ndcg@"):
                self.on_step(env.iteration + 1, float(entry[2]))
                return


def _n_distinct(lists: Sequence[np.ndarray]) -> np.ndarray:
    """Number of distinct non-negative codes in each list, vectorised."""
    sizes = np.fromiter((len(t) for t in lists), dtype=np.int64, count=len(lists))
    if sizes.sum() == 0:
        return np.zeros(len(lists), dtype=np.int64)
    flat = np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in lists])
    qid = np.repeat(np.arange(len(lists), dtype=np.int64), sizes)
    ok = flat >= 0
    keys = np.unique(qid[ok] * (int(flat.max()) + 1) + flat[ok])
    return np.bincount(keys // (int(flat.max()) + 1), minlength=len(lists)).astype(np.int64)


def _grader(train: Interactions) -> Grader:
    """Map positive-event weights to grades 1..3 (terciles); all 1 if weights are constant."""
    w = train.positives()["weight"].to_numpy(np.float64)
    w = w[np.isfinite(w)]
    if len(w) == 0 or np.ptp(w) == 0:
        return lambda weights: np.ones(len(weights), dtype=np.int32)
    cuts = np.unique(np.quantile(w, np.linspace(0, 1, _MAX_GRADE + 1)[1:-1]))

    def grade(weights: np.ndarray) -> np.ndarray:
        g = 1 + np.searchsorted(cuts, np.nan_to_num(weights, nan=w.min()), side="right")
        return np.minimum(g, _MAX_GRADE).astype(np.int32)

    return grade


def _seen_lists(index: CandidateIndex, users: np.ndarray) -> list[np.ndarray]:
    rows = index.X[np.where((users >= 0) & (users < index.n_users), users, index.n_users)]
    return np.split(rows.indices.astype(np.int64), rows.indptr[1:-1])


def _graded_labels(
    cands: CandidateLists, targets: list[np.ndarray], weights: list[np.ndarray], grade: Grader
) -> np.ndarray:
    """``(n_pairs,)`` int32: the grade of each candidate that is a target, else 0."""
    sizes = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    if sizes.sum() == 0 or len(cands.items) == 0:
        return np.zeros(len(cands.items), dtype=np.int32)
    t_items = np.concatenate(targets).astype(np.int64)
    t_grade = grade(np.concatenate(weights).astype(np.float64))
    span = int(max(t_items.max(), cands.items.max())) + 1
    t_keys = np.repeat(np.arange(len(targets), dtype=np.int64), sizes) * span + t_items
    order = np.argsort(t_keys, kind="stable")
    t_keys, t_grade = t_keys[order], t_grade[order]
    keys = cands.query_index() * span + cands.items
    pos = np.minimum(np.searchsorted(t_keys, keys), len(t_keys) - 1)
    return np.where(t_keys[pos] == keys, t_grade[pos], 0).astype(np.int32)
