"""Tests of the benchmark harness (``benchmarks/``): metrics on known values, a tiny run."""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution

from benchmarks import metrics
from benchmarks.harness import SAMPLERS
from benchmarks.harness import read_json
from benchmarks.harness import register_sampler
from benchmarks.harness import resolve_samplers
from benchmarks.harness import results_file
from benchmarks.harness import run_benchmark
from benchmarks.harness import seeds_from_arg
from benchmarks.report import write_report
from benchmarks.tasks import Task
from benchmarks.tasks import TaskSpec
from benchmarks.tasks import bbob_suite
from benchmarks.tasks import parse_int_list
from benchmarks.tasks import toy_suite
from optuna_rl_sampler import sampler_registry

needs_cocoex = pytest.mark.skipif(
    importlib.util.find_spec("cocoex") is None, reason="needs cocoex (the bench extra)"
)


# ----------------------------------------------------------------------------- metrics


def test_best_so_far_minimise_and_maximise() -> None:
    values = [5.0, None, 3.0, 4.0, float("nan"), 1.0]
    np.testing.assert_array_equal(
        metrics.best_so_far(values, "minimize"), [5.0, 5.0, 3.0, 3.0, 3.0, 1.0]
    )
    np.testing.assert_array_equal(
        metrics.best_so_far([None, 1.0, 0.5, 2.0], "maximize"), [np.nan, 1.0, 1.0, 2.0]
    )


def test_normalised_regret_known_values() -> None:
    bsf = metrics.best_so_far([5.0, 3.0, 4.0, None, 1.0], "minimize")
    np.testing.assert_allclose(
        metrics.normalised_regret(bsf, best=1.0, worst=5.0), [1.0, 0.5, 0.5, 0.5, 0.0]
    )
    # Maximisation: best 4 > worst 0; same formula.
    bsf = metrics.best_so_far([0.0, 2.0, 1.0, 3.0], "maximize")
    np.testing.assert_allclose(
        metrics.normalised_regret(bsf, best=4.0, worst=0.0), [1.0, 0.5, 0.5, 0.25]
    )


def test_normalised_regret_clips_and_handles_degenerate_cases() -> None:
    bsf = np.array([np.nan, 12.0, 0.5, -1.0])
    np.testing.assert_allclose(
        metrics.normalised_regret(bsf, best=0.0, worst=10.0), [1.0, 1.0, 0.05, 0.0]
    )
    np.testing.assert_allclose(metrics.normalised_regret(np.array([3.0]), 3.0, 3.0), [0.0])


def test_rank_with_ties_and_missing() -> None:
    losses = np.array([[1.0, 2.0, np.nan], [1.0, 3.0, 0.0], [0.5, 2.0, np.nan]])
    ranks = metrics.rank_losses(losses)
    np.testing.assert_allclose(ranks[:, 0], [2.5, 2.5, 1.0])
    np.testing.assert_allclose(ranks[:, 1], [1.5, 3.0, 1.5])
    np.testing.assert_allclose(ranks[:, 2], [2.5, 1.0, 2.5])


def _run(sampler: str, seed: int, values: list[float | None], **kw: Any) -> dict[str, Any]:
    return {
        "task": kw.get("task", "t"),
        "instance": "",
        "seed": seed,
        "sampler": sampler,
        "direction": kw.get("direction", "minimize"),
        "best": kw.get("best"),
        "worst": kw.get("worst"),
        "meta": {"dimension": 2},
        "values": values,
        "wall_s": 1.0,
        "cpu_s": 0.5,
        "error": None,
    }


def test_observed_bounds_when_unknown() -> None:
    runs = [
        _run("a", 0, [3.0, 2.0], direction="maximize"),
        _run("b", 0, [1.0, None, 5.0], direction="maximize"),
    ]
    bounds = metrics.normalisation_bounds(runs)["t|"]
    assert bounds == {
        "best": 5.0,
        "worst": 1.0,
        "best_source": "observed",
        "worst_source": "observed",
    }


