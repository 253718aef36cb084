"""Build the project's corpora of past studies: ``recsys-corpus-v2`` (default) and ``-v1``.

Each task is one ``optuna-rl corpus collect`` run of one model family on one dataset,
until its study holds the task's number of COMPLETE trials (ndcg@10 on validation
queries, no pruning).

- ``v2`` (``--corpus v2``, the default): per model family and dataset, two past studies
  as a team would have them (TPE, GP, Random or RLSampler-without-sources traces, each
  with its own sampler seed), a scrambled Sobol design of the task's own seed (never a
  source: it gives the benchmark's surrogate of the task its space-filling evaluations),
  and for the real datasets "last month's study": a TPE study of the oldest 75% of the
  events. Data, split and validation queries use seed 0 in every study of a dataset.
- ``v1``: one scrambled Sobol sweep (seed 0) per model family and dataset, 150 trials,
  kept so that its results can be reproduced.

Tasks are split over
``--lanes`` lanes run side by side; each lane runs its tasks one after another, each as
a subprocess whose output goes to ``corpus/logs/<task>.log``, in passes: every task to
``--passes`` COMPLETE trials first, then every task to its own number of trials. Rerunning
resumes: finished studies are skipped by ``collect`` itself and a killed one continues
(its RUNNING trial is marked FAIL).

Usage (from the repository root)::

    corpus/build.sh DATA_DIR                     # both lanes of v2 in the background
    python corpus/build.py --data-dir DATA_DIR --lane 0 --lanes 2
    python corpus/build.py --export              # parquet + sources + stats JSON
    python corpus/build.py --list                # the tasks and their commands
    python corpus/build.py --corpus v1 --list    # the v1 sweeps

``DATA_DIR`` (or the environment variable ``ORS_DATA_DIR``) is the folder that holds
``news/mind_sample``, ``ecommerce/amazon_beauty`` and the other real datasets; nothing
of it is copied into the corpus, which holds only parameters and metric values.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ("v2", "v1")
METRIC = "ndcg@10"
SEED = 0
#: Validation queries per trial (drawn with the seed), for every task.
MAX_VALID_QUERIES = 200
#: LightGBM ranker: 500 training lists of 50 candidates (defaults 5,000 and 100).
LGBM_OPTIONS = {"max_train_queries": 500, "n_candidates": 50}


def name_of(corpus: str) -> str:
    return f"recsys-corpus-{corpus}"


def default_storage(corpus: str) -> str:
    return f"sqlite:///corpus/{name_of(corpus)}.db"


@dataclass(frozen=True)
class Task:
    """One study. ``data`` is a folder under DATA_DIR or a ``synthetic:`` spec."""

    name: str
    model: str
    data: str
    format: str | None = None
    max_users: int | None = None
    max_events_per_user: int | None = None
    model_options: dict = field(default_factory=dict, hash=False)
    sampler: str = "sobol"
    sampler_seed: int | None = None
    trials: int = 150
    history_fraction: float | None = None
    data_seed: int = SEED

    def args(self, data_dir: str, storage: str, trials: int) -> list[str]:
        data = self.data if self.data.startswith("synthetic:") else f"{data_dir}/{self.data}"
        out = ["corpus", "collect", "--model", self.model, "--data", data]
        if self.format:
            out += ["--format", self.format]
        out += ["--trials", str(trials), "--sampler", self.sampler, "--storage", storage]
        out += ["--study-name", self.name, "--metric", METRIC, "--workers", "1"]
        out += ["--seed", str(self.data_seed), "--max-valid-queries", str(MAX_VALID_QUERIES)]
        if self.sampler_seed is not None:
            out += ["--sampler-seed", str(self.sampler_seed)]
        if self.history_fraction is not None:
            out += ["--history-fraction", str(self.history_fraction)]
        if self.max_users is not None:
            out += ["--max-users", str(self.max_users)]
        if self.max_events_per_user is not None:
            out += ["--max-events-per-user", str(self.max_events_per_user)]
        for key, value in sorted(self.model_options.items()):
            out += ["--model-option", f"{key}={json.dumps(value)}"]
        return [*out, "--no-progress"]


REAL = [
    # (key, folder, format, two-tower subsample: max_users, max_events_per_user)
    ("mind_sample", "news/mind_sample", "mind", 1500, None),
    ("amazon_beauty", "ecommerce/amazon_beauty", "amazon-seq", 400, None),
    ("amazon_sports", "ecommerce/amazon_sports", "amazon-seq", 200, None),
    ("yoochoose_clicks_100k", "ecommerce/yoochoose_clicks_100k", "yoochoose", 400, None),
    ("lastfm_2k", "social/lastfm_2k", "lastfm-hetrec", 150, 8),
    ("filmtrust", "social/filmtrust", "filmtrust", 150, 8),
    ("ml_latest_small", "general/ml_latest_small", "movielens", 150, 8),
]
_NEWS = "synthetic:news:n_users=300,n_items=200,n_impressions=900"
_SHOP = "synthetic:ecommerce:n_users=300,n_items=200,n_interactions=3000"
_SOCIAL = "synthetic:social:n_users=250,n_items=300,n_interactions=3000"
SYNTHETIC = [
    ("synthetic-news-base", _NEWS),
    ("synthetic-news-fresh", f"{_NEWS},recency=3.0,ctr=0.15"),
    ("synthetic-news-category", f"{_NEWS},category_affinity=3.0,taste_strength=0.3"),
    ("synthetic-ecommerce-flat", f"{_SHOP},popularity_skew=0.5"),
    ("synthetic-ecommerce-skewed-repeat", f"{_SHOP},popularity_skew=1.5,repeat_prob=0.3"),
    ("synthetic-ecommerce-copurchase", f"{_SHOP},copurchase=0.7,noise=0.5"),
    ("synthetic-social-homophily", f"{_SOCIAL},homophily=0.9,avg_friends=20"),
    ("synthetic-social-popular", f"{_SOCIAL},homophily=0.1,popularity_skew=1.3"),
]


def _lgbm(key: str, data: str, fmt: str | None = None) -> Task:
    return Task(f"lightgbm-ranker/{key}", "lightgbm-ranker", data, fmt, None, None, LGBM_OPTIONS)


#: v2: the optimisers of the past studies, taken in turn so every dataset gets two.
V2_SAMPLERS = ("tpe", "gp", "random", "rl-generic")
#: A past study's length: 40, 50, ... or 80 trials, fixed by its seed.
V2_TRACE_TRIALS = (40, 50, 60, 70, 80)
V2_DESIGN_TRIALS = 32
V2_HISTORY_FRACTION = 0.75
#: "Shifted" past studies of the LightGBM ranker see this many users of a real dataset
#: (about 60%, drawn with seed 1): the same data source, another sample of its users.
V2_SHIFTED_USERS = {
    "mind_sample": 2800,
    "amazon_beauty": 13400,
    "amazon_sports": 21400,
    "yoochoose_clicks_100k": 12700,
    "lastfm_2k": 1135,
    "filmtrust": 900,
    "ml_latest_small": 366,
}
#: Two-tower on these real datasets costs 3-8 s an evaluation: their studies run last.
V2_SLOW = ("two-tower/mind_sample", "two-tower/amazon_beauty")


def seed_of(text: str) -> int:
    """A study's own sampler seed, fixed by its name (CRC-32, below 2**31)."""
    return zlib.crc32(text.encode()) % 2**31


