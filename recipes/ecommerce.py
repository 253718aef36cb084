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

from optuna_rl_sampler.recsys.tuning import main

if __name__ == "__main__":
    # The library holds the recipe (optuna_rl_sampler.recsys.tuning.RECIPES["ecommerce"]);
    # this script is the same as `optuna-rl tune --domain ecommerce`, with this --help.
    sys.exit(main(domain="ecommerce", description=__doc__))
