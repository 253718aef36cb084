from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_data_dir() -> Path | None:
    """Folder of the real datasets: ``ORS_DATA_DIR`` or ``../shared/data`` beside the repo."""
    path = Path(os.environ.get("ORS_DATA_DIR", _DEFAULT_DATA))
    return path if path.is_dir() else None


@pytest.fixture
def data_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real datasets not found: set ORS_DATA_DIR to the folder of datasets")
    return path


@pytest.fixture
def optuna_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` that sees the records of Optuna's logger tree (INFO and up).

    The package logs under ``optuna.optuna_rl_sampler...``, and Optuna's root logger
    does not propagate to the root logger that ``caplog`` listens on: propagation is
    turned on for the test, and Optuna's verbosity and propagation restored after it.
    """
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    optuna.logging.enable_propagation()
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.set_verbosity(verbosity)
