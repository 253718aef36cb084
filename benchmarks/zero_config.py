"""Zero-config gain on unseen recommender data: RLSampler after 8 trials against TPE
after 30, on the real datasets of the v2 test split.

The claim to test (issue "transfer that never hurts"): with no configuration,
RLSampler reaches within 8 trials the best validation NDCG@10 that TPESampler finds in
30, in at least 3 of 4 runs. "No configuration" on a dataset the shipped corpus has
never seen means transferring from the studies of the *other* datasets: the benchmark's
``rl-transfer`` runs with honest sources (``RLSampler()``'s ``"auto"`` would also use
the shipped studies of the same dataset, which a new user's data does not have). The
RLSampler runs are those of the transfer benchmark (``benchmarks/results/transfer-v2``,
20 trials); TPE's 30-trial runs are made for this comparison::

    TASKS=lightgbm-ranker/amazon_sports,lightgbm-ranker/lastfm_2k
    TASKS=$TASKS,lightgbm-ranker/ml_latest_small
    python -m benchmarks run --suite transfer --split test --real --samplers tpe \\
        --scenarios none --trials 30 --tasks $TASKS --out benchmarks/results/zero-config

``python -m benchmarks zero-config`` then writes ``summary.md`` and ``summary.json``
into ``benchmarks/results/zero-config``. Runs are paired by dataset and seed (the same
seed gives TPE and RLSampler the same objective, data and validation queries).

The same comparison on the real datasets of the *dev* split is where a change meant to
raise this figure is judged, so that the test split's figure stays one measured once:
TPE's 30-trial runs there are made with ``--split dev`` and the dev datasets in
``--tasks`` (``lightgbm-ranker/amazon_beauty``, ``lightgbm-ranker/filmtrust``,
``lightgbm-ranker/mind_sample``, ``lightgbm-ranker/yoochoose_clicks_100k``) into
``benchmarks/results/zero-config-dev``, and ``python -m benchmarks zero-config --split
dev`` writes its report there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import RESULTS_DIR
from benchmarks.harness import write_json
from benchmarks.tables import table

__all__ = ["compare_runs", "write_zero_config"]

DEFAULT_OUT = RESULTS_DIR / "zero-config"
#: Where the dev split's comparison lives (see the module's docstring).
DEV_OUT = RESULTS_DIR / "zero-config-dev"
TRANSFER = RESULTS_DIR / "transfer-v2"
#: Trials RLSampler gets, and TPE's budget it must match.
RL_TRIALS, TPE_TRIALS = 8, 30
#: The claim: at least this share of runs reach TPE's 30-trial best.
TARGET_SHARE = 0.75


def _best(values: Sequence[float | None], t: int) -> float | None:
    found = [v for v in values[:t] if v is not None and np.isfinite(v)]
    return max(found) if found else None


def _records(folder: Path, fingerprints: Mapping[str, str] | None) -> list[dict[str, Any]]:
    from benchmarks.transfer_v2 import read_records
    from benchmarks.transfer_v2_report import current_records

    return current_records(read_records(folder), fingerprints)


def compare_runs(
    rl_runs: Sequence[Mapping[str, Any]], tpe_runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (task, seed) present in both: RLSampler's best after
    :data:`RL_TRIALS` trials, TPE's after :data:`TPE_TRIALS`, and whether RL reached it."""
    tpe = {(r["task"], int(r["seed"])): r for r in tpe_runs if r.get("values")}
    rows = []
    for r in sorted(rl_runs, key=lambda r: (r["task"], int(r["seed"]))):
        other = tpe.get((r["task"], int(r["seed"])))
        if not r.get("values") or other is None or len(other["values"]) < TPE_TRIALS:
            continue
        rl_best, tpe_best = _best(r["values"], RL_TRIALS), _best(other["values"], TPE_TRIALS)
        if rl_best is None or tpe_best is None:
            continue
        tpe_first = next(
            (i + 1 for i in range(TPE_TRIALS) if _best(other["values"], i + 1) >= rl_best),
            None,
        )
        rows.append(
            {
                "task": r["task"],
                "seed": int(r["seed"]),
                "rl_at_8": rl_best,
                "tpe_at_30": tpe_best,
                "tpe_at_8": _best(other["values"], RL_TRIALS),
                "reached": rl_best >= tpe_best,
                "tpe_trials_to_rl_at_8": tpe_first,
            }
        )
    return rows


