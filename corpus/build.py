"""Build the project's corpus of past studies: ``recsys-corpus-v1``.

Each task is one ``optuna-rl corpus collect`` run: a scrambled Sobol sweep (seed 0) of
one model family's search space on one dataset, until its study holds the target number
of COMPLETE trials (ndcg@10 on validation queries, no pruning). Tasks are split over
``--lanes`` lanes run side by side; each lane runs its tasks one after another, each as
a subprocess whose output goes to ``corpus/logs/<task>.log``, in passes: every task to
64 COMPLETE trials first (``--passes``), then every task to ``--trials`` (150). Rerunning
resumes: finished studies are skipped by ``collect`` itself and a killed one continues
(its RUNNING trial is marked FAIL).

Usage (from the repository root)::

    corpus/build.sh DATA_DIR                     # both lanes in the background
    python corpus/build.py --data-dir DATA_DIR --lane 0 --lanes 2
    python corpus/build.py --export              # parquet + sources + stats JSON
    python corpus/build.py --list                # the tasks and their commands

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
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "recsys-corpus-v1"
DEFAULT_STORAGE = f"sqlite:///corpus/{NAME}.db"
TRIALS = 150
METRIC = "ndcg@10"
SEED = 0
#: Validation queries per trial (drawn with the seed), for every task.
MAX_VALID_QUERIES = 200
#: LightGBM ranker: 500 training lists of 50 candidates (defaults 5,000 and 100).
LGBM_OPTIONS = {"max_train_queries": 500, "n_candidates": 50}


@dataclass(frozen=True)
class Task:
    """One sweep. ``data`` is a folder under DATA_DIR or a ``synthetic:`` spec."""

    name: str
    model: str
    data: str
    format: str | None = None
    max_users: int | None = None
    max_events_per_user: int | None = None
    model_options: dict = field(default_factory=dict, hash=False)

    def args(self, data_dir: str, storage: str, trials: int) -> list[str]:
        data = self.data if self.data.startswith("synthetic:") else f"{data_dir}/{self.data}"
        out = ["corpus", "collect", "--model", self.model, "--data", data]
        if self.format:
            out += ["--format", self.format]
        out += ["--trials", str(trials), "--sampler", "sobol", "--storage", storage]
        out += ["--study-name", self.name, "--metric", METRIC, "--workers", "1"]
        out += ["--seed", str(SEED), "--max-valid-queries", str(MAX_VALID_QUERIES)]
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


def tasks() -> list[Task]:
    """Every task, in the order the lanes take them (cheapest groups first).

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


def run_lane(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or os.environ.get("ORS_DATA_DIR")
    if not data_dir:
        print("build.py: pass --data-dir DATA_DIR or set ORS_DATA_DIR", file=sys.stderr)
        return 2
    all_tasks = tasks()
    lanes = lane_of(all_tasks, args.lanes)
    mine = [t for t in all_tasks if lanes[t.name] == args.lane]
    if args.only:
        mine = [t for t in all_tasks if t.name in args.only]
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    failed = 0
    passes = sorted({min(int(n), args.trials) for n in args.passes.split(",")} | {args.trials})
    for trials, task in ((n, t) for n in passes for t in mine):
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
    from optuna_rl_sampler.corpus import stats
    from optuna_rl_sampler.corpus import to_sources
    from optuna_rl_sampler.corpus import write_parquet
    from optuna_rl_sampler.sources import save_sources_json

    names = [t.name for t in tasks()]
    table = read_studies(args.storage)
    present = [n for n in names if n in set(table["study"])]
    table = table[table["study"].isin(present)]
    write_parquet(table, HERE / f"{NAME}.parquet")
    weights = ROOT / "optuna_rl_sampler" / "weights" / f"{NAME}.sources.json.gz"
    save_sources_json(to_sources(table), weights)
    summary = stats(table)
    (HERE / f"{NAME}.stats.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"studies": len(summary), "rows": len(table)}))
    return 0


def datasheet_table(path: Path) -> str:
    """The per-task table of ``DATASHEET.md``, from the exported Parquet file."""
    from optuna_rl_sampler.corpus import read_parquet
    from optuna_rl_sampler.corpus import stats

    table = read_parquet(path)
    order = {t.name: i for i, t in enumerate(tasks())}
    rows = sorted(stats(table), key=lambda r: order.get(r["study"], len(order)))
    lines = [
        "| task (study) | model | dataset | reduction | complete | fail | best | s/eval "
        "(mean) | trial time (min) |",
        "|---|---|---|---|---|---|---|---|---|",
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
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help=f"default: {DEFAULT_STORAGE}")
    parser.add_argument("--trials", type=int, default=TRIALS, help=f"default: {TRIALS}")
    parser.add_argument(
        "--passes",
        default="64",
        help="comma-separated COMPLETE counts that every task of the lane reaches in turn "
        "before the next pass, ending at --trials (default: 64, about a 2^6 Sobol design)",
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
    if args.export:
        return export(args)
    if args.table:
        print(datasheet_table(HERE / f"{NAME}.parquet"))
        return 0
    if args.list:
        lanes = lane_of(tasks(), args.lanes)
        for t in tasks():
            cmd = shlex.join(["optuna-rl", *t.args("$ORS_DATA_DIR", args.storage, args.trials)])
            print(f"[lane {lanes[t.name]}] {t.name}\n  {cmd}")
        return 0
    return run_lane(args)


if __name__ == "__main__":
    sys.exit(main())
