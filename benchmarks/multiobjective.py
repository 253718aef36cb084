"""Multi-objective and constrained benchmark (``python -m benchmarks run --suite multiobjective``).

RLSampler against NSGA-II, TPE, GP and random search on bi-objective problems, on a
constrained bi-objective and a constrained single-objective problem, and on recommender
accuracy-vs-coverage tasks; hypervolume after 25, 50 and 100 trials, the same seeds for
every sampler, in one run.

Problems (all minimised unless stated; ``d`` = number of parameters):

- ``zdt1``, ``zdt2``, ``zdt3``: Zitzler-Deb-Thiele, d = 5, ``x_i`` in [0, 1].
- ``biobj_f01``, ``biobj_f10``: COCO's ``bbob-biobj`` functions 1 (sphere/sphere) and
  10 (sphere/Gallagher 101 peaks) in 5-D, ``x_i`` in [-5, 5]; seed ``s`` runs on
  instance ``1 + s mod 5``; ideal point = the two single-objective optima, nadir = COCO's
  ``largest_fvalues_of_interest``.
- ``c2dtlz2``: C2-DTLZ2 (Jain and Deb, 2014) with 2 objectives, d = 5 and radius
  ``r = 0.2`` (with two objectives the usual ``r = 0.5`` leaves the whole front feasible):
  the feasible front is three disjoint arcs of the unit circle. Run with
  ``constraints_func``.
- ``gramacy``: min ``x1 + x2`` on [0, 1]^2 subject to two nonlinear constraints
  (Gramacy et al., 2016), one objective; constrained optimum 0.5998. Run with
  ``constraints_func``; reported as best feasible normalised regret.
- ``recsys_*``: accuracy vs coverage of a recommender, both maximised: NDCG@10 and
  coverage@10 of one corpus study (``corpus/recsys-corpus-v1.parquet``), each a GP
  surrogate (:func:`optuna_rl_sampler.training.surrogate_tasks.surrogate_task`) fitted to
  that study's evaluations on its own search space.

Hypervolume: every objective is turned into a loss and scaled so that 0 is the ideal
point and 1 the reference point, ``z_k = (f_k - ideal_k) / (ref_k - ideal_k)``; the
hypervolume of the feasible trials so far is then the share of the box [0, 1]^2 they
dominate (1 would be a point at the ideal). The reference point is fixed per problem
and computed from the problem alone: per objective the worse of (a) the nadir of the
known Pareto front plus 10% of the ideal-nadir range and (b) the objective's median over
4,096 scrambled Sobol points of the search space (seed 0). (a) is the usual choice
when many evaluations are spent; at 25-100 trials in 5-D it leaves random search and
NSGA-II's first generation at zero on ZDT (no point within 1.1 x the nadir), so (b)
makes a point count once it beats a typical random configuration. A single-objective
problem reports ``1 - HV`` = the best feasible normalised regret ``z`` clipped to [0, 1].

Runs are resumable: every finished study is appended as a JSON line to
``<out>/runs.jsonl`` (git-ignored); a later invocation skips the runs stored there with
the same key (``problem|seed|sampler|n_trials``) and fingerprint (problem definitions,
shipped weights, package and Optuna versions, corpus). ``results.json.gz`` holds every
run; ``summary.md`` and ``hv_curves.png`` are drawn from it.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import math
import time
import traceback
from collections import Counter
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import FloatDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from scipy.stats import rankdata

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import append_jsonl
from benchmarks.harness import captured_messages
from benchmarks.harness import environment
from benchmarks.harness import read_jsonl
from benchmarks.harness import results_file
from benchmarks.harness import run_pool
from benchmarks.harness import seeds_from_arg
from benchmarks.harness import write_json
from benchmarks.metrics import mean_se
from benchmarks.tables import table as _table
from benchmarks.tasks import parse_int_list
from benchmarks.tasks import suggest_all
from optuna_rl_sampler import sampler_registry

SCHEMA_VERSION = 1
#: Bumped whenever a problem's definition, normalisation or reference point changes, so
#: stored runs of the old definitions are re-run instead of resumed.
PROBLEMS_VERSION = 1

SAMPLERS: tuple[str, ...] = ("rl", "nsga2", "tpe", "gp", "random")
CHECKPOINTS: tuple[int, ...] = (25, 50, 100)
DEFAULT_OUT = RESULTS_DIR / "multiobjective"
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "recsys-corpus-v1.parquet"
#: Corpus studies turned into accuracy-vs-coverage tasks: LightGBM LambdaRank on two real
#: datasets where NDCG@10 and coverage@10 trade off (Spearman -0.28 and -0.36 over the
#: corpus's 150 configurations), and the two-tower model on MIND (7 Pareto-optimal
#: configurations of 150).
RECSYS_STUDIES: tuple[str, ...] = (
    "lightgbm-ranker/ml_latest_small",
    "lightgbm-ranker/lastfm_2k",
    "two-tower/mind_sample",
)
BIOBJ_FUNCTIONS: tuple[int, ...] = (1, 10)
ZDT_DIM = 5
DTLZ_DIM = 5
C2DTLZ2_RADIUS = 0.2
#: Reference point rule: the nadir plus this share of the ideal-nadir range ...
NADIR_MARGIN = 0.1
#: ... or, when worse, this quantile of the objective over a Sobol sample.
REFERENCE_QUANTILE = 0.5
REFERENCE_SAMPLE_LOG2 = 12
#: The constrained optimum of Gramacy et al.'s toy problem (f at x = (0.1954, 0.4044)).
GRAMACY_OPTIMUM = 0.5997935
CONSTRAINTS_ATTR = "constraints"
#: The reference point rule, as recorded in the results and shown in ``summary.md``.
REFERENCE_RULE = (
    f"per objective the worse of nadir + {NADIR_MARGIN:g} x (nadir - ideal) and "
    f"the objective's {REFERENCE_QUANTILE:g} quantile (median) over "
    f"{2**REFERENCE_SAMPLE_LOG2:,} scrambled Sobol configurations of the search "
    "space (seed 0)"
)


# --------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------

Values = list[float]


@dataclass
class Problem:
    """One benchmark problem.

    Args:
        name: Unique name (a key of the results).
        space: Parameter name -> distribution; every trial suggests all of them.
        evaluate: ``params -> (values, constraints)``; ``constraints`` is ``None`` for an
            unconstrained problem, else a list whose entries are feasible when ``<= 0``.
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        ideal: Best value per objective (raw units).
        reference: Reference point per objective (raw units): a value this bad or worse
            adds nothing to the hypervolume (normalised regret 1).
        nadir: Worst value per objective over the known Pareto front (``None`` for a
            single objective).
        front_hv: Hypervolume of the known Pareto front in the normalised box, if known.
        instance: Instance key (``bbob-biobj`` varies it with the seed).
        meta: Facts recorded with the runs (``group``, ``dimension``, ...).
    """

    name: str
    space: dict[str, BaseDistribution]
    evaluate: Callable[[dict[str, Any]], tuple[Values, Values | None]]
    directions: tuple[str, ...]
    ideal: tuple[float, ...]
    reference: tuple[float, ...]
    nadir: tuple[float, ...] | None = None
    front_hv: float | None = None
    instance: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def constrained(self) -> bool:
        """Whether the problem has constraints (``meta["constrained"]``)."""
        return bool(self.meta.get("constrained"))

    def info(self) -> dict[str, Any]:
        """What the results record about the problem (JSON-ready)."""
        return {
            "directions": list(self.directions),
            "ideal": list(self.ideal),
            "nadir": None if self.nadir is None else list(self.nadir),
            "reference": list(self.reference),
            "front_hv": self.front_hv,
            "n_params": len(self.space),
            **self.meta,
        }


def _unit_space(dim: int, low: float = 0.0, high: float = 1.0) -> dict[str, BaseDistribution]:
    return {f"x{i}": FloatDistribution(low, high) for i in range(dim)}


def _vector(params: dict[str, Any], dim: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(dim)], dtype=float)


def zdt(x: np.ndarray, which: int) -> Values:
    """ZDT1, ZDT2 or ZDT3 (``which``) at ``x`` in [0, 1]^d; both objectives minimised."""
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)
    ratio = f1 / g
    if which == 1:
        h = 1.0 - math.sqrt(ratio)
    elif which == 2:
        h = 1.0 - ratio**2
    elif which == 3:
        h = 1.0 - math.sqrt(ratio) - ratio * math.sin(10.0 * math.pi * f1)
    else:
        raise ValueError(f"ZDT{which} is not one of ZDT1-3.")
    return [f1, g * h]


def zdt_front(which: int, n: int = 20_001) -> np.ndarray:
    """The Pareto front of ZDT``which`` (g = 1), as ``(m, 2)`` nondominated points of a
    dense grid over f1 in [0, 1] (ZDT3's front is five disjoint pieces)."""
    f1 = np.linspace(0.0, 1.0, n)
    pts = np.array([zdt(np.array([a, 0.0]), which) for a in f1])
    return pareto_front(pts)


def dtlz2(x: np.ndarray) -> Values:
    """DTLZ2 with two objectives at ``x`` in [0, 1]^d (minimised; front: unit circle)."""
    g = float(np.sum((x[1:] - 0.5) ** 2))
    angle = 0.5 * math.pi * float(x[0])
    return [(1.0 + g) * math.cos(angle), (1.0 + g) * math.sin(angle)]


def c2dtlz2_constraint(f: Sequence[float], radius: float = C2DTLZ2_RADIUS) -> float:
    """C2-DTLZ2's constraint (<= 0 feasible): within ``radius`` of a corner ``e_i`` of
    the front or of its centre ``(1, ..., 1) / sqrt(M)``."""
    f = np.asarray(f, dtype=float)
    m = len(f)
    corners = [(f[i] - 1.0) ** 2 + np.sum(np.delete(f, i) ** 2) - radius**2 for i in range(m)]
    centre = np.sum((f - 1.0 / math.sqrt(m)) ** 2) - radius**2
    return float(min(min(corners), centre))


def c2dtlz2_front(n: int = 20_001, radius: float = C2DTLZ2_RADIUS) -> np.ndarray:
    """The feasible Pareto front of 2-objective C2-DTLZ2: the feasible arcs of the
    unit circle."""
    angle = np.linspace(0.0, 0.5 * math.pi, n)
    pts = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    ok = np.array([c2dtlz2_constraint(p, radius) <= 0 for p in pts])
    return pts[ok]


def gramacy(x: np.ndarray) -> tuple[float, Values]:
    """Gramacy et al. (2016)'s toy problem: ``x1 + x2`` and its two constraints."""
    x1, x2 = float(x[0]), float(x[1])
    c1 = 1.5 - x1 - 2.0 * x2 - 0.5 * math.sin(2.0 * math.pi * (x1**2 - 2.0 * x2))
    c2 = x1**2 + x2**2 - 1.5
    return x1 + x2, [c1, c2]


class _Zdt:
    def __init__(self, which: int, dim: int) -> None:
        self.which, self.dim = which, dim

    def __call__(self, params: dict[str, Any]) -> tuple[Values, None]:
        return zdt(_vector(params, self.dim), self.which), None


class _C2Dtlz2:
    def __init__(self, dim: int) -> None:
        self.dim = dim

    def __call__(self, params: dict[str, Any]) -> tuple[Values, Values]:
        f = dtlz2(_vector(params, self.dim))
        return f, [c2dtlz2_constraint(f)]


def _gramacy_objective(params: dict[str, Any]) -> tuple[Values, Values]:
    value, constraints = gramacy(_vector(params, 2))
    return [value], constraints


def sobol_params(space: dict[str, BaseDistribution], log2: int = REFERENCE_SAMPLE_LOG2) -> list:
    """``2**log2`` scrambled Sobol configurations (seed 0) of a space of floats."""
    from scipy.stats import qmc

    names = list(space)
    u = qmc.Sobol(len(names), scramble=True, seed=0).random_base2(log2)
    out = []
    for row in u:
        params = {}
        for name, value in zip(names, row, strict=True):
            dist = space[name]
            assert isinstance(dist, FloatDistribution) and not dist.log
            params[name] = dist.low + (dist.high - dist.low) * float(value)
        out.append(params)
    return out


def reference_point(
    directions: Sequence[str],
    ideal: Sequence[float],
    nadir: Sequence[float] | None,
    sample: np.ndarray,
) -> tuple[float, ...]:
    """The reference point (see the module docstring): per objective the worse of
    ``nadir + 10% x (nadir - ideal)`` and the median of ``sample[:, k]``."""
    ref = []
    for k, direction in enumerate(directions):
        sign = 1.0 if direction == "minimize" else -1.0
        median = float(np.quantile(sample[:, k], REFERENCE_QUANTILE))
        candidates = [sign * median]
        if nadir is not None:
            candidates.append(sign * (nadir[k] + NADIR_MARGIN * (nadir[k] - ideal[k])))
        ref.append(float(sign * max(candidates)))
    return tuple(ref)


def _clean(v: Sequence[float]) -> tuple[float, ...]:
    """Floats, with round-off such as cos(pi / 2) = 6e-17 set to 0."""
    return tuple(0.0 if abs(float(x)) < 1e-12 else float(x) for x in v)


def _finish(
    name: str,
    space: dict[str, BaseDistribution],
    evaluate: Callable[[dict[str, Any]], tuple[Values, Values | None]],
    directions: tuple[str, ...],
    ideal: Sequence[float],
    nadir: Sequence[float] | None,
    front: np.ndarray | None,
    meta: dict[str, Any],
    instance: str = "",
    sample: np.ndarray | None = None,
) -> Problem:
    """A :class:`Problem` with its reference point and front hypervolume computed."""
    if sample is None:
        sample = np.array([evaluate(p)[0] for p in sobol_params(space)], dtype=float)
    ref = reference_point(directions, ideal, nadir, sample)
    problem = Problem(
        name=name,
        space=space,
        evaluate=evaluate,
        directions=directions,
        ideal=_clean(ideal),
        reference=ref,
        nadir=None if nadir is None else _clean(nadir),
        instance=instance,
        meta=meta,
    )
    if front is not None:
        problem.front_hv = hypervolume(normalise(front, problem))
    return problem


@functools.cache
def zdt_problem(which: int, dim: int = ZDT_DIM) -> Problem:
    """ZDT``which`` in ``dim`` dimensions."""
    front = zdt_front(which)
    ideal, nadir = front.min(axis=0), front.max(axis=0)
    return _finish(
        f"zdt{which}",
        _unit_space(dim),
        _Zdt(which, dim),
        ("minimize", "minimize"),
        ideal,
        nadir,
        front,
        {"group": "standard", "dimension": dim, "constrained": False, "front_source": "exact"},
    )


@functools.cache
def c2dtlz2_problem(dim: int = DTLZ_DIM) -> Problem:
    """Two-objective C2-DTLZ2 (radius 0.2) in ``dim`` dimensions, constrained."""
    front = c2dtlz2_front()
    return _finish(
        "c2dtlz2",
        _unit_space(dim),
        _C2Dtlz2(dim),
        ("minimize", "minimize"),
        front.min(axis=0),
        front.max(axis=0),
        front,
        {
            "group": "constrained",
            "dimension": dim,
            "constrained": True,
            "radius": C2DTLZ2_RADIUS,
            "front_source": "exact",
        },
    )


@functools.cache
def gramacy_problem() -> Problem:
    """Gramacy et al.'s constrained toy problem (one objective, two constraints)."""
    return _finish(
        "gramacy",
        _unit_space(2),
        _gramacy_objective,
        ("minimize",),
        (GRAMACY_OPTIMUM,),
        None,
        None,
        {"group": "constrained", "dimension": 2, "constrained": True},
    )


class BiobjObjective:
    """A ``bbob-biobj`` problem as a function of the params ``x0 .. x{d-1}`` (keeps its
    cocoex suite alive)."""

    def __init__(self, function: int, dimension: int, instance: int) -> None:
        import cocoex

        self.function, self.dimension, self.instance = function, dimension, instance
        self._suite = cocoex.Suite(
            "bbob-biobj",
            f"instances: {instance}",
            f"function_indices: {function} dimensions: {dimension}",
        )
        self.problem = self._suite.get_problem_by_function_dimension_instance(
            function, dimension, instance
        )

    def components(self) -> list[tuple[int, int]]:
        """(bbob function, bbob instance) of each objective, from the problem's name
        (e.g. ``bbob_f001_i02_d05__bbob_f021_i04_d05``)."""
        out = []
        for part in self.problem.name.split("__"):
            fields = dict((p[0], p[1:]) for p in part.split("_")[1:])
            out.append((int(fields["f"]), int(fields["i"])))
        return out

    def __call__(self, params: dict[str, Any]) -> tuple[Values, None]:
        x = _vector(params, self.dimension)
        return [float(v) for v in self.problem(x)], None


def biobj_instance_for_seed(seed: int) -> int:
    """The ``bbob-biobj`` instance of seed ``seed``: ``1 + seed mod 5``."""
    return 1 + seed % 5


@functools.cache
def biobj_problem(function: int, instance: int, dim: int = 5) -> Problem:
    """``bbob-biobj`` function ``function`` on ``instance`` in ``dim`` dimensions."""
    from benchmarks.tasks import bbob_optimum

    objective = BiobjObjective(function, dim, instance)
    ideal = [bbob_optimum(f, dim, i) for f, i in objective.components()]
    nadir = [float(v) for v in objective.problem.largest_fvalues_of_interest]
    return _finish(
        f"biobj_f{function:02d}",
        _unit_space(dim, -5.0, 5.0),
        objective,
        ("minimize", "minimize"),
        ideal,
        nadir,
        None,
        {
            "group": "standard",
            "dimension": dim,
            "constrained": False,
            "coco_id": objective.problem.id,
            "coco_name": objective.problem.name,
        },
        instance=f"i{instance:02d}",
    )


# -- recommender accuracy vs coverage ---------------------------------------------------


def recsys_problem_name(study: str) -> str:
    """Problem name of a corpus study, e.g. ``recsys_lightgbm-ranker_ml_latest_small``."""
    return "recsys_" + study.replace("/", "_")


class RecsysObjective:
    """NDCG@10 and coverage@10 of one configuration: two GP surrogates of one corpus
    study on its own search space (both maximised)."""

    def __init__(self, ndcg: Any, coverage: Any, space: dict[str, BaseDistribution]) -> None:
        self.ndcg, self.coverage, self.space = ndcg, coverage, dict(space)

    def embed(self, params: dict[str, Any]) -> np.ndarray:
        enc = self.ndcg.encoder
        return enc.embed(enc.snap(enc.encode(params)[None, :]))

    def values_at(self, z: np.ndarray) -> np.ndarray:
        """``(n, 2)`` surrogate values at embedded points."""
        return np.stack([self.ndcg.f(z), self.coverage.f(z)], axis=1)

    def __call__(self, params: dict[str, Any]) -> tuple[Values, None]:
        v = self.values_at(self.embed(params))[0]
        return [float(v[0]), float(v[1])], None


def corpus_sources(corpus: str, study: str) -> tuple[Any, Any]:
    """The corpus study as two sources: NDCG@10 (the study's value) and coverage@10
    (the trials' user attribute), on the same configurations."""
    from optuna_rl_sampler.corpus import read_parquet
    from optuna_rl_sampler.corpus import to_sources

    table = read_parquet(corpus)
    rows = table[table["study"] == study]
    if rows.empty:
        raise ValueError(f"corpus {corpus!r} has no study {study!r}.")

    def coverage(attrs: Any) -> Any:
        value = json.loads(attrs or "{}").get("coverage@10")
        return None if value is None else json.dumps([float(value)])

    (ndcg,) = to_sources(rows)
    cov_rows = rows.copy()
    cov_rows["values"] = cov_rows["trial_attrs"].map(coverage)
    cov_rows.loc[cov_rows["values"].isna(), "state"] = "FAIL"
    (cov,) = to_sources(cov_rows)
    return ndcg, cov


@functools.cache
def recsys_problem(corpus: str, study: str) -> Problem:
    """The accuracy-vs-coverage task of corpus study ``study``.

    Ideal and nadir are those of the surrogates' Pareto front over the study's own
    configurations and 8,192 Sobol configurations of its space (snapped, seed 0); the
    reference point follows the rule of the module docstring (median over 4,096).
    """
    from scipy.stats import qmc

    from optuna_rl_sampler.training.surrogate_tasks import surrogate_task

    ndcg_src, cov_src = corpus_sources(corpus, study)
    ndcg, cov = surrogate_task(ndcg_src, seed=0), surrogate_task(cov_src, seed=0)
    objective = RecsysObjective(ndcg, cov, ndcg_src.distributions)
    enc = ndcg.encoder
    sobol = qmc.Sobol(enc.n_params, scramble=True, seed=0)
    dense = enc.embed(enc.snap(sobol.random_base2(13)))
    own, ok = enc.encode_many(list(ndcg_src.params))
    pts = np.concatenate([objective.values_at(dense), objective.values_at(enc.embed(own[ok]))])
    front = pareto_front(-pts)  # as losses
    ideal, nadir = -front.min(axis=0), -front.max(axis=0)
    median_sample = objective.values_at(dense[: 2**REFERENCE_SAMPLE_LOG2])
    model, dataset = study.split("/", 1)
    problem = _finish(
        recsys_problem_name(study),
        dict(ndcg_src.distributions),
        objective,
        ("maximize", "maximize"),
        ideal,
        nadir,
        None,
        {
            "group": "recsys",
            "dimension": enc.n_params,
            "constrained": False,
            "study": study,
            "model": model,
            "dataset": dataset,
            "objectives": ["ndcg@10", "coverage@10"],
            "n_corpus_trials": len(ndcg_src),
            "front_source": "the surrogates' front over the Sobol sample (a lower bound)",
        },
        sample=median_sample,
    )
    problem.front_hv = hypervolume(normalise(-front, problem))
    return problem


def problem_names() -> list[str]:
    """Every problem of the suite, in display order."""
    names = ["zdt1", "zdt2", "zdt3", *(f"biobj_f{f:02d}" for f in BIOBJ_FUNCTIONS)]
    names += ["c2dtlz2", "gramacy"]
    names += [recsys_problem_name(s) for s in RECSYS_STUDIES]
    return names


def build_problem(name: str, seed: int, corpus: str = str(DEFAULT_CORPUS)) -> Problem:
    """The problem ``name`` for ``seed`` (only ``bbob-biobj`` depends on the seed)."""
    if name in ("zdt1", "zdt2", "zdt3"):
        return zdt_problem(int(name[-1]))
    if name.startswith("biobj_f"):
        return biobj_problem(int(name.removeprefix("biobj_f")), biobj_instance_for_seed(seed))
    if name == "c2dtlz2":
        return c2dtlz2_problem()
    if name == "gramacy":
        return gramacy_problem()
    for study in RECSYS_STUDIES:
        if name == recsys_problem_name(study):
            return recsys_problem(corpus, study)
    if name.startswith("recsys_"):
        # Any other corpus study: recsys_<model>_<dataset> with the model's own name.
        for model in ("lightgbm-ranker", "two-tower"):
            if name.startswith(f"recsys_{model}_"):
                return recsys_problem(corpus, f"{model}/{name.removeprefix(f'recsys_{model}_')}")
    raise ValueError(f"Unknown problem {name!r}; known: {', '.join(problem_names())}.")


# --------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------


def pareto_front(losses: np.ndarray) -> np.ndarray:
    """The nondominated rows of ``(n, 2)`` losses (duplicates kept once), sorted by the
    first column."""
    pts = np.unique(np.asarray(losses, dtype=float), axis=0)  # sorted by column 0, then 1
    keep, best = [], math.inf
    for p in pts:
        if p[1] < best:
            keep.append(p)
            best = p[1]
    return np.array(keep).reshape(-1, pts.shape[1])


def normalise(values: np.ndarray, problem: Problem | dict[str, Any]) -> np.ndarray:
    """Raw objective values ``(n, k)`` -> losses scaled so that the ideal point is 0 and
    the reference point 1 (works for both directions)."""
    info = problem.info() if isinstance(problem, Problem) else problem
    ideal = np.asarray(info["ideal"], dtype=float)
    ref = np.asarray(info["reference"], dtype=float)
    return (np.asarray(values, dtype=float) - ideal) / (ref - ideal)


def hypervolume(z: np.ndarray) -> float:
    """Hypervolume that normalised losses ``z`` dominate in the box [0, 1]^k (reference
    point 1), for k = 1 or 2; exact. Rows with a NaN are ignored; points outside the
    box add nothing, points beyond the ideal (``z < 0``) count with their full box.

    Example:
        >>> hypervolume(np.array([[0.0, 0.5], [0.5, 0.0]]))
        0.75
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 2:
        raise ValueError(f"z must be (n, k), got shape {z.shape}.")
    z = z[~np.isnan(z).any(axis=1)]
    z = z[(z < 1.0).all(axis=1)]
    if len(z) == 0:
        return 0.0
    if z.shape[1] == 1:
        return float(1.0 - z[:, 0].min())
    if z.shape[1] != 2:
        raise ValueError("hypervolume supports 1 or 2 objectives.")
    hv, floor = 0.0, 1.0
    for z1, z2 in pareto_front(z):
        hv += (1.0 - z1) * (floor - z2)
        floor = z2
    return float(hv)


def hv_curve(
    values: Sequence[Sequence[float] | None], feasible: Sequence[bool], info: dict
) -> list:
    """Hypervolume of the feasible trials among the first ``t``, for every ``t``."""
    out, kept = [], []
    for row, ok in zip(values, feasible, strict=True):
        if row is not None and ok:
            kept.append(normalise(np.asarray([row], dtype=float), info)[0])
        out.append(hypervolume(np.array(kept)) if kept else 0.0)
    return out


def is_feasible(constraints: Sequence[float] | None) -> bool:
    """Optuna's rule: feasible when every constraint value is ``<= 0`` (no constraints:
    feasible)."""
    if constraints is None:
        return True
    return all(c <= 0.0 for c in constraints)


# --------------------------------------------------------------------------------------
# Samplers and jobs
# --------------------------------------------------------------------------------------


def stored_constraints(trial: FrozenTrial) -> Sequence[float]:
    """``constraints_func`` of every constrained run: the values the objective stored
    in the trial's user attribute ``constraints`` (a failed objective stores none; then
    the trial counts as infeasible)."""
    return trial.user_attrs.get(CONSTRAINTS_ATTR, [math.inf])


def make_sampler(name: str, seed: int, n_trials: int, constrained: bool) -> BaseSampler:
    """The sampler ``name`` for one run, from :mod:`optuna_rl_sampler.sampler_registry`.

    ``constraints_func`` reaches every sampler that takes one (all but random search) on a
    constrained problem; ``n_trials`` is RLSampler's budget; TPE keeps Optuna's default
    ``multivariate`` (:data:`SAMPLER_DESCRIPTIONS`): independent TPE on several
    objectives, and since Optuna 5 multivariate TPE on one (``gramacy``).

    Raises:
        ValueError: ``name`` is not one of :data:`SAMPLERS`.
    """
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")
    return sampler_registry.make_sampler(
        name,
        seed,
        budget=n_trials,
        constraints_func=stored_constraints if constrained else None,
        # None is passed on to TPESampler as is: Optuna's default, whatever its version.
        multivariate=None,
    )


SAMPLER_DESCRIPTIONS: dict[str, str] = {
    "rl": "RLSampler(seed=s, budget=T)",
    "nsga2": "NSGAIISampler(seed=s)",
    "tpe": "TPESampler(seed=s)",
    "gp": "GPSampler(seed=s)",
    "random": "RandomSampler(seed=s)",
}

# Rough CPU seconds per 100-trial study with 2 objectives in 5-D (measured, see README):
# only to order the jobs (slowest first) and to print an estimate.
_COST_PER_100 = {"gp": 75.0, "rl": 2.0, "tpe": 1.5, "nsga2": 0.2, "random": 0.1}


@dataclass(frozen=True)
class Job:
    """One study: a problem, a seed and a sampler."""

    problem: str
    seed: int
    sampler: str
    n_trials: int
    corpus: str = str(DEFAULT_CORPUS)

    @property
    def key(self) -> str:
        """The run's identity in ``runs.jsonl``."""
        return f"{self.problem}|{self.seed}|{self.sampler}|{self.n_trials}"

    @property
    def cost(self) -> float:
        scale = self.n_trials / 100
        base = _COST_PER_100.get(self.sampler, 2.0)
        if self.problem == "gramacy" and self.sampler == "gp":
            base /= 4.0  # one objective, two parameters
        elif self.problem.startswith("recsys_") and self.sampler == "gp":
            base *= 4.0  # 8-10 parameters: about 300-400 s per study
        return base * (scale**2 if self.sampler == "gp" else scale)


