from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_rl_sampler.encoding import SearchSpaceEncoder


def _in_distribution(dist: BaseDistribution, value: object) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in dist.choices) or (
            value is None and None in dist.choices
        )
    if isinstance(dist, IntDistribution):
        if not isinstance(value, int) or not dist.low <= value <= dist.high:
            return False
        return dist.log or (value - dist.low) % dist.step == 0
    assert isinstance(dist, FloatDistribution)
    if not isinstance(value, float) or not dist.low <= value <= dist.high:
        return False
    if dist.step is not None:
        k = (value - dist.low) / dist.step
        return math.isclose(k, round(k), abs_tol=1e-6)
    return True


@st.composite
def distributions(draw: st.DrawFn) -> BaseDistribution:
    kind = draw(st.sampled_from(["float", "flog", "fstep", "int", "ilog", "istep", "cat"]))
    if kind == "cat":
        atoms = st.one_of(
            st.text(max_size=3), st.integers(-5, 5), st.floats(-5, 5), st.booleans(), st.none()
        )
        choices = draw(st.lists(atoms, min_size=1, max_size=12, unique_by=lambda c: (type(c), c)))
        return CategoricalDistribution(choices)
    if kind in ("int", "ilog", "istep"):
        low = draw(st.integers(1, 50))
        high = low + draw(st.integers(0, 300))
        if kind == "ilog":
            return IntDistribution(low, high, log=True)
        step = draw(st.integers(1, 7)) if kind == "istep" else 1
        return IntDistribution(low, high, step=step)
    low = draw(st.floats(1e-4, 10.0))
    high = low + draw(st.floats(0.0, 100.0))
    if kind == "flog":
        return FloatDistribution(low, high, log=True)
    if kind == "fstep":
        step = draw(st.sampled_from([0.01, 0.1, 0.25, 1.0]))
        return FloatDistribution(low, low + step * draw(st.integers(0, 40)), step=step)
    return FloatDistribution(low, high)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text("abcxyz", min_size=1, max_size=4), distributions(), min_size=1, max_size=6
    ),
    st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
)
def test_every_decoded_point_lies_in_its_distribution(space, unit):
    enc = SearchSpaceEncoder(space)
    u = np.array(unit[: enc.n_params])
    params = enc.decode(u)
    for name, dist in space.items():
        assert _in_distribution(dist, params[name]), (name, dist, params[name])
    # decode -> encode -> decode is stable, and encode agrees with snap.
    again = enc.encode(params)
    for name, value in enc.decode(again).items():
        if isinstance(value, float) and isinstance(params[name], float):
            assert math.isclose(value, params[name], rel_tol=1e-9, abs_tol=1e-12)
        else:
            assert value == params[name] and type(value) is type(params[name])
    binned = enc.n_bins > 0
    np.testing.assert_allclose(enc.snap(u[None, :])[0][binned], again[binned], atol=1e-9)
    assert enc.admits(params)
    emb = enc.embed(again[None, :])
    assert emb.shape == (1, enc.embed_dim)


def test_known_values():
    enc = SearchSpaceEncoder(
        {
            "lr": FloatDistribution(1e-4, 1e-2, log=True),
            "n": IntDistribution(0, 3),
            "act": CategoricalDistribution(["relu", "tanh"]),
            "fixed": FloatDistribution(2.0, 2.0),
        }
    )
    assert enc.param_names == ["act", "fixed", "lr", "n"]
    u = enc.encode({"lr": 1e-3, "n": 2, "act": "tanh", "fixed": 2.0})
    np.testing.assert_allclose(u, [0.75, 0.5, 0.5, 0.625])
    assert enc.decode(np.array([0.1, 0.9, 1.0, 0.0])) == {
        "act": "relu",
        "fixed": 2.0,
        "lr": pytest.approx(1e-2),
        "n": 0,
    }
    # Two different choices of a categorical are at distance 1 in the embedding.
    e = enc.embed(np.array([[0.25, 0.5, 0.5, 0.5], [0.75, 0.5, 0.5, 0.5]]))
    assert np.linalg.norm(e[0] - e[1]) == pytest.approx(1.0)


def test_log_int_bins_are_canonical():
    dist = IntDistribution(1, 1000, log=True)
    enc = SearchSpaceEncoder({"k": dist})
    grid = np.linspace(0, 1, 2001)[:, None]
    values = [enc.decode(g)["k"] for g in grid]
    assert min(values) == 1 and max(values) == 1000
    assert np.all(np.diff(values) >= 0)
    for v in (1, 2, 10, 999, 1000):
        assert enc.decode(enc.encode({"k": v}))["k"] == v


def test_admits_rejects_out_of_range_and_missing():
    enc = SearchSpaceEncoder({"x": FloatDistribution(0, 1), "c": CategoricalDistribution([1, 2])})
    assert not enc.admits({"x": 2.0, "c": 1})
    assert not enc.admits({"x": 0.5, "c": 3})
    assert not enc.admits({"x": 0.5})


def test_encode_many_matches_encode_and_flags_rows_outside():
    space = {
        "x": FloatDistribution(0, 10),
        "k": IntDistribution(1, 64, log=True),
        "c": CategoricalDistribution(["a", None, 3]),
    }
    enc = SearchSpaceEncoder(space)
    rows = [{"x": 2.5, "k": 8, "c": None}, {"x": 11.0, "k": 8, "c": "a"}, {"x": 1.0, "k": 2}]
    points, ok = enc.encode_many(rows)
    np.testing.assert_array_equal(ok, [True, False, False])
    np.testing.assert_allclose(points[0], enc.encode(rows[0]))
    empty, ok_empty = enc.encode_many([])
    assert empty.shape == (0, 3) and ok_empty.shape == (0,)
