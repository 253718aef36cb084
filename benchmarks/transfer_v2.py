"""Transfer benchmark v2: held-out tasks, their own surrogates, hostile sources.

``python -m benchmarks run --suite transfer`` asks whether past studies make a new
study better sooner, and whether past studies that mislead cost anything. It reads the
corpus ``recsys-corpus-v2`` (``corpus/DATASHEET.md``): for every (model family, dataset)
a space-filling Sobol *design* of the task's own seed, two *traces* (past studies run
with TPE, GP, Random or RLSampler without sources, each with its own seed), a *shifted*
study (another sample of the same data) and, for real datasets, a *history* study (the
oldest 75% of the events: last month's study).

Tasks. A task is one (model family, dataset). Its objective is a GP surrogate fitted to
the task's **own** evaluations only (its design and its traces), so no source
configuration is a training point of the target's surrogate unless it was also
evaluated on the target. Regret is measured against the best of the surrogate's dense
sample, the task's evaluations and every run, two ways: by the value range (``range``)
and by ``best - median`` of the surrogate over uniform random configurations
(``median``), so that one catastrophic trial counts (a regret of 1 is as bad as a
random configuration's median, 2 twice as bad). ``--real`` adds runs on the real
LightGBM objective of the real datasets, built as the corpus built them.

Dev and test. The datasets are split once, in ``benchmarks/splits/transfer-v2.json``,
frozen before any sampler change: decisions are made on ``--split dev``; ``--split
test`` is run once at the end of a change for the published figures.

Scenarios (the sources a target gets; never any study of the target's own dataset
except where the scenario says so):

==============  =======================================================================
``none``        no sources: the samplers that read none run here once
``honest``      every past study of the other datasets (traces, shifted and history
                studies; every model family: the sampler's matching decides)
``backwards``   the honest sources with their values negated (their best is the
                target's worst region; the random-search traces cover the space)
``shuffled``    the honest sources with their values permuted within each study
``shifted``     one study of the same model on another sample of the same data
``one-good``    one honest same-model source among four backwards ones
``one-bad``     a single backwards source: the ``shifted`` study with its values negated
``refresh``     real datasets only: the single study of the oldest 75% of the events
==============  =======================================================================

Samplers: ``rl-transfer`` (RLSampler with the sources), ``rl-generic`` (RLSampler,
``source_studies=None``), ``tpe`` (multivariate), ``gp``, ``random``, ``cmaes-warm``
(CMA-ES with ``source_trials``), ``enqueue5-tpe`` and ``enqueue5-gp`` (the 5 best past
configurations of same-model sources enqueued, then TPE or GP) and ``enqueue3-tpe``
(data refresh: last month's 3 best, then TPE). Each run is 20 trials, 5 seeds.

Every run is appended to ``runs.jsonl`` as it finishes; an invocation skips the runs
already there with the same fingerprint (corpus file, and for RLSampler its weights and
code, docstrings and comments left out), so an interrupted run resumes.
``runs.jsonl.gz`` (committed) holds the runs of the current fingerprints (those of an
older RLSampler stay in git history);
``summary.json``, ``summary.md`` and one plot per scenario are made from it by
:mod:`benchmarks.transfer_v2_report`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import subprocess
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from benchmarks.harness import append_jsonl
from benchmarks.harness import captured_messages
from benchmarks.harness import environment
from benchmarks.harness import read_jsonl
from benchmarks.harness import run_pool
from benchmarks.harness import trial_values
from benchmarks.transfer import NoCompatibleSource
from benchmarks.transfer import SurrogateObjective
from benchmarks.transfer import best_past_configs
from benchmarks.transfer import build_sampler
from benchmarks.transfer import code_fingerprint
from benchmarks.transfer import data_dir_from
from benchmarks.transfer import file_fingerprint
from benchmarks.transfer import find_dataset
from benchmarks.transfer import misleading_sources
from benchmarks.transfer import real_objective
from benchmarks.transfer import real_settings
from benchmarks.transfer import same_model
from optuna_rl_sampler import sampler_registry
from optuna_rl_sampler.policy import DEFAULT_WEIGHTS
from optuna_rl_sampler.policy import GENERIC_WEIGHTS
from optuna_rl_sampler.policy import default_weights_path
from optuna_rl_sampler.reasons import REASON_KEY
from optuna_rl_sampler.sources import SourceStudy

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "corpus" / "recsys-corpus-v2.parquet"
SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "transfer-v2.json"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "transfer-v2"
#: Where ``--quick`` smoke runs write (never into benchmarks/results).
QUICK_OUT = Path(tempfile.gettempdir()) / "ors-transfer-v2-quick"
SCHEMA_VERSION = 2

SCENARIOS: tuple[str, ...] = (
    "none",
    "honest",
    "backwards",
    "shuffled",
    "shifted",
    "one-good",
    "one-bad",
    "refresh",
)
#: The samplers of each scenario: those that read no source run under ``none`` only.
SCENARIO_SAMPLERS: dict[str, tuple[str, ...]] = {
    "none": ("rl-generic", "tpe", "gp", "random"),
    "honest": ("rl-transfer", "enqueue5-tpe", "enqueue5-gp", "cmaes-warm"),
    "backwards": ("rl-transfer", "enqueue5-tpe", "cmaes-warm"),
    "shuffled": ("rl-transfer", "enqueue5-tpe", "cmaes-warm"),
    "shifted": ("rl-transfer", "enqueue5-tpe", "cmaes-warm"),
    "one-good": ("rl-transfer", "enqueue5-tpe", "cmaes-warm"),
    "one-bad": ("rl-transfer", "enqueue5-tpe", "cmaes-warm"),
    "refresh": ("rl-transfer", "enqueue3-tpe", "enqueue5-tpe"),
}
#: Samplers that run only when named with ``--samplers``, and their scenarios:
#: ``rl-finetuned`` is RLSampler with the weights of :data:`FINETUNED_WEIGHTS`
#: (``optuna-rl finetune`` on the dev datasets' past studies; see benchmarks/README.md).
OPTIONAL_SAMPLERS: dict[str, tuple[str, ...]] = {"rl-finetuned": ("honest", "backwards")}
FINETUNED_WEIGHTS = DEFAULT_OUT.parent / "finetune" / "finetuned-dev.safetensors"
SAMPLERS: tuple[str, ...] = tuple(
    dict.fromkeys([*(s for v in SCENARIO_SAMPLERS.values() for s in v), *OPTIONAL_SAMPLERS])
)
#: The real runs: transfer with honest sources and with last month's study (the
#: surrogate misjudges last month's configurations; see benchmarks/refresh_check.py),
#: and what a user would run instead.
REAL_SAMPLERS: tuple[tuple[str, str], ...] = (
    ("honest", "rl-transfer"),
    ("honest", "enqueue5-tpe"),
    ("refresh", "rl-transfer"),
    ("refresh", "enqueue3-tpe"),
    ("none", "rl-generic"),
    ("none", "tpe"),
    ("none", "random"),
)
REAL_MODEL = "lightgbm-ranker"
REAL_METRIC = "ndcg@10"
CHECKPOINTS: tuple[int, ...] = (1, 3, 5, 10, 20)
#: Uniform random configurations whose surrogate median is the ``median`` reference.
MEDIAN_SAMPLE = 2048
#: Files whose code decides what RLSampler proposes (part of its runs' fingerprint, by
#: :func:`~benchmarks.transfer.code_fingerprint`: docstrings and comments do not count).
_RL_CODE = (
    "sampler.py",
    "proposal.py",
    "meta_prior.py",
    "features.py",
    "candidates.py",
    "encoding.py",
    "policy.py",
    "sources.py",
    "surrogate.py",
    "objectives.py",
    "search_space.py",
    "evidence.py",
    "fallbacks.py",
    "_sobol.py",
)


# --------------------------------------------------------------------------------------
# The corpus and its tasks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastStudy:
    """One study of the corpus: its role, its task's model family and dataset key."""

    role: str  # "design", "trace", "shifted" or "history"
    model: str
    key: str
    study: SourceStudy

    @property
    def task(self) -> str:
        return f"{self.model}/{self.key}"


