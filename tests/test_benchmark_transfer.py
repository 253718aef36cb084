"""Tests of the transfer benchmark (``benchmarks/transfer.py``) on a generated corpus."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from benchmarks import transfer
from benchmarks.harness import read_json
from benchmarks.harness import results_file
from benchmarks.transfer import SourceStudy

SPACE = {
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "depth": IntDistribution(1, 8),
    "kind": CategoricalDistribution(["a", "b"]),
}


def _source(name: str, dataset: str, model: str, rows: list[tuple[dict, float]]) -> SourceStudy:
    return SourceStudy(
        name,
        dict(SPACE),
        tuple(p for p, _ in rows),
        np.array([v for _, v in rows]),
        {"dataset": dataset, "model": model, "metric": "ndcg@10"},
    )


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "fake.json.gz"
    return transfer.write_fake_corpus(path, n_trials=64)


@pytest.fixture(scope="module")
def small_run(
    corpus_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("transfer")
    results = transfer.run_transfer(
        corpus_file,
        samplers=["random", "tpe", "rl-generic"],
        seeds=[0, 1],
        n_trials=6,
        variants=["standard"],
        checkpoints=(1, 3, 5, 6),
        workers=0,
        out=out,
        progress=False,
        log=lambda _msg: None,
    )
    return results, out


# ---------------------------------------------------------------------- corpus and LODO


def test_lodo_excludes_every_study_of_the_held_out_dataset(
    small_run: tuple[dict[str, Any], Path],
) -> None:
    corpus = transfer.load_corpus(small_run[0]["config"]["corpus"])
    all_names = {s.name for s in corpus}
    assert len(all_names) == 6  # 3 datasets x 2 models
    for name, task in small_run[0]["tasks"].items():
        held_out = task["dataset"]
        expected = {n for n in all_names if not n.endswith("/" + held_out)}
        assert set(task["sources"]) == expected, name
        assert name not in task["sources"]
        assert not any(held_out in s for s in task["sources"])
        assert task["n_sources"] == 4 and task["n_sources_same_model"] == 2
    # The sources a job's sampler receives are the same ones.
    job = transfer.TransferJob(
        "surrogate", "standard", "two-tower/fake-shop", "two-tower", "fake-shop", 0,
        "random", 3, str(small_run[0]["config"]["corpus"]),
    )  # fmt: skip
    names = {s.name for s in transfer._sources_for(job)}
    assert names == {n for n in all_names if "fake-shop" not in n}


def test_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    from benchmarks.__main__ import main

    with pytest.raises(transfer.CorpusError, match="No corpus at .*--fake-corpus"):
        transfer.load_corpus(tmp_path / "nope.parquet")
    args = ["run", "--suite", "transfer-v1", "--corpus", str(tmp_path / "nope.parquet")]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2


# ------------------------------------------------------------------------------- runs


def test_regret_curves_are_monotone_and_in_unit_interval(
    small_run: tuple[dict[str, Any], Path],
) -> None:
    results, _ = small_run
    assert results["n_failed"] == 0
    assert results["meta_training"]  # read from the weights card
    runs = results["runs"]
    assert len(runs) == 6 * 2 * 3
    for run in runs:
        regret = np.asarray(run["regret"])
        assert regret.shape == (6,)
        assert np.all((regret >= 0) & (regret <= 1))
        assert np.all(np.diff(regret) <= 1e-12)
        assert run["best"] > run["worst"]  # the surrogate's f_max > f_min
    std = results["summary"]["standard"]
    for sampler, curve in std["curves"]["all"].items():
        mean = np.asarray(curve["regret_mean"])
        assert np.all(np.diff(mean) <= 1e-12), sampler
    assert {g for g in std["groups"]} == {"all", "model=lightgbm-ranker", "model=two-tower"}
    # Same seed, same first 6 trials: TPE's startup trials are its RandomSampler's.
    by = {(r["task"], r["seed"], r["sampler"]): r["values"] for r in runs}
    assert by[("two-tower/fake-news", 0, "tpe")] == by[("two-tower/fake-news", 0, "random")]


def test_resume_skips_stored_runs_and_report_is_written(
    small_run: tuple[dict[str, Any], Path], corpus_file: Path
) -> None:
    results, out = small_run
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert len(lines) == len(results["runs"])
    again = transfer.run_transfer(
        corpus_file,
        samplers=["random", "tpe", "rl-generic"],
        seeds=[0, 1],
        n_trials=6,
        variants=["standard"],
        checkpoints=(1, 3, 5, 6),
        workers=0,
        out=out,
        progress=False,
        log=lambda _msg: None,
    )
    assert again["n_run_now"] == 0
    assert [r["values"] for r in again["runs"]] == [r["values"] for r in results["runs"]]
    stored = read_json(results_file(out))
    assert stored["kind"] == "transfer" and stored["meta_training"] == results["meta_training"]
    paths = transfer.write_transfer_report(again, out / "report")
    assert {p.name for p in paths} == {"regret_curves.png", "rank_curves.png", "summary.md"}
    text = (out / "report" / "summary.md").read_text()
    assert "## Targets" in text and "## Normalised regret (model = two-tower)" in text


def test_enqueue_baseline_starts_with_the_best_past_configuration_that_fits(
    corpus_file: Path,
) -> None:
    corpus = transfer.load_corpus(corpus_file)
    target = next(s for s in corpus if s.name == "lightgbm-ranker/fake-news")
    sources = transfer.lodo_sources(corpus, "fake-news")
    configs = transfer.best_past_configs(sources, target.distributions, "lightgbm-ranker")
    assert len(configs) == 5
    # The best by normalised value among the same-model sources' configurations.
    pool = []
    for s in transfer.same_model(sources, "lightgbm-ranker"):
        norm = (s.values - s.values.min()) / (s.values.max() - s.values.min())
        pool += list(zip(norm, s.params, strict=True))
    assert configs[0] == max(pool, key=lambda x: x[0])[1]
    job = transfer.TransferJob(
        "surrogate", "standard", target.name, "lightgbm-ranker", "fake-news", 0,
        "enqueue5-tpe", 6, str(corpus_file),
    )  # fmt: skip
    study, facts = transfer.run_study(job)
    assert study.trials[0].params == configs[0]
    assert [t.params for t in study.trials[:5]] == configs
    assert facts["sampler_info"] == {"n_enqueued": 5}
    # A budget below 5 runs only that many of them, and records exactly that many trials.
    record = transfer.run_transfer_job(dataclasses.replace(job, n_trials=3))
    assert record["error"] is None and len(record["values"]) == 3


def test_best_past_configs_drops_configurations_that_do_not_fit() -> None:
    good = {"lr": 0.01, "depth": 3, "kind": "a"}
    rows_a = [
        ({"lr": 0.1, "depth": 9, "kind": "a"}, 1.0),  # best, but depth 9 is out of range
        ({"lr": 0.1, "kind": "b"}, 0.9),  # missing depth: never filled in
        ({"lr": 0.1, "depth": 2, "kind": "c"}, 0.8),  # unknown choice
        (good, 0.7),
        ({"lr": 0.2, "depth": 2, "kind": "a", "extra": 1}, 0.6),  # extra parameter
        ({"lr": 0.5, "depth": 5, "kind": "b"}, 0.0),
    ]
    rows_b = [({"lr": 0.02, "depth": 4, "kind": "b"}, 10.0), ({"lr": 0.3, "depth": 1}, 5.0)]
    sources = [
        _source("m/a", "A", "m", rows_a),
        _source("m/b", "B", "m", rows_b),
        _source("other/a", "A", "other", [({"lr": 0.5, "depth": 1, "kind": "a"}, 99.0)]),
    ]
    configs = transfer.best_past_configs(sources, SPACE, "m")
    # m/a's best and m/b's best both normalise to 1; m/a's comes first but does not fit.
    assert configs[0] == {"lr": 0.02, "depth": 4, "kind": "b"}
    assert configs[1] == good
    assert {"lr": 0.5, "depth": 1, "kind": "a"} not in configs  # other model family
    assert len(configs) == 3  # good, m/b's best, m/a's worst; nothing else fits
    assert not transfer.fits_space({"lr": 0.1, "depth": 2}, SPACE)


def test_cmaes_source_trials_take_numeric_params_of_the_largest_same_model_source() -> None:
    rows = [({"lr": 0.01 * (i + 1), "depth": i + 1, "kind": "a"}, float(i)) for i in range(4)]
    rows.append(({"lr": 5.0, "depth": 2, "kind": "a"}, 9.0))  # lr out of range: dropped
    small = _source("m/small", "B", "m", rows[:2])
    big = _source("m/big", "C", "m", rows)
    trials, name = transfer.cmaes_source_trials([small, big], SPACE, "m")
    assert name == "m/big"
    assert len(trials) == 4
    assert all(set(t.params) == {"lr", "depth"} for t in trials)  # no categoricals
    assert [t.value for t in trials] == [0.0, 1.0, 2.0, 3.0]
    assert transfer.cmaes_source_trials([small, big], SPACE, "none") == ([], None)


def test_cmaes_warm_without_a_source_is_unavailable_not_failed(corpus_file: Path) -> None:
    job = transfer.TransferJob(
        "surrogate", "standard", "two-tower/fake-news", "no-such-family", "fake-news", 0,
        "cmaes-warm", 3, str(corpus_file),
    )  # fmt: skip
    record = transfer.run_transfer_job(job)
    assert record["error"] is None and record["values"] is None
    assert "no source of model 'no-such-family'" in record["unavailable"]


def test_misleading_variant_negates_source_values(corpus_file: Path) -> None:
    corpus = transfer.load_corpus(corpus_file)
    flipped = transfer.misleading_sources(corpus)
    for s, f in zip(corpus, flipped, strict=True):
        assert f.name == s.name and f.params == s.params
        np.testing.assert_array_equal(f.values, -s.values)
        assert f.attrs["misleading"] is True
    job = transfer.TransferJob(
        "surrogate", "misleading", "two-tower/fake-news", "two-tower", "fake-news", 0,
        "rl-transfer", 3, str(corpus_file),
    )  # fmt: skip
    by_name = {s.name: s for s in corpus}
    for s in transfer._sources_for(job):
        np.testing.assert_array_equal(s.values, -by_name[s.name].values)
    # Samplers that read no sources run once, whatever the variant.
    assert transfer.job_variant("misleading", "rl-generic") == "standard"
    assert transfer.job_variant("misleading", "enqueue5-tpe") == "misleading"


def test_rl_transfer_is_reported_unavailable_not_replaced(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "rl_supports_transfer", lambda: False)
    results = transfer.run_transfer(
        corpus_file,
        samplers=["rl-transfer", "random"],
        seeds=[0],
        n_trials=3,
        variants=["standard"],
        models=["two-tower"],
        datasets=["fake-news"],
        workers=0,
        out=tmp_path,
        progress=False,
        log=lambda _msg: None,
    )
    assert "source_studies" in results["skipped_samplers"]["rl-transfer"]
    assert {r["sampler"] for r in results["runs"]} == {"random"}
    assert list(results["tasks"]) == ["two-tower/fake-news"]
    statuses = {t["target"]: t["status"] for t in results["summary"]["targets"]}
    assert statuses["best rank @5"] == "N/A"


# ---------------------------------------------------------------------- ranks, targets


def _record(task: str, seed: int, sampler: str, values: list[float]) -> dict[str, Any]:
    return {
        "key": f"{task}|{seed}|{sampler}",
        "kind": "surrogate",
        "variant": "standard",
        "task": task,
        "instance": "",
        "seed": seed,
        "sampler": sampler,
        "direction": "maximize",
        "best": 4.0,
        "worst": 0.0,
        "meta": {"model": "m"},
        "values": values,
        "error": None,
    }


def test_average_ranks_on_a_hand_made_table() -> None:
    records = [
        # seed 0: after trial 1, b (2) > a (1) > c (0); after trial 2, a (3) > b > c.
        _record("t", 0, "a", [1.0, 3.0]),
        _record("t", 0, "b", [2.0, 2.0]),
        _record("t", 0, "c", [0.0, 0.0]),
        # seed 1: c best, a and b tie (average rank 2.5).
        _record("t", 1, "a", [1.0, 1.0]),
        _record("t", 1, "b", [1.0, 1.0]),
        _record("t", 1, "c", [2.0, 2.0]),
    ]
    s = transfer.summarise_transfer(records, ["a", "b", "c"], [], 2, checkpoints=(1, 2))
    rank = s["standard"]["rank"]
    assert rank["a"]["all"]["1"]["mean"] == pytest.approx((2 + 2.5) / 2)
    assert rank["b"]["all"]["1"]["mean"] == pytest.approx((1 + 2.5) / 2)
    assert rank["c"]["all"]["1"]["mean"] == pytest.approx((3 + 1) / 2)
    assert rank["a"]["all"]["2"]["mean"] == pytest.approx((1 + 2.5) / 2)
    assert rank["b"]["all"]["2"]["mean"] == pytest.approx((2 + 2.5) / 2)
    regret = s["standard"]["regret"]
    # (4 - best so far) / 4, averaged over the two seeds.
    assert regret["a"]["all"]["2"]["mean"] == pytest.approx(((4 - 3) / 4 + (4 - 1) / 4) / 2)
    assert s["misleading"] is None


def _summary(regret: dict[str, dict[int, float]], rank: dict[str, dict[int, float]]) -> dict:
    def table(d: dict[str, dict[int, float]]) -> dict:
        return {m: {"all": {str(t): {"mean": v} for t, v in c.items()}} for m, c in d.items()}

    return {"samplers": list(rank), "regret": table(regret), "rank": table(rank)}


def test_targets_pass_and_fail_from_the_numbers() -> None:
    rank = {
        "rl-transfer": {5: 2.0, 10: 1.2},
        "tpe": {5: 1.5, 10: 2.0},  # beats rl-transfer at 5 trials
        "gp": {5: 3.0, 10: 3.0},
    }
    regret = {
        "rl-transfer": {5: 0.3, 10: 0.1},
        "gp": {5: 0.5, 10: 0.3},  # 0.1 <= 0.5 x 0.3
        "cmaes-warm": {10: 0.05},  # beats rl-transfer
        "rl-generic": {5: 0.2},
        "random": {5: 0.25},
    }
    misleading = _summary(
        {"rl-transfer": {20: 0.5}, "rl-generic": {20: 0.4}},  # 0.5 > 1.1 x 0.4
        {"rl-transfer": {20: 1.5}, "rl-generic": {20: 1.5}},
    )
    targets = transfer.check_targets(_summary(regret, rank), misleading)
    status = {t["target"]: t["status"] for t in targets}
    assert status == {
        "best rank @5": "FAIL",
        "best rank @10": "PASS",
        "regret@10 vs GP": "PASS",
        "regret@10 vs cmaes-warm": "FAIL",
        "regret@10 vs enqueue5-tpe": "N/A",
        "misleading regret@20": "FAIL",
        "generic regret@5 vs random": "PASS",
    }
    by = {t["target"]: t for t in targets}
    assert by["misleading regret@20"]["bound"] == pytest.approx(0.44)
    assert by["best rank @5"]["bound"] == 1.5
    # Change one number and the verdict follows it.
    regret["random"][5] = 0.1
    targets = transfer.check_targets(_summary(regret, rank), None)
    status = {t["target"]: t["status"] for t in targets}
    assert status["generic regret@5 vs random"] == "FAIL"
    assert status["misleading regret@20"] == "N/A"
    # A verdict within 1% of its bound says so, with the digits that decide it.
    regret["rl-transfer"][10] = 0.1499
    by = {t["target"]: t for t in transfer.check_targets(_summary(regret, rank), None)}
    assert by["regret@10 vs GP"]["status"] == "PASS"
    assert by["regret@10 vs GP"]["note"] == "within 1% of the bound: 0.14990 against 0.15000"
    assert by["generic regret@5 vs random"]["note"] == ""


# ------------------------------------------------------------------------- real data


def test_plan_real_finds_folders_and_explains_the_rest(tmp_path: Path) -> None:
    (tmp_path / "news" / "mind_sample").mkdir(parents=True)
    (tmp_path / "social" / "filmtrust").mkdir(parents=True)
    corpus = transfer.fake_corpus(
        models=["lightgbm-ranker"], n_trials=16, datasets=["filmtrust", "mind_sample", "x"]
    )
    plan, notes = transfer.plan_real(corpus, tmp_path, None)
    # Cheapest first (no trial times in a JSON bank: the measured table decides).
    assert [p["dataset"] for p in plan] == ["mind_sample", "filmtrust"]
    assert plan[0]["path"] == str(tmp_path / "news" / "mind_sample")
    assert plan[0]["corpus_study"] == "lightgbm-ranker/mind_sample"
    assert plan[0]["settings"]["max_valid_queries"] == transfer.REAL_MAX_VALID_QUERIES
    assert "no folder" in notes["x"]
    plan, notes = transfer.plan_real(corpus, tmp_path, ["lastfm_2k"])
    assert plan == [] and "no folder" in notes["lastfm_2k"]


class _Replay(optuna.samplers.RandomSampler):
    """Proposes the given configurations in order."""

    def __init__(self, configs: tuple[dict[str, Any], ...]) -> None:
        super().__init__(seed=0)
        self.configs = configs

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        return self.configs[trial.number][name]


def test_parquet_corpus_keeps_how_each_study_was_built(tmp_path: Path) -> None:
    corpus_module = pytest.importorskip("optuna_rl_sampler.corpus")
    settings = {
        "seed": 0,
        "max_users": 400,
        "max_events_per_user": None,
        "max_valid_queries": 200,
        "model_options": {"max_train_queries": 500},
    }
    studies = []
    for s in transfer.fake_corpus(
        models=["lightgbm-ranker"], n_trials=8, datasets=["mind_sample", "filmtrust"]
    ):
        study = optuna.create_study(
            study_name=s.name, direction="maximize", sampler=_Replay(s.params)
        )
        fmt = "mind" if "mind" in s.name else "filmtrust"
        attrs = {**s.attrs, **settings, "data": {"source": "files", "format": fmt}}
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        for params, value in zip(s.params, s.values, strict=True):
            trial = study.ask(dict(s.distributions))
            assert trial.params == params
            study.tell(trial, float(value))
        studies.append(study)
    path = corpus_module.write_parquet(
        corpus_module.read_studies(studies), tmp_path / "corpus.parquet"
    )
    corpus = transfer.load_corpus(path)
    assert [s.name for s in corpus] == [s.study_name for s in studies]
    mind = corpus[0]
    assert mind.attrs["dataset"] == "mind_sample" and len(mind) == 8
    assert mind.attrs["max_users"] == 400 and mind.attrs["mean_trial_s"] >= 0
    (tmp_path / "news" / "mind_sample").mkdir(parents=True)
    plan, notes = transfer.plan_real(corpus, tmp_path, None, max_valid_queries=50)
    assert [p["dataset"] for p in plan] == ["mind_sample"] and "filmtrust" in notes
    assert plan[0]["settings"] == {**settings, "format": "mind", "max_valid_queries": 50}
    # The objective's settings are part of a real run's key.
    jobs = [
        transfer.real_jobs(plan, str(path), ["random"], transfer.RealOptions(), 3)[0],
        transfer.real_jobs(
            [{**plan[0], "settings": {**plan[0]["settings"], "max_valid_queries": 60}}],
            str(path),
            ["random"],
            transfer.RealOptions(),
            3,
        )[0],
    ]
    assert jobs[0].key != jobs[1].key


def test_reports_name_no_machine_paths(tmp_path):
    from benchmarks.transfer import REPO_ROOT
    from benchmarks.transfer import portable

    data = tmp_path / "data"
    record = {
        "corpus": str(REPO_ROOT / "corpus" / "c.parquet"),
        "datasets": [{"path": str(data / "news" / "mind"), "n": 3}],
        "data_dir": str(data),
        "other": "/elsewhere/x",
    }
    out = portable(record, data)
    assert out == {
        "corpus": "corpus/c.parquet",
        "datasets": [{"path": "$ORS_DATA_DIR/news/mind", "n": 3}],
        "data_dir": "$ORS_DATA_DIR",
        "other": "/elsewhere/x",
    }


def test_summary_counts_the_proposals_each_weights_made() -> None:
    runs = [
        {"sampler": "rl-transfer", "variant": "misleading", "proposal_weights": {"t": 5, "g": 15}},
        {"sampler": "rl-transfer", "variant": "misleading", "proposal_weights": {"g": 20}},
        {"sampler": "rl-transfer", "variant": "standard", "proposal_weights": {"t": 19}},
        {"sampler": "tpe", "variant": "standard", "proposal_weights": {"x": 99}},
    ]
    text = "\n".join(transfer._handoff_lines(runs))
    assert "- standard sources: `t` 100% of 19 proposals." in text
    assert "- misleading sources: `g` 88%, `t` 12% of 40 proposals." in text
    # Records written before the field existed give no section.
    assert transfer._handoff_lines([{"sampler": "rl-transfer", "variant": "standard"}]) == []


def test_new_weights_rerun_only_the_rl_samplers(tmp_path: Path) -> None:
    names = dict(transfer._sampler_weights())
    weights = {n: n.upper() for used in names.values() for n in used}
    fp = {"corpus": "c", "weights": weights, "optuna_rl_sampler": "1", "optuna": "5"}
    new_transfer = {**fp["weights"], names["rl-transfer"][0]: "NEW"}

    def record(key: str, sampler: str, fingerprint: dict) -> dict:
        return {"key": key, "sampler": sampler, "fingerprint": fingerprint, "values": [1.0]}

    base = {k: v for k, v in fp.items() if k != "weights"}
    rows = [
        # Older records of non-RL samplers carry the transfer weights' digest: ignored.
        record("tpe", "tpe", {**base, "weights": "old-digest"}),
        record("gp", "gp", base),
        record("generic", "rl-generic", transfer.run_fingerprint(fp, "rl-generic")),
        record("stale", "rl-transfer", {**base, "weights": new_transfer}),
        record("fresh", "rl-transfer", transfer.run_fingerprint(fp, "rl-transfer")),
        record("other-corpus", "tpe", {**base, "corpus": "other"}),
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert set(transfer.completed_runs(path, fp)) == {"tpe", "gp", "generic", "fresh"}
    # The generic run depends on the generic weights alone, rl-transfer on both.
    assert set(transfer.run_fingerprint(fp, "rl-generic")["weights"]) == {"generic-v1"}
    assert "weights" not in transfer.run_fingerprint(fp, "cmaes-warm")
