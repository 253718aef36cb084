"""Samplers, storage and studies of a tuning run (:mod:`~optuna_rl_sampler.recsys.tuning`).

- :func:`make_sampler`: the sampler a ``--sampler`` name stands for, seeded (``rl``
  with transfer from the shipped past studies, or from ``--previous-study``);
- :func:`create_study`: the study in ``--storage``, named by :func:`study_name`, its
  first trial the model's default configuration; an existing study is resumed only if
  it has this run's objectives and limits;
- :func:`tune`: the trials, with a progress bar;
- :func:`default_trial`, :func:`absolute_storage`, :func:`print_transfer`: what the
  report needs of a study.

Errors a user can fix raise :class:`TuningError`, whose message is the one line the
command prints.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.objective import RecsysObjective


def sampler_choices(*, multi_objective: bool = False) -> tuple[str, ...]:
    """The ``--sampler`` names: the project's sampler registry
    (:mod:`optuna_rl_sampler.sampler_registry`) with the samplers of the installed
    plugins; with ``multi_objective=True`` those that take ``--objectives`` (not
    ``cmaes``: Optuna's CmaEsSampler raises ``ValueError`` in a multi-objective study)."""
    from optuna_rl_sampler.recsys.plugins import load_plugin_samplers
    from optuna_rl_sampler.sampler_registry import sampler_names

    load_plugin_samplers()
    return sampler_names(multi_objective=multi_objective)


#: User attribute that marks the enqueued default-configuration trial.
DEFAULT_ATTR = "default"


class TuningError(Exception):
    """A problem the user can fix; printed as one line without a traceback."""


# -------------------------------------------------------------------------- samplers


def make_sampler(
    name: str,
    seed: int,
    budget: int,
    transfer: bool = True,
    multi_objective: bool = False,
    model: str | None = None,
    previous: Sequence[optuna.Study] = (),
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (one of :func:`sampler_choices`), seeded.

    ``rl`` uses the shipped meta-model and, unless ``transfer`` is off or the study is
    multi-objective (the shipped past studies are single-objective, and RLSampler uses
    no sources there), the shipped past studies of the study's model family as sources
    (``RLSampler(source_studies="auto")``, which reads the family from the record the
    objective stores on the study; ``model`` names it in the printed line). With
    ``previous`` studies (``--previous-study``) those are its sources instead; other
    samplers ignore them here (the caller enqueues their best configurations).

    No sampler gets a ``constraints_func``: with ``--max-model-mb`` or ``--max-train-s``
    the objective sets each trial's constraint values itself (``Trial.set_constraint``),
    which RLSampler and Optuna's samplers read from the trials (Optuna 5 deprecates
    ``constraints_func`` in TPE, GP and NSGA-II for it; Random and QMC ignore
    constraints either way).
    """
    from optuna_rl_sampler.sampler_registry import make_sampler as build

    transfer = transfer and not multi_objective
    if name not in sampler_choices():
        raise TuningError(
            f"unknown sampler {name!r}; choose one of {', '.join(sampler_choices())}"
        )
    if name != "rl":
        return build(name, seed, budget=max(budget, 1))
    try:
        from optuna_rl_sampler import RLSampler  # noqa: F401 - its import errors get advice
    except Exception as exc:  # noqa: BLE001 - any import failure gets the same advice
        raise TuningError(
            f"--sampler rl needs optuna_rl_sampler.RLSampler, which failed to import "
            f"({type(exc).__name__}: {exc}); run with --sampler tpe instead"
        ) from exc
    if previous:
        sampler = build("rl", seed, budget=max(budget, 1), source_studies=list(previous))
        shown = ", ".join(f"{s.study_name!r} ({len(_complete(s))} trials)" for s in previous)
        print(
            f"RLSampler: meta-model {sampler.weights.name!r}; transfer from "
            f"--previous-study {shown}."
        )
        return sampler
    sampler = build("rl", seed, budget=max(budget, 1), source_studies="auto" if transfer else None)
    from optuna_rl_sampler.policy import GENERIC_WEIGHTS
    from optuna_rl_sampler.sources import load_builtin_sources

    n_sources = len(load_builtin_sources(model)) if transfer and model else 0
    # Without sources RLSampler's shipped default proposes with the generic weights.
    meta_model = sampler.weights.name if transfer and n_sources else GENERIC_WEIGHTS
    print(
        f"RLSampler: meta-model {meta_model!r}; "
        + (
            f"transfer from the {n_sources} shipped past studies of {model!r}, the "
            "model family this study records (--no-transfer to turn off)."
            if transfer and n_sources
            else f"no transfer (no shipped past studies of {model!r})."
            if transfer
            else "no transfer (the shipped past studies are single-objective)."
            if multi_objective
            else "no transfer (--no-transfer)."
        )
    )
    return sampler


# --------------------------------------------------------------------------- studies


def goals_suffix(args: argparse.Namespace) -> str:
    """What the study name adds for ``--objectives`` and limits, e.g.
    ``-mo-ndcg@10+coverage@10-max-model-mb1``; empty for one metric without limits, so
    such studies keep their names.

    Example:
        >>> from argparse import Namespace
        >>> goals_suffix(Namespace(objectives=["ndcg@10", "model_mb"], limits={"train_s": 2.5}))
        '-mo-ndcg@10+model_mb-max-train-s2.5'
    """
    parts = []
    if args.objectives:
        parts.append("mo-" + "+".join(args.objectives))
    for name, limit in args.limits.items():
        parts.append(f"max-{name.replace('_', '-')}{limit:g}")
    suffix = "".join(f"-{part}" for part in parts)
    return re.sub(r"[^A-Za-z0-9@+._-]+", "_", suffix)


def study_name(args: argparse.Namespace, data: Interactions, sampler: str) -> str:
    """``--study-name`` (plus ``-<sampler>`` when comparing), or the descriptive default
    (with :func:`goals_suffix`, so a multi-objective or constrained run never resumes a
    study of other goals)."""
    if args.study_name:
        return args.study_name if len(args.samplers) == 1 else f"{args.study_name}-{sampler}"
    folds = f"-folds{args.folds}" if args.folds > 1 else ""
    return (
        f"{args.domain}-{data.name}-{args.model}-{sampler}-seed{args.seed}{folds}"
        f"{goals_suffix(args)}"
    )


def _check_resumable(
    study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace
) -> None:
    """Refuse to resume a study whose objectives or limits are not this run's."""
    import optuna

    name, where = study.study_name, args.storage
    wanted = [optuna.study.StudyDirection[d.upper()] for d in objective.directions]
    ours = objective.objectives or [objective.metric]
    theirs = study.metric_names or [d.name.lower() for d in study.directions]
    if len(study.directions) != len(wanted):
        raise TuningError(
            f"study {name!r} in {where} has {len(study.directions)} objective(s) "
            f"({', '.join(theirs)}) but this run has {len(wanted)} ({', '.join(ours)}); pass "
            "another --study-name, or the study's own objectives"
        )
    stored = study.user_attrs.get("objectives")
    metric = study.user_attrs.get("metric")
    if (
        study.directions != wanted
        or stored != objective.objectives
        or (metric is not None and metric != objective.metric)
    ):
        raise TuningError(
            f"study {name!r} in {where} tunes {', '.join(theirs)} "
            f"({', '.join(d.name.lower() for d in study.directions)}), not this run's "
            f"{', '.join(ours)}; pass another --study-name"
        )
    limits = study.user_attrs.get("limits", {})
    if limits != objective.constraints:
        raise TuningError(
            f"study {name!r} in {where} was run with the limits {_limits_text(limits)}, this "
            f"run has {_limits_text(objective.constraints)}; their constraint values would not "
            "match: pass another --study-name, or the study's own limits"
        )


def _limits_text(limits: dict[str, float]) -> str:
    """``--max-model-mb 1 --max-train-s 5``, or ``none``."""
    flags = " ".join(f"--max-{name.replace('_', '-')} {limit:g}" for name, limit in limits.items())
    return flags or "none"


def create_study(
    args: argparse.Namespace, data: Interactions, objective: RecsysObjective, sampler: str
) -> optuna.Study:
    """A study in ``--storage`` whose first trial is the default configuration.

    One maximised objective, or with ``--objectives`` the objective's directions (its
    metric names are the objectives; no pruner, as Optuna prunes no multi-objective
    trial). An existing study of the name is resumed only if it has the same objectives
    and limits (:class:`TuningError` otherwise).

    The default configuration (``family.default_params()``) is enqueued with the user
    attribute ``default=True`` unless the study already holds it, so tuning is never
    worse than the default on validation: the best trial is at least as good (unless
    the default breaks a limit), and the default is on the front or dominated.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name(args, data, sampler)
    _make_sqlite_folder(args.storage)
    try:
        storage = optuna.storages.get_storage(args.storage)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds
        raise TuningError(f"cannot open --storage {args.storage}: {exc}") from exc
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        done = 0
    else:
        _check_resumable(existing, objective, args)
        done = len(existing.trials)
    multi = objective.objectives is not None
    if name in args.previous_study:
        raise TuningError(
            f"the study of this run would be {name!r}, the --previous-study itself (same "
            "dataset name, model, sampler and seed); pass --study-name for the new study"
        )
    previous = _previous_studies(args, storage, objective)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=objective.directions,
        sampler=make_sampler(
            sampler,
            args.seed,
            budget=done + args.trials,
            transfer=not args.no_transfer,
            multi_objective=multi,
            model=objective.family.name,
            previous=previous,
        ),
        pruner=optuna.pruners.NopPruner()
        if multi
        else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
        load_if_exists=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective.objectives or [args.metric])
    attrs: list[tuple[str, Any]] = [
        ("domain", args.domain),
        ("dataset", data.name),
        ("model", args.model),
        ("metric", args.metric),
        ("sampler", sampler),
        ("folds", args.folds),
    ]
    if multi:
        attrs.append(("objectives", objective.objectives))
    if objective.constraints:
        attrs.append(("limits", objective.constraints))
    for key, value in attrs:
        study.set_user_attr(key, value)
    # What the study tunes (model family, metric, dataset): RLSampler's auto transfer
    # reads it before the first trial.
    objective.record_on(study)
    if done:
        print(f"Resuming study {name!r} ({done} trials so far).")
    if args.trials and not any(t.user_attrs.get(DEFAULT_ATTR) for t in study.trials):
        study.enqueue_trial(
            objective.family.default_params(), user_attrs={DEFAULT_ATTR: True}, skip_if_exists=True
        )
    if previous and sampler != "rl" and not done:
        # The warm start a practitioner would use with TPE, GP, ...: last time's best.
        for past, params in _best_configurations(previous, k=PREVIOUS_BEST):
            study.enqueue_trial(params, user_attrs={PREVIOUS_ATTR: past}, skip_if_exists=True)
    return study


#: Best configurations of the ``--previous-study`` studies enqueued for samplers other
#: than rl (which transfers from the studies instead).
PREVIOUS_BEST = 3
#: User attribute naming the previous study an enqueued configuration comes from.
PREVIOUS_ATTR = "previous_study"


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _previous_studies(
    args: argparse.Namespace, storage: Any, objective: RecsysObjective
) -> list[optuna.Study]:
    """The ``--previous-study`` studies, checked: in ``--storage``, single-objective, of
    this run's model and metric direction, with complete trials."""
    import optuna

    from optuna_rl_sampler.meta_prior import MIN_SOURCE_TRIALS

    names = list(dict.fromkeys(args.previous_study))
    if not names:
        return []
    if objective.objectives is not None:
        raise TuningError(
            "--previous-study works for one metric; drop --objectives, or the previous study"
        )
    found = []
    for name in names:
        try:
            past = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            known = optuna.get_all_study_names(storage)
            raise TuningError(
                f"--previous-study {name!r}: no such study in {args.storage}; it holds "
                + (", ".join(map(repr, known)) if known else "no study")
            ) from None
        model = past.user_attrs.get("model")
        if model is not None and model != args.model:
            raise TuningError(
                f"--previous-study {name!r} tuned the model {model!r}, not {args.model!r}; "
                f"pass --model {model} or a study of {args.model!r}"
            )
        if (
            len(past.directions) != 1
            or past.directions[0] != optuna.study.StudyDirection[objective.directions[0].upper()]
        ):
            raise TuningError(
                f"--previous-study {name!r} has direction(s) "
                f"{[d.name.lower() for d in past.directions]}, this run "
                f"{objective.directions}; pass a single-objective study of the same metric"
            )
        if not _complete(past):
            raise TuningError(f"--previous-study {name!r} has no complete trial to start from")
        if "rl" in args.samplers and len(_complete(past)) < MIN_SOURCE_TRIALS:
            raise TuningError(
                f"--previous-study {name!r} has {len(_complete(past))} complete trials; "
                f"RLSampler learns from a study of at least {MIN_SOURCE_TRIALS}. Pass a "
                "longer study, or --sampler tpe (which starts from its best configurations)"
            )
        found.append(past)
    return found


def _best_configurations(
    studies: Sequence[optuna.Study], k: int
) -> list[tuple[str, dict[str, Any]]]:
    """Up to ``k`` distinct best configurations over ``studies``, best first, each with
    its study's name."""
    import optuna

    ranked = sorted(
        (
            (t.value if s.direction == optuna.study.StudyDirection.MINIMIZE else -t.value),
            s.study_name,
            t.number,
            t.params,
        )
        for s in studies
        for t in _complete(s)
        if t.value is not None
    )
    out: list[tuple[str, dict[str, Any]]] = []
    for _, name, _, params in ranked:
        if params and all(params != p for _, p in out):
            out.append((name, dict(params)))
        if len(out) == k:
            break
    return out


def check_like_for_like(created: Sequence[tuple[str, optuna.Study]]) -> None:
    """Refuse to compare samplers whose studies would end with different trial counts
    (one of them resumed): the comparison would not be like for like."""
    import optuna

    if len(created) < 2:
        return
    ran = (optuna.trial.TrialState.WAITING,)
    counts = {s: len([t for t in st.trials if t.state not in ran]) for s, st in created}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{s} has {n}" for s, n in counts.items())
        raise TuningError(
            f"--sampler {','.join(counts)} would compare studies of different lengths "
            f"({shown} trials already); pass another --storage (or --seed) so every "
            "sampler starts from the same point."
        )


def tune(study: optuna.Study, objective: RecsysObjective, args: argparse.Namespace) -> float:
    """Run ``--trials`` trials with a progress bar; returns the wall time in seconds."""
    import optuna

    goals = ", ".join(objective.objectives or [args.metric])
    print(
        f"Tuning {objective.family.name} on {objective.data.name} for {goals} "
        f"(validation): {args.trials} trials with {study.user_attrs.get('sampler')}, "
        f"study {study.study_name!r}."
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=args.trials, show_progress_bar=not args.no_progress)
    return time.perf_counter() - start


def default_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's completed default-configuration trial, if any."""
    import optuna

    for trial in study.trials:
        if trial.user_attrs.get(DEFAULT_ATTR) and trial.state == optuna.trial.TrialState.COMPLETE:
            return trial
    return None


def _make_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file (the default one lives in ``runs/``)."""
    match = re.match(r"^sqlite(?:\+\w+)?:///(.+)$", url)
    if match is not None and match.group(1) != ":memory:":
        Path(match.group(1)).parent.mkdir(parents=True, exist_ok=True)


def absolute_storage(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so it works from any folder."""
    match = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", url)
    if match is None or match.group(2) == ":memory:":
        return url
    return match.group(1) + str(Path(match.group(2)).resolve())


def print_transfer(study: optuna.Study) -> None:
    """Which past studies RLSampler transferred from, as its last proposal says."""
    from optuna_rl_sampler.sampler import REASON_KEY

    for trial in reversed(study.trials):
        prior = trial.system_attrs.get(REASON_KEY, {}).get("prior")
        if prior:
            weights = ", ".join(f"{k} {v:.2f}" for k, v in prior["top_sources"].items())
            print(
                f"Transfer (trial #{trial.number}): {prior['n_sources']} matching past "
                f"studies, weight {prior['source_weight']:.2f} (this study's own "
                f"{prior['own_weight']:.2f}); top: {weights}"
            )
            return
