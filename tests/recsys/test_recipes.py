from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _command(domain: str, *args: str) -> list[str]:
    return [sys.executable, str(RECIPES / f"{domain}.py"), *args]


_ENV = {**os.environ, "OPTUNA_RL_PLUGINS": "", "OMP_WAIT_POLICY": "PASSIVE"}


def run_recipe(domain: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(domain, *args), capture_output=True, text=True, cwd=cwd, env=_ENV, timeout=240
    )


CASES = {
    "news": ("ndcg@10", "random"),
    "ecommerce": ("recall@20", "tpe"),
    "social": ("ndcg@10", "random"),
}


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str, str]]:
    """Each recipe with --trials 2 on tiny data, all three at once to save wall time."""
    procs = {}
    for domain, (_, sampler) in CASES.items():
        folder = tmp_path_factory.mktemp(domain)
        storage = f"sqlite:///{folder / 'study.db'}"
        args = ["--size", "tiny", "--trials", "2", "--sampler", sampler, "--storage", storage,
                "--study-name", "smoke", "--no-progress"]  # fmt: skip
        proc = subprocess.Popen(
            _command(domain, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=folder, env=_ENV,
        )  # fmt: skip
        procs[domain] = (proc, storage)
    out = {}
    for domain, (proc, storage) in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        out[domain] = (proc.returncode, stdout, stderr, storage)
    return out


@pytest.mark.parametrize("domain", list(CASES))
def test_recipe_runs_and_reports(smoke_runs, domain: str) -> None:
    metric = CASES[domain][0]
    returncode, out, err, storage = smoke_runs[domain]
    assert returncode == 0, err
    assert "Best params:" in out
    assert "num_leaves:" in out  # lightgbm-ranker is the default model
    assert re.search(r"metric\s+split\s+tuned\s+default\s+popularity", out)
    for split in ("valid", "test"):
        assert re.search(rf"{re.escape(metric)}\*\s+{split}(\s+\d\.\d{{4}}){{3}}", out), out
    assert re.search(r"mrr\s+test(\s+\d\.\d{4}){3}", out)
    assert out.rstrip().endswith(f"optuna-dashboard {storage}")
    study = optuna.load_study(study_name="smoke", storage=storage)
    assert len(study.trials) == 2
    assert study.user_attrs["domain"] == domain
    assert study.best_trial.user_attrs[metric] == pytest.approx(study.best_value)


def test_recipe_resumes_a_study_and_takes_other_models(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["--size", "tiny", "--trials", "2", "--sampler", "random", "--storage", storage,
            "--model", "popularity", "--no-progress"]  # fmt: skip
    first = run_recipe("social", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "half_life:" in first.stdout
    second = run_recipe("social", *args, "--seed", "0", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Resuming study 'social-synthetic_social_tiny-popularity-random-seed0' (2 trials" in (
        second.stdout
    )
    assert "4 trials" in second.stdout


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
