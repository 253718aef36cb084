"""Tests of the multi-objective benchmark (``benchmarks/multiobjective.py``): the
hypervolume on known fronts, the problems' definitions, a tiny run end to end,
resumption and the summary."""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna._hypervolume import compute_hypervolume

from benchmarks import multiobjective as mo
from benchmarks.__main__ import main as benchmarks_main
from benchmarks.harness import read_json
from benchmarks.harness import results_file

needs_cocoex = pytest.mark.skipif(
    importlib.util.find_spec("cocoex") is None, reason="needs cocoex (the bench extra)"
)


# ----------------------------------------------------------------------------- hypervolume


def test_hypervolume_exact_values() -> None:
    # Two corners of a staircase: the union of [0, 1] x [0.5, 1] and [0.5, 1] x [0, 1].
    assert mo.hypervolume(np.array([[0.0, 0.5], [0.5, 0.0]])) == 0.75
    # A dominated point, a duplicate, a NaN row and a point outside the box add nothing.
    z = np.array([[0.0, 0.5], [0.5, 0.0], [0.6, 0.6], [0.5, 0.0], [np.nan, 0.1], [0.2, 1.5]])
    assert mo.hypervolume(z) == 0.75
    # Three steps: 0.8 * 0.8 + (0.6 - 0.4) * (1 - 0.4)... checked as a sum of strips.
    z = np.array([[0.2, 0.6], [0.4, 0.3], [0.7, 0.1]])
    expected = 0.8 * 0.4 + 0.6 * 0.3 + 0.3 * 0.2
    assert mo.hypervolume(z) == pytest.approx(expected, abs=1e-15)
    # The ideal point dominates the whole box; a point on the reference adds nothing.
    assert mo.hypervolume(np.array([[0.0, 0.0]])) == 1.0
    assert mo.hypervolume(np.array([[1.0, 0.0]])) == 0.0
    assert mo.hypervolume(np.zeros((0, 2))) == 0.0
    # One objective: 1 - best.
    assert mo.hypervolume(np.array([[0.25], [0.5], [np.nan]])) == 0.75


