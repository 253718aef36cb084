from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import TrialState
from optuna.trial import create_trial

from optuna_rl_sampler.search_space import CurrentSearchSpace
from optuna_rl_sampler.search_space import compatible


def _add(study, **dists):
    params = {}
    for name, dist in dists.items():
        params[name] = dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low
    study.add_trial(create_trial(params=params, distributions=dists, value=0.0))


def test_a_widened_range_stays_in_the_space_with_its_latest_distribution():
    study = optuna.create_study()
    space = CurrentSearchSpace()
    _add(study, x=FloatDistribution(0, 1), n=IntDistribution(1, 4))
    _add(study, x=FloatDistribution(0, 1), n=IntDistribution(1, 4))
    assert space.calculate(study) == {"n": IntDistribution(1, 4), "x": FloatDistribution(0, 1)}
    _add(study, x=FloatDistribution(0, 2), n=IntDistribution(1, 8))
    assert space.calculate(study) == {"n": IntDistribution(1, 8), "x": FloatDistribution(0, 2)}
    # Optuna's intersection drops both for the rest of the study.
    assert IntersectionSearchSpace(include_pruned=True).calculate(study) == {}


@pytest.mark.parametrize(
    "old, new",
    [
        (FloatDistribution(1e-3, 1, log=True), FloatDistribution(1e-3, 1)),
        (FloatDistribution(0, 1), IntDistribution(0, 1)),
        (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["a", "c"])),
    ],
)
def test_an_incompatible_change_drops_the_parameter(old, new):
    # What Optuna refuses within one study: another kind, log scale or choices.
    assert not compatible(old, new)
    study = optuna.create_study()
    _add(study, x=old, y=FloatDistribution(0, 1))
    _add(study, x=new, y=FloatDistribution(0, 1))
    assert CurrentSearchSpace().calculate(study) == {"y": FloatDistribution(0, 1)}


def test_a_parameter_missing_from_a_trial_is_left_out_and_running_trials_wait():
    study = optuna.create_study()
    space = CurrentSearchSpace()
    _add(study, x=FloatDistribution(0, 1), c=CategoricalDistribution(["a", "b"]))
    running = study.ask()  # unfinished: not read until it finishes
    running.suggest_float("x", 0, 5)
    _add(study, x=FloatDistribution(0, 1))
    assert space.calculate(study) == {"x": FloatDistribution(0, 1)}
    study.tell(running, 0.0)
    # The finished trial has the smaller number but is read now; the latest trial's
    # distribution still wins.
    assert space.calculate(study) == {"x": FloatDistribution(0, 1)}
    assert study.trials[1].state == TrialState.COMPLETE


def test_one_instance_serves_one_study():
    space = CurrentSearchSpace()
    space.calculate(optuna.create_study(storage="sqlite:///:memory:"))
    other = optuna.create_study()
    other._study_id = 12345
    with pytest.raises(ValueError, match="make one per study"):
        space.calculate(other)


def test_groups_partition_parameters_by_the_trials_that_hold_them():
    study = optuna.create_study()
    space = CurrentSearchSpace()
    model = CategoricalDistribution(["lin", "tree"])
    _add(study, model=model, alpha=FloatDistribution(0, 1))
    _add(study, model=model, depth=IntDistribution(2, 9), lr=FloatDistribution(0, 1))
    _add(study, model=model, depth=IntDistribution(2, 12), lr=FloatDistribution(0, 1))
    groups = space.groups(study)
    assert [sorted(g) for g in groups] == [["alpha"], ["depth", "lr"], ["model"]]
    assert groups[1]["depth"] == IntDistribution(2, 12)  # the latest compatible range
    assert space.calculate(study) == {"model": model}  # the intersection is unchanged
    # lr turns log-scaled: incompatible, so it leaves every group for good.
    _add(study, model=model, depth=IntDistribution(2, 12), lr=FloatDistribution(0.1, 1, log=True))
    assert [sorted(g) for g in space.groups(study)] == [["alpha"], ["depth"], ["model"]]


def test_a_fixed_space_is_one_group_equal_to_its_intersection():
    study = optuna.create_study()
    space = CurrentSearchSpace()
    for _ in range(3):
        _add(study, x=FloatDistribution(0, 1), c=CategoricalDistribution(["a", "b"]))
    assert space.groups(study) == [space.calculate(study)]
    assert CurrentSearchSpace().groups(optuna.create_study()) == []
