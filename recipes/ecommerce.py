"""Tune an e-commerce recommender: predict what each shopper buys next.

Shopping logs are skewed towards a few popular products and come in sessions, with
repeat purchases and items bought together. Each validation query is one user; the
model ranks the whole catalogue (minus what the user already has) and Recall@20 counts
how many of the user's next purchases make the top 20. Popularity is hard to beat on
such data, so the report shows it beside the tuned and default models.

Runs with no arguments on synthetic Amazon/YOOCHOOSE-like data (a few minutes on two
CPU cores):

    python recipes/ecommerce.py
    python recipes/ecommerce.py --data PATH/TO/Beauty.txt --format amazon-seq
    optuna-dashboard sqlite:///ABSOLUTE/PATH/runs/recipes-ecommerce.db   # the recipe prints it
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import Recipe
from _common import main

from optuna_rl_sampler.recsys.objective import DEFAULT_EXTRA_METRICS

RECIPE = Recipe(
    domain="ecommerce",
    metric="recall@20",
    description=__doc__,
    extra_metrics=(*DEFAULT_EXTRA_METRICS, "ndcg@20"),
)


def cli(argv: Sequence[str] | None = None) -> int:
    return main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(cli())
