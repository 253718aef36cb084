from __future__ import annotations

from benchmarks import zero_config as zc


def _run(task, seed, values):
    return {"task": task, "seed": seed, "values": values}


def test_rl_after_8_trials_is_paired_with_tpe_after_30():
    tpe = [
        _run("m/a", 0, [0.1] * 20 + [0.5] + [0.2] * 9),  # best 0.5 at trial 21
        _run("m/a", 1, [0.1, 0.3] + [0.2] * 28),  # best 0.3 at trial 2
        _run("m/b", 0, [0.4] * 12),  # too short: not a 30-trial run
    ]
    rl = [
        _run("m/a", 0, [0.2] * 7 + [0.45] + [0.9] * 12),  # 0.45 by trial 8: short of 0.5
        _run("m/a", 1, [0.35] + [0.0] * 19),  # 0.35 at once: reached
        _run("m/b", 0, [0.9] * 20),
    ]
    rows = zc.compare_runs(rl, tpe)
    assert [(r["task"], r["seed"]) for r in rows] == [("m/a", 0), ("m/a", 1)]
    first, second = rows
    assert first["rl_at_8"] == 0.45 and first["tpe_at_30"] == 0.5 and not first["reached"]
    assert first["tpe_trials_to_rl_at_8"] == 21 and first["tpe_at_8"] == 0.1
    assert second["reached"] and second["tpe_trials_to_rl_at_8"] is None
    text = zc.markdown(
        {
            "rl-transfer": {"rows": rows, "reached": 1, "ahead_at_8": 2, "runs": 2},
            "rl-generic": {"rows": [], "reached": 0, "runs": 0},
        }
    )
    assert "## rl-transfer: 1 of 2 runs reach TPE's 30-trial best within 8 trials (50%" in text
    assert "| a | 0 | 0.4500 | 0.1000 | 0.5000 | no | 21 |" in text
    assert "RLSampler is ahead of TPE in 2 of 2 runs" in text
    assert "| a | 1 | 0.3500 | 0.3000 | 0.3000 | yes | > 30 |" in text


def test_report_names_its_split_and_refuses_an_unknown_one(tmp_path):
    import pytest

    empty = {"rows": [], "reached": 0, "runs": 0}
    text = zc.markdown({"split": "dev", "rl-transfer": empty, "rl-generic": empty})
    assert "on the real datasets of the v2 dev split" in text
    with pytest.raises(ValueError, match="'train'"):
        zc.write_zero_config(out=tmp_path, split="train")
    assert not any(tmp_path.iterdir())  # nothing written


def test_dev_split_pairs_only_the_dev_datasets(tmp_path):
    import gzip
    import json

    # TPE's runs of both splits in one folder: the split alone decides what is paired.
    with gzip.open(tmp_path / "runs.jsonl.gz", "wb") as out:
        for folder in (zc.DEV_OUT, zc.DEFAULT_OUT):
            out.write(gzip.decompress((folder / "runs.jsonl.gz").read_bytes()))
    zc.write_zero_config(out=tmp_path, split="dev")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["split"] == "dev"
    for label in ("rl-transfer", "rl-generic"):
        tasks = {r["task"] for r in summary[label]["rows"]}
        assert tasks == {
            "lightgbm-ranker/amazon_beauty",
            "lightgbm-ranker/filmtrust",
            "lightgbm-ranker/mind_sample",
            "lightgbm-ranker/yoochoose_clicks_100k",
        }
        assert summary[label]["runs"] == 20
    zc.write_zero_config(out=tmp_path, split="test")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {r["task"].split("/")[1] for r in summary["rl-transfer"]["rows"]} == {
        "amazon_sports",
        "lastfm_2k",
        "ml_latest_small",
    }
    assert summary["rl-transfer"]["reached"] == 5  # as committed for the test split
