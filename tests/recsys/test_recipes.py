"""The recipe scripts (``recipes/*.py``) run as a user runs them: as scripts, from
another folder. What the workflow prints and saves is tested in-process in
``tests/recsys/test_tuning.py``; here, that the scripts are thin entry points over it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from optuna_rl_sampler.recsys.tuning import RECIPES
from tests.recsys.test_tuning import check_report
from tests.recsys.test_tuning import studies_of

ROOT = Path(__file__).resolve().parents[2]
RECIPES_DIR = ROOT / "recipes"

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
        [sys.executable, str(RECIPES_DIR / f"{domain}.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_ENV,
        timeout=400,
    )


@pytest.fixture(scope="module")
def ecommerce_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """``recipes/ecommerce.py`` exactly as a new user runs it (the default rl sampler
    with transfer, the default synthetic data) for 3 trials; storage and outputs go to a
    temporary folder and the run starts in another, so the printed paths must be
    absolute."""
    folder = tmp_path_factory.mktemp("ecommerce")
    storage = f"sqlite:///{folder / 'study.db'}"
    args = ["--trials", "3", "--storage", storage, "--out", str(folder / "out"),
            "--no-progress"]  # fmt: skip
    proc = run_recipe("ecommerce", *args, cwd=tmp_path_factory.mktemp("ecommerce-cwd"))
    return proc.returncode, proc.stdout, proc.stderr, storage, folder


def test_ecommerce_script_runs_and_reports(ecommerce_run) -> None:
    check_report("ecommerce", "recall@20", None, ecommerce_run)


def test_default_rl_path_transfers_and_notes_the_study(ecommerce_run) -> None:
    returncode, out, err, storage, _ = ecommerce_run
    assert returncode == 0, err
    assert "RLSampler: meta-model 'transfer-v2'; transfer from the" in out
    assert re.search(r"^Transfer \(trial #\d+\): \d+ matching past studies", out, re.MULTILINE)
    study = studies_of(None, storage)[0]
    assert study.user_attrs["sampler"] == "rl"
    pytest.importorskip("optuna_dashboard", reason="the study note needs optuna-dashboard")
    from optuna_dashboard._note import get_note_from_system_attrs

    note = get_note_from_system_attrs(
        study._storage.get_study_system_attrs(study._study_id), None
    )["body"]
    assert note.startswith("## lightgbm-ranker on synthetic_ecommerce_quick: tuned vs default")
    assert "| metric | tuned | default | popularity |" in note
    interval = r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]"
    row = rf"\| recall@20\\\* test \| {interval} \| {interval} \| {interval} \|"
    assert re.search(row, note), note


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


@pytest.mark.parametrize("domain", list(RECIPES))
def test_script_help_is_its_docstring_and_its_domains_defaults(domain: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(RECIPES_DIR / f"{domain}.py"), "--help"],
        capture_output=True,
        text=True,
        env={**_ENV, "COLUMNS": "200"},  # argparse wraps the help to the terminal
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {domain}.py [-h] [--data PATH]")
    docstring = ast.get_docstring(ast.parse((RECIPES_DIR / f"{domain}.py").read_text()))
    assert docstring is not None and docstring.splitlines()[0] in proc.stdout
    assert f"python recipes/{domain}.py --data PATH/TO/" in proc.stdout
    text = " ".join(proc.stdout.split())
    assert f"(default: {RECIPES[domain].metric})" in text
    assert f"(default: sqlite:///runs/recipes-{domain}.db;" in text
    assert f"(default: runs/recipes-{domain})" in text
    assert "--domain" not in text


def test_scripts_are_thin() -> None:
    """Everything but the prose and the domain lives in optuna_rl_sampler.recsys.tuning."""
    for path in RECIPES_DIR.glob("*.py"):
        text = path.read_text()
        assert "from optuna_rl_sampler.recsys.tuning import main" in text, path
        assert len(text.splitlines()) <= 150, path