def test_summarise_known_values() -> None:
    # Two samplers, two seeds, 4 trials, best 0 and worst 10 known.
    kw = {"best": 0.0, "worst": 10.0}
    runs = [
        _run("a", 0, [10.0, 5.0, 0.05, 0.0], **kw),
        _run("b", 0, [10.0, 8.0, 8.0, 1.0], **kw),
        _run("a", 1, [6.0, 6.0, 6.0, 6.0], **kw),
        _run("b", 1, [4.0, 4.0, 2.0, 2.0], **kw),
    ]
    s = metrics.summarise(runs, ["a", "b"], 4, checkpoints=(2, 4), within_at=3, reference="b")
    assert s["checkpoints"] == [2, 4]
    assert s["groups"] == ["all", "dimension=2"]
    a2 = s["regret"]["a"]["all"]["2"]
    assert a2["mean"] == pytest.approx((0.5 + 0.6) / 2)
    assert a2["se"] == pytest.approx(np.std([0.5, 0.6], ddof=1) / math.sqrt(2))
    assert s["regret"]["b"]["all"]["4"]["mean"] == pytest.approx((0.1 + 0.2) / 2)
    # Seed 0 at t=2: a (5) beats b (8); seed 1: b (4) beats a (6).
    assert s["rank"]["a"]["all"]["2"]["mean"] == pytest.approx(1.5)
    # t=1 on seed 0 is a tie (10 vs 10): both rank 1.5.
    assert s["curves"]["all"]["a"]["rank_mean"][0] == pytest.approx((1.5 + 2.0) / 2)
    # Within 1% at trial 3: only a on seed 0 (0.005).
    assert s["within"]["share"]["a"]["all"]["share"] == pytest.approx(0.5)
    assert s["within"]["share"]["b"]["all"]["share"] == pytest.approx(0.0)
    # Speed-up vs b's final best: a reaches 1.0 at trial 3 on seed 0, never 2.0 on seed 1.
    sp = s["speedup"]["by"]["a"]["all"]
    assert sp["share_matched"] == pytest.approx(0.5)
    assert sp["median_trials_to_match"] is None  # median of (3, inf) is inf
    # b reaches its own final best at trial 4 (seed 0) and 3 (seed 1).
    assert s["speedup"]["by"]["b"]["all"]["median_trials_to_match"] == pytest.approx(3.5)
    assert s["log10_regret"]["a"]["all"]["4"]["mean"] == pytest.approx(
        (math.log10(1e-8) + math.log10(6.0)) / 2
    )


def test_parsers() -> None:
    assert parse_int_list("1-3,8,10-11") == [1, 2, 3, 8, 10, 11]
    assert seeds_from_arg("3") == [0, 1, 2]
    assert seeds_from_arg("4,7") == [4, 7]
    assert seeds_from_arg("0-0") == [0]


