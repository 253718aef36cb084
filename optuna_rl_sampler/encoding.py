"""Search-space encoding: Optuna parameters <-> points of the unit cube.

Every relative search space is mapped to ``[0, 1]^P`` (one coordinate per parameter) so
that candidate generation, the surrogate and the policy never see a distribution type.
The map is built so that decoding any point of the cube gives a value that lies in its
distribution:

* float: linear, or linear in ``log`` space for ``log=True``; with a ``step`` the cube is
  cut into ``K + 1`` equal bins, one per grid value, so every grid value is equally
  likely under uniform sampling.
* int: always binned (one bin per admissible integer); ``log=True`` bins are equal-width
  in ``log`` space over ``[low - 0.5, high + 0.5]``.
* categorical: ``n`` equal bins, one per choice (choices may be any value Optuna accepts:
  str, int, float, bool, None, mixed).
* a one-point range (``low == high``) or a single choice sits at 0.5 and always decodes
  to that value.

Encoded points of binned parameters sit at bin centres, so a decoded-then-encoded point
is canonical: two candidates that decode to the same configuration encode identically.

For distances and the surrogate, :meth:`SearchSpaceEncoder.embed` turns cube points into
a feature space where each categorical becomes a one-hot block scaled so that two
different choices are at distance 1, like the two ends of a numeric axis.

The module only uses Optuna's public distribution API (``to_internal_repr`` /
``to_external_repr``), so it does not depend on Optuna's private transforms.
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

__all__ = ["SearchSpaceEncoder"]

_NUMERIC = 0
_CATEGORICAL = 1
_MISSING = object()


def _choice_index(dist: CategoricalDistribution, value: Any) -> int:
    # Match by type first so that choices such as (0, 0.0) or (1, True) stay distinct;
    # Optuna's own lookup treats equal values of different types as one.
    for index, choice in enumerate(dist.choices):
        if type(choice) is type(value) and (
            choice == value
            or (isinstance(value, float) and math.isnan(value) and choice != choice)
        ):
            return index
    return int(dist.to_internal_repr(value))


class _Param:
    """Encoding of one parameter (internal)."""

    __slots__ = ("name", "dist", "kind", "n_bins", "log", "lo", "hi")

    def __init__(self, name: str, dist: BaseDistribution) -> None:
        self.name = name
        self.dist = dist
        self.log = False
        self.lo = 0.0
        self.hi = 1.0
        self.n_bins = 0  # 0 = continuous
        if isinstance(dist, CategoricalDistribution):
            self.kind = _CATEGORICAL
            self.n_bins = len(dist.choices)
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            self.kind = _NUMERIC
            low, high = float(dist.low), float(dist.high)
            if isinstance(dist, IntDistribution):
                if dist.log:
                    self.log = True
                    self.lo, self.hi = math.log(low - 0.5), math.log(high + 0.5)
                    self.n_bins = int(dist.high - dist.low) + 1
                else:
                    self.lo, self.hi = low, high
                    self.n_bins = (int(dist.high) - int(dist.low)) // int(dist.step) + 1
            elif dist.log:
                self.log = True
                self.lo, self.hi = math.log(low), math.log(high)
            elif dist.step is not None:
                self.lo, self.hi = low, high
                self.n_bins = int(round((high - low) / dist.step)) + 1
            else:
                self.lo, self.hi = low, high
        else:
            raise TypeError(
                f"Parameter {name!r} has an unsupported distribution {dist!r}; RLSampler "
                "supports FloatDistribution, IntDistribution and CategoricalDistribution."
            )

    @property
    def single(self) -> bool:
        return self.dist.single()

    def encode(self, value: Any) -> float:
        if self.single:
            return 0.5
        if self.kind == _CATEGORICAL:
            return (_choice_index(self.dist, value) + 0.5) / self.n_bins
        dist = self.dist
        v = float(value)
        if isinstance(dist, IntDistribution):
            if dist.log:
                return float(self._log_int_centre(v))
            index = int(round((v - dist.low) / dist.step))
            return (index + 0.5) / self.n_bins
        if self.n_bins:
            index = int(round((v - dist.low) / dist.step))
            return (index + 0.5) / self.n_bins
        if self.log:
            x = (math.log(v) - self.lo) / (self.hi - self.lo)
        else:
            x = (v - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, x))

    def encode_array(self, v: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`encode` for a numeric parameter."""
        dist = self.dist
        if isinstance(dist, IntDistribution) and dist.log:
            return self._log_int_centre(v)
        if self.n_bins:
            index = np.round((v - dist.low) / dist.step)
            return (index + 0.5) / self.n_bins
        x = np.log(v) if self.log else v
        return np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def _log_int_centre(self, v: float | np.ndarray) -> float | np.ndarray:
        # Centre (in log space) of the bin [v - 0.5, v + 0.5] that decodes to ``v``.
        centre = 0.5 * (np.log(v - 0.5) + np.log(v + 0.5))
        return (centre - self.lo) / (self.hi - self.lo)

    def bin_of(self, u: float) -> int:
        """Index of the bin that holds cube coordinate ``u``."""
        if isinstance(self.dist, IntDistribution) and self.dist.log:
            x = math.exp(self.lo + min(1.0, max(0.0, u)) * (self.hi - self.lo))
            return int(min(self.n_bins - 1, max(0, round(x) - self.dist.low)))
        return int(min(self.n_bins - 1, max(0, math.floor(u * self.n_bins))))

    def decode(self, u: float) -> Any:
        dist = self.dist
        if self.kind == _CATEGORICAL:
            return dist.to_external_repr(0 if self.single else self.bin_of(u))
        if self.single:
            return dist.low
        if isinstance(dist, IntDistribution):
            if dist.log:
                return int(dist.low + self.bin_of(u))
            return int(dist.low + self.bin_of(u) * dist.step)
        if self.n_bins:
            value = dist.low + self.bin_of(u) * dist.step
            return float(min(dist.high, max(dist.low, value)))
        u = min(1.0, max(0.0, u))
        if self.log:
            value = math.exp(self.lo + u * (self.hi - self.lo))
        else:
            value = self.lo + u * (self.hi - self.lo)
        return float(min(dist.high, max(dist.low, value)))


