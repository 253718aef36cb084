"""The plugin manager: built-in and third-party model families and dataset sources.

Built-in features are plugins too: the modules in :data:`DEFAULT_PLUGINS` are always
registered. Third-party plugins are found through the ``optuna_rl_sampler`` entry-point
group, loaded once and lazily on the first call to :func:`get_plugin_manager` (or any
function below). The environment variable ``OPTUNA_RL_PLUGINS`` pins the loaded set for
reproducible runs: unset loads every installed plugin; a comma-separated list of plugin
names (entry-point names or distribution names) loads only those; an empty string loads
the built-ins only.

A plugin that raises while it is imported is skipped with a :class:`PluginWarning` that
names it and the error; the others still load. A hook implementation whose name or
arguments match no hook (a typo) raises :class:`pluggy.PluginValidationError`.

Example:

    .. code-block:: python

        from optuna_rl_sampler.recsys.plugins import get_model
        from optuna_rl_sampler.recsys.plugins import list_models

        print(list_models())  # ['lightgbm-ranker', 'popularity', 'two-tower', ...]
        family = get_model("lightgbm-ranker")
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from optuna_rl_sampler._missing import require_extra

try:
    import pluggy
except ImportError:
    require_extra("recsys", "pluggy", feature="optuna_rl_sampler.recsys.plugins")
    raise

from optuna_rl_sampler.recsys import hookspecs

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries
    from optuna_rl_sampler.recsys.models.base import FittedModel
    from optuna_rl_sampler.recsys.models.base import ModelFamily
    from optuna_rl_sampler.recsys.models.base import StepCallback

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "DatasetSource",
    "LazyModelFamily",
    "PluginWarning",
    "create_plugin_manager",
    "get_dataset_source",
    "get_model",
    "get_plugin_manager",
    "list_datasets",
    "list_models",
    "list_plugins",
    "load_plugin_samplers",
]

#: Modules registered as plugins in every plugin manager.
DEFAULT_PLUGINS: tuple[str, ...] = ("optuna_rl_sampler.recsys.builtin_plugins",)
#: The entry-point group third-party plugins declare.
ENTRY_POINT_GROUP = "optuna_rl_sampler"
#: Comma-separated plugin names to load; empty for built-ins only; unset for all.
ENV_VAR = "OPTUNA_RL_PLUGINS"

_FAMILY_MEMBERS = ("suggest", "default_params", "fit")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PluginWarning(UserWarning):
    """A plugin could not be loaded, or ``OPTUNA_RL_PLUGINS`` names a missing plugin."""


# --------------------------------------------------------------------------- registries


class LazyModelFamily:
    """A model family whose module is imported only when the family is used.

    Register one of these from ``register_models`` so that listing models does not import
    torch, LightGBM or the plugin's own heavy code. :func:`get_model` returns the loaded
    family; calling ``suggest``, ``default_params`` or ``fit`` on this object also loads
    and delegates to it.

    Args:
        name: The registry name; must equal the loaded family's ``name``.
        target: ``"package.module:attribute"``. The attribute is a
            :class:`~optuna_rl_sampler.recsys.models.base.ModelFamily` object, or a class
            or zero-argument factory that returns one.
        description: One line for listings.

    Example:

        .. code-block:: python

            from optuna_rl_sampler.recsys.hookspecs import hookimpl
            from optuna_rl_sampler.recsys.plugins import LazyModelFamily


            @hookimpl
            def register_models(register):
                register(LazyModelFamily("my-model", "my_package.model:MyModel"))
    """

    def __init__(self, name: str, target: str, description: str = "") -> None:
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ValueError(
                f"LazyModelFamily target must be 'package.module:attribute', got {target!r}."
            )
        self.name = name
        self.target = target
        self.description = description

    def load(self) -> ModelFamily:
        """Import the target and return the model family it names.

        Raises:
            ImportError: The module cannot be imported (the message names the family).
            TypeError: The target does not give a model family.
            ValueError: The loaded family's ``name`` differs from :attr:`name`.
        """
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(
                f"Model {self.name!r} needs module {module_name!r}, which failed to import: "
                f"{exc}. Install the package that provides it (for the built-in models: "
                "pip install 'optuna-rl-sampler[recsys]')."
            ) from exc
        try:
            obj = getattr(module, attr)
        except AttributeError as exc:
            raise ImportError(
                f"Model {self.name!r}: module {module_name!r} has no attribute {attr!r}."
            ) from exc
        origin = f"{self.target} (model {self.name!r})"
        if isinstance(obj, type):
            missing = _missing_members(obj)
            if missing:
                raise TypeError(_family_type_error(obj, missing, origin))
            obj = obj()
        elif callable(obj) and _missing_members(obj):
            obj = obj()  # a factory function
        missing = _missing_members(obj)
        if missing:
            raise TypeError(_family_type_error(obj, missing, origin))
        if obj.name != self.name:
            raise ValueError(
                f"Model registered as {self.name!r} loads {self.target}, whose name is "
                f"{obj.name!r}; make the two names equal."
            )
        return obj

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Delegate to the loaded family's ``suggest``."""
        return self.load().suggest(trial)

    def default_params(self) -> dict[str, Any]:
        """Delegate to the loaded family's ``default_params``."""
        return self.load().default_params()

    def fit(
        self,
        params: dict[str, Any],
        train: Interactions,
        valid: Queries | None = None,
        on_step: StepCallback | None = None,
        seed: int = 0,
    ) -> FittedModel:
        """Delegate to the loaded family's ``fit``."""
        return self.load().fit(params, train, valid, on_step, seed)

    def __repr__(self) -> str:
        return f"LazyModelFamily({self.name!r}, {self.target!r})"


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset loader or generator.

    Attributes:
        name: The registry name.
        load: The callable that returns an
            :class:`~optuna_rl_sampler.recsys.data.Interactions`; its arguments are the
            source's own (see ``description``).
        description: One line: what it produces and which arguments it takes.
        plugin: Name of the plugin that registered it.
    """

    name: str
    load: Callable[..., Interactions]
    description: str
    plugin: str

    def __call__(self, *args: Any, **kwargs: Any) -> Interactions:
        """Call :attr:`load`."""
        return self.load(*args, **kwargs)


def _missing_members(obj: Any) -> list[str]:
    missing = [] if isinstance(getattr(obj, "name", None), str) else ["name"]
    missing += [m for m in _FAMILY_MEMBERS if not callable(getattr(obj, m, None))]
    return missing


def _family_type_error(obj: Any, missing: list[str], origin: str) -> str:
    return (
        f"{origin} registered {obj!r} as a model family, but it lacks "
        f"{', '.join(missing)}. A model family needs a str `name` and the methods "
        "suggest(trial), default_params() and fit(params, train, valid, on_step, seed); "
        "see optuna_rl_sampler.recsys.models.base.ModelFamily."
    )


def _check_name(name: Any, what: str, origin: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"{origin} registered a {what} named {name!r}; a name is a non-empty string of "
            "letters, digits, '.', '_' or '-' starting with a letter or digit."
        )


def _call_per_plugin(
    pm: pluggy.PluginManager, hook_name: str, make_register: Callable[[str], Callable]
) -> None:
    """Call one registration hook plugin by plugin, each with its own ``register``."""
    pm.check_pending()
    hook = getattr(pm.hook, hook_name)
    # Registration order: the built-ins claim their names first, so a clash is reported
    # against the plugin that came later.
    for impl in hook.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue  # a registration hook has no result to wrap
        register = make_register(impl.plugin_name)
        impl.function(*[{"register": register}[arg] for arg in impl.argnames])


def _collect_models(pm: pluggy.PluginManager) -> dict[str, tuple[Any, str]]:
    models: dict[str, tuple[Any, str]] = {}

    def make_register(plugin: str) -> Callable[[Any], None]:
        def register(family: Any) -> None:
            origin = f"Plugin {plugin!r}"
            missing = _missing_members(family)
            if missing:
                raise TypeError(_family_type_error(family, missing, origin))
            _check_name(family.name, "model", origin)
            if family.name in models:
                raise ValueError(
                    f"Model name {family.name!r} is registered twice: by plugin "
                    f"{models[family.name][1]!r} and by plugin {plugin!r}. Rename one of "
                    f"them, or pin the plugins you want with {ENV_VAR}."
                )
            models[family.name] = (family, plugin)

        return register

    _call_per_plugin(pm, "register_models", make_register)
    return models


def _collect_datasets(pm: pluggy.PluginManager) -> dict[str, DatasetSource]:
    sources: dict[str, DatasetSource] = {}

    def make_register(plugin: str) -> Callable[..., None]:
        def register(
            name: str, source: Callable[..., Interactions], description: str = ""
        ) -> None:
            origin = f"Plugin {plugin!r}"
            _check_name(name, "dataset source", origin)
            if not callable(source):
                raise TypeError(
                    f"{origin} registered dataset source {name!r} with {source!r}, which is "
                    "not callable; pass a function that returns an Interactions."
                )
            if name in sources:
                raise ValueError(
                    f"Dataset source {name!r} is registered twice: by plugin "
                    f"{sources[name].plugin!r} and by plugin {plugin!r}. Rename one of them, "
                    f"or pin the plugins you want with {ENV_VAR}."
                )
            sources[name] = DatasetSource(name, source, str(description), plugin)

        return register

    _call_per_plugin(pm, "register_datasets", make_register)
    return sources


#: The sampler names that plugins registered, and which plugin registered each.
_plugin_samplers: dict[str, str] = {}


def _collect_samplers(pm: pluggy.PluginManager) -> None:
    """Add the plugins' samplers to :mod:`optuna_rl_sampler.sampler_registry`."""
    from optuna_rl_sampler import sampler_registry

    seen: dict[str, str] = {}

    def make_register(plugin: str) -> Callable[..., None]:
        def register(
            name: str, factory: Callable[..., Any], description: str = "", **kwargs: Any
        ) -> None:
            origin = f"Plugin {plugin!r}"
            if name in seen or (
                name in sampler_registry.SAMPLERS and _plugin_samplers.get(name) != plugin
            ):
                owner = seen.get(name) or _plugin_samplers.get(name)
                raise ValueError(
                    f"{origin} registers sampler {name!r}, which "
                    + (f"plugin {owner!r} registered" if owner else "is built in")
                    + f"; rename it, or pin the plugins you want with {ENV_VAR}."
                )
            seen[name] = plugin
            sampler_registry.register_sampler(
                name, factory, str(description), replace=True, **kwargs
            )
            _plugin_samplers[name] = plugin

        return register

    _call_per_plugin(pm, "register_samplers", make_register)