def role_of(name: str) -> str:
    """The role of a v2 study, from its name (``corpus/build.py`` names them)."""
    if name.endswith("/design"):
        return "design"
    if "/shifted/" in name:
        return "shifted"
    if "/history-" in name:
        return "history"
    return "trace"


def load_corpus(path: str | Path) -> list[PastStudy]:
    """The corpus's single-objective studies, with their roles (cached per file)."""
    return list(_cached_corpus(str(path), file_fingerprint(path)))


@functools.lru_cache(maxsize=2)
def _cached_corpus(path: str, fp: str | None) -> tuple[PastStudy, ...]:
    from optuna_rl_sampler.corpus import read_parquet
    from optuna_rl_sampler.corpus import to_sources

    del fp  # part of the cache key only
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"corpus {path!r} does not exist; build it with corpus/build.sh and "
            "`python corpus/build.py --export`, or pass --corpus PATH."
        )
    out = []
    for study in to_sources(read_parquet(path)):
        model, key = study.name.split("/")[:2]
        out.append(PastStudy(role_of(study.name), model, key, study))
    return tuple(out)


def read_split(path: str | Path = SPLIT_FILE) -> dict[str, str]:
    """Dataset key -> ``"dev"`` or ``"test"``, from the frozen split file."""
    data = json.loads(Path(path).read_text())
    return {**{k: "dev" for k in data["dev"]}, **{k: "test" for k in data["test"]}}


