from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler import SourceStudy
from optuna_rl_sampler.policy import DEFAULT_WEIGHTS
from optuna_rl_sampler.policy import WeightsError
from optuna_rl_sampler.policy import default_weights_path
from optuna_rl_sampler.sampler import REASON_KEY
from optuna_rl_sampler.sources import RECSYS_RECORD_KEY

optuna.logging.set_verbosity(optuna.logging.ERROR)

_SHIPPED_TRANSFER = str(default_weights_path(DEFAULT_WEIGHTS))


def _objective(shift: float = 0.0, sign: float = 1.0):
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
        loss = (x - 1.0 - shift) ** 2 + (math.log10(lr) + 3.0) ** 2
        return sign * (loss + (0.0 if act == "tanh" else 2.0))

    return objective


def _past_study(shift: float = 0.2, sign: float = 1.0, n: int = 60) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(_objective(shift, sign), n_trials=n)
    return study


def test_explicit_sources_seed_the_first_trial_with_their_best_configuration():
    past = _past_study()
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[past]))
    study.optimize(_objective(), n_trials=1)
    assert study.trials[0].params == past.best_params
    reason = study.trials[0].system_attrs[REASON_KEY]
    assert reason["source"] == "prior-startup" and reason["from"] == past.study_name


def test_the_first_trial_is_the_configuration_the_sources_agree_on():
    # Listed first, an outlier whose best x is near 4; the two studies after it agree
    # that x near 1 is best. The first trial takes a best configuration of the two.
    outlier = _past_study(shift=3.0, n=60)
    agreeing = [_past_study(shift=0.0, n=60), _past_study(shift=0.1, n=60)]
    sources = [outlier, *agreeing]
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=sources))
    study.optimize(_objective(), n_trials=1)
    best = sorted(((t.value, t.params) for s in agreeing for t in s.trials), key=lambda vp: vp[0])
    assert study.trials[0].params in [params for _, params in best[:6]]
    assert abs(study.trials[0].params["x"] - 1.0) < abs(outlier.best_params["x"] - 1.0)
    reason = study.trials[0].system_attrs[REASON_KEY]
    assert reason["from"] in (agreeing[0].study_name, agreeing[1].study_name)
    # Listed alone, the outlier's own best configuration is the first trial.
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[outlier]))
    study.optimize(_objective(), n_trials=1)
    assert study.trials[0].params == outlier.best_params


def test_reasons_name_the_sources_and_misleading_ones_lose_their_weight():
    good = SourceStudy.from_study(_past_study(), name="good")
    bad = SourceStudy.from_study(_past_study(0.0, sign=-1.0), name="bad")
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[bad, good]))
    study.optimize(_objective(), n_trials=15)
    prior = study.trials[-1].system_attrs[REASON_KEY]["prior"]
    assert prior["n_sources"] == 2
    assert prior["top_sources"]["good"] > prior["top_sources"]["bad"]
    assert prior["top_sources"]["bad"] == 0.0


def _phases(study: optuna.Study) -> list[str | None]:
    return [t.system_attrs[REASON_KEY].get("phase") for t in study.trials[1:]]


def _cube_points(study: optuna.Study, names: list[str]) -> np.ndarray:
    """The numeric parameters of every trial in [0, 1] (log scale where log)."""
    rows = []
    for t in study.trials:
        row = []
        for name in names:
            d = t.distributions[name]
            v = t.params[name]
            lo, hi, v = (
                (math.log(d.low), math.log(d.high), math.log(v)) if d.log else (d.low, d.high, v)
            )
            row.append((v - lo) / (hi - lo))
        rows.append(row)
    return np.array(rows)


