"""``two-tower``: a dual-encoder retriever trained with a corrected in-batch softmax.

Two small networks map a user and an item to vectors in the same space; the score is
their cosine similarity divided by a temperature, so the whole catalogue is ranked by
one matrix product (Covington et al. 2016; Yi et al. 2019).

- **User tower**: the mean of the embeddings of the user's last ``history_len``
  positive items (a separate input table), the user's id embedding, the mean id
  embedding of the user's friends where the data has a social graph, and the user's
  features (categorical codes embedded, numeric columns standardised and projected),
  concatenated and passed through a one-hidden-layer MLP with dropout.
- **Item tower**: the item's id embedding plus its feature embeddings (e.g. the news
  ``category``; numeric columns such as ``publish_time`` standardised and projected).

Training examples are the positive events in time order; the history of an example is
the user's events *before* it, so the model learns to predict the next item and never
sees its target in its input. Each batch is scored against its own distinct positive items
(in-batch negatives; an item that is the positive of several examples is one class,
so there are no "accidental hits") with the sampled-softmax loss and the logQ
correction of Yi et al. 2019: ``logits[b, j] = s(u_b, v_j) / temperature - log q_j``,
where ``q_j`` is item ``j``'s share of the training events (how likely it is to appear
as an in-batch negative), so popular items are not over-penalised. Optimiser: AdamW,
lazy (row-wise) for the id embeddings, whose gradients are sparse.

Items and users with no training events keep zero id embeddings (they never receive
gradients), so a cold user is ranked by the tower's bias and features, and an unseen
item by its features only.

After every epoch the validation NDCG@10 is computed (full-catalogue ranking minus
``Queries.exclude``, or ranking ``Queries.candidates``) and passed to ``on_step``; the
weights of the best epoch are kept.

Example:

    .. code-block:: python

        family = TwoTower()
        model = family.fit(family.default_params(), split.train, valid_queries, seed=0)
        top10 = model.recommend(valid_queries, k=10)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optuna_rl_sampler.recsys.candidates import CandidateLists
from optuna_rl_sampler.recsys.models.base import with_steps

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import StepCallback

#: Cut-off of the validation NDCG reported to ``on_step``.
EVAL_K = 10

_PARAM_NAMES = (
    "embedding_dim",
    "lr",
    "weight_decay",
    "temperature",
    "batch_size",
    "epochs",
    "dropout",
    "history_len",
)


class TwoTower:
    """Two-tower retriever (user history + id + friends + features; item id + features).

    Args:
        num_threads: Torch CPU threads while fitting and ranking (the caller's setting is
            restored afterwards). The default is 1: the towers' many small operations
            gain little from intra-op threads, and with two threads on a two-core
            machine that is also running other work a trial was measured 3x to 9x
            slower than with one (OpenMP threads wait on each other).
        max_friends: Friends per user in the social mean (a seeded sample where a user
            has more).
        keep_best: Keep the weights of the epoch with the best validation NDCG@10
            (otherwise the last epoch's).
    """

    name = "two-tower"

    def __init__(
        self, *, num_threads: int = 1, max_friends: int = 50, keep_best: bool = True
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads!r}.")
        if max_friends < 1:
            raise ValueError(f"max_friends must be >= 1, got {max_friends!r}.")
        self.num_threads = int(num_threads)
        self.max_friends = int(max_friends)
        self.keep_best = bool(keep_best)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The usual dual-encoder search space (log scales for rates and temperature)."""
        return {
            "embedding_dim": trial.suggest_categorical("embedding_dim", [16, 32, 64, 128]),
            "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-8, 1e-2, log=True),
            "temperature": trial.suggest_float("temperature", 0.02, 1.0, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024, 2048]),
            "epochs": trial.suggest_int("epochs", 1, 20),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "history_len": trial.suggest_int("history_len", 5, 100, log=True),
        }

    def default_params(self) -> dict[str, Any]:
        """Common untuned settings: 64 dimensions, temperature 0.1, batches of 512.

        The learning rate is 3e-3 rather than Adam's textbook 1e-3, which leaves the
        lazily updated id embeddings far from converged after 10 epochs.
        """
        return {
            "embedding_dim": 64,
            "lr": 3e-3,
            "weight_decay": 1e-6,
            "temperature": 0.1,
            "batch_size": 512,
            "epochs": 10,
            "dropout": 0.1,
            "history_len": 20,
        }

    def params_for_steps(self, params: dict[str, Any], steps: int) -> dict[str, Any]:
        """``params`` with ``steps`` epochs: a refit without validation queries trains
        as many epochs as the kept weights had (see
        :meth:`~optuna_rl_sampler.recsys.objective.RecsysObjective.refit_params`)."""
        return with_steps(params, "epochs", steps)

    def fit(
        self,
        params: dict[str, Any],
        train: Interactions,
        valid: Queries | None = None,
        on_step: StepCallback | None = None,
        seed: int = 0,
    ) -> TwoTowerModel:
        """Train on the positive events of ``train``.

        Args:
            params: A configuration from :meth:`suggest` or :meth:`default_params`.
            train: The training events.
            valid: Validation queries; if given, their NDCG@10 is passed to
                ``on_step(epoch, value)`` after every epoch (epochs count from 1).
            on_step: Called once per epoch; ``optuna.TrialPruned`` raised inside
                propagates out of :meth:`fit`.
            seed: Seeds initialisation, batch order and dropout (the global torch RNG
                state is restored afterwards). Same seed, same model.

        Returns:
            The trained model.
        """
        p = _check_params(params)
        data = _TrainingData(train, p["history_len"], self.max_friends, seed)
        if data.n_examples == 0:
            raise ValueError(
                f"{train.name!r} has no positive events (label 1) to train two-tower on; "
                "check the split."
            )
        rng = np.random.default_rng(seed)
        with _num_threads(self.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _Net(data, p["embedding_dim"], p["dropout"])
            opt = _LazyAdamW(net, p["lr"], p["weight_decay"])
            model = TwoTowerModel(net, data, p["temperature"], self.num_threads)
            best_value, best_state, best_epoch = -np.inf, None, None
            inv_t = 1.0 / p["temperature"]
            bs = min(p["batch_size"], data.n_examples)
            for epoch in range(1, p["epochs"] + 1):
                net.train()
                perm = torch.from_numpy(rng.permutation(data.n_examples))
                for start in range(0, data.n_examples, bs):
                    ex = perm[start : start + bs]
                    if len(ex) < 2:
                        continue
                    # Columns: the batch's distinct positives, so a repeated item is
                    # one class (no accidental hits); logQ-corrected logits.
                    cols, target = torch.unique(data.ev_item[ex], return_inverse=True)
                    u = net.user_vectors(data.ev_user[ex], data.train_history(ex))
                    v = net.item_vectors(cols)
                    logits = torch.addmm(-data.log_q[cols], u * inv_t, v.T)
                    loss = F.cross_entropy(logits, target)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if valid is not None and len(valid):
                    value = model.validation_ndcg(valid, EVAL_K)
                    if self.keep_best and value > best_value:
                        best_value, best_state = value, copy.deepcopy(net.state_dict())
                        best_epoch = epoch
                    if on_step is not None:
                        on_step(epoch, value)
            if best_state is not None:
                net.load_state_dict(best_state)
                model.best_step = best_epoch
        net.eval()
        return model


class TwoTowerModel:
    """A trained :class:`TwoTower`; ranks by cosine similarity of the towers' vectors."""

    def __init__(
        self, net: _Net, data: _TrainingData, temperature: float, num_threads: int = 1
    ) -> None:
        #: The epoch whose weights were kept (best validation NDCG@10); ``None`` when
        #: the last epoch's are used (no validation queries, or ``keep_best=False``).
        self.best_step: int | None = None
        self.net = net
        self.data = data
        self.temperature = temperature
        self.num_threads = num_threads

    @torch.no_grad()
    def user_vectors(self, users: np.ndarray) -> torch.Tensor:
        """Unit user vectors from each user's last ``history_len`` training items."""
        self.net.eval()
        u = self.data.user_codes(users)
        return self.net.user_vectors(u, self.data.last_history(u))

    @torch.no_grad()
    def item_vectors(self) -> torch.Tensor:
        """Unit vectors of the whole catalogue (zero for an item with no signal)."""
        self.net.eval()
        return self.net.item_vectors(torch.arange(self.data.n_items))

    def recommend(self, queries: Queries, k: int) -> np.ndarray:
        """Top-``k`` items per query, ``-1`` padded (see :class:`FittedModel`)."""
        if k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        with _num_threads(self.num_threads), torch.no_grad():
            return self._recommend(queries, k)

    def _recommend(self, queries: Queries, k: int) -> np.ndarray:
        n_q = len(queries)
        out = np.full((n_q, k), -1, dtype=np.int64)
        if n_q == 0:
            return out
        _check_items(queries, self.data.n_items)
        v = self.item_vectors()
        if queries.candidates is not None:
            cands = CandidateLists.from_lists(queries.candidates)
            u = self.user_vectors(np.asarray(queries.users))
            qid = torch.from_numpy(cands.query_index())
            scores = (u[qid] * v[torch.from_numpy(cands.items)]).sum(1)
            return cands.top_k(scores.numpy(), k)
        kk = min(k, self.data.n_items)
        ex_sizes = (
            np.fromiter((len(e) for e in queries.exclude), dtype=np.int64, count=n_q)
            if queries.exclude is not None
            else np.zeros(n_q, dtype=np.int64)
        )
        block = max(1, (1 << 22) // max(self.data.n_items, 1))
        for start in range(0, n_q, block):
            stop = min(n_q, start + block)
            scores = self.user_vectors(np.asarray(queries.users[start:stop])) @ v.T
            if ex_sizes[start:stop].sum():
                rows = np.repeat(np.arange(stop - start), ex_sizes[start:stop])
                cols = np.concatenate(
                    [np.asarray(e, dtype=np.int64) for e in queries.exclude[start:stop]]
                )
                ok = (cols >= 0) & (cols < self.data.n_items)
                scores[torch.from_numpy(rows[ok]), torch.from_numpy(cols[ok])] = float("-inf")
            vals, idx = torch.topk(scores, kk, dim=1)
            top = idx.numpy().astype(np.int64)
            top[~torch.isfinite(vals).numpy()] = -1
            out[start:stop, :kk] = top
        return out

    def validation_ndcg(self, queries: Queries, k: int = EVAL_K) -> float:
        """Mean NDCG@k of :meth:`recommend` on ``queries`` (0 for a query with no target)."""
        from optuna_rl_sampler.recsys.metrics import ndcg_at_k

        return float(ndcg_at_k(self.recommend(queries, k), queries.targets, k).mean())

    def size_bytes(self) -> int:
        """Bytes of the network's parameters."""
        return int(sum(p.numel() * p.element_size() for p in self.net.parameters()))


# ---------------------------------------------------------------------------- internals


@contextlib.contextmanager
def _num_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` CPU threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(_PARAM_NAMES))
    missing = sorted(set(_PARAM_NAMES) - set(params))
    if unknown or missing:
        raise ValueError(
            f"two-tower params: unknown {unknown}, missing {missing}; pass the dict from "
            "suggest(trial) or default_params()."
        )
    p = {
        "embedding_dim": int(params["embedding_dim"]),
        "lr": float(params["lr"]),
        "weight_decay": float(params["weight_decay"]),
        "temperature": float(params["temperature"]),
        "batch_size": int(params["batch_size"]),
        "epochs": int(params["epochs"]),
        "dropout": float(params["dropout"]),
        "history_len": int(params["history_len"]),
    }
    for name in ("embedding_dim", "batch_size", "history_len"):
        if p[name] < 1:
            raise ValueError(f"{name} must be >= 1, got {params[name]!r}.")
    if p["epochs"] < 0:
        raise ValueError(f"epochs must be >= 0, got {params['epochs']!r}.")
    if p["lr"] <= 0 or p["temperature"] <= 0:
        raise ValueError(
            f"lr and temperature must be positive, got lr={params['lr']!r}, "
            f"temperature={params['temperature']!r}."
        )
    if not 0.0 <= p["dropout"] < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {params['dropout']!r}.")
    return p


def _check_items(queries: Queries, n_items: int) -> None:
    if queries.candidates is None:
        return
    for c in queries.candidates:
        c = np.asarray(c)
        if len(c) and (c.min() < 0 or c.max() >= n_items):
            bad = c[(c < 0) | (c >= n_items)][0]
            raise ValueError(
                f"candidate item code {int(bad)} is outside the catalogue [0, {n_items}) "
                "the model was trained on; use the same item codes as the training data."
            )


def _split_features(
    frame: pd.DataFrame | None, n_rows: int
) -> tuple[list[tuple[torch.Tensor, int]], torch.Tensor | None]:
    """Categorical columns as (codes with ``n`` = unknown, n) and numeric ones z-scored.

    A column is categorical when it holds integers with at most 1000 distinct values
    and at most half as many values as rows (e.g. ``category``, ``community``); other
    numeric columns (e.g. ``publish_time``) are standardised. Missing rows get the
    unknown code and 0.
    """
    cats: list[tuple[torch.Tensor, int]] = []
    if frame is None or len(frame) == 0:
        return cats, None
    idx = np.asarray(frame.index, dtype=np.int64)
    ok_rows = (idx >= 0) & (idx < n_rows)
    nums = []
    for name in frame.columns:
        col = frame[name]
        if not np.issubdtype(col.dtype, np.number):
            continue
        values = col.to_numpy()
        n_unique = col.nunique()
        if np.issubdtype(col.dtype, np.integer) and n_unique <= min(1000, len(col) // 2):
            known = ok_rows & (values >= 0)
            uniq, inv = np.unique(values[known], return_inverse=True)
            codes = np.full(n_rows, len(uniq), dtype=np.int64)
            codes[idx[known]] = inv
            cats.append((torch.from_numpy(codes), len(uniq)))
        else:
            x = values.astype(np.float64)
            fin = np.isfinite(x) & ok_rows
            if fin.sum() < 2:
                continue
            mu, sd = x[fin].mean(), x[fin].std()
            full = np.zeros(n_rows, dtype=np.float32)
            full[idx[fin]] = (x[fin] - mu) / (sd if sd > 0 else 1.0)
            nums.append(full)
    num = torch.from_numpy(np.stack(nums, axis=1)) if nums else None
    return cats, num


class _TrainingData:
    """Tensors the towers read: event sequences, friends, features, log q."""

    def __init__(self, train: Interactions, history_len: int, max_friends: int, seed: int):
        self.n_users = int(train.n_users)
        self.n_items = int(train.n_items)
        self.history_len = history_len
        ev = train.events
        pos = ev[ev["label"].to_numpy() == 1]
        users = pos["user"].to_numpy(np.int64)
        items = pos["item"].to_numpy(np.int64)
        ts = pos["timestamp"].to_numpy(np.int64)
        # Events at the same time (data with no clock) are ordered at random, so an
        # arbitrary file order (e.g. by item id) does not become a "sequence".
        ties = np.random.default_rng(seed).random(len(users))
        order = np.lexsort((ties, ts, users))
        users, items = users[order], items[order]
        self.n_examples = len(users)
        self.ev_user = torch.from_numpy(users)
        self.ev_item = torch.from_numpy(items)
        counts = np.bincount(users, minlength=self.n_users + 1)
        ends = np.cumsum(counts)
        self.user_start = torch.from_numpy(ends - counts)  # length n_users + 1
        self.user_end = torch.from_numpy(ends)
        self.ev_start = self.user_start[self.ev_user]
        item_count = np.bincount(items, minlength=self.n_items).astype(np.float64)
        self.item_seen = torch.from_numpy(item_count > 0)
        self.user_seen = torch.from_numpy(counts[: self.n_users] > 0)
        q = item_count / max(item_count.sum(), 1.0)
        self.log_q = torch.from_numpy(np.log(np.maximum(q, 1e-12)).astype(np.float32))
        self.lags = torch.arange(1, history_len + 1)

        self.friends: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if train.social is not None and len(train.social):
            self.friends = _friend_lists(train.social, self.n_users, max_friends, seed)
        self.user_cats, self.user_num = _split_features(train.user_features, self.n_users + 1)
        self.item_cats, self.item_num = _split_features(train.item_features, self.n_items)

    def _window(self, end: torch.Tensor, start: torch.Tensor) -> _Bags:
        """Items at positions ``max(start, end - history_len) .. end - 1``, flat."""
        lo = torch.maximum(start, end - self.history_len)
        counts = (end - lo).clamp(min=0)
        seg = torch.repeat_interleave(torch.arange(len(end)), counts)
        first = torch.cumsum(counts, 0) - counts
        pos = lo[seg] + torch.arange(len(seg)) - first[seg]
        return _Bags(self.ev_item[pos], seg, counts)

    def train_history(self, ex: torch.Tensor) -> _Bags:
        """The ``history_len`` events before each training example (its own user's)."""
        return self._window(ex, self.ev_start[ex])

    def friend_bags(self, users: torch.Tensor) -> _Bags:
        """Each user's (sampled) friends."""
        codes, start, count = self.friends
        counts = count[users]
        seg = torch.repeat_interleave(torch.arange(len(users)), counts)
        first = torch.cumsum(counts, 0) - counts
        return _Bags(codes[start[users][seg] + torch.arange(len(seg)) - first[seg]], seg, counts)

    def user_codes(self, users: np.ndarray) -> torch.Tensor:
        """User codes, with codes outside the training range mapped to the cold row."""
        u = np.asarray(users, dtype=np.int64)
        u = np.where((u >= 0) & (u < self.n_users), u, self.n_users)
        return torch.from_numpy(u)

    def last_history(self, u: torch.Tensor) -> _Bags:
        """Each user's last ``history_len`` training items (for ranking)."""
        return self._window(self.user_end[u], self.user_start[u])


class _Bags:
    """Variable-length bags of codes: ``codes`` flat, ``seg`` their bag, ``counts``."""

    def __init__(self, codes: torch.Tensor, seg: torch.Tensor, counts: torch.Tensor) -> None:
        self.codes, self.seg, self.counts = codes, seg, counts

    def mean(self, table: torch.Tensor) -> torch.Tensor:
        """Mean row of ``table`` per bag (zeros for an empty bag); sparse gradient."""
        rows = F.embedding(self.codes, table, sparse=True)
        out = torch.zeros(len(self.counts), table.shape[1], dtype=table.dtype)
        out = out.index_add(0, self.seg, rows)
        return out / self.counts.clamp(min=1).unsqueeze(1).to(table.dtype)


def _friend_lists(
    social: pd.DataFrame, n_users: int, max_friends: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSR friend lists ``(codes, start, count)`` over ``n_users + 1`` rows; a seeded
    sample of at most ``max_friends`` friends per user."""
    src = social["src"].to_numpy(np.int64)
    dst = social["dst"].to_numpy(np.int64)
    ok = (src != dst) & (src >= 0) & (src < n_users) & (dst >= 0) & (dst < n_users)
    src, dst = src[ok], dst[ok]
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(src)), src))
    src, dst = src[order], dst[order]
    counts = np.bincount(src, minlength=n_users + 1)
    rank = np.arange(len(src)) - (np.cumsum(counts) - counts)[src]
    keep = rank < max_friends
    src, dst = src[keep], dst[keep]
    counts = np.bincount(src, minlength=n_users + 1)
    start = np.cumsum(counts) - counts
    return torch.from_numpy(dst), torch.from_numpy(start), torch.from_numpy(counts)


class _LazyAdamW:
    """AdamW for the dense layers, lazy AdamW for the id embeddings (sparse gradients).

    The id tables (users, items, history items) get sparse gradients: only the rows of
    a batch are updated (``SparseAdam``), and the decoupled weight decay
    ``w <- w * (1 - lr * weight_decay)`` is applied to those rows when they are
    updated. This keeps a step's cost independent of the catalogue size.
    """

    def __init__(self, net: _Net, lr: float, weight_decay: float) -> None:
        self.sparse = [net.item_emb.weight, net.hist_emb.weight, net.user_emb.weight]
        ids = {id(p) for p in self.sparse}
        dense = [p for p in net.parameters() if id(p) not in ids]
        self.dense_opt = torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay)
        self.sparse_opt = torch.optim.SparseAdam(self.sparse, lr=lr)
        self.decay = 1.0 - lr * weight_decay

    def zero_grad(self) -> None:
        self.dense_opt.zero_grad(set_to_none=True)
        self.sparse_opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self) -> None:
        self.dense_opt.step()
        self.sparse_opt.step()
        if self.decay != 1.0:
            for p in self.sparse:
                if p.grad is not None:
                    rows = p.grad._indices()[0].unique()
                    p[rows] *= self.decay


class _Net(nn.Module):
    """The two towers. SHAPES: users ``(B,)`` and ``B`` history bags -> ``(B, D)`` unit rows."""

    def __init__(self, data: _TrainingData, dim: int, dropout: float) -> None:
        super().__init__()
        self.data = data
        n_u, n_i = data.n_users, data.n_items
        # Item side: id embedding (the output table) plus feature embeddings.
        self.item_emb = nn.Embedding(n_i, dim, sparse=True)
        nn.init.normal_(self.item_emb.weight, std=0.1)
        with torch.no_grad():
            self.item_emb.weight[~data.item_seen] = 0.0
        self.item_cat_emb = nn.ModuleList(
            nn.Embedding(n + 1, dim, padding_idx=n) for _, n in data.item_cats
        )
        self.item_num = (
            nn.Linear(data.item_num.shape[1], dim, bias=False)
            if data.item_num is not None
            else None
        )
        # User side: history items (an input table), id, friends, features.
        self.hist_emb = nn.Embedding(n_i, dim, sparse=True)
        nn.init.normal_(self.hist_emb.weight, std=0.1)
        self.user_emb = nn.Embedding(n_u + 1, dim, padding_idx=n_u, sparse=True)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        with torch.no_grad():
            self.user_emb.weight[:n_u][~data.user_seen] = 0.0
            self.user_emb.weight[n_u] = 0.0
        self.user_cat_emb = nn.ModuleList(
            nn.Embedding(n + 1, dim, padding_idx=n) for _, n in data.user_cats
        )
        self.user_num = (
            nn.Linear(data.user_num.shape[1], dim) if data.user_num is not None else None
        )
        n_parts = 2 + (data.friends is not None) + len(data.user_cats)
        n_parts += data.user_num is not None
        self.user_mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_parts * dim, 2 * dim),
            nn.ReLU(),
            nn.Linear(2 * dim, dim),
        )

    def user_vectors(self, users: torch.Tensor, history: _Bags) -> torch.Tensor:
        d = self.data
        parts = [
            history.mean(self.hist_emb.weight),
            self.user_emb(users),
        ]
        if d.friends is not None:
            parts.append(d.friend_bags(users).mean(self.user_emb.weight))
        for (codes, _), emb in zip(d.user_cats, self.user_cat_emb, strict=True):
            parts.append(emb(codes[users]))
        if self.user_num is not None:
            parts.append(self.user_num(d.user_num[users]))
        return F.normalize(self.user_mlp(torch.cat(parts, dim=1)), dim=1)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        d = self.data
        v = self.item_emb(items)
        for (codes, _), emb in zip(d.item_cats, self.item_cat_emb, strict=True):
            v = v + emb(codes[items])
        if self.item_num is not None:
            v = v + self.item_num(d.item_num[items])
        return F.normalize(v, dim=1)
