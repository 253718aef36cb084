"""The built-in plugin: the project's own model families and dataset sources.

Listed in :data:`optuna_rl_sampler.recsys.plugins.DEFAULT_PLUGINS`, so it is always registered.
The heavy models are registered as :class:`~optuna_rl_sampler.recsys.plugins.LazyModelFamily`
objects: LightGBM and torch are imported only when ``lightgbm-ranker`` or ``two-tower``
is used. Loaders and generators import their modules when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from optuna_rl_sampler.recsys.hookspecs import hookimpl

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Interactions

#: Domains of the synthetic generators (``make_dataset(domain, size, seed)``).
SYNTHETIC_DOMAINS = ("news", "ecommerce", "social")

_FORMAT_DESCRIPTIONS = {
    "mind": "MIND news impressions (behaviors.tsv, news.tsv)",
    "amazon-seq": "Amazon reviews 5-core as one line per user (S3-Rec files)",
    "yoochoose": "YOOCHOOSE session clicks (SessionId ItemId Time)",
    "lastfm-hetrec": "HetRec 2011 Last.fm plays and friendships",
    "filmtrust": "FilmTrust ratings and trust links",
    "movielens": "MovieLens ratings.csv or u.data",
}


@hookimpl
def register_models(register: Callable[[Any], None]) -> None:
    from optuna_rl_sampler.recsys.baselines import Popularity
    from optuna_rl_sampler.recsys.plugins import LazyModelFamily

    register(Popularity())
    register(
        LazyModelFamily(
            "lightgbm-ranker",
            "optuna_rl_sampler.recsys.models.lightgbm_ranker:LightGBMRanker",
            "LightGBM LambdaRank over candidate features",
        )
    )
    register(
        LazyModelFamily(
            "two-tower",
            "optuna_rl_sampler.recsys.models.two_tower:TwoTower",
            "Two-tower retriever (torch) with in-batch negatives",
        )
    )


def _loader(format: str) -> Callable[..., Interactions]:
    def load(path: str, **kwargs: Any) -> Interactions:
        from optuna_rl_sampler.recsys.loaders import load_dataset

        return load_dataset(path, format=format, **kwargs)

    load.__name__ = f"load_{format.replace('-', '_')}"
    return load


def _generator(domain: str) -> Callable[..., Interactions]:
    def generate(size: str = "small", seed: int = 0, **knobs: Any) -> Interactions:
        from optuna_rl_sampler.recsys.synthetic import make_dataset

        return make_dataset(domain, size, seed, **knobs)

    generate.__name__ = f"make_{domain}"
    return generate


@hookimpl
def register_datasets(register: Callable[..., None]) -> None:
    from optuna_rl_sampler.recsys.loaders import FORMATS

    for format in FORMATS:
        text = _FORMAT_DESCRIPTIONS.get(format, f"Dataset files in the {format!r} format")
        register(format, _loader(format), f"{text}; call with path=FOLDER_OR_FILE.")
    for domain in SYNTHETIC_DOMAINS:
        register(
            f"synthetic-{domain}",
            _generator(domain),
            f"Synthetic {domain} interactions; call with size=, seed= and generator knobs.",
        )
