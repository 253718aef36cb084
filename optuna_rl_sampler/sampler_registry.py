"""The one registry of samplers by name, for the CLI, the recipes, the benchmarks and the
corpus sweeps.

Everything that lets a user pick a sampler by name (``optuna-rl tune --sampler``,
``python -m benchmarks ... --samplers``, ``optuna-rl corpus collect --sampler``) builds
it here, so ``"tpe"`` means the same sampler everywhere and a new sampler is added once.
A name maps to a :class:`SamplerEntry`: a factory that receives the run's
:class:`SamplerOptions` (seed, planned number of trials, constraints, sources) and
passes on the ones its sampler takes.

Example:
    >>> from optuna_rl_sampler.sampler_registry import make_sampler
    >>> type(make_sampler("tpe", seed=0)).__name__
    'TPESampler'
    >>> type(make_sampler("rl-generic", seed=0, budget=30)).__name__
    'RLSampler'

A plugin or a script adds its own sampler with :func:`register_sampler`; the factory
must be a module-level function when benchmark workers receive it by pickling.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial

__all__ = [
    "SAMPLERS",
    "SamplerEntry",
    "SamplerOptions",
    "make_sampler",
    "register_sampler",
    "sampler_names",
]


@dataclass(frozen=True)
class SamplerOptions:
    """What a run tells a sampler factory; each factory passes on what its sampler takes.

    Attributes:
        seed: The run's seed. ``None``: the sampler's own (non-reproducible) default.
        budget: The number of trials the study plans (RLSampler's ``budget``); ``None``
            leaves the sampler's default.
        constraints_func: The study's constraints, for the samplers that take one (all
            but Random, QMC and CMA-ES).
        source_studies: RLSampler's sources: ``"auto"`` (its default), a list of past
            studies, or ``None`` for none. Ignored by the other samplers.
        meta_model: RLSampler's weights file; ``None``: the shipped default.
        multivariate: TPE's ``multivariate``: ``True`` here; ``None`` leaves Optuna's
            default (in Optuna 5: independent TPE on several objectives, multivariate on
            one), which the multi-objective benchmark and the corpus sweeps keep.
        constant_liar: TPE's ``constant_liar`` (parallel workers); ``None`` leaves
            Optuna's default (``True`` in Optuna 5).
        source_trials: Trials of a past study that warm-start CMA-ES.
    """

    seed: int | None = None
    budget: int | None = None
    constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None
    source_studies: Any = "auto"
    meta_model: str | Path | None = None
    multivariate: bool | None = True
    constant_liar: bool | None = None
    source_trials: Sequence[FrozenTrial] | None = field(default=None, repr=False)


SamplerFactory = Callable[[SamplerOptions], "BaseSampler"]


@dataclass(frozen=True)
class SamplerEntry:
    """A registered sampler.

    Attributes:
        name: The name users pass (``--sampler NAME``).
        factory: ``factory(options) -> BaseSampler``.
        description: One line: the sampler and how the options reach it.
        multi_objective: Whether the sampler runs multi-objective studies.
    """

    name: str
    factory: SamplerFactory
    description: str
    multi_objective: bool = True


def _rl(options: SamplerOptions, source_studies: Any) -> BaseSampler:
    from optuna_rl_sampler.sampler import RLSampler

    kwargs: dict[str, Any] = {"seed": options.seed, "source_studies": source_studies}
    if options.budget is not None:
        kwargs["budget"] = options.budget
    if options.meta_model is not None:
        kwargs["meta_model"] = options.meta_model
    if options.constraints_func is not None:
        kwargs["constraints_func"] = options.constraints_func
    return RLSampler(**kwargs)


def make_rl(options: SamplerOptions) -> BaseSampler:
    """RLSampler with the run's sources (``"auto"`` unless the run names others)."""
    return _rl(options, options.source_studies)


def make_rl_generic(options: SamplerOptions) -> BaseSampler:
    """RLSampler without sources (``source_studies=None``)."""
    return _rl(options, None)


def make_tpe(options: SamplerOptions) -> BaseSampler:
    """Optuna's TPESampler."""
    import optuna

    kwargs: dict[str, Any] = {"seed": options.seed}
    if options.multivariate is not None:
        kwargs["multivariate"] = options.multivariate
    if options.constant_liar is not None:
        kwargs["constant_liar"] = options.constant_liar
    if options.constraints_func is not None:
        kwargs["constraints_func"] = options.constraints_func
    return optuna.samplers.TPESampler(**kwargs)


def make_gp(options: SamplerOptions) -> BaseSampler:
    """Optuna's GPSampler (needs torch)."""
    import optuna

    if options.constraints_func is not None:
        return optuna.samplers.GPSampler(
            seed=options.seed, constraints_func=options.constraints_func
        )
    return optuna.samplers.GPSampler(seed=options.seed)


