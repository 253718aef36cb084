"""The sampler registry: one name, one sampler, everywhere a sampler is picked by name."""

from __future__ import annotations

import optuna
import pytest

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler import sampler_registry
from optuna_rl_sampler.sampler_registry import SamplerOptions
from optuna_rl_sampler.sampler_registry import make_sampler
from optuna_rl_sampler.sampler_registry import register_sampler
from optuna_rl_sampler.sampler_registry import sampler_names


@pytest.fixture
def registry_copy(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Registrations made by a test do not leak into the others."""
    copy = dict(sampler_registry.SAMPLERS)
    monkeypatch.setattr(sampler_registry, "SAMPLERS", copy)
    return copy


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("rl", RLSampler),
        ("rl-generic", RLSampler),
        ("tpe", optuna.samplers.TPESampler),
        ("gp", optuna.samplers.GPSampler),
        ("random", optuna.samplers.RandomSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("qmc", optuna.samplers.QMCSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
    ],
)
def test_each_name_builds_its_sampler(name: str, cls: type) -> None:
    assert type(make_sampler(name, seed=0, budget=20)) is cls


def test_options_reach_the_samplers_that_take_them() -> None:
    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return [0.0]

    assert make_sampler("tpe", 0)._multivariate is True
    assert make_sampler("tpe", 0, multivariate=False)._multivariate is False
    assert make_sampler("tpe", 0, constant_liar=False)._constant_liar is False
    # None leaves Optuna's own defaults, which the multi-objective benchmark keeps.
    default = optuna.samplers.TPESampler(seed=0)
    kept = make_sampler("tpe", 0, multivariate=None)
    assert (kept._multivariate, kept._constant_liar) == (
        default._multivariate,
        default._constant_liar,
    )
    # Optuna 5 deprecates constraints_func (for Trial.set_constraint) but still uses it.
    with pytest.warns(FutureWarning, match="constraints_func"):
        nsga2 = make_sampler("nsga2", 0, constraints_func=constraints)
    assert nsga2._constraints_func is constraints
    rl = make_sampler("rl", 0, budget=17, constraints_func=constraints, source_studies=None)
    assert rl._budget == 17 and rl._constraints_func is constraints
    assert rl.source_studies == []
    # "rl-generic" never reads sources, whatever the run passes.
    assert make_sampler("rl-generic", 0, source_studies="auto").source_studies == []


def test_qmc_is_a_scrambled_sequence_that_the_seed_changes() -> None:
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}

    def first_points(seed: int) -> list[float]:
        study = optuna.create_study(sampler=make_sampler("qmc", seed))
        study.optimize(lambda t: t.suggest_float("x", **_bounds(space["x"])), n_trials=3)
        return [t.params["x"] for t in study.trials]

    assert first_points(0) == first_points(0)
    assert first_points(0) != first_points(1)


def _bounds(dist: optuna.distributions.FloatDistribution) -> dict[str, float]:
    return {"low": dist.low, "high": dist.high}


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown sampler 'tpee'; choose one of rl, rl-generic"):
        make_sampler("tpee", 0)


def test_registered_sampler_is_built_by_name_and_filtered_by_objectives(registry_copy) -> None:
    seen: list[SamplerOptions] = []

    def factory(options: SamplerOptions) -> optuna.samplers.BaseSampler:
        seen.append(options)
        return optuna.samplers.RandomSampler(seed=options.seed)

    register_sampler("my-random", factory, "RandomSampler", multi_objective=False)
    assert "my-random" in sampler_names()
    assert "my-random" not in sampler_names(multi_objective=True)
    assert "cmaes" not in sampler_names(multi_objective=True)
    make_sampler("my-random", 5, budget=9)
    assert (seen[0].seed, seen[0].budget) == (5, 9)


@pytest.mark.parametrize(
    ("name", "factory", "error", "match"),
    [
        ("tpe", lambda o: None, ValueError, "already registered; pass replace=True"),
        ("my sampler", lambda o: None, ValueError, "must be letters, digits"),
        ("ok", "not callable", TypeError, "not a callable"),
    ],
)
def test_bad_registrations_are_refused(registry_copy, name, factory, error, match) -> None:
    with pytest.raises(error, match=match):
        register_sampler(name, factory, "x")
    assert registry_copy["tpe"].factory is sampler_registry.make_tpe