class _Objective:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def __call__(self, trial: optuna.Trial) -> Any:
        values, constraints = self.problem.evaluate(suggest_all(trial, self.problem.space))
        if constraints is not None:
            trial.set_user_attr(CONSTRAINTS_ATTR, [float(c) for c in constraints])
        return values[0] if len(values) == 1 else values


def _rl_reasons(study: optuna.Study) -> dict[str, Any]:
    """Counts of RLSampler's proposal sources, scalarisations and fallbacks."""
    from optuna_rl_sampler.sampler import REASON_KEY

    sources: Counter[str] = Counter()
    weights = []
    errors: Counter[str] = Counter()
    for t in study.get_trials(deepcopy=False):
        reason = t.system_attrs.get(REASON_KEY)
        if not isinstance(reason, dict):
            sources["none"] += 1
            continue
        sources[str(reason.get("source"))] += 1
        scal = reason.get("scalarisation")
        if isinstance(scal, dict) and scal.get("weights"):
            weights.append(float(scal["weights"][0]))
        if reason.get("error"):
            errors[str(reason["error"])[:120]] += 1
    out: dict[str, Any] = {"sources": dict(sources), "errors": dict(errors.most_common(3))}
    if weights:
        out["first_weight_mean"] = float(np.mean(weights))
        out["n_scalarised"] = len(weights)
    return out