class SearchSpaceEncoder:
    """Map a relative search space to the unit cube and back.

    Args:
        search_space: Parameter name -> Optuna distribution. Parameters are ordered by
            name so that every process builds the same encoding.

    Example:

        .. code-block:: python

            from optuna.distributions import CategoricalDistribution, FloatDistribution
            from optuna_rl_sampler.encoding import SearchSpaceEncoder

            enc = SearchSpaceEncoder(
                {"lr": FloatDistribution(1e-4, 1e-1, log=True),
                 "act": CategoricalDistribution(["relu", "tanh"])}
            )
            u = enc.encode({"lr": 1e-2, "act": "tanh"})  # array([0.75, 0.6667])
            enc.decode(u)  # {"act": "tanh", "lr": 0.01} (up to rounding)
    """

    def __init__(self, search_space: Mapping[str, BaseDistribution]) -> None:
        self._params = [_Param(name, search_space[name]) for name in sorted(search_space)]
        self.param_names: list[str] = [p.name for p in self._params]
        widths = [p.n_bins if p.kind == _CATEGORICAL else 1 for p in self._params]
        self._offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        self._is_cat = np.array([p.kind == _CATEGORICAL for p in self._params], dtype=bool)
        self._n_bins = np.array([p.n_bins for p in self._params], dtype=int)

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
    def n_bins(self) -> np.ndarray:
        """``(P,)`` number of admissible values per coordinate (0 for continuous)."""
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
            numeric = np.array(
                [v if isinstance(v, (int, float)) else np.nan for v in values], dtype=float
            )
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
            else:
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    return False
                if not (p.dist.low <= v <= p.dist.high):
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
            elif p.n_bins:
                if isinstance(p.dist, IntDistribution) and p.dist.log:
                    x = np.exp(p.lo + out[:, j] * (p.hi - p.lo))
                    value = np.clip(np.round(x), p.dist.low, p.dist.high)
                    out[:, j] = p._log_int_centre(value)
                    continue
                index = np.clip(np.floor(out[:, j] * p.n_bins), 0, p.n_bins - 1)
                out[:, j] = (index + 0.5) / p.n_bins
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
