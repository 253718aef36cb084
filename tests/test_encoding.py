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
from optuna_rl_sampler.encoding import fit_value
from optuna_rl_sampler.encoding import is_number


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
        # A range the step divides, as Optuna expects (it would shorten it and warn).
        return IntDistribution(low, low + step * ((high - low) // step), step=step)
    low = draw(st.floats(1e-4, 10.0))
    high = low + draw(st.floats(0.0, 100.0))
    if kind == "flog":
        return FloatDistribution(low, high, log=True)
    if kind == "fstep":
        step = draw(st.sampled_from([0.01, 0.1, 0.25, 1.0]))
        # Bounds on the step's decimal grid, so Optuna finds the range divisible.
        start = round(draw(st.integers(1, 1000)) * step, 2)
        return FloatDistribution(
            start, round(start + step * draw(st.integers(0, 40)), 2), step=step
        )
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


def test_numpy_typed_values_encode_as_python_numbers():
    space = {"x": FloatDistribution(-5, 5), "k": IntDistribution(0, 9)}
    enc = SearchSpaceEncoder(space)
    plain = [{"x": 2.5, "k": 3}, {"x": -5.0, "k": 9}, {"x": math.inf, "k": 1}, {"x": 1.0, "k": 10}]
    typed = [
        {"x": np.float64(2.5), "k": np.int64(3)},
        {"x": np.float32(-5.0), "k": np.uint8(9)},
        {"x": np.float64(np.inf), "k": np.int32(1)},
        {"x": np.float64(1.0), "k": np.int16(10)},
    ]
    points, ok = enc.encode_many(typed)
    expected, expected_ok = enc.encode_many(plain)
    np.testing.assert_array_equal(ok, [True, True, False, False])
    np.testing.assert_array_equal(ok, expected_ok)
    np.testing.assert_array_equal(points, expected)
    # A bool is never a number, whatever its type.
    _, ok_bool = enc.encode_many([{"x": np.bool_(True), "k": 1}, {"x": 1.0, "k": True}])
    np.testing.assert_array_equal(ok_bool, [False, False])


def test_a_float_range_wider_than_float64_maps_without_overflow():
    # high - low = 2e308 overflows; the map is the same, computed in halved units.
    enc = SearchSpaceEncoder({"x": FloatDistribution(-1e308, 1e308)})
    assert [enc.decode(np.array([u]))["x"] for u in (0.0, 0.25, 0.5, 0.75, 1.0)] == [
        -1e308,
        -5e307,
        0.0,
        5e307,
        1e308,
    ]
    points, ok = enc.encode_many([{"x": -1e308}, {"x": 0.0}, {"x": 5e307}, {"x": 1e308}])
    np.testing.assert_array_equal(points[:, 0], [0.0, 0.5, 0.75, 1.0])
    assert ok.all() and enc.encode({"x": 5e307})[0] == 0.75
    grid = SearchSpaceEncoder({"x": FloatDistribution(-1e308, 1e308, step=1e307)})
    assert grid.n_bins[0] == 21
    assert grid.decode(np.array([0.5]))["x"] == 0.0 and grid.encode({"x": 1e307})[0] == 11.5 / 21


def test_values_of_another_kind_are_not_evidence():
    # bool is an int in Python, but False is no value of suggest_int("k", -10, 10), and a
    # True is not the choice 1 (though Optuna's own lookup equates them).
    space = {"k": IntDistribution(-10, 10), "c": CategoricalDistribution([1, 2])}
    enc = SearchSpaceEncoder(space)
    rows = [{"k": 3, "c": 2}, {"k": False, "c": 2}, {"k": 3, "c": True}, {"k": "3", "c": 1}]
    _, ok = enc.encode_many(rows)
    np.testing.assert_array_equal(ok, [True, False, False, False])
    assert [enc.admits(r) for r in rows] == [True, False, False, False]
    # Optuna's equality between int and float choices still holds: 2.0 is the choice 2.
    assert enc.encode({"k": 3, "c": 2.0})[0] == enc.encode({"k": 3, "c": 2})[0] == 0.75


def test_fit_value_takes_only_values_of_the_parameters_kind():
    assert [is_number(v) for v in (3, -2.5, np.int64(4), True, np.bool_(False), "3")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert not is_number(float("inf")) and not is_number(None)
    ints = IntDistribution(-10, 10, step=2)
    assert fit_value(ints, 4.0) == 4 and type(fit_value(ints, 4.0)) is int
    for bad, why in [
        (False, r"False \(bool\) is not a number"),
        ("4", r"'4' \(str\) is not a number"),
        (3, r"3 is not in IntDistribution"),  # off the step grid
        (4.5, r"4.5 is not an integer"),
        (12, r"12 is not in IntDistribution"),
    ]:
        with pytest.raises(ValueError, match=why):
            fit_value(ints, bad)
    floats = FloatDistribution(0.0, 1.0)
    assert fit_value(floats, 1) == 1.0 and type(fit_value(floats, 1)) is float
    with pytest.raises(ValueError, match="is not a number"):
        fit_value(floats, True)
    # A categorical returns its own choice: 2.0 -> 2 and 1 -> 1.0 (Optuna's equality), a
    # bool only for a bool choice, NaN for NaN.
    assert type(fit_value(CategoricalDistribution([1, 2]), 2.0)) is int
    assert type(fit_value(CategoricalDistribution([1.0, 3.0]), 1)) is float
    assert fit_value(CategoricalDistribution([True, 1]), 1) == 1
    assert fit_value(CategoricalDistribution([True, 1]), True) is True
    assert math.isnan(fit_value(CategoricalDistribution(["a", float("nan")]), float("nan")))
    with pytest.raises(ValueError, match=r"True \(bool\) is not one of the choices \(1, 2\)"):
        fit_value(CategoricalDistribution([1, 2]), True)
    with pytest.raises(ValueError, match=r"1 \(int\) is not one of the choices"):
        fit_value(CategoricalDistribution([True, False]), 1)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@st.composite
def wide_int_distributions(draw: st.DrawFn) -> IntDistribution:
    """Integer ranges far beyond float64's exact integers (2**53): wide or far out."""
    kind = draw(st.sampled_from(["wide", "far", "far-log", "wide-log", "far-step"]))
    if kind == "wide":
        low = draw(st.integers(_INT64_MIN, 0))
        return IntDistribution(low, draw(st.integers(2**53, _INT64_MAX)))
    if kind == "wide-log":
        return IntDistribution(draw(st.integers(1, 1000)), draw(st.integers(2**53, _INT64_MAX)))
    low = draw(st.integers(2**54, 2**62)) * draw(st.sampled_from([1, -1]))
    width = draw(st.integers(0, 10**6))
    if kind == "far-log":
        low = abs(low)
        return IntDistribution(low, low + width, log=True)
    step = draw(st.integers(1, 9)) if kind == "far-step" else 1
    return IntDistribution(low, low + width * step, step=step)


def _stored(dist: IntDistribution, value: int) -> bool:
    """What Optuna checks when it stores a sampled value (it keeps a float)."""
    return dist._contains(dist.to_internal_repr(value))


@settings(max_examples=150, deadline=None)
@given(wide_int_distributions(), st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8))
def test_wide_integer_ranges_decode_inside_and_encode_without_overflow(dist, unit):
    enc = SearchSpaceEncoder({"k": dist, "x": FloatDistribution(0, 1)})
    assert enc.n_bins[0] >= 1
    points = np.array([[u, 0.5] for u in unit])
    for u in points:
        value = enc.decode(u)["k"]
        assert type(value) is int and dist.low <= value <= dist.high, (dist, u, value)
        # The decoded value is one Optuna stores exactly whenever the range holds one.
        if _stored(dist, dist.low) or _stored(dist, dist.high):
            assert _stored(dist, value), (dist, value)
        again = enc.encode({"k": value, "x": 0.5})
        assert 0.0 <= again[0] <= 1.0
        assert dist.low <= enc.decode(again)["k"] <= dist.high
    snapped = enc.snap(points)
    assert np.all((snapped >= 0.0) & (snapped <= 1.0))
    rows = [{"k": dist.low, "x": 0.1}, {"k": dist.high, "x": 0.2}, {"k": dist.high + 1, "x": 0}]
    encoded, ok = enc.encode_many(rows)
    np.testing.assert_array_equal(ok, [True, True, False])
    np.testing.assert_allclose(encoded[:2], [enc.encode(rows[0]), enc.encode(rows[1])])
    assert enc.admits(rows[1]) and not enc.admits(rows[2])


def test_wide_integer_known_values():
    enc = SearchSpaceEncoder({"k": IntDistribution(0, _INT64_MAX)})
    assert enc.n_bins[0] == _INT64_MAX  # 2**63 bins, capped to int64
    assert enc.decode(np.array([0.0]))["k"] == 0
    top = enc.decode(np.array([1.0]))["k"]
    # The largest int64 Optuna stores exactly: 2**63 - 1024 (float(2**63 - 1) is 2**63).
    assert top == 2**63 - 1024
    assert enc.decode(np.array([0.5]))["k"] == 2**62
    assert enc.encode({"k": _INT64_MAX})[0] == pytest.approx(1.0)
    assert enc.encode({"k": 2**62})[0] == pytest.approx(0.5)

    # Near 2**60 with few bins every index is exact; a value decodes to the nearest
    # integer that Optuna stores exactly (a multiple of 256 there).
    low = 2**60
    enc = SearchSpaceEncoder({"k": IntDistribution(low, low + 1000)})
    assert enc.n_bins[0] == 1001
    np.testing.assert_allclose(enc.encode({"k": low + 500}), [500.5 / 1001])
    assert enc.decode(np.array([500.5 / 1001]))["k"] == low + 512
    assert enc.decode(np.array([1.0]))["k"] == low + 768

    enc = SearchSpaceEncoder({"k": IntDistribution(low, low + 3000, step=3)})
    assert enc.n_bins[0] == 1001
    assert enc.decode(np.array([0.0]))["k"] == low
    # Grid values that are floats: multiples of lcm(3, 256) = 768 above low.
    assert {enc.decode(np.array([u]))["k"] - low for u in np.linspace(0, 1, 50)} <= {
        0,
        768,
        1536,
        2304,
    }

    # log=True near 2**60: the range is ~1e-15 wide in log space, still resolved.
    enc = SearchSpaceEncoder({"k": IntDistribution(low, low + 1000, log=True)})
    u = enc.encode({"k": low + 500})[0]
    assert u == pytest.approx(500.5 / 1001, rel=1e-6)
    assert enc.decode(np.array([0.0]))["k"] == low

    # Small ranges keep their exact, canonical round trip.
    enc = SearchSpaceEncoder({"k": IntDistribution(1, 2**40, log=True)})
    for v in (1, 2, 3, 1000, 2**40 - 1, 2**40):
        assert enc.decode(enc.encode({"k": v}))["k"] == v


def test_wide_integer_ranges_in_a_study():
    import optuna

    from optuna_rl_sampler import RLSampler
    from optuna_rl_sampler.sampler import REASON_KEY

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=RLSampler(seed=0, n_candidates=32))
    study.optimize(lambda t: t.suggest_int("x", 0, 2**63 - 1) / 2**63, n_trials=4)
    assert all(0 <= t.params["x"] <= 2**63 - 1 for t in study.trials)
    assert all(t.system_attrs[REASON_KEY]["source"] != "fallback" for t in study.trials[1:])


def test_numeric_part_reads_numeric_columns_and_zeroes_categorical_ones():
    enc = SearchSpaceEncoder(
        {
            "a": FloatDistribution(0.0, 1.0),
            "b": CategoricalDistribution(["x", "y", "z"]),
            "c": IntDistribution(1, 10),
        }
    )
    embedded = enc.embed(np.array([[0.25, 0.5, 0.75]]))
    assert embedded.shape == (1, 5)  # a, b's three choices, c
    np.testing.assert_allclose(enc.numeric_part(embedded), [[0.25, 0.0, 0.75]])
    np.testing.assert_allclose(enc.numeric_part(np.arange(5.0)[None]), [[0.0, 0.0, 4.0]])
