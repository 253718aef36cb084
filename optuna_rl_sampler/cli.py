"""The ``optuna-rl`` command.

Sub-commands:

* ``optuna-rl pretrain --out PATH``: meta-train the generic policy from scratch (PPO on
  synthetic tasks) and write ``PATH`` (safetensors), its JSON card, the training
  curve as JSON and as a PNG plot;
* ``optuna-rl finetune --storage URL --out PATH``: continue meta-training from the
  shipped weights on your own past studies (bounded time, progress bar);
  both keep a checkpoint ``PATH.ckpt`` while they run, and ``--resume`` continues an
  interrupted or time-limited run from it;
* ``optuna-rl weights [PATH]``: validate a weights file and print its card;
* ``optuna-rl evaluate [PATH]``: compare weights with uniform, EI-greedy and UCB-greedy
  policies on held-out synthetic tasks;
* ``optuna-rl data stats --format FORMAT PATH``: load a dataset and print its counts as
  one JSON object (``FORMAT``: any registered dataset source that reads files);
* ``optuna-rl data list``: the registered dataset sources, one JSON object a line;
* ``optuna-rl tune --domain {news,ecommerce,social}``: tune a recommender and report
  tuned vs default vs popularity on test (:mod:`optuna_rl_sampler.recsys.tuning`, the
  same run as ``python recipes/<domain>.py``).

Errors in the input print one line naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def _pretrain(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.training.config import pretrain_config
    from optuna_rl_sampler.training.ppo import train

    cfg = _config_from_args(args, pretrain_config(), _PRETRAIN_OPTIONS)
    card = _train_resumably(
        train, cfg, args, progress=not args.quiet, plot=not args.no_plot, name=args.name
    )
    print(
        json.dumps(
            {"weights": str(args.out), **card["final"], "train_time_s": card["train_time_s"]}
        )
    )
    return 0


def _train_resumably(train: Any, cfg: Any, args: argparse.Namespace, **kwargs: Any) -> dict:
    """Run ``train``; on Ctrl-C, say how to continue from the last checkpoint."""
    from optuna_rl_sampler.training.ppo import checkpoint_path

    try:
        return train(cfg, args.out, resume=args.resume, **kwargs)
    except KeyboardInterrupt:
        ckpt = checkpoint_path(args.out)
        if ckpt.exists():
            print(
                f"optuna-rl: interrupted; the last finished iteration is saved in {ckpt}. "
                "Run the same command with --resume to continue.",
                file=sys.stderr,
            )
        raise


def _finetune_sources(args: argparse.Namespace) -> list:
    """The user's past studies, from a storage, a corpus Parquet or a sources file."""
    from optuna_rl_sampler.sources import SourceStudy
    from optuna_rl_sampler.sources import load_sources_json

    given = [x for x in (args.storage, args.corpus, args.sources) if x is not None]
    if len(given) != 1:
        raise ValueError(
            "pass exactly one of --storage URL, --corpus PARQUET or --sources FILE "
            f"(got {len(given)})."
        )
    if args.storage is not None:
        import optuna

        names = args.study or optuna.get_all_study_names(storage=args.storage)
        sources = []
        for name in names:
            study = optuna.load_study(study_name=name, storage=args.storage)
            if len(study.directions) != 1:
                print(f"optuna-rl: skipping multi-objective study {name!r}", file=sys.stderr)
                continue
            sources.append(SourceStudy.from_study(study))
    elif args.corpus is not None:
        from optuna_rl_sampler.corpus import read_parquet
        from optuna_rl_sampler.corpus import to_sources

        sources = to_sources(read_parquet(args.corpus))
        if args.study:
            sources = [s for s in sources if s.name in set(args.study)]
    else:
        sources = load_sources_json(args.sources)
    usable = [s for s in sources if len(s) >= 5]
    if not usable:
        raise ValueError(
            f"found {len(sources)} studies but none with at least 5 complete trials; "
            "fine-tuning needs finished past studies."
        )
    return usable


