"""Synthetic optimisation tasks for meta-training.

A task is a random Optuna search space (floats, log floats, stepped floats, ints and
categoricals, 1 to ``max_dims`` parameters) and an objective on it, maximised. The
objective is a function of the space's *embedding* (see
:meth:`SearchSpaceEncoder.embed`), so categoricals behave like unordered choices and
integers like coarse grids, exactly as the sampler sees them at run time.

Families (each with random scale, offset and optional observation noise):

* ``gp``: a draw from a GP prior with a Matern-like kernel, by random Fourier features
  (Rahimi & Recht 2007), with a random length scale; the family that keeps the policy
  sound on spaces it never saw;
* ``bowl``: a rotated, ill-conditioned quadratic with a random optimum, where only a
  random subset of parameters matters (low effective dimension, as in HPO);
* ``bumps``: a mixture of Gaussian bumps of different widths and heights (multimodal);
* ``ripples``: a bowl with cosine ripples (many local optima, one global trend);
* ``plateau``: a smooth tanh ridge with flat regions and a narrow good region, like a
  learning-rate sweep.

Families of what users' tuning problems show and the five above lack (not drawn unless
asked for: the default mix :data:`FAMILIES` is unchanged, so earlier runs replay exactly;
:data:`ALL_FAMILIES` lists every family):

* ``table``: a metric read off a finite validation set or a table of configurations:
  a GP-prior draw mapped to an accuracy-like value and rounded to ``1 / n_val``
  (``n_val`` from 10 to 200), sometimes on inputs snapped to a coarse grid, so that
  many configurations tie exactly and whole regions are flat;
* ``heavy``: minus a log-loss-like value: a smooth bowl plus a term that grows
  exponentially in a bad region of 10-40% of the space (as a log loss explodes when
  the model grows confident and wrong), capped at ``1e4`` times the bulk's spread so it
  stays finite; the value distribution has a long tail of very bad values;
* ``cliff``: a smooth landscape (a GP-prior draw or a bowl) with a divergence region:
  beyond a random threshold of one parameter, or of the sum of two (a learning rate or
  a learning rate times a batch size too large), the value is one very bad constant,
  as when a training run diverges and the objective reports a fixed penalty. Half the
  time the optimum sits just inside the safe side of the threshold.

For ``heavy`` and ``cliff``, :attr:`SyntheticTask.f_min` is the worst value of the
*bulk* of the landscape (outside the exploding tail, on the safe side of the cliff),
not the extreme value: the normalised regret stays a measure of progress on the
landscape, and a point in the tail or past the cliff has regret 1 (regret is clipped
to ``[0, 1]``). The extra families scale themselves on 512 embedded points of the
task's own space (drawn from the task's stream), so the tail and the cliff cover a
known share of the configurations whatever the mix of parameter kinds.

No public benchmark suite is used here, so benchmarks on BBOB and others stay held-out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from scipy.stats import qmc

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.sources import SourceStudy

__all__ = [
    "ALL_FAMILIES",
    "EXTRA_FAMILIES",
    "FAMILIES",
    "SOURCE_KINDS",
    "SPACE_STYLES",
    "SyntheticTask",
    "sample_search_space",
    "sample_sources",
    "sample_task",
]

#: The default family mix (what ``generic-v1`` was trained on); ``sample_task`` draws
#: one uniformly from it unless given another mix.
FAMILIES = ("gp", "bowl", "bumps", "ripples", "plateau")
#: Families of ties, heavy tails and divergence (see the module docstring); drawn only
#: when a mix names them.
EXTRA_FAMILIES = ("table", "heavy", "cliff")
#: Every family :func:`sample_task` knows.
ALL_FAMILIES = FAMILIES + EXTRA_FAMILIES
#: Kinds of search space: mixed kinds, grids (ints, log ints, stepped floats), mostly
#: categorical, and plain floats.
SPACE_STYLES = ("mixed", "grid", "categorical", "float")
#: How a source study relates to the task: same landscape shifted and blended with
#: another (``related``), an independent landscape (``unrelated``), or the task's
#: landscape upside down (``misleading``).
SOURCE_KINDS = ("related", "unrelated", "misleading")


@dataclass(frozen=True)
class SyntheticTask:
    """A search space, an objective on its embedding, and its value range.

    Attributes:
        family: Family name.
        encoder: Encoder of the task's search space.
        f: Maps ``(n, embed_dim)`` embedded points to ``(n,)`` noiseless values
            (higher is better).
        noise: Standard deviation of observation noise, in units of the value range.
        f_max: Best value (max over a dense Sobol sample and known optima).
        f_min: Low reference value (min over the same sample; for ``heavy`` and
            ``cliff``, min over the sample's points in the landscape's bulk).
    """

    family: str
    encoder: SearchSpaceEncoder
    f: Callable[[np.ndarray], np.ndarray]
    noise: float
    f_max: float
    f_min: float

    def evaluate(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy observations at ``(n, P)`` cube points."""
        z = self.encoder.embed(self.encoder.snap(points))
        y = self.f(z)
        if self.noise > 0:
            y = y + self.noise * (self.f_max - self.f_min) * rng.standard_normal(len(y))
        return y

    def regret(self, best_value: float) -> float:
        """Normalised simple regret of a best-so-far value, in ``[0, 1]``."""
        span = max(self.f_max - self.f_min, 1e-12)
        return float(np.clip((self.f_max - best_value) / span, 0.0, 1.0))


