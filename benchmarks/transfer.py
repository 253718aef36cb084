"""Transfer benchmark: leave-one-dataset-out on surrogate tasks of the study corpus.

``python -m benchmarks run --suite transfer`` asks whether past studies make a new
study better sooner. Every study of the corpus (a model family tuned on one dataset,
:class:`~optuna_rl_sampler.sources.SourceStudy`) becomes a *surrogate task*: a GP fitted
to its evaluations (:func:`~optuna_rl_sampler.training.surrogate_tasks.surrogate_task`),
optimised on the study's own search space. For a held-out task (model M, dataset D) the
sources are the corpus studies of the **other** datasets, every model family included
(the sampler's own parameter-name matching decides what transfers); every study of D is
left out. The samplers:

==================  =====================================================================
``rl-transfer``     ``RLSampler(seed=s, budget=T, source_studies=sources)``
``rl-generic``      ``RLSampler(seed=s, budget=T, source_studies=None)``
``tpe``             ``TPESampler(seed=s, multivariate=True)``
``gp``              ``GPSampler(seed=s)``
``random``          ``RandomSampler(seed=s)``
``cmaes-warm``      ``CmaEsSampler(seed=s, source_trials=...)``: the trials of the source
                    of the same model family with the most trials, restricted to the
                    target's numeric parameters (CMA-ES has no categoricals: those fall
                    back to its random independent sampler)
``enqueue5-tpe``    the 5 best past configurations of same-model sources (by each
                    source's min-max normalised value) that fit the target space as they
                    are, enqueued, then ``TPESampler(seed=s, multivariate=True)``
==================  =====================================================================

Each is built by :func:`optuna_rl_sampler.sampler_registry.make_sampler` (see
:func:`build_sampler`), the warm-start baselines with what they start from.

A *misleading* variant negates every source's values (a past study whose objective runs
against the new one), to check that transfer does not hurt when the sources lie.

Optionally (``--real``) a few datasets are tuned for real (LightGBM LambdaRank, NDCG@10,
a few seconds per evaluation), with the objective built as the corpus built its study of
that dataset and the corpus minus that dataset as sources.

Runs are appended one JSON line each to ``runs.jsonl`` (``real-runs.jsonl``) in the
output folder as they finish; a new invocation skips the runs already there (same task,
seed, sampler, variant, trials, corpus and weights), so an interrupted run resumes.
Outputs: ``results.json.gz`` (raw curves and the summary), ``summary.md``,
``regret_curves.png``, ``rank_curves.png``, ``misleading_regret_curves.png`` and, with
``--real``, ``real.json``. The layout is in ``benchmarks/README.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import functools
import gzip
import hashlib
import inspect
import json
import math
import os
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.harness import append_jsonl
from benchmarks.harness import captured_messages
from benchmarks.harness import environment
from benchmarks.harness import read_jsonl
from benchmarks.harness import results_file
from benchmarks.harness import run_pool
from benchmarks.harness import trial_values
from benchmarks.harness import write_json
from benchmarks.metrics import best_so_far
from benchmarks.metrics import normalised_regret
from benchmarks.metrics import summarise
from benchmarks.tables import fmt as _fmt
from benchmarks.tables import mean_se_cell as _mean_se_cell
from benchmarks.tables import panel_title as _panel_title
from benchmarks.tables import table as _table
from benchmarks.tasks import suggest_all
from optuna_rl_sampler.reasons import REASON_KEY
from optuna_rl_sampler.sampler_registry import make_sampler
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.sources import load_sources_json
from optuna_rl_sampler.sources import save_sources_json

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "corpus" / "recsys-corpus-v1.parquet"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "transfer"
#: Where ``--fake-corpus`` dry runs write by default (never into benchmarks/results).
FAKE_OUT = Path(tempfile.gettempdir()) / "ors-transfer-fake"

SAMPLERS: tuple[str, ...] = (
    "rl-transfer",
    "rl-generic",
    "tpe",
    "gp",
    "random",
    "cmaes-warm",
    "enqueue5-tpe",
)
MISLEADING_SAMPLERS: tuple[str, ...] = ("rl-transfer", "rl-generic")
#: The real runs confirm the surrogate ranking with every sampler of the suite.
REAL_SAMPLERS: tuple[str, ...] = SAMPLERS
#: Samplers that read the sources; the others run once, whatever the variant.
USES_SOURCES = frozenset({"rl-transfer", "cmaes-warm", "enqueue5-tpe"})
VARIANTS: tuple[str, ...] = ("standard", "misleading")
#: The run files of an output folder: one JSON line per surrogate (real) run.
RUNS_FILE = "runs.jsonl"
REAL_RUNS_FILE = "real-runs.jsonl"
CHECKPOINTS: tuple[int, ...] = (1, 3, 5, 10, 20)
N_ENQUEUED = 5
#: Trial system attribute of RLSampler's reasons (optuna_rl_sampler.sampler.REASON_KEY).

#: Seconds per LightGBM LambdaRank evaluation measured with the family's default options
#: and 1,000 validation queries (one thread, 2-core VM): the fallback order of ``--real``
#: when the corpus table does not record its own trial times (it does: ``duration_s``).
REAL_DATASET_COST: dict[str, float] = {
    "mind_sample": 0.7,
    "filmtrust": 4.0,
    "yoochoose_clicks_100k": 7.0,
    "ml_latest_small": 9.0,
    "lastfm_2k": 11.0,
    "amazon_beauty": 26.0,
    "amazon_sports": 40.0,
}
REAL_MODEL = "lightgbm-ranker"
REAL_METRIC = "ndcg@10"
REAL_MAX_VALID_QUERIES = 200  # the v1 corpus's common setting (corpus/DATASHEET-v1.md)

# CPU seconds of one 20-trial study on a surrogate task (one thread, measured in the
# --fake-corpus dry run on a 2-core machine, 6-10 parameters), for ordering the
# jobs and the printed estimate; scaled linearly with the trials (GP: ^1.5). GPSampler
# (Optuna 5, mixed spaces, without the greenlet package) costs about 0.45 s x
# n_params^2: 44 s in 10-D, 12 s in 6-D; it is about 95% of a run.
_COST_20: dict[str, float] = {
    "rl-transfer": 0.4,
    "rl-generic": 0.3,
    "tpe": 0.2,
    "enqueue5-tpe": 0.2,
    "cmaes-warm": 0.15,
    "random": 0.05,
}
_GP_COST_PER_PARAM2 = 0.45


class CorpusError(RuntimeError):
    """The corpus is missing, unreadable or lacks the attributes the benchmark needs."""


# --------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------


def load_corpus(path: str | Path) -> list[SourceStudy]:
    """Read the corpus of past studies.

    Args:
        path: The Parquet corpus table (read with :mod:`optuna_rl_sampler.corpus`), or a
            source bank written by :func:`~optuna_rl_sampler.sources.save_sources_json`
            (``.json`` or ``.json.gz``, which is what ``--fake-corpus`` writes).

    Raises:
        CorpusError: the file does not exist, cannot be read, or a study lacks its
            ``dataset`` or ``model`` attribute.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(
            f"No corpus at {str(path)!r}. Build the corpus first (the Parquet table "
            "corpus/recsys-corpus-v1.parquet), pass --corpus PATH (a .parquet table or a "
            ".json/.json.gz source bank), or try the benchmark on a generated corpus with "
            "--fake-corpus."
        )
    if path.suffix == ".parquet":
        try:
            from optuna_rl_sampler.corpus import read_parquet
            from optuna_rl_sampler.corpus import to_sources
        except ImportError as err:
            raise CorpusError(
                f"Cannot read the Parquet corpus {str(path)!r}: optuna_rl_sampler.corpus is "
                f"not importable ({err}). Install the recsys extra (pandas, pyarrow), or "
                "pass a .json.gz source bank."
            ) from None
        try:
            table = read_parquet(path)
            sources = list(to_sources(table))
        except Exception as err:  # reported with the file name
            raise CorpusError(f"Cannot read the corpus {str(path)!r}: {err}") from None
        extras = _study_extras(table)
        sources = [
            SourceStudy(
                s.name, s.distributions, s.params, s.values, {**extras.get(s.name, {}), **s.attrs}
            )
            for s in sources
        ]
    else:
        try:
            sources = load_sources_json(path)
        except ValueError as err:
            raise CorpusError(str(err)) from None
    for s in sources:
        missing = [k for k in ("dataset", "model") if not s.attrs.get(k)]
        if missing:
            raise CorpusError(
                f"Corpus study {s.name!r} in {str(path)!r} has no {' or '.join(missing)} "
                "attribute; leave-one-dataset-out needs both on every study."
            )
    if not sources:
        raise CorpusError(f"The corpus {str(path)!r} holds no studies.")
    return sources


def _study_extras(table: Any) -> dict[str, dict[str, Any]]:
    """Per study of a corpus table: all its user attributes (``data``, ``seed``,
    ``max_users``, ``max_valid_queries``, ``model_options``, ...: how its objective was
    built) and ``mean_trial_s``, the mean duration of its COMPLETE trials."""
    out: dict[str, dict[str, Any]] = {}
    for name, rows in table.groupby("study", sort=False):
        try:
            attrs = dict(json.loads(rows["study_attrs"].iloc[0]))
        except (TypeError, ValueError):
            attrs = {}
        trials = rows.drop_duplicates("trial")
        done = trials[trials["state"] == "COMPLETE"]["duration_s"].dropna()
        if len(done):
            attrs["mean_trial_s"] = float(done.mean())
        out[str(name)] = attrs
    return out