def test_prior_startup_tries_the_sources_configurations_while_they_hold():
    good = SourceStudy.from_study(_past_study(n=80), name="good")
    also = SourceStudy.from_study(_past_study(0.1, n=80), name="also-good")
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[good, also]))
    study.optimize(_objective(), n_trials=8)
    reasons = [t.system_attrs[REASON_KEY] for t in study.trials[1:]]
    # Trials 1, 3 and 4 keep to the prior candidates (the sources rank the trials right),
    # trial 2 probes where they expect the worst, the policy chooses freely from trial 5
    # (prior_startup_trials=5).
    phases = ["prior-startup", "prior-probe", "prior-startup", "prior-startup"]
    assert _phases(study) == phases + [None] * 3
    assert [r["source"] for r in reasons[:4]] == ["prior", "sobol", "prior", "prior"]
    # The probe is the Sobol point the sources rate lowest: far from their best
    # configurations (trials 0 and 1), farther than any of the prior ones tried.
    cube = _cube_points(study, ["x", "lr"])
    gap = np.linalg.norm(cube[:, None] - cube[None, :2], axis=2).min(axis=1)
    assert gap[2] > 0.3 and gap[2] > gap[[3, 4]].max()
    assert (
        study.trials[2]
        .user_attrs["rl:reason"]
        .startswith("prior-probe: the Sobol point the sources rate lowest")
    )
    # The dashboard shows the sources and their weights beside the reason.
    assert study.trials[2].user_attrs["rl:sources"].startswith("2 studies, weight ")
    assert study.trials[3].user_attrs["rl:reason"].startswith("prior-startup: source config")
    # A single source (last month's study) is probed at once: trial 1 probes, and
    # since the probe ranks below the source's best (the source holds), trials 2-4 are
    # its own configurations again.
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[good]))
    study.optimize(_objective(), n_trials=8)
    assert _phases(study) == ["prior-probe"] + ["prior-startup"] * 3 + [None] * 3
    assert study.trials[1].value > study.trials[0].value  # a larger loss than the source best
    assert study.trials[2].system_attrs[REASON_KEY]["source"] == "prior"
    # Turned off: the policy chooses freely from the second trial.
    study = optuna.create_study(
        sampler=RLSampler(seed=0, source_studies=[good], prior_startup_trials=0)
    )
    study.optimize(_objective(), n_trials=4)
    assert _phases(study) == [None] * 3


def test_contradicted_sources_end_the_phase_with_probes_and_hand_off_to_generic():
    bad = SourceStudy.from_study(_past_study(0.0, sign=-1.0, n=80), name="bad")
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[bad]))
    study.optimize(_objective(), n_trials=8)
    reasons = [t.system_attrs[REASON_KEY] for t in study.trials[1:]]
    # Trial 0 is the single source's best configuration, so trial 1 is the probe, far
    # from it; it ranks against the source (the source loses most of its weight), so
    # trial 2, the phase's next, probes too ...
    assert _phases(study)[:2] == ["prior-probe", "prior-probe"]
    assert reasons[0]["prior"]["source_weight"] == 1.0  # one trial: no ranked pair yet
    assert reasons[1]["prior"]["source_weight"] < 0.5
    assert reasons[1]["prior"]["consensus"] == [0, 1]
    assert study.trials[1].value < study.trials[0].value  # a smaller loss than the source's best
    cube = _cube_points(study, ["x", "lr"])
    assert np.linalg.norm(cube[0] - cube[1]) > 0.4
    # Each probe is the point the source rates lowest, which a backwards source puts
    # in the objective's best region: both probes beat the source's favourite by far.
    assert max(study.trials[1].value, study.trials[2].value) < 0.1 * study.trials[0].value
    # ... and from trial 3 on the source is distrusted: the source ranks the three pairs
    # of trials no better than chance, it loses all its weight, offers no candidates,
    # and the generic weights choose, saying why.
    later = reasons[2:]
    assert all(r.get("phase") is None for r in later)
    assert all(r["handoff"] and r["weights"] == "generic-v1" for r in later)
    assert all(r["source"] != "prior" for r in later)
    assert reasons[2]["prior"]["source_weight"] == 0.0
    assert reasons[2]["prior"]["consensus"] == [0, 3]
    assert reasons[2]["distrusted"].startswith("the sources' consensus ranks 3 of 3 pairs")
    assert (
        study.trials[3]
        .user_attrs["rl:reason"]
        .startswith("sources distrusted (the sources' consensus ranks 3 of 3 pairs")
    )
    # A meta-model whose card names no hand-off (transfer-v1 was trained without one)
    # makes every proposal ...
    v1 = str(default_weights_path("transfer-v1"))
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[bad], meta_model=v1))
    study.optimize(_objective(), n_trials=6)
    assert not any(t.system_attrs[REASON_KEY].get("handoff") for t in study.trials)
    assert {t.system_attrs[REASON_KEY]["weights"] for t in study.trials[1:]} == {"transfer-v1"}
    # ... and one trained with a hand-off (the shipped transfer weights, like every
    # fine-tuned model by default) hands off as its card says, as the default does.
    own = RLSampler(seed=0, source_studies=[bad], meta_model=_SHIPPED_TRANSFER)
    study = optuna.create_study(sampler=own)
    study.optimize(_objective(), n_trials=8)
    mine = [t.system_attrs[REASON_KEY] for t in study.trials[1:]]
    assert [r.get("handoff") for r in mine] == [r.get("handoff") for r in reasons]
    assert {r["weights"] for r in mine if r.get("handoff")} == {"generic-v1"}


