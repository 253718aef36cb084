"""The tuning workflow of :mod:`optuna_rl_sampler.recsys.tuning`, run in-process.

What the recipes and ``optuna-rl tune`` print and save: the report, the study, the
files, the one-line errors. ``tests/recsys/test_recipes.py`` runs the scripts
themselves as a new user would.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from contextlib import redirect_stderr
from contextlib import redirect_stdout
from pathlib import Path
from unittest import mock

import optuna
import pytest

from optuna_rl_sampler.cli import main as cli_main
from optuna_rl_sampler.recsys import pareto
from optuna_rl_sampler.recsys import tuning
from optuna_rl_sampler.recsys import tuning_report
from optuna_rl_sampler.recsys import tuning_studies

#: What a run needs of the environment: no third-party plugins, and no change to the
#: test process's own environment (``main`` sets ``OMP_WAIT_POLICY``).
_ENV = {"OPTUNA_RL_PLUGINS": "", "OMP_WAIT_POLICY": "PASSIVE"}


def run_tuning(domain: str, *args: str, command: bool = False) -> tuple[int, str, str]:
    """Run a recipe's command line in-process (``command``: as ``optuna-rl tune
    --domain DOMAIN``); ``(exit status, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    verbosity = optuna.logging.get_verbosity()
    try:
        with mock.patch.dict(os.environ, _ENV), redirect_stdout(out), redirect_stderr(err):
            if command:
                code = cli_main(["tune", "--domain", domain, *args])
            else:
                code = tuning.main(list(args), domain=domain)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    finally:
        optuna.logging.set_verbosity(verbosity)  # create_study quietens Optuna
    return code, out.getvalue(), err.getvalue()


#: domain -> (tuned metric, sampler flag).
CASES = {
    "news": ("ndcg@10", "random,tpe"),
    "social": ("ndcg@10", "random"),
}
_INTERVAL = r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]"


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """``news`` and ``social`` on tiny synthetic data for 3 trials, with other samplers
    than the default (``tests/recsys/test_recipes.py`` runs the default one)."""
    runs = {}
    for domain, (_, sampler) in CASES.items():
        folder = tmp_path_factory.mktemp(domain)
        storage = f"sqlite:///{folder / 'study.db'}"
        args = ["--trials", "3", "--storage", storage, "--out", str(folder / "out"),
                "--no-progress", "--size", "tiny", "--sampler", sampler, "--study-name",
                "smoke"]  # fmt: skip
        runs[domain] = (*run_tuning(domain, *args), storage, folder)
    return runs


def studies_of(sampler: str | None, storage: str) -> list[optuna.Study]:
    """The studies of a smoke run: ``sampler`` ``None`` is the default run (rl, the
    descriptive study name), else ``--study-name smoke``."""
    if sampler is None:
        names = optuna.get_all_study_names(storage)
        assert len(names) == 1 and names[0].endswith("-lightgbm-ranker-rl-seed0"), names
        return [optuna.load_study(study_name=names[0], storage=storage)]
    samplers = sampler.split(",")
    names = ["smoke"] if len(samplers) == 1 else [f"smoke-{s}" for s in samplers]
    return [optuna.load_study(study_name=n, storage=storage) for n in names]


