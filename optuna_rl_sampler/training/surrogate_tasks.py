"""Past studies turned into cheap simulators: surrogate tasks.

A :class:`~optuna_rl_sampler.sources.SourceStudy` holds a few hundred real evaluations
of one tuning task. Fitting a Gaussian process to them (the same Matern-5/2 model as
:mod:`optuna_rl_sampler.surrogate`, on the values standardised by their mean and
standard deviation) gives a smooth function over the study's search space that can be
evaluated thousands of times: a meta-training episode or a benchmark run on it costs
milliseconds instead of hours of model training. This is the standard way transfer-HPO
benchmarks are built (surrogate benchmarks, e.g. HPO-B and YAHPO Gym).

The task's value range (for normalised regret) spans every known evaluation: the
study's own values and the surrogate over a dense Sobol sample of the space.
"""

from __future__ import annotations

import numpy as np

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.surrogate import fit_gp
from optuna_rl_sampler.training.tasks import SyntheticTask

__all__ = ["surrogate_task"]

_MAX_POINTS = 300


def surrogate_task(source: SourceStudy, *, seed: int = 0, noise: float = 0.0) -> SyntheticTask:
    """Fit a GP surrogate to ``source`` and wrap it as a task (higher is better).

    Args:
        source: A past study with at least 5 configurations.
        seed: Seed of the subsample (at most 300 configurations are used) and of the
            Sobol sample that sets the value range.
        noise: Observation noise of the task, as a share of its value range.

    Returns:
        A task whose ``family`` is ``"surrogate:<source name>"`` and whose encoder is
        the source's own search space.

    Raises:
        ValueError: the source has fewer than 5 usable configurations.
    """
    from scipy.stats import qmc

    encoder = SearchSpaceEncoder(source.distributions)
    points, ok = encoder.encode_many(list(source.params))
    values = source.values[ok]
    points = points[ok]
    if len(values) < 5:
        raise ValueError(
            f"Source study {source.name!r} has {len(values)} configurations that fit its "
            "own search space; a surrogate needs at least 5."
        )
    rng = np.random.default_rng(seed)
    if len(values) > _MAX_POINTS:
        keep = np.sort(rng.choice(len(values), _MAX_POINTS, replace=False))
        points, values = points[keep], values[keep]
    centre = float(values.mean())
    spread = float(values.std()) or 1.0
    gp = fit_gp(encoder.embed(points), (values - centre) / spread)

    def f(z: np.ndarray) -> np.ndarray:
        mean, _ = gp.predict(np.asarray(z, dtype=float))
        return centre + spread * mean

    sobol = qmc.Sobol(d=encoder.n_params, scramble=True, seed=rng).random_base2(11)
    dense = f(encoder.embed(encoder.snap(sobol)))
    f_max = float(max(dense.max(), source.values.max()))
    f_min = float(min(dense.min(), source.values.min()))
    return SyntheticTask(f"surrogate:{source.name}", encoder, f, noise, f_max, f_min)
