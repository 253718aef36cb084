"""optuna-rl-sampler: an Optuna sampler driven by a meta-learned RL policy.

``from optuna_rl_sampler import RLSampler`` is the entry point. Heavy modules (torch,
pandas, LightGBM) are imported only by the parts that need them.
"""

from __future__ import annotations

from typing import Any

from optuna_rl_sampler._version import __version__

__all__ = ["RLSampler", "SourceStudy", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "RLSampler":
        from optuna_rl_sampler.sampler import RLSampler

        return RLSampler
    if name == "SourceStudy":
        from optuna_rl_sampler.sources import SourceStudy

        return SourceStudy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