@pytest.mark.parametrize("text", ["0", "5-3", " , "])
def test_seeds_that_give_no_seed_are_a_usage_error(text: str, capsys) -> None:
    # "--seeds 0" is a count of none: it ran no study and then failed deep in the report.
    from benchmarks.__main__ import main

    args = ["run", "--suite", "toy", "--samplers", "random", "--seeds", text, "--no-plot"]
    assert main([*args, "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert f"--seeds {text.strip()!r} gives no seed" in err and "'0-0'" in err


# ------------------------------------------------------------------------------- tasks


@needs_cocoex
def test_bbob_task_bounds_are_consistent() -> None:
    (spec,) = bbob_suite(functions=[1], dims=[2])
    task = spec.build(seed=0)
    assert task.name == "bbob_f01_d02"
    assert task.instance == "i11" and spec.build(seed=4).instance == "i15"
    assert task.meta["bbob_instance"] == 11
    assert task.best is not None and task.worst is not None
    assert task.best < task.worst
    # f_opt is BBOB's two-decimal optimum value and no sampled point is better.
    assert task.best == pytest.approx(round(task.best, 2), abs=1e-9)
    rng = np.random.default_rng(0)
    values = [task.objective({"x0": x, "x1": y}) for x, y in rng.uniform(-5, 5, (200, 2))]
    assert min(values) >= task.best


def test_resolve_skips_unavailable_and_registry_accepts_new() -> None:
    factories, skipped = resolve_samplers(["random", "no_such_module_xyz:factory"])
    assert list(factories) == ["random"]
    assert "no_such_module_xyz:factory" in skipped
    with pytest.raises(ValueError, match="already registered"):
        register_sampler("random", SAMPLERS["random"])
    with pytest.raises(ValueError, match="Unknown sampler"):
        resolve_samplers(["not-a-sampler"])


def test_samplers_come_from_the_package_registry() -> None:
    # Registry names outside the defaults resolve too, and every factory pickles (the
    # worker pool receives it) into one that builds the same sampler.
    factories, skipped = resolve_samplers(["tpe", "nsga2"])
    assert not skipped
    tpe = pickle.loads(pickle.dumps(factories["tpe"]))(3)
    expected = sampler_registry.make_sampler("tpe", 3)
    assert type(tpe) is type(expected) and tpe._multivariate is expected._multivariate
    assert type(factories["nsga2"](0)) is optuna.samplers.NSGAIISampler


def test_register_sampler_adds_to_the_package_registry() -> None:
    register_sampler("random-test", _random_of_seed)
    try:
        assert SAMPLERS["random-test"] is _random_of_seed
        entry = sampler_registry.SAMPLERS["random-test"]
        assert entry.description == "RandomSampler, for the registry test."
        sampler = sampler_registry.make_sampler("random-test", seed=4, budget=9)
        assert isinstance(sampler, optuna.samplers.RandomSampler)
        pickle.dumps(entry.factory)
        with pytest.raises(ValueError, match="already registered"):
            register_sampler("nsga2", _random_of_seed)  # a registry name
    finally:
        del SAMPLERS["random-test"]
        del sampler_registry.SAMPLERS["random-test"]


def _random_of_seed(seed: int) -> optuna.samplers.BaseSampler:
    """RandomSampler, for the registry test."""
    return optuna.samplers.RandomSampler(seed=seed)


# ------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    pytest.importorskip("cocoex")
    out = tmp_path_factory.mktemp("bench")
    specs = bbob_suite(functions=[1], dims=[2])
    results = run_benchmark(
        specs,
        ["random", "tpe"],
        seeds=[0, 1],
        n_trials=12,
        suite="bbob",
        workers=0,
        out=out,
        progress=False,
        log=lambda _msg: None,
    )
    return results, out


def test_quick_run_writes_valid_json(quick_results: tuple[dict[str, Any], Path]) -> None:
    results, out = quick_results
    data = read_json(results_file(out))
    for key in ("schema_version", "kind", "suite", "config", "environment", "runs", "summary"):
        assert key in data
    assert data["kind"] == "benchmark" and data["n_failed"] == 0
    assert len(data["runs"]) == 4
    for run in data["runs"]:
        assert run["error"] is None
        assert len(run["values"]) == 12
        assert run["best"] < run["worst"]
        assert run["wall_s"] > 0
    summary = data["summary"]
    assert summary["checkpoints"] == [5, 10, 12]
    for key in ("regret", "rank", "within", "wall_s", "cpu_s", "speedup", "curves"):
        assert key in summary
    assert set(summary["regret"]) == {"random", "tpe"}
    assert len(summary["curves"]["dimension=2"]["tpe"]["regret_mean"]) == 12
    for sampler in ("random", "tpe"):
        for entry in summary["regret"][sampler]["all"].values():
            assert 0.0 <= entry["mean"] <= 1.0 and entry["n"] == 2


def test_results_are_deterministic_per_seed(
    quick_results: tuple[dict[str, Any], Path],
) -> None:
    results, _ = quick_results
    again = run_benchmark(
        bbob_suite(functions=[1], dims=[2]),
        ["tpe"],
        seeds=[1],
        n_trials=12,
        suite="bbob",
        workers=0,
        progress=False,
        log=lambda _msg: None,
    )
    first = next(r for r in results["runs"] if r["sampler"] == "tpe" and r["seed"] == 1)
    assert again["runs"][0]["values"] == first["values"]


def test_toy_suite_maximise_define_by_run_observed_bounds() -> None:
    results = run_benchmark(
        toy_suite(),
        ["random"],
        seeds=[0, 1],
        n_trials=6,
        suite="toy",
        workers=0,
        progress=False,
        log=lambda _msg: None,
    )
    bounds = results["summary"]["normalisation"]
    assert bounds["toy_mixed|"]["best_source"] == "observed"
    assert bounds["toy_mixed|"]["best"] > bounds["toy_mixed|"]["worst"]  # maximised
    assert bounds["toy_sphere|"]["best_source"] == "known"
    assert all(r["error"] is None for r in results["runs"])


def test_plot_writes_png_and_summary(
    quick_results: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    from benchmarks.__main__ import main

    results, out = quick_results
    paths = write_report(results, tmp_path)
    names = {p.name for p in paths}
    assert {"regret_curves.png", "rank_curves.png", "summary.md"} <= names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Normalised regret" in (tmp_path / "summary.md").read_text()
    # The CLI re-plots from the JSON alone.
    assert main(["plot", "--in", str(results_file(out)), "--out", str(tmp_path / "re")]) == 0
    assert (tmp_path / "re" / "regret_curves.png").stat().st_size > 1000


def test_overhead_cell_and_plot(tmp_path: Path) -> None:
    from benchmarks.overhead import measure_cell
    from benchmarks.report import plot_overhead

    cell = measure_cell(
        "random", SAMPLERS["random"], dim=3, n_trials=30, repeats=3, max_seconds=5.0
    )
    assert cell["error"] is None and cell["repeats"] == 3
    assert cell["ms_median"] > 0 and cell["peak_rss_mb"] > 0
    results = {"config": {"samplers": ["random"]}, "cells": [cell]}
    path = plot_overhead(results, tmp_path / "overhead.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_overhead_integer_space_repeats_configurations_and_bad_names_fail() -> None:
    from benchmarks.overhead import as_numbers
    from benchmarks.overhead import history
    from benchmarks.overhead import rosenbrock
    from benchmarks.overhead import run_overhead
    from benchmarks.overhead import search_space

    trials = history(2, 300, "int")
    configs = {tuple(t.params.values()) for t in trials}
    assert all(isinstance(v, int) and -5 <= v <= 5 for t in trials for v in t.params.values())
    assert len(configs) < 121  # at most 11 x 11 configurations: 300 trials repeat them
    assert all(isinstance(v, float) for v in history(2, 5)[0].params.values())
    cats = history(3, 50, "cat")
    assert all(v in {f"c{j}" for j in range(50)} for t in cats for v in t.params.values())
    first = cats[0]
    assert first.value == rosenbrock(as_numbers(first.params, "cat"))
    assert as_numbers({"a": "c0", "b": "c49"}, "cat").tolist() == [-5.0, 5.0]
    with pytest.raises(ValueError, match="space='bits'"):
        search_space(2, "bits")
    with pytest.raises(ValueError, match="space='bits'"):
        run_overhead(["random"], [10], [2], space="bits", progress=False, log=lambda _: None)


class _HungrySampler(optuna.samplers.RandomSampler):
    """Random search that touches 64 MB during every proposal, then frees it."""

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        np.ones(8_000_000).sum()
        return super().sample_independent(study, trial, param_name, param_distribution)


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs"
)
def test_overhead_cell_reports_what_the_proposals_themselves_allocate() -> None:
    from benchmarks.overhead import measure_cell

    def measure(factory: Any) -> dict[str, Any]:
        return measure_cell("x", factory, dim=2, n_trials=20, repeats=2, max_seconds=5.0)

    quiet = measure(SAMPLERS["random"])
    hungry = measure(lambda seed: _HungrySampler(seed=seed))
    assert quiet["error"] is None and hungry["error"] is None
    assert quiet["proposal_peak_mb"] < 20
    assert hungry["proposal_peak_mb"] > 50  # 64 MB touched per proposal
    # The whole-process peak still counts the build.
    assert hungry["peak_rss_mb"] >= hungry["rss_after_build_mb"]


def test_background_load_runs_busy_processes_and_the_summary_says_so() -> None:
    from benchmarks.overhead import background_load
    from benchmarks.report import overhead_markdown

    def cpu_ticks(pid: int) -> int:  # user time, from /proc (Linux)
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])

    with background_load(2) as load:
        assert len(load["pids"]) == 2
        for pid in load["pids"]:
            os.kill(pid, 0)  # running
            if Path("/proc").is_dir():
                assert cpu_ticks(pid) > 0  # busy for the 2 s before the block
    for pid in load["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped
    assert "end" in load
    with pytest.raises(ValueError, match="busy=-1"):
        with background_load(-1):
            pass
    cfg = {"history": "h", "repeats": 1, "max_seconds": 1.0, "busy_processes": 2}
    text = overhead_markdown({"config": cfg, "cells": [], "load_average": load})
    assert "**Under load:** 2 busy processes" in text
    cfg["busy_processes"] = 0
    assert "Under load" not in overhead_markdown({"config": cfg, "cells": []})


def test_rounds_pool_timings_and_pair_the_ratio_round_by_round() -> None:
    from benchmarks.overhead import pool_rounds
    from benchmarks.overhead import rl_tpe_round_ratios
    from benchmarks.overhead import run_overhead

    def cell(sampler: str, ms: list[float], rss: float) -> dict[str, Any]:
        return {
            "sampler": sampler, "dim": 5, "n_trials": 1000, "ms": ms,
            "ms_median": float(np.median(ms)), "ms_mean": float(np.mean(ms)),
            "first_call_ms": 10 * ms[0], "repeats": len(ms), "capped": False,
            "build_s": 1.0, "rss_after_build_mb": rss, "peak_rss_mb": rss, "error": None,
            "proposal_peak_mb": None if sampler == "tpe" else rss / 10,
        }  # fmt: skip

    rounds = [cell("rl", [1.0, 3.0], 100), cell("tpe", [2.0, 2.0], 90)]
    rounds += [cell("rl", [5.0, 7.0], 120), cell("tpe", [4.0, 4.0], 80)]
    rl, tpe = pool_rounds(rounds)
    assert rl["ms"] == [1.0, 3.0, 5.0, 7.0] and rl["ms_median"] == 4.0
    assert rl["round_medians"] == [2.0, 6.0] and rl["peak_rss_mb"] == 120
    assert rl["proposal_peak_mb"] == 12 and tpe["proposal_peak_mb"] is None
    assert rl["first_call_ms"] == 30.0 and rl["repeats"] == 4
    assert rl_tpe_round_ratios([rl, tpe], [5]) == {"dim=5": [1.0, 1.5]}
    (single,) = pool_rounds([cell("rl", [1.0, 3.0], 100)])
    assert single["ms"] == [1.0, 3.0] and single["round_medians"] == [2.0]
    with pytest.raises(ValueError, match="rounds=0"):
        run_overhead(["random"], [10], [2], rounds=0, progress=False, log=lambda _: None)


def _flaky_task(seed: int) -> Task:
    def objective(params: dict[str, Any]) -> float:
        if params["x"] > 0.5:
            raise RuntimeError("objective failed")
        return params["x"] ** 2

    return Task(
        name="flaky",
        objective=objective,
        search_space={"x": FloatDistribution(0.0, 1.0)},
        best=0.0,
        worst=1.0,
        meta={"dimension": 1},
    )


class _BrokenSampler(optuna.samplers.RandomSampler):
    def sample_independent(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("sampler bug")


def _broken(seed: int) -> optuna.samplers.BaseSampler:
    sampler = _BrokenSampler(seed=seed)
    if seed == 1:  # builds fine when the harness checks it (seed 0), fails in the job
        raise ValueError("cannot build for seed 1")
    return sampler


def test_failures_are_recorded_not_raised() -> None:
    register_sampler("broken-test", _broken, replace=True)
    try:
        results = run_benchmark(
            [TaskSpec("flaky", _flaky_task, {"dimension": 1})],
            ["random", "broken-test"],
            seeds=[0, 1],
            n_trials=8,
            suite="test",
            workers=0,
            progress=False,
            log=lambda _msg: None,
        )
    finally:
        del SAMPLERS["broken-test"]
        del sampler_registry.SAMPLERS["broken-test"]
    runs = {(r["sampler"], r["seed"]): r for r in results["runs"]}
    rnd = runs[("random", 0)]
    assert rnd["error"] is None
    assert rnd["n_failed_trials"] == sum(v is None for v in rnd["values"]) > 0
    assert any("objective failed" in w for w in rnd["warnings"])
    # A sampler that raises inside the objective fails every trial; one that cannot be
    # built fails the study, which is kept with its error and left out of the summary.
    assert runs[("broken-test", 0)]["n_failed_trials"] == 8
    assert "cannot build for seed 1" in runs[("broken-test", 1)]["error"]
    assert results["n_failed"] == 1
    assert results["summary"]["regret"]["broken-test"]["all"]["8"]["n"] == 1
    assert results["summary"]["failed_trials"]["broken-test"] == 8


def test_mixed_suite_problems_are_0_at_their_optimum_and_above_it_elsewhere() -> None:
    from benchmarks.tasks import MIXED_PROBLEMS
    from benchmarks.tasks import mixed_suite

    optima = {
        "mixed_additive": {"x": 1.0, "y": -2.0, "n": 3, "c": "b"},
        "mixed_choice_moves_bowl": {"c": "b", "x": -2.0, "y": 0.5},
        "mixed_eight_choices": {"optimizer": "opt3", "lr": 1e-3, "depth": 6, "u": 0.3},
        "mixed_two_choices": {
            "scaled": False,
            "kind": "r",
            "x0": 0.2,
            "x1": 0.4,
            "x2": 0.6,
            "x3": 0.8,
        },
    }
    specs = mixed_suite(dims=[2])  # options that do not apply are ignored
    assert [s.name for s in specs] == list(MIXED_PROBLEMS) == list(optima)
    for spec in specs:
        task = spec.build(seed=7)
        assert task.best == 0.0 and task.worst is None and task.direction == "minimize"
        assert task.meta == spec.meta and task.meta["problem"] == spec.name
        objective = task.optuna_objective()
        best = optima[spec.name]
        assert objective(optuna.trial.FixedTrial(best)) == pytest.approx(0.0, abs=1e-12)
        assert task.meta["dimension"] == len(best)
        # Another choice at the same numbers is worse (by its cost or its own bowl).
        choice = next(k for k, v in best.items() if isinstance(v, str))
        other = {**best, choice: {"b": "a", "opt3": "opt6", "r": "q"}[best[choice]]}
        assert objective(optuna.trial.FixedTrial(other)) > 0.05


# ------------------------------------------------------------------------------ suites


def test_every_suite_satisfies_the_protocol() -> None:
    from benchmarks.__main__ import build_parser
    from benchmarks.suites import SUITES
    from benchmarks.suites import Suite

    assert set(SUITES) == {
        "bbob",
        "toy",
        "mixed",
        "tabular",
        "tabular-dev",
        "tabular-test",
        "transfer",
        "transfer-v1",
        "multiobjective",
    }
    for name, suite in SUITES.items():
        assert isinstance(suite, Suite)
        assert suite.name == name
        assert suite.description and "\n" not in suite.description
    # `run --suite` offers exactly the registry, in its (sorted) order.
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    choices = next(a.choices for a in run._actions if a.dest == "suite")
    assert list(choices) == list(SUITES) == sorted(SUITES)


def test_write_any_report_dispatches_by_the_results_suite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks import multiobjective
    from benchmarks import report
    from benchmarks import transfer
    from benchmarks.__main__ import write_any_report
    from benchmarks.suites import SUITES
    from benchmarks.suites import suite_for

    calls: list[str] = []

    def writer(label: str) -> Any:
        def write(results: dict[str, Any], folder: Path) -> list[Path]:
            calls.append(label)
            return [Path(folder) / label]

        return write

    monkeypatch.setattr(report, "write_report", writer("harness"))
    monkeypatch.setattr(transfer, "write_transfer_report", writer("transfer-v1"))
    monkeypatch.setattr(multiobjective, "write_report", writer("multiobjective"))
    # The kind and suite of each committed results file, and the writer it must get:
    # transfer v1's results call their suite "transfer"; overhead's are no suite's.
    cases = [
        ({"kind": "benchmark", "suite": "bbob"}, "bbob", "harness"),
        ({"kind": "benchmark", "suite": "toy"}, "bbob", "harness"),
        ({"kind": "transfer", "suite": "transfer"}, "transfer-v1", "transfer-v1"),
        (
            {"kind": "multiobjective", "suite": "multiobjective"},
            "multiobjective",
            "multiobjective",
        ),
        ({"kind": "overhead", "suite": "overhead"}, None, "harness"),
    ]
    for results, suite, label in cases:
        found = suite_for(results)
        assert (found.name if found else None) == suite
        assert write_any_report(results, tmp_path) == [tmp_path / label]
    assert calls == [label for *_, label in cases]
    assert suite_for({"kind": SUITES["transfer"].kind}) is SUITES["transfer"]


def test_run_and_plot_go_through_the_suite(tmp_path: Path) -> None:
    from benchmarks.__main__ import main

    out = tmp_path / "toy"
    argv = ["run", "--suite", "toy", "--samplers", "random", "--seeds", "1", "--trials", "4"]
    assert main([*argv, "--workers", "0", "--out", str(out), "--no-progress"]) == 0
    results = read_json(results_file(out))
    assert results["suite"] == "toy" and results["config"]["quick"] is False
    assert {p.name for p in out.iterdir()} >= {"results.json.gz", "summary.md"}
    assert main(["plot", "--in", str(out), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "summary.md").read_text() == (out / "summary.md").read_text()


def test_paired_lines_resample_tasks_or_seeds_with_known_differences():
    from benchmarks.report import paired_lines

    def run(sampler: str, task: str, seed: int, values: list[float]) -> dict:
        return {
            "task": task,
            "instance": "",
            "seed": seed,
            "sampler": sampler,
            "direction": "minimize",
            "best": 0.0,
            "worst": 1.0,
            "meta": {"dimension": 2},
            "values": values,
        }

    # rl is 0.1 better than tpe after 2 trials on every task and seed.
    runs = [
        run(m, f"t{i}", s, [0.8, 0.5 - (0.1 if m == "rl" else 0.0)])
        for m in ("rl", "tpe")
        for i in range(5)
        for s in range(3)
    ]
    results = {
        "suite": "bbob",
        "config": {"group_by": "dimension"},
        "runs": runs,
        "summary": {"samplers": ["rl", "tpe"], "checkpoints": [1, 2], "groups": ["all"]},
    }
    text = "\n".join(paired_lines(results))
    assert "interval over tasks" in text
    assert "| rl - tpe | +0.000 [+0.000, +0.000] | -0.100 [-0.100, -0.100] **better** |" in text
    results["suite"] = "tabular"
    assert "interval over seeds" in "\n".join(paired_lines(results))
    # Without the sampler there is nothing to pair.
    results["summary"]["samplers"] = ["tpe"]
    assert paired_lines(results) == []
