"""Command line: ``python -m benchmarks {run,overhead,plot} ...`` (from the repository root).

Examples::

    python -m benchmarks run --suite bbob --samplers rl,random,tpe,gp,cmaes,qmc \\
        --seeds 5 --trials 100 --dims 2,5,10 --workers 2
    python -m benchmarks run --suite bbob --quick
    python -m benchmarks run --suite transfer --workers 2            # v2, dev split
    python -m benchmarks run --suite transfer --split test --real    # once, at the end
    python -m benchmarks run --suite transfer --quick
    python -m benchmarks run --suite transfer-v1 --fake-corpus --seeds 2 --trials 10
    python -m benchmarks run --suite multiobjective --workers 2
    python -m benchmarks overhead --trials 100,1000
    python -m benchmarks plot --suite bbob
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import DEFAULT_SAMPLERS
from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import BadArgument
from benchmarks.harness import results_file
from benchmarks.multiobjective import add_arguments as _add_multiobjective_arguments
from benchmarks.suites import SUITES
from benchmarks.suites import csv as _csv
from benchmarks.suites import plot_results_file
from benchmarks.suites import run_suite
from benchmarks.suites import write_any_report
from benchmarks.tasks import BBOB_DEFAULT_FUNCTIONS
from benchmarks.tasks import parse_int_list
from benchmarks.transfer import MISLEADING_SAMPLERS
from benchmarks.transfer import REAL_SAMPLERS
from benchmarks.transfer import SAMPLERS as TRANSFER_SAMPLERS

__all__ = ["build_parser", "main", "write_any_report"]

QUICK_OVERHEAD = {"trials": "50,200", "dims": "5", "repeats": 5, "max_seconds": 10.0}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark RLSampler against Optuna's samplers (see benchmarks/README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    _add_overhead_parser(sub)
    _add_plot_parser(sub)
    _add_report_parsers(sub)
    return parser


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    """``run``: the options every suite shares, then the transfer and multi-objective
    suites' own."""
    run = sub.add_parser("run", help="run samplers on a suite of tasks and write results")
    run.add_argument(
        "--suite",
        default="bbob",
        choices=list(SUITES),
        help="task suite",
    )
    run.add_argument(
        "--samplers",
        default=None,
        help="comma-separated registry names or module:function factories (default: "
        + ",".join(DEFAULT_SAMPLERS)
        + "; for --suite transfer: each scenario's own, see benchmarks/transfer_v2.py"
        + "; for --suite transfer-v1: "
        + ",".join(TRANSFER_SAMPLERS)
        + ")",
    )
    run.add_argument(
        "--seeds", default=None, help="count ('5' = seeds 0-4) or list ('0,3' or '10-14')"
    )
    run.add_argument(
        "--trials", type=int, default=None, help="trials per study (default 100; transfer 20)"
    )
    run.add_argument("--dims", default=None, help="BBOB dimensions (default 2,5,10)")
    run.add_argument(
        "--functions",
        default=None,
        help="BBOB function ids, e.g. 1-24 (default: the 15-function subset "
        + ",".join(map(str, BBOB_DEFAULT_FUNCTIONS))
        + ")",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes (default 2); 0 runs in this process, for debugging",
    )
    run.add_argument("--out", type=Path, default=None, help="output folder")
    run.add_argument(
        "--checkpoints",
        default=None,
        help="trial counts to report at (default 5,10,25,50,100; transfer 1,3,5,10,20)",
    )
    run.add_argument(
        "--worst-quantile",
        type=float,
        default=0.99,
        help="BBOB 'worst' = this quantile of f over a Sobol sample (default 0.99)",
    )
    run.add_argument("--reference", default="tpe", help="sampler for the speed-up measure")
    run.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, 20 trials, 2-D, f1,f8,f15"
    )
    run.add_argument("--no-plot", action="store_true", help="write results.json.gz only")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_transfer_v2_arguments(run)
    _add_transfer_arguments(run)
    _add_multiobjective_arguments(run)


