from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from optuna_rl_sampler.features import N_FEATURES  # noqa: E402
from optuna_rl_sampler.policy import load_weights  # noqa: E402
from optuna_rl_sampler.policy import save_weights  # noqa: E402
from optuna_rl_sampler.training.ppo import PolicyNet  # noqa: E402
from optuna_rl_sampler.training.ppo import PPOConfig  # noqa: E402
from optuna_rl_sampler.training.ppo import compute_gae  # noqa: E402
from optuna_rl_sampler.training.ppo import ppo_loss  # noqa: E402
from optuna_rl_sampler.training.ppo import train  # noqa: E402
from optuna_rl_sampler.training.rollout import run_episode  # noqa: E402
from optuna_rl_sampler.training.rollout import step_rewards  # noqa: E402
from optuna_rl_sampler.training.tasks import FAMILIES  # noqa: E402
from optuna_rl_sampler.training.tasks import sample_task  # noqa: E402


def test_compute_gae_known_values():
    rewards = np.array([1.0, 0.0, 2.0])
    values = np.array([0.5, 1.0, 1.5])
    adv, ret = compute_gae(rewards, values, gamma=0.9, lam=0.8)
    # deltas: d2 = 2 - 1.5 = 0.5; d1 = 0 + 0.9*1.5 - 1 = 0.35; d0 = 1 + 0.9*1 - 0.5 = 1.4
    # A2 = 0.5; A1 = 0.35 + 0.72*0.5 = 0.71; A0 = 1.4 + 0.72*0.71 = 1.9112
    np.testing.assert_allclose(adv, [1.9112, 0.71, 0.5])
    np.testing.assert_allclose(ret, adv + values)


