"""A plugin whose hook implementation has a typo in its name."""

from optuna_rl_sampler.recsys.hookspecs import hookimpl


@hookimpl
def register_modles(register):
    raise AssertionError("never called: the hook name has a typo")
