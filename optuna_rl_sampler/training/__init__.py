"""Meta-training of the policy (needs the ``train`` extra: torch, tqdm, matplotlib).

Data flows one way: synthetic tasks (:mod:`.tasks`) -> episodes (:mod:`.rollout`) ->
PPO updates (:mod:`.ppo`) -> a weights file that the sampler loads. Nothing here is
imported when a sampler proposes a trial.
"""
