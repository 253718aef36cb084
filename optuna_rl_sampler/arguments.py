"""RLSampler's constructor arguments, checked.

Every check raises at construction, before any trial runs, with a message that names
the argument, the value given and what to pass instead: :class:`TypeError` for a value
of the wrong type (``n_candidates=2.5``, ``independent_sampler="random"``) and
:class:`ValueError` for one out of range (``seed=-1``, ``budget=0``). The weights that
``meta_model`` names are loaded by :func:`optuna_rl_sampler.policy.load_policies`.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler

__all__ = [
    "check_bool",
    "check_constraints_func",
    "check_int",
    "check_meta_model",
    "check_sampler",
]


def check_int(
    name: str, value: Any, minimum: int, maximum: int | None = None, *, hint: str
) -> int:
    """``value`` as an int in ``[minimum, maximum]``, or an error naming ``name``.

    Args:
        name: The argument's name, for the message.
        value: The value given; ``bool`` is refused although it is an int.
        minimum: The least value accepted.
        maximum: The greatest value accepted, or ``None`` for no bound.
        hint: What to pass instead (``"an int such as 256"``), for the message.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {hint}; got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}. Pass {hint}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}. Pass {hint}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool, or a :class:`TypeError` naming ``name`` (``1`` is refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_sampler(sampler: Any) -> None:
    """Raise a :class:`TypeError` unless ``sampler`` (``independent_sampler``) is a
    :class:`~optuna.samplers.BaseSampler` instance or ``None``; a sampler class is named
    as one, with the instance to pass."""
    if sampler is None or isinstance(sampler, BaseSampler):
        return
    if isinstance(sampler, type) and issubclass(sampler, BaseSampler):
        got = f"the class {sampler.__name__}"
        fix = f"an instance such as optuna.samplers.{sampler.__name__}(seed=0)"
    else:
        got = f"{sampler!r} ({type(sampler).__name__})"
        fix = "a sampler object such as optuna.samplers.RandomSampler(seed=0)"
    raise TypeError(
        f"independent_sampler must be an optuna.samplers.BaseSampler or None, got {got}. "
        f"Pass {fix}, or None for RLSampler's own per-trial random sampling."
    )


def check_constraints_func(constraints_func: Any) -> None:
    """Raise a :class:`TypeError` unless ``constraints_func`` is callable or ``None``."""
    if constraints_func is not None and not callable(constraints_func):
        raise TypeError(
            f"constraints_func must be a function of a FrozenTrial returning a sequence "
            f"of floats (<= 0 feasible), or None; got {constraints_func!r} "
            f"({type(constraints_func).__name__})."
        )


def check_meta_model(meta_model: Any) -> None:
    """Raise a :class:`TypeError` unless ``meta_model`` is a path (``str`` or
    :class:`os.PathLike`) or ``None``; whether the file is good is checked on loading
    (:func:`load_policies`)."""
    if meta_model is not None and not isinstance(meta_model, (str, os.PathLike)):
        raise TypeError(
            f"meta_model must be the path of a .safetensors weights file (str or "
            f"pathlib.Path) or None, got {meta_model!r} ({type(meta_model).__name__})."
        )
