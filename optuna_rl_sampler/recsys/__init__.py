"""Recommender-system substrate: data, splits, metrics, model plugins and objectives.

Needs the ``recsys`` extra (``pip install 'optuna-rl-sampler[recsys]'``): importing this
package or any of its modules without pandas, pluggy or LightGBM raises
:class:`~optuna_rl_sampler._missing.MissingExtraError` saying so.
"""

from __future__ import annotations

from typing import Any

from optuna_rl_sampler._missing import require_extra

__all__ = ["Interactions", "load_dataset", "make_objective"]

# Looked up, not imported: pandas, pluggy and LightGBM still load only when used.
require_extra("recsys", "pandas", "pluggy", "lightgbm", feature="optuna_rl_sampler.recsys")


def __getattr__(name: str) -> Any:
    # Lazy: pandas, lightgbm and torch load only when the recommender side is used.
    if name == "Interactions":
        from optuna_rl_sampler.recsys.data import Interactions

        return Interactions
    if name == "load_dataset":
        from optuna_rl_sampler.recsys.loaders import load_dataset

        return load_dataset
    if name == "make_objective":
        from optuna_rl_sampler.recsys.objective import make_objective

        return make_objective
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
