from __future__ import annotations

import os
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
