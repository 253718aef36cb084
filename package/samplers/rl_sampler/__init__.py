"""OptunaHub package ``samplers/rl_sampler``: :class:`RLSampler` from ``optuna-rl-sampler``.

The sampler, its pretrained policies and the corpus of past studies it transfers from
are distributed as the ``optuna-rl-sampler`` package (``pip install optuna-rl-sampler``);
this module exposes them under OptunaHub.
"""

from __future__ import annotations

try:
    from optuna_rl_sampler import RLSampler
    from optuna_rl_sampler import SourceStudy
except ModuleNotFoundError as err:
    if err.name != "optuna_rl_sampler":
        raise
    raise ModuleNotFoundError(
        "samplers/rl_sampler needs the optuna-rl-sampler package: "
        "pip install -r https://hub.optuna.org/samplers/rl_sampler/requirements.txt "
        "(or pip install optuna-rl-sampler).",
        name=err.name,
    ) from err

__all__ = ["RLSampler", "SourceStudy"]
