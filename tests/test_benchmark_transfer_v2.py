"""Transfer benchmark v2: roles, scenarios, regret, paired intervals, resume."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution

from benchmarks import transfer_v2 as tv
from benchmarks import transfer_v2_report as rep
from benchmarks.transfer import NoCompatibleSource
from optuna_rl_sampler.corpus import read_studies
from optuna_rl_sampler.corpus import write_parquet

SPACE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
#: Two dev and one test dataset of the frozen split.
KEYS = {"filmtrust": 0.2, "mind_sample": 0.5, "lastfm_2k": 0.8}


def _study(storage, name, optimum, seed, n, shift=0.0):
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.set_user_attr("model", name.split("/")[0])
    study.set_user_attr("dataset", name.split("/")[1])
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x, y = rng.random(2)
        value = -((x - optimum - shift) ** 2) - (y - 0.5) ** 2
        study.add_trial(
            optuna.trial.create_trial(params={"x": x, "y": y}, distributions=SPACE, value=value)
        )


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    """A v2-shaped corpus of a toy family: the optimum of x moves with the dataset."""
    folder = tmp_path_factory.mktemp("v2")
    storage = optuna.storages.InMemoryStorage()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for i, (key, optimum) in enumerate(KEYS.items()):
        _study(storage, f"toy/{key}/design", optimum, 10 + i, 16)
        _study(storage, f"toy/{key}/tpe-seed{i}", optimum, 20 + i, 12)
        _study(storage, f"toy/{key}/random-seed{i}", optimum, 30 + i, 12)
        _study(storage, f"toy/{key}/shifted/tpe-seed{i}", optimum, 40 + i, 12, shift=0.1)
    _study(storage, "toy/filmtrust/history-75/tpe-seed9", 0.2, 50, 12)
    path = folder / "toy.parquet"
    write_parquet(read_studies(storage), path)
    return path


def test_roles_and_tasks_follow_the_names_and_the_frozen_split(corpus_path):
    assert tv.role_of("m/d/design") == "design"
    assert tv.role_of("m/d/shifted/tpe-seed1") == "shifted"
    assert tv.role_of("m/d/history-75/tpe-seed1") == "history"
    assert tv.role_of("m/d/gp-seed1") == "trace"
    corpus = tv.load_corpus(corpus_path)
    split = tv.read_split()
    assert split["filmtrust"] == "dev" and split["lastfm_2k"] == "test"
    assert tv.task_names(corpus, split, "dev") == ["toy/filmtrust", "toy/mind_sample"]
    assert tv.task_names(corpus, split, "test") == ["toy/lastfm_2k"]
    own = tv.own_evaluations(corpus, "toy/filmtrust")
    assert len(own) == 16 + 12 + 12  # design and traces, not the shifted or history study


def test_frozen_split_holds_a_third_of_the_datasets_two_real_among_them():
    data = json.loads(tv.SPLIT_FILE.read_text())
    assert not set(data["dev"]) & set(data["test"])
    assert len(data["test"]) * 3 >= len(data["dev"]) + len(data["test"])
    assert sum(not k.startswith("synthetic") for k in data["test"]) >= 2


def test_scenarios_give_the_sources_they_promise(corpus_path):
    corpus = tv.load_corpus(corpus_path)
    honest = tv.scenario_sources(corpus, "toy/filmtrust", "honest")
    assert honest and all("/filmtrust/" not in s.name for s in honest)
    assert not any(s.name.endswith("/design") for s in honest)
    backwards = tv.scenario_sources(corpus, "toy/filmtrust", "backwards")
    np.testing.assert_array_equal(backwards[0].values, -honest[0].values)
    shuffled = tv.scenario_sources(corpus, "toy/filmtrust", "shuffled")
    assert sorted(shuffled[0].values) == sorted(honest[0].values)
    assert list(shuffled[0].values) != list(honest[0].values)
    one_good = tv.scenario_sources(corpus, "toy/filmtrust", "one-good")
    assert len(one_good) == 5
    assert sum(bool(s.attrs.get("misleading")) for s in one_good) == 4
    (shifted,) = tv.scenario_sources(corpus, "toy/filmtrust", "shifted")
    assert shifted.name.startswith("toy/filmtrust/shifted/")
    (one_bad,) = tv.scenario_sources(corpus, "toy/filmtrust", "one-bad")
    np.testing.assert_array_equal(one_bad.values, -shifted.values)
    assert one_bad.attrs.get("misleading")
    (refresh,) = tv.scenario_sources(corpus, "toy/filmtrust", "refresh")
    assert "/history-75/" in refresh.name
    with pytest.raises(NoCompatibleSource, match="no history study of 'toy/mind_sample'"):
        tv.scenario_sources(corpus, "toy/mind_sample", "refresh")
    assert tv.scenario_sources(corpus, "toy/filmtrust", "none") == []


def test_surrogate_target_peaks_at_the_tasks_own_optimum(corpus_path):
    target = tv.surrogate_target(str(corpus_path), "toy/lastfm_2k")
    near = target.objective.value({"x": 0.8, "y": 0.5})
    far = target.objective.value({"x": 0.05, "y": 0.5})
    assert near > far
    assert target.worst < target.median < target.best
    assert near == pytest.approx(target.best, abs=0.01)


def test_regret_curves_known_values():
    record = {"values": [1.0, None, 3.0, 2.0], "worst": 0.0, "median": 2.0}
    curves = rep.regret_curves(record, best=4.0)
    np.testing.assert_allclose(curves["range"], [0.75, 0.75, 0.25, 0.25])
    np.testing.assert_allclose(curves["median"], [1.5, 1.5, 0.5, 0.5])
    # Before any value the run is at the task's worst.
    first_fail = rep.regret_curves({**record, "values": [None, 4.0]}, best=4.0)
    np.testing.assert_allclose(first_fail["range"], [1.0, 0.0])
    np.testing.assert_allclose(first_fail["median"], [2.0, 0.0])


def test_paired_interval_is_over_tasks_and_says_better_worse_or_tie():
    a = {(f"t{i}", s): np.array([0.1 + 0.01 * i]) for i in range(6) for s in range(2)}
    b = {k: v + 0.2 for k, v in a.items()}
    better = rep.paired(a, b, 1)
    assert better["n_tasks"] == 6 and better["verdict"] == "better" and better["unit"] == "tasks"
    assert better["mean"] == pytest.approx(-0.2) and better["high"] < 0
    assert rep.paired(b, a, 1)["verdict"] == "worse"
    noisy = {k: v + (0.3 if int(k[0][1]) % 2 else -0.3) for k, v in a.items()}
    assert rep.paired(a, noisy, 1)["verdict"] == "tie"
    # rl within 1.1x of the reference: 0.1 against 1.1 * 0.1 is shown "better".
    same = {k: np.array([0.1]) for k in a}
    assert rep.paired(same, same, 1, factor=1.1)["verdict"] == "better"
    assert rep.paired(same, same, 1)["verdict"] == "tie"
    # Three tasks are too few for an interval over tasks: it is over their runs.
    few = {k: v for k, v in a.items() if k[0] in ("t0", "t1", "t2")}
    over_runs = rep.paired(few, {k: v + 0.2 for k, v in few.items()}, 1)
    assert over_runs["unit"] == "runs" and over_runs["n_tasks"] == 3


def test_run_resume_and_report(corpus_path, tmp_path):
    kwargs = dict(
        corpus=corpus_path,
        out=tmp_path,
        split="all",
        scenarios=("none", "honest", "backwards"),
        samplers=("rl-transfer", "rl-generic", "random", "enqueue5-tpe"),
        seeds=(0, 1),
        n_trials=5,
        workers=0,
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tv.run_transfer_v2(**kwargs)
    assert result["meta"]["last_invocation"]["ran"] == 3 * 2 * (2 + 2 + 2)
    counts = result["counts"]
    assert counts["dev|surrogate|honest|rl-transfer"] == {"runs": 4, "errors": 0, "unavailable": 0}
    records = tv.read_records(tmp_path)
    rl = [r for r in records if r["sampler"] == "rl-transfer"]
    assert all(r["n_sources"] > 0 and len(r["values"]) == 5 for r in rl)
    row = result["regret"]["dev"]["surrogate"]["honest"]["rl-transfer"]["range"]["5"]
    assert row["n"] == 2 and 0.0 <= row["mean"] <= 1.0
    text = (tmp_path / "summary.md").read_text()
    assert "## dev split, surrogate tasks" in text and "### backwards" in text
    assert (tmp_path / "regret_honest.png").is_file()
    assert (tmp_path / "runs.jsonl.gz").is_file()
    # Resumed: nothing runs again, also from the committed gzip copy alone.
    assert tv.run_transfer_v2(**kwargs)["meta"]["last_invocation"]["ran"] == 0
    (tmp_path / "runs.jsonl").unlink()
    assert tv.run_transfer_v2(**kwargs)["meta"]["last_invocation"]["ran"] == 0
    pair = result["paired"]["dev"]["surrogate"]["honest"]["rl-generic"]["median"]["5"]
    assert pair["n_tasks"] == 2 and math.isfinite(pair["mean"])
    assert pair["verdict"] in ("better", "worse", "tie")


def test_missing_corpus_is_one_clear_error(tmp_path, capsys):
    from benchmarks.__main__ import main

    args = ["run", "--suite", "transfer", "--corpus", str(tmp_path / "nope.parquet")]
    assert main([*args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nope.parquet" in err and "corpus/build.py --export" in err


def test_readme_and_docs_state_the_committed_test_split_figures():
    """The published transfer figures are the test split's, copied from the results."""
    committed = tv.DEFAULT_OUT / "headline-test.md"
    assert committed.is_file(), "run the test split once: --split test --real"
    table = committed.read_text()
    summary = json.loads((tv.DEFAULT_OUT / "summary.json").read_text())
    assert table == rep.headline(summary, "test")
    for page in ("README.md", "docs/benchmarks.md"):
        assert table in (tv.REPO_ROOT / page).read_text(), f"{page} lacks headline-test.md"