def split_commit(path: str | Path = SPLIT_FILE) -> str | None:
    """The commit that froze the split file (its first commit), if git knows it."""
    try:
        out = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%h", "--", str(path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[-1] if out else None


def task_names(corpus: Sequence[PastStudy], split: Mapping[str, str], which: str) -> list[str]:
    """Tasks with a design and a trace, whose dataset is in split ``which`` (or ``all``)."""
    roles: dict[str, set[str]] = {}
    for p in corpus:
        roles.setdefault(p.task, set()).add(p.role)
    keep = [t for t, r in roles.items() if {"design", "trace"} <= r]
    if which != "all":
        keep = [t for t in keep if split.get(t.split("/", 1)[1]) == which]
    return sorted(keep)


def own_evaluations(corpus: Sequence[PastStudy], task: str) -> SourceStudy:
    """Every evaluation of ``task`` itself: its design and its traces, as one study."""
    mine = [p.study for p in corpus if p.task == task and p.role in ("design", "trace")]
    if not mine:
        raise KeyError(f"task {task!r} has no design or trace in the corpus")
    params = [dict(x) for s in mine for x in s.params]
    values = np.concatenate([s.values for s in mine])
    first = mine[0]
    return SourceStudy(f"{task}/own", first.distributions, params, values, dict(first.attrs))


@dataclass(frozen=True)
class Target:
    """A task's objective and its reference values (higher is better)."""

    objective: Any
    space: dict[str, Any]
    best: float
    worst: float
    median: float


@functools.lru_cache(maxsize=64)
def surrogate_target(corpus_path: str, task: str) -> Target:
    """The GP surrogate of ``task``'s own evaluations, with its reference values."""
    from optuna_rl_sampler.training.surrogate_tasks import surrogate_task

    own = own_evaluations(load_corpus(corpus_path), task)
    sur = surrogate_task(own, seed=0)
    rng = np.random.default_rng(0)
    sample = sur.evaluate(rng.random((MEDIAN_SAMPLE, sur.encoder.n_params)), rng)
    return Target(
        SurrogateObjective(sur, own.distributions),
        dict(own.distributions),
        float(sur.f_max),
        float(sur.f_min),
        float(np.median(sample)),
    )