def code_fingerprint(path: str | Path) -> str:
    """First 16 hex digits of the SHA-256 of a Python file's code: its syntax tree
    without docstrings (comments, blank lines and formatting never reach the tree).

    A run depends on what the code does, not on how it is explained: fixing a docstring
    must not force a re-run of every study the file took part in. The tree's text is
    that of the running Python version (3.11 for the committed runs); another version
    may print it differently and re-run the studies once.
    """
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def file_fingerprint(path: str | Path | None) -> str | None:
    """First 16 hex digits of the SHA-256 of a file's content (of the decompressed
    content for ``.gz``, whose header holds a time stamp); ``None`` if there is no file."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _sampler_weights() -> dict[str, tuple[str, ...]]:
    """The shipped weights that runs of each RL sampler depend on (``rl-transfer`` hands
    off to the generic weights); runs of the other samplers depend on none."""
    from optuna_rl_sampler.policy import DEFAULT_WEIGHTS
    from optuna_rl_sampler.policy import GENERIC_WEIGHTS

    return {"rl-transfer": (DEFAULT_WEIGHTS, GENERIC_WEIGHTS), "rl-generic": (GENERIC_WEIGHTS,)}


def fingerprint(corpus: str | Path) -> dict[str, Any]:
    """What stored runs depend on besides their keys: corpus, shipped weights (by name),
    package versions. A run keeps only its own part (:func:`run_fingerprint`)."""
    from optuna_rl_sampler import __version__
    from optuna_rl_sampler.policy import default_weights_path

    names = sorted({n for used in _sampler_weights().values() for n in used})
    return {
        "corpus": file_fingerprint(corpus),
        "weights": {n: file_fingerprint(default_weights_path(n)) for n in names},
        "optuna_rl_sampler": __version__,
        "optuna": optuna.__version__,
    }


def run_fingerprint(fp: Mapping[str, Any], sampler: str) -> dict[str, Any]:
    """The part of ``fp`` that a run of ``sampler`` depends on: the weights only for the
    RL samplers, so new weights re-run those and resume every other sampler."""
    out = {k: v for k, v in fp.items() if k != "weights"}
    names = _sampler_weights().get(sampler, ())
    if names:
        out["weights"] = {n: fp["weights"][n] for n in names}
    return out


def meta_training_note() -> str:
    """What the shipped weights were meta-trained on (the card's ``trained_on``)."""
    try:
        from optuna_rl_sampler.policy import load_weights

        return str(load_weights().card.get("trained_on", "not stated in the weights card"))
    except Exception as err:  # the report says why
        return f"unknown (weights not loadable: {type(err).__name__}: {err})"


# A small stand-in for the corpus: two model families with fixed search spaces (those of
# the built-in LightGBM ranker, and a two-tower space with a stepped float) tuned on a few
# datasets, with objectives that share their shape per family and shift per dataset.
FAKE_SPACES: dict[str, dict[str, BaseDistribution]] = {
    "lightgbm-ranker": {
        "num_leaves": IntDistribution(8, 256, log=True),
        "learning_rate": FloatDistribution(0.01, 0.3, log=True),
        "min_child_samples": IntDistribution(5, 200, log=True),
        "feature_fraction": FloatDistribution(0.5, 1.0),
        "bagging_fraction": FloatDistribution(0.5, 1.0),
        "lambda_l1": FloatDistribution(1e-8, 10.0, log=True),
        "lambda_l2": FloatDistribution(1e-8, 10.0, log=True),
        "n_estimators": IntDistribution(50, 500),
        "lambdarank_truncation_level": IntDistribution(5, 50),
        "label_gain": CategoricalDistribution(["linear", "exponential"]),
    },
    "two-tower": {
        "embedding_dim": CategoricalDistribution([16, 32, 64, 128]),
        "lr": FloatDistribution(1e-4, 3e-2, log=True),
        "temperature": FloatDistribution(0.02, 1.0, log=True),
        "epochs": IntDistribution(1, 20),
        "dropout": FloatDistribution(0.0, 0.5, step=0.05),
        "history_len": IntDistribution(5, 100, log=True),
    },
}
FAKE_DATASETS: tuple[str, ...] = ("fake-news", "fake-shop", "fake-social", "fake-movies")


def fake_corpus(
    n_datasets: int = 3,
    models: Sequence[str] = ("lightgbm-ranker", "two-tower"),
    n_trials: int = 150,
    seed: int = 0,
    datasets: Sequence[str] | None = None,
) -> list[SourceStudy]:
    """A generated corpus: ``n_datasets`` x ``models`` studies of ``n_trials`` Sobol points.

    ``datasets`` names the datasets instead (then ``n_datasets`` is ignored); real names
    such as ``mind_sample`` let ``--real`` run against a fake corpus.

    Each model family has a fixed search space (:data:`FAKE_SPACES`: floats, log floats,
    a stepped float, ints, log ints, categoricals) and an objective whose optimum and
    parameter importances are shared by the family; each dataset shifts the optimum a
    little, rescales the values and adds 1% noise, so studies of one family on other
    datasets are related but not equal. Values are higher-is-better NDCG-like numbers.
    """
    from scipy.stats import qmc

    from optuna_rl_sampler.encoding import SearchSpaceEncoder

    names = list(datasets) if datasets is not None else list(FAKE_DATASETS[:n_datasets])
    if not names or (datasets is None and n_datasets > len(FAKE_DATASETS)):
        raise ValueError(f"n_datasets must be 1-{len(FAKE_DATASETS)}, got {n_datasets}.")
    rng = np.random.default_rng(seed)
    out: list[SourceStudy] = []
    for model in models:
        space = FAKE_SPACES[model]
        enc = SearchSpaceEncoder(space)
        p = enc.n_params
        centre = rng.uniform(0.2, 0.8, p)
        weight = rng.uniform(0.3, 3.0, p)
        cat_bonus = {
            int(j): rng.uniform(0.0, 0.25, enc.n_bins[j])
            for j in np.flatnonzero(enc.is_categorical)
        }
        for dataset in names:
            c = np.clip(centre + rng.normal(0.0, 0.1, p), 0.05, 0.95)
            top = rng.uniform(0.15, 0.45)
            points = enc.snap(
                qmc.Sobol(p, scramble=True, seed=rng).random_base2(
                    max(1, math.ceil(math.log2(n_trials)))
                )[:n_trials]
            )
            numeric = ~enc.is_categorical
            bowl = ((weight * (points - c) ** 2)[:, numeric]).sum(1) / weight[numeric].sum()
            bonus = np.zeros(len(points))
            for j, b in cat_bonus.items():
                index = np.clip(np.floor(points[:, j] * len(b)), 0, len(b) - 1).astype(int)
                bonus += b[index] - b.max()
            score = 1.0 - 3.0 * bowl + bonus
            values = top * (0.4 + 0.6 * np.clip(score, -0.5, 1.0))
            values = values + 0.01 * top * rng.standard_normal(len(values))
            out.append(
                SourceStudy(
                    f"{model}/{dataset}",
                    dict(space),
                    tuple(enc.decode(u) for u in points),
                    values,
                    {"dataset": dataset, "model": model, "metric": "ndcg@10"},
                )
            )
    return out


def write_fake_corpus(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`fake_corpus` as a source bank (``.json.gz``) that ``--corpus`` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_sources_json(fake_corpus(**kwargs), path)


# --------------------------------------------------------------------------------------
# Leave one dataset out; the warm-start baselines' inputs
# --------------------------------------------------------------------------------------


def task_names(corpus: Sequence[SourceStudy]) -> list[str]:
    """One unique task name per corpus study: its name (``#2``, ``#3`` for repeats)."""
    seen: Counter[str] = Counter()
    names = []
    for s in corpus:
        seen[s.name] += 1
        names.append(s.name if seen[s.name] == 1 else f"{s.name}#{seen[s.name]}")
    return names


def lodo_sources(corpus: Sequence[SourceStudy], dataset: str) -> list[SourceStudy]:
    """The corpus minus every study of ``dataset`` (all model families kept)."""
    return [s for s in corpus if s.attrs.get("dataset") != dataset]


def misleading_sources(sources: Sequence[SourceStudy]) -> list[SourceStudy]:
    """The sources with their values negated: the best past configurations become the
    worst, as if each past objective ran against the new one."""
    return [
        SourceStudy(s.name, s.distributions, s.params, -s.values, {**s.attrs, "misleading": True})
        for s in sources
    ]


def fits_space(params: Mapping[str, Any], space: Mapping[str, BaseDistribution]) -> bool:
    """Whether ``params`` holds exactly the parameters of ``space``, each admissible
    there (inside the range and on the step grid; a known choice), as it is."""
    if set(params) != set(space):
        return False
    try:
        optuna.trial.create_trial(
            params=dict(params), distributions=dict(space), value=0.0
        )  # validates every value against its distribution
    except (ValueError, TypeError):
        return False
    return True


def _numeric_space(space: Mapping[str, BaseDistribution]) -> dict[str, BaseDistribution]:
    return {
        k: d
        for k, d in space.items()
        if isinstance(d, (FloatDistribution, IntDistribution)) and not d.single()
    }


def same_model(sources: Sequence[SourceStudy], model: str) -> list[SourceStudy]:
    """The sources of model family ``model``."""
    return [s for s in sources if s.attrs.get("model") == model]


def cmaes_source_trials(
    sources: Sequence[SourceStudy], space: Mapping[str, BaseDistribution], model: str
) -> tuple[list[FrozenTrial], str | None]:
    """Warm-start trials for ``CmaEsSampler(source_trials=...)`` and the source they
    come from.

    The source is the study of the same model family with the most trials (ties: the
    first by name). Each of its configurations becomes one COMPLETE trial over the
    target's numeric parameters (CMA-ES's search space; categoricals are dropped),
    with the target's distributions and the source's higher-is-better value;
    configurations that lack a numeric parameter or hold a value the target does not
    admit are left out.
    """
    candidates = sorted(same_model(sources, model), key=lambda s: (-len(s), s.name))
    numeric = _numeric_space(space)
    for source in candidates:
        trials = []
        for params, value in zip(source.params, source.values, strict=True):
            if not all(k in params for k in numeric):
                continue
            try:
                trials.append(
                    optuna.trial.create_trial(
                        params={k: params[k] for k in numeric},
                        distributions=dict(numeric),
                        value=float(value),
                    )
                )
            except (ValueError, TypeError):
                continue
        if trials:
            return trials, source.name
    return [], None


def best_past_configs(
    sources: Sequence[SourceStudy],
    space: Mapping[str, BaseDistribution],
    model: str,
    k: int = N_ENQUEUED,
) -> list[dict[str, Any]]:
    """The ``k`` best past configurations for the enqueue baseline.

    Pooled over the sources of the same model family, ranked by each source's min-max
    normalised value (1 = that study's best), keeping only configurations that fit the
    target space as they are (:func:`fits_space`; missing parameters are never filled
    in), without duplicates. Ties break by source name, then trial order.
    """
    pool: list[tuple[float, str, int, dict[str, Any]]] = []
    for s in same_model(sources, model):
        lo, hi = float(s.values.min()), float(s.values.max())
        span = hi - lo
        for i, (params, value) in enumerate(zip(s.params, s.values, strict=True)):
            norm = (float(value) - lo) / span if span > 0 else 1.0
            pool.append((-norm, s.name, i, dict(params)))
    pool.sort(key=lambda row: row[:3])
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _, _, _, params in pool:
        if not fits_space(params, space):
            continue
        key = json.dumps(params, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        out.append(params)
        if len(out) == k:
            break
    return out


# --------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------


class SamplerUnavailable(RuntimeError):
    """A sampler cannot be built here (reported, never replaced by another)."""


class NoCompatibleSource(RuntimeError):
    """A warm-start baseline has nothing to start from on this task (the run is
    recorded as unavailable and left out of the summary, not as a failure)."""


def rl_supports_transfer() -> bool:
    """Whether this version of ``RLSampler`` takes ``source_studies``."""
    from optuna_rl_sampler import RLSampler

    return "source_studies" in inspect.signature(RLSampler.__init__).parameters


@dataclass
class SamplerSetup:
    """A sampler for one run, the configurations to enqueue first, and notes."""

    sampler: BaseSampler
    enqueue: list[dict[str, Any]]
    info: dict[str, Any]


def build_sampler(
    name: str,
    seed: int,
    n_trials: int,
    *,
    sources: Sequence[SourceStudy],
    space: Mapping[str, BaseDistribution],
    model: str,
) -> SamplerSetup:
    """Build sampler ``name`` for one run.

    Every sampler comes from :mod:`optuna_rl_sampler.sampler_registry`: ``rl-transfer``
    is its ``rl`` with the sources, ``rl-generic`` its ``rl-generic``, ``cmaes-warm``
    its ``cmaes`` warm-started from a source's trials, and ``enqueue5-tpe`` its ``tpe``
    after the enqueued configurations.

    Args:
        name: One of :data:`SAMPLERS`.
        seed: The run's seed (every sampler gets the same).
        n_trials: The run's budget (``RLSampler``'s ``budget``).
        sources: The sources of this held-out task (already leave-one-dataset-out, and
            negated for the misleading variant).
        space: The target's search space (for the warm-start baselines).
        model: The target's model family (the warm-start baselines use its sources).

    Raises:
        SamplerUnavailable: ``rl-transfer`` on an ``RLSampler`` without
            ``source_studies``.
        NoCompatibleSource: ``cmaes-warm`` and no same-model source fits the target.
    """
    info: dict[str, Any] = {}
    enqueue: list[dict[str, Any]] = []
    if name == "rl-transfer":
        if not rl_supports_transfer():
            raise SamplerUnavailable(
                "this RLSampler has no source_studies argument (transfer is not "
                "implemented in this version)"
            )
        sampler = make_sampler("rl", seed, budget=n_trials, source_studies=list(sources))
        info["n_sources"] = len(sources)
    elif name == "rl-generic":
        sampler = make_sampler("rl-generic", seed, budget=n_trials)
    elif name in ("tpe", "gp", "random"):
        sampler = make_sampler(name, seed)
    elif name == "cmaes-warm":
        trials, source = cmaes_source_trials(sources, space, model)
        if not trials:
            raise NoCompatibleSource(
                f"no source of model {model!r} has trials that fit the target's numeric parameters"
            )
        sampler = make_sampler("cmaes", seed, source_trials=trials)
        info.update(warm_source=source, n_source_trials=len(trials))
    elif name == "enqueue5-tpe":
        enqueue = best_past_configs(sources, space, model)
        sampler = make_sampler("tpe", seed)
        info["n_enqueued"] = len(enqueue)
    else:
        raise ValueError(f"Unknown transfer sampler {name!r}; known: {', '.join(SAMPLERS)}.")
    return SamplerSetup(sampler, enqueue, info)


# --------------------------------------------------------------------------------------
# Tasks and jobs
# --------------------------------------------------------------------------------------


class SurrogateObjective:
    """An Optuna objective on a surrogate task: suggest every parameter of the source's
    space, encode, snap, embed, and return the GP surrogate's value (higher is better)."""

    def __init__(self, task: Any, space: Mapping[str, BaseDistribution]) -> None:
        self.task = task
        self.space = dict(space)

    def value(self, params: Mapping[str, Any]) -> float:
        """The noiseless value of one configuration."""
        enc = self.task.encoder
        z = enc.embed(enc.snap(enc.encode(params)[None, :]))
        return float(self.task.f(z)[0])

    def __call__(self, trial: optuna.Trial) -> float:
        return self.value(suggest_all(trial, self.space))


@functools.lru_cache(maxsize=4)
def _cached_corpus(path: str, fp: str | None) -> tuple[SourceStudy, ...]:
    del fp  # part of the cache key only
    return tuple(load_corpus(path))


def corpus_entries(path: str) -> dict[str, SourceStudy]:
    """Task name -> corpus study (cached per process and file version)."""
    corpus = _cached_corpus(path, file_fingerprint(path))
    return dict(zip(task_names(corpus), corpus, strict=True))


@functools.lru_cache(maxsize=256)
def _cached_surrogate(path: str, fp: str | None, name: str) -> Any:
    from optuna_rl_sampler.training.surrogate_tasks import surrogate_task

    del fp
    return surrogate_task(corpus_entries(path)[name], seed=0)


def surrogate_for(path: str, name: str) -> Any:
    """The surrogate task of corpus study ``name`` (fitted once per process)."""
    return _cached_surrogate(path, file_fingerprint(path), name)


@dataclass(frozen=True)
class TransferJob:
    """One study: a held-out task, a seed, a sampler and a variant.

    ``kind`` is ``"surrogate"`` (the GP surrogate of corpus study ``task``) or ``"real"``
    (the real objective on dataset ``dataset``). Workers receive only these fields and
    read the corpus and data themselves.
    """

    kind: str
    variant: str
    task: str
    model: str
    dataset: str
    seed: int
    sampler: str
    n_trials: int
    corpus: str
    data_path: str = ""
    metric: str = REAL_METRIC
    settings: str = ""
    cost: float = 1.0

    @property
    def key(self) -> str:
        """The run's identity in ``runs.jsonl``: ``kind|variant|task|seed|sampler|
        n_trials``, plus a hash of the objective's settings for a real run."""
        key = f"{self.kind}|{self.variant}|{self.task}|{self.seed}|{self.sampler}|{self.n_trials}"
        if self.kind != "real":
            return key
        return key + "|" + hashlib.sha256(self.settings.encode()).hexdigest()[:8]


def job_variant(variant: str, sampler: str) -> str:
    """Samplers that do not read the sources run once: their variant is ``standard``."""
    return variant if sampler in USES_SOURCES else "standard"


def _sources_for(job: TransferJob) -> list[SourceStudy]:
    sources = lodo_sources(list(corpus_entries(job.corpus).values()), job.dataset)
    return misleading_sources(sources) if job.variant == "misleading" else sources


def real_objective(
    data_path: str, model: str, metric: str, settings: Mapping[str, Any]
) -> Callable[[optuna.Trial], float]:
    """The real objective, built as the corpus built its study of that dataset.

    ``settings`` (from the corpus study's attributes, see :func:`real_settings`): data
    ``format``, ``seed`` (user subsample, validation queries, model fitting),
    ``max_users`` and ``max_events_per_user`` (the user subsample),
    ``max_valid_queries``, and ``model_options`` (keyword arguments of the model family,
    with one thread). Data is loaded with :func:`optuna_rl_sampler.corpus.load_data` and
    subsampled with :func:`optuna_rl_sampler.corpus.subsample_users`, like the corpus.
    """
    from optuna_rl_sampler.corpus_data import load_data
    from optuna_rl_sampler.corpus_data import subsample_users
    from optuna_rl_sampler.recsys.objective import make_objective
    from optuna_rl_sampler.recsys.objective import resolve_model

    seed = int(settings.get("seed") or 0)
    data, _ = load_data(data_path, format=settings.get("format") or None, seed=seed)
    if settings.get("max_users") is not None or settings.get("max_events_per_user") is not None:
        data = subsample_users(
            data,
            settings.get("max_users"),
            seed=seed,
            max_events_per_user=settings.get("max_events_per_user"),
        )
    family = resolve_model(model)
    options = dict(settings.get("model_options") or {})
    if options:
        accepted = inspect.signature(type(family)).parameters
        if "num_threads" in accepted:
            options.setdefault("num_threads", 1)
        family = type(family)(**options)
    return make_objective(
        family,
        data,
        metric,
        prune=False,
        max_valid_queries=settings.get("max_valid_queries"),
        seed=seed,
    )


def real_settings(study: SourceStudy | None, max_valid_queries: int | None) -> dict[str, Any]:
    """The settings of :func:`real_objective` from a corpus study's attributes
    (defaults: seed 0, all users, :data:`REAL_MAX_VALID_QUERIES` queries, the family's
    own options); ``max_valid_queries`` overrides the study's."""
    attrs = dict(study.attrs) if study is not None else {}
    data = attrs.get("data") if isinstance(attrs.get("data"), dict) else {}
    settings = {
        "format": data.get("format") or attrs.get("format"),
        "seed": int(attrs.get("seed") or 0),
        "max_users": attrs.get("max_users"),
        "max_events_per_user": attrs.get("max_events_per_user"),
        "max_valid_queries": attrs.get("max_valid_queries", REAL_MAX_VALID_QUERIES),
        "model_options": dict(attrs.get("model_options") or {}),
    }
    if max_valid_queries is not None:
        settings["max_valid_queries"] = int(max_valid_queries)
    return settings


@functools.lru_cache(maxsize=2)
def _cached_real_objective(data_path: str, model: str, metric: str, settings: str) -> Any:
    return real_objective(data_path, model, metric, json.loads(settings))


def _target(job: TransferJob) -> tuple[Callable[[optuna.Trial], float], dict, float, float]:
    """The objective, the target search space and the normalisation range of a job."""
    entries = corpus_entries(job.corpus)
    if job.kind == "surrogate":
        task = surrogate_for(job.corpus, job.task)
        space = dict(entries[job.task].distributions)
        return SurrogateObjective(task, space), space, task.f_max, task.f_min
    objective = _cached_real_objective(job.data_path, job.model, job.metric, job.settings)
    corpus = list(entries.values())
    own = real_corpus_study(corpus, job.dataset, job.model, job.metric)
    if own is not None:
        hi, lo = float(own.values.max()), float(own.values.min())
        return objective, dict(own.distributions), hi, lo
    # No study of this dataset in the corpus: the family's space from another dataset;
    # the range is then the observed one (see summarise_real).
    same = sorted(same_model(corpus, job.model), key=lambda s: (-len(s), s.name))
    return objective, (dict(same[0].distributions) if same else {}), math.nan, math.nan


def real_corpus_study(
    corpus: Sequence[SourceStudy], dataset: str, model: str, metric: str
) -> SourceStudy | None:
    """The corpus study of ``model`` on ``dataset`` for ``metric`` (the most trials)."""
    found = [
        s
        for s in corpus
        if s.attrs.get("dataset") == dataset
        and s.attrs.get("model") == model
        and s.attrs.get("metric", metric) == metric
    ]
    return max(found, key=len) if found else None


def run_study(job: TransferJob) -> tuple[optuna.Study, dict[str, Any]]:
    """Run one job's study (raises on a setup error) and return it with run facts."""
    objective, space, hi, lo = _target(job)
    sources = _sources_for(job)
    setup = build_sampler(
        job.sampler, job.seed, job.n_trials, sources=sources, space=space, model=job.model
    )
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), sampler=setup.sampler, direction="maximize"
    )
    for params in setup.enqueue[: job.n_trials]:
        study.enqueue_trial(params)
    start, cpu_start = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=job.n_trials, catch=(Exception,))
    facts = {
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
        "best": hi,
        "worst": lo,
        "sampler_info": setup.info,
    }
    return study, facts


