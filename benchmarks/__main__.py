"""Command line: ``python -m benchmarks {run,overhead,plot} ...`` (from the repository root).

Examples::

    python -m benchmarks run --suite bbob --samplers rl,random,tpe,gp,cmaes,qmc \\
        --seeds 5 --trials 100 --dims 2,5,10 --workers 2
    python -m benchmarks run --suite bbob --quick
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
from benchmarks.harness import read_json
from benchmarks.harness import seeds_from_arg
from benchmarks.tasks import BBOB_DEFAULT_FUNCTIONS
from benchmarks.tasks import SUITES
from benchmarks.tasks import parse_int_list

QUICK_RUN = {"seeds": "2", "trials": 20, "dims": "2", "functions": "1,8,15"}
QUICK_OVERHEAD = {"trials": "50,200", "dims": "5", "repeats": 5, "max_seconds": 10.0}


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark RLSampler against Optuna's samplers (see benchmarks/README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run samplers on a suite of tasks and write results")
    run.add_argument("--suite", default="bbob", choices=sorted(SUITES), help="task suite")
    run.add_argument(
        "--samplers",
        default=",".join(DEFAULT_SAMPLERS),
        help="comma-separated registry names or module:function factories (default: %(default)s)",
    )
    run.add_argument(
        "--seeds", default=None, help="count ('5' = seeds 0-4) or list ('0,3' or '10-14')"
    )
    run.add_argument("--trials", type=int, default=None, help="trials per study (default 100)")
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
    run.add_argument("--checkpoints", default="5,10,25,50,100", help="trial counts to report at")
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
    run.add_argument("--no-plot", action="store_true", help="write results.json only")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

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
    ovh.add_argument("--out", type=Path, default=None, help="output folder")
    ovh.add_argument("--quick", action="store_true", help="smoke run: N=50,200, 5-D, 5 calls")
    ovh.add_argument("--no-plot", action="store_true")
    ovh.add_argument("--no-progress", action="store_true")

    plot = sub.add_parser("plot", help="re-draw plots and summary.md from results.json")
    plot.add_argument(
        "--suite", default=None, help="reads benchmarks/results/<suite>/results.json"
    )
    plot.add_argument("--in", dest="inp", type=Path, default=None, help="a results.json")
    plot.add_argument("--out", type=Path, default=None, help="folder (default: the JSON's)")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.harness import run_benchmark
    from benchmarks.report import write_report

    if args.quick:
        for key, value in QUICK_RUN.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    seeds = seeds_from_arg(args.seeds or "5")
    trials = args.trials or 100
    dims = parse_int_list(args.dims) if args.dims else None
    functions = parse_int_list(args.functions) if args.functions else None
    specs = SUITES[args.suite](functions=functions, dims=dims, worst_quantile=args.worst_quantile)
    out = args.out or RESULTS_DIR / (args.suite + ("-quick" if args.quick else ""))
    results = run_benchmark(
        specs,
        _csv(args.samplers),
        seeds,
        trials,
        suite=args.suite,
        workers=args.workers,
        out=out,
        checkpoints=parse_int_list(args.checkpoints),
        reference=args.reference,
        config_extra={
            "functions": functions,
            "dims": dims,
            "worst_quantile": args.worst_quantile,
            "quick": args.quick,
        },
        progress=not args.no_progress,
    )
    print(f"wrote {out / 'results.json'} ({results['total_wall_s'] / 60:.1f} min)")
    if not args.no_plot:
        for path in write_report(results, out):
            print(f"wrote {path}")
    return 1 if results["n_failed"] else 0


def _cmd_overhead(args: argparse.Namespace) -> int:
    from benchmarks.overhead import run_overhead
    from benchmarks.report import write_report

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
        out=out,
        progress=not args.no_progress,
    )
    print(f"wrote {out / 'results.json'}")
    if not args.no_plot:
        for path in write_report(results, out):
            print(f"wrote {path}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from benchmarks.report import write_report

    if args.inp is not None:
        path = args.inp / "results.json" if args.inp.is_dir() else args.inp
    elif args.suite is not None:
        path = RESULTS_DIR / args.suite / "results.json"
    else:
        print("plot: give --suite NAME or --in PATH", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"plot: no results file at {path}", file=sys.stderr)
        return 2
    out = args.out or path.parent
    for written in write_report(read_json(path), out):
        print(f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _cmd_run, "overhead": _cmd_overhead, "plot": _cmd_plot}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
