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

from optuna_rl_sampler.recsys import hookspecs
from optuna_rl_sampler.recsys import plugins
from optuna_rl_sampler.recsys.baselines import Popularity
from optuna_rl_sampler.recsys.hookspecs import hookimpl
from optuna_rl_sampler.recsys.plugins import ENV_VAR
from optuna_rl_sampler.recsys.plugins import DatasetSource
from optuna_rl_sampler.recsys.plugins import LazyModelFamily
from optuna_rl_sampler.recsys.plugins import PluginWarning
from optuna_rl_sampler.recsys.plugins import create_plugin_manager
from optuna_rl_sampler.recsys.plugins import get_dataset_source
from optuna_rl_sampler.recsys.plugins import get_model
from optuna_rl_sampler.recsys.plugins import get_plugin_manager
from optuna_rl_sampler.recsys.plugins import list_datasets
from optuna_rl_sampler.recsys.plugins import list_models
from optuna_rl_sampler.recsys.plugins import list_plugins

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
    assert _hook_names() == ["register_datasets", "register_models", "register_samplers"]


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
        from optuna_rl_sampler.recsys.plugins import list_datasets, list_models
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


@pytest.fixture
def sampler_registry_copy(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Samplers a test's plugin registers do not outlive the test."""
    from optuna_rl_sampler import sampler_registry

    copy = dict(sampler_registry.SAMPLERS)
    monkeypatch.setattr(sampler_registry, "SAMPLERS", copy)
    monkeypatch.setattr(plugins, "_plugin_samplers", {})
    return copy


def test_hook_register_samplers_in_process_plugin(register_plugin, sampler_registry_copy) -> None:
    import optuna

    from optuna_rl_sampler.recsys.tuning_studies import make_sampler
    from optuna_rl_sampler.recsys.tuning_studies import sampler_choices

    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register(
                "my-random",
                lambda options: optuna.samplers.RandomSampler(seed=options.seed),
                "RandomSampler(seed)",
                multi_objective=False,
            )

    register_plugin(Plugin(), "my-sampler-plugin")
    assert "my-random" in sampler_choices()
    assert "my-random" not in sampler_choices(multi_objective=True)
    assert sampler_choices() == plugins.load_plugin_samplers()  # loading again is harmless
    sampler = make_sampler("my-random", seed=3, budget=10)
    assert isinstance(sampler, optuna.samplers.RandomSampler)
    assert sampler_registry_copy["my-random"].description == "RandomSampler(seed)"


@pytest.mark.parametrize("name", ["tpe", "my-random"])
def test_sampler_name_taken_is_an_error(register_plugin, sampler_registry_copy, name) -> None:
    import optuna

    def make(options):
        return optuna.samplers.RandomSampler(seed=options.seed)

    class First:
        @hookimpl
        def register_samplers(self, register):
            register("my-random", make, "one")

    class Second:
        @hookimpl
        def register_samplers(self, register):
            register(name, make, "another")

    register_plugin(First(), "first")
    register_plugin(Second(), "second")
    owner = "is built in" if name == "tpe" else "plugin 'first' registered"
    message = f"Plugin 'second' registers sampler '{name}', which {owner}"
    with pytest.raises(ValueError, match=message):
        plugins.load_plugin_samplers()


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


# --- the dataset registry is where datasets come from ---------------------------------------


def _pairs_file(folder: Path, n_users: int = 30, per_user: int = 8) -> Path:
    path = folder / "pairs.csv"
    lines = [f"{100 + u},{(u + 3 * j) % 25}" for j in range(per_user) for u in range(n_users)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hook_register_datasets_source_is_a_load_dataset_format(
    monkeypatch, fresh_manager, tmp_path: Path
) -> None:
    from optuna_rl_sampler.recsys.loaders import dataset_stats
    from optuna_rl_sampler.recsys.loaders import load_dataset

    monkeypatch.syspath_prepend(str(EXAMPLES / "good"))
    monkeypatch.setenv(ENV_VAR, "example")
    fresh_manager()
    path = _pairs_file(tmp_path)
    data = load_dataset(path, format="example-pairs")
    assert (data.name, data.n_users, data.n_items, data.n_interactions) == (
        "example_pairs",
        30,
        25,
        240,
    )
    assert load_dataset(path, format="example-pairs", name="mine").name == "mine"
    stats = dataset_stats(path, format="example-pairs")
    assert (stats["format"], stats["n_interactions"]) == ("example-pairs", 240)
    # An unknown format lists the built-in formats and the registered sources.
    with pytest.raises(ValueError, match="valid formats are: mind, .*, or a registered dataset "
                       "source: example-pairs, example-tiny, synthetic-ecommerce"):  # fmt: skip
        load_dataset(path, format="pairs")
    with pytest.raises(ValueError, match="include_history=True applies to the 'mind' format"):
        load_dataset(path, format="example-pairs", include_history=True)


def test_dataset_source_returning_no_interactions_is_named(register_plugin) -> None:
    from optuna_rl_sampler.recsys.loaders import load_dataset

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("rows", lambda path: [path], "a list, not Interactions")

    register_plugin(Plugin(), "sloppy")
    with pytest.raises(TypeError, match="source 'rows' of plugin 'sloppy' returned list"):
        load_dataset("anything", format="rows")


def _with_example_plugin() -> dict[str, str]:
    path = os.pathsep.join([str(EXAMPLES / "good"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, ENV_VAR: "example", "OMP_WAIT_POLICY": "PASSIVE"}


def test_cli_lists_and_reads_registered_sources(tmp_path: Path) -> None:
    import json

    path = _pairs_file(tmp_path)
    env = _with_example_plugin()
    cli = [sys.executable, "-m", "optuna_rl_sampler.cli", "data"]
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, env=env, check=True)
    sources = {json.loads(line)["name"]: json.loads(line) for line in listed.stdout.splitlines()}
    assert sources["example-pairs"]["plugin"] == "example"
    assert sources["synthetic-news"]["plugin"] == "optuna_rl_sampler.recsys.builtin_plugins"
    stats = subprocess.run(
        [*cli, "stats", "--format", "example-pairs", str(path)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert json.loads(stats.stdout)["n_users"] == 30


def test_recipe_reads_a_registered_source(tmp_path: Path) -> None:
    path = _pairs_file(tmp_path, n_users=60)
    recipe = ROOT / "recipes" / "social.py"
    proc = subprocess.run(
        [sys.executable, str(recipe), "--data", str(path), "--format", "example-pairs",
         "--model", "popularity", "--sampler", "random", "--trials", "1", "--no-progress",
         "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=_with_example_plugin(), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Data: example_pairs (60 users, 25 items, 480 events)" in proc.stdout