def real_target(corpus_path: str, task: str, data_dir: str) -> Target:
    """The real objective of ``task``'s dataset, as the corpus built its design study.

    The references are the task's own evaluations in the corpus (same data, split,
    validation queries and model options): best, worst and the median of its design.
    """
    corpus = load_corpus(corpus_path)
    model, key = task.split("/", 1)
    design = next(p.study for p in corpus if p.task == task and p.role == "design")
    own = own_evaluations(corpus, task)
    folder = find_dataset(Path(data_dir), key)
    if folder is None:
        raise FileNotFoundError(f"dataset {key!r} not found under {data_dir!r}")
    settings = real_settings(design, None)
    if model == "lightgbm-ranker":
        # As the corpus ran it: the candidate lists depend on the data and the seed only,
        # so they are built once per dataset (identical results, 5-10x faster).
        settings["model_options"] = {**settings["model_options"], "cache": True}
    objective = _cached_real_objective(str(folder), model, json.dumps(settings, sort_keys=True))
    return Target(
        objective,
        dict(design.distributions),
        float(own.values.max()),
        float(own.values.min()),
        float(np.median(design.values)),
    )


@functools.lru_cache(maxsize=1)
def _cached_real_objective(folder: str, model: str, settings: str) -> Any:
    return real_objective(folder, model, REAL_METRIC, json.loads(settings))


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------


def _seed_of(text: str) -> int:
    return zlib.crc32(text.encode()) % 2**31


def shuffled_sources(sources: Sequence[SourceStudy]) -> list[SourceStudy]:
    """The sources with each study's values permuted (seeded by the study's name):
    configurations and value distribution kept, the link between them broken."""
    out = []
    for s in sources:
        perm = np.random.default_rng(_seed_of(s.name)).permutation(len(s.values))
        attrs = {**s.attrs, "scenario": "shuffled"}
        out.append(SourceStudy(s.name, s.distributions, s.params, s.values[perm], attrs))
    return out


def scenario_sources(corpus: Sequence[PastStudy], task: str, scenario: str) -> list[SourceStudy]:
    """The sources that ``task`` gets in ``scenario`` (see the module docstring).

    Raises:
        NoCompatibleSource: the scenario has no source for this task (``refresh`` on a
            synthetic dataset, ``shifted``, ``one-bad`` or ``one-good`` without the
            studies needed).
    """
    model, key = task.split("/", 1)
    if scenario == "none":
        return []
    if scenario in ("shifted", "refresh", "one-bad"):
        role = "history" if scenario == "refresh" else "shifted"
        found = [p.study for p in corpus if p.task == task and p.role == role]
        if not found:
            raise NoCompatibleSource(f"no {role} study of {task!r} in the corpus")
        return misleading_sources(found) if scenario == "one-bad" else found
    honest = [p.study for p in corpus if p.key != key and p.role != "design"]
    if scenario == "honest":
        return honest
    if scenario == "backwards":
        return misleading_sources(honest)
    if scenario == "shuffled":
        return shuffled_sources(honest)
    if scenario == "one-good":
        mine = sorted(same_model(honest, model), key=lambda s: s.name)
        if len(mine) < 5:
            raise NoCompatibleSource(f"{task!r} has {len(mine)} same-model sources, not 5")
        rng = np.random.default_rng(_seed_of(task))
        picked = [mine[i] for i in rng.choice(len(mine), 5, replace=False)]
        return [picked[0], *misleading_sources(picked[1:])]
    raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}.")


# --------------------------------------------------------------------------------------
# Samplers and runs
# --------------------------------------------------------------------------------------


