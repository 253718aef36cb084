"""The ``optuna-rl`` command.

Sub-commands:

* ``optuna-rl pretrain --out PATH``: meta-train the generic policy from scratch (PPO on
  synthetic tasks) and write ``PATH`` (safetensors), its JSON card, the training
  curve as JSON and as a PNG plot;
* ``optuna-rl weights [PATH]``: validate a weights file and print its card;
* ``optuna-rl evaluate [PATH]``: compare weights with uniform, EI-greedy and UCB-greedy
  policies on held-out synthetic tasks;
* ``optuna-rl data stats --format FORMAT PATH``: load a dataset and print its counts as
  one JSON object.

Errors in the input print one line naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _pretrain(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.training.ppo import PPOConfig
    from optuna_rl_sampler.training.ppo import train

    cfg = PPOConfig(seed=args.seed, workers=args.workers)
    if args.iterations is not None:
        cfg.iterations = args.iterations
    if args.episodes_per_iteration is not None:
        cfg.episodes_per_iteration = args.episodes_per_iteration
    card = train(cfg, args.out, progress=not args.quiet, plot=not args.no_plot, name=args.name)
    print(
        json.dumps(
            {"weights": str(args.out), **card["final"], "train_time_s": card["train_time_s"]}
        )
    )
    return 0


def _weights(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.policy import load_weights

    weights = load_weights(args.path)
    print(json.dumps(weights.card, indent=2, sort_keys=True))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.policy import load_weights
    from optuna_rl_sampler.training.evaluate import PolicySpec
    from optuna_rl_sampler.training.evaluate import baseline_policies
    from optuna_rl_sampler.training.evaluate import evaluate_policies

    weights = load_weights(args.path)
    policies = [
        PolicySpec(weights.name, weights),
        PolicySpec(f"{weights.name} (greedy)", weights, greedy=True),
        *baseline_policies(),
    ]
    results = evaluate_policies(policies, n_tasks=args.tasks, budget=args.budget)
    print(json.dumps(results, indent=2))
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.recsys.loaders import dataset_stats

    print(json.dumps(dataset_stats(args.path, format=args.format)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="optuna-rl",
        description="Meta-trained RL sampler for Optuna: training, weights and data tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "pretrain",
        help="meta-train the generic policy from scratch",
        description="Meta-train the policy with PPO on synthetic tasks. Deterministic for a "
        "given --seed; about 10-20 minutes on 2 CPU cores with the defaults.",
    )
    p.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=None, help="PPO iterations (default 300)")
    p.add_argument(
        "--episodes-per-iteration", type=int, default=None, help="episodes per iteration (32)"
    )
    p.add_argument("--workers", type=int, default=2, help="rollout processes (default 2)")
    p.add_argument("--name", default="generic-v1", help="name recorded in the card")
    p.add_argument("--no-plot", action="store_true", help="skip the training-curve PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_pretrain)

    p = sub.add_parser("weights", help="validate a weights file and print its card")
    p.add_argument("path", nargs="?", default=None, help="weights file (default: shipped)")
    p.set_defaults(func=_weights)

    p = sub.add_parser(
        "evaluate",
        help="compare weights with hand-written policies on held-out synthetic tasks",
    )
    p.add_argument("path", nargs="?", default=None, help="weights file (default: shipped)")
    p.add_argument("--tasks", type=int, default=60, help="number of tasks (default 60)")
    p.add_argument("--budget", type=int, default=40, help="evaluations per task (default 40)")
    p.set_defaults(func=_evaluate)

    data = sub.add_parser("data", help="recommender dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("stats", help="print a dataset's counts as JSON")
    p.add_argument("--format", default=None, help="dataset format (default: detect)")
    p.add_argument("path", help="dataset folder")
    p.set_defaults(func=_data_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``optuna-rl``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"optuna-rl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