def _add_overhead_parser(sub: argparse._SubParsersAction) -> None:
    """``overhead``: which cells to measure and how long."""
    ovh = sub.add_parser("overhead", help="ms per proposal, peak memory, import time")
    ovh.add_argument("--samplers", default=",".join(DEFAULT_SAMPLERS))
    ovh.add_argument("--trials", default=None, help="history sizes N (default 100,1000)")
    ovh.add_argument("--dims", default=None, help="dimensions (default 5,10)")
    ovh.add_argument("--repeats", type=int, default=None, help="timed proposals (default 20)")
    ovh.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="per-cell cap on the timed loop (default 60; at least 2 calls)",
    )
    ovh.add_argument(
        "--skip", default="", help="cells to skip as sampler@N, e.g. gp@1000 (default none)"
    )
    ovh.add_argument("--workers", type=int, default=1, help="cells at once (keep 1 for timing)")
    ovh.add_argument(
        "--busy",
        type=int,
        default=0,
        help="busy processes running beside the cells, as an objective training on the "
        "same cores would (default 0: a quiet machine)",
    )
    ovh.add_argument(
        "--space",
        choices=("float", "int", "cat"),
        default="float",
        help="parameters: floats in [-5, 5] (default), integers in [-5, 5] (where a "
        "study's configurations repeat), or categorical with 50 choices each",
    )
    ovh.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every cell this many times, interleaved, and pool the timings "
        "(default 1); for ratios that a drifting machine would blur",
    )
    ovh.add_argument("--out", type=Path, default=None, help="output folder")
    ovh.add_argument("--quick", action="store_true", help="smoke run: N=50,200, 5-D, 5 calls")
    ovh.add_argument("--no-plot", action="store_true")
    ovh.add_argument("--no-progress", action="store_true")


def _add_plot_parser(sub: argparse._SubParsersAction) -> None:
    """``plot``: which results file to re-draw, and where."""
    plot = sub.add_parser("plot", help="re-draw plots and summary.md from results.json.gz")
    plot.add_argument(
        "--suite", default=None, help="reads benchmarks/results/<suite>/results.json.gz"
    )
    plot.add_argument(
        "--in",
        dest="inp",
        type=Path,
        default=None,
        help="a results.json.gz (or a plain results.json)",
    )
    plot.add_argument("--out", type=Path, default=None, help="folder (default: the JSON's)")


def _add_report_parsers(sub: argparse._SubParsersAction) -> None:
    """The reports drawn from the committed runs (``first-trials``, ``zero-config``,
    ``finetune-check``) and ``finetune-sources``."""
    first = sub.add_parser(
        "first-trials",
        help="RLSampler without sources vs Random after 1, 3 and 5 trials, per suite, from "
        "the committed results (no new runs)",
    )
    first.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder (default: benchmarks/results/first-trials)",
    )

    zero = sub.add_parser(
        "zero-config",
        help="RLSampler after 8 trials vs TPE after 30 on the real test (or dev) datasets, "
        "from the committed runs (see benchmarks/zero_config.py for TPE's runs)",
    )
    zero.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder holding TPE's 30-trial runs; the report goes there too "
        "(default: benchmarks/results/zero-config, or zero-config-dev with --split dev)",
    )
    zero.add_argument(
        "--split",
        choices=("dev", "test"),
        default="test",
        help="real datasets of this split of benchmarks/splits/transfer-v2.json: judge "
        "changes on dev, report test (default: test)",
    )

    fsrc = sub.add_parser(
        "finetune-sources",
        help="write the dev datasets' past studies as a sources file (for optuna-rl finetune)",
    )
    fsrc.add_argument("--out", type=Path, required=True, help="sources file (.json.gz)")
    sub.add_parser(
        "finetune-check",
        help="fine-tuned weights (rl-finetuned) vs the shipped ones on the test split, from "
        "the committed runs (see benchmarks/finetune_check.py)",
    )
    cond = sub.add_parser(
        "conditional",
        help="conditional search spaces (a model, then its own parameters): RLSampler with "
        "and without its parameter groups, TPE and random search (runs them; see "
        "benchmarks/conditional.py)",
    )
    cond.add_argument(
        "--out", type=Path, default=None, help="folder (default: benchmarks/results/conditional)"
    )
    cond.add_argument(
        "--seeds",
        default="0-9,40-59",
        help="sampler seeds (default 0-9,40-59; seeds 10-39 are for development)",
    )
    cond.add_argument("--trials", type=int, default=60, help="trials per study (default 60)")
    cond.add_argument("--samplers", default=None, help="comma-separated (default: all eight)")
    cond.add_argument("--problems", default=None, help="comma-separated (default: all three)")
    cond.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    cond.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sharp = sub.add_parser(
        "policy-sharpness",
        help="how close to uniform the generic policy's choice is, trial by trial, on "
        "100-trial BBOB studies without sources (runs them; see "
        "benchmarks/policy_sharpness.py)",
    )
    sharp.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder (default: benchmarks/results/policy-sharpness)",
    )
    sharp.add_argument("--seeds", default="5-7", help="sampler seeds (default 5-7)")
    sharp.add_argument("--trials", type=int, default=100, help="trials per study")
    sharp.add_argument("--dims", default="2,5,10", help="BBOB dimensions (default 2,5,10)")
    sharp.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    sharp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sharp.add_argument(
        "--meta-model",
        default=None,
        help="weights to measure (a shipped name or a weights file; default: the shipped "
        "generic weights, as RLSampler() uses them without sources)",
    )
    refresh = sub.add_parser(
        "refresh-check",
        help="last month's best configurations of each history study, on the transfer "
        "benchmark's surrogate and on the real objective (see benchmarks/refresh_check.py)",
    )
    refresh.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the real datasets (default: $ORS_DATA_DIR, else ../shared/data "
        "beside the repository; a dataset not found there gets the surrogate only)",
    )
    refresh.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report folder (default: benchmarks/results/refresh-check)",
    )


