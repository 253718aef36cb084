"""The contract every recommender model family fulfils, built-in or third-party.

A plugin's ``register_models(register)`` hook calls ``register(family)`` with objects
that satisfy :class:`ModelFamily`. The objective builder only ever talks to this
contract, so a new model needs nothing else from the project.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.data import Queries

#: ``on_step(step, value)``: called after each boosting round / epoch with the
#: validation metric so far (higher is better). It may raise ``optuna.TrialPruned``;
#: a model must let that exception propagate.
StepCallback = Callable[[int, float], None]


def with_steps(params: dict[str, Any], key: str, steps: int) -> dict[str, Any]:
    """``params`` with ``params[key] = steps``: what a family's ``params_for_steps``
    returns (``key`` its rounds or epochs parameter).

    Raises:
        ValueError: ``steps`` is not a positive integer.
    """
    import numpy as np

    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    return {**params, key: int(steps)}


@runtime_checkable
class FittedModel(Protocol):
    """A trained model that ranks items for queries."""

    def recommend(self, queries: Queries, k: int) -> np.ndarray:
        """Top-``k`` item codes per query, best first.

        Returns:
            An int64 array of shape ``(len(queries), k)``; rows with fewer than ``k``
            rankable items are padded with ``-1``. Where ``queries.candidates`` is set,
            only those items are ranked; otherwise the whole catalogue minus
            ``queries.exclude``.
        """
        ...

    def size_bytes(self) -> int:
        """Approximate size of the trained parameters, for reports."""
        ...


@runtime_checkable
class ModelFamily(Protocol):
    """A tunable recommender: a name, a search space, and a way to train it."""

    #: Registry name, e.g. ``"lightgbm-ranker"``.
    name: str

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw one configuration from the family's search space with ``trial.suggest_*``."""
        ...

    def default_params(self) -> dict[str, Any]:
        """The configuration a practitioner would use untuned (the report's baseline)."""
        ...

    def fit(
        self,
        params: dict[str, Any],
        train: Interactions,
        valid: Queries | None = None,
        on_step: StepCallback | None = None,
        seed: int = 0,
    ) -> FittedModel:
        """Train on ``train``; report the metric on ``valid`` through ``on_step`` if given."""
        ...
