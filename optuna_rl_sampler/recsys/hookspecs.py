"""The plugin hooks of optuna-rl-sampler (pluggy project name ``"optuna_rl_sampler"``).

A plugin is a module (or any object) with functions decorated by :data:`hookimpl` whose
names match the specs below. It is found through the ``optuna_rl_sampler`` entry-point
group; see ``docs/plugins.md``. Each hook receives a ``register`` callback instead of
returning a list, so the host checks names, duplicates and types in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna_rl_sampler._missing import require_extra

try:
    from pluggy import HookimplMarker
    from pluggy import HookspecMarker
except ImportError:
    require_extra("recsys", "pluggy", feature="optuna_rl_sampler.recsys.hookspecs")
    raise

__all__ = [
    "hookimpl",
    "hookspec",
    "register_datasets",
    "register_models",
    "register_samplers",
]

#: Marks a function in this module as a hook specification.
hookspec = HookspecMarker("optuna_rl_sampler")
#: Marks a plugin's function as the implementation of the hook with the same name.
hookimpl = HookimplMarker("optuna_rl_sampler")


@hookspec
def register_models(register: Callable[[Any], None]) -> None:
    """Register recommender model families.

    Call ``register(family)`` once per family. ``family`` satisfies
    :class:`optuna_rl_sampler.recsys.models.base.ModelFamily`: a unique ``name`` (the
    string users pass to ``get_model`` and to recipes' ``--model``), ``suggest(trial)``,
    ``default_params()`` and ``fit(params, train, valid, on_step, seed)``. To keep heavy
    imports out of registration, register an
    :class:`optuna_rl_sampler.recsys.plugins.LazyModelFamily` that names ``"module:attribute"``.

    ``register`` raises ``ValueError`` for a name that is already registered and
    ``TypeError`` for an object that lacks the protocol's members. The hook's return value
    is ignored.
    """


@hookspec
def register_datasets(register: Callable[..., None]) -> None:
    """Register dataset sources: loaders of files or generators of synthetic data.

    Call ``register(name, source, description)`` once per source: ``name`` is a unique
    string, ``source`` a callable that returns an
    :class:`optuna_rl_sampler.recsys.data.Interactions` (its keyword arguments are the
    source's own, e.g. ``path`` for a loader or ``size`` and ``seed`` for a generator) and
    ``description`` one line that says what it produces and which arguments it takes.
    Import heavy libraries inside ``source``, not at registration.

    The registry is where the project's datasets come from: a source whose callable
    takes ``path`` is a dataset format everywhere one is chosen,
    ``load_dataset(path, format=name)``, the recipes' ``--data PATH --format name`` and
    ``optuna-rl data stats --format name PATH`` (``optuna-rl data list`` lists the
    sources); the recipes' synthetic data is the source ``synthetic-<domain>``.

    ``register`` raises ``ValueError`` for a name that is already registered and
    ``TypeError`` for a ``source`` that is not callable. The hook's return value is
    ignored.
    """


@hookspec
def register_samplers(register: Callable[..., None]) -> None:
    """Register samplers under a name, next to the built-in ones.

    Call ``register(name, factory, description, multi_objective=True)`` once per
    sampler: ``factory(options)`` receives a
    :class:`optuna_rl_sampler.sampler_registry.SamplerOptions` (seed, planned trials,
    constraints, sources) and returns an Optuna sampler; ``description`` is one line.
    The sampler is then a ``--sampler`` name of ``optuna-rl tune`` and the recipes, and
    a name of :func:`optuna_rl_sampler.sampler_registry.make_sampler`.

    ``register`` raises ``ValueError`` for a name that a built-in or another plugin
    already uses (or that is not letters, digits, ``-`` and ``_``) and ``TypeError``
    for a ``factory`` that is not callable. The hook's return value is ignored.
    """