def v2_tasks() -> list[Task]:
    """Every v2 study, in the order the lanes take them (cheapest groups first).

    For each (model family, dataset): a Sobol design of 32 trials with the task's own seed
    and two traces of 40 to 80 trials of two optimisers (the pair turns through ``V2_SAMPLERS``
    from one dataset to the next, so each optimiser is as common as the others); for
    each real dataset one more LightGBM study: TPE on the oldest 75% of the events.
    """
    bases: list[Task] = []
    for key, spec in SYNTHETIC:
        bases.append(_lgbm(key, spec))
    for key, folder, fmt, _, _ in REAL:
        bases.append(_lgbm(key, folder, fmt))
    for key, spec in SYNTHETIC:
        bases.append(Task(f"two-tower/{key}", "two-tower", spec))
    for key, folder, fmt, users, events in REAL:
        bases.append(Task(f"two-tower/{key}", "two-tower", folder, fmt, users, events))
    bases.sort(key=lambda t: t.name in V2_SLOW)
    out: list[Task] = []
    for j, base in enumerate(bases):
        design = f"{base.name}/design"
        out.append(_variant(base, design, "sobol", V2_DESIGN_TRIALS))
        for k in range(2):
            sampler = V2_SAMPLERS[(j + k) % len(V2_SAMPLERS)]
            seed = seed_of(f"{base.name}/{sampler}/{k}")
            out.append(_variant(base, f"{base.name}/{sampler}-seed{seed}", sampler, seed=seed))
    for key, folder, fmt, _, _ in REAL:
        base = _lgbm(key, folder, fmt)
        seed = seed_of(f"{base.name}/refresh")
        name = f"{base.name}/history-75/tpe-seed{seed}"
        refresh = _variant(base, name, "tpe", seed=seed)
        out.append(Task(**{**refresh.__dict__, "history_fraction": V2_HISTORY_FRACTION}))
    slow = [t for t in out if t.name.startswith(V2_SLOW)]
    return [t for t in out if t not in slow] + slow + _v2_shifted(bases)