def sample_search_space(
    n_params: int, rng: np.random.Generator, style: str = "mixed"
) -> dict[str, BaseDistribution]:
    """A random search space of ``n_params`` parameters.

    Args:
        n_params: Number of parameters.
        rng: Random stream.
        style: ``"mixed"``: about 60% plain or log floats, 15% ints, 10% stepped floats
            and 15% categoricals with 2 to 8 choices; ``"grid"``: ints (a third of them
            log-scaled), stepped floats and a few categoricals; ``"categorical"``:
            70-100% categoricals, the rest ints; ``"float"``: plain floats.
    """
    if style not in SPACE_STYLES:
        raise ValueError(f"Unknown space style {style!r}; choose one of {SPACE_STYLES}.")
    probs = {
        "mixed": [0.45, 0.15, 0.15, 0.10, 0.15, 0.0],
        "grid": [0.0, 0.0, 0.35, 0.30, 0.15, 0.20],
        "categorical": [0.0, 0.0, 0.15, 0.0, 0.85, 0.0],
        "float": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    }[style]
    space: dict[str, BaseDistribution] = {}
    for i in range(n_params):
        kind = rng.choice(6, p=probs)
        name = f"x{i:02d}"
        if kind == 0:
            space[name] = FloatDistribution(0.0, 1.0)
        elif kind == 1:
            space[name] = FloatDistribution(1e-4, 1.0, log=True)
        elif kind == 2:
            space[name] = IntDistribution(0, int(rng.integers(3, 64)))
        elif kind == 3:
            space[name] = FloatDistribution(0.0, 1.0, step=float(rng.choice([0.05, 0.1, 0.25])))
        elif kind == 4:
            n_choices = int(rng.integers(2, 9))
            space[name] = CategoricalDistribution([f"c{j}" for j in range(n_choices)])
        else:
            space[name] = IntDistribution(1, int(rng.choice([16, 128, 1024])), log=True)
    return space


