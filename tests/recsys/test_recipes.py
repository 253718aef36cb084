from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
sys.path.insert(0, str(RECIPES))

import _common  # noqa: E402


def _command(domain: str, *args: str) -> list[str]:
    return [sys.executable, str(RECIPES / f"{domain}.py"), *args]


_ENV = {**os.environ, "OPTUNA_RL_PLUGINS": "", "OMP_WAIT_POLICY": "PASSIVE"}


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
    procs = {}
    for domain, (_, sampler) in CASES.items():
        folder = tmp_path_factory.mktemp(domain)
        cwd = tmp_path_factory.mktemp(f"{domain}-cwd")
        storage = f"sqlite:///{folder / 'study.db'}"
        args = ["--trials", "3", "--storage", storage, "--out", str(folder / "out"),
                "--no-progress"]  # fmt: skip
        if sampler is not None:
            args += ["--size", "tiny", "--sampler", sampler, "--study-name", "smoke"]
        proc = subprocess.Popen(
            _command(domain, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=cwd, env=_ENV,
        )  # fmt: skip
        procs[domain] = (proc, storage, folder)
    out = {}
    for domain, (proc, storage, folder) in procs.items():
        stdout, stderr = proc.communicate(timeout=400)
        out[domain] = (proc.returncode, stdout, stderr, storage, folder)
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
    assert "RLSampler: meta-model" in out
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
    assert not (tmp_path / "recipes-news.db").exists()


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


def test_study_note_is_skipped_with_a_message_without_optuna_dashboard(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    study = optuna.create_study()
    assert _common._save_note(study, "## note") is False
    out = capsys.readouterr().out
    assert out.startswith("Study note skipped: optuna-dashboard is not installed")
    assert "pip install 'optuna-rl-sampler[dashboard]'" in out