def test_only_the_last_runs_code_counts_and_every_test_run_stays_listed(tmp_path):
    # The log keeps runs of earlier code; the report uses those of the fingerprints the
    # last run recorded, so an old (or rejected) variant never mixes into the figures.
    old = {"sampler": "rl-transfer", "fingerprint": "aaa", "key": "k"}
    new = {"sampler": "rl-transfer", "fingerprint": "bbb", "key": "k"}
    gp = {"sampler": "gp", "fingerprint": "ccc", "key": "g"}
    assert rep.current_records([old, new, gp], {"rl-transfer": "bbb", "gp": "ccc"}) == [new, gp]
    assert rep.current_records([old, new], None) == [old, new]
    # Each run of a split is kept in the summary's metadata, the earlier ones as history.
    first = tv._invocations(tmp_path, "test", 10, 0.0, True)
    (tmp_path / "summary.json").write_text(json.dumps({"meta": {"invocations": first}}))
    second = tv._invocations(tmp_path, "test", 5, 60.0, True, note="after the change")
    assert second["test"]["ran"] == 5 and second["test"]["note"] == "after the change"
    assert [h["ran"] for h in second["test"]["history"]] == [10]
    line = rep.markdown({"regret": {}, "paired": {}}, {"invocations": second}).split("\n")
    assert any(
        "test split last run" in x and "(after the change); before: 1970-01-01 00:00 UTC: 10" in x
        for x in line
    )


