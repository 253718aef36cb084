"""The conditional-search-space benchmark: its problems, runner and report."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from benchmarks.conditional import PROBLEMS
from benchmarks.conditional import StudyJob
from benchmarks.conditional import run_study
from benchmarks.conditional import summarise
from benchmarks.conditional import write_conditional
from benchmarks.harness import read_json


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_problem_has_its_optimum_at_zero_and_conditional_parameters(name: str) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(PROBLEMS[name], n_trials=40)
    assert min(t.value for t in study.trials) > 0
    held = [frozenset(t.params) for t in study.trials]
    assert len(set(held)) >= 2  # trials hold different parameters


def test_run_study_and_summary_pair_rl_with_the_others() -> None:
    records = [
        run_study(StudyJob("three-models", sampler, seed, 12))
        for sampler in ("rl", "random")
        for seed in (0, 1)
    ]
    assert all(len(r["values"]) == 12 for r in records)
    summary = summarise(records)
    block = summary["problems"]["three-models"]
    assert summary["checkpoints"] == [10]
    assert set(block["samplers"]) == {"rl", "random"}
    rl = [r for r in records if r["sampler"] == "rl"]
    assert block["samplers"]["rl"]["mean"][0] == pytest.approx(
        sum(min(r["values"][:10]) for r in rl) / 2
    )
    assert len(block["rl_minus"]["random"][0]) == 3  # mean, low, high


def test_write_conditional_writes_results_summary_and_plot(tmp_path: Path) -> None:
    paths = write_conditional(
        tmp_path, seeds=[0, 1], n_trials=10, samplers=["rl", "tpe"], problems=["optimizer"],
        workers=0, progress=False,
    )  # fmt: skip
    assert {p.name for p in paths} == {"results.json.gz", "summary.md", "regret.png"}
    data = read_json(tmp_path / "results.json.gz")
    assert len(data["runs"]) == 4 and json.dumps(data["summary"])
    text = (tmp_path / "summary.md").read_text()
    assert "## optimizer" in text and "rl - tpe" in text
    with pytest.raises(ValueError, match="sampler 'gp'"):
        write_conditional(tmp_path, samplers=["gp"], workers=0, progress=False)


def test_seed_ranges_name_the_committed_seeds_and_leave_the_development_ones_out():
    from benchmarks.conditional import DEFAULT_SEEDS
    from benchmarks.conditional import seed_ranges

    assert seed_ranges(DEFAULT_SEEDS) == "0-9,40-59"
    assert not set(DEFAULT_SEEDS) & set(range(10, 40))  # the development seeds
    assert seed_ranges([5, 0, 1, 2, 2]) == "0-2,5"
    assert seed_ranges([7]) == "7"
