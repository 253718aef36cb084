"""Tune a social recommender: suggest what a user will like, helped by their friends.

Friends share tastes (homophily), so the friend graph is a source of candidates and
features besides the user's own history. The data have no clock, so each user's last
interactions are held out (leave-last-out); each validation query is one user ranking
the whole catalogue, scored by NDCG@10.

Runs with no arguments on synthetic Last.fm-like data (a few minutes on two CPU cores):

    python recipes/social.py
    python recipes/social.py --data PATH/TO/lastfm_2k --trials 50
    optuna-dashboard sqlite:///ABSOLUTE/PATH/runs/recipes-social.db   # the recipe prints it
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import Recipe
from _common import main

from optuna_rl_sampler.recsys.data import Interactions


def _check_data(data: Interactions) -> None:
    if data.social is None:
        print(f"Note: {data.name} has no social graph; friends add nothing to the model.")


RECIPE = Recipe(domain="social", metric="ndcg@10", description=__doc__, check_data=_check_data)


def cli(argv: Sequence[str] | None = None) -> int:
    return main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(cli())
