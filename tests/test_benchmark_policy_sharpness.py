"""The policy-sharpness report: what it records, and that recording changes nothing."""

from __future__ import annotations

import importlib.util

import numpy as np
import optuna
import pytest

from benchmarks import policy_sharpness as ps
from optuna_rl_sampler import RLSampler
from optuna_rl_sampler import sampler as sampler_module

needs_cocoex = pytest.mark.skipif(
    importlib.util.find_spec("cocoex") is None, reason="needs cocoex (the bench extra)"
)


def _params_of_a_study(record: bool) -> list[dict[str, float]]:
    rows: list[dict] = []
    study = optuna.create_study(sampler=RLSampler(seed=3))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -2.0, 2.0)
        y = trial.suggest_float("y", -2.0, 2.0)
        return (x - 0.5) ** 2 + (y + 1.0) ** 2

    if record:
        with ps._recorded_proposals(rows):
            study.optimize(objective, n_trials=8)
        # One row per proposal: the first trial is drawn before there is a search space.
        assert [r["n_observed"] for r in rows] == list(range(1, 8))
    else:
        study.optimize(objective, n_trials=8)
    return [t.params for t in study.trials]


def test_recording_leaves_proposals_unchanged_and_restores_the_sampler():
    original = sampler_module.propose
    assert _params_of_a_study(record=True) == _params_of_a_study(record=False)
    assert sampler_module.propose is original


def test_recorded_rows_measure_the_probabilities():
    rows: list[dict] = []
    study = optuna.create_study(sampler=RLSampler(seed=0))
    with ps._recorded_proposals(rows):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) ** 2, n_trials=6)
    assert rows
    for row in rows:
        assert 0.0 <= row["entropy"] <= 1.0
        assert row["top"] >= 1.0  # the largest of N probabilities is at least 1/N
        assert row["source"] in ("sobol", "local", "gradient")
        assert row["weights"] == "generic-v1"


def _record(dimension: int, entropies: list[float], sources: list[str]) -> dict:
    return {
        "function": 1,
        "dimension": dimension,
        "seed": 0,
        "proposals": [
            {"n_observed": i, "entropy": e, "top": 1.0 + e, "source": s, "weights": "w"}
            for i, (e, s) in enumerate(zip(entropies, sources, strict=True))
        ],
    }


def test_summarise_known_values():
    n = 12
    records = [
        _record(2, [0.5] * n, ["sobol"] * n),
        _record(5, [1.0] * n, ["local"] * 6 + ["gradient"] * 6),
    ]
    summary = ps.summarise(records)
    assert summary["n_studies"] == 2 and summary["weights"] == ["w"]
    assert summary["curves"]["all"]["median"] == [0.75] * n
    assert summary["curves"]["all"]["trial"] == list(range(1, n + 1))
    assert summary["curves"]["2-D"]["median"] == [0.5] * n
    first, second = summary["buckets"]["all"]  # trials 1-10 and 11-12; later ones empty
    assert first["trials"] == "1-10" and second["trials"] == "11-20"
    assert first["entropy"] == pytest.approx(0.75)
    assert first["top"] == pytest.approx(1.75)
    assert first["share"] == pytest.approx({"sobol": 0.5, "local": 0.3, "gradient": 0.2})
    assert second["share"] == pytest.approx({"sobol": 0.5, "local": 0.0, "gradient": 0.5})


@needs_cocoex
def test_run_study_records_every_proposal():
    record = ps.run_study(ps.StudyJob(function=1, dimension=2, seed=0, n_trials=5))
    assert record["dimension"] == 2 and len(record["proposals"]) == 4
    entropy = np.array([p["entropy"] for p in record["proposals"]])
    assert ((entropy >= 0) & (entropy <= 1)).all()
