from __future__ import annotations

import numpy as np
import pytest

from benchmarks import first_trials as ft


def test_compare_pairs_by_task_and_seed_and_says_when_rl_loses():
    # Six tasks, two seeds: RL's loss after 3 trials is 0.1 above Random's everywhere.
    rnd = {(f"t{i}", s): np.array([0.9, 0.6, 0.4, 0.3]) for i in range(6) for s in (0, 1)}
    rl = {k: v + np.array([0.0, 0.0, 0.1, 0.0]) for k, v in rnd.items()}
    c = ft.compare(rl, rnd, 3)
    assert c["mean"] == pytest.approx(0.1) and c["verdict"] == "worse"
    assert c["rl"] == pytest.approx(0.5) and c["random"] == pytest.approx(0.4)
    assert c["n_tasks"] == 6 and c["unit"] == "tasks"
    assert ft.compare(rl, rnd, 4)["verdict"] == "tie"
    # Fewer than 5 tasks: the interval is over runs, and says so.
    few = {k: v for k, v in rnd.items() if k[0] in ("t0", "t1")}
    assert ft.compare({k: rl[k] for k in few}, few, 3)["unit"] == "runs"
    text = ft.markdown({"suite-a": {"1": None, "3": c, "5": None}})
    assert "0.500 vs 0.400: +0.100 [+0.100, +0.100] **worse**" in text
    assert "Where RLSampler is worse than Random in its first trials: suite-a." in text


def test_the_committed_results_give_every_suite():
    found = ft.suites()
    for name in (
        "bbob",
        "tabular",
        "tabular, dev split",
        "transfer-v1",
        "multiobjective",
        "transfer-v2, test, surrogate",
    ):
        assert name in found and found[name]["rl"] and found[name]["random"], name
    # The BBOB suite pairs 45 tasks (function x dimension), 5 seeds each.
    c = ft.compare(found["bbob"]["rl"], found["bbob"]["random"], 5)
    assert c["n_tasks"] == 45

    # The tabular suite: 6 tasks that share a search space, compared over its 10 seeds.
    summary = ft.summarise({"tabular": found["tabular"]})
    assert summary["tabular"]["5"]["unit"] == "seeds"
    assert summary["tabular"]["5"]["n_tasks"] == 6


def test_compare_by_seed_resamples_seeds_not_tasks():
    # Six tasks share one search space: each seed gives RL the same lucky or unlucky
    # configurations on every task. Seeds 0-1: RL 0.3 worse on every task; seeds 2-5: 0.1
    # better. Over tasks the tie looks like a sure result; over seeds it is a tie.
    rnd = {(f"t{i}", s): np.array([0.5, 0.4, 0.3]) for i in range(6) for s in range(6)}
    rl = {k: v + (0.3 if k[1] < 2 else -0.1) for k, v in rnd.items()}
    by_task = ft.compare(rl, rnd, 3)
    by_seed = ft.compare(rl, rnd, 3, by="seed")
    assert by_task["mean"] == pytest.approx(by_seed["mean"]) == pytest.approx(0.2 / 6)
    assert by_task["low"] == pytest.approx(by_task["high"]) and by_task["verdict"] == "worse"
    assert by_seed["unit"] == "seeds" and by_seed["n_tasks"] == 6
    assert by_seed["low"] < 0 < by_seed["high"] and by_seed["verdict"] == "tie"
    with pytest.raises(ValueError, match="by must be"):
        ft.compare(rl, rnd, 3, by="dataset")