def test_compute_gae_lambda_one_is_discounted_return_minus_value():
    rewards = np.array([0.0, 0.0, 1.0])
    values = np.zeros(3)
    adv, _ = compute_gae(rewards, values, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(adv, [0.25, 0.5, 1.0])


def test_ppo_loss_known_values():
    new = torch.log(torch.tensor([0.5, 0.2]))
    old = torch.log(torch.tensor([0.25, 0.2]))  # ratios 2.0 and 1.0
    adv = torch.tensor([1.0, -1.0])
    loss, stats = ppo_loss(
        new,
        old,
        adv,
        new_values=torch.tensor([1.0, 0.0]),
        returns=torch.tensor([0.0, 0.0]),
        entropy=torch.tensor([1.0, 3.0]),
        clip_coef=0.2,
        vf_coef=0.5,
        ent_coef=0.1,
    )
    # policy: max(-2, -1.2) = -1.2 and max(1, 1) = 1 -> mean -0.1
    # value: 0.5 * mean([1, 0]) = 0.25; entropy mean 2
    assert stats["policy_loss"] == pytest.approx(-0.1)
    assert stats["value_loss"] == pytest.approx(0.25)
    assert float(loss) == pytest.approx(-0.1 + 0.5 * 0.25 - 0.1 * 2.0)
    assert stats["clip_fraction"] == pytest.approx(0.5)
    assert stats["approx_kl"] == pytest.approx(((2.0 - 1.0) - np.log(2.0)) / 2)


def test_torch_and_numpy_forward_agree():
    torch.manual_seed(0)
    net = PolicyNet(N_FEATURES, 16)
    torch.nn.init.normal_(net.score[2].weight)
    feats = np.random.default_rng(0).random((3, 7, N_FEATURES)).astype(np.float32)
    expected = net.logits(torch.from_numpy(feats)).detach().numpy()
    weights = net.to_weights()
    for b in range(3):
        np.testing.assert_allclose(weights.logits(feats[b].astype(float)), expected[b], atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_tasks_have_a_range_and_episodes_have_expected_shapes(family):
    rng = np.random.default_rng(1)
    task = sample_task(rng, n_params=3, family=family)
    assert task.f_max > task.f_min
    net = PolicyNet(N_FEATURES, 8)
    ep = run_episode(task, net.to_weights(), rng, budget=6, n_candidates=16)
    assert ep.features.shape == (5, 16, N_FEATURES)
    assert ep.actions.shape == ep.logp.shape == ep.rewards.shape == (5,)
    # A zero last layer is the uniform policy: log(1/16) at every step.
    np.testing.assert_allclose(ep.logp, np.log(1 / 16), rtol=1e-5)
    # Best-so-far regret never increases.
    assert np.all(np.diff(ep.regrets) <= 1e-12)
    assert np.all((ep.regrets >= 0) & (ep.regrets <= 1))


def test_step_rewards_known_values():
    r = np.array([1.0, 0.1, 0.01, 1e-5, 1e-7, 0.0])
    # Weight 0: minus the normalised regret (generic-v1's reward).
    np.testing.assert_allclose(step_rewards(r, 0.0), -r, atol=1e-7)
    # Weight 1: each tenfold cut earns a fifth (floor 1e-5), nothing below the floor.
    np.testing.assert_allclose(step_rewards(r, 1.0), [-1.0, -0.8, -0.6, 0.0, 0.0, 0.0], atol=1e-6)
    # A mix is the mix of the two.
    np.testing.assert_allclose(
        step_rewards(r, 0.5), 0.5 * step_rewards(r, 0.0) + 0.5 * step_rewards(r, 1.0), atol=1e-6
    )
    # Late in a study the log form still tells a 0.01 regret from a 0.001 one.
    late = step_rewards(np.array([0.01, 0.001]), 0.5)
    assert late[1] - late[0] > 0.1 > 0.01 > np.diff(step_rewards(np.array([0.01, 0.001]), 0.0))


def test_episode_rewards_follow_the_log_weight():
    rng = np.random.default_rng(4)
    task = sample_task(rng, n_params=2, family="bowl")
    net = PolicyNet(N_FEATURES, 8).to_weights()
    plain = run_episode(task, net, np.random.default_rng(0), budget=6, n_candidates=16)
    logged = run_episode(
        task, net, np.random.default_rng(0), budget=6, n_candidates=16, log_reward=1.0
    )
    np.testing.assert_allclose(plain.regrets, logged.regrets)  # same choices
    np.testing.assert_allclose(logged.rewards, step_rewards(plain.regrets[1:], 1.0))


def test_log_reward_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="log_reward 1.5"):
        PPOConfig(log_reward=1.5)


def test_unknown_family_is_rejected():
    with pytest.raises(ValueError, match="Unknown task family 'nope'"):
        sample_task(np.random.default_rng(0), n_params=2, family="nope")


def _tiny_config(**kwargs):
    return PPOConfig(
        episodes_per_iteration=3,
        budgets=(5,),
        dims=(2,),
        dim_weights=(1.0,),
        n_candidates=16,
        hidden=8,
        workers=1,
        minibatch_states=4,
        **kwargs,
    )


def test_tiny_training_run_is_deterministic_and_loadable(tmp_path):
    cfg = _tiny_config(iterations=2)
    card1 = train(cfg, tmp_path / "a.safetensors", progress=False, plot=True)
    train(cfg, tmp_path / "b.safetensors", progress=False, plot=False)
    a = load_weights(tmp_path / "a.safetensors")
    b = load_weights(tmp_path / "b.safetensors")
    for key in a.tensors:
        np.testing.assert_array_equal(a.tensors[key], b.tensors[key])
    assert card1["seed"] == 0 and card1["config"]["iterations"] == 2
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert (tmp_path / "a.curve.json").exists()
    # The update moved the policy away from the uniform start.
    assert np.abs(a.tensors["score.2.weight"]).sum() > 0


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    from optuna_rl_sampler.training import ppo

    straight = tmp_path / "straight.safetensors"
    train(_tiny_config(iterations=4), straight, progress=False, plot=False)
    assert not ppo.checkpoint_path(straight).exists()  # a finished run removes it

    # Kill the run in its third update: iterations 0 and 1 are checkpointed.
    real_update = ppo.update
    calls = []

    def dying_update(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_update(*args, **kwargs)

    monkeypatch.setattr(ppo, "update", dying_update)
    out = tmp_path / "resumed.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train(_tiny_config(iterations=4), out, progress=False, plot=False)
    assert ppo.checkpoint_path(out).exists() and not out.exists()
    monkeypatch.setattr(ppo, "update", real_update)

    # Other settings are refused, naming them, and the checkpoint is kept.
    with pytest.raises(ValueError, match="other settings \\(learning_rate\\)"):
        train(_tiny_config(iterations=4, learning_rate=0.1), out, progress=False, resume=True)
    card = train(_tiny_config(iterations=4), out, progress=False, plot=False, resume=True)
    assert card["iterations_done"] == 4
    a, b = load_weights(straight), load_weights(out)
    for key in a.tensors:
        np.testing.assert_array_equal(a.tensors[key], b.tensors[key])
    curve = json.loads(out.with_suffix(".curve.json").read_text())
    assert [h["iteration"] for h in curve] == [0, 1, 2, 3]
    assert not ppo.checkpoint_path(out).exists()
    with pytest.raises(ValueError, match="no checkpoint"):
        train(_tiny_config(iterations=4), out, progress=False, resume=True)


def test_save_weights_requires_safetensors_suffix(tmp_path):
    with pytest.raises(ValueError, match="must end in '.safetensors'"):
        save_weights({}, tmp_path / "w.pt", {})


def test_feature_policy_and_held_out_evaluation():
    from optuna_rl_sampler.training.evaluate import PolicySpec
    from optuna_rl_sampler.training.evaluate import evaluate_policies
    from optuna_rl_sampler.training.evaluate import feature_policy

    ei = feature_policy("log_ei_rel")
    feats = np.zeros((3, N_FEATURES))
    feats[1, 3] = 1.0  # log_ei_rel column
    assert np.argmax(ei.probabilities(feats)) == 1
    with pytest.raises(ValueError, match="Unknown feature 'nope'"):
        feature_policy("nope")
    res = evaluate_policies(
        [PolicySpec("ei", ei, greedy=True), PolicySpec("u", feature_policy("mean", 0.0))],
        n_tasks=2,
        budget=6,
        n_candidates=16,
        workers=1,
    )
    assert set(res) == {"ei", "u"}
    assert all(0.0 <= v <= 1.0 for r in res.values() for v in r.values())
    # Cut-offs past the budget are not reported (they would repeat the last value).
    assert set(res["ei"]) == {"regret@5", "regret@6", "mean_regret"}
    # Best-so-far regret cannot grow between trial 5 and trial 6.
    assert res["ei"]["regret@6"] <= res["ei"]["regret@5"]
    with pytest.raises(ValueError, match="n_tasks must be at least 1, got 0"):
        evaluate_policies([PolicySpec("ei", ei)], n_tasks=0)


def test_evaluation_simulates_the_samplers_phase_and_hand_off():
    from optuna_rl_sampler.training.evaluate import PolicySpec
    from optuna_rl_sampler.training.evaluate import evaluate_policies
    from optuna_rl_sampler.training.evaluate import feature_policy

    uniform = feature_policy("mean", 0.0)
    ei = feature_policy("log_ei_rel")
    specs = [PolicySpec("u", uniform), PolicySpec("u->ei", uniform, handoff=ei)]
    kw = dict(n_tasks=3, budget=12, n_candidates=32, workers=1, prior_startup=3)
    # Misleading sources lose their weight, and the hand-off policy then chooses.
    res = evaluate_policies(specs, sources="misleading", **kw)
    assert res["u"]["regret@12"] != res["u->ei"]["regret@12"]
    # Without sources there is nothing to distrust: the same episodes exactly.
    res = evaluate_policies(specs, **kw)
    assert res["u"] == res["u->ei"]
    with pytest.raises(ValueError, match="prior_startup must be 0 or more trials, got -1"):
        evaluate_policies(specs, n_tasks=1, prior_startup=-1)


def test_episodes_simulate_pending_points_pruned_trials_and_sources():
    from optuna_rl_sampler.features import FEATURE_NAMES
    from optuna_rl_sampler.training.tasks import sample_sources

    rng = np.random.default_rng(3)
    task = sample_task(rng, n_params=3, family="bowl")
    weights = PolicyNet(N_FEATURES, 8).to_weights()
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    serial = run_episode(task, weights, rng, budget=8, n_candidates=16)
    assert np.all(serial.features[:, :, col["dist_pending"]] == 1.0)  # nothing running
    parallel = run_episode(task, weights, rng, budget=8, n_candidates=16, workers=3)
    assert np.any(parallel.features[:, :, col["dist_pending"]] < 1.0)
    sources = sample_sources(task, rng, ["related", "misleading"])
    with_prior = run_episode(task, weights, rng, budget=8, n_candidates=16, sources=sources)
    assert with_prior.n_sources == 2
    # The sources weigh in from the first step (later steps may distrust them: one of
    # the two is misleading, and a distrusted source gives no features at all).
    assert np.all(with_prior.features[0, :, col["prior_weight"]] > 0.0)
    assert np.any(with_prior.features[:, :, col["source_prior"]] == 1.0)
    assert np.all(serial.features[:, :, col["prior_weight"]] == 0.0)


def test_episodes_simulate_the_prior_startup_phase_and_ppo_learns_its_choices():
    import torch

    from optuna_rl_sampler.features import FEATURE_NAMES
    from optuna_rl_sampler.training.ppo import update
    from optuna_rl_sampler.training.tasks import sample_sources

    rng = np.random.default_rng(4)
    task = sample_task(rng, n_params=3, family="bowl", style_weights=(0, 0, 0, 1))
    sources = sample_sources(task, rng, ["related", "related"], drop_prob=0.0, extra_prob=0.0)
    net = PolicyNet(N_FEATURES, 8)
    weights = net.to_weights()
    ep = run_episode(
        task, weights, rng, budget=9, n_candidates=16, sources=sources, prior_startup=5
    )
    # Steps 0-3 (1-4 trials observed) are the phase while the related sources hold their
    # weight: step 1 (2 trials observed) is the forced probe, the others choose among the
    # prior candidates only. The sampler's phase ends at 5 observed trials.
    free, restricted = ep.free_steps(), ep.restricted_steps()
    assert free.shape == (8,) and free[4:].all() and not restricted[4:].any()
    assert not free[1] and not restricted[1]
    assert restricted[[0, 2, 3]].all()
    prior = FEATURE_NAMES.index("source_prior")
    for t in (0, 2, 3):  # a restricted step's action is a prior candidate
        assert ep.features[t, ep.actions[t], prior] == 1.0
    # A single source is probed right after its best configuration: started from it
    # (as the sampler starts), step 0 is the probe, and the related source keeps its
    # weight for steps 1-3; started from a random point, step 0 keeps to the source.
    for start_from_prior in (True, False):
        single = run_episode(
            task,
            weights,
            np.random.default_rng(4),
            budget=9,
            n_candidates=16,
            sources=sources[:1],
            prior_startup=5,
            start_from_prior=start_from_prior,
        )
        probes = ~single.free_steps()
        if start_from_prior:
            assert probes[0] and single.restricted_steps()[1:4].all()
        else:
            assert not probes[0] and single.restricted_steps()[0]
    without = run_episode(task, weights, np.random.default_rng(4), budget=9, n_candidates=16)
    assert without.free_steps().all() and not without.restricted_steps().any()
    # Under the restriction the network gives the probabilities the episode acted with,
    # so PPO's ratio starts at 1 on restricted steps too.
    from optuna_rl_sampler.training.ppo import _MASKED_LOGIT

    feats = torch.from_numpy(ep.features)
    with torch.no_grad():
        logits = net.logits(feats)
    allowed = torch.ones(logits.shape, dtype=torch.bool)
    allowed[0] = feats[0, :, prior] > 0.5
    logp = torch.log_softmax(logits.masked_fill(~allowed, _MASKED_LOGIT), dim=-1)
    np.testing.assert_allclose(float(logp[0, ep.actions[0]]), ep.logp[0], atol=1e-4)
    # PPO's update leaves the policy unchanged when no step was the policy's choice...
    cfg = PPOConfig(update_epochs=2, minibatch_states=4, learning_rate=1e-2)
    forced = type(ep)(**{**ep.__dict__, "free": np.zeros(len(ep.actions), dtype=bool)})
    before = [t.detach().clone() for t in net.parameters()]
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    update(net, optimizer, [forced], cfg, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    # ...and learns from the free ones.
    update(net, optimizer, [ep], cfg, torch.Generator().manual_seed(0))
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    # 7 policy steps in minibatches of 3 leave a last minibatch of one state, whose
    # advantage cannot be normalised: it is skipped, and the weights stay finite.
    assert int(ep.free_steps().sum()) == 7
    update(net, optimizer, [ep], PPOConfig(update_epochs=1, minibatch_states=3), None)
    assert all(torch.isfinite(t).all() for t in net.parameters())


def test_steps_handed_off_to_other_weights_are_simulated_but_not_learnt():
    from optuna_rl_sampler.features import FEATURE_NAMES
    from optuna_rl_sampler.proposal import HANDOFF_TRUST
    from optuna_rl_sampler.training.tasks import sample_sources

    rng = np.random.default_rng(5)
    task = sample_task(rng, n_params=3, family="bowl", style_weights=(0, 0, 0, 1))
    sources = sample_sources(task, rng, ["misleading"], drop_prob=0.0, extra_prob=0.0)
    weights = PolicyNet(N_FEATURES, 8).to_weights("trained")
    generic = PolicyNet(N_FEATURES, 8).to_weights("generic")
    kwargs = dict(budget=14, n_candidates=16, sources=sources, prior_startup=5)
    ep = run_episode(task, weights, np.random.default_rng(1), handoff=generic, **kwargs)
    # From step 4 (5 trials observed, the phase over) a step is the trained policy's
    # choice exactly when the sources hold at least HANDOFF_TRUST of the weight.
    trust = ep.features[:, 0, FEATURE_NAMES.index("prior_weight")]
    after = np.arange(len(trust)) >= 4
    handed = after & (trust < HANDOFF_TRUST)
    assert handed.sum() >= 3  # misleading sources lose their weight
    np.testing.assert_array_equal(ep.free_steps()[after], ~handed[after])
    # Without hand-off weights the trained policy makes (and learns) every later step.
    own = run_episode(task, weights, np.random.default_rng(1), **kwargs)
    assert own.free_steps()[4:].all()


def test_sources_relate_to_the_task_as_their_kind_says():
    from optuna_rl_sampler.encoding import SearchSpaceEncoder
    from optuna_rl_sampler.training.tasks import sample_sources

    rng = np.random.default_rng(0)
    task = sample_task(rng, n_params=2, family="bowl", style_weights=(0, 0, 0, 1))
    related, misleading = sample_sources(
        task, rng, ["related", "misleading"], drop_prob=0.0, extra_prob=0.0
    )
    enc = SearchSpaceEncoder(related.distributions)
    for source, sign in ((related, 1.0), (misleading, -1.0)):
        pts, _ = enc.encode_many(list(source.params))
        truth = task.f(task.encoder.embed(pts))
        assert sign * np.corrcoef(truth, source.values)[0, 1] > 0.5


def test_finetune_on_past_studies_writes_loadable_weights(tmp_path, capsys):
    import optuna

    from optuna_rl_sampler import RLSampler
    from optuna_rl_sampler.cli import main

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = f"sqlite:///{tmp_path / 'past.db'}"
    for shift in (0.0, 0.3):
        study = optuna.create_study(storage=url, study_name=f"past-{shift}")
        study.optimize(
            lambda t, s=shift: (t.suggest_float("x", 0, 1) - s) ** 2 + t.suggest_int("n", 1, 4),
            n_trials=12,
        )
    out = tmp_path / "mine.safetensors"
    argv = ["finetune", "--storage", url, "--out", str(out), "--iterations", "1"]
    argv += ["--episodes-per-iteration", "2", "--workers", "1", "--quiet", "--no-plot"]
    argv += ["--budgets", "6", "--candidates", "16"]
    assert main(argv) == 0
    sampler = RLSampler(meta_model=out)
    assert sampler.weights.name == "finetuned"
    assert "GP surrogates of 2 corpus studies" in sampler.weights.card["trained_on"]
    # Fine-tuned like the shipped transfer weights: with the hand-off to generic-v1,
    # which the card records and the sampler then uses.
    assert sampler.weights.card["config"]["handoff"] == "generic-v1"
    assert sampler._handoff_weights.name == "generic-v1"
    assert main([*argv, "--handoff", "none"]) == 0
    assert RLSampler(meta_model=out)._handoff_weights is None
    assert main(["finetune", "--out", str(out)]) == 2
    assert "exactly one of --storage" in capsys.readouterr().err


def test_pretrain_hands_off_to_named_weights_and_refuses_unknown_ones(tmp_path, capsys):
    import json

    from optuna_rl_sampler.cli import main

    out = tmp_path / "w.safetensors"
    argv = ["pretrain", "--out", str(out), "--iterations", "1", "--episodes-per-iteration"]
    argv += ["2", "--workers", "1", "--quiet", "--no-plot", "--source-prob", "1"]
    assert main([*argv, "--handoff", "generic-v1"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["handoff"] == "generic-v1"
    capsys.readouterr()
    bad = tmp_path / "bad.safetensors"
    assert main([*argv[:2], str(bad), *argv[3:], "--handoff", "generic-v9"]) == 2
    err = capsys.readouterr().err
    assert "handoff weights 'generic-v9'" in err and "generic-v1, transfer-v1" in err
    assert not bad.exists()


def test_cli_resume_without_a_checkpoint_is_one_clear_error(tmp_path, capsys):
    from optuna_rl_sampler.cli import main

    out = tmp_path / "w.safetensors"
    code = main(["pretrain", "--out", str(out), "--iterations", "1", "--resume", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "w.ckpt" in err and "without --resume" in err
    assert not out.exists()


def test_the_command_line_is_generated_from_ppoconfig():
    # The defaults of `optuna-rl pretrain` / `finetune` are the config presets, every
    # option's help is its field's, and a flag lands in the field it names.
    import dataclasses

    from optuna_rl_sampler.cli import _FINETUNE_OPTIONS
    from optuna_rl_sampler.cli import _PRETRAIN_OPTIONS
    from optuna_rl_sampler.cli import _config_from_args
    from optuna_rl_sampler.cli import build_parser
    from optuna_rl_sampler.training.config import finetune_config
    from optuna_rl_sampler.training.config import pretrain_config

    parser = build_parser()
    args = parser.parse_args(["pretrain", "--out", "w.safetensors"])
    assert _config_from_args(args, pretrain_config(), _PRETRAIN_OPTIONS) == pretrain_config()
    args = parser.parse_args(
        ["finetune", "--out", "w.safetensors", "--sources", "s.json", "--budgets", "10", "20",
         "--corpus-share", "0.5", "--handoff", "none"]
    )  # fmt: skip
    cfg = _config_from_args(args, finetune_config(), _FINETUNE_OPTIONS)
    assert cfg == dataclasses.replace(
        finetune_config(), budgets=(10, 20), corpus_prob=0.5, handoff=None
    )
    helps = {f.name: f.metadata.get("help") for f in dataclasses.fields(PPOConfig)}
    sub = parser._subparsers._group_actions[0].choices["pretrain"]
    for action in sub._actions:
        if action.dest in _PRETRAIN_OPTIONS.values():
            assert action.help.startswith(helps[action.dest]), action.dest


def test_the_source_kind_mix_comes_from_the_config():
    from optuna_rl_sampler.training.ppo import _source_kinds

    rng = np.random.default_rng(0)
    only_misleading = PPOConfig(source_kind_weights=(0, 0, 0, 1), misleading_beside_related=0.0)
    assert all(set(_source_kinds(rng, only_misleading)) == {"misleading"} for _ in range(50))
    only_related = PPOConfig(source_kind_weights=(1, 0, 0, 0))
    assert all(set(_source_kinds(rng, only_related)) == {"related"} for _ in range(50))
    # The default mix draws every kind.
    kinds = {k for _ in range(400) for k in _source_kinds(rng, PPOConfig())}
    assert kinds == {"related", "unrelated", "misleading"}


# --- task families: the default mix replays, the extra families show their traits ---------


@pytest.mark.parametrize(
    ("seed", "n_params", "family", "f_max", "f_min", "noise", "next_draw"),
    [
        # Computed with the code before the extra families and the `families` field.
        (0, 3, "plateau", 0.5010403317910657, -1.113707975289694, 0.07566899017869497,
         0.17565562060255901),
        (1, 5, "bumps", 2.135945939778107, 0.46551246211784586, 0.0, 0.2600974477372232),
        (3, 8, "plateau", 0.9806670706658337, -1.130435075346902, 0.0, 0.7732770096488164),
        (4, 1, "ripples", 0.23551973319486486, -0.9334908156482216, 0.08844717467688908,
         0.5439414007634982),
    ],
)  # fmt: skip
def test_the_default_family_mix_draws_exactly_as_before(
    seed, n_params, family, f_max, f_min, noise, next_draw
):
    from optuna_rl_sampler.training.config import pretrain_config

    assert PPOConfig().families == pretrain_config().families == FAMILIES
    for families in ({}, {"families": FAMILIES}, {"families": PPOConfig().families}):
        rng = np.random.default_rng(seed)
        task = sample_task(
            rng, n_params=n_params, style_weights=(0.35, 0.2, 0.15, 0.3), **families
        )
        assert task.family == family
        # The values are reductions over many points: equal up to the last bits, which
        # vary with numpy's summation kernels on different CPUs.
        assert (task.f_max, task.f_min, task.noise) == pytest.approx(
            (f_max, f_min, noise), rel=1e-12, abs=1e-15
        )
        # The stream is left where it was: the rest of the episode replays too.
        assert rng.random() == next_draw


def _extra_task(family: str, seed: int, n_params: int = 4):
    """A task of ``family`` and its noiseless values at 1,000 uniform points."""
    task = sample_task(np.random.default_rng([seed, 11]), n_params=n_params, family=family)
    x = np.random.default_rng(seed).random((1000, n_params))
    return task, task.f(task.encoder.embed(task.encoder.snap(x)))


@pytest.mark.parametrize("seed", range(8))
def test_table_tasks_tie_exactly(seed):
    task, y = _extra_task("table", seed)
    # Accuracies on at most 200 validation examples: at most 10% distinct values, all
    # multiples of 1/200 in [0.5, 0.95].
    assert len(np.unique(y)) <= 100
    np.testing.assert_allclose(y * 200, np.round(y * 200), atol=1e-9)
    assert 0.5 <= y.min() and y.max() <= 0.95
    assert task.f_min == 0.5 or task.f_min == pytest.approx(y.min(), abs=0.05)


@pytest.mark.parametrize("seed", range(8))
def test_heavy_tasks_have_a_long_tail_that_sets_no_scale(seed):
    task, y = _extra_task("heavy", seed)
    loss = -y
    assert np.isfinite(y).all() and loss.max() <= 1e4 + 100
    # A log loss that explodes: the worst loss is over 100 times the median one, and
    # the tail lies far below the bulk's worst value (f_min), so a point in it has
    # regret 1 while the bulk spans the [0, 1] regret range.
    assert loss.max() / abs(np.median(loss)) > 100
    assert task.f_min - y.min() > 5 * np.std(y[y >= task.f_min])
    assert task.regret(float(y.min())) == 1.0
    assert 0.05 < np.mean(y < task.f_min) < 0.5


@pytest.mark.parametrize("seed", range(8))
def test_cliff_tasks_diverge_to_one_bad_value_past_a_threshold(seed):
    task, y = _extra_task("cliff", seed)
    assert np.isfinite(y).all()
    bad = y == y.min()
    # 10-40% of the space (on the embedding) diverges, to one constant far below the rest.
    assert 0.05 < bad.mean() < 0.5
    assert task.f_min > y.min()
    assert task.f_min - y.min() > 5 * np.std(y[~bad])
    assert task.regret(float(y.min())) == 1.0


@pytest.mark.parametrize("family", ["table", "heavy", "cliff"])
def test_extra_families_are_deterministic_per_seed_and_run_episodes(family):
    a, ya = _extra_task(family, 3, n_params=30)
    b, yb = _extra_task(family, 3, n_params=30)
    np.testing.assert_array_equal(ya, yb)
    assert (a.f_max, a.f_min, a.noise) == (b.f_max, b.f_min, b.noise)
    _, yc = _extra_task(family, 4, n_params=30)
    assert not np.array_equal(ya, yc)
    assert a.f_max > a.f_min
    ep = run_episode(a, PolicyNet(N_FEATURES, 8).to_weights(), np.random.default_rng(0),
                     budget=6, n_candidates=16)  # fmt: skip
    assert np.all(np.diff(ep.regrets) <= 1e-12)
    assert np.all((ep.regrets >= 0) & (ep.regrets <= 1))


def test_the_family_mix_is_checked_and_reaches_the_episodes():
    from optuna_rl_sampler.training.ppo import _episode_job
    from optuna_rl_sampler.training.ppo import _trained_on
    from optuna_rl_sampler.training.tasks import ALL_FAMILIES

    assert ALL_FAMILIES == (*FAMILIES, "table", "heavy", "cliff")
    with pytest.raises(ValueError, match=r"Unknown task families \['nope'\]"):
        sample_task(np.random.default_rng(0), n_params=2, families=("gp", "nope"))
    with pytest.raises(ValueError, match="family mix is empty"):
        sample_task(np.random.default_rng(0), n_params=2, families=())
    drawn = {sample_task(np.random.default_rng(s), n_params=2, families=("heavy", "cliff")).family
             for s in range(12)}  # fmt: skip
    assert drawn == {"heavy", "cliff"}
    cfg = _tiny_config(families=("cliff",), source_prob=0.0)
    weights = PolicyNet(N_FEATURES, 8).to_weights()
    assert {_episode_job((0, i, weights, cfg, ())).family for i in range(3)} == {"cliff"}
    assert "cliffs (a divergence region" in _trained_on(cfg, [], None)
    # The prior-startup phase is named only when some episodes have sources.
    assert "prior-startup" not in _trained_on(replace(cfg, prior_startup=5), [], None)
    assert "prior-startup" in _trained_on(replace(cfg, prior_startup=5, source_prob=0.5), [], None)
    assert _trained_on(PPOConfig(), [], None).startswith(
        "synthetic tasks (optuna_rl_sampler.training.tasks): GP-prior draws, bowls, bumps, "
        "ripples, plateaus; mixed, grid, categorical and float search spaces of 1-20 parameters"
    )


def test_pretrain_takes_the_family_mix_from_the_command_line():
    from optuna_rl_sampler.cli import _PRETRAIN_OPTIONS
    from optuna_rl_sampler.cli import _config_from_args
    from optuna_rl_sampler.cli import build_parser
    from optuna_rl_sampler.training.config import pretrain_config

    args = build_parser().parse_args(
        ["pretrain", "--out", "w.safetensors", "--families", "gp", "table", "cliff"]
    )
    cfg = _config_from_args(args, pretrain_config(), _PRETRAIN_OPTIONS)
    assert cfg.families == ("gp", "table", "cliff")


def test_pretrain_takes_the_dimensions_and_refuses_a_mismatch(capsys):
    from optuna_rl_sampler.cli import _PRETRAIN_OPTIONS
    from optuna_rl_sampler.cli import _config_from_args
    from optuna_rl_sampler.cli import build_parser
    from optuna_rl_sampler.cli import main
    from optuna_rl_sampler.training.config import pretrain_config

    argv = ["pretrain", "--out", "w.safetensors", "--dims", "2", "30", "--dim-weights", "1", "0.5"]
    cfg = _config_from_args(build_parser().parse_args(argv), pretrain_config(), _PRETRAIN_OPTIONS)
    assert (cfg.dims, cfg.dim_weights) == ((2, 30), (1.0, 0.5))
    assert main([*argv[:-1]]) == 2  # one weight for two dimensions
    err = capsys.readouterr().err.strip()
    assert err == (
        "optuna-rl: error: dims (2, 30) and dim_weights (1.0,) differ in length; give one "
        "weight per dimension (e.g. --dims 2 5 30 --dim-weights 1 1 0.5)."
    )
    for bad, match in [
        ({"dims": (0, 2), "dim_weights": (1.0, 1.0)}, "dimensions of at least 1"),
        ({"dims": (2,), "dim_weights": (0.0,)}, "positive sum"),
    ]:
        with pytest.raises(ValueError, match=match):
            pretrain_config(**bad)