def load_plugin_samplers() -> tuple[str, ...]:
    """Register the plugins' samplers (``register_samplers`` hooks) in the sampler
    registry, and return every registered name (built-in and plugin).

    Raises:
        ValueError: Two plugins, or a plugin and a built-in, use one name.
    """
    from optuna_rl_sampler.sampler_registry import sampler_names

    _collect_samplers(get_plugin_manager())
    return sampler_names()


# ------------------------------------------------------------------------ plugin manager


def _pinned_names() -> set[str] | None:
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return {_normalise(n) for n in value.split(",") if n.strip()}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _load_entry_points(pm: pluggy.PluginManager, pinned: set[str] | None) -> None:
    found: set[str] = set()
    available: list[str] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.name if dist is not None else None
        keys = {_normalise(ep.name)} | ({_normalise(dist_name)} if dist_name else set())
        available.append(ep.name)
        if pinned is not None and not (keys & pinned):
            continue
        found |= keys
        origin = f"{ep.name!r}" + (f" (from {dist_name})" if dist_name else "")
        if pm.has_plugin(ep.name):
            warnings.warn(
                f"Plugin {origin} was not loaded: another plugin is already named {ep.name!r}.",
                PluginWarning,
                stacklevel=3,
            )
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            warnings.warn(
                f"Plugin {origin} failed to load and was skipped: "
                f"{type(exc).__name__}: {exc}. Fix or uninstall it, or pin the plugins to "
                f"load with {ENV_VAR}=name1,name2.",
                PluginWarning,
                stacklevel=3,
            )
            continue
        if pm.is_registered(plugin):
            continue  # e.g. a built-in module also declared as an entry point
        pm.register(plugin, name=ep.name)
    if pinned:
        for name in sorted(pinned - found):
            warnings.warn(
                f"{ENV_VAR} names plugin {name!r}, which is not installed; installed "
                f"plugins: {', '.join(sorted(available)) or 'none'}.",
                PluginWarning,
                stacklevel=3,
            )