def test_a_meta_model_whose_hand_off_cannot_load_fails_at_construction(tmp_path):
    import json
    import shutil

    path = tmp_path / "mine.safetensors"
    shutil.copy(_SHIPPED_TRANSFER, path)
    card = json.loads(Path(_SHIPPED_TRANSFER).with_suffix(".json").read_text())
    card["config"]["handoff"] = "generic-v9"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="trained to hand off to 'generic-v9'"):
        RLSampler(meta_model=str(path))


def test_trusted_sources_keep_the_transfer_weights():
    good = SourceStudy.from_study(_past_study(n=80), name="good")
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[good]))
    study.optimize(_objective(), n_trials=12)
    after = [t.system_attrs[REASON_KEY] for t in study.trials[5:]]
    # After the phase the weights follow the source's weight, trial by trial; a
    # related source holds three quarters of it in most trials.
    for r in after:
        distrusted = r["prior"]["source_weight"] < 0.75
        assert (r["weights"] == "generic-v1") == distrusted == bool(r.get("handoff"))
    assert sum(r["weights"] == "transfer-v2" for r in after) >= 4


def test_good_sources_reach_a_good_value_sooner():
    past = _past_study(n=80)
    with_sources, without = [], []
    for seed in range(3):
        for sources, out in (([past], with_sources), (None, without)):
            study = optuna.create_study(sampler=RLSampler(seed=seed, source_studies=sources))
            study.optimize(_objective(), n_trials=5)
            out.append(study.best_value)
    assert np.mean(with_sources) < 0.5 * np.mean(without)


def test_auto_sources_ignore_an_unrelated_space():
    sampler = RLSampler(seed=0)  # source_studies="auto"
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("unrelated_a", 0, 1) ** 2, n_trials=3)
    assert "prior" not in study.trials[-1].system_attrs[REASON_KEY]


def _lightgbm_like(trial: optuna.Trial) -> float:
    """A user's own LightGBM *classifier* space: 8 of the 10 parameter names (and
    distributions) of the shipped lightgbm-ranker studies, which a name match used to
    take for a ranker."""
    leaves = trial.suggest_int("num_leaves", 8, 256, log=True)
    lr = trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
    trial.suggest_int("n_estimators", 50, 500)
    trial.suggest_int("min_child_samples", 5, 200, log=True)
    trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True)
    trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True)
    trial.suggest_float("feature_fraction", 0.5, 1.0)
    trial.suggest_float("bagging_fraction", 0.5, 1.0)
    return math.log(leaves) / 6 - (math.log10(lr) + 1.3) ** 2