def _v2_shifted(bases: list[Task]) -> list[Task]:
    """One TPE study per (model family, dataset) on another sample of the same data.

    Synthetic regimes are drawn again with generator seed 1; real datasets keep another
    seeded sample of their users (``V2_SHIFTED_USERS`` for the LightGBM ranker, the
    two-tower's own subsample size with seed 1). The validation queries and the model's
    seed are 1 too. The optimum of such a study is near, not at, the one of the task.
    """
    out = []
    for base in bases:
        seed = seed_of(f"{base.name}/shifted")
        task = _variant(base, f"{base.name}/shifted/tpe-seed{seed}", "tpe", seed=seed)
        changes: dict = {"data_seed": 1}
        if base.data.startswith("synthetic:"):
            changes["data"] = f"{base.data},seed=1"
        elif base.model == "lightgbm-ranker":
            changes["max_users"] = V2_SHIFTED_USERS[base.name.split("/")[1]]
        out.append(Task(**{**task.__dict__, **changes}))
    return out


def _variant(base: Task, name: str, sampler: str, trials: int | None = None, seed=None) -> Task:
    seed = seed_of(name) if seed is None else seed
    trials = V2_TRACE_TRIALS[seed % len(V2_TRACE_TRIALS)] if trials is None else trials
    return Task(
        **{
            **base.__dict__,
            "name": name,
            "sampler": sampler,
            "sampler_seed": seed,
            "trials": trials,
        }
    )


def tasks(corpus: str = "v2") -> list[Task]:
    """Every task of ``corpus`` (``"v2"`` or ``"v1"``), in the order the lanes take them."""
    if corpus == "v2":
        return v2_tasks()
    if corpus == "v1":
        return v1_tasks()
    raise ValueError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}.")


def v1_tasks() -> list[Task]:
    """Every v1 task, in the order the lanes take them (cheapest groups first).

    The two-tower sweeps on mind_sample and amazon_beauty come first: they were started
    first. Then both models on the synthetic regimes, LightGBM on the real data, and the
    remaining two-tower sweeps on real data, the most expensive per evaluation.
    """
    tt_real = {
        key: Task(f"two-tower/{key}", "two-tower", folder, fmt, users, events)
        for key, folder, fmt, users, events in REAL
    }
    out = [tt_real.pop("mind_sample"), tt_real.pop("amazon_beauty")]
    for j, (key, spec) in enumerate(SYNTHETIC):
        pair = [Task(f"two-tower/{key}", "two-tower", spec), _lgbm(key, spec)]
        out += pair if j % 2 == 0 else pair[::-1]
    out += [_lgbm(key, folder, fmt) for key, folder, fmt, _, _ in REAL]
    return out + list(tt_real.values())


def lane_of(all_tasks: list[Task], lanes: int) -> dict[str, int]:
    """Task ``i`` of :func:`tasks` runs in lane ``i % lanes``."""
    return {t.name: i % lanes for i, t in enumerate(all_tasks)}


