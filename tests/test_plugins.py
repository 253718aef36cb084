from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pluggy
import pytest

from optuna_rl_sampler import hookspecs
from optuna_rl_sampler import plugins
from optuna_rl_sampler.hookspecs import hookimpl
from optuna_rl_sampler.plugins import ENV_VAR
from optuna_rl_sampler.plugins import DatasetSource
from optuna_rl_sampler.plugins import LazyModelFamily
from optuna_rl_sampler.plugins import PluginWarning
from optuna_rl_sampler.plugins import create_plugin_manager
from optuna_rl_sampler.plugins import get_dataset_source
from optuna_rl_sampler.plugins import get_model
from optuna_rl_sampler.plugins import get_plugin_manager
from optuna_rl_sampler.plugins import list_datasets
from optuna_rl_sampler.plugins import list_models
from optuna_rl_sampler.plugins import list_plugins
from optuna_rl_sampler.recsys.baselines import Popularity

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parent / "example_plugin"
BUILTIN_MODELS = {"popularity", "lightgbm-ranker", "two-tower"}


def _hook_names() -> list[str]:
    pm = pluggy.PluginManager("optuna_rl_sampler")
    return sorted(
        name
        for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if pm.parse_hookspec_opts(hookspecs, name) is not None
    )


class _Family:
    """A minimal model family for registration tests."""

    def __init__(self, name: str) -> None:
        self.name = name

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {}

    def default_params(self) -> dict[str, Any]:
        return {}

    def fit(self, params, train, valid=None, on_step=None, seed=0):
        raise NotImplementedError


@pytest.fixture
def register_plugin():
    """Register in-process plugins on the shared manager; always unregister them."""
    pm = get_plugin_manager()
    names: list[str] = []

    def register(plugin: object, name: str) -> None:
        pm.register(plugin, name=name)
        names.append(name)

    try:
        yield register
    finally:
        for name in names:
            if pm.has_plugin(name):
                pm.unregister(name=name)


@pytest.fixture
def fresh_manager(monkeypatch: pytest.MonkeyPatch):
    """Point the shared manager at a new one built after the test set sys.path and env."""

    def build() -> pluggy.PluginManager:
        pm = create_plugin_manager()
        monkeypatch.setattr(plugins, "_plugin_manager", pm)
        return pm

    return build


# --- meta-tests ---------------------------------------------------------------------------