def _transfer_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The sampler's lines on which sources a study uses (Optuna's logger tree)."""
    messages = [r.getMessage() for r in caplog.records]
    return [m for m in messages if m.startswith("RLSampler transfer for study")]


_RANKER_RECORD = {
    "model": "lightgbm-ranker",
    "metric": "ndcg@10",
    "direction": "maximize",
    "dataset": "mine",
    "dataset_fingerprint": "mine:000000000000",
}


def test_auto_transfer_needs_the_study_record_not_matching_names(optuna_caplog):
    sampler = RLSampler(seed=0, n_candidates=64)  # source_studies="auto"
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_lightgbm_like, n_trials=4)
    assert sampler.sources_for(study) == []
    for t in study.trials[1:]:
        reason = t.system_attrs[REASON_KEY]
        assert "prior" not in reason and reason["weights"] == "generic-v1"
    # One line for the study (not one per trial), saying why and how to opt in.
    lines = _transfer_lines(optuna_caplog)
    assert len(lines) == 1, lines
    assert (
        "no recommender record on the study (user attr 'rl:recsys'): auto transfer off" in lines[0]
    )
    assert "pass source_studies=... to opt in" in lines[0] and "'two-tower'" in lines[0]


def test_auto_reads_the_shipped_corpus_only_for_a_study_that_records_a_family():
    from optuna_rl_sampler.sources import BUILTIN_FAMILIES
    from optuna_rl_sampler.sources import _builtin_bank
    from optuna_rl_sampler.sources import builtin_families
    from optuna_rl_sampler.sources import load_builtin_sources

    _builtin_bank.cache_clear()
    sampler = RLSampler(seed=0, n_candidates=64)  # source_studies="auto"
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_lightgbm_like, n_trials=3)
    # A study without a record never reads the corpus (its messages name the families
    # from the constant, which must be the corpus's).
    assert _builtin_bank.cache_info().currsize == 0
    assert builtin_families() == sorted(BUILTIN_FAMILIES)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.set_user_attr(RECSYS_RECORD_KEY, _RANKER_RECORD)
    study.optimize(_lightgbm_like, n_trials=2)
    assert _builtin_bank.cache_info().currsize == 1  # read once, when first needed
    assert builtin_families(load_builtin_sources()) == sorted(BUILTIN_FAMILIES)


def test_auto_transfer_uses_only_the_family_the_record_names(optuna_caplog):
    sampler = RLSampler(seed=0, n_candidates=64)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.set_user_attr(RECSYS_RECORD_KEY, _RANKER_RECORD)
    study.optimize(_lightgbm_like, n_trials=3)
    chosen = sampler.sources_for(study)
    assert len(chosen) == 52 and {s.attrs["model"] for s in chosen} == {"lightgbm-ranker"}
    assert len(sampler.source_studies) == 97  # the bank "auto" chooses from
    prior = study.trials[-1].system_attrs[REASON_KEY]["prior"]
    assert prior["n_sources"] == 52 and prior["n_offered"] == 52
    assert all(name.startswith("lightgbm-ranker/") for name in prior["top_sources"])
    lines = _transfer_lines(optuna_caplog)
    assert len(lines) == 1, lines
    assert (
        "the study records that it tunes 'lightgbm-ranker' (ndcg@10, maximize): auto "
        "transfer from the 52 shipped studies of 'lightgbm-ranker'; 52 of them match this "
        "search space" in lines[0]
    )
    # A record whose metric needs the other direction is not trusted.
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.set_user_attr(RECSYS_RECORD_KEY, _RANKER_RECORD)
    assert sampler.sources_for(study) == []
    # Nor one naming a family the corpus does not have.
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.set_user_attr(RECSYS_RECORD_KEY, {**_RANKER_RECORD, "model": "popularity"})
    assert sampler.sources_for(study) == []


def test_a_family_name_opts_in_to_that_familys_studies(optuna_caplog):
    sampler = RLSampler(seed=0, n_candidates=64, source_studies="lightgbm-ranker")
    assert len(sampler.source_studies) == 52
    assert {s.attrs["model"] for s in sampler.source_studies} == {"lightgbm-ranker"}
    study = optuna.create_study(direction="maximize", sampler=sampler)  # no record
    study.optimize(_lightgbm_like, n_trials=3)
    assert sampler.sources_for(study) == sampler.source_studies
    # Explicit sources seed the first trial with a best configuration of the family.
    first = study.trials[0].system_attrs[REASON_KEY]
    assert first["source"] == "prior-startup" and first["from"].startswith("lightgbm-ranker/")
    prior = study.trials[-1].system_attrs[REASON_KEY]["prior"]
    assert prior["n_sources"] == 52
    lines = _transfer_lines(optuna_caplog)
    assert len(lines) == 1 and "source_studies='lightgbm-ranker': transfer from the 52" in lines[0]


def test_bad_source_arguments_are_named():
    with pytest.raises(ValueError, match=r"source_studies\[1\] is a dict"):
        RLSampler(source_studies=[_past_study(n=5), {"x": 1}])
    with pytest.raises(ValueError, match="'auto', 'none'") as info:
        RLSampler(source_studies="everything")
    assert "got 'everything'" in str(info.value)
    assert "('lightgbm-ranker', 'two-tower')" in str(info.value)
    assert RLSampler(source_studies=None).source_studies == []
    with pytest.raises(ValueError, match="prior_startup_trials"):
        RLSampler(prior_startup_trials=-1)
    with pytest.raises(TypeError, match="prior_startup_trials"):
        RLSampler(prior_startup_trials=2.5)


def test_a_source_value_reaches_a_parameter_only_in_its_kind():
    # The source's "x" is a categorical True/False, the new study's "x" an int of the
    # same name (bool is an int in Python): the first trial takes the source's best "y"
    # but never a bool for "x"; "c" takes the source's 2.0 as the study's own choice 2.
    rows = tuple({"x": bool(i % 2), "y": i / 10, "c": 2.0} for i in range(10))
    source = SourceStudy(
        "flags",
        {
            "x": optuna.distributions.CategoricalDistribution([True, False]),
            "y": optuna.distributions.FloatDistribution(0.0, 1.0),
            "c": optuna.distributions.CategoricalDistribution([1.0, 2.0]),
        },
        rows,
        -((np.arange(10) / 10 - 0.3) ** 2),
    )
    returned = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_int("x", -10, 10)
        y = trial.suggest_float("y", 0.0, 1.0)
        c = trial.suggest_categorical("c", [1, 2])
        returned.append((x, y, c))  # what the sampler returned, before storage
        return abs(x) + y + c

    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[source]))
    study.optimize(objective, n_trials=1)
    x, y, c = returned[0]
    assert type(x) is int  # before the fix: True, the best row's x
    assert y == 0.3 and c == 2 and type(c) is int
    assert study.trials[0].system_attrs[REASON_KEY]["from"] == "flags"


def test_an_evaluated_configuration_is_never_offered_again_by_the_sources():
    # A greedy 1-parameter study whose source's best configurations are few (x = 0.3,
    # 0.35, 0.4, ..., each eight times): the sources used to offer x = 0.3 again and again
    # (7 of 23 trials repeated it); now every trial is a new configuration.
    rng = np.random.default_rng(0)
    xs = np.repeat([0.3, 0.35, 0.4, 0.6, 0.8], 8)
    source = SourceStudy(
        "few",
        {
            "x": optuna.distributions.FloatDistribution(0, 1),
            "z": optuna.distributions.FloatDistribution(0, 1),
        },
        tuple({"x": float(x), "z": float(z)} for x, z in zip(xs, rng.random(40), strict=True)),
        -((xs - 0.3) ** 2) + 0.01 * rng.random(40),
    )
    sampler = RLSampler(seed=0, greedy=True, source_studies=[source])
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.32) ** 2, n_trials=23)
    xs_tried = [t.params["x"] for t in study.trials]
    assert len(set(xs_tried)) == 23
    reasons = [t.system_attrs[REASON_KEY] for t in study.trials[1:]]
    # The sources still propose (trial 0 and two more), but only while trusted.
    assert sum(r["source"] == "prior" for r in reasons) >= 2
    assert not any(r.get("handoff") for r in reasons if r["source"] == "prior")
    assert not any("repeat" in r for r in reasons)


def test_a_repeated_configuration_is_said_in_the_reasons():
    # Three configurations in all: from the fourth trial on every proposal repeats one.
    study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=None))
    study.optimize(lambda t: ["a", "b", "c"].index(t.suggest_categorical("c", "abc")), 6)
    reasons = [t.system_attrs[REASON_KEY] for t in study.trials]
    assert len({t.params["c"] for t in study.trials[:3]}) <= 3
    for t, r in zip(study.trials[1:], reasons[1:], strict=True):
        earlier = {u.params["c"] for u in study.trials[: t.number]}
        assert (r.get("repeat") == "evaluated") == (t.params["c"] in earlier)
    assert any(r.get("repeat") == "evaluated" for r in reasons[3:])
    repeated = next(t for t, r in zip(study.trials, reasons, strict=True) if r.get("repeat"))
    assert repeated.user_attrs["rl:reason"].endswith("; repeats an evaluated configuration")


def test_no_configuration_is_proposed_twice_while_a_fresh_one_exists():
    # A 20-point grid (10 ints x 2 choices) in 20 trials: every trial is a new point.
    # Before, the policy's local moves came back to evaluated points: 9-11 distinct
    # configurations in 20 trials over seeds 0-4.
    for seed in (0, 1):
        study = optuna.create_study(sampler=RLSampler(seed=seed, source_studies=None))
        study.optimize(
            lambda t: (
                (t.suggest_int("x", 0, 9) - 6) ** 2 + (t.suggest_categorical("c", "ab") == "a")
            ),
            n_trials=20,
        )
        assert len({(t.params["x"], t.params["c"]) for t in study.trials}) == 20
        reasons = [t.system_attrs[REASON_KEY] for t in study.trials[1:]]
        assert not any(r.get("repeat") for r in reasons)
        assert any(r.get("avoided_repeat") for r in reasons)


def test_a_multi_objective_source_study_says_what_to_pass():
    past = optuna.create_study(directions=["maximize", "minimize"])
    past.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), 8)
    with pytest.raises(ValueError) as info:
        RLSampler(source_studies=[_past_study(n=5), past])
    message = str(info.value)
    assert message.startswith(f"source_studies[1]: Study {past.study_name!r} has 2 objectives")
    assert "SourceStudy.from_study(study, objective=k) with objective=0 for 'objective 0'" in (
        message
    )
    assert "objective=1 for 'objective 1' (minimize)" in message
    # What the message says works: one objective of it, minimised values negated.
    source = SourceStudy.from_study(past, objective=1)
    assert len(source) == 8
    np.testing.assert_allclose(source.values, [-t.values[1] for t in past.trials])
    assert RLSampler(source_studies=[source]).source_studies == [source]


def test_weights_for_names_the_weights_that_propose():
    good = SourceStudy.from_study(_past_study(0.0, n=40), name="good")
    sampler = RLSampler(seed=0, source_studies=[good])
    study = optuna.create_study(sampler=sampler)
    # Before any trial the search space is unknown: no source can match it yet.
    assert sampler.weights_for(study).name == "generic-v1"
    study.optimize(_objective(), n_trials=3)
    assert sampler.weights_for(study).name == sampler.weights.name == "transfer-v2"
    # Its proposals say the same (the hand-off aside).
    reason = study.trials[-1].system_attrs[REASON_KEY]
    assert reason["weights"] == "transfer-v2" or reason.get("handoff")
    plain = RLSampler(seed=0, source_studies=None)
    other = optuna.create_study(sampler=plain)
    other.optimize(_objective(), n_trials=3)
    assert plain.weights_for(other).name == "generic-v1"