def create_plugin_manager() -> pluggy.PluginManager:
    """Build a new plugin manager: the built-ins plus the third-party plugins.

    Reads ``OPTUNA_RL_PLUGINS`` now. Most code wants the shared one from
    :func:`get_plugin_manager`; a fresh one is useful to test a plugin set.

    Raises:
        pluggy.PluginValidationError: A plugin implements a hook that does not exist or
            declares arguments the hook does not have.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    _load_entry_points(pm, _pinned_names())
    pm.check_pending()
    return pm


_plugin_manager: pluggy.PluginManager | None = None
_lock = threading.Lock()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created (and plugins loaded) on the first call.

    Register an in-process plugin with ``get_plugin_manager().register(obj, name=...)``
    and remove it with ``unregister(name=...)``.
    """
    global _plugin_manager
    with _lock:
        if _plugin_manager is None:
            _plugin_manager = create_plugin_manager()
        return _plugin_manager


def list_plugins() -> list[dict[str, Any]]:
    """The loaded plugins: ``[{"name": ..., "hooks": [...]}]``, sorted by name."""
    pm = get_plugin_manager()
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        out.append({"name": name, "hooks": hooks})
    return sorted(out, key=lambda d: d["name"])


def list_models() -> list[str]:
    """Names of the registered model families, sorted. Imports no model code."""
    return sorted(_collect_models(get_plugin_manager()))


def get_model(name: str) -> ModelFamily:
    """The registered model family called ``name``, loaded.

    Raises:
        ValueError: No family has that name (the message lists the registered names).
    """
    models = _collect_models(get_plugin_manager())
    if name not in models:
        raise ValueError(
            f"Unknown model {name!r}. Registered models: {', '.join(sorted(models))}. "
            "A third-party model needs its plugin installed (entry-point group "
            f"{ENTRY_POINT_GROUP!r}) and not excluded by {ENV_VAR}."
        )
    family = models[name][0]
    return family.load() if isinstance(family, LazyModelFamily) else family


def list_datasets() -> list[str]:
    """Names of the registered dataset sources, sorted."""
    return sorted(_collect_datasets(get_plugin_manager()))


def get_dataset_source(name: str) -> DatasetSource:
    """The registered dataset source called ``name``.

    Raises:
        ValueError: No source has that name (the message lists the registered names).
    """
    sources = _collect_datasets(get_plugin_manager())
    if name not in sources:
        raise ValueError(
            f"Unknown dataset source {name!r}. Registered sources: {', '.join(sorted(sources))}."
        )
    return sources[name]