def test_hookspecs_are_the_documented_ones() -> None:
    assert _hook_names() == ["register_datasets", "register_models"]


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_test(hook: str) -> None:
    tests = [name for name in globals() if name.startswith(f"test_hook_{hook}")]
    assert tests, f"hook {hook!r} has no test_hook_{hook}* test in {__file__}"


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_heading_in_docs(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"\n### {hook}(" in docs, f"docs/plugins.md has no '### {hook}(...)' heading"


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_docstring(hook: str) -> None:
    assert len(inspect.getdoc(getattr(hookspecs, hook)) or "") > 100


# --- built-ins ----------------------------------------------------------------------------


def test_builtins_are_registered_without_importing_heavy_libraries() -> None:
    code = textwrap.dedent(
        """
        import sys
        from optuna_rl_sampler.plugins import list_datasets, list_models
        print(sorted(list_models()))
        print(len(list_datasets()))
        print([m for m in ("torch", "lightgbm", "pandas") if m in sys.modules])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OPTUNA_RL_PLUGINS": ""},
    ).stdout.splitlines()
    assert BUILTIN_MODELS <= set(eval(out[0]))
    assert int(out[1]) >= 9
    assert out[2] == "[]"


def test_hook_register_models_builtins() -> None:
    assert BUILTIN_MODELS <= set(list_models())
    assert isinstance(get_model("popularity"), Popularity)


def test_get_model_unknown_name_lists_registered_ones() -> None:
    with pytest.raises(ValueError, match="Unknown model 'lightgbm'.*lightgbm-ranker.*popularity"):
        get_model("lightgbm")


def test_hook_register_datasets_builtins() -> None:
    names = set(list_datasets())
    assert {"mind", "movielens", "synthetic-news", "synthetic-social"} <= names
    source = get_dataset_source("synthetic-ecommerce")
    assert isinstance(source, DatasetSource)
    assert source.plugin == "optuna_rl_sampler.recsys.builtin_plugins"
    data = source(size="small", seed=1, n_users=50, n_items=40, n_interactions=500)
    assert data.n_items == 40
    with pytest.raises(ValueError, match="Unknown dataset source 'news'.*synthetic-news"):
        get_dataset_source("news")


def test_builtin_loader_source_reports_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_dataset_source("movielens")(path=tmp_path / "nowhere")


def test_list_plugins_names_the_builtin_plugin() -> None:
    assert {
        "name": "optuna_rl_sampler.recsys.builtin_plugins",
        "hooks": ["register_datasets", "register_models"],
    } in list_plugins()


# --- in-process plugins -------------------------------------------------------------------


def test_hook_register_models_in_process_plugin(register_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(_Family("my-model"))

    register_plugin(Plugin(), "my-plugin")
    assert "my-model" in list_models()
    assert get_model("my-model").name == "my-model"


def test_in_process_plugin_is_gone_after_the_fixture() -> None:
    assert "my-model" not in list_models()


def test_hook_register_datasets_in_process_plugin(register_plugin) -> None:
    def make(scale: int = 1) -> str:
        return f"data x{scale}"

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("my-data", make, "Strings; call with scale=.")

    register_plugin(Plugin(), "my-data-plugin")
    source = get_dataset_source("my-data")
    assert (source.name, source.description, source.plugin) == (
        "my-data",
        "Strings; call with scale=.",
        "my-data-plugin",
    )
    assert source(scale=3) == "data x3"


def test_duplicate_model_name_names_both_plugins(register_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(_Family("popularity"))

    register_plugin(Plugin(), "copycat")
    with pytest.raises(ValueError, match="'popularity' is registered twice.*builtin.*'copycat'"):
        list_models()


def test_duplicate_dataset_name_is_an_error(register_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("mind", lambda: None, "another one")

    register_plugin(Plugin(), "copycat")
    with pytest.raises(ValueError, match="'mind' is registered twice"):
        list_datasets()


def test_object_lacking_the_protocol_is_named(register_plugin) -> None:
    class NotAFamily:
        name = "half-done"

        def suggest(self, trial):
            return {}

        def __repr__(self) -> str:
            return "NotAFamily()"

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(NotAFamily())

    register_plugin(Plugin(), "sloppy")
    with pytest.raises(
        TypeError, match=r"'sloppy' registered NotAFamily\(\).*default_params, fit"
    ):
        list_models()


def test_non_callable_dataset_source_is_an_error(register_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("static", "data.csv", "a path, not a loader")

    register_plugin(Plugin(), "sloppy")
    with pytest.raises(TypeError, match="'static'.*not callable"):
        list_datasets()


@pytest.mark.parametrize("bad", ["", "has space", "-leading", 3])
def test_bad_names_are_rejected(register_plugin, bad: Any) -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(_Family(bad))

    register_plugin(Plugin(), "sloppy")
    with pytest.raises((TypeError, ValueError), match="sloppy"):
        list_models()


def test_typo_in_hookimpl_fails_loudly(register_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_model(self, register):  # missing "s"
            register(_Family("never"))

    register_plugin(Plugin(), "typo")
    with pytest.raises(pluggy.PluginValidationError, match="register_model"):
        list_models()


def test_wrong_hookimpl_argument_fails_at_registration(monkeypatch) -> None:
    class Plugin:
        @hookimpl
        def register_models(self, add):
            pass

    monkeypatch.setenv(ENV_VAR, "")
    pm = create_plugin_manager()  # pluggy keeps a plugin it rejected: use a throwaway one
    with pytest.raises(pluggy.PluginValidationError, match="Argument.*'add'"):
        pm.register(Plugin(), name="wrong-args")


# --- lazy families ------------------------------------------------------------------------


def test_lazy_family_checks_target_and_name() -> None:
    with pytest.raises(ValueError, match="'package.module:attribute'"):
        LazyModelFamily("x", "no_colon")
    with pytest.raises(ImportError, match="Model 'x' needs module 'no_such_module_ors'"):
        LazyModelFamily("x", "no_such_module_ors:Thing").load()
    with pytest.raises(ImportError, match="has no attribute 'Nope'"):
        LazyModelFamily("x", "optuna_rl_sampler.recsys.baselines:Nope").load()
    with pytest.raises(
        ValueError, match="registered as 'pop' loads .* whose name is 'popularity'"
    ):
        LazyModelFamily("pop", "optuna_rl_sampler.recsys.baselines:Popularity").load()
    with pytest.raises(TypeError, match="lacks name, suggest, default_params, fit"):
        LazyModelFamily("x", "optuna_rl_sampler.recsys.baselines:PopularityModel").load()
    lazy = LazyModelFamily("popularity", "optuna_rl_sampler.recsys.baselines:Popularity")
    assert isinstance(lazy.load(), Popularity)
    assert lazy.default_params() == Popularity().default_params()


# --- entry points -------------------------------------------------------------------------


def test_entry_point_plugin_is_loaded(monkeypatch, fresh_manager) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "good"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delitem(sys.modules, "ors_example_plugin.heavy", raising=False)
    pm = fresh_manager()
    assert pm.has_plugin("example")
    assert {"example-shuffle", "example-lazy"} <= set(list_models())
    # Listing did not import the lazy family's module; using it does.
    assert "ors_example_plugin.heavy" not in sys.modules
    assert get_model("example-lazy").name == "example-lazy"
    assert "ors_example_plugin.heavy" in sys.modules
    data = get_dataset_source("example-tiny")(n_users=3)
    assert data.n_users == 3 and data.n_interactions == 6
    assert get_dataset_source("example-tiny").plugin == "example"


@pytest.mark.parametrize("pin", ["example", "ors-example-plugin", "ors_example_plugin, other"])
def test_env_var_pins_plugins_by_entry_point_or_distribution_name(monkeypatch, pin) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "good"))
    monkeypatch.syspath_prepend(str(EXAMPLES / "broken"))
    monkeypatch.setenv(ENV_VAR, pin)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = create_plugin_manager()
    assert pm.has_plugin("example") and not pm.has_plugin("broken")
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    if "other" in pin:
        assert messages == [
            f"{ENV_VAR} names plugin 'other', which is not installed; installed plugins: "
            "broken, example."
        ]
    else:
        assert messages == []


def test_empty_env_var_loads_builtins_only(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "good"))
    monkeypatch.setenv(ENV_VAR, "")
    pm = create_plugin_manager()
    assert not pm.has_plugin("example")
    assert pm.has_plugin("optuna_rl_sampler.recsys.builtin_plugins")


def test_broken_plugin_warns_and_the_others_load(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "good"))
    monkeypatch.syspath_prepend(str(EXAMPLES / "broken"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.warns(PluginWarning, match=r"Plugin 'broken' \(from ors-broken-plugin\) failed"):
        pm = create_plugin_manager()
    assert pm.has_plugin("example")
    assert not pm.has_plugin("broken")


def test_broken_plugin_message_carries_the_error(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "broken"))
    monkeypatch.setenv(ENV_VAR, "broken")
    with pytest.warns(PluginWarning, match="RuntimeError: ors_broken_plugin needs a library"):
        create_plugin_manager()


def test_typo_in_entry_point_plugin_fails_loudly(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "typo"))
    monkeypatch.setenv(ENV_VAR, "typo")
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'register_modles'"):
        create_plugin_manager()
