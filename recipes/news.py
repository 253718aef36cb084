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
from collections.abc import Sequence

from _common import Recipe
from _common import main

RECIPE = Recipe(
    domain="news",
    metric="ndcg@10",
    description=__doc__,
    # An impression shows few articles, so hit rate and recall at 10 are nearly always 1;
    # these tell the models apart.
    extra_metrics=("ndcg@5", "mrr", "hitrate@1", "recall@3"),
)


def cli(argv: Sequence[str] | None = None) -> int:
    return main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(cli())
