"""The corpus of past studies: table, Parquet, sources, stats, collect and its CLI."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from optuna_rl_sampler import corpus
from optuna_rl_sampler import corpus_collect
from optuna_rl_sampler import corpus_data
from optuna_rl_sampler.cli import main
from optuna_rl_sampler.sources import SourceStudy
from optuna_rl_sampler.sources import load_sources_json

TINY_SHOP = "synthetic:ecommerce:n_users=150,n_items=100,n_interactions=2500"
CHOICES = [None, True, False, 1, 2.5, "a"]
DISTS = {
    "x": FloatDistribution(1e-3, 10.0, log=True),
    "n": IntDistribution(1, 9, step=2),
    "c": CategoricalDistribution(CHOICES),
}


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    """One SQLite file for the module: creating the schema is the slow part."""
    return f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.db'}"


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _fill(study: optuna.Study) -> None:
    """Known trials: every categorical choice, a FAIL, a PRUNED, an inf value."""
    study.set_user_attr("dataset", "toy")
    study.set_user_attr("model", "quadratic")
    for i, choice in enumerate(CHOICES):
        params = {"x": 0.1 * (i + 1), "n": 1 + 2 * (i % 5), "c": choice}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=DISTS, value=float(i) - 2.5)
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 1.0}, distributions={"x": DISTS["x"]}, state=TrialState.FAIL
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 2.0, "c": None},
            distributions={"x": DISTS["x"], "c": DISTS["c"]},
            state=TrialState.PRUNED,
        )
    )
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # no params
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 3.0}, distributions={"x": DISTS["x"]}, value=math.inf
        )
    )


def _assert_same_source(a: SourceStudy, b: SourceStudy) -> None:
    assert a.name == b.name
    assert dict(a.attrs) == dict(b.attrs)
    assert dict(a.distributions) == dict(b.distributions)
    assert len(a.params) == len(b.params)
    for pa, pb in zip(a.params, b.params, strict=True):
        assert pa == pb
        # True == 1 == 1.0 in Python: the types must survive too.
        assert {k: type(v) for k, v in pa.items()} == {k: type(v) for k, v in pb.items()}
    np.testing.assert_array_equal(a.values, b.values)


def test_round_trip_study_table_parquet_sources(tmp_path):
    study = optuna.create_study(study_name="toy-min", direction="minimize")
    _fill(study)
    table = corpus.read_studies(study)
    assert list(table.columns) == list(corpus.COLUMNS)
    per_trial = table.drop_duplicates("trial")
    assert per_trial["state"].tolist() == ["COMPLETE"] * 6 + ["FAIL", "PRUNED", "FAIL", "COMPLETE"]
    assert table.loc[table["trial"] == 8, "param"].isna().all()  # the FAIL without params
    assert table["metric"].isna().all() and set(table["dataset"]) == {"toy"}
    assert table.loc[table["param"] == "c", "param_value"].tolist()[:6] == [
        "null",
        "true",
        "false",
        "1",
        "2.5",
        '"a"',
    ]

    path = corpus.write_parquet(table, tmp_path / "corpus.parquet")
    back = corpus.read_parquet(path)
    pd.testing.assert_frame_equal(back, table)

    (source,) = corpus.to_sources(back)
    expected = SourceStudy.from_study(study)
    _assert_same_source(source, expected)
    # Minimised: values negated, the inf trial and non-COMPLETE ones left out.
    np.testing.assert_array_equal(source.values, [2.5, 1.5, 0.5, -0.5, -1.5, -2.5])
    assert [p["c"] for p in source.params] == CHOICES


def test_rdb_and_journal_storages_read_like_the_study(tmp_path, sqlite_url):
    journal = tmp_path / "s.log"
    backend = optuna.storages.journal.JournalFileBackend(str(journal))
    journal_storage = optuna.storages.JournalStorage(backend)
    for name, direction in (("a", "maximize"), ("b", "minimize")):
        _fill(optuna.create_study(study_name=name, storage=journal_storage, direction=direction))
    _fill(optuna.create_study(study_name="rdb-a", storage=sqlite_url, direction="maximize"))

    reference = corpus.read_studies(
        [optuna.load_study(study_name=n, storage=journal_storage) for n in ("a", "b")]
    ).drop(columns="duration_s")
    for spec in (str(journal), f"journal:{journal}"):
        got = corpus.read_studies(spec).drop(columns="duration_s")
        pd.testing.assert_frame_equal(got, reference)
    from_rdb = corpus.read_studies(sqlite_url, study_names=["rdb-a"]).drop(columns="duration_s")
    expected = reference[reference["study"] == "a"].assign(study="rdb-a")
    expected = expected.astype({"study": object})
    pd.testing.assert_frame_equal(from_rdb, expected.reset_index(drop=True))
    only_b = corpus.read_studies(str(journal), study_names=["b"])
    assert set(only_b["study"]) == {"b"}
    with pytest.raises(ValueError, match="no study named 'zzz'.*'a', 'b'"):
        corpus.read_studies(str(journal), study_names=["zzz"])


def test_stats_and_multi_objective_skip(optuna_caplog):
    study = optuna.create_study(study_name="toy-max", direction="maximize")
    _fill(study)
    multi = optuna.create_study(study_name="two-goals", directions=["minimize", "maximize"])
    multi.add_trial(
        optuna.trial.create_trial(
            params={"x": 1.0}, distributions={"x": DISTS["x"]}, values=[1.0, 2.0]
        )
    )
    table = corpus.read_studies([study, multi])
    summary = corpus.stats(table)
    assert summary[0]["n_trials"] == {"COMPLETE": 7, "FAIL": 2, "PRUNED": 1, "total": 10}
    assert summary[0]["n_params"] == 3
    assert summary[0]["best_value"] == 2.5  # the inf trial is not a best value
    assert summary[0]["dataset"] == "toy" and summary[0]["metric"] is None
    assert summary[1]["direction"] == "minimize,maximize" and summary[1]["best_value"] is None
    assert json.loads(table.loc[table["study"] == "two-goals", "values"].iloc[0]) == [1.0, 2.0]
    sources = corpus.to_sources(table)
    assert [s.name for s in sources] == ["toy-max"]
    assert "two-goals" in optuna_caplog.text and "multi-objective" in optuna_caplog.text


def test_bad_storage_and_bad_parquet_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot open storage 'nosuchdb://x'"):
        corpus.read_studies("nosuchdb://x")
    with pytest.raises(ValueError, match="neither an RDB URL"):
        corpus.read_studies("not-a-storage")
    missing = tmp_path / "absent.db"
    with pytest.raises(ValueError, match="absent.db.*does not exist"):
        corpus.read_studies(f"sqlite:///{missing}")
    assert not missing.exists()  # reading never creates a database

    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ValueError, match="junk.parquet.*not a Parquet file"):
        corpus.read_parquet(junk)
    partial = tmp_path / "partial.parquet"
    pd.DataFrame({"study": ["a"], "trial": [0]}).to_parquet(partial)
    with pytest.raises(ValueError, match=r"partial.parquet.*missing column 'direction'"):
        corpus.read_parquet(partial)


def test_subsample_users_known_values():
    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import events_frame

    users = np.repeat(np.arange(4), 3)  # 4 users x 3 events at times 0, 1, 2
    events = events_frame(users, np.arange(12) % 5, timestamp=np.tile(np.arange(3), 4))
    social = pd.DataFrame({"src": [0, 1, 2, 3], "dst": [1, 0, 3, 2]})
    data = Interactions(events=events, n_users=4, n_items=5, social=social, name="toy")

    capped = corpus_data.subsample_users(data, None, max_events_per_user=2)
    assert len(capped.events) == 8 and capped.events["timestamp"].min() == 1
    small = corpus_data.subsample_users(data, 2, seed=0)
    assert small.n_users == 2 and sorted(small.events["user"].unique()) == [0, 1]
    assert len(small.events) == 6
    assert small.notes["subsample"]["users_before"] == 4
    assert small.social["src"].max() <= 1 and small.social["dst"].max() <= 1
    assert corpus_data.subsample_users(data, 10) is data


def test_shared_configurations_counts_repeats_across_studies_of_a_family():
    dists = {"x": FloatDistribution(0.0, 1.0)}
    storage = optuna.storages.InMemoryStorage()
    for name, xs in (("a", [0.1, 0.2, 0.3]), ("b", [0.1, 0.5]), ("c", [0.2])):
        study = optuna.create_study(storage=storage, study_name=name)
        study.set_user_attr("model", "m" if name != "c" else "other")
        for x in xs:
            study.add_trial(
                optuna.trial.create_trial(params={"x": x}, distributions=dists, value=x)
            )
    shared = corpus.shared_configurations(corpus.read_studies(storage))
    # x=0.1 is in a and b (2 trials); a's 0.2 and c's 0.2 are of different families.
    assert shared["m"] == {"trials": 5, "shared": 2, "share": 0.4}
    assert shared["other"] == {"trials": 1, "shared": 0, "share": 0.0}


def test_history_cut_keeps_the_oldest_events_known_values():
    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import events_frame

    users = np.repeat(np.arange(4), 4)
    # A clock: user u's events at times u, u+10, u+20, u+30.
    clock = Interactions(
        events=events_frame(
            users, np.arange(16) % 6, timestamp=users + np.tile([0, 10, 20, 30], 4)
        ),
        n_users=4,
        n_items=6,
    )
    cut = corpus_data.history_cut(clock, 0.5)
    # The median time of the 16 events is 13 ("lower"): times 0-3 and 10-13 stay.
    assert sorted(cut.events["timestamp"]) == [0, 1, 2, 3, 10, 11, 12, 13]
    assert cut.n_items == 6 and cut.notes["history"]["events_after"] == 8
    assert cut.notes["history"]["how"] == "oldest events by timestamp"
    # Positions in each user's sequence: each user keeps their earliest ceil(0.75 * 4) = 3.
    seq = Interactions(
        events=events_frame(users, np.arange(16) % 6, timestamp=np.tile(np.arange(4), 4)),
        n_users=4,
        n_items=6,
        notes={"timestamp": "position in the user's sequence"},
    )
    cut = corpus_data.history_cut(seq, 0.75)
    assert cut.events.groupby("user")["timestamp"].max().tolist() == [2, 2, 2, 2]
    assert cut.notes["history"]["how"] == "each user's earliest events"
    # No time at all: a seeded random 3 of each user's 4 events, the same for one seed.
    flat = Interactions(
        events=events_frame(users, np.arange(16)),
        n_users=4,
        n_items=16,
        notes={"timestamp": "none"},
    )
    a, b = corpus_data.history_cut(flat, 0.75, seed=3), corpus_data.history_cut(flat, 0.75, seed=3)
    assert a.events.groupby("user").size().tolist() == [3, 3, 3, 3]
    assert a.events["item"].tolist() == b.events["item"].tolist()
    assert a.notes["history"]["how"] == "random per user"
    with pytest.raises(ValueError, match="fraction must lie strictly between 0 and 1, got 1.0"):
        corpus_data.history_cut(flat, 1.0)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("random", optuna.samplers.RandomSampler),
        ("tpe", optuna.samplers.TPESampler),
        ("gp", optuna.samplers.GPSampler),
        ("rl-generic", None),
    ],
)
def test_past_study_samplers_are_the_optimisers_named(name, kind):
    from optuna_rl_sampler import RLSampler

    sampler = corpus_collect._make_sampler(name, 7, 0)
    assert isinstance(sampler, kind or RLSampler)
    if kind is None:
        assert sampler.source_studies == []


def test_collect_with_sampler_seed_shares_the_data_not_the_configurations(sqlite_url):
    kwargs = dict(storage=sqlite_url, progress=False, max_valid_queries=50, trials=3)
    a = corpus_collect.collect("popularity", TINY_SHOP, sampler="tpe", sampler_seed=1, **kwargs)
    b = corpus_collect.collect("popularity", TINY_SHOP, sampler="tpe", sampler_seed=2, **kwargs)
    assert a.study_name.endswith("/tpe-seed1") and b.study_name.endswith("/tpe-seed2")
    assert a.user_attrs["seed"] == b.user_attrs["seed"] == 0
    assert a.user_attrs["sampler_seed"] == 1
    assert [t.params for t in a.trials] != [t.params for t in b.trials]
    old = corpus_collect.collect(
        "popularity", TINY_SHOP, sampler="tpe", history_fraction=0.75, study_name="old", **kwargs
    )
    history = old.user_attrs["data"]["history"]
    assert history["events_after"] < history["events_before"]
    assert old.user_attrs["history_fraction"] == 0.75
    with pytest.raises(ValueError, match="history_fraction must lie strictly between 0 and 1"):
        corpus_collect.collect("popularity", TINY_SHOP, history_fraction=0.0, **kwargs)


def test_collect_resumes_after_a_kill(sqlite_url, capsys):
    url = sqlite_url
    kwargs = dict(storage=url, study_name="pop", progress=False, max_valid_queries=50)
    study = corpus_collect.collect("popularity", TINY_SHOP, trials=2, **kwargs)
    assert study.user_attrs["model"] == "popularity"
    assert study.user_attrs["data"]["knobs"] == {
        "n_users": 150,
        "n_items": 100,
        "n_interactions": 2500,
    }
    # A killed worker leaves its trial RUNNING.
    optuna.load_study(study_name="pop", storage=url).ask()
    study = corpus_collect.collect("popularity", TINY_SHOP, trials=4, **kwargs)
    assert "Marked 1 stale RUNNING trial" in capsys.readouterr().out
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 4
    assert states.count(TrialState.FAIL) == 1 and TrialState.RUNNING not in states
    stale = [t for t in study.trials if t.state == TrialState.FAIL][0]
    assert stale.number == 2 and "stale" in stale.user_attrs["fail_reason"]
    # Finished: a rerun adds nothing.
    again = corpus_collect.collect("popularity", TINY_SHOP, trials=4, **kwargs)
    assert len(again.trials) == 5
    # Other settings would mix two tasks in one study.
    with pytest.raises(ValueError, match="exists with max_valid_queries=50, not 60"):
        corpus_collect.collect(
            "popularity", TINY_SHOP, trials=6, **{**kwargs, "max_valid_queries": 60}
        )


def test_two_workers_on_sqlite_give_exactly_n(sqlite_url):
    study = corpus_collect.collect(
        "popularity",
        TINY_SHOP,
        storage=sqlite_url,
        study_name="two-workers",
        trials=6,
        sampler="random",  # Sobol's lock-step indices are covered by the resume test
        workers=2,
        progress=False,
        max_valid_queries=50,
    )
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 6 and len(states) == 6
    # The workers draw from different random streams.
    points = {(t.params["half_life"], t.params["use_weight"]) for t in study.trials}
    assert len(points) == 6


def test_cli_collect_export_stats(tmp_path, sqlite_url, capsys):
    url = sqlite_url
    out = tmp_path / "c.parquet"
    bank = tmp_path / "bank.sources.json.gz"
    args = ["corpus", "collect", "--model", "popularity", "--data", TINY_SHOP]
    args += ["--trials", "4", "--storage", url, "--study-name", "p", "--seed", "1"]
    args += ["--max-users", "100", "--max-valid-queries", "40", "--no-progress"]
    assert main(args) == 0
    collected = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert collected["n_trials"] == {"COMPLETE": 4, "total": 4}
    export = ["corpus", "export", "--storage", url, "--out", str(out)]
    assert main([*export, "--study", "p", "--sources-out", str(bank)]) == 0
    assert json.loads(capsys.readouterr().out)["sources"] == 1
    (source,) = load_sources_json(bank)
    assert len(source) == 4 and source.attrs["model"] == "popularity"
    assert source.attrs["dataset"].startswith("synthetic:ecommerce:")
    for target in (str(out), url):
        assert main(["corpus", "stats", target]) == 0
        (summary,) = [s for s in json.loads(capsys.readouterr().out) if s["study"] == "p"]
        assert summary["n_trials"]["COMPLETE"] == 4
        assert summary["best_value"] == pytest.approx(source.values.max())
    attrs = json.loads(corpus.read_parquet(out)["study_attrs"].iloc[0])
    assert attrs["data"]["subsample"]["max_users"] == 100 and attrs["seed"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["corpus", "stats", "nosuchdb://x"], "nosuchdb://x"),
        (["corpus", "export", "--storage", "bad", "--out", "x.parquet"], "'bad'"),
        (["corpus", "collect", "--model", "popularity", "--data", "synthetic:mars"], "mars"),
        (
            ["corpus", "collect", "--model", "popularity", "--data", "synthetic:news:size"],
            "'size' is not KEY=VALUE",
        ),
        (["corpus", "collect", "--model", "nope", "--data", TINY_SHOP], "'nope'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("optuna-rl: error:") and message in err and "\n" not in err


def test_cli_bad_parquet(tmp_path, capsys):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 nonsense")
    assert main(["corpus", "stats", str(junk)]) == 2
    assert "junk.parquet" in capsys.readouterr().err


def test_memoised_lightgbm_ranker_gives_the_plain_results():
    pytest.importorskip("lightgbm")
    from optuna_rl_sampler.recsys.models.lightgbm_ranker import LightGBMRanker
    from optuna_rl_sampler.recsys.objective import make_objective

    data, _ = corpus_data.load_data(TINY_SHOP)
    options = {"max_train_queries": 100, "n_candidates": 20}
    memoised = corpus_collect._family("lightgbm-ranker", options)
    assert isinstance(memoised, LightGBMRanker) and memoised.cache
    params = [
        {**memoised.default_params(), "n_estimators": 15},
        {**memoised.default_params(), "n_estimators": 10, "num_leaves": 8, "label_gain": "linear"},
    ]
    fast = make_objective(memoised, data, max_valid_queries=50, prune=False)
    plain = make_objective(LightGBMRanker(**options), data, max_valid_queries=50, prune=False)
    for p in params:
        assert (
            fast.evaluate_params(p, on="valid")["ndcg@10"]
            == (plain.evaluate_params(p, on="valid")["ndcg@10"])
        )
    assert memoised.cache_info()["hits"] >= 2  # the index and the training lists were reused
