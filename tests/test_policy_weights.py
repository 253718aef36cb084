from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from optuna_rl_sampler import RLSampler
from optuna_rl_sampler.features import FEATURE_NAMES
from optuna_rl_sampler.policy import FORMAT_VERSION
from optuna_rl_sampler.policy import WeightsError
from optuna_rl_sampler.policy import default_weights_path
from optuna_rl_sampler.policy import load_weights
from optuna_rl_sampler.policy import save_weights
from optuna_rl_sampler.policy import tensors_sha256


@pytest.fixture
def weights_copy(tmp_path):
    src = default_weights_path()
    dst = tmp_path / "w.safetensors"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_shipped_weights_load_with_their_card():
    w = load_weights()
    assert w.card["format_version"] == FORMAT_VERSION
    assert w.card["feature_schema"] == list(FEATURE_NAMES)
    assert "config" in w.card and "seed" in w.card and "created" in w.card
    feats = np.random.default_rng(0).random((10, len(FEATURE_NAMES)))
    p = w.probabilities(feats)
    assert p.shape == (10,) and p.sum() == pytest.approx(1.0)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsError, match="nope.safetensors.*does not exist"):
        RLSampler(meta_model=path)


def test_truncated_file_is_named(weights_copy):
    data = weights_copy.read_bytes()
    weights_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="w.safetensors.*not a readable safetensors"):
        RLSampler(meta_model=weights_copy)


def test_pickle_is_refused(weights_copy):
    import pickle

    weights_copy.write_bytes(pickle.dumps({"score.0.weight": [1, 2]}))
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_weights(weights_copy)


def test_other_format_version_is_refused(weights_copy):
    card_file = weights_copy.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["format_version"] = FORMAT_VERSION + 1
    card_file.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match=f"format version {FORMAT_VERSION + 1}"):
        load_weights(weights_copy)


def test_other_feature_schema_is_refused(weights_copy):
    card_file = weights_copy.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["feature_schema"] = ["mean"]
    card_file.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="trained on features"):
        load_weights(weights_copy)


def test_missing_or_broken_card(weights_copy):
    card_file = weights_copy.with_suffix(".json")
    card_file.write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_weights(weights_copy)
    card_file.unlink()
    with pytest.raises(WeightsError, match="has no card"):
        load_weights(weights_copy)


def test_weights_error_is_a_value_error():
    assert issubclass(WeightsError, ValueError)


def _shipped_vs_uniform(sources, name="transfer-v2"):
    from optuna_rl_sampler.training.evaluate import PolicySpec
    from optuna_rl_sampler.training.evaluate import evaluate_policies
    from optuna_rl_sampler.training.evaluate import feature_policy

    policies = [
        PolicySpec("shipped", load_weights(default_weights_path(name))),
        PolicySpec("uniform", feature_policy("mean", 0.0)),
    ]
    return evaluate_policies(
        policies, n_tasks=10, budget=12, n_candidates=64, workers=1, sources=sources
    )


def test_shipped_weights_beat_a_uniform_policy_on_fixed_tasks():
    # The same 10 held-out synthetic tasks and random streams for both policies; an
    # untrained network is the uniform policy, so this fails if the weights are not used.
    # generic-v1 is what RLSampler uses for a study without source studies.
    res = _shipped_vs_uniform(None, "generic-v1")
    assert res["shipped"]["regret@12"] < 0.6 * res["uniform"]["regret@12"]


def _saved(tmp_path, tensors=None, name="w2"):
    tensors = dict(load_weights().tensors if tensors is None else tensors)
    path, card_file = save_weights(tensors, tmp_path / f"{name}.safetensors", {"name": name})
    return path, card_file, tensors


def test_save_records_a_digest_that_load_checks(tmp_path):
    path, card_file, tensors = _saved(tmp_path)
    card = json.loads(card_file.read_text())
    assert card["tensors_sha256"] == tensors_sha256(tensors)
    assert len(card["tensors_sha256"]) == 64
    w = load_weights(path)
    assert w.name == "w2"
    for key, value in tensors.items():
        np.testing.assert_allclose(w.tensors[key], value.astype(np.float32))


def test_digest_is_stable_and_order_free():
    a = {"b": np.arange(6, dtype=np.float64).reshape(2, 3), "a": np.ones(2, dtype=np.float32)}
    b = {"a": np.ones(2), "b": np.arange(6, dtype=np.float32).reshape(2, 3)}
    assert tensors_sha256(a) == tensors_sha256(b)
    # The same bytes in another shape, or under another name, hash differently.
    assert tensors_sha256({**a, "b": a["b"].reshape(3, 2)}) != tensors_sha256(a)
    assert tensors_sha256({"c": a["a"], "b": a["b"]}) != tensors_sha256(a)
    # A known value, so that any change of the definition is deliberate.
    expected = hashlib.sha256(b"x\0(1,)\0" + bytes(4)).hexdigest()
    assert tensors_sha256({"x": np.zeros(1)}) == expected


def test_file_and_card_that_do_not_belong_together_are_refused(tmp_path):
    path, card_file, tensors = _saved(tmp_path)
    other = dict(tensors)
    other["score.2.bias"] = other["score.2.bias"] + 1.0
    other_path, _, _ = _saved(tmp_path, other, name="other")
    path.write_bytes(other_path.read_bytes())  # new tensors, old card
    with pytest.raises(WeightsError, match=r"w2\.safetensors.*do not belong together"):
        load_weights(path)
    with pytest.raises(WeightsError, match="do not belong together"):
        RLSampler(meta_model=path)


def test_cards_without_a_digest_are_accepted(tmp_path):
    path, card_file, _ = _saved(tmp_path)
    card = json.loads(card_file.read_text())
    del card["tensors_sha256"]
    card_file.write_text(json.dumps(card))
    assert load_weights(path).name == "w2"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    tensors = dict(load_weights().tensors)
    weight = tensors["score.0.weight"].copy()
    weight[1, 2] = bad
    tensors["score.0.weight"] = weight
    path, _, _ = _saved(tmp_path, tensors, name="bad")
    with pytest.raises(WeightsError, match=r"bad\.safetensors.*'score\.0\.weight'.*non-finite"):
        load_weights(path)


def test_shipped_weights_use_related_source_studies():
    # transfer-v2 (used when a study has source studies) on the same tasks and streams,
    # each task with two related source studies: it must turn the meta-prior into far
    # lower regret than the uniform policy given the same prior candidates.
    res = _shipped_vs_uniform("related")
    assert res["shipped"]["regret@5"] < 0.6 * res["uniform"]["regret@5"]
    assert res["shipped"]["regret@12"] < 0.6 * res["uniform"]["regret@12"]