def check_report(
    domain: str, metric: str, sampler: str | None, run: tuple[int, str, str, str, Path]
) -> None:
    """What every single-objective run prints and saves (shared with test_recipes.py)."""
    returncode, out, err, storage, folder = run
    assert returncode == 0, err
    assert "Best params:" in out
    assert "num_leaves:" in out  # lightgbm-ranker is the default model
    columns = ["tuned"] if sampler is None or "," not in sampler else [
        f"tuned:{s}" for s in sampler.split(",")
    ]  # fmt: skip
    assert re.search(r"metric\s+" + r"\s+".join([*columns, "default", "popularity"]), out), out
    n = len(columns) + 2
    # Test values with their bootstrap intervals for every column, validation values too.
    assert re.search(rf"{re.escape(metric)}\* test(\s+{_INTERVAL}){{{n}}}\n", out), out
    assert re.search(rf"mrr test(\s+{_INTERVAL}){{{n}}}\n", out), out
    if domain != "news":  # news reports metrics within an impression, not coverage
        assert re.search(rf"coverage@10 test(\s+\d\.\d{{4}}){{{n}}}\n", out), out
    assert re.search(rf"{re.escape(metric)}\* valid(\s+\d\.\d{{4}}){{{n}}}\n", out), out
    # The paired bootstrap's verdict, in plain words, for every tuned column.
    for column in columns:
        assert re.search(
            rf"^{column} is (significantly better|NOT significantly better|significantly "
            rf"WORSE) than default on test {re.escape(metric)}: [+-]\d\.\d{{4}} \[",
            out,
            re.MULTILINE,
        ), out
    # The dashboard hint names the storage and the artifact store by absolute paths.
    artifacts = folder / "out" / "artifacts"
    assert out.rstrip().endswith(f"optuna-dashboard {storage} --artifact-dir {artifacts}")
    for study in studies_of(sampler, storage):
        assert len(study.trials) == 3
        # The first trial is the model's default configuration, so tuned >= default.
        first = study.trials[0]
        assert first.user_attrs["default"] is True
        assert first.params["num_leaves"] == 31 and first.params["learning_rate"] == 0.1
        assert study.best_value >= first.value
        assert study.user_attrs["domain"] == domain
        assert study.metric_names == [metric]
        assert study.best_trial.user_attrs[metric] == pytest.approx(study.best_value)
        saved = json.loads((folder / "out" / f"{study.study_name}.best_params.json").read_text())
        assert saved["params"] == study.best_params
        assert saved["valid_value"] == study.best_value
        # Artifacts: best params, report, history plot, test plot.
        system = study._storage.get_study_system_attrs(study._study_id)
        uploaded = sorted(
            json.loads(v)["filename"] for k, v in system.items() if k.startswith("artifacts:")
        )
        assert uploaded == sorted(
            [
                f"{study.study_name}.best_params.json",
                f"{study.study_name}.history.png",
                f"{study.study_name}.report.md",
                f"{studies_of(sampler, storage)[0].study_name}.test.png",
            ]
        )
        for key, value in system.items():
            if key.startswith("artifacts:"):
                assert (artifacts / json.loads(value)["artifact_id"]).is_file()


@pytest.mark.parametrize("domain", list(CASES))
def test_recipe_runs_and_reports(smoke_runs, domain: str) -> None:
    metric, sampler = CASES[domain]
    check_report(domain, metric, sampler, smoke_runs[domain])


def test_sampler_comparison_shares_seed_and_table(smoke_runs) -> None:
    returncode, out, err, storage, _ = smoke_runs["news"]
    assert returncode == 0, err
    studies = studies_of("random,tpe", storage)
    # Same seed: TPE starts with the same random draws as the random sampler.
    assert studies[0].trials[1].params == studies[1].trials[1].params
    assert re.search(r"column\s+study\s+trials\s+pruned\s+best\s+tune s", out)
    assert re.search(r"^tuned:random\s+smoke-random\s+3\s+\d+\s+#\d", out, re.MULTILINE)


