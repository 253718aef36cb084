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

from optuna_rl_sampler.recsys.tuning import main

if __name__ == "__main__":
    # The library holds the recipe (optuna_rl_sampler.recsys.tuning.RECIPES["social"]);
    # this script is the same as `optuna-rl tune --domain social`, with this --help.
    sys.exit(main(domain="social", description=__doc__))
