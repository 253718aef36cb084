"""The modules RLSampler is a shell over: evidence, fallbacks, arguments and sources."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import TrialState
from optuna.trial import create_trial

from optuna_rl_sampler.arguments import check_int
from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.evidence import EvidenceCache
from optuna_rl_sampler.evidence import read_evidence
from optuna_rl_sampler.evidence import scalarise
from optuna_rl_sampler.fallbacks import MAX_ERROR_CHARS
from optuna_rl_sampler.fallbacks import fallback_reason
from optuna_rl_sampler.fallbacks import previous_fallbacks
from optuna_rl_sampler.fallbacks import sample_uniform
from optuna_rl_sampler.policy import load_policies
from optuna_rl_sampler.reasons import REASON_KEY
from optuna_rl_sampler.sources import describe_source_studies
from optuna_rl_sampler.sources import read_source_studies

optuna.logging.set_verbosity(optuna.logging.ERROR)

_X = FloatDistribution(0.0, 1.0)


def _trial(state: TrialState, x: float, **kwargs) -> optuna.trial.FrozenTrial:
    return create_trial(state=state, params={"x": x}, distributions={"x": _X}, **kwargs)


def test_evidence_keeps_complete_and_reported_pruned_trials_and_the_running_ones():
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(TrialState.COMPLETE, 0.1, value=2.0))
    study.add_trial(_trial(TrialState.PRUNED, 0.2, intermediate_values={0: 1.0}))
    study.add_trial(_trial(TrialState.PRUNED, 0.3))  # nothing reported: ignored
    wide = FloatDistribution(0.0, 2.0)
    outside = create_trial(value=3.0, params={"x": 1.5}, distributions={"x": wide})
    study.add_trial(outside)  # outside the current search space: ignored
    study.add_trial(_trial(TrialState.FAIL, 0.5))  # ignored
    study.add_trial(_trial(TrialState.RUNNING, 0.6))
    current = study.ask()  # the trial being proposed is never its own evidence
    evidence = read_evidence(study, current._cached_frozen_trial, SearchSpaceEncoder({"x": _X}))
    np.testing.assert_allclose(evidence.points[:, 0], [0.1, 0.2])
    assert evidence.values.tolist() == [[2.0], [-math.inf]]  # maximised: sign kept
    assert np.isnan(evidence.violations).all()
    np.testing.assert_allclose(evidence.pending[:, 0], [0.6])


def _assert_same_evidence(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_evidence_cache_reads_each_finished_trial_once_and_gives_the_uncached_result():
    study = optuna.create_study(directions=["minimize", "maximize"])
    enc = SearchSpaceEncoder({"x": _X})
    cache = EvidenceCache()
    rng = np.random.default_rng(0)
    for i in range(30):
        x = float(rng.uniform())
        if i % 7 == 3:
            study.add_trial(_trial(TrialState.PRUNED, x, intermediate_values={0: 1.0}))
        elif i % 11 == 5:
            study.add_trial(_trial(TrialState.FAIL, x))
        else:
            attrs = {"constraints": [x - 0.5]} if i % 2 else {}
            study.add_trial(_trial(TrialState.COMPLETE, x, values=[x, -x], system_attrs=attrs))
        current = study.ask()._cached_frozen_trial
        cached = read_evidence(study, current, enc, cache)
        _assert_same_evidence(cached, read_evidence(study, current, enc))
        study.tell(current.number, state=TrialState.FAIL)
    assert len(cached.points) == 30 - 3  # all but the three FAIL trials (i = 5, 16, 27)
    # A trial already read is not read again: change a cached row and it stays changed.
    cache._values[0] = 99.0
    current = study.ask()._cached_frozen_trial
    assert read_evidence(study, current, enc, cache).values[0, 0] == -99.0
    # A narrower search space encodes the points again and leaves out what it excludes.
    narrow = SearchSpaceEncoder({"x": FloatDistribution(0.0, 0.5)})
    _assert_same_evidence(
        read_evidence(study, current, narrow, cache), read_evidence(study, current, narrow)
    )


def test_evidence_cache_keeps_each_search_space_and_hands_out_read_only_rows():
    # The groups of a conditional space take turns: each space keeps its encoding, and
    # every read equals the uncached one.
    study = optuna.create_study()
    wide, narrow = (
        SearchSpaceEncoder({"x": _X}),
        SearchSpaceEncoder({"x": FloatDistribution(0, 0.5)}),
    )
    cache = EvidenceCache()
    for i, x in enumerate(np.linspace(0.05, 0.95, 12)):
        study.add_trial(_trial(TrialState.COMPLETE, float(x), value=float(x)))
        current = study.ask()._cached_frozen_trial
        for enc in (wide, narrow) if i % 2 else (narrow, wide):
            _assert_same_evidence(
                read_evidence(study, current, enc, cache), read_evidence(study, current, enc)
            )
        study.tell(current.number, state=TrialState.FAIL)
    assert len(cache._encoded) == 2 and {e.n for e in cache._encoded.values()} == {12}
    evidence = read_evidence(study, study.ask()._cached_frozen_trial, wide, cache)
    assert len(evidence.points) == 12 and not evidence.points.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        evidence.points[0, 0] = 1.0  # the cache's own rows: never changed in place


def test_evidence_cache_looks_only_at_the_trials_after_the_ones_it_read_last():
    class CountingRows(dict):
        looked = 0

        def get(self, *args):
            self.looked += 1
            return super().get(*args)

    study = optuna.create_study()
    enc = SearchSpaceEncoder({"x": _X})
    cache = EvidenceCache()
    for x in np.linspace(0.05, 0.95, 10):
        study.add_trial(_trial(TrialState.COMPLETE, float(x), value=float(x)))
    current = study.ask()._cached_frozen_trial
    read_evidence(study, current, enc, cache)
    cache._rows = rows = CountingRows(cache._rows)
    study.add_trial(_trial(TrialState.COMPLETE, 0.5, value=0.5))
    fast = read_evidence(study, current, enc, cache)
    assert rows.looked == 1  # the in-memory storage's objects: only the new trial
    _assert_same_evidence(fast, read_evidence(study, current, enc))
    # Other objects for the same trials (a storage that builds them at every read), or
    # only some of the trials (the choice of a conditional space's branch): all are
    # looked at again, and every result is the uncached one.
    trials = study.get_trials(deepcopy=False)
    for subset in (copy.deepcopy(trials), trials[::2], trials, trials[1:]):
        rows.looked = 0
        cached = read_evidence(study, current, enc, cache, subset)
        _assert_same_evidence(cached, read_evidence(study, current, enc, None, subset))
        assert rows.looked == sum(t.state.is_finished() for t in subset)


def test_evidence_cache_reads_trials_without_weak_references_in_full(monkeypatch):
    import optuna_rl_sampler.evidence as evidence_module

    def no_weak_references(obj):
        raise TypeError(f"cannot create weak reference to {type(obj).__name__!r} object")

    monkeypatch.setattr(evidence_module.weakref, "ref", no_weak_references)
    study = optuna.create_study()
    enc = SearchSpaceEncoder({"x": _X})
    cache = EvidenceCache()
    for x in (0.2, 0.4, 0.6):
        study.add_trial(_trial(TrialState.COMPLETE, x, value=x))
        current = study.ask()._cached_frozen_trial
        cached = read_evidence(study, current, enc, cache)
        _assert_same_evidence(cached, read_evidence(study, current, enc))
        complete = study.get_trials(states=(TrialState.COMPLETE,))
        assert cache._refs == [] and len(cached.points) == len(complete)
        study.tell(current.number, state=TrialState.FAIL)


def test_evidence_cache_starts_afresh_for_another_study_and_when_pickled():
    enc = SearchSpaceEncoder({"x": _X})
    cache = EvidenceCache()
    evidence = []
    for value in (1.0, 2.0):
        study = optuna.create_study()
        study.add_trial(_trial(TrialState.COMPLETE, 0.25, value=value))
        current = study.ask()._cached_frozen_trial
        evidence.append(read_evidence(study, current, enc, cache))
    # Both in-memory studies have trial id 0; the second is not read from the first's.
    assert [e.values.tolist() for e in evidence] == [[[-1.0]], [[-2.0]]]
    copy = pickle.loads(pickle.dumps(cache))
    assert copy._rows == {} and len(cache._rows) == 1
    assert read_evidence(study, current, enc, copy).values.tolist() == [[-2.0]]


def test_scalarise_records_the_weights_and_the_feasibility_counts():
    # Three objectives: ParEGO's weights (two objectives start with the hypervolume
    # utility, see test_hypervolume.py).
    values = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5]])
    scores, reason, w = scalarise(values, np.array([0.0, 2.0, math.nan]), np.random.default_rng(0))
    assert scores.shape == (3,) and w is not None and w.shape == (3,)
    assert reason["scalarisation"]["method"] == "augmented-chebyshev"
    assert reason["scalarisation"]["scale"] == "pareto-front"
    assert reason["constraints"] == {"n_feasible": 1, "n_infeasible": 1}
    scores, reason, w = scalarise(values[:, :1], np.full(3, math.nan), np.random.default_rng(0))
    assert scores.tolist() == [1.0, 0.0, 0.5] and reason == {}


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(1e-5, 1e-1, log=True),
        FloatDistribution(0.0, 1.0, step=0.25),
        IntDistribution(0, 10),
        CategoricalDistribution(["a", "b", "c"]),
    ],
)
def test_uniform_draws_depend_on_seed_trial_and_parameter_only(dist):
    draws = [sample_uniform(7, n, "p", dist) for n in range(20)]
    assert draws == [sample_uniform(7, n, "p", dist) for n in range(20)]
    assert all(dist._contains(dist.to_internal_repr(v)) for v in draws)
    assert len({repr(v) for v in draws}) > 1
    assert sample_uniform(7, 0, "p", IntDistribution(3, 3)) == 3


def test_a_fallback_reason_counts_the_failures_just_before_it():
    study = optuna.create_study()
    reasons = [
        {"source": "startup"},
        {"source": "fallback", "error": "E: 1", "consecutive_fallbacks": 1},
        {"source": "enqueued"},  # not a proposal: skipped
        None,  # no reason: skipped
    ]
    for reason in reasons:
        attrs = {} if reason is None else {REASON_KEY: reason}
        study.add_trial(_trial(TrialState.COMPLETE, 0.5, value=1.0, system_attrs=attrs))
    current = study.ask()._cached_frozen_trial
    assert previous_fallbacks(study, current) == 1
    reason = fallback_reason(study, current, ValueError("x" * 1000))
    assert reason["source"] == "fallback" and reason["consecutive_fallbacks"] == 2
    assert len(reason["error"]) == MAX_ERROR_CHARS and reason["error"].endswith("...")
    assert reason["error"].startswith("ValueError: xxx")


def test_source_studies_are_read_once_and_empty_ones_named():
    past = optuna.create_study(study_name="past")
    past.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    empty = optuna.create_study(study_name="empty")
    sources, left_out = read_source_studies([past, empty])
    assert [s.name for s in sources] == ["past"] and left_out == ["empty"]
    assert read_source_studies(past)[0][0].name == "past"  # one study: a list of one
    assert read_source_studies(None) == ([], []) == read_source_studies("none")
    family, left_out = read_source_studies("two-tower")
    assert family and left_out == []
    assert {s.attrs["model"] for s in family} == {"two-tower"}
    with pytest.raises(ValueError, match=r"source_studies\[0\] is a int"):
        read_source_studies([3])
    assert (
        describe_source_studies([past], 1)
        == "transfer from the 1 studies passed as source_studies"
    )
    assert describe_source_studies(None, 0) == "source_studies=None: transfer off"


def test_int_arguments_name_the_argument_and_the_fix():
    assert check_int("n", np.int64(3), 1, hint="an int") == 3
    with pytest.raises(TypeError, match=r"^n must be an int; got True \(bool\)\.$"):
        check_int("n", True, 1, hint="an int")
    with pytest.raises(ValueError, match=r"^n must be at most 4, got 5\. Pass an int\.$"):
        check_int("n", 5, 1, 4, hint="an int")


def test_the_shipped_weights_hand_off_to_the_generic_weights_already_loaded():
    policies = load_policies(None)
    assert (policies.weights.name, policies.generic.name) == ("transfer-v2", "generic-v1")
    assert policies.handoff is policies.generic