def test_recipe_resumes_a_study_and_takes_other_models(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["--size", "tiny", "--trials", "2", "--sampler", "random", "--storage", storage,
            "--model", "popularity", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    first = run_tuning("social", *args)
    assert first[0] == 0, first[2]
    assert "half_life:" in first[1]
    second = run_tuning("social", *args, "--seed", "0")
    assert second[0] == 0, second[2]
    name = "social-synthetic_social_tiny-popularity-random-seed0"
    assert f"Resuming study {name!r} (2 trials" in second[1]
    study = optuna.load_study(
        study_name="social-synthetic_social_tiny-popularity-random-seed0", storage=storage
    )
    # The default configuration is enqueued once, not again on resume.
    assert [t.user_attrs.get("default", False) for t in study.trials] == [True, *[False] * 3]


def test_folds_make_the_objective_a_mean(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    code, out, err = run_tuning(
        "social", "--size", "tiny", "--trials", "2", "--sampler", "random", "--model",
        "popularity", "--folds", "2", "--storage", storage, "--no-progress", "--out",
        str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert re.search(r"validation queries in 2 fold\(s\)", out)
    study = optuna.load_study(
        study_name="social-synthetic_social_tiny-popularity-random-seed0-folds2", storage=storage
    )
    for trial in study.trials:
        folds = trial.user_attrs["fold_values"]
        assert len(folds) == 2 and trial.value == pytest.approx(sum(folds) / 2)


def test_unknown_model_is_one_clear_line(tmp_path: Path) -> None:
    code, _, err = run_tuning("ecommerce", "--size", "tiny", "--model", "lightgbm",
                              "--storage", f"sqlite:///{tmp_path / 's.db'}")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines() == [
        "ecommerce.py: error: Unknown model 'lightgbm'. Registered models: lightgbm-ranker, "
        "popularity, two-tower. A third-party model needs its plugin installed (entry-point "
        "group 'optuna_rl_sampler') and not excluded by OPTUNA_RL_PLUGINS."
    ]


def test_bad_sampler_list_is_refused() -> None:
    code, _, err = run_tuning("news", "--sampler", "rl,bogus")
    assert code == 2
    assert err.startswith("usage: news.py ")
    expected = "news.py: error: --sampler 'rl,bogus': unknown 'bogus'; choose from rl, rl-generic"
    assert expected in err
    code, _, err = run_tuning("news", "--sampler", "tpe,tpe")
    assert code == 2 and "names a sampler twice" in err


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("sqlite:///recipes.db", f"sqlite:///{Path('recipes.db').resolve()}"),
        ("sqlite:////abs/r.db", "sqlite:////abs/r.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_dashboard_storage_is_absolute(url: str, absolute: str) -> None:
    assert tuning_studies.absolute_storage(url) == absolute


def _column(name: str, values: list[float]) -> tuning_report.Column:
    import numpy as np

    from optuna_rl_sampler.recsys.objective import Evaluation

    per_query = np.array(values)
    test = Evaluation({"ndcg@10": float(per_query.mean())}, {"ndcg@10": per_query}, 0.0, 0)
    return tuning_report.Column(name, {}, {"ndcg@10": 0.0}, test)


@pytest.mark.parametrize(
    ("tuned", "verdict"),
    [
        ([0.6, 0.8, 0.3, 0.9] * 50, "tuned is significantly better than default"),
        ([0.4, 0.6, 0.1, 0.7] * 50, "tuned is significantly WORSE than default"),
        ([0.6, 0.6, 0.2, 0.8] * 50, "tuned is NOT significantly better than default"),
    ],
)
def test_verdict_follows_the_paired_interval(tuned: list[float], verdict: str) -> None:
    default = [0.5, 0.7, 0.2, 0.8] * 50  # tuned - default: +0.1, -0.1, or +0.1 / -0.1 mixed
    columns = [_column("tuned", tuned), _column("default", default)]
    (comparison,) = tuning_report.compare_to_default(columns, "ndcg@10", seed=0)
    assert comparison.text.startswith(f"{verdict} on test ndcg@10: ")
    assert comparison.significant == verdict.endswith("is significantly better than default")


def test_comparing_samplers_needs_studies_of_one_length():
    import optuna

    short, long = optuna.create_study(), optuna.create_study()
    long.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    short.enqueue_trial({"x": 0.5})  # waiting: not a trial yet
    tuning_studies.check_like_for_like([("rl", short), ("tpe", optuna.create_study())])
    with pytest.raises(tuning.TuningError, match="rl has 0, tpe has 3 trials already"):
        tuning_studies.check_like_for_like([("rl", short), ("tpe", long)])


def test_dashboard_hint_says_how_to_install_a_missing_dashboard(monkeypatch):

    monkeypatch.setattr(tuning.shutil, "which", lambda name: None)
    install, command = tuning.dashboard_hint("sqlite:///s.db", "/tmp/a")
    assert install.startswith('pip install "optuna-dashboard')
    assert command.startswith("optuna-dashboard sqlite:///") and "--artifact-dir /tmp/a" in command
    monkeypatch.setattr(tuning.shutil, "which", lambda name: "/usr/bin/" + name)
    assert tuning.dashboard_hint("sqlite:///s.db", "/tmp/a") == [command]


def test_study_note_is_skipped_with_a_message_without_optuna_dashboard(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    study = optuna.create_study()
    assert tuning_report._save_note(study, "## note") is False
    out = capsys.readouterr().out
    assert out.startswith("Study note skipped: optuna-dashboard is not installed")
    assert "pip install 'optuna-rl-sampler[dashboard]'" in out


# ------------------------------------------------------- several goals, constraints

#: Tiny runs: (domain, extra arguments). ``front``: two objectives, rl and random, with
#: limits every trial keeps; ``tight``: one objective, rl and random, a model budget no
#: trial keeps.
GOAL_CASES = {
    "front": ("ecommerce", ["--objectives", "ndcg@10,coverage@10", "--max-model-mb", "100",
                            "--max-train-s", "1000"]),
    "tight": ("social", ["--max-model-mb", "0.000001"]),
}  # fmt: skip
GOAL_TRIALS = {"front": 5, "tight": 4}


@pytest.fixture(scope="module")
def goal_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The two runs at once, with ``--sampler rl,random`` and ``--study-name <case>``."""
    runs = {}
    for case, (domain, extra) in GOAL_CASES.items():
        folder = tmp_path_factory.mktemp(case)
        storage = f"sqlite:///{folder / 'study.db'}"
        args = ["--size", "tiny", "--trials", str(GOAL_TRIALS[case]), "--sampler", "rl,random",
                "--study-name", case, "--storage", storage, "--out", str(folder / "out"),
                "--no-progress", *extra]  # fmt: skip
        runs[case] = (*run_tuning(domain, *args), storage, folder)
    return runs


def _printed_front(out: str, study_name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the front the recipe printed for ``study_name``."""
    lines = out.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith(f"Pareto front of {study_name!r}")
    )
    header = lines[start + 1].split()
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("#"):
            break
        rows.append(line.split())
    return header, rows


def test_multi_objective_run_prints_and_saves_the_front(goal_runs) -> None:
    returncode, out, err, storage, folder = goal_runs["front"]
    # No transfer in a multi-objective study: the generic weights propose.
    assert "RLSampler: meta-model 'generic-v1'; no transfer" in out
    assert returncode == 0, err
    assert "No feasible trial" not in out
    assert "no transfer (the shipped past studies are single-objective)" in out
    artifacts = folder / "out" / "artifacts"
    for sampler in ("rl", "random"):
        name = f"front-{sampler}"
        study = optuna.load_study(study_name=name, storage=storage)
        assert len(study.trials) == GOAL_TRIALS["front"]
        assert study.metric_names == ["ndcg@10", "coverage@10"]
        assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
        assert study.user_attrs["objectives"] == ["ndcg@10", "coverage@10"]
        first = study.trials[0]
        assert first.user_attrs["default"] is True
        assert first.params["num_leaves"] == 31 and first.params["learning_rate"] == 0.1
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        # The generous limits: constraint values on every completed trial, all feasible.
        for trial in complete:
            costs = {
                "model_mb": trial.user_attrs["model_size_bytes"] / 1e6,
                "train_s": trial.user_attrs["train_time_s"],
            }
            assert trial.constraints == pytest.approx(
                {"model_mb": costs["model_mb"] - 100, "train_s": costs["train_s"] - 1000}
            )
            assert trial.user_attrs["feasible"] is True
            assert trial.values == [trial.user_attrs["ndcg@10"], trial.user_attrs["coverage@10"]]
        # The printed front: sorted by the first objective, non-dominated, complete.
        header, rows = _printed_front(out, name)
        assert header[:5] == ["trial", "ndcg@10", "coverage@10", "train", "s"]
        numbers = [int(row[0][1:]) for row in rows]
        by_number = {t.number: t for t in complete}
        front = [by_number[n] for n in numbers]
        assert [t.values[0] for t in front] == sorted((t.values[0] for t in front), reverse=True)
        directions = study.directions
        for t in front:
            assert not any(pareto.dominates(o.values, t.values, directions) for o in complete)
        for t in complete:
            if t.number not in numbers:
                assert any(pareto.dominates(f.values, t.values, directions) for f in front)
        for row, t in zip(rows, front, strict=True):
            assert [float(v) for v in row[1:3]] == pytest.approx(t.values, abs=5e-5)
        # The front as JSON: number, values and params of each trial.
        saved = json.loads((folder / "out" / f"{name}.pareto.json").read_text())
        assert saved["objectives"] == ["ndcg@10", "coverage@10"]
        assert [e["number"] for e in saved["front"]] == numbers
        for entry, t in zip(saved["front"], front, strict=True):
            assert entry["values"] == t.values and entry["params"] == t.params
            assert entry["feasible"] is True and entry["default"] == (t.number == 0)
        # At most 5 trials, so the whole front is refit on test: one column each.
        assert [e["number"] for e in saved["front"] if "test" in e] == numbers
        columns = [f"front#{n}:{sampler}" for n in numbers]
        assert re.search(r"\s+".join(map(re.escape, columns)), out), out
        assert (folder / "out" / f"{name}.pareto.png").is_file()
        system = study._storage.get_study_system_attrs(study._study_id)
        uploaded = sorted(
            json.loads(v)["filename"] for k, v in system.items() if k.startswith("artifacts:")
        )
        assert uploaded == sorted(
            [f"{name}.pareto.json", f"{name}.pareto.png", f"{name}.report.md", "front-rl.test.png"]
        )
        for key, value in system.items():
            if key.startswith("artifacts:"):
                assert (artifacts / json.loads(value)["artifact_id"]).is_file()
    assert re.search(r"^feasible \(valid\)(\s+yes)+$", out, re.MULTILINE), out
    assert re.search(r"^model MB \(valid\)(\s+\d\.\d{4})+$", out, re.MULTILINE), out
    assert re.search(rf"^ndcg@10\* test(\s+{_INTERVAL})+$", out, re.MULTILINE), out
    assert re.search(r"^sampler\s+study\s+trials\s+pruned\s+front\s+tune s\s+feasible$", out,
                     re.MULTILINE)  # fmt: skip


def test_a_budget_no_trial_keeps_is_said_plainly(goal_runs) -> None:
    returncode, out, err, storage, folder = goal_runs["tight"]
    assert returncode == 0, err
    for sampler in ("rl", "random"):
        name = f"tight-{sampler}"
        study = optuna.load_study(study_name=name, storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert complete and all(t.constraints["model_mb"] > 0 for t in complete)
        assert all(list(t.constraints) == ["model_mb"] for t in complete)
        least = min(complete, key=lambda t: (t.constraints["model_mb"], t.number))
        n = len(complete)
        line = (
            f"No feasible trial in study {name!r}: all {n} completed trials break the limits; "
            f"the smallest violation is trial #{least.number}'s (model "
        )
        assert re.search(
            rf"^{re.escape(line)}\d\.\d+ MB > 1e-06 MB\)\. Reporting it instead, as "
            rf"infeasible#{least.number}; raise the limits or change --model\.$",
            out,
            re.MULTILINE,
        ), out
        assert f"infeasible#{least.number}:{sampler}" in out
        saved = json.loads((folder / "out" / f"{name}.best_params.json").read_text())
        assert saved["trial"] == least.number and saved["feasible"] is False
        assert saved["limits"] == {"model_mb": 1e-06}
    assert "The default configuration breaks the limits on validation (model " in out
    assert re.search(r"^feasible \(valid\)(\s+NO){4}$", out, re.MULTILINE), out


def _one_line_error(run: tuple[int, str, str], domain: str) -> str:
    code, out, err = run
    assert code == 2, out + err
    lines = [line for line in err.strip().splitlines() if not line.startswith("Dataset")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{domain}.py: error: ")
    return lines[0].removeprefix(f"{domain}.py: error: ")


def test_cmaes_and_bad_objectives_are_refused(tmp_path: Path) -> None:
    base = ["--size", "tiny", "--storage", f"sqlite:///{tmp_path / 's.db'}"]
    proc = run_tuning("news", *base, "--objectives", "ndcg@10,coverage@10", "--sampler",
                      "rl,cmaes")  # fmt: skip
    assert _one_line_error(proc, "news").startswith(
        "--sampler cmaes cannot take --objectives: Optuna's CmaEsSampler is single-objective"
    )
    proc = run_tuning("news", *base, "--objectives", "ndcg@10,covrage@10")
    message = _one_line_error(proc, "news")
    assert message.startswith("--objectives 'ndcg@10,covrage@10': Objective 'covrage@10' is")
    assert "(model_mb, train_s)" in message and "coverage, hitrate, mrr, ndcg" in message
    proc = run_tuning("news", *base, "--objectives", "ndcg@10")
    assert "give 2 or 3 separated by commas" in _one_line_error(proc, "news")
    proc = run_tuning("news", *base, "--max-train-s", "0")
    assert _one_line_error(proc, "news") == "--max-train-s must be a positive number, got 0"
    assert not (tmp_path / "s.db").exists()


def test_resuming_with_other_objectives_is_refused(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--size", "tiny", "--trials", "1", "--sampler", "random", "--model", "popularity",
            "--study-name", "same", "--storage", storage, "--no-progress", "--out",
            str(tmp_path)]  # fmt: skip
    first = run_tuning("social", *args)
    assert first[0] == 0, first[2]
    second = run_tuning("social", *args, "--objectives", "ndcg@10,coverage@10")
    assert _one_line_error(second, "social") == (
        f"study 'same' in {storage} has 1 objective(s) (ndcg@10) but this run has 2 "
        "(ndcg@10, coverage@10); pass another --study-name, or the study's own objectives"
    )
    third = run_tuning("social", *args, "--max-model-mb", "1")
    assert "was run with the limits none, this run has --max-model-mb 1" in _one_line_error(
        third, "social"
    )
    fourth = run_tuning("social", *args, "--metric", "mrr")
    assert _one_line_error(fourth, "social") == (
        f"study 'same' in {storage} tunes ndcg@10 (maximize), not this run's mrr; pass "
        "another --study-name"
    )
    assert len(optuna.load_study(study_name="same", storage=storage).trials) == 1


def test_study_names_of_other_goals_differ() -> None:
    from argparse import Namespace

    assert tuning_studies.goals_suffix(Namespace(objectives=None, limits={})) == ""
    assert (
        tuning_studies.goals_suffix(
            Namespace(objectives=["ndcg@10", "coverage@10"], limits={"model_mb": 0.5})
        )
        == "-mo-ndcg@10+coverage@10-max-model-mb0.5"
    )


def test_front_columns_are_spread_along_the_front() -> None:
    from types import SimpleNamespace

    # 9 front trials, sorted by the first objective (maximised), the second minimised.
    front = [SimpleNamespace(number=i, values=[1.0 - i / 10, 1.0 - i / 10]) for i in range(9)]
    picked = pareto.pick_front(front, ["maximize", "minimize"])  # type: ignore[arg-type]
    # Best on each objective (#0, #8), then positions round(linspace(0, 8, 5)): 2, 4, 6.
    assert [t.number for t in picked] == [0, 2, 4, 6, 8]
    assert pareto.pick_front(front[:3], ["maximize", "minimize"]) == front[:3]  # type: ignore[arg-type]


def test_previous_study_is_the_source_of_rl_and_the_warm_start_of_others(tmp_path: Path):
    # "Last month": a short study on the tiny synthetic data; "this month" tunes the same
    # model again, by rl (which transfers from it) and by tpe (which starts from its 3
    # best configurations), side by side.
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    common = ["--size", "tiny", "--storage", storage, "--no-progress", "--out", str(tmp_path)]
    first = run_tuning(
        "news", *common, "--trials", "7", "--sampler", "random", "--study-name", "last",
    )  # fmt: skip
    assert first[0] == 0, first[2]
    last = optuna.load_study(study_name="last", storage=storage)
    done = last.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    ranked = sorted(done, key=lambda t: -t.value)
    second = run_tuning(
        "news", *common, "--trials", "4", "--sampler", "rl,tpe", "--study-name", "now",
        "--previous-study", "last",
    )  # fmt: skip
    assert second[0] == 0, second[2]
    assert f"transfer from --previous-study 'last' ({len(ranked)} trials)" in second[1]
    rl = optuna.load_study(study_name="now-rl", storage=storage)
    # Trial 0 is the default configuration; then RLSampler's prior-startup phase tries
    # the previous study's configurations.
    reason = rl.trials[1].system_attrs["rl_sampler:reason"]
    assert reason["phase"] == "prior-startup" and reason["source"] == "prior"
    assert reason["prior"]["top_sources"] == {"last": 1.0}
    assert rl.trials[1].params in [t.params for t in ranked]
    # Trial 1 was last month's best, so trial 2 probes away from it (a single source
    # is tested right after its best configuration, not after the default).
    assert rl.trials[1].params == ranked[0].params
    assert rl.trials[2].system_attrs["rl_sampler:reason"]["phase"] == "prior-probe"
    tpe = optuna.load_study(study_name="now-tpe", storage=storage)
    warm = [t for t in tpe.trials if t.user_attrs.get("previous_study") == "last"]
    assert [t.params for t in warm] == [t.params for t in ranked[:3]]
    # A missing study is one line naming what the storage holds.
    bad = run_tuning("news", *common, "--trials", "1", "--previous-study", "nope")
    assert bad[0] == 2
    assert "--previous-study 'nope': no such study in" in bad[2] and "'last'" in bad[2]


# ------------------------------------------------------------------ optuna-rl tune


def test_tune_help_names_the_domains_and_their_defaults(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["tune", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: optuna-rl tune [-h] --domain {news,ecommerce,social}")
    for recipe in tuning.RECIPES.values():
        assert re.search(rf"^  {recipe.domain}\s+{re.escape(recipe.metric)}, ", out, re.M), out
    # The flags of the recipe scripts, with the domain's defaults said in words.
    for flag in ("--objectives", "--max-model-mb", "--previous-study", "--folds", "--sampler"):
        assert flag in out
    assert "sqlite:///runs/recipes-<domain>.db" in out
    with pytest.raises(SystemExit) as info:
        cli_main(["--help"])
    assert re.search(r"^    tune\s+tune a recommender", capsys.readouterr().out, re.M)


def test_tune_runs_in_process_with_the_domains_defaults(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    code, out, err = run_tuning(
        "social", "--size", "tiny", "--trials", "2", "--sampler", "random", "--model",
        "popularity", "--storage", storage, "--out", str(tmp_path / "out"), "--no-progress",
        command=True,
    )  # fmt: skip
    assert code == 0, err
    # The same study name, metric and files as recipes/social.py would give.
    name = "social-synthetic_social_tiny-popularity-random-seed0"
    study = optuna.load_study(study_name=name, storage=storage)
    assert len(study.trials) == 2 and study.trials[0].user_attrs["default"] is True
    assert study.metric_names == ["ndcg@10"] and study.user_attrs["domain"] == "social"
    assert re.search(rf"^ndcg@10\* test(\s+{_INTERVAL}){{3}}$", out, re.M), out
    assert (tmp_path / "out" / f"{name}.best_params.json").is_file()
    assert out.rstrip().endswith(f"--artifact-dir {tmp_path / 'out' / 'artifacts'}")


def test_tune_errors_are_one_line_named_after_the_command(tmp_path: Path) -> None:
    code, _, err = run_tuning("news", "--sampler", "rl,bogus", command=True)
    assert code == 2
    assert err.strip().splitlines() == [
        "optuna-rl tune: error: --sampler 'rl,bogus': unknown 'bogus'; choose from "
        f"{', '.join(tuning_studies.sampler_choices())}, separated by commas"
    ]
    code, _, err = run_tuning("news", "--max-train-s", "0", "--storage",
                              f"sqlite:///{tmp_path / 's.db'}", command=True)  # fmt: skip
    assert code == 2
    assert err.strip() == "optuna-rl tune: error: --max-train-s must be a positive number, got 0"
    code, _, err = run_tuning("films", command=True)
    assert code == 2 and "argument --domain: invalid choice: 'films'" in err


def test_ecommerce_records_ndcg_at_20_beside_the_default_metrics() -> None:
    from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS

    assert tuning.RECIPES["ecommerce"].extra_metrics == (*DEFAULT_EXTRA_METRICS, "ndcg@20")
    assert tuning.RECIPES["social"].extra_metrics is None


@pytest.mark.parametrize("module", [pareto, tuning_studies])
def test_docstring_examples(module) -> None:
    import doctest

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_tune_without_the_recsys_extra_says_what_to_install(monkeypatch, capsys) -> None:
    # The parser of every other command still builds; `tune` names the extra when run.
    monkeypatch.setitem(sys.modules, "pandas", None)
    for name in list(sys.modules):
        if name.startswith("optuna_rl_sampler.recsys"):
            monkeypatch.delitem(sys.modules, name)
    assert cli_main(["tune", "--domain", "news", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optuna-rl: error: optuna_rl_sampler.recsys needs pandas")
    assert "optuna-rl-sampler[recsys]" in err
    with pytest.raises(SystemExit) as info:
        cli_main(["--version"])
    assert info.value.code == 0
