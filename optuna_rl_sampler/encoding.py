"""Search-space encoding: Optuna parameters <-> points of the unit cube.

Every relative search space is mapped to ``[0, 1]^P`` (one coordinate per parameter) so
that candidate generation, the surrogate and the policy never see a distribution type.
The map is built so that decoding any point of the cube gives a value that lies in its
distribution:

* float: linear, or linear in ``log`` space for ``log=True``; with a ``step`` the cube is
  cut into ``K + 1`` equal bins, one per grid value, so every grid value is equally
  likely under uniform sampling. A range whose width overflows float64 (such as
  ``FloatDistribution(-1e308, 1e308)``) is mapped in halved units, exactly the same map
  without the overflow.
* int: always binned (one bin per admissible integer); ``log=True`` bins are equal-width
  in ``log`` space over ``[low - 0.5, high + 0.5]``. Bin indices are exact Python
  integers, so ranges as wide as ``IntDistribution(0, 2**63 - 1)`` or as far out as
  ``2**60`` work; beyond ``2**53`` a decoded value is moved to the nearest integer that
  Optuna stores exactly (it keeps parameter values as floats), always inside the range.
  Past ``2**53`` bins a cube coordinate cannot tell every bin apart, so a decoded value
  re-encodes to a nearby bin rather than its own.
* categorical: ``n`` equal bins, one per choice (choices may be any value Optuna accepts:
  str, int, float, bool, None, mixed).
* a one-point range (``low == high``) or a single choice sits at 0.5 and always decodes
  to that value.

Encoded points of binned parameters sit at bin centres, so a decoded-then-encoded point
is canonical: two candidates that decode to the same configuration encode identically.

For distances and the surrogate, :meth:`SearchSpaceEncoder.embed` turns cube points into
a feature space where each categorical becomes a one-hot block scaled so that two
different choices are at distance 1, like the two ends of a numeric axis.

The module uses Optuna's distribution API (``to_internal_repr`` / ``to_external_repr``,
and ``_contains``, the check Optuna applies to a stored value), not its private
transforms.

Values from elsewhere (another study's trials, or a trial whose distribution has since
changed) are taken only when they are of the parameter's kind
(:func:`is_number`, :func:`fit_value`): a ``bool`` is never a number here, although
Python makes it an ``int``, and matches only a ``bool`` choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

__all__ = ["SearchSpaceEncoder", "fit_value", "is_number"]

_NUMERIC = 0
_CATEGORICAL = 1
_MISSING = object()
#: Integers below this magnitude are exact in float64 (vectorised arithmetic is safe).
_EXACT_INT = 2**53
#: Most neighbouring floats tried when a wide-range integer must be stored exactly.
_MAX_WALK = 4096
_INT64_MAX = int(np.iinfo(np.int64).max)


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


#: Value types that convert to float64 in one step with :func:`is_number`'s meaning
#: (never ``bool``; a non-finite value ends up outside every range either way).
_PLAIN_NUMBERS = frozenset(
    {float, int, np.float64, np.float32, np.int64, np.int32, np.int16, np.int8}
    | {np.uint64, np.uint32, np.uint16, np.uint8}
)


def _as_numbers(values: list[Any]) -> np.ndarray:
    """``values`` as floats, NaN where a value is not a number (:func:`is_number`); plain
    Python or NumPy number columns, the usual case, convert in one step."""
    if set(map(type, values)) <= _PLAIN_NUMBERS:
        try:
            return np.asarray(values, dtype=float)  # inf stays inf: outside every range
        except OverflowError:  # an int beyond float64
            pass
    return np.array([v if is_number(v) else np.nan for v in values], dtype=float)


def is_number(value: Any) -> bool:
    """Whether ``value`` can be the value of a numeric (float or int) parameter: a finite
    real number that is not a ``bool``.

    Examples:
        >>> from optuna_rl_sampler.encoding import is_number
        >>> [is_number(v) for v in (3, 2.5, False, "3", float("nan"), None)]
        [True, True, False, False, False, False]
    """
    if _is_bool(value) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float is still a finite number
        return True


def _choice_equal(choice: Any, value: Any) -> bool:
    """Optuna's equality of categorical choices (``==``, and NaN equals NaN), except that
    a ``bool`` equals only a ``bool`` (Optuna would take ``True`` for ``1``)."""
    if _is_bool(choice) != _is_bool(value):
        return False
    try:
        if bool(choice == value):
            return True
    except (TypeError, ValueError):
        return False
    return _is_nan(choice) and _is_nan(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def fit_value(dist: BaseDistribution, value: Any) -> Any:
    """``value`` as a value of ``dist``, when it is of the parameter's kind and lies in
    the distribution; else :class:`ValueError` saying why.

    For a value from another study (a source configuration): a numeric parameter takes
    a number (:func:`is_number`; ``bool`` and strings are refused) on its range and grid
    and returns it as ``int`` or ``float``; a categorical parameter takes a value equal to
    one of its choices by Optuna's equality (``1 == 1.0``, NaN equals NaN), a ``bool``
    only for a ``bool`` choice, and returns the choice itself.

    Examples:
        >>> from optuna.distributions import CategoricalDistribution, IntDistribution
        >>> from optuna_rl_sampler.encoding import fit_value
        >>> fit_value(IntDistribution(-10, 10), 3.0)
        3
        >>> fit_value(CategoricalDistribution([1, 2]), 2.0)
        2
        >>> fit_value(IntDistribution(-10, 10), False)
        Traceback (most recent call last):
          ...
        ValueError: False (bool) is not a number; IntDistribution(high=10, log=False, low=-10, step=1) takes int values.
    """  # noqa: E501
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if type(choice) is type(value) and _choice_equal(choice, value):
                return choice
        for choice in dist.choices:
            if _choice_equal(choice, value):
                return choice
        raise ValueError(
            f"{value!r} ({type(value).__name__}) is not one of the choices {dist.choices}."
        )
    if not isinstance(dist, (FloatDistribution, IntDistribution)):
        raise ValueError(f"Unsupported distribution {dist!r}.")
    kind = "int" if isinstance(dist, IntDistribution) else "float"
    if not is_number(value):
        raise ValueError(
            f"{value!r} ({type(value).__name__}) is not a number; {dist!r} takes {kind} values."
        )
    if isinstance(dist, IntDistribution):
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(f"{value!r} is not an integer; {dist!r} takes int values.")
        out: int | float = int(value)
        inside = dist.low <= out <= dist.high and (out - dist.low) % dist.step == 0
    else:
        out = float(value)
        inside = dist._contains(dist.to_internal_repr(out))
    if not inside:
        raise ValueError(f"{value!r} is not in {dist!r}.")
    return out


def _as_int(value: Any) -> int:
    """An integer parameter value as an exact Python int (floats are rounded)."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    return int(round(float(value)))