_CODE = '''"""Module docstring."""

X = 1  # a comment


class Box:
    """Class docstring."""

    def size(self):
        """Method docstring."""
        return X + 1


def only_doc():
    """A body that is a docstring alone."""
'''


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ('"""Method docstring."""', '"""Reworded, longer\n        explanation."""', True),
        ("# a comment", "# another comment", True),
        ('"""Module docstring."""', '"""Module docstring, new figures."""', True),
        ("return X + 1", "return  X+1  # same code", True),
        ("return X + 1", "return X + 2", False),
        ('    """A body that is a docstring alone."""', "    return None", False),
        ("X = 1", "X = 2", False),
    ],
)
def test_code_fingerprint_ignores_docstrings_and_comments_only(tmp_path, old, new, same):
    from benchmarks.transfer import code_fingerprint

    before, after = tmp_path / "before.py", tmp_path / "after.py"
    before.write_text(_CODE)
    assert old in _CODE
    after.write_text(_CODE.replace(old, new))
    assert (code_fingerprint(before) == code_fingerprint(after)) is same


def test_optional_samplers_run_only_when_named():
    default = tv.plan(tv.DEFAULT_CORPUS, split="test")
    assert not any(j.sampler == "rl-finetuned" for j in default)
    named = tv.plan(tv.DEFAULT_CORPUS, split="test", samplers=["rl-finetuned"])
    assert {j.scenario for j in named} == {"honest", "backwards"}
    assert {j.sampler for j in named} == {"rl-finetuned"}
    # Its runs depend on the fine-tuned weights file too.
    fps = tv.fingerprints(tv.DEFAULT_CORPUS)
    assert fps["rl-finetuned"].startswith(fps["rl-transfer"] + "+")