def _finetune(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.training.config import finetune_config
    from optuna_rl_sampler.training.ppo import train

    if args.max_minutes is None or args.max_minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.max_minutes}.")
    sources = _finetune_sources(args)
    cfg = _config_from_args(args, finetune_config(), _FINETUNE_OPTIONS)
    print(
        f"optuna-rl: fine-tuning on {len(sources)} studies "
        f"({sum(len(s) for s in sources)} trials) for at most {args.max_minutes:g} minutes",
        file=sys.stderr,
    )
    card = _train_resumably(
        train,
        cfg,
        args,
        progress=not args.quiet,
        plot=not args.no_plot,
        name=args.name,
        corpus=sources,
    )
    print(
        json.dumps(
            {
                "weights": str(args.out),
                **card["final"],
                "iterations": card["iterations_done"],
                "train_time_s": card["train_time_s"],
            }
        )
    )
    return 0


def _weights(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.policy import load_weights

    weights = load_weights(args.path)
    print(json.dumps(weights.card, indent=2, sort_keys=True))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.policy import load_named_weights
    from optuna_rl_sampler.policy import load_weights
    from optuna_rl_sampler.training.evaluate import PolicySpec
    from optuna_rl_sampler.training.evaluate import baseline_policies
    from optuna_rl_sampler.training.evaluate import evaluate_policies

    weights = load_weights(args.path)
    handoff = None if args.handoff is None else load_named_weights(args.handoff)
    policies = [
        PolicySpec(weights.name, weights, handoff=handoff),
        PolicySpec(f"{weights.name} (greedy)", weights, greedy=True, handoff=handoff),
        *baseline_policies(with_prior=args.sources is not None),
    ]
    results = evaluate_policies(
        policies,
        n_tasks=args.tasks,
        budget=args.budget,
        sources=args.sources,
        prior_startup=args.prior_startup,
    )
    print(json.dumps(results, indent=2))
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.recsys.loaders import dataset_stats

    print(json.dumps(dataset_stats(args.path, format=args.format)))
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.recsys.plugins import get_dataset_source
    from optuna_rl_sampler.recsys.plugins import list_datasets

    for name in list_datasets():
        source = get_dataset_source(name)
        record = {"name": name, "plugin": source.plugin, "description": source.description}
        print(json.dumps(record))
    return 0


# --- tuning a recommender (optuna-rl tune ...) -------------------------------------------


def _tune(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.recsys.tuning import run_command

    return run_command(args, prog="optuna-rl tune")


def _add_tune_parser(sub: argparse._SubParsersAction) -> None:
    """``optuna-rl tune``: its arguments come from :mod:`optuna_rl_sampler.recsys.tuning`,
    or, without the recsys extra, a stand-in that says what to install when run."""
    help_text = "tune a recommender for a domain; report tuned vs default vs popularity"
    try:
        from optuna_rl_sampler.recsys.tuning import COMMAND_DESCRIPTION
        from optuna_rl_sampler.recsys.tuning import add_arguments
    except ImportError as err:
        missing = err

        def _missing(args: argparse.Namespace) -> int:
            raise missing

        # No option of its own ("+" is no flag's prefix): every argument is accepted.
        p = sub.add_parser("tune", help=help_text, add_help=False, prefix_chars="+")
        p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
        p.set_defaults(func=_missing)
        return
    p = sub.add_parser(
        "tune",
        help=help_text,
        description=COMMAND_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=_tune)


# --- corpus of past studies (optuna-rl corpus ...) ---------------------------------------


def _corpus_collect(args: argparse.Namespace) -> int:
    import logging

    from optuna_rl_sampler.corpus import stats as corpus_stats
    from optuna_rl_sampler.corpus_collect import collect

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("optuna.optuna_rl_sampler.corpus").setLevel(logging.INFO)
    options = {}
    for item in args.model_option:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-option {item!r} is not KEY=VALUE (JSON value).")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    study = collect(
        args.model,
        args.data,
        storage=args.storage,
        study_name=args.study_name,
        trials=args.trials,
        sampler=args.sampler,
        metric=args.metric,
        workers=args.workers,
        seed=args.seed,
        format=args.format,
        max_users=args.max_users,
        max_events_per_user=args.max_events_per_user,
        max_valid_queries=args.max_valid_queries,
        model_options=options,
        progress=not args.no_progress,
        sampler_seed=args.sampler_seed,
        history_fraction=args.history_fraction,
    )
    from optuna_rl_sampler.corpus import read_studies

    print(json.dumps(corpus_stats(read_studies(study))[0]))
    return 0


def _corpus_export(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.corpus import read_studies
    from optuna_rl_sampler.corpus import stats as corpus_stats
    from optuna_rl_sampler.corpus import to_sources
    from optuna_rl_sampler.corpus import write_parquet

    table = read_studies(args.storage, study_names=args.study or None)
    write_parquet(table, args.out)
    summary = {"out": str(args.out), "studies": len(corpus_stats(table)), "rows": len(table)}
    if args.sources_out is not None:
        from optuna_rl_sampler.sources import save_sources_json

        sources = to_sources(table)
        save_sources_json(sources, args.sources_out)
        summary["sources_out"] = str(args.sources_out)
        summary["sources"] = len(sources)
    print(json.dumps(summary))
    return 0


def _corpus_stats(args: argparse.Namespace) -> int:
    from optuna_rl_sampler.corpus import load_table
    from optuna_rl_sampler.corpus import stats as corpus_stats

    print(json.dumps(corpus_stats(load_table(args.source)), indent=2))
    return 0


def _add_corpus_parser(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser(
        "corpus",
        help="collect, export and summarise a corpus of past studies",
        description="The corpus of past studies: space-filling sweeps of a model family on a "
        "dataset (collect), one compact Parquet table of many studies (export), and a "
        "summary per study (stats).",
    )
    corpus_sub = corpus.add_subparsers(dest="corpus_command", required=True)

    p = corpus_sub.add_parser(
        "collect",
        help="sweep one model on one dataset into a study (resumable)",
        description="Run a Sobol design or an optimiser (random, TPE, GP, RLSampler) over a "
        "model family's search space on a dataset until the study holds --trials COMPLETE "
        "trials. Rerunning the same command resumes; trials left RUNNING by a killed run "
        "are marked FAIL.",
    )
    p.add_argument("--model", required=True, help="registered model, e.g. lightgbm-ranker")
    p.add_argument(
        "--data",
        required=True,
        help="dataset folder, or synthetic:DOMAIN[:knob=value,...] (size= and seed= pick "
        "the preset and generator seed)",
    )
    p.add_argument("--format", default=None, help="format of a dataset folder (default: detect)")
    p.add_argument(
        "--trials", type=int, default=150, help="COMPLETE trials to reach (default: 150)"
    )
    p.add_argument(
        "--sampler",
        default="sobol",
        help="scrambled Sobol design (QMC), or the optimiser a past study ran with: random, "
        "tpe, gp or rl-generic (RLSampler without sources) (default: sobol)",
    )
    p.add_argument(
        "--sampler-seed",
        type=int,
        default=None,
        help="seed of the sampler alone; data, split and validation queries keep --seed "
        "(default: --seed)",
    )
    p.add_argument(
        "--history-fraction",
        type=float,
        default=None,
        help="keep only the oldest this share of the events, e.g. 0.75: the dataset before "
        "a data refresh (default: all events)",
    )
    p.add_argument(
        "--storage",
        default="sqlite:///corpus.db",
        help="RDB URL or journal file (FILE.log, journal:FILE) (default: sqlite:///corpus.db)",
    )
    p.add_argument(
        "--study-name",
        default=None,
        help="study name (default: MODEL/DATASET/SAMPLER-seedSEED); an existing one resumes",
    )
    p.add_argument("--metric", default="ndcg@10", help="metric to maximise (default: ndcg@10)")
    p.add_argument("--workers", type=int, default=1, help="processes on the storage (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    p.add_argument(
        "--max-users",
        type=int,
        default=None,
        help="keep at most this many users, drawn with --seed (default: all)",
    )
    p.add_argument(
        "--max-events-per-user",
        type=int,
        default=None,
        help="keep each user's latest this many events (default: all)",
    )
    p.add_argument(
        "--max-valid-queries",
        type=int,
        default=500,
        help="validation queries per trial, drawn with --seed (default: 500)",
    )
    p.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor option, VALUE as JSON (repeatable), e.g. max_train_queries=1000",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_corpus_collect)

    p = corpus_sub.add_parser(
        "export",
        help="write the studies of a storage as one Parquet table",
        description="Read studies from a storage into the corpus table and write it as "
        "Parquet; optionally also as source studies (gzipped JSON) for RLSampler.",
    )
    p.add_argument("--storage", required=True, help="RDB URL or journal file to read")
    p.add_argument(
        "--study",
        action="append",
        default=[],
        metavar="NAME",
        help="study to export (repeatable; default: every study)",
    )
    p.add_argument("--out", required=True, help="Parquet file to write")
    p.add_argument(
        "--sources-out",
        default=None,
        help="also write the source studies here (.sources.json.gz; default: no)",
    )
    p.set_defaults(func=_corpus_export)

    p = corpus_sub.add_parser(
        "stats",
        help="print a summary per study as JSON",
        description="Summarise each study of a corpus Parquet file or a storage.",
    )
    p.add_argument("source", help="corpus .parquet file, RDB URL or journal file")
    p.set_defaults(func=_corpus_stats)


#: ``optuna-rl pretrain`` options: flag -> PPOConfig field (help and default from there).
_PRETRAIN_OPTIONS = {
    "--seed": "seed",
    "--iterations": "iterations",
    "--episodes-per-iteration": "episodes_per_iteration",
    "--init": "init_weights",
    "--learning-rate": "learning_rate",
    "--minutes": "max_minutes",
    "--source-prob": "source_prob",
    "--parallel-prob": "parallel_prob",
    "--prune-prob": "prune_prob",
    "--prior-startup": "prior_startup",
    "--handoff": "handoff",
    "--families": "families",
    "--dims": "dims",
    "--dim-weights": "dim_weights",
    "--budgets": "budgets",
    "--log-reward": "log_reward",
    "--workers": "workers",
}
#: ``optuna-rl finetune`` options: flag -> PPOConfig field.
_FINETUNE_OPTIONS = {
    "--init": "init_weights",
    "--minutes": "max_minutes",
    "--iterations": "iterations",
    "--episodes-per-iteration": "episodes_per_iteration",
    "--corpus-share": "corpus_prob",
    "--learning-rate": "learning_rate",
    "--budgets": "budgets",
    "--candidates": "n_candidates",
    "--prior-startup": "prior_startup",
    "--handoff": "handoff",
    "--workers": "workers",
    "--seed": "seed",
}
#: Fields whose value is a name or a path; the others take their default's type.
_TEXT_FIELDS = ("init_weights", "handoff")
#: Fields without a default value of their own (``None``) that take numbers.
_FLOAT_FIELDS = ("max_minutes",)


def _pretrain_defaults() -> Any:
    from optuna_rl_sampler.training.config import pretrain_config

    return pretrain_config()


def _finetune_defaults() -> Any:
    from optuna_rl_sampler.training.config import finetune_config

    return finetune_config()


def _add_config_options(p: argparse.ArgumentParser, base: Any, options: dict[str, str]) -> None:
    """One option per ``options`` entry, generated from the PPOConfig field it sets:
    help from the field's metadata, default and type from ``base``."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(base)}
    for flag, name in options.items():
        default = getattr(base, name)
        shown = (
            "unset"
            if default is None
            else " ".join(map(str, default))
            if isinstance(default, tuple)
            else default
        )
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": default,
            "help": f"{fields[name].metadata['help']} (default: {shown})",
        }
        if isinstance(default, tuple):
            kwargs.update(nargs="+", type=type(default[0]))
        elif name in _TEXT_FIELDS:
            kwargs["type"] = str
        elif name in _FLOAT_FIELDS:
            kwargs["type"] = float
        else:
            kwargs["type"] = type(default)
        p.add_argument(flag, **kwargs)


def _config_from_args(args: argparse.Namespace, base: Any, options: dict[str, str]) -> Any:
    """``base`` with the values of the generated options (``--handoff none``: no hand-off)."""
    import dataclasses

    changes = {name: getattr(args, name) for name in options.values()}
    if isinstance(changes.get("handoff"), str) and changes["handoff"].lower() == "none":
        changes["handoff"] = None
    for name, value in changes.items():
        if isinstance(value, list):
            changes[name] = tuple(value)
    return dataclasses.replace(base, **changes)


def _add_resume(p: argparse.ArgumentParser) -> None:
    """``--resume`` of ``pretrain`` and ``finetune``."""
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted or --minutes-limited run from the checkpoint beside "
        "--out (OUT.ckpt, rewritten every iteration); same options, --iterations may grow",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from optuna_rl_sampler import __version__

    parser = argparse.ArgumentParser(
        prog="optuna-rl",
        description="Meta-trained RL sampler for Optuna: training, weights and data tools.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "pretrain",
        help="meta-train the policy on synthetic tasks (from scratch or from --init)",
        description="Meta-train the policy with PPO on synthetic tasks, some with synthetic "
        "source studies (related, unrelated, misleading). Deterministic for a given --seed "
        "when --minutes is unset; the card records the iterations done and the time taken.",
    )
    p.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    _add_config_options(p, _pretrain_defaults(), _PRETRAIN_OPTIONS)
    p.add_argument("--name", default="generic-v1", help="name recorded in the card")
    p.add_argument("--no-plot", action="store_true", help="skip the training-curve PNG")
    _add_resume(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_pretrain)

    p = sub.add_parser(
        "finetune",
        help="continue meta-training on your own past studies",
        description="Continue meta-training the policy (PPO) from the shipped weights on "
        "your own past studies: each episode optimises a GP surrogate of one of your "
        "studies with the others as its source studies (and, for the rest, the synthetic "
        "tasks of pretraining, so the policy stays sound elsewhere). Bounded by --minutes "
        "(10 by default, on --workers CPU processes). Writes a weights file and its card; "
        "load them with RLSampler(meta_model=PATH).",
    )
    src = p.add_argument_group("past studies (exactly one)")
    src.add_argument("--storage", help="Optuna storage URL, e.g. sqlite:///past.db")
    src.add_argument("--corpus", help="corpus Parquet written by `optuna-rl corpus export`")
    src.add_argument("--sources", help="source studies JSON (.json or .json.gz)")
    p.add_argument(
        "--study", action="append", default=[], help="study name to use (repeatable; default: all)"
    )
    p.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    _add_config_options(p, _finetune_defaults(), _FINETUNE_OPTIONS)
    p.add_argument("--name", default="finetuned", help="name recorded in the card")
    p.add_argument("--no-plot", action="store_true", help="skip the training-curve PNG")
    _add_resume(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_finetune)

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
    p.add_argument(
        "--sources",
        choices=["related", "unrelated", "misleading"],
        default=None,
        help="give every task two synthetic source studies of this kind (default: none)",
    )
    p.add_argument(
        "--prior-startup",
        type=int,
        default=0,
        help="simulate the sampler's prior-startup phase of this many trials in tasks with "
        "sources, for every policy (the sampler's default is 5; default here: 0)",
    )
    p.add_argument(
        "--handoff",
        default=None,
        help="weights (a shipped name such as generic-v1, or a file) the evaluated weights "
        "hand off to while the sources are distrusted, as RLSampler() does with its "
        "shipped weights (default: none)",
    )
    p.set_defaults(func=_evaluate)

    data = sub.add_parser("data", help="recommender dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("stats", help="print a dataset's counts as JSON")
    p.add_argument(
        "--format",
        default=None,
        help="dataset format: a registered dataset source that reads files (see "
        "'optuna-rl data list'; default: detect a built-in format)",
    )
    p.add_argument("path", help="dataset folder")
    p.set_defaults(func=_data_stats)
    p = data_sub.add_parser(
        "list", help="print the registered dataset sources (built-in and plugins) as JSON lines"
    )
    p.set_defaults(func=_data_list)

    _add_corpus_parser(sub)
    _add_tune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``optuna-rl``.

    Args:
        argv: The arguments after the program name. Defaults to ``None``
            (``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 for an error in the input or a missing extra
        (one line on stderr naming the problem, or the ``pip install`` command).
    """
    from optuna_rl_sampler._missing import extra_for
    from optuna_rl_sampler._missing import require_extra

    args = build_parser().parse_args(argv)
    try:
        if args.command in ("pretrain", "finetune"):  # meta-training: the train extra
            require_extra("train", "torch", "tqdm", feature=f"optuna-rl {args.command}")
        return int(args.func(args))
    except ImportError as err:
        friendly = extra_for(err)
        if friendly is None:
            raise
        print(f"optuna-rl: error: {friendly}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"optuna-rl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