def _numeric_inside(dist: FloatDistribution | IntDistribution, value: Any) -> bool:
    """Whether ``value`` is a number (not a ``bool``) in ``[low, high]``; exact for
    integers of any size."""
    if not is_number(value):
        return False
    if isinstance(dist, IntDistribution) and isinstance(value, (int, np.integer)):
        return dist.low <= int(value) <= dist.high
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return dist.low <= v <= dist.high


def _choice_index(dist: CategoricalDistribution, value: Any) -> int:
    # Match by type first so that choices such as (0, 0.0) or (1, True) stay distinct;
    # then by Optuna's equality (1 == 1.0), except that a bool matches only a bool.
    for index, choice in enumerate(dist.choices):
        if type(choice) is type(value) and _choice_equal(choice, value):
            return index
    for index, choice in enumerate(dist.choices):
        if _choice_equal(choice, value):
            return index
    raise ValueError(f"{value!r} ({type(value).__name__}) is not among {dist.choices}.")


class _Param:
    """Encoding of one parameter (internal).

    Numeric parameters: ``lo``/``hi`` bound the continuous coordinate (linear or ``log``
    space), multiplied by ``scale`` (as are linear float values before they are mapped):
    0.5 for a float range whose width ``high - low`` overflows, else 1 (halving a float is
    exact).
    Integer parameters are binned with exact Python-int bin indices; a ``log``
    integer is mapped through ``t(s) = log1p(s / ref)`` with ``s = value - (low - 0.5)``
    and ``ref = low - 0.5``, which equals ``log(value) - log(low - 0.5)`` but keeps its
    precision when ``low`` is huge and the range narrow (``span = t(n_bins)``).
    """

    __slots__ = (
        "name",
        "dist",
        "kind",
        "n_bins",
        "log",
        "lo",
        "hi",
        "exact",
        "ref",
        "span",
        "scale",
    )

    def __init__(self, name: str, dist: BaseDistribution) -> None:
        self.name = name
        self.dist = dist
        self.log = False
        self.lo = 0.0
        self.hi = 1.0
        self.ref = 1.0
        self.span = 1.0
        self.scale = 1.0
        self.exact = True  # values and bin indices are exact in float64
        self.n_bins = 0  # 0 = continuous
        if isinstance(dist, CategoricalDistribution):
            self.kind = _CATEGORICAL
            self.n_bins = len(dist.choices)
        elif isinstance(dist, IntDistribution):
            self.kind = _NUMERIC
            low, high, step = int(dist.low), int(dist.high), int(dist.step)
            self.n_bins = (high - low) // step + 1
            self.exact = max(abs(low), abs(high)) < _EXACT_INT
            if dist.log:
                self.log = True
                self.ref = float(low) - 0.5
                self.span = math.log1p(self.n_bins / self.ref)
            else:
                self.lo, self.hi = float(low), float(high)
        elif isinstance(dist, FloatDistribution):
            self.kind = _NUMERIC
            low, high = float(dist.low), float(dist.high)
            if dist.log:
                self.log = True
                self.lo, self.hi = math.log(low), math.log(high)
            else:
                if not math.isfinite(high - low):  # e.g. (-1e308, 1e308): halve the units
                    self.scale = 0.5
                self.lo, self.hi = low * self.scale, high * self.scale
                if dist.step is not None:
                    self.n_bins = int(round((self.hi - self.lo) / (dist.step * self.scale))) + 1
        else:
            raise TypeError(
                f"Parameter {name!r} has an unsupported distribution {dist!r}; RLSampler "
                "supports FloatDistribution, IntDistribution and CategoricalDistribution."
            )

    @property
    def single(self) -> bool:
        return self.dist.single()

    # -- integers -----------------------------------------------------------------

    def _int_index(self, value: Any) -> int:
        """Exact bin index of an integer value (nearest grid point, clipped)."""
        dist = self.dist
        offset = _as_int(value) - dist.low
        if dist.log:
            index = offset
        else:
            index, rest = divmod(offset, dist.step)
            index += int(2 * rest >= dist.step)
        return min(self.n_bins - 1, max(0, index))

    def _int_centre(self, index: float | np.ndarray) -> float | np.ndarray:
        """Cube coordinate of the centre of bin ``index`` (scalar or array)."""
        if self.log:
            lower = np.log1p(index / self.ref)
            upper = np.log1p((index + 1.0) / self.ref)
            return 0.5 * (lower + upper) / self.span
        return (index + 0.5) / self.n_bins

    def _storable(self, value: int) -> int:
        """``value`` moved, if need be, to the nearest in-range integer that Optuna stores
        exactly (its internal representation is a float, exact only up to ``2**53``)."""
        dist = self.dist
        f = float(value)
        if dist._contains(f):
            return int(f)
        down = up = f
        for _ in range(_MAX_WALK):
            down = math.nextafter(down, -math.inf)
            if dist._contains(down):
                return int(down)
            up = math.nextafter(up, math.inf)
            if dist._contains(up):
                return int(up)
        return value  # no float lies on the grid inside the range: keep the exact value

    # -- all kinds ----------------------------------------------------------------

    def encode(self, value: Any) -> float:
        if self.single:
            return 0.5
        if self.kind == _CATEGORICAL:
            return (_choice_index(self.dist, value) + 0.5) / self.n_bins
        dist = self.dist
        if isinstance(dist, IntDistribution):
            return float(self._int_centre(self._int_index(value)))
        v = float(value)
        if self.n_bins:
            index = int(round((v * self.scale - self.lo) / (dist.step * self.scale)))
            return (index + 0.5) / self.n_bins
        if self.log:
            x = (math.log(v) - self.lo) / (self.hi - self.lo)
        else:
            x = (v * self.scale - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, x))

    def encode_array(self, v: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`encode` for a numeric parameter whose values are exact floats
        (``self.exact``; wide integer ranges go through :meth:`encode` one by one)."""
        dist = self.dist
        if isinstance(dist, IntDistribution):
            if dist.log:
                index = np.round(v) - dist.low
            else:
                index = np.round((v - dist.low) / dist.step)
            return self._int_centre(np.clip(index, 0, self.n_bins - 1))
        if self.n_bins:
            index = np.round((v * self.scale - self.lo) / (dist.step * self.scale))
            return (index + 0.5) / self.n_bins
        x = np.log(v) if self.log else v * self.scale
        return np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def bin_of(self, u: float) -> int:
        """Index of the bin that holds cube coordinate ``u``."""
        u = min(1.0, max(0.0, u))
        if isinstance(self.dist, IntDistribution) and self.log:
            s = self.ref * math.expm1(u * self.span)
            return int(min(self.n_bins - 1, max(0, math.floor(s))))
        return int(min(self.n_bins - 1, max(0, math.floor(u * self.n_bins))))

    def bins_of(self, u: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`bin_of` (float indices; exact below ``2**53`` bins)."""
        u = np.clip(u, 0.0, 1.0)
        if isinstance(self.dist, IntDistribution) and self.log:
            s = self.ref * np.expm1(u * self.span)
        else:
            s = u * float(self.n_bins)
        return np.clip(np.floor(s), 0.0, float(self.n_bins - 1))

    def decode(self, u: float) -> Any:
        dist = self.dist
        if self.kind == _CATEGORICAL:
            return dist.to_external_repr(0 if self.single else self.bin_of(u))
        if self.single:
            return dist.low
        if isinstance(dist, IntDistribution):
            value = int(dist.low) + self.bin_of(u) * int(dist.step)
            return value if self.exact else self._storable(value)
        if self.n_bins:
            value = (self.lo + self.bin_of(u) * dist.step * self.scale) / self.scale
            return float(min(dist.high, max(dist.low, value)))
        u = min(1.0, max(0.0, u))
        if self.log:
            value = math.exp(self.lo + u * (self.hi - self.lo))
        else:
            value = (self.lo + u * (self.hi - self.lo)) / self.scale
        return float(min(dist.high, max(dist.low, value)))


class SearchSpaceEncoder:
    """Map a relative search space to the unit cube and back.

    Args:
        search_space: Parameter name -> Optuna distribution. Parameters are ordered by
            name so that every process builds the same encoding.

    Examples:
        >>> from optuna.distributions import CategoricalDistribution, FloatDistribution
        >>> from optuna_rl_sampler.encoding import SearchSpaceEncoder
        >>> enc = SearchSpaceEncoder(
        ...     {
        ...         "lr": FloatDistribution(1e-4, 1e-1, log=True),
        ...         "act": CategoricalDistribution(["relu", "tanh"]),
        ...     }
        ... )
        >>> enc.param_names
        ['act', 'lr']
        >>> u = enc.encode({"lr": 1e-2, "act": "tanh"})
        >>> u.round(4)
        array([0.75  , 0.6667])
        >>> decoded = enc.decode(u)
        >>> decoded["act"], round(decoded["lr"], 12)
        ('tanh', 0.01)
    """

    def __init__(self, search_space: Mapping[str, BaseDistribution]) -> None:
        self._params = [_Param(name, search_space[name]) for name in sorted(search_space)]
        self.param_names: list[str] = [p.name for p in self._params]
        widths = [p.n_bins if p.kind == _CATEGORICAL else 1 for p in self._params]
        self._offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        self._is_cat = np.array([p.kind == _CATEGORICAL for p in self._params], dtype=bool)
        self._n_bins = np.array([min(p.n_bins, _INT64_MAX) for p in self._params], dtype=np.int64)

    @property
    def search_space(self) -> dict[str, BaseDistribution]:
        """The encoded search space (parameter name -> distribution), in order."""
        return {p.name: p.dist for p in self._params}

    @property
    def n_params(self) -> int:
        """Number of parameters (dimension of the cube)."""
        return len(self._params)

    @property
    def embed_dim(self) -> int:
        """Width of :meth:`embed`'s output (numeric params + one column per choice)."""
        return int(self._offsets[-1])

    @property
    def is_categorical(self) -> np.ndarray:
        """``(P,)`` bool mask of the categorical coordinates."""
        return self._is_cat

    @property
    def embedded_categorical(self) -> np.ndarray:
        """``(embed_dim,)`` bool mask of the columns of :meth:`embed` that hold a
        categorical parameter's one-hot block."""
        out = np.zeros(self.embed_dim, dtype=bool)
        for j, cat in enumerate(self._is_cat):
            if cat:
                out[self._offsets[j] : self._offsets[j + 1]] = True
        return out

    @property
    def n_bins(self) -> np.ndarray:
        """``(P,)`` number of admissible values per coordinate (0 for continuous; capped at
        ``2**63 - 1``)."""
        return self._n_bins

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one configuration to a ``(P,)`` point of the unit cube."""
        return np.array([p.encode(params[p.name]) for p in self._params], dtype=float)

    def encode_many(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Encode many configurations at once (vectorised per parameter).

        Returns:
            ``(points, admitted)``: the ``(n, P)`` cube points and an ``(n,)`` mask of the
            rows that :meth:`admits` (rows not admitted hold arbitrary values).
        """
        n = len(rows)
        out = np.full((n, self.n_params), 0.5)
        ok = np.ones(n, dtype=bool)
        for j, p in enumerate(self._params):
            values = [row.get(p.name, _MISSING) for row in rows]
            if p.kind == _CATEGORICAL:
                for i, v in enumerate(values):
                    try:
                        out[i, j] = (_choice_index(p.dist, v) + 0.5) / p.n_bins
                    except ValueError:
                        ok[i] = False
                if p.single:
                    out[:, j] = 0.5
                continue
            if not p.exact:  # wide integer range: exact Python ints, one by one
                for i, v in enumerate(values):
                    if _numeric_inside(p.dist, v):
                        out[i, j] = p.encode(v)
                    else:
                        ok[i] = False
                continue
            numeric = _as_numbers(values)
            inside = (numeric >= p.dist.low) & (numeric <= p.dist.high)
            ok &= inside
            if p.single:
                continue
            safe = np.where(inside, numeric, p.dist.low)
            out[:, j] = p.encode_array(safe)
        return out, ok

    def admits(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` holds a value for every parameter, inside its distribution.

        Used to keep trials whose distributions have since changed (a moved range) as
        evidence when their values still fit the current space.
        """
        for p in self._params:
            if p.name not in params:
                return False
            value = params[p.name]
            if p.kind == _CATEGORICAL:
                try:
                    _choice_index(p.dist, value)
                except ValueError:
                    return False
            elif not _numeric_inside(p.dist, value):
                return False
        return True

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """Decode a ``(P,)`` cube point; every value lies in its distribution."""
        return {p.name: p.decode(float(x)) for p, x in zip(self._params, u, strict=True)}

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Move ``(n, P)`` cube points onto canonical positions (bin centres).

        Continuous coordinates are only clipped to ``[0, 1]``; binned coordinates move
        to the centre of their bin, so the result equals ``encode(decode(x))`` row-wise.
        """
        out = np.clip(np.asarray(points, dtype=float), 0.0, 1.0)
        for j, p in enumerate(self._params):
            if p.single:
                out[:, j] = 0.5
            elif isinstance(p.dist, IntDistribution):
                out[:, j] = p._int_centre(p.bins_of(out[:, j]))
            elif p.n_bins:
                out[:, j] = (p.bins_of(out[:, j]) + 0.5) / p.n_bins
        return out

    def numeric_part(self, embedded: np.ndarray) -> np.ndarray:
        """The ``(n, P)`` cube coordinates of ``(n, embed_dim)`` embedded rows, numeric
        parameters only: a numeric coordinate is its embedded column (see
        :meth:`embed`), a categorical one is 0. Used to move along a gradient taken in
        the embedding while categorical choices stay as they are."""
        embedded = np.asarray(embedded, dtype=float)
        out = np.zeros((embedded.shape[0], self.n_params))
        numeric = ~self._is_cat
        out[:, numeric] = embedded[:, self._offsets[:-1][numeric]]
        return out

    def embed(self, points: np.ndarray) -> np.ndarray:
        """Embed ``(n, P)`` cube points into ``(n, embed_dim)`` for distances and kernels.

        Numeric coordinates are copied; a categorical coordinate becomes a one-hot block
        scaled by ``1/sqrt(2)`` so that two different choices are at Euclidean distance 1.
        """
        points = np.asarray(points, dtype=float)
        if not self._is_cat.any():
            return points.copy()
        out = np.zeros((points.shape[0], self.embed_dim))
        for j, p in enumerate(self._params):
            start = self._offsets[j]
            if p.kind == _CATEGORICAL:
                index = np.clip(np.floor(points[:, j] * p.n_bins), 0, p.n_bins - 1).astype(int)
                out[np.arange(points.shape[0]), start + index] = math.sqrt(0.5)
            else:
                out[:, start] = points[:, j]
        return out
