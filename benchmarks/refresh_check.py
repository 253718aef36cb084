"""How good is last month's best configuration on this month's data, really?

The transfer benchmark's ``refresh`` scenario (:mod:`benchmarks.transfer_v2`) gives a
task one source, its *history* study (the oldest 75% of the events), and measures the
target on a GP surrogate of the task's own evaluations. ``python -m benchmarks
refresh-check --data-dir PATH`` asks whether that surrogate judges the source's best
configurations as the real objective does: for every task with a history study it
evaluates the history's :data:`TOP_K` best configurations on the surrogate and, where
the dataset is under ``--data-dir``, on the real objective (built as the corpus built
the task's design study), and places each value among the task's own evaluations
(share of them it beats) and on the task's value range (range regret, 0 = the best of
the task's own evaluations).

Writes ``summary.md`` and ``results.json`` to ``benchmarks/results/refresh-check``.
Without the data folder the real columns say ``n/a``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmarks import transfer_v2 as tv

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "refresh-check"
#: Best configurations of the history study that are evaluated.
TOP_K = 3


def _evaluate(objective: Any, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Values of ``configs`` under an Optuna objective (higher is better)."""
    study = optuna.create_study(direction="maximize")
    for config in configs:
        study.enqueue_trial(dict(config))
    study.optimize(objective, n_trials=len(configs))
    return np.array([np.nan if t.value is None else t.value for t in study.trials])


def _placed(values: np.ndarray, own: np.ndarray, best: float, worst: float) -> dict[str, Any]:
    """Each value's share of the task's own evaluations it beats, and its range regret."""
    return {
        "values": [float(v) for v in values],
        "beats_own": [float((own < v).mean()) for v in values],
        "range_regret": [float((best - v) / (best - worst)) for v in values],
    }


def check(
    corpus_path: str | Path = tv.DEFAULT_CORPUS,
    data_dir: str | Path | None = None,
    *,
    top_k: int = TOP_K,
) -> list[dict[str, Any]]:
    """One row per task with a history study (see the module docstring).

    Args:
        corpus_path: The v2 corpus.
        data_dir: Folder of the real datasets, or ``None`` (surrogate only).
        top_k: How many of the history study's best configurations to evaluate.

    Returns:
        Rows with ``task``, ``split``, ``history_beats`` (each configuration's share of
        the history study it beats), ``surrogate`` and ``real`` (``None`` when the
        dataset is not available), each a dict of ``values``, ``beats_own`` and
        ``range_regret``.
    """
    corpus = tv.load_corpus(corpus_path)
    split = tv.read_split()
    rows = []
    for task in sorted({p.task for p in corpus if p.role == "history"}):
        history = tv.scenario_sources(corpus, task, "refresh")[0]
        own = tv.own_evaluations(corpus, task)
        order = np.argsort(-history.values, kind="stable")[:top_k]
        configs = [history.params[i] for i in order]
        surrogate = tv.surrogate_target(str(corpus_path), task)
        row: dict[str, Any] = {
            "task": task,
            "split": split.get(task.split("/", 1)[1], "-"),
            "history_beats": [float((history.values < history.values[i]).mean()) for i in order],
            "surrogate": _placed(
                _evaluate(surrogate.objective, configs),
                own.values,
                surrogate.best,
                surrogate.worst,
            ),
            "real": None,
        }
        key = task.split("/", 1)[1]
        if data_dir is not None and tv.find_dataset(Path(data_dir), key) is not None:
            start = time.perf_counter()
            real = tv.real_target(str(corpus_path), task, str(data_dir))
            values = _evaluate(real.objective, configs)
            row["real"] = _placed(values, own.values, real.best, real.worst)
            row["real"]["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The report: one line per task, the configurations best first."""

    def cells(part: Mapping[str, Any] | None) -> list[str]:
        if part is None:
            return ["n/a", "n/a"]
        return [
            " / ".join(f"{v:.2f}" for v in part["beats_own"]),
            " / ".join(f"{v:.2f}" for v in part["range_regret"]),
        ]

    lines = [
        "# Last month's best configurations, on the surrogate and on the real objective",
        "",
        "Made by `python -m benchmarks refresh-check --data-dir PATH` (see "
        "`benchmarks/refresh_check.py`). For each task of the transfer benchmark with a "
        f"history study (the oldest 75% of the events), its {TOP_K} best configurations "
        "(best first) evaluated on the task's GP surrogate (what the `refresh` scenario "
        "measures) and on the real objective of the full data: the share of the task's "
        "own evaluations each beats, and its range regret (0 = the best of the task's own "
        "evaluations; below 0 = better than all of them).",
        "",
        "| split | task | beats of history | surrogate: beats own | surrogate: regret "
        "| real: beats own | real: regret |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        history = " / ".join(f"{v:.2f}" for v in row["history_beats"])
        lines.append(
            "| "
            + " | ".join(
                [row["split"], row["task"], history, *cells(row["surrogate"]), *cells(row["real"])]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_refresh_check(
    out: Path = DEFAULT_OUT,
    data_dir: str | Path | None = None,
    corpus_path: str | Path = tv.DEFAULT_CORPUS,
) -> list[Path]:
    """Run :func:`check` and write ``results.json`` and ``summary.md`` into ``out``."""
    rows = check(corpus_path, data_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.write_text(json.dumps({"top_k": TOP_K, "rows": rows}, indent=1) + "\n")
    summary = out / "summary.md"
    summary.write_text(markdown(rows))
    return [results, summary]
