"""Dataset specs: one way to name a dataset, read through the dataset registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from optuna_rl_sampler.recsys.dataset_specs import DatasetSpec
from optuna_rl_sampler.recsys.dataset_specs import load_dataset_spec
from optuna_rl_sampler.recsys.dataset_specs import parse_dataset_spec

pytest.importorskip("pandas", reason="dataset specs load data with the recsys extra (pandas)")

TINY = "n_users=60,n_items=50,n_interactions=600"


@pytest.mark.parametrize(
    ("text", "source", "knobs"),
    [
        ("synthetic-news", "synthetic-news", {}),
        ("synthetic-news:size=small,seed=3", "synthetic-news", {"size": "small", "seed": 3}),
        # The corpus's spelling reads as the same source.
        ("synthetic:news:size=small,seed=3", "synthetic-news", {"size": "small", "seed": 3}),
        (
            "synthetic-ecommerce:popularity_skew=1.5,flag=true,x=none,name=abc",
            "synthetic-ecommerce",
            {"popularity_skew": 1.5, "flag": True, "x": None, "name": "abc"},
        ),
    ],
)
def test_generator_specs_parse_to_source_and_typed_knobs(text, source, knobs) -> None:
    spec = parse_dataset_spec(text)
    assert (spec.source, spec.path, dict(spec.knobs)) == (source, None, knobs)
    assert spec.is_synthetic


def test_names_are_canonical_and_round_trip() -> None:
    spec = DatasetSpec("synthetic-social", knobs={"n_users": 5, "seed": 1, "size": "small"})
    assert str(spec) == "synthetic-social:size=small,seed=1,n_users=5"
    assert spec.corpus_name() == "synthetic:social:size=small,seed=1,n_users=5"
    assert parse_dataset_spec(str(spec)) == parse_dataset_spec(spec.corpus_name()) == spec


def test_paths_are_paths_with_their_format(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic-news"  # a folder wins over a source of the same name
    folder.mkdir()
    assert parse_dataset_spec(folder) == DatasetSpec(None, path=str(folder))
    assert parse_dataset_spec("data/ml-100k", format="movielens") == DatasetSpec(
        "movielens", path="data/ml-100k"
    )


def test_a_generator_spec_loads_the_same_data_as_its_source() -> None:
    from optuna_rl_sampler.recsys.synthetic import make_dataset

    a = load_dataset_spec(f"synthetic-ecommerce:seed=4,{TINY}")
    b = make_dataset("ecommerce", "small", 4, n_users=60, n_items=50, n_interactions=600)
    assert a.events.equals(b.events)
    c = load_dataset_spec(f"synthetic:ecommerce:seed=4,{TINY}")
    assert c.events.equals(b.events)


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("synthetic:", {}, "name a domain"),
        ("synthetic-news:size", {}, "'size' is not KEY=VALUE (e.g. synthetic-news:size=small"),
        ("synthetic-news", {"format": "mind"}, "format 'mind' describes dataset files"),
        ("synthetic-mars", {}, "no dataset source 'synthetic-mars'; generated data comes from"),
        ("synthetic-news:bogus=1", {}, "data 'synthetic-news:bogus=1': "),
    ],
)
def test_bad_specs_name_the_spec_and_the_fix(text, kwargs, message) -> None:
    with pytest.raises(ValueError) as info:
        load_dataset_spec(text, **kwargs)
    assert message in str(info.value)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nowhere"):
        load_dataset_spec(str(tmp_path / "nowhere"), format="movielens")


def test_tune_reads_data_as_a_spec() -> None:
    import argparse

    from optuna_rl_sampler.recsys.tuning import load_data

    args = argparse.Namespace(data=f"synthetic-ecommerce:seed=2,{TINY}", format=None)
    data = load_data(args)
    assert data.events.equals(load_dataset_spec(f"synthetic:ecommerce:seed=2,{TINY}").events)