def test_refresh_check_places_the_history_best_on_the_target(corpus_path, tmp_path):
    from benchmarks import refresh_check

    rows = refresh_check.check(corpus_path, data_dir=tmp_path)  # no dataset there
    assert [r["task"] for r in rows] == ["toy/filmtrust"]
    row = rows[0]
    assert row["split"] == "dev" and row["real"] is None
    assert row["history_beats"][0] == pytest.approx(11 / 12)  # the best of 12 trials
    sur = row["surrogate"]
    assert len(sur["values"]) == refresh_check.TOP_K
    # The history's optimum is the target's (x = 0.2): its best trials beat most of the
    # target's own evaluations on the surrogate.
    assert sur["beats_own"][0] > 0.75 and sur["range_regret"][0] < 0.1
    text = refresh_check.markdown(rows)
    assert "| dev | toy/filmtrust |" in text and text.rstrip().endswith("| n/a | n/a |")
    paths = refresh_check.write_refresh_check(tmp_path / "out", None, corpus_path)
    assert json.loads(paths[0].read_text())["rows"][0]["task"] == "toy/filmtrust"


def test_rl_fingerprint_covers_the_weights_rlsampler_loads_and_no_others(monkeypatch, tmp_path):
    from optuna_rl_sampler import policy

    before = tv.fingerprints(tv.DEFAULT_CORPUS)["rl-transfer"]
    # Another weights file beside the shipped ones (an experiment) re-runs nothing ...
    real_path = policy.default_weights_path
    beside = real_path().with_name("zz-experiment-under-test.safetensors")
    beside.write_bytes(b"not the shipped weights")
    try:
        assert tv.fingerprints(tv.DEFAULT_CORPUS)["rl-transfer"] == before
    finally:
        beside.unlink()
    extra = tmp_path / "experiment.safetensors"
    extra.write_bytes(b"not the shipped weights")

    def with_generic_swapped(name: str = policy.DEFAULT_WEIGHTS):
        return extra if name == policy.GENERIC_WEIGHTS else real_path(name)

    # ... but a change of the generic weights, which the transfer runs hand off to, does.
    monkeypatch.setattr(tv, "default_weights_path", with_generic_swapped)
    after = tv.fingerprints(tv.DEFAULT_CORPUS)
    assert after["rl-transfer"] != before and after["rl-generic"] == after["rl-transfer"]
    assert after["tpe"] == before.split("+")[0]