def test_hypervolume_matches_optuna() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        z = rng.uniform(-0.2, 1.3, size=(rng.integers(1, 30), 2))
        inside = z[(z < 1.0).all(axis=1)]
        expected = compute_hypervolume(inside, np.ones(2)) if len(inside) else 0.0
        assert mo.hypervolume(z) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_pareto_front_and_curve() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [2.5, 2.5], [1.0, 3.0]])
    np.testing.assert_array_equal(mo.pareto_front(pts), [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    info = {"ideal": [0.0, 0.0], "reference": [4.0, 4.0]}
    values = [[3.0, 3.0], None, [1.0, 1.0], [0.0, 0.0]]
    curve = mo.hv_curve(values, [True, True, False, True], info)
    # Trial 3 is infeasible: it does not count.
    assert curve == [1 / 16, 1 / 16, 1 / 16, 1.0]
    # Maximised objectives: the same formula with ideal > reference.
    info = {"ideal": [1.0, 1.0], "reference": [0.0, 0.0]}
    assert mo.hv_curve([[0.5, 0.5]], [True], info) == [0.25]


@pytest.mark.parametrize(("which", "area"), [(1, 1 / 3), (2, 2 / 3)])
def test_zdt_front_hypervolume_is_analytic(which: int, area: float) -> None:
    problem = mo.zdt_problem(which)
    assert problem.ideal == (0.0, 0.0) and problem.nadir == (1.0, 1.0)
    r1, r2 = problem.reference
    assert r1 == pytest.approx(1.1)
    # HV of the front (1 - area under the front) in the box scaled by the reference.
    assert problem.front_hv == pytest.approx(1.0 - area / (r1 * r2), abs=1e-4)
    # A point on the front (g = 1) and its objective values.
    assert mo.zdt(np.array([0.25, 0, 0, 0, 0]), 1) == [0.25, 0.5]
    assert mo.zdt(np.array([0.5, 0, 0, 0, 0]), 2) == [0.5, 0.75]


def test_zdt3_front_is_five_pieces() -> None:
    front = mo.zdt_front(3)
    gaps = np.diff(front[:, 0]) > 0.05
    assert gaps.sum() == 4
    assert front[:, 1].min() == pytest.approx(-0.7733, abs=1e-3)
    assert front[:, 0].max() == pytest.approx(0.8518, abs=1e-3)


def test_constrained_problems() -> None:
    # C2-DTLZ2 (r = 0.2): the ends and the centre of the front are feasible, 20 deg is not.
    assert mo.c2dtlz2_constraint([1.0, 0.0]) < 0
    assert mo.c2dtlz2_constraint([math.sqrt(0.5), math.sqrt(0.5)]) < 0
    assert mo.c2dtlz2_constraint([math.cos(0.35), math.sin(0.35)]) > 0
    front = mo.c2dtlz2_front()
    assert np.allclose(np.hypot(front[:, 0], front[:, 1]), 1.0)
    problem = mo.c2dtlz2_problem()
    assert problem.constrained and problem.ideal == (0.0, 0.0)
    assert 0 < problem.front_hv < 1
    # Gramacy: the stated optimum is feasible and no feasible grid point beats it.
    value, cons = mo.gramacy(np.array([0.1954, 0.4044]))
    assert value == pytest.approx(mo.GRAMACY_OPTIMUM, abs=1e-3)
    assert max(cons) <= 1e-3
    g = np.linspace(0, 1, 301)
    best = min(v for v, c in (mo.gramacy(np.array([a, b])) for a in g for b in g) if max(c) <= 0)
    assert best >= mo.GRAMACY_OPTIMUM - 1e-6
    assert best == pytest.approx(mo.GRAMACY_OPTIMUM, abs=5e-3)


def test_reference_point_rule() -> None:
    sample = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    # Objective 0: nadir + 10% (2.2) beats the median (1.0); objective 1: the median 20.
    ref = mo.reference_point(("minimize", "minimize"), (0.0, 0.0), (2.0, 1.0), sample)
    assert ref == pytest.approx((2.2, 20.0))
    # Maximised: the worse of the two is the lower one.
    ref = mo.reference_point(("maximize",), (3.0,), None, sample[:, :1])
    assert ref == (1.0,)


@needs_cocoex
def test_biobj_problem_ideal_and_nadir() -> None:
    problem = mo.build_problem("biobj_f01", seed=0)
    assert problem.instance == "i01"
    assert mo.build_problem("biobj_f01", seed=6).instance == "i02"
    ideal, nadir = np.array(problem.ideal), np.array(problem.nadir)
    assert (ideal < nadir).all()
    # No point of a random sample beats the ideal point (the two optima).
    rng = np.random.default_rng(0)
    for x in rng.uniform(-5, 5, size=(200, 5)):
        values, _ = problem.evaluate({f"x{i}": v for i, v in enumerate(x)})
        assert (np.array(values) >= ideal - 1e-9).all()


@pytest.mark.skipif(not mo.DEFAULT_CORPUS.is_file(), reason="needs the shipped corpus")
def test_recsys_problem_from_the_corpus() -> None:
    study = mo.RECSYS_STUDIES[0]
    ndcg, cov = mo.corpus_sources(str(mo.DEFAULT_CORPUS), study)
    assert len(ndcg) == len(cov) == 150
    assert list(ndcg.params) == list(cov.params)
    assert not np.allclose(ndcg.values, cov.values)
    problem = mo.build_problem(mo.recsys_problem_name(study), seed=0)
    assert problem.directions == ("maximize", "maximize")
    ideal, nadir, ref = map(np.array, (problem.ideal, problem.nadir, problem.reference))
    assert (ideal > nadir).all() and (nadir > ref).all()
    values, cons = problem.evaluate(dict(ndcg.params[0]))
    assert cons is None and len(values) == 2
    assert values[0] == pytest.approx(ndcg.values[0], abs=0.02)
    assert values[1] == pytest.approx(cov.values[0], abs=0.02)


# ----------------------------------------------------------------------------- tiny runs


def _run(out: Path, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "problems": ["zdt1"],
        "samplers": ["rl", "random"],
        "seeds": [0, 1],
        "n_trials": 6,
        "checkpoints": (3, 6),
        "workers": 0,
        "out": out,
        "progress": False,
        "log": lambda _msg: None,
    }
    options.update(kwargs)
    return mo.run_multiobjective(**options)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("mo")
    return _run(out), out


def test_tiny_run_end_to_end(tiny: tuple[dict[str, Any], Path]) -> None:
    results, out = tiny
    assert results["kind"] == "multiobjective" and results["n_failed"] == 0
    assert len(results["runs"]) == 4 and results["n_run_now"] == 4
    stored = read_json(results_file(out))
    assert stored["summary"]["checkpoints"] == [3, 6]
    info = results["problems"]["zdt1"][""]
    for run in results["runs"]:
        assert len(run["values"]) == 6 and run["n_failed_trials"] == 0
        hv = np.array(run["hv"])
        assert (np.diff(hv) >= 0).all() and 0 <= hv[-1] <= info["front_hv"]
        # The curve is the hypervolume of the stored values.
        z = mo.normalise(np.array(run["values"]), info)
        assert hv[-1] == pytest.approx(mo.hypervolume(z))
    rl = next(r for r in results["runs"] if r["sampler"] == "rl")
    assert rl["rl_reasons"]["sources"].get("fallback", 0) == 0
    summary = results["summary"]
    for sampler in ("rl", "random"):
        entry = summary["metric"]["zdt1"][sampler]["6"]
        assert entry["n"] == 2 and 0 <= entry["mean"] <= 1
    ranks = summary["rank"]["all"]
    for c in ("3", "6"):
        assert ranks["rl"][c]["mean"] + ranks["random"][c]["mean"] == pytest.approx(3.0)


def test_runs_are_the_same_for_the_same_seed(
    tiny: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    results, _ = tiny
    again = _run(tmp_path, samplers=["random"], seeds=[1])
    first = next(r for r in results["runs"] if r["sampler"] == "random" and r["seed"] == 1)
    assert again["runs"][0]["values"] == first["values"]


def test_resume_skips_stored_runs(tmp_path: Path) -> None:
    first = _run(tmp_path, samplers=["random"])
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # A torn last line (from a kill) is ignored; the stored runs are not run again.
    with open(tmp_path / "runs.jsonl", "a") as fh:
        fh.write('{"key": "zdt1|9|random|6", "values": [[')
    second = _run(tmp_path, samplers=["random"])
    assert second["n_run_now"] == 0
    assert [r["values"] for r in second["runs"]] == [r["values"] for r in first["runs"]]
    # The corpus matters only to the recommender problems.
    other = _run(tmp_path, samplers=["random"], corpus=tmp_path / "other.parquet")
    assert other["n_run_now"] == 0
    # A new seed runs only that seed; --fresh sets the log aside and runs everything.
    third = _run(tmp_path, samplers=["random"], seeds=[0, 1, 2])
    assert third["n_run_now"] == 1
    fourth = _run(tmp_path, samplers=["random"], fresh=True)
    assert fourth["n_run_now"] == 2
    assert list(tmp_path.glob("runs.*.old.jsonl"))


def test_summary_names_the_command_behind_each_study(tmp_path: Path) -> None:
    first = "python -m benchmarks run --suite multiobjective --samplers random"
    _run(tmp_path, samplers=["random"], seeds=[0], command=first)
    later = "python -m benchmarks run --suite multiobjective --samplers random --seeds 2"
    results = _run(tmp_path, samplers=["random"], seeds=[0, 1], command=later)
    assert results["n_run_now"] == 1
    assert [r["command"] for r in results["runs"]] == [first, later]
    text = mo.summary_markdown(results)
    assert "from studies run by 2 commands" in text
    assert f"# 1 study\n{first}\n# 1 study\n{later}" in text
    # One command for every study: that command alone, as before.
    alone = _run(tmp_path / "alone", samplers=["random"], seeds=[0], command=first)
    text = mo.summary_markdown(alone)
    assert f"Command (from the repository root):\n\n```bash\n{first}\n```" in text


def test_fewer_seeds_for_one_sampler(tmp_path: Path) -> None:
    plan = {"random": [0], "rl@standard": [1], "rl@zdt2": [0, 1]}
    assert mo.seeds_for(plan, "random", "zdt1", [0, 1]) == [0]
    assert mo.seeds_for(plan, "rl", "zdt1", [0, 1]) == [1]
    assert mo.seeds_for(plan, "rl", "zdt2", [0, 1]) == [0, 1]
    assert mo.seeds_for(plan, "rl", "gramacy", [0, 1]) == [0, 1]
    results = _run(tmp_path, sampler_seeds={"random": [0]})
    assert results["n_run_now"] == 3
    summary = results["summary"]
    assert summary["metric"]["zdt1"]["random"]["6"]["n"] == 1
    assert summary["metric"]["zdt1"]["rl"]["6"]["n"] == 2
    # Ranks and the paired table use seed 0 only, where both ran.
    assert summary["rank_seeds"] == {"zdt1": [0]}
    assert summary["metric_common_seeds"]["zdt1"]["rl"]["6"]["n"] == 1
    text = mo.summary_markdown(results)
    assert "### On the common seeds" in text and "random (1 seed)" in text


def test_constrained_run_records_feasibility(tmp_path: Path) -> None:
    results = _run(
        tmp_path, problems=["gramacy"], samplers=["rl", "tpe", "random"], seeds=[0], n_trials=8
    )
    assert results["n_failed"] == 0
    summary = results["summary"]
    for run in results["runs"]:
        assert len(run["constraints"]) == 8 and all(len(c) == 2 for c in run["constraints"])
        regret = 1.0 - np.array(run["hv"])
        assert ((regret >= 0) & (regret <= 1)).all()
    feas = summary["feasibility"]["gramacy"]
    assert set(feas) == {"rl", "tpe", "random"}
    assert 0 <= feas["rl"]["feasible_share"]["8"]["mean"] <= 1
    # One objective: the table shows regret (1 - HV), lower is better.
    rl = summary["metric"]["gramacy"]["rl"]["8"]["mean"]
    run = next(r for r in results["runs"] if r["sampler"] == "rl")
    assert rl == pytest.approx(1.0 - run["hv"][-1])


def test_samplers_get_constraints_func() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in Optuna 5, still works
        for name in ("rl", "nsga2", "tpe", "gp"):
            sampler = mo.make_sampler(name, 0, 10, constrained=True)
            assert sampler._constraints_func is mo.stored_constraints, name  # type: ignore[attr-defined]
        unconstrained = mo.make_sampler("tpe", 0, 10, constrained=False)
    assert unconstrained._constraints_func is None  # type: ignore[attr-defined]
    # TPE keeps Optuna's own default for multivariate (the sampler the results record).
    assert unconstrained._multivariate is optuna.samplers.TPESampler()._multivariate  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="Unknown sampler"):
        mo.make_sampler("cmaes", 0, 10, constrained=False)


def test_stored_constraints_reads_the_user_attr() -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr(mo.CONSTRAINTS_ATTR, [0.5, -1.0])
    study.tell(trial, 1.0)
    assert mo.stored_constraints(study.trials[0]) == [0.5, -1.0]
    assert mo.is_feasible([0.0, -1.0]) and not mo.is_feasible([0.5, -1.0])
    assert mo.is_feasible(None)


def test_summary_markdown_and_plot(tiny: tuple[dict[str, Any], Path]) -> None:
    results, out = tiny
    paths = mo.write_report(results, out)
    assert {p.name for p in paths} == {"hv_curves.png", "summary.md"}
    text = (out / "summary.md").read_text()
    assert "## Hypervolume" in text and "## Average rank" in text and "## Time" in text
    assert "| zdt1 (front " in text and "HV@6" in text
    assert "RLSampler(seed=s, budget=T)" in text


def test_command_line_and_replot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cli"
    argv = [
        "run",
        "--suite",
        "multiobjective",
        "--problems",
        "zdt2",
        "--samplers",
        "random,nsga2",
        "--seeds",
        "1",
        "--trials",
        "5",
        "--checkpoints",
        "2,5",
        "--workers",
        "0",
        "--out",
        str(out),
        "--no-progress",
        "--note",
        "a test note",
    ]
    monkeypatch.setattr(sys, "argv", ["benchmarks", *argv])  # the command it records
    assert benchmarks_main(argv) == 0
    results = read_json(results_file(out))
    assert results["config"]["samplers"] == ["random", "nsga2"]
    assert "a test note" in (out / "summary.md").read_text()
    assert "--note" not in results["command"] and "--problems zdt2" in results["command"]
    (out / "summary.md").unlink()
    assert benchmarks_main(["plot", "--in", str(results_file(out))]) == 0
    assert (out / "summary.md").is_file() and (out / "hv_curves.png").is_file()
