"""Benchmark tasks: what a sampler is asked to optimise, and where the tasks come from.

A :class:`Task` is one black-box problem: an objective, a search space, a direction and,
when known, the best and worst values used to normalise regret. The same abstraction is
meant for recommender tasks later (a model family on a dataset).

Workers run in separate processes, so the harness never pickles a :class:`Task` (its
objective may hold a C object or a closure). It pickles a :class:`TaskSpec` instead: a
name plus a picklable builder (a module-level function or a :func:`functools.partial` of
one) that makes the task for a given seed inside the worker.

Suites map a name to a function that returns task specs. Built in:

- ``bbob``: the noiseless BBOB functions from ``cocoex`` (COCO), held-out instances 11-15.
- ``toy``: two tiny analytic tasks that exercise a dict search space, a define-by-run
  search space, maximisation and unknown best/worst (used by the tests and as examples).
- ``tabular`` (and its halves ``tabular-dev``, ``tabular-test``): LightGBM tuned by
  3-fold cross-validation on six small generated tables (:mod:`benchmarks.tabular`).
- ``mixed``: four analytic problems of numeric and categorical parameters together, as
  most tuning spaces are (:func:`mixed_suite`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

Params = dict[str, Any]
SearchSpace = dict[str, BaseDistribution]
DefineByRun = Callable[[optuna.Trial], Params]

#: BBOB instances used by the benchmark. The RL policy's meta-training never uses cocoex
#: at all; these ids are still kept apart from the first ten instances on purpose.
BBOB_INSTANCES: tuple[int, ...] = (11, 12, 13, 14, 15)

#: Default subset of the 24 BBOB functions: three per BBOB group, so the full default run
#: (6 samplers, 3 dimensions, 5 seeds, 100 trials) fits in about 30-40 minutes on 2 cores.
#: Separable (1 sphere, 3 Rastrigin, 5 linear slope); low/moderate conditioning
#: (6 attractive sector, 7 step ellipsoid, 8 Rosenbrock); high conditioning (10 ellipsoid,
#: 11 discus, 13 sharp ridge); multimodal with global structure (15 Rastrigin,
#: 16 Weierstrass, 17 Schaffer F7); multimodal with weak global structure (20 Schwefel,
#: 21 Gallagher 101 peaks, 24 Lunacek bi-Rastrigin).
BBOB_DEFAULT_FUNCTIONS: tuple[int, ...] = (1, 3, 5, 6, 7, 8, 10, 11, 13, 15, 16, 17, 20, 21, 24)

#: Box of every BBOB coordinate (the region that contains the optimum).
BBOB_BOUNDS: tuple[float, float] = (-5.0, 5.0)

#: Number of scrambled Sobol points (2**14, seed 0) used to estimate a BBOB task's "worst".
WORST_SAMPLE_LOG2 = 14


@dataclass
class Task:
    """One black-box optimisation problem.

    Args:
        name: Unique, stable name (used as a key in the results).
        objective: With a ``search_space``, a function of the parameter dict; without one
            (``search_space=None``), a plain Optuna objective ``f(trial) -> float``.
        search_space: A dict ``name -> distribution`` (every trial suggests all of them),
            or a define-by-run function ``space(trial) -> params``, or ``None`` when the
            objective suggests its own parameters.
        direction: ``"minimize"`` or ``"maximize"``.
        best: The best achievable value, if known (the optimum). Otherwise the harness
            uses the best value observed over all samplers and seeds on this task.
        worst: A value regarded as "no progress" (normalised regret 1), if known. Otherwise
            the harness uses the worst value observed over all samplers and seeds.
        instance: Key of the problem instance; regret is normalised per
            ``(name, instance)``. BBOB draws a different instance per seed; a recommender
            task whose objective does not depend on the seed leaves it empty.
        meta: Free-form metadata (e.g. ``{"dimension": 5, "function": 8}``); the report
            groups results by one of its keys.
    """

    name: str
    objective: Callable[..., float]
    search_space: SearchSpace | DefineByRun | None
    direction: str = "minimize"
    best: float | None = None
    worst: float | None = None
    instance: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.direction not in ("minimize", "maximize"):
            raise ValueError(
                f"Task {self.name!r}: direction must be 'minimize' or 'maximize', "
                f"got {self.direction!r}."
            )

    def optuna_objective(self) -> Callable[[optuna.Trial], float]:
        """The task as an Optuna objective ``f(trial) -> float``."""
        space = self.search_space
        if space is None:
            return self.objective
        if isinstance(space, dict):
            dict_space: SearchSpace = space

            def objective(trial: optuna.Trial) -> float:
                return float(self.objective(suggest_all(trial, dict_space)))

            return objective

        define_by_run: DefineByRun = space

        def objective_dbr(trial: optuna.Trial) -> float:
            return float(self.objective(define_by_run(trial)))

        return objective_dbr


@dataclass(frozen=True)
class TaskSpec:
    """A picklable recipe for a :class:`Task`: ``builder(seed)`` makes it in a worker.

    Args:
        name: The name of the task that the builder returns.
        builder: A picklable callable ``builder(seed) -> Task`` (a module-level function,
            or a :func:`functools.partial` of one).
        meta: Metadata known before building (copied into the results).
    """

    name: str
    builder: Callable[[int], Task]
    meta: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int) -> Task:
        """Make the task for ``seed``."""
        task = self.builder(seed)
        if task.name != self.name:
            raise ValueError(f"TaskSpec {self.name!r} built a task named {task.name!r}.")
        return task


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Suggest one parameter from an Optuna distribution through the public Trial API."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"Unsupported distribution for parameter {name!r}: {dist!r}.")


def suggest_all(trial: optuna.Trial, space: SearchSpace) -> Params:
    """Suggest every parameter of a dict search space, in its order."""
    return {name: suggest(trial, name, dist) for name, dist in space.items()}


# --------------------------------------------------------------------------------------
# BBOB (cocoex)
# --------------------------------------------------------------------------------------


def bbob_instance_for_seed(seed: int) -> int:
    """The BBOB instance that seed ``seed`` runs on: 11 + seed mod 5 (instances 11-15)."""
    return BBOB_INSTANCES[seed % len(BBOB_INSTANCES)]


def bbob_task_name(function: int, dimension: int) -> str:
    """Name of the BBOB task for one function and dimension, e.g. ``bbob_f08_d05``."""
    return f"bbob_f{function:02d}_d{dimension:02d}"


class BBOBObjective:
    """A cocoex BBOB problem as a function of the params ``x0 .. x{d-1}``.

    Keeps a reference to its suite so that cocoex does not free the problem.
    """

    def __init__(self, function: int, dimension: int, instance: int) -> None:
        import cocoex

        self.function = function
        self.dimension = dimension
        self.instance = instance
        self._suite = cocoex.Suite(
            "bbob",
            f"instances: {instance}",
            f"function_indices: {function} dimensions: {dimension}",
        )
        self.problem = self._suite.get_problem_by_function_dimension_instance(
            function, dimension, instance
        )
        self.names = [f"x{i}" for i in range(dimension)]

    def evaluate(self, x: np.ndarray) -> float:
        """f at one point ``x`` (shape ``(dimension,)``)."""
        return float(self.problem(np.asarray(x, dtype=float)))

    def __call__(self, params: Params) -> float:
        return self.evaluate(np.array([params[n] for n in self.names], dtype=float))


@contextlib.contextmanager
def _in_temporary_directory() -> Iterator[str]:
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="bbob-xopt-") as tmp:
        os.chdir(tmp)
        try:
            yield tmp
        finally:
            os.chdir(cwd)


@functools.lru_cache(maxsize=1024)
def bbob_optimum(function: int, dimension: int, instance: int) -> float:
    """f_opt of a BBOB problem: f evaluated at the optimum x_opt.

    cocoex 2.8 exposes no ``final_target_fvalue1`` (checked on 2.8.2), so x_opt is read
    from ``problem._best_parameter("print")``, which writes it to a file in the current
    directory; this runs in a private temporary directory so concurrent processes do
    not collide. The value equals BBOB's f_opt (rounded to two decimals by design).
    """
    objective = BBOBObjective(function, dimension, instance)
    with _in_temporary_directory():
        objective.problem._best_parameter("print")
        xopt = np.atleast_1d(np.loadtxt("._bbob_problem_best_parameter.txt"))
    return objective.evaluate(xopt)


@functools.lru_cache(maxsize=1024)
def bbob_worst(function: int, dimension: int, instance: int, quantile: float = 0.99) -> float:
    """The "worst" used to normalise regret on a BBOB problem.

    The ``quantile`` (default 0.99) of f over 2**14 scrambled Sobol points (seed 0) in the
    box [-5, 5]^d. A quantile rather than the max keeps one extreme corner from making
    every sampler look perfect; values worse than it clip to normalised regret 1.
    """
    from scipy.stats import qmc

    objective = BBOBObjective(function, dimension, instance)
    low, high = BBOB_BOUNDS
    points = qmc.Sobol(dimension, scramble=True, seed=0).random_base2(WORST_SAMPLE_LOG2)
    points = low + (high - low) * points
    values = np.array([objective.evaluate(x) for x in points])
    return float(np.quantile(values, quantile))


def bbob_task(seed: int, *, function: int, dimension: int, worst_quantile: float = 0.99) -> Task:
    """The BBOB task ``(function, dimension)`` on the instance for ``seed``.

    Search space: ``x0 .. x{d-1}``, each ``FloatDistribution(-5, 5)``. Minimise.
    ``best`` is f_opt (:func:`bbob_optimum`), ``worst`` a high quantile of f over a Sobol
    sample (:func:`bbob_worst`).
    """
    instance = bbob_instance_for_seed(seed)
    objective = BBOBObjective(function, dimension, instance)
    low, high = BBOB_BOUNDS
    space: SearchSpace = {n: FloatDistribution(low, high) for n in objective.names}
    return Task(
        name=bbob_task_name(function, dimension),
        objective=objective,
        search_space=space,
        direction="minimize",
        best=bbob_optimum(function, dimension, instance),
        worst=bbob_worst(function, dimension, instance, worst_quantile),
        instance=f"i{instance:02d}",
        meta={
            "suite": "bbob",
            "function": function,
            "dimension": dimension,
            "bbob_instance": instance,
            "problem_id": objective.problem.id,
        },
    )


def bbob_suite(
    functions: Sequence[int] | None = None,
    dims: Sequence[int] | None = None,
    worst_quantile: float = 0.99,
    **_options: Any,
) -> list[TaskSpec]:
    """Task specs for BBOB ``functions`` (default: the subset) in ``dims`` (2, 5, 10)."""
    functions = BBOB_DEFAULT_FUNCTIONS if functions is None else functions
    dims = (2, 5, 10) if dims is None else dims
    for f in functions:
        if not 1 <= f <= 24:
            raise ValueError(f"BBOB function ids are 1-24, got {f}.")
    for d in dims:
        if d not in (2, 3, 5, 10, 20, 40):
            raise ValueError(f"BBOB dimensions are 2, 3, 5, 10, 20, 40; got {d}.")
    return [
        TaskSpec(
            name=bbob_task_name(f, d),
            builder=functools.partial(
                bbob_task, function=f, dimension=d, worst_quantile=worst_quantile
            ),
            meta={"suite": "bbob", "function": f, "dimension": d},
        )
        for d in dims
        for f in functions
    ]


# --------------------------------------------------------------------------------------
# Toy tasks (tests and examples)
# --------------------------------------------------------------------------------------


def _shifted_sphere(params: Params) -> float:
    return (params["x"] - 1.0) ** 2 + (params["y"] + 2.0) ** 2


def toy_sphere_task(seed: int) -> Task:
    """Shifted 2-D sphere on [-5, 5]^2 (dict space). Best 0 is known; worst is not."""
    del seed
    space: SearchSpace = {"x": FloatDistribution(-5, 5), "y": FloatDistribution(-5, 5)}
    return Task(
        name="toy_sphere",
        objective=_shifted_sphere,
        search_space=space,
        direction="minimize",
        best=0.0,
        meta={"suite": "toy", "dimension": 2},
    )


def _mixed_space(trial: optuna.Trial) -> Params:
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    n = trial.suggest_int("n", 1, 64, log=True)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    return {"kind": kind, "n": n, "lr": lr}


def _mixed_score(params: Params) -> float:
    bonus = {"a": 0.0, "b": 0.3, "c": 0.1}[params["kind"]]
    lr_term = (math.log10(params["lr"]) + 2.0) ** 2 / 8.0
    n_term = (math.log2(params["n"]) - 4.0) ** 2 / 36.0
    return bonus - lr_term - n_term


def toy_mixed_task(seed: int) -> Task:
    """A small mixed space (categorical, log-int, log-float), define-by-run, maximised.

    Best and worst are left unknown, so the harness normalises with observed values, as it
    will for recommender tasks.
    """
    del seed
    return Task(
        name="toy_mixed",
        objective=_mixed_score,
        search_space=_mixed_space,
        direction="maximize",
        meta={"suite": "toy", "dimension": 3},
    )


def toy_suite(**_options: Any) -> list[TaskSpec]:
    """The toy tasks (suite options such as ``dims`` do not apply and are ignored)."""
    return [
        TaskSpec("toy_sphere", toy_sphere_task, {"suite": "toy", "dimension": 2}),
        TaskSpec("toy_mixed", toy_mixed_task, {"suite": "toy", "dimension": 3}),
    ]


def _additive_choice(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    n = trial.suggest_int("n", 1, 8)
    choice = trial.suggest_categorical("c", ["a", "b", "c"])
    return (x - 1.0) ** 2 + (y + 2.0) ** 2 + 0.1 * (n - 3) ** 2 + float(choice != "b")


def _choice_moves_the_bowl(trial: optuna.Trial) -> float:
    choice = trial.suggest_categorical("c", ["a", "b", "c"])
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    centre = {"a": 1.0, "b": -2.0, "c": 3.0}[choice]
    offset = {"a": 0.5, "b": 0.0, "c": 0.8}[choice]
    return (x - centre) ** 2 + (y - 0.5) ** 2 + offset


_OPTIMIZER_COST = (0.6, 0.3, 0.9, 0.0, 0.45, 0.7, 0.2, 0.8)


def _eight_optimizers(trial: optuna.Trial) -> float:
    name = trial.suggest_categorical("optimizer", [f"opt{i}" for i in range(8)])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    depth = trial.suggest_int("depth", 1, 10)
    u = trial.suggest_float("u", 0.0, 1.0)
    cost = _OPTIMIZER_COST[int(name[3:])]
    return 0.5 * (math.log10(lr) + 3.0) ** 2 + 0.05 * (depth - 6) ** 2 + 4 * (u - 0.3) ** 2 + cost


def _two_choices_four_numbers(trial: optuna.Trial) -> float:
    scaled = trial.suggest_categorical("scaled", [True, False])
    kind = trial.suggest_categorical("kind", ["p", "q", "r", "s"])
    xs = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)]
    bowl = sum((x - 0.2 * (i + 1)) ** 2 for i, x in enumerate(xs))
    return bowl * (1.5 if scaled else 1.0) + {"p": 0.3, "q": 0.1, "r": 0.0, "s": 0.2}[kind]


#: The ``mixed`` suite's problems: name -> (objective, number of parameters).
MIXED_PROBLEMS: dict[str, tuple[Callable[[optuna.Trial], float], int]] = {
    "mixed_additive": (_additive_choice, 4),
    "mixed_choice_moves_bowl": (_choice_moves_the_bowl, 3),
    "mixed_eight_choices": (_eight_optimizers, 4),
    "mixed_two_choices": (_two_choices_four_numbers, 6),
}


def mixed_task(seed: int, *, name: str) -> Task:
    """One of :data:`MIXED_PROBLEMS` (minimised, best 0, worst observed; the seed only
    seeds the sampler)."""
    del seed
    objective, dimension = MIXED_PROBLEMS[name]
    return Task(
        name=name,
        objective=objective,
        search_space=None,
        best=0.0,
        meta={"suite": "mixed", "dimension": dimension, "problem": name},
    )


def mixed_suite(**_options: Any) -> list[TaskSpec]:
    """Numeric and categorical parameters together, every optimum 0:

    - ``mixed_additive``: a bowl in two floats and an int, and a choice of three that
      adds 0 or 1 everywhere (the bowl's values reach 50);
    - ``mixed_choice_moves_bowl``: each of three choices has its own bowl, centred
      elsewhere, and its own offset (the choice changes the function);
    - ``mixed_eight_choices``: a choice of eight optimisers, each adding its own cost to a
      bowl in a log-float, an int and a float;
    - ``mixed_two_choices``: a yes/no choice that scales a bowl in four floats and a
      choice of four that adds a cost.

    Suite options such as ``dims`` do not apply and are ignored.
    """
    return [
        TaskSpec(
            name,
            functools.partial(mixed_task, name=name),
            {"suite": "mixed", "dimension": d, "problem": name},
        )
        for name, (_, d) in MIXED_PROBLEMS.items()
    ]


def tabular_suite(split: str = "all", **options: Any) -> list[TaskSpec]:
    """The LightGBM tuning tasks of ``split`` (``"dev"``, ``"test"`` or ``"all"``); see
    :func:`benchmarks.tabular.tabular_suite`. Imported on call, because
    :mod:`benchmarks.tabular` imports :class:`Task` from this module."""
    from benchmarks import tabular

    return tabular.tabular_suite(split, **options)


#: Suite name -> ``builder(**options) -> list[TaskSpec]``. The CLI passes ``functions``,
#: ``dims`` and ``worst_quantile``; a builder ignores options that do not apply to it.
#: ``tabular-dev`` and ``tabular-test`` are the two halves of ``tabular``
#: (:data:`benchmarks.tabular.SPLITS`): one tunes a sampler on dev and runs test once.
SUITES: dict[str, Callable[..., list[TaskSpec]]] = {
    "bbob": bbob_suite,
    "toy": toy_suite,
    "mixed": mixed_suite,
    "tabular": tabular_suite,
    "tabular-dev": functools.partial(tabular_suite, "dev"),
    "tabular-test": functools.partial(tabular_suite, "test"),
}


def parse_int_list(text: str) -> list[int]:
    """Parse ``"1-5,8,10-12"`` into ``[1, 2, 3, 4, 5, 8, 10, 11, 12]``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out