def make_random(options: SamplerOptions) -> BaseSampler:
    """Optuna's RandomSampler (ignores constraints)."""
    import optuna

    return optuna.samplers.RandomSampler(seed=options.seed)


def make_cmaes(options: SamplerOptions) -> BaseSampler:
    """Optuna's CmaEsSampler, warm-started from ``source_trials`` when given."""
    import optuna

    if not options.source_trials:
        return optuna.samplers.CmaEsSampler(seed=options.seed)
    with warnings.catch_warnings():
        # source_trials is experimental in Optuna; the warm start is what is asked for.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.CmaEsSampler(
            seed=options.seed,
            source_trials=list(options.source_trials),
            warn_independent_sampling=False,
        )


def make_qmc(options: SamplerOptions) -> BaseSampler:
    """Optuna's QMCSampler: a scrambled Sobol sequence (ignores constraints)."""
    import optuna

    with warnings.catch_warnings():
        # QMCSampler is experimental in Optuna; naming it is the user's choice.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=options.seed)


def make_nsga2(options: SamplerOptions) -> BaseSampler:
    """Optuna's NSGAIISampler."""
    import optuna

    if options.constraints_func is not None:
        return optuna.samplers.NSGAIISampler(
            seed=options.seed, constraints_func=options.constraints_func
        )
    return optuna.samplers.NSGAIISampler(seed=options.seed)


#: Every sampler by name. Add one with :func:`register_sampler`.
SAMPLERS: dict[str, SamplerEntry] = {
    entry.name: entry
    for entry in (
        SamplerEntry(
            "rl",
            make_rl,
            "RLSampler(seed, budget, source_studies='auto' or the run's sources)",
        ),
        SamplerEntry(
            "rl-generic", make_rl_generic, "RLSampler(seed, budget, source_studies=None)"
        ),
        SamplerEntry("tpe", make_tpe, "TPESampler(seed, multivariate=True)"),
        SamplerEntry("gp", make_gp, "GPSampler(seed)"),
        SamplerEntry("random", make_random, "RandomSampler(seed)"),
        SamplerEntry(
            "cmaes",
            make_cmaes,
            "CmaEsSampler(seed), warm-started from source_trials when given",
            multi_objective=False,
        ),
        SamplerEntry("qmc", make_qmc, "QMCSampler(seed, qmc_type='sobol', scramble=True)"),
        SamplerEntry("nsga2", make_nsga2, "NSGAIISampler(seed)"),
    )
}


def register_sampler(
    name: str,
    factory: SamplerFactory,
    description: str,
    *,
    multi_objective: bool = True,
    replace: bool = False,
) -> SamplerEntry:
    """Add a sampler to :data:`SAMPLERS` under ``name``.

    Args:
        name: The name users pass; letters, digits, ``-`` and ``_``.
        factory: ``factory(options: SamplerOptions) -> BaseSampler``; a module-level
            function if benchmark workers are to receive it.
        description: One line shown in help texts and reports.
        multi_objective: Whether the sampler runs multi-objective studies.
        replace: Replace an entry of the same name. Defaults to ``False``.

    Returns:
        The new entry.

    Raises:
        ValueError: ``name`` is empty, has other characters, or is taken and
            ``replace`` is off.
        TypeError: ``factory`` is not callable.
    """
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(
            f"sampler name {name!r} must be letters, digits, '-' or '_' (e.g. 'my-tpe')."
        )
    if not callable(factory):
        raise TypeError(f"factory of sampler {name!r} is {factory!r}, not a callable.")
    if name in SAMPLERS and not replace:
        raise ValueError(f"sampler {name!r} is already registered; pass replace=True.")
    entry = SamplerEntry(name, factory, description, multi_objective)
    SAMPLERS[name] = entry
    return entry


def sampler_names(*, multi_objective: bool = False) -> tuple[str, ...]:
    """The registered names; with ``multi_objective=True`` only those that run
    multi-objective studies."""
    return tuple(n for n, e in SAMPLERS.items() if e.multi_objective or not multi_objective)


def make_sampler(
    name: str,
    seed: int | None = None,
    *,
    budget: int | None = None,
    constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
    source_studies: Any = "auto",
    meta_model: str | Path | None = None,
    multivariate: bool | None = True,
    constant_liar: bool | None = None,
    source_trials: Sequence[FrozenTrial] | None = None,
) -> BaseSampler:
    """Build the sampler registered as ``name`` (see :class:`SamplerOptions` for the
    arguments).

    Raises:
        ValueError: ``name`` is not registered; the message lists the names that are.
    """
    entry = SAMPLERS.get(name)
    if entry is None:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    options = SamplerOptions(
        seed=seed,
        budget=budget,
        constraints_func=constraints_func,
        source_studies=source_studies,
        meta_model=meta_model,
        multivariate=multivariate,
        constant_liar=constant_liar,
        source_trials=source_trials,
    )
    return entry.factory(options)