def make_sampler(
    name: str, seed: int, n_trials: int, sources: Sequence[SourceStudy], target: Target, model: str
) -> tuple[optuna.samplers.BaseSampler, list[dict[str, Any]], dict[str, Any]]:
    """The sampler of one run, the configurations to enqueue first, and notes.

    The samplers come from :mod:`optuna_rl_sampler.sampler_registry`: ``rl-finetuned`` is
    its ``rl`` with the sources and :data:`FINETUNED_WEIGHTS`; ``enqueue5-gp`` and
    ``enqueue3-tpe`` its ``gp`` and ``tpe`` after the 5 (3) best past configurations;
    the others are :func:`benchmarks.transfer.build_sampler`'s.
    """
    if name == "rl-finetuned":
        if not FINETUNED_WEIGHTS.is_file():
            raise FileNotFoundError(
                f"rl-finetuned needs {FINETUNED_WEIGHTS}; make it with optuna-rl finetune "
                "(benchmarks/README.md, 'Fine-tuned weights')"
            )
        sampler = sampler_registry.make_sampler(
            "rl",
            seed,
            budget=n_trials,
            source_studies=list(sources),
            meta_model=FINETUNED_WEIGHTS,
        )
        return sampler, [], {"n_sources": len(sources), "weights": FINETUNED_WEIGHTS.name}
    if name in ("enqueue5-gp", "enqueue3-tpe"):
        k = 3 if name == "enqueue3-tpe" else 5
        enqueue = best_past_configs(sources, target.space, model, k=k)
        sampler = sampler_registry.make_sampler("gp" if name == "enqueue5-gp" else "tpe", seed)
        return sampler, enqueue, {"n_enqueued": len(enqueue)}
    setup = build_sampler(name, seed, n_trials, sources=sources, space=target.space, model=model)
    return setup.sampler, setup.enqueue, setup.info


@dataclass(frozen=True)
class Job:
    """One study: a task, a scenario, a sampler, a seed (picklable for the pool)."""

    kind: str  # "surrogate" or "real"
    scenario: str
    task: str
    sampler: str
    seed: int
    n_trials: int
    corpus: str
    fingerprint: str
    data_dir: str = ""

    @property
    def key(self) -> str:
        parts = (self.kind, self.scenario, self.task, self.sampler, self.seed, self.n_trials)
        return "|".join(map(str, parts))