def _rff(dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    n_features = 256
    length_scale = rng.uniform(0.08, 0.5) * np.sqrt(dim)
    # Student-t frequencies give a Matern-like spectrum (nu = 2.5 -> 5 degrees of freedom).
    dof = 5.0
    omega = rng.standard_normal((dim, n_features)) / length_scale
    omega *= np.sqrt(dof / rng.chisquare(dof, size=n_features))
    phase = rng.uniform(0, 2 * np.pi, n_features)
    w = rng.standard_normal(n_features) * np.sqrt(2.0 / n_features)
    return lambda z: np.cos(z @ omega + phase) @ w


def _active_mask(dim: int, rng: np.random.Generator) -> np.ndarray:
    n_active = max(1, int(np.ceil(dim * rng.uniform(0.3, 1.0))))
    mask = np.zeros(dim)
    mask[rng.choice(dim, n_active, replace=False)] = 1.0
    return mask


def _bowl(dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    opt = rng.uniform(0.05, 0.95, dim)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = np.exp(rng.uniform(-2.0, 1.5, dim)) * _active_mask(dim, rng)
    a = q @ np.diag(scales) @ q.T
    return lambda z: -np.einsum("ni,ij,nj->n", z - opt, a, z - opt)


def _bumps(dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    k = int(rng.integers(2, 8))
    centres = rng.uniform(0, 1, (k, dim))
    widths = rng.uniform(0.05, 0.4, k) * np.sqrt(dim)
    heights = rng.uniform(0.2, 1.0, k)
    heights[0] = 1.2

    def f(z: np.ndarray) -> np.ndarray:
        d2 = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
        return (heights * np.exp(-0.5 * d2 / widths**2)).sum(1)

    return f


def _ripples(dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    opt = rng.uniform(0.1, 0.9, dim)
    mask = _active_mask(dim, rng)
    freq = rng.uniform(2.0, 8.0)
    amp = rng.uniform(0.05, 0.3)

    def f(z: np.ndarray) -> np.ndarray:
        d = (z - opt) * mask
        return -(d**2).sum(1) + amp * np.cos(2 * np.pi * freq * d).mean(1) * mask.sum() / dim

    return f


def _plateau(dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    opt = rng.uniform(0.1, 0.9, dim)
    mask = _active_mask(dim, rng)
    width = rng.uniform(0.05, 0.3) * np.sqrt(mask.sum())
    sharp = rng.uniform(2.0, 10.0)

    def f(z: np.ndarray) -> np.ndarray:
        r = np.sqrt((((z - opt) * mask) ** 2).sum(1))
        return -np.tanh(sharp * (r - width)) - 0.1 * r

    return f


class _Landscape:
    """An objective with a *bulk*: the points where it is a plain landscape, as opposed
    to an exploding tail or a divergence region. :attr:`SyntheticTask.f_min` is the
    worst value of the bulk, so the normalised regret measures progress on the
    landscape and a point in the tail or past the cliff has regret 1."""

    def __init__(
        self,
        f: Callable[[np.ndarray], np.ndarray],
        in_bulk: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self._f = f
        self._in_bulk = in_bulk

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self._f(z)

    def in_bulk(self, z: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: which of ``(n, embed_dim)`` points are in the bulk."""
        if self._in_bulk is None:
            return np.ones(len(z), dtype=bool)
        return self._in_bulk(z)


def _table(dim: int, rng: np.random.Generator, probe: np.ndarray) -> _Landscape:
    """An accuracy on ``n_val`` validation examples: a GP-prior draw squashed into
    ``[0.5, 0.95]`` and rounded down to a multiple of ``1 / n_val``; with probability
    one half the inputs are first snapped to a grid of 3 to 8 levels per coordinate (a
    coarse lookup table). Many configurations give exactly the same value. ``probe``:
    embedded points of the space, to put the draw on a scale."""
    g = _rff(dim, rng)
    probe_values = g(probe)
    centre, scale = float(np.median(probe_values)), float(np.std(probe_values)) + 1e-12
    n_val = int(rng.choice([10, 20, 50, 100, 200]))
    levels = int(rng.integers(3, 9)) if rng.random() < 0.5 else 0

    def f(z: np.ndarray) -> np.ndarray:
        if levels:
            z = np.floor(z * levels).clip(0, levels - 1) / (levels - 1)
        acc = 0.5 + 0.45 / (1.0 + np.exp(-1.5 * (g(z) - centre) / scale))
        return np.floor(acc * n_val) / n_val

    return _Landscape(f)


#: Largest tail term of ``heavy``, in units of the bulk's spread: values stay finite.
_HEAVY_CAP = 1e4


def _heavy(dim: int, rng: np.random.Generator, probe: np.ndarray) -> _Landscape:
    """Minus a log-loss-like value: a bowl scaled to unit spread on ``probe`` (the loss
    of a well-behaved model) plus ``exp(k u)`` with ``u = (q - q0) / (q99 - q0)`` for a
    second quadratic ``q`` over a random subset of the coordinates, ``q0`` its 60-90%
    quantile on ``probe``, ``q99`` its 99% quantile and ``k`` from 4 to 9: past ``q0``
    the loss explodes (``e^4``-``e^9`` at ``q99``), as a log loss does when predictions
    grow confidently wrong. The tail term is capped at :data:`_HEAVY_CAP`. The bulk is
    ``u <= 0``."""
    bowl = _bowl(dim, rng)
    opt = rng.uniform(0.1, 0.9, dim)
    mask = _active_mask(dim, rng)

    def q(z: np.ndarray) -> np.ndarray:
        return (((z - opt) * mask) ** 2).sum(1)

    q_probe = q(probe)
    q0 = float(np.quantile(q_probe, rng.uniform(0.6, 0.9)))
    q_span = max(float(np.quantile(q_probe, 0.99)) - q0, 1e-12)
    k = float(rng.uniform(4.0, 9.0))
    base_scale = float(np.std(bowl(probe))) + 1e-12

    def f(z: np.ndarray) -> np.ndarray:
        tail = np.exp(np.minimum(k * (q(z) - q0) / q_span, np.log(_HEAVY_CAP)))
        return bowl(z) / base_scale - tail

    return _Landscape(f, lambda z: q(z) <= q0)


def _cliff(dim: int, rng: np.random.Generator, probe: np.ndarray) -> _Landscape:
    """A smooth landscape (a GP-prior draw or a bowl) that diverges past a threshold:
    where ``z_i > t`` (one coordinate) or ``z_i + z_j > t`` (two), with ``t`` leaving
    10-40% of ``probe`` on the bad side, the value is one constant far below the
    landscape (5 to 100 spreads under its worst value on ``probe``). Half the time the
    landscape's optimum along ``z_i`` is moved just inside the safe side (the best
    learning rate is the largest one that does not diverge). The bulk is the safe side."""
    smooth = _rff(dim, rng) if rng.random() < 0.5 else _bowl(dim, rng)
    axes = rng.choice(dim, size=min(dim, int(rng.integers(1, 3))), replace=False)
    load = probe[:, axes].sum(1)
    threshold = float(np.quantile(load, 1.0 - rng.uniform(0.1, 0.4)))
    values = smooth(probe)
    lo, spread = float(values.min()), float(np.std(values)) + 1e-12
    cliff_value = lo - float(rng.uniform(5.0, 100.0)) * spread
    # Moving the optimum: the landscape is read at a shifted point along the first axis.
    shift = np.zeros(dim)
    if rng.random() < 0.5:
        peak = probe[int(np.argmax(values))]
        target = threshold - 0.05 * float(load.std()) - (peak[axes].sum() - peak[axes[0]])
        shift[axes[0]] = peak[axes[0]] - float(np.clip(target, 0.0, 1.0))

    def safe(z: np.ndarray) -> np.ndarray:
        return z[:, axes].sum(1) <= threshold

    def f(z: np.ndarray) -> np.ndarray:
        return np.where(safe(z), smooth(z + shift), cliff_value)

    return _Landscape(f, safe)


def _build(
    family: str, dim: int, rng: np.random.Generator, probe: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """The objective of a family on a ``dim``-dimensional embedding; ``probe`` (embedded
    points of the space) scales the :data:`EXTRA_FAMILIES`. The five families of
    :data:`FAMILIES` neither read ``probe`` nor draw from ``rng`` for it, so their draws
    are those of every earlier version."""
    if family in _EXTRA_BUILDERS:
        return _EXTRA_BUILDERS[family](dim, rng, probe)
    return _BUILDERS[family](dim, rng)


def _bulk_low(f: Callable[[np.ndarray], np.ndarray], z: np.ndarray, values: np.ndarray) -> float:
    """:attr:`SyntheticTask.f_min` from embedded points ``z`` and their values: the
    minimum over the points of the landscape's bulk (:class:`_Landscape`), or over all
    of them when it has none there or is a plain function."""
    if isinstance(f, _Landscape):
        bulk = f.in_bulk(z)
        if bulk.any():
            return float(values[bulk].min())
    return float(values.min())


_BUILDERS = {
    "gp": _rff,
    "bowl": _bowl,
    "bumps": _bumps,
    "ripples": _ripples,
    "plateau": _plateau,
}
_EXTRA_BUILDERS = {"table": _table, "heavy": _heavy, "cliff": _cliff}


def sample_task(
    rng: np.random.Generator,
    *,
    n_params: int,
    family: str | None = None,
    noise_prob: float = 0.3,
    style_weights: tuple[float, ...] = (0.5, 0.0, 0.0, 0.5),
    families: tuple[str, ...] = FAMILIES,
) -> SyntheticTask:
    """Draw one task.

    Args:
        rng: Random stream (one per episode).
        n_params: Number of parameters.
        family: One of :data:`ALL_FAMILIES`; ``None`` draws one uniformly from
            ``families``.
        noise_prob: Probability that observations carry noise (1-10% of the range).
        style_weights: Probabilities of the :data:`SPACE_STYLES` (mixed, grid,
            categorical, float). Defaults to half mixed, half plain floats.
        families: The mix ``family=None`` draws from (a name given twice is drawn twice
            as often). Defaults to :data:`FAMILIES`, which draws exactly as before the
            extra families existed.
    """
    if family is None:
        unknown = [name for name in families if name not in ALL_FAMILIES]
        if unknown or not families:
            raise ValueError(
                f"Unknown task families {unknown}; choose among {ALL_FAMILIES}."
                if unknown
                else f"The family mix is empty; name at least one of {ALL_FAMILIES}."
            )
        family = str(rng.choice(families))
    if family not in ALL_FAMILIES:
        raise ValueError(f"Unknown task family {family!r}; choose one of {ALL_FAMILIES}.")
    w = np.asarray(style_weights, dtype=float)
    style = SPACE_STYLES[int(rng.choice(len(SPACE_STYLES), p=w / w.sum()))]
    space = sample_search_space(n_params, rng, style)
    encoder = SearchSpaceEncoder(space)
    probe = np.empty((0, encoder.embed_dim))
    if family in _EXTRA_BUILDERS:
        probe = encoder.embed(encoder.snap(rng.random((512, n_params))))
    f = _build(family, encoder.embed_dim, rng, probe)
    sobol = qmc.Sobol(d=n_params, scramble=True, seed=rng).random_base2(11)
    z = encoder.embed(encoder.snap(sobol))
    values = f(z)
    noise = float(rng.uniform(0.01, 0.1)) if rng.random() < noise_prob else 0.0
    return SyntheticTask(family, encoder, f, noise, float(values.max()), _bulk_low(f, z, values))


def _normalised(
    f: Callable[[np.ndarray], np.ndarray], z: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    values = f(z)
    lo, span = float(values.min()), max(float(values.max() - values.min()), 1e-12)
    return lambda x: (f(x) - lo) / span


def sample_sources(
    task: SyntheticTask,
    rng: np.random.Generator,
    kinds: list[str],
    *,
    n_trials: tuple[int, int] = (40, 200),
    drop_prob: float = 0.3,
    extra_prob: float = 0.3,
) -> list[SourceStudy]:
    """Past studies of tasks related to ``task`` (one per entry of ``kinds``).

    Each source is a random sweep (uniform points) of its own landscape:

    * ``related``: ``rho * f(z - shift) + (1 - rho) * g(z)`` with the task's landscape
      ``f``, an independent landscape ``g`` of the same family, both scaled to
      ``[0, 1]``, ``rho`` in ``[0.6, 1]`` and a small random shift;
    * ``unrelated``: ``g`` alone;
    * ``misleading``: ``-f`` plus a little of ``g``.

    With probability ``drop_prob`` a source lacks some of the task's parameters (it
    was run on a smaller space), and with probability ``extra_prob`` it has extra
    parameters the task does not have, so the meta-prior's matching is exercised.

    Args:
        task: The task the sources relate to.
        rng: Random stream.
        kinds: One of :data:`SOURCE_KINDS` per source.
        n_trials: Range of the number of trials per source.
        drop_prob: Probability that a source lacks some parameters.
        extra_prob: Probability that a source has extra parameters.
    """
    enc = task.encoder
    probe = enc.embed(enc.snap(rng.random((512, enc.n_params))))
    f = _normalised(task.f, probe)
    family = task.family if task.family in ALL_FAMILIES else "gp"
    out: list[SourceStudy] = []
    for i, kind in enumerate(kinds):
        if kind not in SOURCE_KINDS:
            raise ValueError(f"Unknown source kind {kind!r}; choose one of {SOURCE_KINDS}.")
        g = _normalised(_build(family, enc.embed_dim, rng, probe), probe)
        if kind == "related":
            rho = float(rng.uniform(0.6, 1.0))
            shift = rng.normal(0.0, 0.05, enc.embed_dim)

            def h(z, rho=rho, shift=shift, g=g):
                return rho * f(z - shift) + (1.0 - rho) * g(z)
        elif kind == "unrelated":
            h = g
        else:
            mix = float(rng.uniform(0.0, 0.3))

            def h(z, mix=mix, g=g):
                return -(1.0 - mix) * f(z) + mix * g(z)

        n = int(rng.integers(n_trials[0], n_trials[1] + 1))
        pts = enc.snap(rng.random((n, enc.n_params)))
        values = h(enc.embed(pts)) + 0.01 * rng.standard_normal(n)
        space = dict(enc.search_space)
        names = list(space)
        if len(names) > 1 and rng.random() < drop_prob:
            n_drop = int(rng.integers(1, max(2, len(names) // 3 + 1)))
            for name in rng.choice(names, size=min(n_drop, len(names) - 1), replace=False):
                del space[str(name)]
        extras = {}
        if rng.random() < extra_prob:
            for k in range(int(rng.integers(1, 3))):
                extras[f"extra{k}"] = FloatDistribution(0.0, 1.0)
        rows = []
        for row in pts:
            full = enc.decode(row)
            params = {k: full[k] for k in space}
            params.update({k: float(rng.random()) for k in extras})
            rows.append(params)
        out.append(
            SourceStudy(f"{kind}-{i}", {**space, **extras}, tuple(rows), values, {"kind": kind})
        )
    return out
