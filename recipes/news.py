"""Tune a news recommender: rank the articles of each impression by click probability.

News is read within hours, so the data are impressions (the articles a user was shown,
the ones clicked) and the split is temporal: tune on the impressions of one period,
report on the next. Each validation query is one impression; the model ranks its shown
articles and NDCG@10 rewards putting the clicked ones first.

Runs with no arguments on synthetic MIND-like data (a few minutes on two CPU cores):

    python recipes/news.py
    python recipes/news.py --data PATH/TO/mind_sample --trials 50 --sampler tpe
    optuna-dashboard sqlite:///recipes-news.db
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

from optuna_rl_sampler.recsys.objective import make_objective

DOMAIN = "news"
DEFAULT_METRIC = "ndcg@10"
#: An impression shows few articles, so hit rate and recall at 10 are nearly always 1;
#: these tell the models apart.
EXTRA_METRICS = ("ndcg@5", "mrr", "hitrate@1", "recall@3")


def main(args: argparse.Namespace) -> int:
    # 1. Impressions: synthetic by default, or a MIND folder with --data.
    data = load_data(args)
    # 2. One temporal split and one set of impression queries, reused by every trial.
    objective = make_objective(
        args.model,
        data,
        args.metric,
        max_valid_queries=args.max_valid_queries,
        max_test_queries=args.max_test_queries,
        extra_metrics=EXTRA_METRICS,
        seed=args.seed,
    )
    # 3. A maximising study in --storage with the chosen sampler and a median pruner.
    study = create_study(args, data)
    # 4. Tune: LightGBM reports NDCG after each boosting round, so weak trials stop early.
    seconds = tune(study, objective, args)
    # 5. Tuned vs default params vs popularity, on validation and on the held-out test.
    print_report(study, objective, args, seconds)
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse_args(DOMAIN, DEFAULT_METRIC, __doc__, argv)
    return run(main, args)


if __name__ == "__main__":
    sys.exit(cli())