def log_path(task: Task, logs: Path) -> Path:
    return logs / f"{task.name.replace('/', '__')}.log"


def _trials(task: Task, cap: int | None, upto: int) -> int:
    """Trials ``task`` runs to in a pass that reaches ``upto`` (``cap`` caps every task)."""
    return min(task.trials, upto, cap or task.trials)


def run_lane(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or os.environ.get("ORS_DATA_DIR")
    if not data_dir:
        print("build.py: pass --data-dir DATA_DIR or set ORS_DATA_DIR", file=sys.stderr)
        return 2
    all_tasks = tasks(args.corpus)
    lanes = lane_of(all_tasks, args.lanes)
    mine = [t for t in all_tasks if lanes[t.name] == args.lane]
    if args.only:
        mine = [t for t in all_tasks if t.name in args.only]
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    failed = 0
    passes = sorted({int(n) for n in args.passes.split(",")} | {10**9})
    to_run = [(_trials(t, args.trials, n), t) for n in passes for t in mine]
    seen: set[tuple[int, str]] = set()
    for trials, task in to_run:
        if (trials, task.name) in seen:
            continue
        seen.add((trials, task.name))
        cmd = [
            sys.executable,
            "-m",
            "optuna_rl_sampler.cli",
            *task.args(data_dir, args.storage, trials),
        ]
        start = time.time()
        print(f"{time.strftime('%H:%M:%S')} start {task.name} to {trials}", flush=True)
        with open(log_path(task, logs), "a", encoding="utf-8") as log:
            shown = shlex.join(["optuna-rl", *task.args("$ORS_DATA_DIR", args.storage, trials)])
            log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {shown}\n")
            log.flush()
            rc = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        failed += rc != 0
        print(
            f"{time.strftime('%H:%M:%S')} done {task.name} rc={rc} in {time.time() - start:.0f} s",
            flush=True,
        )
    return 1 if failed else 0


def export(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.corpus import read_studies
    from optuna_rl_sampler.corpus import shared_configurations
    from optuna_rl_sampler.corpus import stats
    from optuna_rl_sampler.corpus import to_sources
    from optuna_rl_sampler.corpus import write_parquet
    from optuna_rl_sampler.sources import save_sources_json

    all_tasks = tasks(args.corpus)
    names = [t.name for t in all_tasks]
    table = read_studies(args.storage)
    present = [n for n in names if n in set(table["study"])]
    table = table[table["study"].isin(present)]
    name = name_of(args.corpus)
    write_parquet(table, HERE / f"{name}.parquet")
    # The designs are the benchmark's evaluations of each task, never a past study.
    past = [t.name for t in all_tasks if t.sampler != "sobol" or args.corpus == "v1"]
    weights = ROOT / "optuna_rl_sampler" / "weights" / f"{name}.sources.json.gz"
    save_sources_json(to_sources(table[table["study"].isin(past)]), weights)
    summary = stats(table)
    (HERE / f"{name}.stats.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"shared_configurations": shared_configurations(table)}))
    print(json.dumps({"studies": len(summary), "rows": len(table)}))
    return 0


def datasheet_table(path: Path, corpus: str = "v2") -> str:
    """The per-task table of ``DATASHEET.md``, from the exported Parquet file."""
    from optuna_rl_sampler.corpus import read_parquet
    from optuna_rl_sampler.corpus import stats

    table = read_parquet(path)
    order = {t.name: i for i, t in enumerate(tasks(corpus))}
    rows = sorted(
        stats(table),
        key=lambda r: r["study"] if corpus == "v2" else order.get(r["study"], len(order)),
    )
    lines = [
        "| task (study) | model | dataset | reduction | complete | fail | best | s/eval "
        "(mean) | trial time (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if corpus == "v2":
        lines = [
            "| study | sampler | data | complete | fail | best | s/eval (mean) | "
            "trial time (min) |",
            "|---|---|---|---|---|---|---|---|",
        ]
    total = 0.0
    for r in rows:
        first = table[table["study"] == r["study"]].iloc[0]
        attrs = json.loads(first["study_attrs"])
        data = attrs.get("data", {})
        sub = data.get("subsample") or {}
        parts = []
        if sub:
            parts.append(f"{sub['max_users']} of {sub['users_before']} users")
            if sub.get("max_events_per_user"):
                parts.append(f"last {sub['max_events_per_user']} events/user")
        if data.get("history"):
            parts.append(f"oldest {data['history']['fraction']:.0%} of events")
        if attrs.get("seed"):
            parts.append(f"data seed {attrs['seed']}")
        if corpus == "v1":
            for key, value in sorted(attrs.get("model_options", {}).items()):
                parts.append(f"{key}={value}")
            parts.append(f"{attrs.get('max_valid_queries')} valid queries")
        n = r["n_trials"]
        per_trial = table[table["study"] == r["study"]].drop_duplicates("trial")
        done = per_trial[per_trial["state"] == "COMPLETE"]["duration_s"]
        minutes = r["duration_s"] / 60
        total += r["duration_s"]
        dataset = (
            data.get("spec", r["dataset"])
            if data.get("source") == "synthetic"
            else (f"{r['dataset']} ({data.get('format')})")
        )
        dataset = dataset.replace("synthetic:", "").replace(",", ", ")
        best = "" if r["best_value"] is None else f"{r['best_value']:.4f}"
        if corpus == "v2":
            lines.append(
                f"| {r['study']} | {attrs.get('sampler')} | {'; '.join(parts)} | "
                f"{n.get('COMPLETE', 0)} | {n.get('FAIL', 0)} | {best} | {done.mean():.2f} | "
                f"{minutes:.1f} |"
            )
            continue
        lines.append(
            f"| {r['study']} | {r['model']} | {dataset} | {'; '.join(parts)} | "
            f"{n.get('COMPLETE', 0)} | {n.get('FAIL', 0)} | {best} | {done.mean():.2f} | "
            f"{minutes:.1f} |"
        )
    lines.append(f"\nTotal trial time: {total / 60:.1f} min ({total / 3600:.2f} h).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="folder of the real datasets (default: $ORS_DATA_DIR)")
    parser.add_argument("--corpus", choices=CORPORA, default="v2", help="default: v2")
    parser.add_argument(
        "--storage", default=None, help="default: sqlite:///corpus/recsys-corpus-CORPUS.db"
    )
    parser.add_argument(
        "--trials", type=int, default=None, help="cap every study at this many trials"
    )
    parser.add_argument(
        "--passes",
        default=None,
        help="comma-separated COMPLETE counts that every task of the lane reaches in turn "
        "before the next pass, ending at each task's own count (default: 20 for v2, 64 "
        "for v1, about a 2^6 Sobol design)",
    )
    parser.add_argument("--lane", type=int, default=0, help="this lane (default: 0)")
    parser.add_argument("--lanes", type=int, default=1, help="number of lanes (default: 1)")
    parser.add_argument("--logs", default=str(HERE / "logs"), help="log folder (corpus/logs)")
    parser.add_argument("--only", nargs="*", help="run only these task names")
    parser.add_argument("--export", action="store_true", help="export instead of collecting")
    parser.add_argument("--list", action="store_true", help="print the tasks and commands")
    parser.add_argument(
        "--table", action="store_true", help="print the datasheet's table from the Parquet file"
    )
    args = parser.parse_args()
    args.storage = args.storage or default_storage(args.corpus)
    args.passes = args.passes or ("20" if args.corpus == "v2" else "64")
    if args.export:
        return export(args)
    if args.table:
        print(datasheet_table(HERE / f"{name_of(args.corpus)}.parquet", args.corpus))
        return 0
    if args.list:
        lanes = lane_of(tasks(args.corpus), args.lanes)
        for t in tasks(args.corpus):
            trials = _trials(t, args.trials, t.trials)
            cmd = shlex.join(["optuna-rl", *t.args("$ORS_DATA_DIR", args.storage, trials)])
            print(f"[lane {lanes[t.name]}] {t.name}\n  {cmd}")
        return 0
    return run_lane(args)


if __name__ == "__main__":
    sys.exit(main())