def _add_transfer_v2_arguments(run: argparse.ArgumentParser) -> None:
    """``run``'s options of the transfer suite v2 (``--suite transfer``)."""
    v2 = run.add_argument_group(
        "transfer suite v2 (--suite transfer; see benchmarks/README.md, 'Transfer')"
    )
    v2.add_argument(
        "--split",
        choices=("dev", "test", "all"),
        default="dev",
        help="datasets of benchmarks/splits/transfer-v2.json to run: decide on dev, run "
        "test once at the end (default: dev)",
    )
    v2.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenarios (default: all: none,honest,backwards,shuffled,"
        "shifted,one-good,refresh)",
    )
    v2.add_argument("--tasks", default=None, help="comma-separated MODEL/DATASET tasks")


def _add_transfer_arguments(run: argparse.ArgumentParser) -> None:
    """``run``'s options of both transfer suites (``--suite transfer`` and
    ``transfer-v1``): corpus, variants, held-out tasks and the real runs."""
    tr = run.add_argument_group(
        "transfer suites (--suite transfer and transfer-v1; see benchmarks/README.md)"
    )
    tr.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="corpus of past studies: a .parquet table, or for transfer-v1 a .json(.gz) "
        "source bank (default corpus/recsys-corpus-v2.parquet; v1: -v1.parquet)",
    )
    tr.add_argument(
        "--fake-corpus",
        action="store_true",
        help="dry run on a generated corpus (3 datasets x 2 models x 150 trials), written "
        "to the output folder (default output /tmp/ors-transfer-fake)",
    )
    tr.add_argument(
        "--variants",
        default="standard,misleading",
        help="standard and/or misleading (sources' values negated) (default: %(default)s)",
    )
    tr.add_argument(
        "--misleading-samplers",
        default=",".join(MISLEADING_SAMPLERS),
        help="samplers run with misleading sources (default: %(default)s)",
    )
    tr.add_argument("--models", default=None, help="held-out model families (default all)")
    tr.add_argument("--datasets", default=None, help="held-out datasets (default all)")
    tr.add_argument(
        "--real", action="store_true", help="also tune real datasets (slow, resumable)"
    )
    tr.add_argument(
        "--data-dir",
        default=None,
        help="folder of the real datasets (default $ORS_DATA_DIR, else ../shared/data)",
    )
    tr.add_argument(
        "--real-datasets",
        default=None,
        help="real datasets to tune (default: transfer, every real dataset of the split; "
        "transfer-v1, the 3 cheapest that the corpus has a study of)",
    )
    tr.add_argument("--real-seeds", default="3", help="seeds of the real runs (default 3)")
    tr.add_argument(
        "--real-samplers",
        default=",".join(REAL_SAMPLERS),
        help="samplers of the real runs (default: %(default)s)",
    )
    tr.add_argument("--real-trials", type=int, default=None, help="default: --trials")
    tr.add_argument(
        "--real-model", default="lightgbm-ranker", help="model family (default: %(default)s)"
    )
    tr.add_argument("--real-metric", default="ndcg@10", help="metric (default: %(default)s)")
    tr.add_argument(
        "--max-valid-queries",
        type=int,
        default=None,
        help="validation queries of the real objective (default: the corpus study's, else 200)",
    )
    tr.add_argument(
        "--fresh",
        action="store_true",
        help="start over: set the stored runs.jsonl aside instead of resuming from it",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    """``run``: the suite of ``--suite`` (:data:`benchmarks.suites.SUITES`)."""
    return run_suite(SUITES[args.suite], args)


def _cmd_overhead(args: argparse.Namespace) -> int:
    from benchmarks.overhead import run_overhead

    if args.quick:
        for key, value in QUICK_OVERHEAD.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    out = args.out or RESULTS_DIR / ("overhead" + ("-quick" if args.quick else ""))
    results = run_overhead(
        _csv(args.samplers),
        parse_int_list(args.trials or "100,1000"),
        parse_int_list(args.dims or "5,10"),
        repeats=args.repeats or 20,
        max_seconds=args.max_seconds if args.max_seconds is not None else 60.0,
        skip=_csv(args.skip),
        workers=args.workers,
        busy=args.busy,
        rounds=args.rounds,
        space=args.space,
        out=out,
        progress=not args.no_progress,
    )
    print(f"wrote {results_file(out)}")
    if not args.no_plot:
        for path in write_any_report(results, out):
            print(f"wrote {path}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    """``plot``: a results file by the writer of its suite, or a suite's committed
    results; ``--suite`` with a name of no suite reads ``benchmarks/results/<name>``."""
    if args.inp is not None:
        return plot_results_file(args.inp, args.out)
    if args.suite is None:
        print("plot: give --suite NAME or --in PATH", file=sys.stderr)
        return 2
    if args.suite in SUITES:
        return SUITES[args.suite].plot(args)
    # Results of a command that is no suite, e.g. "overhead".
    return plot_results_file(results_file(RESULTS_DIR / args.suite), args.out)


def _cmd_first_trials(args: argparse.Namespace) -> int:
    from benchmarks.first_trials import DEFAULT_OUT
    from benchmarks.first_trials import write_first_trials

    for path in write_first_trials(out=args.out or DEFAULT_OUT):
        print(f"wrote {path}")
    return 0


def _cmd_zero_config(args: argparse.Namespace) -> int:
    from benchmarks.zero_config import DEFAULT_OUT
    from benchmarks.zero_config import DEV_OUT
    from benchmarks.zero_config import write_zero_config

    default = DEV_OUT if args.split == "dev" else DEFAULT_OUT
    for path in write_zero_config(out=args.out or default, split=args.split):
        print(f"wrote {path}")
    return 0


def _cmd_conditional(args: argparse.Namespace) -> int:
    from benchmarks.conditional import DEFAULT_OUT
    from benchmarks.conditional import PROBLEMS
    from benchmarks.conditional import SAMPLERS
    from benchmarks.conditional import write_conditional
    from benchmarks.harness import seeds_from_arg

    paths = write_conditional(
        args.out or DEFAULT_OUT,
        seeds=seeds_from_arg(args.seeds),
        n_trials=args.trials,
        samplers=_csv(args.samplers) if args.samplers else SAMPLERS,
        problems=_csv(args.problems) if args.problems else tuple(PROBLEMS),
        workers=args.workers,
        progress=not args.no_progress,
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_policy_sharpness(args: argparse.Namespace) -> int:
    from benchmarks.harness import seeds_from_arg
    from benchmarks.policy_sharpness import DEFAULT_OUT
    from benchmarks.policy_sharpness import write_policy_sharpness

    paths = write_policy_sharpness(
        args.out or DEFAULT_OUT,
        dimensions=[int(d) for d in args.dims.split(",")],
        seeds=seeds_from_arg(args.seeds),
        n_trials=args.trials,
        workers=args.workers,
        progress=not args.no_progress,
        meta_model=args.meta_model,
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_refresh_check(args: argparse.Namespace) -> int:
    import optuna

    from benchmarks.refresh_check import DEFAULT_OUT
    from benchmarks.refresh_check import write_refresh_check
    from benchmarks.transfer import data_dir_from

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = args.out or DEFAULT_OUT
    for path in write_refresh_check(out=out, data_dir=data_dir_from(args.data_dir)):
        print(f"wrote {path}")
    return 0


def _cmd_finetune_sources(args: argparse.Namespace) -> int:
    from benchmarks.finetune_check import dev_sources
    from optuna_rl_sampler.sources import save_sources_json

    sources = dev_sources()
    save_sources_json(sources, args.out)
    print(f"wrote {args.out} ({len(sources)} studies)")
    return 0


def _cmd_finetune_check(args: argparse.Namespace) -> int:
    from benchmarks.finetune_check import write_finetune_check

    for path in write_finetune_check():
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    args = build_parser().parse_args(argv)
    handlers = {
        "run": _cmd_run,
        "overhead": _cmd_overhead,
        "plot": _cmd_plot,
        "first-trials": _cmd_first_trials,
        "zero-config": _cmd_zero_config,
        "finetune-sources": _cmd_finetune_sources,
        "finetune-check": _cmd_finetune_check,
        "refresh-check": _cmd_refresh_check,
        "conditional": _cmd_conditional,
        "policy-sharpness": _cmd_policy_sharpness,
    }
    try:
        return handlers[args.command](args)
    except BadArgument as exc:
        print(f"python -m benchmarks {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
