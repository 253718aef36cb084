"""Parameters the policy does not propose: independent draws and failed proposals.

:class:`~optuna_rl_sampler.RLSampler` samples a parameter independently before the
policy takes over, outside the relative search space, when Optuna refuses a proposed
value, and for every parameter of a trial whose proposal failed. This module holds
what those cases need:

* :func:`sample_uniform`: the default independent sampling, a uniform draw from a
  stream derived from ``(seed, trial number, parameter name)``, so it is the same in
  every process;
* :func:`fallback_reason` and :func:`previous_fallbacks`: the reasons of a failed
  proposal, whose count of consecutive failures is read back from the reasons of the
  previous trials in the storage (never kept on the sampler, so every process sharing
  the storage counts alike);
* :func:`refused_by_optuna` and :func:`refusal_cause`: whether Optuna refuses a
  proposed value (and then samples the parameter independently), and why;
* :func:`fell_back` and :func:`was_refused`: whether a trial's reasons record either case,
  so that its independently sampled parameters are not reported a second time.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.reasons import REASON_KEY

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "MAX_ERROR_CHARS",
    "fallback_count",
    "fallback_reason",
    "fell_back",
    "previous_fallbacks",
    "refusal_cause",
    "refused_by_optuna",
    "sample_uniform",
    "waits_for_startup",
    "was_refused",
]

#: Longest error message kept in a trial's reasons.
MAX_ERROR_CHARS = 500
#: Reasons of trials the policy did not propose (skipped when counting fallbacks).
_NO_PROPOSAL = ("startup", "independent", "enqueued")


def sample_uniform(seed: int, number: int, name: str, dist: BaseDistribution) -> Any:
    """A uniform draw of one parameter from the stream of ``(seed, trial, parameter)``.

    Uniform on the encoder's unit cube, i.e. uniform (or log-uniform) for numbers, equal
    probability for every integer, grid value and choice, like ``RandomSampler``. The
    parameter name enters through CRC-32, which (unlike ``hash``) is the same in every
    process.

    Args:
        seed: The sampler's base seed.
        number: The trial's number.
        name: The parameter's name.
        dist: Its distribution; a single-valued one gives its only value.

    Returns:
        The value, as ``dist`` holds it.
    """
    if dist.single():
        return SearchSpaceEncoder({name: dist}).decode(np.array([0.5]))[name]
    key = zlib.crc32(name.encode("utf-8"))
    rng = np.random.default_rng([seed, number, key])
    return SearchSpaceEncoder({name: dist}).decode(rng.random(1))[name]


def fallback_count(reason: Any) -> int | None:
    """Consecutive fallbacks recorded in a reason; ``None`` if it is not a fallback."""
    if isinstance(reason, dict) and reason.get("source") == "fallback":
        count = reason.get("consecutive_fallbacks")
        return int(count) if isinstance(count, int) and count > 0 else 1
    return None


def previous_fallbacks(study: Study, trial: FrozenTrial) -> int:
    """Consecutive failed proposals just before ``trial``, read from the storage.

    The latest earlier trial (by number) that holds reasons decides: its recorded count
    if its proposal failed, else 0. Trials without reasons (startup trials, trials with
    nothing to propose) are skipped.
    """
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    for t in sorted(earlier, key=lambda t: t.number, reverse=True):
        reason = t.system_attrs.get(REASON_KEY)
        if reason is None or (isinstance(reason, dict) and reason.get("source") in _NO_PROPOSAL):
            continue
        count = fallback_count(reason)
        return 0 if count is None else count
    return 0


def fallback_reason(study: Study, trial: FrozenTrial, err: Exception) -> dict[str, Any]:
    """The reasons of ``trial``, whose proposal failed with ``err``.

    Returns:
        ``{"source": "fallback", "error": "<type>: <message>", "consecutive_fallbacks":
        k}``: the error cut to :data:`MAX_ERROR_CHARS`, and ``k`` counting this failure
        and the failures of the trials just before it (:func:`previous_fallbacks`).
    """
    error = f"{type(err).__name__}: {err}"
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 3] + "..."
    consecutive = previous_fallbacks(study, trial) + 1
    return {"source": "fallback", "error": error, "consecutive_fallbacks": consecutive}


def fell_back(trial: FrozenTrial) -> bool:
    """Whether the relative proposal of ``trial`` failed (read from its reasons)."""
    return fallback_count(trial.system_attrs.get(REASON_KEY)) is not None


def refused_by_optuna(dist: BaseDistribution, value: Any) -> bool:
    """Whether Optuna would refuse ``value`` as the relative value of ``dist`` (the check
    of ``Trial._is_relative_param``) and sample the parameter independently."""
    try:
        return not dist._contains(dist.to_internal_repr(value))
    except (ValueError, TypeError):
        return True


def refusal_cause(dist: BaseDistribution, value: Any) -> str:
    """Why Optuna refuses ``value`` (see :func:`refused_by_optuna`), with the fix."""
    step = getattr(dist, "step", None)
    if isinstance(dist, optuna.distributions.FloatDistribution) and step is not None:
        return (
            f"its step {step!r} is too fine for float64 at this magnitude (neighbouring "
            f"floats are {math.ulp(float(value)):.3g} apart, and Optuna wants a value within "
            "1e-8 steps of low + k * step); use a coarser step, or no step"
        )
    return "the value lies outside the distribution after rounding"


def waits_for_startup(trial: FrozenTrial, name: str) -> bool:
    """Whether ``name`` belongs to a parameter group of a conditional search space that
    too few trials hold yet to be proposed (read from the reasons of ``trial``)."""
    reason = trial.system_attrs.get(REASON_KEY)
    return isinstance(reason, dict) and name in reason.get("startup_params", ())


def was_refused(trial: FrozenTrial, name: str) -> bool:
    """Whether the relative proposal of ``trial`` for ``name`` was refused by Optuna (read
    from its reasons)."""
    reason = trial.system_attrs.get(REASON_KEY)
    return isinstance(reason, dict) and name in reason.get("refused_by_optuna", ())