def write_zero_config(
    out: Path = DEFAULT_OUT, transfer: Path = TRANSFER, split: str = "test"
) -> list[Path]:
    """Compare on the real datasets of ``split`` (``"test"`` or ``"dev"``) and write the
    report; return the paths written."""
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', got {split!r}.")
    meta = json.loads((transfer / "summary.json").read_text()).get("meta", {})
    records = _records(transfer, meta.get("fingerprints"))
    from benchmarks.transfer_v2 import read_split

    datasets = read_split()
    real = [
        r
        for r in records
        if r["kind"] == "real" and datasets.get(r["task"].split("/", 1)[1]) == split
    ]
    tpe = [r for r in _records(out, None) if r["kind"] == "real" and r["sampler"] == "tpe"]
    result: dict[str, Any] = {"split": split, "rl_trials": RL_TRIALS, "tpe_trials": TPE_TRIALS}
    for label, sampler, scenario in (
        ("rl-transfer", "rl-transfer", "honest"),
        ("rl-generic", "rl-generic", "none"),
    ):
        rows = compare_runs(
            [r for r in real if r["sampler"] == sampler and r["scenario"] == scenario], tpe
        )
        result[label] = {
            "rows": rows,
            "reached": sum(r["reached"] for r in rows),
            "ahead_at_8": sum(r["rl_at_8"] > r["tpe_at_8"] for r in rows),
            "runs": len(rows),
        }
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "summary.json")
    (out / "summary.md").write_text(markdown(result))
    return [out / "summary.json", out / "summary.md"]


def markdown(result: Mapping[str, Any]) -> str:
    """``summary.md``."""
    lines = [
        "# Zero-config gain on unseen recommender data",
        "",
        "Generated by `python -m benchmarks zero-config` (see `benchmarks/zero_config.py` "
        "for what is compared and the command that made TPE's runs). Validation NDCG@10 of "
        f"LightGBM LambdaRank on the real datasets of the v2 {result.get('split', 'test')} "
        "split; RLSampler's best "
        f"after {RL_TRIALS} trials against TPE's best after {TPE_TRIALS}, paired by dataset "
        "and seed. `rl-transfer`: RLSampler transferring from the corpus's studies of the "
        "other datasets (what RLSampler() does on a dataset the corpus never saw); "
        "`rl-generic`: no sources.",
        "",
    ]
    for label in ("rl-transfer", "rl-generic"):
        part = result[label]
        share = part["reached"] / part["runs"] if part["runs"] else 0.0
        verdict = "reached" if part["runs"] and share >= TARGET_SHARE else "not reached"
        lines += [
            f"## {label}: {part['reached']} of {part['runs']} runs reach TPE's "
            f"{TPE_TRIALS}-trial best within {RL_TRIALS} trials ({share:.0%}; target "
            f"{TARGET_SHARE:.0%}: {verdict})",
            "",
            f"At the same budget ({RL_TRIALS} trials each) RLSampler is ahead of TPE in "
            f"{part.get('ahead_at_8', 0)} of {part['runs']} runs.",
            "",
            *table(
                [
                    "dataset",
                    "seed",
                    f"RL @{RL_TRIALS}",
                    f"TPE @{RL_TRIALS}",
                    f"TPE @{TPE_TRIALS}",
                    "reached",
                    "TPE trials to RL's value",
                ],
                [
                    [
                        r["task"].split("/", 1)[1],
                        str(r["seed"]),
                        f"{r['rl_at_8']:.4f}",
                        f"{r['tpe_at_8']:.4f}",
                        f"{r['tpe_at_30']:.4f}",
                        "yes" if r["reached"] else "no",
                        str(r["tpe_trials_to_rl_at_8"] or f"> {TPE_TRIALS}"),
                    ]
                    for r in part["rows"]
                ],
            ),  # fmt: skip
            "",
        ]
    return "\n".join(lines)
