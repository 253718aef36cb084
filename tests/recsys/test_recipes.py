from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
sys.path.insert(0, str(RECIPES))

import _common  # noqa: E402
import _pareto  # noqa: E402


def _command(domain: str, *args: str) -> list[str]:
    return [sys.executable, str(RECIPES / f"{domain}.py"), *args]


#: The recipes run as scripts: this checkout's package comes first on their path, not
#: whichever copy is installed.
_ENV = {
    **os.environ,
    "OPTUNA_RL_PLUGINS": "",
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


def run_recipe(domain: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(domain, *args), capture_output=True, text=True, cwd=cwd, env=_ENV, timeout=400
    )


#: domain -> (tuned metric, sampler flag). ``None``: no --sampler flag (the default, rl).
CASES = {
    "news": ("ndcg@10", "random,tpe"),
    "ecommerce": ("recall@20", None),
    "social": ("ndcg@10", "random"),
}
_INTERVAL = r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]"


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The three recipes at once to save wall time.

    ``ecommerce`` runs exactly as a new user would (the default rl sampler with transfer,
    the default synthetic data) for 3 trials; storage and outputs go to a temporary
    folder and the run starts in another, so the printed paths must be absolute.
    """
    runs = {}
    for domain, (_, sampler) in CASES.items():
        folder = tmp_path_factory.mktemp(domain)
        storage = f"sqlite:///{folder / 'study.db'}"
        args = ["--trials", "3", "--storage", storage, "--out", str(folder / "out"),
                "--no-progress"]  # fmt: skip
        if sampler is not None:
            args += ["--size", "tiny", "--sampler", sampler, "--study-name", "smoke"]
        runs[domain] = (domain, args, tmp_path_factory.mktemp(f"{domain}-cwd"), storage, folder)
    return _run_at_once(runs)


def _run_at_once(runs: dict[str, tuple[str, list[str], Path, str, Path]]) -> dict[str, tuple]:
    """Start every ``name: (domain, args, cwd, storage, folder)`` recipe run at once, wait
    for all; ``name: (returncode, stdout, stderr, storage, folder)``."""
    procs = {}
    for name, (domain, args, cwd, storage, folder) in runs.items():
        proc = subprocess.Popen(
            _command(domain, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=cwd, env=_ENV,
        )  # fmt: skip
        procs[name] = (proc, storage, folder)
    out = {}
    for name, (proc, storage, folder) in procs.items():
        stdout, stderr = proc.communicate(timeout=400)
        out[name] = (proc.returncode, stdout, stderr, storage, folder)
    return out


def _studies(domain: str, storage: str) -> list[optuna.Study]:
    sampler = CASES[domain][1]
    if sampler is None:
        names = optuna.get_all_study_names(storage)
        assert len(names) == 1 and names[0].endswith("-lightgbm-ranker-rl-seed0"), names
        return [optuna.load_study(study_name=names[0], storage=storage)]
    samplers = sampler.split(",")
    names = ["smoke"] if len(samplers) == 1 else [f"smoke-{s}" for s in samplers]
    return [optuna.load_study(study_name=n, storage=storage) for n in names]


@pytest.mark.parametrize("domain", list(CASES))
def test_recipe_runs_and_reports(smoke_runs, domain: str) -> None:
    metric, sampler = CASES[domain]
    returncode, out, err, storage, folder = smoke_runs[domain]
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
    for study in _studies(domain, storage):
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
                f"{_studies(domain, storage)[0].study_name}.test.png",
            ]
        )
        for key, value in system.items():
            if key.startswith("artifacts:"):
                assert (artifacts / json.loads(value)["artifact_id"]).is_file()


def test_default_rl_path_transfers_and_notes_the_study(smoke_runs) -> None:
    returncode, out, err, storage, _ = smoke_runs["ecommerce"]
    assert returncode == 0, err
    assert "RLSampler: meta-model 'transfer-v2'; transfer from the" in out
    assert re.search(r"^Transfer \(trial #\d+\): \d+ matching past studies", out, re.MULTILINE)
    study = _studies("ecommerce", storage)[0]
    assert study.user_attrs["sampler"] == "rl"
    pytest.importorskip("optuna_dashboard", reason="the study note needs optuna-dashboard")
    from optuna_dashboard._note import get_note_from_system_attrs

    note = get_note_from_system_attrs(
        study._storage.get_study_system_attrs(study._study_id), None
    )["body"]
    assert note.startswith("## lightgbm-ranker on synthetic_ecommerce_quick: tuned vs default")
    assert "| metric | tuned | default | popularity |" in note
    row = rf"\| recall@20\\\* test \| {_INTERVAL} \| {_INTERVAL} \| {_INTERVAL} \|"
    assert re.search(row, note), note


def test_sampler_comparison_shares_seed_and_table(smoke_runs) -> None:
    returncode, out, err, storage, _ = smoke_runs["news"]
    assert returncode == 0, err
    studies = _studies("news", storage)
    # Same seed: TPE starts with the same random draws as the random sampler.
    assert studies[0].trials[1].params == studies[1].trials[1].params
    assert re.search(r"column\s+study\s+trials\s+pruned\s+best\s+tune s", out)
    assert re.search(r"^tuned:random\s+smoke-random\s+3\s+\d+\s+#\d", out, re.MULTILINE)


def test_recipe_resumes_a_study_and_takes_other_models(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["--size", "tiny", "--trials", "2", "--sampler", "random", "--storage", storage,
            "--model", "popularity", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    first = run_recipe("social", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "half_life:" in first.stdout
    second = run_recipe("social", *args, "--seed", "0", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Resuming study 'social-synthetic_social_tiny-popularity-random-seed0' (2 trials" in (
        second.stdout
    )
    study = optuna.load_study(
        study_name="social-synthetic_social_tiny-popularity-random-seed0", storage=storage
    )
    # The default configuration is enqueued once, not again on resume.
    assert [t.user_attrs.get("default", False) for t in study.trials] == [True, *[False] * 3]


def test_folds_make_the_objective_a_mean(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    proc = run_recipe(
        "social", "--size", "tiny", "--trials", "2", "--sampler", "random", "--model",
        "popularity", "--folds", "2", "--storage", storage, "--no-progress", "--out",
        str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"validation queries in 2 fold\(s\)", proc.stdout)
    study = optuna.load_study(
        study_name="social-synthetic_social_tiny-popularity-random-seed0-folds2", storage=storage
    )
    for trial in study.trials:
        folds = trial.user_attrs["fold_values"]
        assert len(folds) == 2 and trial.value == pytest.approx(sum(folds) / 2)


def test_bad_data_path_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dataset"
    proc = run_recipe("news", "--data", str(missing), "--trials", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("news.py: error: cannot load --data")
    assert "does not exist" in lines[0]
    assert not (tmp_path / "runs" / "recipes-news.db").exists()


def test_unknown_model_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_recipe("ecommerce", "--size", "tiny", "--model", "lightgbm", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ecommerce.py: error: Unknown model 'lightgbm'. Registered models: lightgbm-ranker, "
        "popularity, two-tower. A third-party model needs its plugin installed (entry-point "
        "group 'optuna_rl_sampler') and not excluded by OPTUNA_RL_PLUGINS."
    ]


def test_bad_sampler_list_is_refused(tmp_path: Path) -> None:
    proc = run_recipe("news", "--sampler", "rl,bogus", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--sampler 'rl,bogus': unknown 'bogus'; choose from rl, tpe" in proc.stderr
    proc = run_recipe("news", "--sampler", "tpe,tpe", cwd=tmp_path)
    assert "names a sampler twice" in proc.stderr


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
    assert _common.absolute_storage(url) == absolute


def _column(name: str, values: list[float]) -> _common.Column:
    import numpy as np

    from optuna_rl_sampler.recsys.objective import Evaluation

    per_query = np.array(values)
    test = Evaluation({"ndcg@10": float(per_query.mean())}, {"ndcg@10": per_query}, 0.0, 0)
    return _common.Column(name, {}, {"ndcg@10": 0.0}, test)


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
    (comparison,) = _common.compare_to_default(columns, "ndcg@10", seed=0)
    assert comparison.text.startswith(f"{verdict} on test ndcg@10: ")
    assert comparison.significant == verdict.endswith("is significantly better than default")


def test_comparing_samplers_needs_studies_of_one_length():
    import optuna

    short, long = optuna.create_study(), optuna.create_study()
    long.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    short.enqueue_trial({"x": 0.5})  # waiting: not a trial yet
    _common._check_like_for_like([("rl", short), ("tpe", optuna.create_study())])
    with pytest.raises(_common.RecipeError, match="rl has 0, tpe has 3 trials already"):
        _common._check_like_for_like([("rl", short), ("tpe", long)])


def test_dashboard_hint_says_how_to_install_a_missing_dashboard(monkeypatch):

    monkeypatch.setattr(_common.shutil, "which", lambda name: None)
    install, command = _common.dashboard_hint("sqlite:///s.db", "/tmp/a")
    assert install.startswith('pip install "optuna-dashboard')
    assert command.startswith("optuna-dashboard sqlite:///") and "--artifact-dir /tmp/a" in command
    monkeypatch.setattr(_common.shutil, "which", lambda name: "/usr/bin/" + name)
    assert _common.dashboard_hint("sqlite:///s.db", "/tmp/a") == [command]


def test_study_note_is_skipped_with_a_message_without_optuna_dashboard(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    study = optuna.create_study()
    assert _common._save_note(study, "## note") is False
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
        runs[case] = (domain, args, folder, storage, folder)
    return _run_at_once(runs)


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
            assert not any(_pareto.dominates(o.values, t.values, directions) for o in complete)
        for t in complete:
            if t.number not in numbers:
                assert any(_pareto.dominates(f.values, t.values, directions) for f in front)
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


def _one_line_error(proc: subprocess.CompletedProcess[str], domain: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("Dataset")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{domain}.py: error: ")
    return lines[0].removeprefix(f"{domain}.py: error: ")


def test_cmaes_and_bad_objectives_are_refused(tmp_path: Path) -> None:
    base = ["--size", "tiny", "--storage", f"sqlite:///{tmp_path / 's.db'}"]
    proc = run_recipe("news", *base, "--objectives", "ndcg@10,coverage@10", "--sampler",
                      "rl,cmaes", cwd=tmp_path)  # fmt: skip
    assert _one_line_error(proc, "news").startswith(
        "--sampler cmaes cannot take --objectives: Optuna's CmaEsSampler is single-objective"
    )
    proc = run_recipe("news", *base, "--objectives", "ndcg@10,covrage@10", cwd=tmp_path)
    message = _one_line_error(proc, "news")
    assert message.startswith("--objectives 'ndcg@10,covrage@10': Objective 'covrage@10' is")
    assert "(model_mb, train_s)" in message and "coverage, hitrate, mrr, ndcg" in message
    proc = run_recipe("news", *base, "--objectives", "ndcg@10", cwd=tmp_path)
    assert "give 2 or 3 separated by commas" in _one_line_error(proc, "news")
    proc = run_recipe("news", *base, "--max-train-s", "0", cwd=tmp_path)
    assert _one_line_error(proc, "news") == "--max-train-s must be a positive number, got 0"
    assert not (tmp_path / "s.db").exists()


def test_resuming_with_other_objectives_is_refused(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--size", "tiny", "--trials", "1", "--sampler", "random", "--model", "popularity",
            "--study-name", "same", "--storage", storage, "--no-progress", "--out",
            str(tmp_path)]  # fmt: skip
    first = run_recipe("social", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_recipe("social", *args, "--objectives", "ndcg@10,coverage@10", cwd=tmp_path)
    assert _one_line_error(second, "social") == (
        f"study 'same' in {storage} has 1 objective(s) (ndcg@10) but this run has 2 "
        "(ndcg@10, coverage@10); pass another --study-name, or the study's own objectives"
    )
    third = run_recipe("social", *args, "--max-model-mb", "1", cwd=tmp_path)
    assert "was run with the limits none, this run has --max-model-mb 1" in _one_line_error(
        third, "social"
    )
    fourth = run_recipe("social", *args, "--metric", "mrr", cwd=tmp_path)
    assert _one_line_error(fourth, "social") == (
        f"study 'same' in {storage} tunes ndcg@10 (maximize), not this run's mrr; pass "
        "another --study-name"
    )
    assert len(optuna.load_study(study_name="same", storage=storage).trials) == 1


def test_study_names_of_other_goals_differ() -> None:
    from argparse import Namespace

    assert _common.goals_suffix(Namespace(objectives=None, limits={})) == ""
    assert (
        _common.goals_suffix(
            Namespace(objectives=["ndcg@10", "coverage@10"], limits={"model_mb": 0.5})
        )
        == "-mo-ndcg@10+coverage@10-max-model-mb0.5"
    )


def test_front_columns_are_spread_along_the_front() -> None:
    from types import SimpleNamespace

    # 9 front trials, sorted by the first objective (maximised), the second minimised.
    front = [SimpleNamespace(number=i, values=[1.0 - i / 10, 1.0 - i / 10]) for i in range(9)]
    picked = _pareto.pick_front(front, ["maximize", "minimize"])  # type: ignore[arg-type]
    # Best on each objective (#0, #8), then positions round(linspace(0, 8, 5)): 2, 4, 6.
    assert [t.number for t in picked] == [0, 2, 4, 6, 8]
    assert _pareto.pick_front(front[:3], ["maximize", "minimize"]) == front[:3]  # type: ignore[arg-type]


def test_previous_study_is_the_source_of_rl_and_the_warm_start_of_others(tmp_path: Path):
    # "Last month": a short study on the tiny synthetic data; "this month" tunes the same
    # model again, by rl (which transfers from it) and by tpe (which starts from its 3
    # best configurations), side by side.
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    common = ["--size", "tiny", "--storage", storage, "--no-progress", "--out", str(tmp_path)]
    first = run_recipe(
        "news", *common, "--trials", "7", "--sampler", "random", "--study-name", "last",
        cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    last = optuna.load_study(study_name="last", storage=storage)
    done = last.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    ranked = sorted(done, key=lambda t: -t.value)
    second = run_recipe(
        "news", *common, "--trials", "4", "--sampler", "rl,tpe", "--study-name", "now",
        "--previous-study", "last", cwd=tmp_path,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"transfer from --previous-study 'last' ({len(ranked)} trials)" in second.stdout
    rl = optuna.load_study(study_name="now-rl", storage=storage)
    # Trial 0 is the default configuration; then RLSampler's prior-startup phase tries
    # the previous study's configurations.
    reason = rl.trials[1].system_attrs["rl_sampler:reason"]
    assert reason["phase"] == "prior-startup" and reason["source"] == "prior"
    assert reason["prior"]["top_sources"] == {"last": 1.0}
    assert rl.trials[1].params in [t.params for t in ranked]
    tpe = optuna.load_study(study_name="now-tpe", storage=storage)
    warm = [t for t in tpe.trials if t.user_attrs.get("previous_study") == "last"]
    assert [t.params for t in warm] == [t.params for t in ranked[:3]]
    # A missing study is one line naming what the storage holds.
    bad = run_recipe("news", *common, "--trials", "1", "--previous-study", "nope", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--previous-study 'nope': no such study in" in bad.stderr and "'last'" in bad.stderr
