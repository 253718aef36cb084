"""Tune a social recommender: suggest what a user will like, helped by their friends.

Friends share tastes (homophily), so the friend graph is a source of candidates and
features besides the user's own history. The data have no clock, so each user's last
interactions are held out (leave-last-out); each validation query is one user ranking
the whole catalogue, scored by NDCG@10.

Runs with no arguments on synthetic Last.fm-like data (a few minutes on two CPU cores):

    python recipes/social.py
    python recipes/social.py --data PATH/TO/lastfm_2k --trials 50
    optuna-dashboard sqlite:///recipes-social.db
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

DOMAIN = "social"
DEFAULT_METRIC = "ndcg@10"


def main(args: argparse.Namespace) -> int:
    # 1. Plays and friendships: synthetic by default, or Last.fm / FilmTrust with --data.
    data = load_data(args)
    if data.social is None:
        print(f"Note: {data.name} has no social graph; friends add nothing to the model.")
    # 2. One leave-last-out split and one set of user queries, reused by every trial.
    objective = make_objective(
        args.model,
        data,
        args.metric,
        max_valid_queries=args.max_valid_queries,
        max_test_queries=args.max_test_queries,
        seed=args.seed,
    )
    # 3. A maximising study in --storage with the chosen sampler and a median pruner.
    study = create_study(args, data)
    # 4. Tune, pruning trials whose intermediate validation values fall behind.
    seconds = tune(study, objective, args)
    # 5. Tuned vs default params vs popularity, on validation and test.
    print_report(study, objective, args, seconds)
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse_args(DOMAIN, DEFAULT_METRIC, __doc__, argv)
    return run(main, args)


if __name__ == "__main__":
    sys.exit(cli())