def run_transfer_job(job: TransferJob) -> dict[str, Any]:
    """Run one job and return its run record (never raises)."""
    record: dict[str, Any] = {
        "key": job.key,
        "kind": job.kind,
        "variant": job.variant,
        "task": job.task,
        "instance": "",
        "seed": job.seed,
        "sampler": job.sampler,
        "direction": "maximize",
        "best": None,
        "worst": None,
        "meta": {"suite": "transfer", "model": job.model, "dataset": job.dataset},
        "n_trials": job.n_trials,
        "values": None,
        "wall_s": None,
        "cpu_s": None,
        "n_failed_trials": None,
        "sampler_info": {},
        "proposal_sources": {},
        "proposal_weights": {},
        "unavailable": None,
        "error": None,
        "warnings": {},
    }
    with captured_messages() as messages:
        try:
            study, facts = run_study(job)
            record.update(facts)
            ran = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
            values = trial_values(ran)
            reasons: Counter[str] = Counter()
            used: Counter[str] = Counter()  # which weights chose (hand-offs included)
            for trial in ran:
                reason = trial.system_attrs.get(REASON_KEY)
                if isinstance(reason, dict):
                    reasons[str(reason.get("source"))] += 1
                    if "weights" in reason:
                        used[str(reason["weights"])] += 1
            record["values"] = values
            record["n_failed_trials"] = sum(v is None for v in values)
            record["proposal_sources"] = dict(reasons)
            record["proposal_weights"] = dict(used)
        except NoCompatibleSource as exc:
            record["unavailable"] = str(exc)
        except Exception as exc:  # a failed study is data, not a crash
            record["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    record["warnings"] = dict(messages.most_common(5))
    return record


def estimate_cost(job: TransferJob, n_params: int = 10) -> float:
    """Rough CPU seconds of a job (for ordering and the printed estimate); a real job
    adds its evaluations' cost, set in ``job.cost`` by :func:`real_jobs`."""
    scale = job.n_trials / 20
    if job.sampler == "gp":
        base = _GP_COST_PER_PARAM2 * n_params**2 * scale**1.5
    else:
        base = _COST_20.get(job.sampler, 0.3) * scale
    return base + (job.cost if job.kind == "real" else 0.0)


# --------------------------------------------------------------------------------------
# Real datasets
# --------------------------------------------------------------------------------------


def data_dir_from(arg: str | Path | None) -> Path:
    """``--data-dir``, else ``ORS_DATA_DIR``, else ``../shared/data`` beside the repo."""
    if arg:
        return Path(arg)
    env = os.environ.get("ORS_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def find_dataset(data_dir: Path, dataset: str) -> Path | None:
    """The folder of ``dataset`` under ``data_dir``: ``data_dir/<name>``, else
    ``data_dir/<domain>/<name>`` (the layout of ``../shared/data``)."""
    direct = data_dir / dataset
    if direct.exists():
        return direct
    for found in sorted(data_dir.glob(f"*/{Path(dataset).name}")):
        if found.is_dir():
            return found
    return None


def _is_synthetic(study: SourceStudy) -> bool:
    data = study.attrs.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    return source == "synthetic" or str(study.attrs.get("dataset", "")).startswith("synthetic:")


def eval_seconds(study: SourceStudy | None, dataset: str) -> float:
    """Expected seconds per real evaluation: the corpus study's mean trial time when the
    table recorded it, else :data:`REAL_DATASET_COST` (else 10)."""
    if study is not None and study.attrs.get("mean_trial_s") is not None:
        return float(study.attrs["mean_trial_s"])
    return REAL_DATASET_COST.get(dataset, 10.0)


def plan_real(
    corpus: Sequence[SourceStudy],
    data_dir: Path,
    datasets: Sequence[str] | None,
    model: str = REAL_MODEL,
    metric: str = REAL_METRIC,
    n_default: int = 3,
    max_valid_queries: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The real datasets to tune and a note for each one left out.

    With ``datasets=None``: the ``n_default`` cheapest (by :func:`eval_seconds`) of the
    datasets that the corpus has a non-synthetic study of ``model`` and ``metric`` of,
    and whose folder is in ``data_dir``. Each planned dataset carries the settings of its
    objective (:func:`real_settings`; ``max_valid_queries`` overrides the corpus's).
    """
    notes: dict[str, str] = {}
    names = {
        str(s.attrs["dataset"])
        for s in corpus
        if s.attrs.get("model") == model and s.attrs.get("metric", metric) == metric
    }
    own = {d: real_corpus_study(corpus, d, model, metric) for d in sorted(names)}
    if datasets is None:
        candidates = []
        for d, study in own.items():
            if study is not None and _is_synthetic(study):
                notes[d] = "synthetic (only data files are tuned for real)"
            else:
                candidates.append(d)
        candidates.sort(key=lambda d: (eval_seconds(own[d], d), d))
    else:
        candidates = list(datasets)
    plan: list[dict[str, Any]] = []
    for d in candidates:
        if datasets is None and len(plan) == n_default:
            notes.setdefault(d, f"not among the {n_default} cheapest (pass --real-datasets)")
            continue
        path = find_dataset(data_dir, d)
        if path is None:
            notes[d] = f"no folder for it under {str(data_dir)!r}"
            continue
        study = own.get(d)
        plan.append(
            {
                "dataset": d,
                "path": str(path),
                "corpus_study": study.name if study is not None else None,
                "settings": real_settings(study, max_valid_queries),
                "eval_s": eval_seconds(study, d),
            }
        )
    return plan, notes


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def completed_runs(path: Path, fp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Successful stored runs whose fingerprint matches their sampler's part of ``fp``
    (:func:`run_fingerprint`), by key (the latest wins). A weights entry stored with a
    sampler that reads no weights is ignored (older records carry one)."""
    done: dict[str, dict[str, Any]] = {}
    weighted = _sampler_weights()
    for r in read_jsonl(path):
        stored = dict(r.get("fingerprint") or {})
        sampler = str(r.get("sampler"))
        if sampler not in weighted:
            stored.pop("weights", None)
        if stored == run_fingerprint(fp, sampler) and r.get("error") is None and r.get("values"):
            done[r["key"]] = r
    return done


def execute_jobs(
    jobs: Sequence[TransferJob],
    workers: int,
    on_record: Callable[[dict[str, Any]], None],
    progress: bool = True,
) -> None:
    """Run jobs in ``workers`` spawned processes (0: in this process); hand each record
    to ``on_record`` as it finishes (:func:`benchmarks.harness.run_pool`)."""
    run_pool(run_transfer_job, jobs, workers, on_record, progress=progress)


def _task_table(
    corpus: Sequence[SourceStudy],
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Held-out task name -> its model, dataset, sources and warm-start inputs.

    A study with fewer than 5 configurations gets a ``too_small`` note instead (no
    surrogate can be fitted to it).
    """
    tasks: dict[str, dict[str, Any]] = {}
    for name, s in zip(task_names(corpus), corpus, strict=True):
        model, dataset = str(s.attrs["model"]), str(s.attrs["dataset"])
        if (models and model not in models) or (datasets and dataset not in datasets):
            continue
        if len(s) < 5:
            tasks[name] = {"too_small": f"{len(s)} configurations (a surrogate needs 5)"}
            continue
        sources = lodo_sources(corpus, dataset)
        trials, warm = cmaes_source_trials(sources, s.distributions, model)
        tasks[name] = {
            "model": model,
            "dataset": dataset,
            "metric": s.attrs.get("metric"),
            "n_trials_in_corpus": len(s),
            "n_params": len(s.distributions),
            "sources": [x.name for x in sources],
            "n_sources": len(sources),
            "n_sources_same_model": len(same_model(sources, model)),
            "cmaes_warm_source": warm,
            "cmaes_warm_trials": len(trials),
            "n_enqueued": len(best_past_configs(sources, s.distributions, model)),
        }
    return tasks


def _check_samplers(
    names: Sequence[str], corpus: Sequence[SourceStudy], example: str
) -> tuple[list[str], dict[str, str]]:
    """The samplers that can be built here (tried on task ``example``), and a reason
    for each that cannot."""
    target = dict(zip(task_names(corpus), corpus, strict=True))[example]
    model = str(target.attrs["model"])
    sources = lodo_sources(corpus, str(target.attrs["dataset"]))
    ok: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        if name not in SAMPLERS:
            raise ValueError(f"Unknown transfer sampler {name!r}; known: {', '.join(SAMPLERS)}.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                build_sampler(
                    name, 0, 20, sources=sources, space=target.distributions, model=model
                )
        except NoCompatibleSource:
            pass  # a fact about this task only; other tasks may have a source
        except SamplerUnavailable as exc:
            skipped[name] = f"unavailable: {exc}"
            continue
        except Exception as exc:  # reported to the user
            skipped[name] = f"unavailable: {type(exc).__name__}: {exc}"
            continue
        ok.append(name)
    return ok, skipped


def surrogate_jobs(
    tasks: Mapping[str, Mapping[str, Any]],
    corpus_path: str,
    plan: Mapping[str, Sequence[str]],
    seeds: Sequence[int],
    n_trials: int,
) -> list[TransferJob]:
    """One job per (variant, sampler, task, seed); ``plan`` maps a variant to its
    samplers. Samplers that read no sources run once (their variant is ``standard``)."""
    jobs = [
        TransferJob(
            kind="surrogate",
            variant=job_variant(variant, sampler),
            task=name,
            model=info["model"],
            dataset=info["dataset"],
            seed=seed,
            sampler=sampler,
            n_trials=n_trials,
            corpus=corpus_path,
        )
        for variant, samplers in plan.items()
        for sampler in samplers
        for name, info in tasks.items()
        for seed in seeds
    ]
    unique: dict[str, TransferJob] = {}
    for job in jobs:
        unique.setdefault(job.key, job)
    return list(unique.values())


@dataclass(frozen=True)
class RealOptions:
    """Options of the real evaluations (``--real``)."""

    data_dir: str | None = None
    datasets: Sequence[str] | None = None
    seeds: Sequence[int] = (0, 1, 2)
    samplers: Sequence[str] = REAL_SAMPLERS
    n_trials: int | None = None
    model: str = REAL_MODEL
    metric: str = REAL_METRIC
    max_valid_queries: int | None = None


def real_jobs(
    plan: Sequence[dict[str, Any]],
    corpus_path: str,
    samplers: Sequence[str],
    options: RealOptions,
    n_trials: int,
) -> list[TransferJob]:
    """One job per (real dataset, sampler, seed)."""
    return [
        TransferJob(
            kind="real",
            variant="real",
            task=f"{options.model}/{item['dataset']}",
            model=options.model,
            dataset=item["dataset"],
            seed=seed,
            sampler=sampler,
            n_trials=n_trials,
            corpus=corpus_path,
            data_path=item["path"],
            metric=options.metric,
            settings=json.dumps(item["settings"], sort_keys=True),
            cost=n_trials * item["eval_s"],
        )
        for item in plan
        for sampler in samplers
        for seed in options.seeds
    ]


@dataclass
class TransferPlan:
    """What one invocation of the transfer benchmark runs (:func:`plan_transfer`).

    Attributes:
        config: The run's settings as recorded under ``config`` in the results.
        tasks: Held-out task name -> its model, dataset, sources and warm-start inputs.
        skipped_tasks: Task name -> why it is left out (too few configurations).
        usable: The samplers that can be built here.
        skipped_samplers: Sampler name -> why it cannot be built here.
        real_datasets: The real datasets to tune (:func:`plan_real`).
        real_notes: Real dataset -> why it is left out.
        jobs: Every study of the invocation, those already stored included.
    """

    config: dict[str, Any]
    tasks: dict[str, dict[str, Any]]
    skipped_tasks: dict[str, str]
    usable: list[str]
    skipped_samplers: dict[str, str]
    real_datasets: list[dict[str, Any]]
    real_notes: dict[str, str]
    jobs: list[TransferJob]


def run_transfer(
    corpus_path: str | Path,
    *,
    samplers: Sequence[str] = SAMPLERS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_trials: int = 20,
    variants: Sequence[str] = VARIANTS,
    misleading_samplers: Sequence[str] = MISLEADING_SAMPLERS,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    workers: int = 2,
    out: Path | str = DEFAULT_OUT,
    real: RealOptions | None = None,
    fresh: bool = False,
    command: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the transfer benchmark (resuming from ``out/runs.jsonl``) and write results.

    Args:
        corpus_path: The corpus (see :func:`load_corpus`).
        samplers: Samplers of the standard variant.
        seeds: Seeds; every sampler gets the same ones.
        n_trials: Trials per study.
        variants: ``"standard"`` and/or ``"misleading"``.
        misleading_samplers: Samplers run on the misleading variant.
        models: Held-out model families to run (default all).
        datasets: Held-out datasets to run (default all).
        checkpoints: Trial counts reported in the summary.
        workers: Worker processes; 0 runs the studies in this process.
        out: Output folder.
        real: Also tune real datasets with these options (``None``: no real runs).
        fresh: Set the stored runs aside (renamed ``*.old.jsonl``) instead of resuming.
        command: The command line, recorded in the results.
        progress: Show a progress bar.
        log: Where notes go.

    Returns:
        The results dict (also written to ``out/results.json.gz``; with ``real``, the real
        runs go to ``out/real.json`` and their summary into the results too).
    """
    invocation = prepare_transfer(
        corpus_path,
        samplers=samplers,
        seeds=seeds,
        n_trials=n_trials,
        variants=variants,
        misleading_samplers=misleading_samplers,
        models=models,
        datasets=datasets,
        checkpoints=checkpoints,
        workers=workers,
        out=out,
        real=real,
        fresh=fresh,
        log=log,
    )
    return run_prepared(invocation, invocation.to_run, command=command, progress=progress, log=log)


@dataclass(frozen=True)
class TransferInvocation:
    """One invocation of the transfer benchmark (:func:`prepare_transfer`): its plan,
    what the stored runs already hold, and what is still to run.

    Attributes:
        plan: The tasks, samplers and jobs (:func:`plan_transfer`).
        fingerprint: What the runs depend on (:func:`fingerprint`).
        out: The output folder.
        real: The options of the real runs (``None``: none).
        done: The valid stored runs, by key (:func:`completed_runs`).
        to_run: The jobs still to run, most expensive first, with their estimated cost.
    """

    plan: TransferPlan
    fingerprint: dict[str, Any]
    out: Path
    real: RealOptions | None
    done: dict[str, dict[str, Any]]
    to_run: tuple[TransferJob, ...]


def prepare_transfer(
    corpus_path: str | Path,
    *,
    samplers: Sequence[str] = SAMPLERS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_trials: int = 20,
    variants: Sequence[str] = VARIANTS,
    misleading_samplers: Sequence[str] = MISLEADING_SAMPLERS,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    workers: int = 2,
    out: Path | str = DEFAULT_OUT,
    real: RealOptions | None = None,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> TransferInvocation:
    """Read the corpus, plan the run (:func:`plan_transfer`) and find which of its jobs
    the run files in ``out`` do not hold yet (set aside first when ``fresh``); the
    arguments are :func:`run_transfer`'s.

    Raises:
        CorpusError: The corpus is missing, or no held-out task matches.
        ValueError: An unknown variant or sampler.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus_path = str(Path(corpus_path).resolve())
    corpus = load_corpus(corpus_path)
    fp = fingerprint(corpus_path)
    if fresh:
        _set_aside(out / RUNS_FILE, out / REAL_RUNS_FILE)
    plan = plan_transfer(
        corpus,
        corpus_path,
        samplers=samplers,
        seeds=seeds,
        n_trials=n_trials,
        variants=variants,
        misleading_samplers=misleading_samplers,
        models=models,
        datasets=datasets,
        checkpoints=checkpoints,
        workers=workers,
        real=real,
        log=log,
    )
    done, to_run = pending_jobs(plan, fp, out, workers, log)
    return TransferInvocation(plan, fp, out, real, done, tuple(to_run))


def run_prepared(
    invocation: TransferInvocation,
    to_run: Sequence[TransferJob],
    *,
    command: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run ``to_run`` (the invocation's jobs not stored yet), then summarise every run of
    the plan and write ``results.json.gz`` (and ``real.json`` with real runs)."""
    plan, fp, out, real = invocation.plan, invocation.fingerprint, invocation.out, invocation.real
    records, elapsed = run_pending(
        plan, invocation.done, to_run, fp, out, plan.config["workers"], progress, log
    )
    results = transfer_results(plan, records, fp, command, len(to_run), elapsed)
    if real is not None:
        results["real"] = write_real_results(plan, real, records, results, out)
    data_dir = data_dir_from(real.data_dir) if real else None
    write_json(portable(results, data_dir), results_file(out))
    return results


def _set_aside(*files: Path) -> None:
    """Rename the stored run files ``<stem>.<time stamp>.old.jsonl`` (``--fresh``)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for f in files:
        if f.is_file():
            f.rename(f.with_name(f"{f.stem}.{stamp}.old.jsonl"))


def plan_transfer(
    corpus: Sequence[SourceStudy],
    corpus_path: str,
    *,
    samplers: Sequence[str],
    seeds: Sequence[int],
    n_trials: int,
    variants: Sequence[str],
    misleading_samplers: Sequence[str],
    models: Sequence[str] | None,
    datasets: Sequence[str] | None,
    checkpoints: Sequence[int],
    workers: int,
    real: RealOptions | None,
    log: Callable[[str], None],
) -> TransferPlan:
    """The held-out tasks, the samplers that can be built here (each left out with a
    note), the real datasets and every job of a run (arguments of :func:`run_transfer`).

    Raises:
        ValueError: An unknown variant or sampler.
        CorpusError: No held-out task matches ``models`` and ``datasets``.
    """
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"Unknown variant {v!r}; choose from {', '.join(VARIANTS)}.")
    tasks, skipped_tasks = held_out_tasks(corpus, models, datasets)
    plan = {v: list(samplers if v == "standard" else misleading_samplers) for v in variants}
    wanted = list(dict.fromkeys(s for names in plan.values() for s in names))
    if real is not None:
        wanted += [s for s in real.samplers if s not in wanted]
    usable, skipped = _check_samplers(wanted, corpus, next(iter(tasks)))
    for name, reason in skipped.items():
        log(f"note: sampler {name!r} is {reason}; it is reported as unavailable")
    plan = {v: [s for s in names if s in usable] for v, names in plan.items()}
    jobs = surrogate_jobs(tasks, corpus_path, plan, seeds, n_trials)
    real_plan: list[dict[str, Any]] = []
    real_notes: dict[str, str] = {}
    if real is not None:
        real_plan, real_notes = _plan_real_datasets(corpus, real, log)
        real_samplers = [s for s in real.samplers if s in usable]
        jobs += real_jobs(real_plan, corpus_path, real_samplers, real, real.n_trials or n_trials)
    config = {
        "corpus": corpus_path,
        "n_corpus_studies": len(corpus),
        "datasets_in_corpus": sorted({str(s.attrs["dataset"]) for s in corpus}),
        "models_in_corpus": sorted({str(s.attrs["model"]) for s in corpus}),
        "samplers": plan.get("standard", []),
        "requested_samplers": list(samplers),
        "variants": list(variants),
        "misleading_samplers": plan.get("misleading", []),
        "seeds": list(seeds),
        "n_trials": n_trials,
        "checkpoints": list(checkpoints),
        "workers": workers,
        "models": list(models) if models else None,
        "datasets": list(datasets) if datasets else None,
        "surrogate_seed": 0,
    }
    return TransferPlan(config, tasks, skipped_tasks, usable, skipped, real_plan, real_notes, jobs)


def held_out_tasks(
    corpus: Sequence[SourceStudy],
    models: Sequence[str] | None,
    datasets: Sequence[str] | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The held-out tasks of ``models`` and ``datasets`` (:func:`_task_table`), and a
    reason for each one left out as too small.

    Raises:
        CorpusError: No task is left.
    """
    tasks = _task_table(corpus, models, datasets)
    skipped_tasks = {n: t.pop("too_small") for n, t in list(tasks.items()) if "too_small" in t}
    for n in skipped_tasks:
        tasks.pop(n)
    if not tasks:
        raise CorpusError("No held-out task in the corpus matches --models / --datasets.")
    return tasks, skipped_tasks


def _plan_real_datasets(
    corpus: Sequence[SourceStudy], real: RealOptions, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The real datasets to tune (:func:`plan_real`) and why the others are left out,
    logged."""
    real_plan: list[dict[str, Any]] = []
    real_notes: dict[str, str] = {}
    data_dir = data_dir_from(real.data_dir)
    if data_dir.is_dir():
        real_plan, real_notes = plan_real(
            corpus,
            data_dir,
            real.datasets,
            real.model,
            real.metric,
            max_valid_queries=real.max_valid_queries,
        )
    else:
        real_notes["*"] = (
            f"no data folder at {str(data_dir)!r} (pass --data-dir or set ORS_DATA_DIR)"
        )
    for d, why in real_notes.items():
        log(f"note: real dataset {d}: {why}")
    log(f"real datasets: {', '.join(i['dataset'] for i in real_plan) or 'none'}")
    return real_plan, real_notes


def pending_jobs(
    plan: TransferPlan,
    fp: dict[str, Any],
    out: Path,
    workers: int,
    log: Callable[[str], None],
) -> tuple[dict[str, dict[str, Any]], list[TransferJob]]:
    """The runs of ``plan`` that ``out``'s run files already hold (by key), and the jobs
    still to run (most expensive first, with their estimated cost); logs how many.
    """
    runs_file, real_file = out / RUNS_FILE, out / REAL_RUNS_FILE
    done = {**completed_runs(runs_file, fp), **completed_runs(real_file, fp)}
    n_params = {name: t["n_params"] for name, t in plan.tasks.items()}
    to_run = [
        dataclasses.replace(j, cost=estimate_cost(j, n_params.get(j.task, 10)))
        for j in plan.jobs
        if j.key not in done
    ]
    to_run.sort(key=lambda j: (-j.cost, j.dataset, j.task, j.seed, j.sampler))
    log(
        f"{len(plan.jobs)} studies ({len(plan.tasks)} surrogate tasks, "
        f"{len(plan.real_datasets)} real datasets); {len(plan.jobs) - len(to_run)} already "
        f"in {out}, {len(to_run)} to run on {workers} worker(s): about "
        f"{sum(j.cost for j in to_run) / max(1, workers) / 60:.1f} min on an idle machine"
    )
    return done, to_run


def run_pending(
    plan: TransferPlan,
    done: Mapping[str, dict[str, Any]],
    to_run: Sequence[TransferJob],
    fp: dict[str, Any],
    out: Path,
    workers: int,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], float]:
    """Run ``to_run``, appending each record to ``out``'s run files as it finishes.

    Returns:
        Every job's record (stored or new, in the order of ``plan.jobs``) and the
        wall-clock seconds of the runs.
    """
    runs_file, real_file = out / RUNS_FILE, out / REAL_RUNS_FILE
    new: dict[str, dict[str, Any]] = {}

    def on_record(record: dict[str, Any]) -> None:
        record["fingerprint"] = run_fingerprint(fp, record["sampler"])
        new[record["key"]] = record
        append_jsonl(real_file if record["kind"] == "real" else runs_file, record)

    start = time.perf_counter()
    execute_jobs(to_run, workers, on_record, progress=progress)
    elapsed = time.perf_counter() - start
    records = [new.get(j.key) or done[j.key] for j in plan.jobs]
    _log_outcomes(records, log)
    return records, elapsed


def _log_outcomes(records: Sequence[dict[str, Any]], log: Callable[[str], None]) -> None:
    """Log how many runs had nothing to start from, per sampler, and the first failures."""
    unavailable = Counter(r["sampler"] for r in records if r.get("unavailable"))
    for sampler, n in unavailable.items():
        log(f"note: {sampler} had nothing to start from in {n} runs (left out)")
    for r in [r for r in records if r.get("error")][:5]:
        log(f"error: {r['sampler']} on {r['task']} seed {r['seed']}: {r['error'].splitlines()[0]}")


def transfer_results(
    plan: TransferPlan,
    records: Sequence[dict[str, Any]],
    fp: dict[str, Any],
    command: str | None,
    n_run_now: int,
    elapsed: float,
) -> dict[str, Any]:
    """The results dict of the surrogate runs (created now): the plan, every surrogate
    run with its regret curve, and their summary with the targets."""
    config = plan.config
    surrogate_records = [
        {**r, "regret": regret_curve(r)} for r in records if r["kind"] == "surrogate"
    ]
    unavailable = Counter(r["sampler"] for r in records if r.get("unavailable"))
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "transfer",
        "suite": "transfer",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "meta_training": meta_training_note(),
        "rl_transfer_supported": _safe(rl_supports_transfer),
        "config": config,
        "fingerprint": fp,
        "skipped_samplers": plan.skipped_samplers,
        "skipped_tasks": plan.skipped_tasks,
        "environment": environment(),
        "tasks": plan.tasks,
        "total_wall_s": elapsed,
        "n_run_now": n_run_now,
        "n_failed": sum(1 for r in records if r.get("error")),
        "n_unavailable_runs": dict(unavailable),
        "runs": surrogate_records,
        "summary": summarise_transfer(
            surrogate_records,
            config["samplers"],
            config["misleading_samplers"],
            config["n_trials"],
            config["checkpoints"],
        ),
    }


def write_real_results(
    plan: TransferPlan,
    real: RealOptions,
    records: Sequence[dict[str, Any]],
    results: Mapping[str, Any],
    out: Path,
) -> dict[str, Any]:
    """Summarise the real runs, write them to ``out/real.json`` and return that file's
    content without the runs (the results' ``real`` entry)."""
    config = results["config"]
    real_trials = real.n_trials or config["n_trials"]
    real_summary, real_records = summarise_real(
        [r for r in records if r["kind"] == "real"], real_trials, config["checkpoints"]
    )
    real_results = {
        "schema_version": SCHEMA_VERSION,
        "kind": "transfer-real",
        "created": results["created"],
        "command": results["command"],
        "config": {
            "model": real.model,
            "metric": real.metric,
            "samplers": [s for s in real.samplers if s in plan.usable],
            "seeds": list(real.seeds),
            "n_trials": real_trials,
            "datasets": plan.real_datasets,
            "data_dir": str(data_dir_from(real.data_dir)),
        },
        "notes": plan.real_notes,
        "fingerprint": results["fingerprint"],
        "runs": real_records,
        "summary": real_summary,
    }
    write_json(portable(real_results, data_dir_from(real.data_dir)), out / "real.json")
    return {k: v for k, v in real_results.items() if k != "runs"}


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # recorded, not raised
        return f"unknown ({type(exc).__name__}: {exc})"


# --------------------------------------------------------------------------------------
# Summary and targets
# --------------------------------------------------------------------------------------


def regret_curve(record: Mapping[str, Any]) -> list[float] | None:
    """A run's normalised regret after each trial: ``(best - best so far) / (best -
    worst)`` clipped to [0, 1] (1 before the first value), from its ``values``,
    ``best`` and ``worst``; ``None`` for a failed study or an unknown range."""
    values, hi, lo = record.get("values"), record.get("best"), record.get("worst")
    if values is None or hi is None or lo is None or not (math.isfinite(hi + lo)):
        return None
    curve = best_so_far(values, "maximize")
    return normalised_regret(curve, hi, lo).tolist()


def summarise_transfer(
    records: Sequence[dict[str, Any]],
    samplers: Sequence[str],
    misleading_samplers: Sequence[str],
    n_trials: int,
    checkpoints: Sequence[int] = CHECKPOINTS,
) -> dict[str, Any]:
    """The standard and misleading summaries (:func:`benchmarks.metrics.summarise`,
    grouped by model) and the issue's targets checked on them."""
    ok = [r for r in records if not r.get("error") and r.get("values") is not None]
    standard = [r for r in ok if r["variant"] == "standard"]
    # Misleading: source-reading samplers from the misleading runs, the others (which
    # ignore sources) from the standard runs of the same task and seed.
    misleading = [
        r
        for r in ok
        if r["sampler"] in misleading_samplers
        and r["variant"] == job_variant("misleading", r["sampler"])
    ]
    kwargs: dict[str, Any] = {
        "checkpoints": checkpoints,
        "group_by": "model",
        "within_at": n_trials,
        "reference": "tpe",
    }
    out: dict[str, Any] = {
        "standard": summarise(standard, list(samplers), n_trials, **kwargs) if standard else None,
        "misleading": summarise(misleading, list(misleading_samplers), n_trials, **kwargs)
        if misleading
        else None,
    }
    out["targets"] = check_targets(out["standard"], out["misleading"])
    return out


def summarise_real(
    records: Sequence[dict[str, Any]],
    n_trials: int,
    checkpoints: Sequence[int] = CHECKPOINTS,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Summary of the real runs, and the runs with their range and regret curve.

    A real task's range (``best``, ``worst``) is its corpus study's (same model,
    dataset and metric; stored in each run) widened by every evaluation of this run on
    that task; without a corpus study, the observed range alone.
    """
    runs = [dict(r) for r in records]
    ok = [r for r in runs if not r.get("error") and r.get("values") is not None]
    if not ok:
        return None, runs
    bounds: dict[str, dict[str, Any]] = {}
    for task in dict.fromkeys(r["task"] for r in ok):
        mine = [r for r in ok if r["task"] == task]
        vals = [v for r in mine for v in r["values"] if v is not None]
        hi, lo = mine[0].get("best"), mine[0].get("worst")
        known = hi is not None and lo is not None and math.isfinite(hi + lo)
        bounds[task] = {
            "best": max([*vals, hi] if known else vals, default=math.nan),
            "worst": min([*vals, lo] if known else vals, default=math.nan),
            "corpus_best": hi if known else None,
            "corpus_worst": lo if known else None,
            "source": "corpus+observed" if known else "observed",
        }
    for r in runs:
        if r["task"] in bounds:
            r["best"], r["worst"] = bounds[r["task"]]["best"], bounds[r["task"]]["worst"]
        r["regret"] = regret_curve(r)
    samplers = [s for s in SAMPLERS if any(r["sampler"] == s for r in ok)]
    summary = summarise(
        ok,
        samplers,
        n_trials,
        checkpoints=checkpoints,
        group_by="dataset",
        within_at=n_trials,
        reference="tpe",
    )
    summary["normalisation"] = bounds
    return summary, runs


def _stat(summary: Mapping[str, Any] | None, metric: str, sampler: str, t: int) -> float | None:
    if not summary:
        return None
    entry = summary.get(metric, {}).get(sampler, {}).get("all", {}).get(str(t))
    return None if not entry or entry.get("mean") is None else float(entry["mean"])


#: Relative distance from a target's bound under which the summary flags a close call.
_CLOSE_CALL = 0.01


def check_targets(
    standard: Mapping[str, Any] | None, misleading: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The issue's targets, each PASS, FAIL or N/A (a sampler or variant was not run).

    1-2. at 5 and 10 trials ``rl-transfer`` has the best (lowest) average rank;
    3. ``rl-transfer``'s regret@10 <= 0.5 x ``gp``'s;
    4-5. ``rl-transfer``'s regret@10 <= ``cmaes-warm``'s and <= ``enqueue5-tpe``'s;
    6. misleading sources: ``rl-transfer``'s regret@20 <= 1.1 x ``rl-generic``'s;
    7. ``rl-generic``'s regret@5 <= ``random``'s.
    """
    out = [_rank_target(standard, t) for t in (5, 10)]
    gp = _stat(standard, "regret", "gp", 10)
    out.append(
        _verdict(
            "regret@10 vs GP",
            "rl-transfer's regret@10 <= 0.5 x gp's",
            _stat(standard, "regret", "rl-transfer", 10),
            None if gp is None else 0.5 * gp,
            "needs rl-transfer and gp",
        )
    )
    for base in ("cmaes-warm", "enqueue5-tpe"):
        out.append(
            _verdict(
                f"regret@10 vs {base}",
                f"rl-transfer's regret@10 <= {base}'s",
                _stat(standard, "regret", "rl-transfer", 10),
                _stat(standard, "regret", base, 10),
                f"needs rl-transfer and {base}",
            )
        )
    generic20 = _stat(misleading, "regret", "rl-generic", 20)
    out.append(
        _verdict(
            "misleading regret@20",
            "with negated sources, rl-transfer's regret@20 <= 1.1 x rl-generic's",
            _stat(misleading, "regret", "rl-transfer", 20),
            None if generic20 is None else 1.1 * generic20,
            "needs the misleading variant with rl-transfer and rl-generic, 20 trials",
        )
    )
    out.append(
        _verdict(
            "generic regret@5 vs random",
            "rl-generic's regret@5 <= random's",
            _stat(standard, "regret", "rl-generic", 5),
            _stat(standard, "regret", "random", 5),
            "needs rl-generic and random",
        )
    )
    return out


def _rank_target(standard: Mapping[str, Any] | None, t: int) -> dict[str, Any]:
    """Target "best rank @t": ``rl-transfer``'s average rank at ``t`` trials against the
    best of the other samplers'."""
    mine = _stat(standard, "rank", "rl-transfer", t)
    others = [
        (s, _stat(standard, "rank", s, t))
        for s in (standard or {}).get("samplers", [])
        if s != "rl-transfer"
    ]
    known = [(s, v) for s, v in others if v is not None]
    best_other = min(known, key=lambda x: x[1]) if known else None
    return _verdict(
        f"best rank @{t}",
        f"rl-transfer's average rank at {t} trials <= every other sampler's"
        + (f" (best other: {best_other[0]})" if best_other else ""),
        mine,
        best_other[1] if best_other else None,
        "needs rl-transfer and at least one other sampler",
    )


def _verdict(
    name: str, text: str, value: float | None, bound: float | None, why: str
) -> dict[str, Any]:
    """One target's verdict: PASS when ``value <= bound``, FAIL otherwise, N/A (noting
    ``why``) when either is unknown; a verdict within :data:`_CLOSE_CALL` of the bound
    says so in its note."""
    note = ""
    if value is None or bound is None:
        status, note = "N/A", why
    else:
        status = "PASS" if value <= bound + 1e-12 else "FAIL"
        if abs(value - bound) <= _CLOSE_CALL * abs(bound):
            # A verdict that a rounding-sized change would flip says so.
            note = f"within {_CLOSE_CALL:.0%} of the bound: {value:.5f} against {bound:.5f}"
    return {
        "target": name,
        "condition": text,
        "value": value,
        "bound": bound,
        "status": status,
        "note": note,
    }


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def write_transfer_report(results: dict[str, Any], folder: Path | str) -> list[Path]:
    """Write ``summary.md`` and the plots of a transfer ``results.json.gz``."""
    from benchmarks.report import plot_curves

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    summary = results["summary"]
    if summary.get("standard"):
        view = {"suite": "transfer (leave one dataset out)", "summary": summary["standard"]}
        paths.append(plot_curves(view, folder / "regret_curves.png", metric="regret"))
        paths.append(plot_curves(view, folder / "rank_curves.png", metric="rank"))
    if summary.get("misleading"):
        view = {"suite": "transfer, misleading sources", "summary": summary["misleading"]}
        paths.append(plot_curves(view, folder / "misleading_regret_curves.png", "regret"))
    md = folder / "summary.md"
    md.write_text(transfer_markdown(results))
    return [*paths, md]


def transfer_markdown(results: Mapping[str, Any]) -> str:
    """The transfer benchmark's ``summary.md``: the run, the targets, the standard and
    misleading tables, the hand-offs, the real runs, the tasks and the time."""
    s = results["summary"]
    std = s.get("standard") or {}
    mis = s.get("misleading") or {}
    tasks = results.get("tasks", {})
    out = _intro_lines(results)
    out += _targets_lines(s.get("targets", []))
    if std:
        out += _standard_lines(std)
    if mis:
        out += _misleading_lines(mis, std)
    out += _handoff_lines(results.get("runs", []))
    real = results.get("real")
    if real:
        out += _real_markdown(real)
    if tasks:
        out += _tasks_lines(tasks)
    if std:
        out += _time_lines(std)
    return "\n".join(out)


def _intro_lines(results: Mapping[str, Any]) -> list[str]:
    """Title, command, corpus and scale of the run, and its notes (skipped samplers and
    tasks, runs with nothing to start from)."""
    cfg = results["config"]
    tasks = results.get("tasks", {})
    created = results.get("created", "?")
    out = [
        "# Transfer benchmark: leave one dataset out",
        "",
        f"Created {created} (date {created[:10]}). Command:",
        "",
        "```bash",
        results.get("command") or "python -m benchmarks run --suite transfer",
        "```",
        "",
        f"Corpus `{_shown_path(cfg['corpus'])}` (sha256 {results['fingerprint'].get('corpus')}): "
        f"{cfg['n_corpus_studies']} studies, datasets {', '.join(cfg['datasets_in_corpus'])}; "
        f"models {', '.join(cfg['models_in_corpus'])}. {len(tasks)} held-out surrogate "
        f"tasks x {len(cfg['seeds'])} seeds x {cfg['n_trials']} trials; variants "
        f"{', '.join(cfg['variants'])}. Wall-clock of this invocation "
        f"{results.get('total_wall_s', 0) / 60:.1f} min on {cfg['workers']} worker(s) "
        f"({results.get('n_run_now', 0)} studies run now, the rest resumed). "
        f"Failed studies: {results.get('n_failed', 0)}.",
        "",
        f"- Meta-training of the shipped weights: {results.get('meta_training')}. The "
        "held-out tasks are never used for meta-training (`meta_training` in results.json.gz).",
        f"- `RLSampler` takes `source_studies`: {results.get('rl_transfer_supported')}.",
    ]
    for name, reason in results.get("skipped_samplers", {}).items():
        out.append(f"- Sampler `{name}`: {reason}.")
    for name, reason in results.get("skipped_tasks", {}).items():
        out.append(f"- Task `{name}` left out: {reason}.")
    for name, n in results.get("n_unavailable_runs", {}).items():
        out.append(f"- `{name}` had nothing to start from in {n} runs; they are left out.")
    return out


def _targets_lines(targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The targets table (:func:`check_targets`) and how the numbers are read."""
    out = ["", "## Targets (issue 6)", ""]
    rows = [
        [
            t["target"],
            t["condition"],
            _fmt(t["value"]),
            _fmt(t["bound"]),
            f"**{t['status']}**" + (f" ({t['note']})" if t["note"] else ""),
        ]
        for t in targets
    ]
    out += _table(["target", "condition", "measured", "bound", "result"], rows) + [""]
    out += [
        "All numbers are mean ± standard error over runs (task x seed). Normalised regret "
        "is (f_max - best so far) / (f_max - f_min), clipped to [0, 1], with f_max and "
        "f_min the range of the task's surrogate over all known evaluations.",
        "",
    ]
    return out


def _standard_lines(std: Mapping[str, Any]) -> list[str]:
    """Normalised regret per group and checkpoint, then the average ranks at 5, 10 and
    20 trials, of the standard variant."""
    cps = [str(c) for c in std["checkpoints"]]
    samplers = std["samplers"]
    out: list[str] = []
    for g in std["groups"]:
        out += [f"## Normalised regret ({_panel_title(g)})", ""]
        rows = [
            [m] + [_mean_se_cell(std["regret"].get(m, {}).get(g, {}).get(c)) for c in cps]
            for m in samplers
        ]
        out += _table(["sampler", *[f"t={c}" for c in cps]], rows) + [""]
    rank_cps = [c for c in cps if int(c) in (5, 10, 20)] or cps[-1:]
    out += ["## Average rank per (task, seed) (1 = best)", ""]
    header = ["sampler"] + [f"{_panel_title(g)} t={c}" for g in std["groups"] for c in rank_cps]
    rows = [
        [m]
        + [
            _mean_se_cell(std["rank"].get(m, {}).get(g, {}).get(c), 2)
            for g in std["groups"]
            for c in rank_cps
        ]
        for m in samplers
    ]
    return out + _table(header, rows) + [""]


def _misleading_lines(mis: Mapping[str, Any], std: Mapping[str, Any]) -> list[str]:
    """Regret with negated sources, with ``rl-transfer`` on the true sources last."""
    cps = [str(c) for c in mis["checkpoints"]]
    out = [
        "## Misleading sources (every source's values negated)",
        "",
        "`rl-transfer` with negated sources against `rl-generic` (which reads no "
        "sources: the same runs as above); for reference `rl-transfer` with the true "
        "sources in the last row.",
        "",
    ]
    rows = [
        [f"{m} (misleading)" if m in USES_SOURCES else m]
        + [_mean_se_cell(mis["regret"].get(m, {}).get("all", {}).get(c)) for c in cps]
        for m in mis["samplers"]
    ]
    if "rl-transfer" in std.get("regret", {}):
        rows.append(
            ["rl-transfer (true sources)"]
            + [_mean_se_cell(std["regret"]["rl-transfer"]["all"].get(c)) for c in cps]
        )
    return out + _table(["sampler", *[f"t={c}" for c in cps]], rows) + [""]


def _tasks_lines(tasks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One row per held-out task: its model, dataset, size, sources and warm starts."""
    out = [
        "## Held-out tasks and their sources",
        "",
        "Sources: corpus studies of the other datasets (all models); the sampler's "
        "own matching decides what transfers. `cmaes-warm` takes the trials of the "
        "same-model source with the most trials; `enqueue5-tpe` the best past "
        "configurations of same-model sources that fit as they are.",
        "",
    ]
    rows = [
        [
            f"`{n}`",
            t["model"],
            t["dataset"],
            str(t["n_params"]),
            str(t["n_sources"]),
            str(t["n_sources_same_model"]),
            f"`{t['cmaes_warm_source']}` ({t['cmaes_warm_trials']})"
            if t["cmaes_warm_source"]
            else "-",
            str(t["n_enqueued"]),
        ]
        for n, t in tasks.items()
    ]
    header = [
        "task",
        "model",
        "dataset",
        "params",
        "sources",
        "same model",
        "cmaes-warm source (trials)",
        "enqueued",
    ]
    return out + _table(header, rows) + [""]


def _time_lines(std: Mapping[str, Any]) -> list[str]:
    """Median wall-clock (CPU) seconds per study and sampler."""
    out = [
        "## Time per study (s)",
        "",
        "Median wall-clock (median CPU) per study, one thread per worker.",
        "",
    ]
    rows = []
    for m in std["samplers"]:
        e = std["wall_s"].get(m, {}).get("all")
        c = std["cpu_s"].get(m, {}).get("all")
        rows.append([m, f"{_fmt(e['median'], 2)} ({_fmt(c['median'], 2)})" if e and c else "-"])
    return out + _table(["sampler", "all tasks"], rows) + [""]


def _handoff_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Which weights chose ``rl-transfer``'s trials, per variant (the hand-off to the
    generic weights while the sources are distrusted shows here)."""
    shares = []
    for variant in VARIANTS:
        used: Counter[str] = Counter()
        for r in runs:
            if r.get("sampler") == "rl-transfer" and r.get("variant") == variant:
                used.update(r.get("proposal_weights") or {})
        total = sum(used.values())
        if total:
            parts = ", ".join(f"`{k}` {v / total:.0%}" for k, v in used.most_common())
            shares.append(f"- {variant} sources: {parts} of {total} proposals.")
    if not shares:
        return []
    from optuna_rl_sampler.proposal import HANDOFF_TRUST

    return [
        "Weights that made `rl-transfer`'s proposals (the shipped transfer weights, or the "
        f"generic ones while the sources held under {HANDOFF_TRUST:g} of the weight after "
        "the prior-startup phase):",
        "",
        *shares,
        "",
    ]


def _real_markdown(real: Mapping[str, Any]) -> list[str]:
    """The real evaluations: datasets and their settings, regret and rank per sampler,
    and regret per dataset at the last checkpoint."""
    cfg = real["config"]
    out = [
        f"## Real evaluations ({cfg['model']}, {cfg['metric']})",
        "",
        f"{len(cfg['datasets'])} datasets x {len(cfg['seeds'])} seeds x {cfg['n_trials']} "
        "trials of the real objective (`make_objective(..., prune=False)`, built with the "
        "settings of the dataset's corpus study: format, seed, user subsample, validation "
        "queries, model options), sources = corpus minus that dataset. Regret normalised by "
        "the corpus study's range widened by every evaluation of this run.",
        "",
    ]
    for d in cfg["datasets"]:
        out.append(
            f"- `{d['dataset']}`: `{Path(d['path']).parent.name}/{Path(d['path']).name}` of the "
            "data folder, corpus study "
            f"{d['corpus_study'] or 'none (observed range only)'}, about {d['eval_s']:.1f} s "
            f"per evaluation; objective settings `{json.dumps(d['settings'], sort_keys=True)}`"
        )
    for d, why in real.get("notes", {}).items():
        out.append(f"- left out `{d}`: {why}")
    out.append("")
    summary = real.get("summary")
    if not summary:
        return [*out, "No completed real runs.", ""]
    cps = [str(c) for c in summary["checkpoints"]]
    rows = [
        [m]
        + [_mean_se_cell(summary["regret"].get(m, {}).get("all", {}).get(c)) for c in cps]
        + [_mean_se_cell(summary["rank"].get(m, {}).get("all", {}).get(cps[-1]), 2)]
        for m in summary["samplers"]
    ]
    out += _table(["sampler", *[f"regret t={c}" for c in cps], f"rank t={cps[-1]}"], rows) + [""]
    groups = [g for g in summary["groups"] if g != "all"]
    if groups:
        rows = [
            [m]
            + [
                _fmt((summary["regret"].get(m, {}).get(g, {}).get(cps[-1]) or {}).get("mean"))
                for g in groups
            ]
            for m in summary["samplers"]
        ]
        out += [f"Regret at t={cps[-1]} per dataset:", ""]
        out += _table(["sampler", *[g.split("=", 1)[1] for g in groups]], rows) + [""]
    return out


def portable(obj: Any, data_dir: str | Path | None) -> Any:
    """``obj`` with every string path under the data folder written ``$ORS_DATA_DIR/...``
    and every path under the repository made relative to it (reports name no machine)."""
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    data = str(data_dir) if data_dir is not None else None

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            if data and (value == data or value.startswith(data + os.sep)):
                return "$ORS_DATA_DIR" + value[len(data) :]
            return value[len(root) :] if value.startswith(root) else value
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return fix(obj)


def _shown_path(path: str) -> str:
    """``path`` relative to the repository when inside it (reports name no machine)."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
