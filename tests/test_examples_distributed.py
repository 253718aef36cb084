"""The distributed examples run: Ray Tune's OptunaSearch and optuna-integration's DaskStorage.

Each example runs as a script in its own process (both start local clusters), and its
summary line is checked: every trial complete, the trials after the first ones proposed
by RLSampler's policy, and some proposals made while other trials were running. Skipped
when Ray Tune or Dask with optuna-integration is not installed; under ``CI=true``, where
they are installed, a missing package fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUMMARY = re.compile(
    r"(?P<complete>\d+) trials complete, (?P<proposed>\d+) proposed by RLSampler "
    r"\((?P<pending>\d+) while other trials were running\); best loss (?P<best>\S+) at "
)
TIMEOUT = 300


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _require(*modules: str, install: str) -> None:
    missing = [m for m in modules if not _importable(m)]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (pip install {install})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true, where this example must run, not skip.")
    pytest.skip(message)


def _run(script: str, *args: str) -> dict[str, float]:
    """Run an example and return the numbers of its summary line."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    match = SUMMARY.search(done.stdout)
    assert match, output
    return {k: float(v) for k, v in match.groupdict().items()}


def _check(summary: dict[str, float], n_trials: int, concurrency: int) -> None:
    assert summary["complete"] == n_trials
    # Only trials asked before any trial completed have nothing to propose from.
    assert n_trials - concurrency <= summary["proposed"] <= n_trials
    assert 1 <= summary["pending"] <= summary["proposed"]
    assert summary["best"] >= 0.0


def test_ray_tune_example() -> None:
    _require("ray", "ray.tune", install='"ray[tune]"')
    n_trials, concurrency = 8, 2
    summary = _run("ray_tune.py", "--trials", str(n_trials), "--concurrency", str(concurrency))
    _check(summary, n_trials, concurrency)


def test_dask_storage_example() -> None:
    _require(
        "dask",
        "distributed",
        "optuna_integration",
        install='"dask[distributed]" optuna-integration',
    )
    n_trials, workers = 12, 2
    summary = _run("dask_storage.py", "--trials", str(n_trials), "--workers", str(workers))
    _check(summary, n_trials, workers)