def run_job(job: Job) -> dict[str, Any]:
    """Run one study and return its record (never raises: an error is recorded)."""
    record: dict[str, Any] = {
        "key": job.key,
        "fingerprint": job.fingerprint,
        **{f: getattr(job, f) for f in ("kind", "scenario", "task", "sampler", "seed")},
        "n_trials": job.n_trials,
        "values": None,
        "unavailable": None,
        "error": None,
    }
    with captured_messages() as messages:
        try:
            record.update(_run_study(job))
        except NoCompatibleSource as exc:
            record["unavailable"] = str(exc)
        except Exception as exc:  # a failed study is data, not a crash
            record["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    record["warnings"] = dict(messages.most_common(5))
    return record


def _run_study(job: Job) -> dict[str, Any]:
    corpus = load_corpus(job.corpus)
    if job.kind == "real":
        target = real_target(job.corpus, job.task, job.data_dir)
    else:
        target = surrogate_target(job.corpus, job.task)
    sources = scenario_sources(corpus, job.task, job.scenario)
    model = job.task.split("/", 1)[0]
    sampler, enqueue, info = make_sampler(
        job.sampler, job.seed, job.n_trials, sources, target, model
    )
    study = optuna.create_study(sampler=sampler, direction="maximize")
    for params in enqueue[: job.n_trials]:
        study.enqueue_trial(params)
    start, cpu = time.perf_counter(), time.process_time()
    study.optimize(target.objective, n_trials=job.n_trials, catch=(Exception,))
    ran = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    paths: Counter[str] = Counter()
    for trial in ran:
        reason = trial.system_attrs.get(REASON_KEY)
        if isinstance(reason, dict):
            paths[f"{reason.get('source')}|{reason.get('weights', '')}"] += 1
    return {
        "values": trial_values(ran),
        "best": target.best,
        "worst": target.worst,
        "median": target.median,
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
        "n_sources": len(sources),
        "sampler_info": info,
        "proposal_paths": dict(paths),
    }


# --------------------------------------------------------------------------------------
# Planning, resuming and running
# --------------------------------------------------------------------------------------


def fingerprints(corpus: str | Path) -> dict[str, str]:
    """Sampler -> what its runs depend on: the corpus file; RLSampler also its weights
    and the code that makes its proposals (a change of code, not of a docstring or a
    comment, re-runs only the RL samplers)."""
    base = file_fingerprint(corpus) or "missing"
    pkg = REPO_ROOT / "optuna_rl_sampler"
    digest = hashlib.sha256()
    for name in _RL_CODE:
        digest.update(code_fingerprint(pkg / name).encode())
    # The weights RLSampler loads (the transfer policy and the generic one it hands off
    # to), not every file shipped: an experimental weights file re-runs nothing.
    for name in sorted({DEFAULT_WEIGHTS, GENERIC_WEIGHTS}):
        digest.update(default_weights_path(name).read_bytes())
    rl = f"{base}+{digest.hexdigest()[:12]}"
    out = {s: (rl if s.startswith("rl-") else base) for s in SAMPLERS}
    out["rl-finetuned"] = f"{rl}+{file_fingerprint(FINETUNED_WEIGHTS) or 'missing'}"
    return out


def make_jobs(
    kind: str,
    pairs: Sequence[tuple[str, str]],
    tasks: Sequence[str],
    seeds: Sequence[int],
    n_trials: int,
    corpus: str | Path,
    data_dir: str = "",
) -> list[Job]:
    """One job per (scenario, sampler) pair, task and seed."""
    fps = fingerprints(corpus)
    return [
        Job(
            kind, scenario, task, sampler, int(seed), n_trials, str(corpus), fps[sampler], data_dir
        )
        for scenario, sampler in pairs
        for task in tasks
        for seed in seeds
    ]


def plan(
    corpus: str | Path,
    *,
    split: str = "dev",
    scenarios: Sequence[str] = SCENARIOS,
    samplers: Sequence[str] | None = None,
    seeds: Sequence[int] = range(5),
    n_trials: int = 20,
    tasks: Sequence[str] | None = None,
) -> list[Job]:
    """The surrogate jobs of one invocation, most expensive first."""
    names = task_names(load_corpus(corpus), read_split(), split)
    if tasks:
        names = [t for t in names if t in set(tasks)]
    pairs = [
        (scenario, sampler)
        for scenario in scenarios
        for sampler in (
            *SCENARIO_SAMPLERS[scenario],
            *(o for o, where in OPTIONAL_SAMPLERS.items() if scenario in where),
        )
        if (samplers is None and sampler not in OPTIONAL_SAMPLERS)
        or (samplers is not None and sampler in samplers)
    ]
    jobs = make_jobs("surrogate", pairs, names, seeds, n_trials, corpus)
    return sorted(jobs, key=lambda j: -_cost(j))


def plan_real(
    corpus: str | Path,
    data_dir: str | Path,
    *,
    split: str = "dev",
    seeds: Sequence[int] = range(5),
    n_trials: int = 20,
    datasets: Sequence[str] | None = None,
    samplers: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
) -> tuple[list[Job], list[str]]:
    """The real jobs (LightGBM on the real datasets of ``split``; the pairs of
    :data:`REAL_SAMPLERS` among ``samplers`` and ``scenarios`` when given) and the
    datasets skipped because their folder is missing."""
    studies = load_corpus(corpus)
    names = [t for t in task_names(studies, read_split(), split) if t.startswith(REAL_MODEL)]
    kept, missing = [], []
    for task in names:
        key = task.split("/", 1)[1]
        if key.startswith("synthetic") or (datasets is not None and key not in datasets):
            continue
        if find_dataset(Path(data_dir), key) is None:
            missing.append(key)
            continue
        kept.append(task)
    pairs = [
        (scenario, sampler)
        for scenario, sampler in REAL_SAMPLERS
        if (samplers is None or sampler in samplers)
        and (scenarios is None or scenario in scenarios)
    ]
    jobs = make_jobs("real", pairs, kept, seeds, n_trials, corpus, str(data_dir))
    # One dataset after another, so a worker loads each dataset once.
    return sorted(jobs, key=lambda j: (j.task, j.sampler, j.seed)), missing


_COST = {"gp": 6.0, "enqueue5-gp": 6.0, "rl-transfer": 2.0, "rl-generic": 0.8}


def _cost(job: Job) -> float:
    return _COST.get(job.sampler, 0.4) * job.n_trials / 20


def done_keys(records: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """``(key, fingerprint)`` of the records that need no re-run."""
    return {(r["key"], r.get("fingerprint", "")) for r in records if r.get("error") is None}


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every run record of ``folder``: ``runs.jsonl``, else the committed gzip copy; the
    newest record of a key (and fingerprint) wins."""
    records = read_jsonl(folder / "runs.jsonl")
    packed = folder / "runs.jsonl.gz"
    if not records and packed.is_file():
        with gzip.open(packed, "rt") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        latest[(r["key"], r.get("fingerprint", ""))] = r
    return list(latest.values())


def pack_records(folder: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``runs.jsonl.gz``: one JSON line per run, sorted, compressed (the copy that
    is committed; ``runs.jsonl`` is the resume log)."""
    path = folder / "runs.jsonl.gz"
    rows = sorted(records, key=lambda r: (r["key"], r.get("fingerprint", "")))
    with gzip.open(path, "wt", compresslevel=9) as fh:
        for r in rows:
            fh.write(json.dumps(r, sort_keys=True, allow_nan=False) + "\n")
    return path


def execute(jobs: Sequence[Job], folder: Path, workers: int, progress: bool = True) -> int:
    """Run the jobs not done yet, appending each record to ``folder/runs.jsonl``;
    returns how many ran. The gzip copy is unpacked into the log first, so a resumed
    run on a fresh clone skips what was committed."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "runs.jsonl"
    existing = read_records(folder)
    if not log.is_file() and existing:
        for r in existing:
            append_jsonl(log, r)
    done = done_keys(existing)
    to_run = [j for j in jobs if (j.key, j.fingerprint) not in done]
    run_pool(run_job, to_run, workers, lambda r: append_jsonl(log, r), progress=progress)
    return len(to_run)


def run_transfer_v2(
    *,
    corpus: str | Path = DEFAULT_CORPUS,
    out: str | Path = DEFAULT_OUT,
    split: str = "dev",
    scenarios: Sequence[str] = SCENARIOS,
    samplers: Sequence[str] | None = None,
    seeds: Sequence[int] = range(5),
    n_trials: int = 20,
    tasks: Sequence[str] | None = None,
    real: bool = False,
    real_datasets: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Plan, run (resuming) and summarise; writes the report into ``out``."""
    from benchmarks.transfer_v2_report import write_report

    jobs, missing = plan_invocation(
        corpus=corpus,
        split=split,
        scenarios=scenarios,
        samplers=samplers,
        seeds=seeds,
        n_trials=n_trials,
        tasks=tasks,
        real=real,
        real_datasets=real_datasets,
        data_dir=data_dir,
    )
    records, meta = run_invocation(
        jobs,
        missing,
        corpus=corpus,
        out=out,
        split=split,
        real=real,
        workers=workers,
        progress=progress,
    )
    return write_report(records, read_split(), meta, Path(out))


def plan_invocation(
    *,
    corpus: str | Path = DEFAULT_CORPUS,
    split: str = "dev",
    scenarios: Sequence[str] = SCENARIOS,
    samplers: Sequence[str] | None = None,
    seeds: Sequence[int] = range(5),
    n_trials: int = 20,
    tasks: Sequence[str] | None = None,
    real: bool = False,
    real_datasets: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
) -> tuple[list[Job], list[str]]:
    """Every job of one invocation (:func:`plan`, and :func:`plan_real` when ``real``)
    and the real datasets left out because their folder is missing; the arguments are
    :func:`run_transfer_v2`'s."""
    jobs = plan(
        corpus,
        split=split,
        scenarios=scenarios,
        samplers=samplers,
        seeds=seeds,
        n_trials=n_trials,
        tasks=tasks,
    )
    missing: list[str] = []
    if real:
        real_jobs, missing = plan_real(
            corpus,
            data_dir_from(data_dir),
            split=split,
            seeds=seeds,
            n_trials=n_trials,
            datasets=real_datasets,
            samplers=samplers,
            scenarios=scenarios,
        )
        jobs += real_jobs
    return jobs, missing


def pending(jobs: Sequence[Job], folder: Path) -> list[Job]:
    """The jobs that ``folder``'s records (:func:`read_records`) do not hold yet."""
    done = done_keys(read_records(folder))
    return [j for j in jobs if (j.key, j.fingerprint) not in done]


def run_invocation(
    jobs: Sequence[Job],
    missing: Sequence[str],
    *,
    corpus: str | Path = DEFAULT_CORPUS,
    out: str | Path = DEFAULT_OUT,
    split: str = "dev",
    real: bool = False,
    workers: int = 2,
    progress: bool = True,
    note: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the jobs not done yet (:func:`execute`), pack every record of ``out`` into
    ``runs.jsonl.gz`` and return the records with the report's metadata (the corpus,
    the split, the fingerprints, this invocation, with ``note`` saying why it was run,
    and the earlier ones)."""
    folder = Path(out)
    start = time.time()
    ran = execute(jobs, folder, workers, progress)
    records = read_records(folder)
    # The committed copy keeps what the report is made of: runs of an older RLSampler
    # (another fingerprint) stay in the resume log and in git history only.
    from benchmarks.transfer_v2_report import current_records

    pack_records(folder, current_records(records, fingerprints(corpus)))
    meta = {
        "schema": SCHEMA_VERSION,
        "corpus": Path(corpus).name,
        "corpus_sha": file_fingerprint(corpus),
        "split_file": SPLIT_FILE.name,
        "split_frozen_at": split_commit(),
        "fingerprints": fingerprints(corpus),
        "real_missing": list(missing),
        "environment": environment(),
        "last_invocation": {"split": split, "ran": ran, "minutes": (time.time() - start) / 60},
        "invocations": _invocations(folder, split, ran, start, real, note),
    }
    return records, meta


def rebuild(folder: Path) -> dict[str, Any]:
    """Rebuild the report from the records and metadata already in ``folder``."""
    from benchmarks.transfer_v2_report import write_report

    meta = json.loads((folder / "summary.json").read_text()).get("meta", {})
    return write_report(read_records(folder), read_split(), meta, folder)


def _invocations(
    folder: Path, split: str, ran: int, start: float, real: bool, note: str | None = None
) -> dict[str, Any]:
    """Split -> when it was last run, how many runs it added, how long it took and why
    (``note``; the test split's entry says when its published figures were made)."""
    previous: dict[str, Any] = {}
    summary = folder / "summary.json"
    if summary.is_file():
        previous = json.loads(summary.read_text()).get("meta", {}).get("invocations", {})
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(start))
    entry: dict[str, Any] = {
        "at_utc": stamp,
        "ran": ran,
        "minutes": round((time.time() - start) / 60, 1),
    }
    if note:
        entry["note"] = note
    # Every earlier invocation of the split stays listed: how often the test split was
    # looked at is part of its evidence.
    before = dict(previous.get(split, {}))
    history = list(before.pop("history", []))
    if before:
        history.append(before)
    return {**previous, split: {**entry, "real": real, "history": history}}


def quick_kwargs() -> dict[str, Any]:
    """A smoke run of about a minute: two dev tasks, two scenarios, one seed."""
    return {
        "scenarios": ("none", "backwards"),
        "samplers": ("rl-transfer", "rl-generic", "tpe", "enqueue5-tpe"),
        "seeds": (0,),
        "n_trials": 6,
        "tasks": ("lightgbm-ranker/synthetic-news-base", "two-tower/filmtrust"),
    }
