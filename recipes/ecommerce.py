"""Tune an e-commerce recommender: predict what each shopper buys next.

Shopping logs are skewed towards a few popular products and come in sessions, with
repeat purchases and items bought together. Each validation query is one user; the
model ranks the whole catalogue (minus what the user already has) and Recall@20 counts
how many of the user's next purchases make the top 20.

Runs with no arguments on synthetic Amazon/YOOCHOOSE-like data (a few minutes on two
CPU cores):

    python recipes/ecommerce.py
    python recipes/ecommerce.py --data PATH/TO/Beauty.txt --format amazon-seq
    optuna-dashboard sqlite:///recipes-ecommerce.db
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from _common import create_study
from _common import load_data
from _common import parse_args
from _common import print_report
from _common import run
from _common import tune

from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS
from optuna_rl_sampler.recsys.objective import make_objective

DOMAIN = "ecommerce"
DEFAULT_METRIC = "recall@20"


def main(args: argparse.Namespace) -> int:
    # 1. Purchases: synthetic by default, or an Amazon / YOOCHOOSE file with --data.
    data = load_data(args)
    # 2. One split (temporal for sessions, leave-last-out for per-user sequences) and one
    #    set of full-catalogue queries, reused by every trial.
    objective = make_objective(
        args.model,
        data,
        args.metric,
        max_valid_queries=args.max_valid_queries,
        max_test_queries=args.max_test_queries,
        extra_metrics=(*DEFAULT_EXTRA_METRICS, "ndcg@20"),
        seed=args.seed,
    )
    # 3. A maximising study in --storage with the chosen sampler and a median pruner.
    study = create_study(args, data)
    # 4. Tune, pruning trials whose intermediate validation values fall behind.
    seconds = tune(study, objective, args)
    # 5. Tuned vs default params vs popularity (hard to beat on skewed shopping data).
    print_report(study, objective, args, seconds)
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse_args(DOMAIN, DEFAULT_METRIC, __doc__, argv)
    return run(main, args)


if __name__ == "__main__":
    sys.exit(cli())