def run_job(job: Job) -> dict[str, Any]:
    """Run one study and return its record (never raises)."""
    record: dict[str, Any] = {
        "key": job.key,
        "problem": job.problem,
        "instance": "",
        "seed": job.seed,
        "sampler": job.sampler,
        "n_trials": job.n_trials,
        "values": None,
        "constraints": None,
        "wall_s": None,
        "cpu_s": None,
        "n_failed_trials": None,
        "error": None,
        "warnings": {},
    }
    with captured_messages() as messages:
        try:
            problem = build_problem(job.problem, job.seed, job.corpus)
            record["instance"] = problem.instance
            sampler = make_sampler(job.sampler, job.seed, job.n_trials, problem.constrained)
            study = optuna.create_study(
                storage=optuna.storages.InMemoryStorage(),
                sampler=sampler,
                directions=list(problem.directions),
            )
            start, cpu_start = time.perf_counter(), time.process_time()
            study.optimize(_Objective(problem), n_trials=job.n_trials, catch=(Exception,))
            record["wall_s"] = time.perf_counter() - start
            record["cpu_s"] = time.process_time() - cpu_start
            values, constraints = [], []
            for t in study.get_trials(deepcopy=False):
                ok = t.state == TrialState.COMPLETE and t.values is not None
                row = [float(v) for v in t.values] if ok else None
                if row is not None and not all(math.isfinite(v) for v in row):
                    row = None
                values.append(row)
                constraints.append(t.user_attrs.get(CONSTRAINTS_ATTR))
            record["values"] = values
            record["constraints"] = constraints if problem.constrained else None
            record["n_failed_trials"] = sum(v is None for v in values)
            if job.sampler == "rl":
                record["rl_reasons"] = _rl_reasons(study)
        except Exception as exc:  # a failed study is data, not a crash
            record["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    record["warnings"] = dict(messages.most_common(5))
    return record


def execute(
    jobs: Sequence[Job],
    workers: int,
    on_record: Callable[[dict[str, Any]], None],
    progress: bool = True,
) -> None:
    """Run ``jobs`` in ``workers`` spawned processes (0: in this process) and hand each
    record to ``on_record`` as soon as it finishes (:func:`benchmarks.harness.run_pool`)."""
    run_pool(run_job, jobs, workers, on_record, progress=progress)


# --------------------------------------------------------------------------------------
# Resumable run
# --------------------------------------------------------------------------------------


def _file_hash(path: str | Path) -> str | None:
    if not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def fingerprint(corpus: str | Path) -> dict[str, Any]:
    """What a stored run depends on besides its key (the corpus only matters to the
    recommender problems: see :func:`same_fingerprint`)."""
    from optuna_rl_sampler import __version__
    from optuna_rl_sampler.policy import default_weights_path

    return {
        "problems_version": PROBLEMS_VERSION,
        "corpus": _file_hash(corpus),
        "weights": _file_hash(default_weights_path()),
        "optuna_rl_sampler": __version__,
        "optuna": optuna.__version__,
    }


def same_fingerprint(stored: Any, current: dict[str, Any], problem: str) -> bool:
    """Whether a stored run of ``problem`` is still valid: the same fingerprint, except
    that the corpus is compared only for the recommender problems."""
    if not isinstance(stored, dict):
        return False
    if problem.startswith("recsys_"):
        return stored == current
    drop = {"corpus"}
    return {k: v for k, v in stored.items() if k not in drop} == {
        k: v for k, v in current.items() if k not in drop
    }


def run_multiobjective(
    *,
    problems: Sequence[str] | None = None,
    samplers: Sequence[str] = SAMPLERS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_trials: int = 100,
    sampler_seeds: dict[str, Sequence[int]] | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    workers: int = 1,
    out: Path | str = DEFAULT_OUT,
    corpus: str | Path = DEFAULT_CORPUS,
    fresh: bool = False,
    command: str | None = None,
    notes: Sequence[str] = (),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the suite (resuming from ``out/runs.jsonl``); write and return the results.

    Args:
        problems: Problem names (default: all, see :func:`problem_names`).
        samplers: Sampler names from :data:`SAMPLERS`.
        seeds: Seeds; every sampler runs every seed unless ``sampler_seeds`` says less.
        n_trials: Trials per study.
        sampler_seeds: Fewer seeds for some samplers: ``{"gp": [0, 1, 2]}`` for every
            problem, ``{"gp@recsys": [0, 1]}`` for a problem group (``standard``,
            ``constrained``, ``recsys``) or ``{"gp@zdt1": [0]}`` for one problem (the
            most specific entry wins); ranks compare the samplers on the seeds they share.
        checkpoints: Trial counts reported.
        workers: Worker processes; 0 runs in this process.
        out: Output folder.
        corpus: The corpus table (recommender problems).
        fresh: Set the stored runs aside instead of resuming.
        command: The command line, recorded in the results.
        notes: Free-text notes shown in ``summary.md`` (e.g. what was reduced and why).
        progress: Show a progress bar.
        log: Where messages go.
    """
    plan = plan_multiobjective(
        problems=problems,
        samplers=samplers,
        seeds=seeds,
        n_trials=n_trials,
        sampler_seeds=sampler_seeds,
        checkpoints=checkpoints,
        workers=workers,
        out=out,
        corpus=corpus,
        fresh=fresh,
        log=log,
    )
    return run_plan(plan, plan.to_run, command=command, notes=notes, progress=progress, log=log)


@dataclass(frozen=True)
class MultiobjectivePlan:
    """What one invocation runs (:func:`plan_multiobjective`).

    Attributes:
        config: The run's settings as recorded under ``config`` in the results.
        jobs: Every study of the run, those already stored included.
        done: The valid stored runs, by key (:func:`stored_runs`).
        to_run: The jobs still to run, most expensive first.
        fingerprint: What the runs depend on (:func:`fingerprint`).
        corpus: The corpus table, as an absolute path.
        out: The output folder.
    """

    config: dict[str, Any]
    jobs: tuple[Job, ...]
    done: dict[str, dict[str, Any]]
    to_run: tuple[Job, ...]
    fingerprint: dict[str, Any]
    corpus: str
    out: Path


def plan_multiobjective(
    *,
    problems: Sequence[str] | None = None,
    samplers: Sequence[str] = SAMPLERS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_trials: int = 100,
    sampler_seeds: dict[str, Sequence[int]] | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    workers: int = 1,
    out: Path | str = DEFAULT_OUT,
    corpus: str | Path = DEFAULT_CORPUS,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> MultiobjectivePlan:
    """Plan a run and find what ``out/runs.jsonl`` already holds (setting it aside
    first when ``fresh``); log how much is left. The arguments are
    :func:`run_multiobjective`'s."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = str(Path(corpus).resolve())
    config, jobs = plan_run(
        problems, samplers, seeds, n_trials, sampler_seeds, checkpoints, workers, corpus
    )
    fp = fingerprint(corpus)
    runs_file = out / "runs.jsonl"
    if fresh and runs_file.is_file():
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        runs_file.rename(runs_file.with_name(f"runs.{stamp}.old.jsonl"))
    done = stored_runs(runs_file, fp)
    to_run = sorted((j for j in jobs if j.key not in done), key=lambda j: (-j.cost, j.key))
    log(
        f"{len(jobs)} studies ({len(config['problems'])} problems, samplers "
        f"{', '.join(samplers)}); {len(jobs) - len(to_run)} already in {runs_file}, "
        f"{len(to_run)} to run on {workers} worker(s): about "
        f"{sum(j.cost for j in to_run) / max(1, workers) / 60:.1f} min of CPU on an idle "
        "machine"
    )
    return MultiobjectivePlan(config, tuple(jobs), done, tuple(to_run), fp, corpus, out)


def run_plan(
    plan: MultiobjectivePlan,
    to_run: Sequence[Job],
    *,
    command: str | None = None,
    notes: Sequence[str] = (),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run ``to_run`` (the plan's jobs that are not stored yet), storing each run as it
    finishes; write ``results.json.gz`` with every run of the plan and return it."""
    config, corpus = plan.config, plan.corpus
    infos = {p: _problem_infos(p, config["seed_plan"][p], corpus) for p in config["problems"]}
    start = time.perf_counter()
    new = run_and_store(
        to_run,
        plan.fingerprint,
        plan.out / "runs.jsonl",
        config["workers"],
        progress,
        command=command,
    )
    elapsed = time.perf_counter() - start
    records = [new.get(j.key) or plan.done[j.key] for j in plan.jobs]
    _log_errors(records, log)
    results = multiobjective_results(
        config, records, infos, plan.fingerprint, command, notes, elapsed, len(to_run)
    )
    write_json(results, results_file(plan.out))
    return results


def plan_run(
    problems: Sequence[str] | None,
    samplers: Sequence[str],
    seeds: Sequence[int],
    n_trials: int,
    sampler_seeds: dict[str, Sequence[int]] | None,
    checkpoints: Sequence[int],
    workers: int,
    corpus: str,
) -> tuple[dict[str, Any], list[Job]]:
    """The ``config`` of a run (arguments of :func:`run_multiobjective`) and its jobs:
    every problem, sampler and seed of the sampler's seed plan.

    Raises:
        ValueError: A sampler is not one of :data:`SAMPLERS`.
    """
    problems = list(problems) if problems else problem_names()
    for s in samplers:
        if s not in SAMPLERS:
            raise ValueError(f"Unknown sampler {s!r}; choose from {', '.join(SAMPLERS)}.")
    seed_plan = {
        p: {s: seeds_for(sampler_seeds or {}, s, p, seeds) for s in samplers} for p in problems
    }
    jobs = [
        Job(p, seed, s, n_trials, corpus)
        for p in problems
        for s in samplers
        for seed in seed_plan[p][s]
    ]
    config = {
        "problems": problems,
        "samplers": list(samplers),
        "sampler_descriptions": {s: SAMPLER_DESCRIPTIONS[s] for s in samplers},
        "seeds": list(seeds),
        "sampler_seeds": {k: list(v) for k, v in (sampler_seeds or {}).items()},
        "seed_plan": seed_plan,
        "n_trials": n_trials,
        "checkpoints": [c for c in checkpoints if c <= n_trials],
        "workers": workers,
        "corpus": _shown(corpus) if any(p.startswith("recsys_") for p in problems) else None,
        "reference_rule": REFERENCE_RULE,
    }
    return config, jobs


def multiobjective_results(
    config: dict[str, Any],
    records: list[dict[str, Any]],
    infos: dict[str, dict[str, dict[str, Any]]],
    fp: dict[str, Any],
    command: str | None,
    notes: Sequence[str],
    elapsed: float,
    n_run_now: int,
) -> dict[str, Any]:
    """The results dict of a run (created now): every record with its hypervolume curve
    (``hv``, added in place to each study that did not fail) and the summary."""
    for r in records:
        if not r.get("error"):
            r["hv"] = run_curve(r, infos[r["problem"]][r["instance"]])
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "multiobjective",
        "suite": "multiobjective",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "config": config,
        "notes": list(notes),
        "fingerprint": fp,
        "problems": infos,
        "environment": environment(),
        "total_wall_s": elapsed,
        "n_run_now": n_run_now,
        "n_failed": sum(1 for r in records if r.get("error")),
        "runs": records,
    }
    results["summary"] = summarise(results)
    return results


def stored_runs(runs_file: Path, fp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The successful runs stored in ``runs_file`` that are still valid
    (:func:`same_fingerprint`), by key; the latest of a key wins."""
    done: dict[str, dict[str, Any]] = {}
    for r in read_jsonl(runs_file):
        ok = r.get("error") is None and r.get("values")
        if ok and same_fingerprint(r.get("fingerprint"), fp, r.get("problem", "")):
            done[r["key"]] = r
    return done


def run_and_store(
    jobs: Sequence[Job],
    fp: dict[str, Any],
    runs_file: Path,
    workers: int,
    progress: bool,
    command: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` (:func:`execute`), append each record with its fingerprint (and the
    ``command`` that ran it, when known) to ``runs_file`` as it finishes, and return the
    records by key."""
    new: dict[str, dict[str, Any]] = {}

    def on_record(record: dict[str, Any]) -> None:
        record["fingerprint"] = fp
        if command is not None:
            record["command"] = command
        new[record["key"]] = record
        append_jsonl(runs_file, record)

    execute(jobs, workers, on_record, progress=progress)
    return new


def _log_errors(records: Sequence[dict[str, Any]], log: Callable[[str], None]) -> None:
    """Log the first line of the first five failed studies."""
    for r in [r for r in records if r.get("error")][:5]:
        first_line = r["error"].splitlines()[0]
        log(f"error: {r['sampler']} on {r['problem']} seed {r['seed']}: {first_line}")


def problem_group(name: str) -> str:
    """``standard``, ``constrained`` or ``recsys``."""
    if name.startswith("recsys_"):
        return "recsys"
    return "constrained" if name in ("c2dtlz2", "gramacy") else "standard"


def seeds_for(
    plan: dict[str, Sequence[int]], sampler: str, problem: str, seeds: Sequence[int]
) -> list[int]:
    """The seeds ``sampler`` runs on ``problem`` (see ``sampler_seeds`` of
    :func:`run_multiobjective`)."""
    for key in (f"{sampler}@{problem}", f"{sampler}@{problem_group(problem)}", sampler):
        if key in plan:
            return [s for s in seeds if s in set(plan[key])]
    return list(seeds)


def _problem_infos(
    name: str, seed_plan: dict[str, list[int]], corpus: str
) -> dict[str, dict[str, Any]]:
    """``{instance: info}`` of a problem over the seeds that run it."""
    seeds = sorted({s for ss in seed_plan.values() for s in ss})
    infos: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        problem = build_problem(name, seed, corpus)
        infos.setdefault(problem.instance, problem.info())
    return infos


def run_curve(record: dict[str, Any], info: dict[str, Any]) -> list[float]:
    """A run's hypervolume after each trial (for one objective: ``1 - HV`` is the best
    feasible normalised regret)."""
    values = record["values"]
    cons = record.get("constraints") or [None] * len(values)
    feasible = [is_feasible(c) if info.get("constrained") else True for c in cons]
    return hv_curve(values, feasible, info)


def _shown(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return Path(path).name


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def _is_single(info_by_instance: dict[str, dict[str, Any]]) -> bool:
    return len(next(iter(info_by_instance.values()))["directions"]) == 1


#: What the summary's measures mean (stored with every summary).
SUMMARY_DEFINITIONS: dict[str, str] = {
    "hv": "hypervolume of the feasible trials so far in the normalised box "
    "(ideal 0, reference point 1); higher is better; 1 = a point at the ideal",
    "regret": "one objective: best feasible normalised regret = 1 - HV, "
    "clipped to [0, 1], 1 before the first feasible trial; lower is better",
    "rank": "per (problem, seed, checkpoint) by hypervolume, on the seeds where "
    "every sampler ran (ties share the average rank); 1 is best",
    "metric_common_seeds": "metric over the seeds where every sampler ran",
    "se": "standard error over seeds",
}


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Tables of ``summary.md`` from the runs: hypervolume (or, for one objective, best
    feasible normalised regret) per problem, sampler and checkpoint; average ranks;
    feasibility; wall and CPU time."""
    cfg = results["config"]
    samplers, cps, n_trials = cfg["samplers"], cfg["checkpoints"], cfg["n_trials"]
    if not cps or cps[-1] != n_trials:
        cps = [*cps, n_trials]
    runs = [r for r in results["runs"] if not r.get("error") and r.get("hv")]
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by[(r["problem"], r["sampler"])].append(r)
    tables = _per_sampler_tables(results, by, samplers, cps)
    present = [s for s in samplers if any(k[1] == s for k in by)]
    ranks = _rank_tables(results, runs, present, cps)
    total_time = {
        s: {
            "wall_s": float(sum(r["wall_s"] or 0.0 for r in runs if r["sampler"] == s)),
            "cpu_s": float(sum(r["cpu_s"] or 0.0 for r in runs if r["sampler"] == s)),
            "n_runs": sum(r["sampler"] == s for r in runs),
        }
        for s in samplers
    }
    return {
        "checkpoints": cps,
        "metric": tables["metric"],
        "metric_common_seeds": ranks["metric_common_seeds"],
        "curves": tables["curves"],
        "rank": ranks["rank"],
        "rank_seeds": ranks["rank_seeds"],
        "feasibility": tables["feasibility"],
        "time": tables["time"],
        "total_time": total_time,
        "rl_reasons": _rl_reason_totals(runs),
        "definitions": dict(SUMMARY_DEFINITIONS),
    }


def _shown_metric(hv: np.ndarray, single: bool) -> np.ndarray:
    """What a table shows of hypervolume curves: HV, or ``1 - HV`` (the best feasible
    normalised regret) for one objective."""
    return 1.0 - hv if single else hv


def _per_sampler_tables(
    results: dict[str, Any],
    by: Mapping[tuple[str, str], list[dict[str, Any]]],
    samplers: Sequence[str],
    cps: Sequence[int],
) -> dict[str, dict[str, Any]]:
    """Per problem and sampler over its seeds: the metric at each checkpoint
    (``metric``), the mean curve (``curves``), wall and CPU time (``time``) and, on a
    constrained problem, feasibility (``feasibility``)."""
    metric: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    feasibility: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for p in results["config"]["problems"]:
        single = _is_single(results["problems"][p])
        for s in samplers:
            members = by.get((p, s), [])
            if not members:
                continue
            shown = _shown_metric(np.array([r["hv"] for r in members], dtype=float), single)
            metric.setdefault(p, {})[s] = {str(c): mean_se(shown[:, c - 1]) for c in cps}
            curves.setdefault(p, {})[s] = {
                "mean": shown.mean(axis=0).tolist(),
                "se": (
                    shown.std(axis=0, ddof=1) / math.sqrt(len(members))
                    if len(members) > 1
                    else np.zeros(shown.shape[1])
                ).tolist(),
                "n": len(members),
            }
            times.setdefault(p, {})[s] = {
                "wall_s": mean_se([r["wall_s"] for r in members]),
                "cpu_s": mean_se([r["cpu_s"] for r in members]),
            }
            if results["problems"][p][members[0]["instance"]].get("constrained"):
                feasibility.setdefault(p, {})[s] = _feasibility(members, cps)
    return {"metric": metric, "curves": curves, "feasibility": feasibility, "time": times}


def _rank_tables(
    results: dict[str, Any],
    runs: Sequence[dict[str, Any]],
    present: Sequence[str],
    cps: Sequence[int],
) -> dict[str, Any]:
    """Average ranks per group (``rank``) of the samplers that ran (``present``), per
    (problem, seed, checkpoint) on the seeds where every one of them ran
    (``rank_seeds``; with fewer seeds for one sampler, the other seeds would rank fewer
    samplers), and the metric on those seeds (``metric_common_seeds``)."""
    ranks: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    cells: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(dict)
    for r in runs:
        cells[(r["problem"], r["seed"])][r["sampler"]] = r["hv"]
    complete = {k: v for k, v in cells.items() if all(s in v for s in present)}
    common: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for (p, _seed), members in sorted(complete.items()):
        names = [s for s in present if s in members]
        group = next(iter(results["problems"][p].values())).get("group", "other")
        for n in names:
            common[(p, n)].append(members[n])
        for c in cps:
            scores = np.array([members[n][c - 1] for n in names])
            rank = rankdata(-scores, method="average")
            for n, rk in zip(names, rank, strict=True):
                for g in ("all", group):
                    ranks[g][n][str(c)].append(float(rk))
    metric_common: dict[str, Any] = {}
    for (p, s), curves_ in common.items():
        shown = _shown_metric(np.array(curves_, dtype=float), _is_single(results["problems"][p]))
        metric_common.setdefault(p, {})[s] = {str(c): mean_se(shown[:, c - 1]) for c in cps}
    problems = results["config"]["problems"]
    return {
        "rank": {
            g: {s: {c: mean_se(v) for c, v in per.items()} for s, per in by_s.items()}
            for g, by_s in ranks.items()
        },
        "rank_seeds": {p: sorted(seed for (q, seed) in complete if q == p) for p in problems},
        "metric_common_seeds": metric_common,
    }


def _feasibility(members: list[dict[str, Any]], cps: Sequence[int]) -> dict[str, Any]:
    """Share of feasible trials per checkpoint and trials to the first feasible one."""
    shares: dict[str, list[float]] = defaultdict(list)
    first: list[float] = []
    for r in members:
        flags = [
            v is not None and is_feasible(c)
            for v, c in zip(r["values"], r["constraints"], strict=True)
        ]
        for c in cps:
            shares[str(c)].append(float(np.mean(flags[:c])))
        hit = [i for i, f in enumerate(flags) if f]
        first.append(float(hit[0] + 1) if hit else math.inf)
    finite = [f for f in first if math.isfinite(f)]
    return {
        "feasible_share": {c: mean_se(v) for c, v in shares.items()},
        "median_first_feasible": float(np.median(first)) if finite else None,
        "runs_without_feasible": sum(not math.isfinite(f) for f in first),
    }


def _rl_reason_totals(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in runs:
        info = r.get("rl_reasons") or {}
        total.update(info.get("sources", {}))
        errors.update(info.get("errors", {}))
    return {"sources": dict(total), "errors": dict(errors.most_common(5))}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

_COLOURS = {
    "rl": "#d62728",
    "random": "#7f7f7f",
    "tpe": "#1f77b4",
    "gp": "#2ca02c",
    "nsga2": "#ff7f0e",
}


def write_report(results: dict[str, Any], folder: Path | str) -> list[Path]:
    """``hv_curves.png`` and ``summary.md`` from a results dict; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [plot_curves(results, folder / "hv_curves.png")]
    md = folder / "summary.md"
    md.write_text(summary_markdown(results))
    return [*paths, md]


def plot_curves(results: dict[str, Any], path: Path) -> Path:
    """Mean hypervolume (best feasible regret for one objective) per trial, one panel
    per problem, bands +-1 standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    problems = [p for p in results["config"]["problems"] if p in summary["curves"]]
    ncols = min(4, max(1, len(problems)))
    nrows = math.ceil(len(problems) / ncols) or 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        single = _is_single(results["problems"][p])
        for i, (s, c) in enumerate(summary["curves"][p].items()):
            mean, se = np.array(c["mean"]), np.array(c["se"])
            t = np.arange(1, len(mean) + 1)
            colour = _COLOURS.get(s, f"C{i % 10}")
            ax.plot(t, mean, label=f"{s} (n={c['n']})", color=colour, lw=1.6)
            ax.fill_between(t, mean - se, mean + se, color=colour, alpha=0.15, lw=0)
        ax.set_title(p, fontsize=10)
        ax.set_xlabel("trial")
        ax.set_ylabel("best feasible regret" if single else "hypervolume")
        ax.grid(alpha=0.3)
        for c in summary["checkpoints"]:
            ax.axvline(c, color="k", lw=0.4, alpha=0.3)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle("Mean hypervolume (constrained 1-objective: best feasible regret) +-1 SE")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _cell(entry: dict[str, Any] | None, digits: int = 3) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    return f"{_f(entry['mean'], digits)} ± {_f(entry['se'], digits)}"


def _best_marks(values: dict[str, float | None], higher: bool) -> set[str]:
    known = {k: v for k, v in values.items() if v is not None}
    if not known:
        return set()
    best = max(known.values()) if higher else min(known.values())
    return {k for k, v in known.items() if abs(v - best) < 1e-12}


def summary_markdown(results: dict[str, Any]) -> str:
    """The ``summary.md`` text: the run, hypervolume, ranks, constraints, time, the
    problems, and RLSampler's proposal sources."""
    cfg, summary = results["config"], results["summary"]
    cps = summary["checkpoints"]
    samplers = cfg["samplers"]
    lines = _intro_lines(results)
    lines += _hypervolume_lines(results, samplers, cps)
    lines += _rank_lines(summary, samplers, cps)
    if summary["feasibility"]:
        lines += _constraint_lines(summary, samplers, cps)
    lines += _time_lines(cfg, summary, samplers)
    lines += _problem_lines(results)
    lines += _closing_lines(results)
    return "\n".join(lines)


def _intro_lines(results: dict[str, Any]) -> list[str]:
    """Title, command, scale and time of the run, the samplers, and the run's notes."""
    cfg, summary = results["config"], results["summary"]
    lines = [
        "# Multi-objective and constrained benchmark",
        "",
        *_command_lines(results),
        f"{cfg['n_trials']} trials per study; seeds {_seeds_text(cfg)}; "
        f"{len(results['runs'])} studies, {results['n_failed']} failed; the studies took "
        f"{_total(summary, 'cpu_s') / 60:.1f} CPU-minutes ({_total(summary, 'wall_s') / 60:.1f} "
        f"min of wall time, summed over studies); this invocation ran {results['n_run_now']} "
        f"of them in {results['total_wall_s'] / 60:.1f} min, the rest were resumed from "
        "runs.jsonl.",
        "",
        "Samplers: "
        + ", ".join(f"`{s}` = `{cfg['sampler_descriptions'][s]}`" for s in cfg["samplers"])
        + ". On the constrained problems every sampler but random search gets "
        "`constraints_func` (random search ignores constraints; its feasible trials are "
        "counted all the same).",
        "",
    ]
    if results.get("notes"):
        lines += ["**Notes.**", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return lines


def _command_lines(results: dict[str, Any]) -> list[str]:
    """When the results were made and the command (from the repository root) that ran
    each study: one command, or each command with how many of the studies it ran when
    the runs were resumed under several. A study stored before runs recorded their
    command counts as the latest invocation's."""
    latest = results.get("command") or "python -m benchmarks run --suite multiobjective"
    made = Counter(run.get("command") or latest for run in results["runs"])
    if len(made) <= 1:
        return [
            f"Created {results['created']}. Command (from the repository root):",
            "",
            "```bash",
            next(iter(made), latest),
            "```",
            "",
        ]
    lines = [
        f"Created {results['created']} from studies run by {len(made)} commands (from the "
        "repository root), with how many studies each ran:",
        "",
        "```bash",
    ]
    for command, count in made.items():
        lines += [f"# {count} {'study' if count == 1 else 'studies'}", command]
    return lines + ["```", ""]


def _hypervolume_lines(
    results: dict[str, Any], samplers: Sequence[str], cps: Sequence[int]
) -> list[str]:
    """The hypervolume tables (:func:`_metric_tables`), and the same on the common seeds
    when some sampler ran fewer seeds."""
    cfg, summary = results["config"], results["summary"]
    lines = [
        "## Hypervolume",
        "",
        "Objectives are scaled per problem so that the ideal point is 0 and the reference "
        "point 1 (`z = (f - ideal) / (ref - ideal)`, losses); the hypervolume (HV) is the "
        "share of the box [0, 1]^2 that the feasible trials so far dominate, higher is "
        "better. Reference point rule: " + cfg["reference_rule"] + ". Mean ± standard "
        "error over seeds; **bold** = best mean. `front` = HV of the known Pareto front "
        "(the maximum; for recsys the front of the surrogates over 8,192 Sobol "
        "configurations, which a sampler can exceed).",
        "",
    ]
    lines += _metric_tables(results, summary["metric"], samplers, cps)
    plan = cfg.get("sampler_seeds") or {}
    if any(list(v) != list(cfg["seeds"]) for v in plan.values()):
        lines += [
            "### On the common seeds",
            "",
            "The same tables on the seeds where every sampler ran "
            f"({_rank_seeds_text(summary)}): the paired comparison.",
            "",
        ]
        lines += _metric_tables(results, summary["metric_common_seeds"], samplers, cps)
    return lines


def _rank_lines(summary: dict[str, Any], samplers: Sequence[str], cps: Sequence[int]) -> list[str]:
    """Average rank per group, sampler and checkpoint."""
    lines = [
        "## Average rank",
        "",
        "Per (problem, seed, checkpoint) the samplers are ranked by HV (1 = best, ties "
        "share the average rank), then averaged; only seeds on which every sampler ran "
        f"count ({_rank_seeds_text(summary)}). Groups: `standard` (ZDT, bbob-biobj), "
        "`constrained` (C2-DTLZ2, Gramacy), `recsys` (accuracy vs coverage).",
        "",
    ]
    groups = [g for g in ("all", "standard", "constrained", "recsys") if g in summary["rank"]]
    rows = []
    for g in groups:
        for s in samplers:
            per = summary["rank"][g].get(s)
            if per:
                rows.append([g, s, *[_cell(per.get(str(c)), 2) for c in cps]])
    return lines + _table(["group", "sampler", *[f"rank@{c}" for c in cps]], rows) + [""]


def _constraint_lines(
    summary: dict[str, Any], samplers: Sequence[str], cps: Sequence[int]
) -> list[str]:
    """Feasible share per checkpoint, first feasible trial and runs without one, per
    constrained problem and sampler."""
    lines = [
        "## Constraints",
        "",
        "Share of feasible trials among the first t (mean over seeds), median trial of "
        "the first feasible trial, runs that found no feasible trial.",
        "",
    ]
    rows = []
    for p, per in summary["feasibility"].items():
        for s in samplers:
            if s in per:
                e = per[s]
                rows.append(
                    [
                        p,
                        s,
                        *[_f(e["feasible_share"][str(c)]["mean"], 2) for c in cps],
                        _f(e["median_first_feasible"], 0),
                        str(e["runs_without_feasible"]),
                    ]
                )
    lines += _table(
        ["problem", "sampler", *[f"feasible@{c}" for c in cps], "first feasible", "none"],
        rows,
    )
    return lines + [""]


def _time_lines(
    cfg: dict[str, Any], summary: dict[str, Any], samplers: Sequence[str]
) -> list[str]:
    """Mean wall and CPU seconds per study, per problem and sampler, and the totals."""
    lines = [
        "## Time",
        "",
        "Mean wall-clock and CPU seconds per study (objective included, one thread per "
        "worker; on a shared machine trust the CPU column), per problem, and the total.",
        "",
    ]
    header = ["problem", *samplers]
    rows = []
    for p in cfg["problems"]:
        per = summary["time"].get(p, {})
        rows.append(
            [
                p,
                *[
                    f"{_f(per[s]['wall_s']['mean'], 1)} / {_f(per[s]['cpu_s']['mean'], 1)}"
                    if s in per
                    else "-"
                    for s in samplers
                ],
            ]
        )
    tot = summary["total_time"]
    rows.append(
        [
            "**total (min)**",
            *[f"{tot[s]['wall_s'] / 60:.1f} / {tot[s]['cpu_s'] / 60:.1f}" for s in samplers],
        ]
    )
    return lines + ["wall / CPU s per study:", ""] + _table(header, rows) + [""]


def _problem_lines(results: dict[str, Any]) -> list[str]:
    """Each problem instance's size, directions, ideal, nadir, reference point and front
    hypervolume, and the problems' definitions."""
    lines = ["## Problems", ""]
    rows = []
    for p in results["config"]["problems"]:
        for inst, info in results["problems"][p].items():
            rows.append(
                [
                    p + (f" {inst}" if inst else ""),
                    str(info.get("n_params")),
                    ", ".join(d[:3] for d in info["directions"]),
                    _vec(info["ideal"]),
                    _vec(info["nadir"]) if info.get("nadir") else "-",
                    _vec(info["reference"]),
                    _f(info.get("front_hv")),
                ]
            )
    lines += _table(
        ["problem", "d", "directions", "ideal", "nadir", "reference", "front HV"], rows
    )
    return lines + [
        "",
        "- ZDT1-3: 5-D, [0, 1]^5. bbob-biobj f01 (sphere/sphere) and f10 (sphere/Gallagher "
        "101 peaks): 5-D, [-5, 5]^5, seed s on instance 1 + s mod 5, ideal = the two "
        "single-objective optima, nadir = COCO's `largest_fvalues_of_interest`.",
        "- C2-DTLZ2: 2 objectives, 5-D, radius r = 0.2 (with two objectives the usual "
        "r = 0.5 leaves the whole front feasible); feasible front: three arcs of the unit "
        "circle. Gramacy et al. (2016): min x1 + x2 on [0, 1]^2 s.t. two nonlinear "
        "constraints, f* = 0.5998.",
        "- recsys_*: NDCG@10 and coverage@10 (both maximised) of one corpus study, each a GP "
        "surrogate fitted to the study's 150 evaluations, on its own search space; ideal "
        "and nadir of the surrogates' Pareto front over the study's configurations and "
        "8,192 Sobol configurations.",
        "- NSGA-II's population is 50: its first generation is drawn by "
        "`RandomSampler(seed)`, so up to trial 50 it is random search trial by trial (same "
        "numbers as `random`). TPE and GP start with 10 random trials (again "
        "`random`'s); RLSampler with 1.",
        "",
    ]


def _closing_lines(results: dict[str, Any]) -> list[str]:
    """RLSampler's proposal sources and fallback errors over all its runs, and the
    environment."""
    lines: list[str] = []
    reasons = results["summary"].get("rl_reasons") or {}
    if reasons.get("sources"):
        lines += [
            "RLSampler's proposal sources over all its runs: "
            + ", ".join(f"{k} {v}" for k, v in sorted(reasons["sources"].items()))
            + (
                "; fallback errors: "
                + "; ".join(f"{k} ({v})" for k, v in reasons["errors"].items())
                if reasons.get("errors")
                else ""
            )
            + ".",
            "",
        ]
    env = results.get("environment", {})
    return lines + [
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None) + ".",
        "",
    ]


def _metric_tables(
    results: dict[str, Any], metric: dict[str, Any], samplers: Sequence[str], cps: Sequence[int]
) -> list[str]:
    """The HV table of the bi-objective problems and the regret table of the
    single-objective ones; a sampler with fewer seeds than the run is labelled."""
    n_seeds = len(results["config"]["seeds"])
    rows: list[list[str]] = []
    single_rows: list[list[str]] = []
    for p in results["config"]["problems"]:
        if p not in metric:
            continue
        single = _is_single(results["problems"][p])
        per = metric[p]
        marks = {
            c: _best_marks({s: per[s][str(c)]["mean"] for s in per}, higher=not single)
            for c in cps
        }
        info = next(iter(results["problems"][p].values()))
        for i, s in enumerate(s for s in samplers if s in per):
            cells = []
            for c in cps:
                text = _cell(per[s][str(c)])
                cells.append(f"**{text}**" if s in marks[c] and len(per) > 1 else text)
            label = p if i == 0 else ""
            if i == 0 and info.get("front_hv") is not None and not single:
                label += f" (front {info['front_hv']:.3f})"
            n = per[s][str(cps[-1])]["n"]
            name = s if n == n_seeds else f"{s} ({n} seed{'s' if n != 1 else ''})"
            (single_rows if single else rows).append([label, name, *cells])
    lines: list[str] = []
    if rows:
        lines += _table(["problem", "sampler", *[f"HV@{c}" for c in cps]], rows) + [""]
    if single_rows:
        lines += [
            "One objective (constrained): best feasible normalised regret "
            "`(f - f*) / (ref - f*)` clipped to [0, 1], lower is better (1 until the first "
            "feasible trial).",
            "",
        ]
        lines += _table(["problem", "sampler", *[f"regret@{c}" for c in cps]], single_rows)
        lines += [""]
    return lines


def _total(summary: dict[str, Any], key: str) -> float:
    return float(sum(t[key] for t in summary["total_time"].values()))


def _rank_seeds_text(summary: dict[str, Any]) -> str:
    seeds = {tuple(v) for v in summary.get("rank_seeds", {}).values()}
    if len(seeds) == 1:
        return "seeds " + ",".join(map(str, next(iter(seeds))))
    return "seeds per problem in results.json.gz, summary.rank_seeds"


def _vec(v: Sequence[float] | None) -> str:
    if v is None:
        return "-"
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def _seeds_text(cfg: dict[str, Any]) -> str:
    plan = cfg.get("sampler_seeds") or {}
    base = cfg["seeds"]
    differ = {s: v for s, v in plan.items() if list(v) != list(base)}
    text = ",".join(map(str, base))
    if differ:
        text += " (" + "; ".join(f"{s}: {','.join(map(str, v))}" for s, v in differ.items()) + ")"
    return text


# --------------------------------------------------------------------------------------
# Command line (``python -m benchmarks run --suite multiobjective``)
# --------------------------------------------------------------------------------------

QUICK = {"seeds": "2", "trials": 20}


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The suite's own options of ``python -m benchmarks run``."""
    mo = run.add_argument_group("multi-objective suite (--suite multiobjective)")
    mo.add_argument(
        "--problems",
        default=None,
        help="problems (default: " + ",".join(problem_names()) + ")",
    )
    mo.add_argument(
        "--sampler-seeds",
        default=None,
        help="fewer seeds for some samplers: 'gp=0-2' on every problem, 'gp@recsys=0-1' on "
        "a group (standard, constrained, recsys) or 'gp@zdt1=0' on one problem, joined by ';' "
        "(default: every sampler runs every seed)",
    )
    mo.add_argument(
        "--note", action="append", default=[], help="a note for summary.md (repeatable)"
    )


def _without_notes(argv: Sequence[str]) -> list[str]:
    """The command line without its ``--note`` arguments (they change no number), each
    argument quoted for the shell where needed."""
    import shlex

    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            out.append(shlex.quote(arg))
    return out


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments of :func:`plan_multiobjective` from ``python -m benchmarks run
    --suite multiobjective ...``; fills in ``--quick``'s values and the output folder on
    ``args``."""
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    if args.out is None:
        args.out = RESULTS_DIR / ("multiobjective" + ("-quick" if args.quick else ""))
    samplers = [s.strip() for s in (args.samplers or ",".join(SAMPLERS)).split(",") if s.strip()]
    sampler_seeds: dict[str, Sequence[int]] = {}
    for part in (args.sampler_seeds or "").split(";"):
        if "=" in part:
            name, text = part.split("=", 1)
            sampler_seeds[name.strip()] = seeds_from_arg(text)
    return {
        "problems": [p.strip() for p in args.problems.split(",")] if args.problems else None,
        "samplers": samplers,
        "seeds": seeds_from_arg(args.seeds or "5"),
        "n_trials": args.trials or 100,
        "sampler_seeds": sampler_seeds or None,
        "checkpoints": parse_int_list(args.checkpoints) if args.checkpoints else CHECKPOINTS,
        "workers": args.workers,
        "out": args.out,
        "corpus": args.corpus or DEFAULT_CORPUS,
        "fresh": args.fresh,
    }


def command_line(argv: Sequence[str]) -> str:
    """The command recorded in the results: ``python -m benchmarks`` and ``argv``
    without its notes."""
    return " ".join(["python -m benchmarks", *_without_notes(argv)])
