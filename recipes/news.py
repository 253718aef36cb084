"""Tune a news recommender: rank the articles of each impression by click probability.

News is read within hours, so the data are impressions (the articles a user was shown,
the ones clicked) and the split is temporal: tune on the impressions of one period,
report on the next. Each validation query is one impression; the model ranks its shown
articles and NDCG@10 rewards putting the clicked ones first.

Runs with no arguments on synthetic MIND-like data (a few minutes on two CPU cores):

    python recipes/news.py
    python recipes/news.py --data PATH/TO/mind_sample --trials 50 --sampler rl,tpe
    optuna-dashboard sqlite:///ABSOLUTE/PATH/runs/recipes-news.db   # the recipe prints it
"""

from __future__ import annotations

import sys

from optuna_rl_sampler.recsys.tuning import main

if __name__ == "__main__":
    # The library holds the recipe (optuna_rl_sampler.recsys.tuning.RECIPES["news"]);
    # this script is the same as `optuna-rl tune --domain news`, with this --help.
    sys.exit(main(domain="news", description=__doc__))
