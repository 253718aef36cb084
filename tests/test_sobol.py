"""The numpy Sobol' generator equals SciPy's, and the first proposal leaves scipy.stats alone.

:func:`optuna_rl_sampler._sobol.scrambled_sobol` replaces
``scipy.stats.qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)`` so that a study's
first proposal does not pay the import of ``scipy.stats``. Published benchmark figures
depend on the exact candidate points, so the points must be bit-identical to SciPy's
and the generator must be left exactly as SciPy leaves it (same stream, same spawn
counter); both are checked here against the installed SciPy.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import qmc

from optuna_rl_sampler import _sobol
from optuna_rl_sampler._sobol import MAX_DIM
from optuna_rl_sampler._sobol import scrambled_sobol
from optuna_rl_sampler.candidates import SOBOL
from optuna_rl_sampler.candidates import generate_candidates

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 20240607, [12345, 3])


def _scipy(d: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return qmc.Sobol(d=d, scramble=True, seed=rng).random_base2(m)


def _assert_same_generator(a: np.random.Generator, b: np.random.Generator) -> None:
    """Same spawn counter, same next spawned child, same stream."""
    assert a.bit_generator._seed_seq.n_children_spawned == (
        b.bit_generator._seed_seq.n_children_spawned
    )
    child_a = np.random.Generator(type(a.bit_generator)(a.bit_generator._seed_seq.spawn(1)[0]))
    child_b = np.random.Generator(type(b.bit_generator)(b.bit_generator._seed_seq.spawn(1)[0]))
    assert np.array_equal(child_a.random(3), child_b.random(3))
    assert np.array_equal(a.random(5), b.random(5))


def _check(d: int, m: int, seed: int | list[int]) -> None:
    rng_scipy = np.random.default_rng(seed)
    rng_ours = np.random.default_rng(seed)
    expected = _scipy(d, m, rng_scipy)
    got = scrambled_sobol(d, m, rng_ours)
    assert got.dtype == expected.dtype == np.float64
    assert got.shape == expected.shape == (2**m, d)
    assert np.array_equal(got, expected), f"d={d} m={m} seed={seed}"
    _assert_same_generator(rng_scipy, rng_ours)


@pytest.mark.parametrize("d", range(1, 41))
def test_equals_scipy_small_dimensions(d: int) -> None:
    for m in range(12):
        for seed in SEEDS:
            _check(d, m, seed)


@pytest.mark.parametrize("d", [100, 257, 1000])
def test_equals_scipy_large_dimensions(d: int) -> None:
    for m in (0, 1, 5, 9, 11):
        for seed in SEEDS[:2]:
            _check(d, m, seed)


def test_equals_scipy_zero_dimensions() -> None:
    _check(0, 3, 0)


def test_equals_scipy_on_a_used_generator() -> None:
    """A generator that has drawn and spawned already (not a fresh one) behaves the same."""
    rngs = [np.random.default_rng(7), np.random.default_rng(7)]
    for rng in rngs:
        rng.random(11)
        rng.bit_generator._seed_seq.spawn(2)
    expected = _scipy(6, 8, rngs[0])
    got = scrambled_sobol(6, 8, rngs[1])
    assert np.array_equal(got, expected)
    # Twice in a row from the same generator: the second engine is a different child.
    assert np.array_equal(scrambled_sobol(6, 8, rngs[1]), _scipy(6, 8, rngs[0]))
    _assert_same_generator(rngs[0], rngs[1])


def test_points_are_a_scrambled_sobol_net() -> None:
    """Sanity, independent of SciPy: 2**m points in [0, 1), each 1-D projection balanced."""
    points = scrambled_sobol(5, 6, np.random.default_rng(0))
    assert points.min() >= 0.0 and points.max() < 1.0
    for column in points.T:
        assert np.array_equal(np.sort(np.floor(column * 64)), np.arange(64))


def test_candidates_use_the_same_points_as_scipy() -> None:
    """The SOBOL candidates are those of the former scipy.stats.qmc code path."""
    rng_ours = np.random.default_rng([5, 0])
    rng_scipy = np.random.default_rng([5, 0])
    cands = generate_candidates(100, 4, rng_ours)
    assert (cands.source == SOBOL).all()
    assert np.array_equal(cands.points, _scipy(4, 7, rng_scipy)[:100])
    _assert_same_generator(rng_scipy, rng_ours)


def test_invalid_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        scrambled_sobol(MAX_DIM + 1, 1, rng)
    with pytest.raises(ValueError):
        qmc.Sobol(d=MAX_DIM + 1, seed=rng)
    with pytest.raises(ValueError):
        scrambled_sobol(2, -1, rng)
    with pytest.raises(TypeError):
        scrambled_sobol(2, 1, np.random.RandomState(0))  # type: ignore[arg-type]


def test_falls_back_to_scipy_without_the_data_file(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing(d: int) -> np.ndarray:
        raise OSError("no direction numbers")

    monkeypatch.setattr(_sobol, "_direction_matrix", missing)
    # Optuna's logger tree does not propagate to the root logger that caplog listens on.
    caplog.set_level(logging.DEBUG, logger=_sobol._logger.name)
    _sobol._logger.addHandler(caplog.handler)
    rng_scipy = np.random.default_rng(3)
    rng_ours = np.random.default_rng(3)
    try:
        got = scrambled_sobol(3, 4, rng_ours)
    finally:
        _sobol._logger.removeHandler(caplog.handler)
    assert np.array_equal(got, _scipy(3, 4, rng_scipy))
    _assert_same_generator(rng_scipy, rng_ours)
    assert "no direction numbers" in caplog.text


_FIRST_PROPOSALS = """
import sys

import optuna

from optuna_rl_sampler import RLSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 16)
    c = trial.suggest_categorical("c", ["a", "b", "c"])
    return x * x + n + (c == "a")


study = optuna.create_study(sampler=RLSampler(seed=0))
study.optimize(objective, n_trials=5)
assert len(study.trials) == 5
print("scipy.stats" in sys.modules)
"""


def test_first_proposals_do_not_import_scipy_stats() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_PROPOSALS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1] == "False", (
        "scipy.stats was imported by the first proposals"
    )
