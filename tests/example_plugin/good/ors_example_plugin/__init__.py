"""A third-party plugin: a model family, a lazily loaded one, a generator and a file format."""

from __future__ import annotations

from typing import Any

import numpy as np

from optuna_rl_sampler.recsys.hookspecs import hookimpl
from optuna_rl_sampler.recsys.plugins import LazyModelFamily


class ShuffledModel:
    """Ranks items in one fixed random order (seeded)."""

    def __init__(self, order: np.ndarray) -> None:
        self.order = order

    def recommend(self, queries: Any, k: int) -> np.ndarray:
        from optuna_rl_sampler.recsys.baselines import rank_by_scores

        scores = np.empty(len(self.order))
        scores[self.order] = np.arange(len(self.order), 0, -1)
        return rank_by_scores(scores, queries, k)

    def size_bytes(self) -> int:
        return int(self.order.nbytes)


class Shuffle:
    """A model family whose only parameter is the seed of its order."""

    name = "example-shuffle"

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {"offset": trial.suggest_int("offset", 0, 9)}

    def default_params(self) -> dict[str, Any]:
        return {"offset": 0}

    def fit(self, params, train, valid=None, on_step=None, seed=0) -> ShuffledModel:
        rng = np.random.default_rng(seed + params["offset"])
        for step in range(3):
            if on_step is not None:
                on_step(step, 0.1 * step)
        return ShuffledModel(rng.permutation(train.n_items))


def tiny(n_users: int = 5, n_items: int = 4):
    import pandas as pd

    from optuna_rl_sampler.recsys.data import Interactions

    users = np.repeat(np.arange(n_users), 2)
    events = pd.DataFrame(
        {
            "user": users.astype(np.int64),
            "item": (users + np.tile([0, 1], n_users)) % n_items,
            "weight": 1.0,
            "label": np.int8(1),
            "timestamp": np.arange(len(users), dtype=np.int64),
            "group": np.int64(-1),
        }
    )
    return Interactions(events=events, n_users=n_users, n_items=n_items, name="example_tiny")


@hookimpl
def register_models(register):
    register(Shuffle())
    register(LazyModelFamily("example-lazy", "ors_example_plugin.heavy:Heavy"))


def read_pairs(path):
    """A file of ``user,item`` lines (ids in time order) as implicit-feedback events."""
    import pandas as pd

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import events_frame

    pairs = pd.read_csv(path, names=["user", "item"], dtype="int64")
    users, user = np.unique(pairs["user"].to_numpy(), return_inverse=True)
    items, item = np.unique(pairs["item"].to_numpy(), return_inverse=True)
    events = events_frame(user, item, timestamp=np.arange(len(pairs)))
    return Interactions(
        events=events, n_users=len(users), n_items=len(items), name="example_pairs"
    )


@hookimpl
def register_datasets(register):
    register("example-tiny", tiny, "Ten events; call with n_users= and n_items=.")
    register("example-pairs", read_pairs, "A file of user,item lines; call with path=FILE.")
