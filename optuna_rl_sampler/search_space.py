"""The relative search space of a study: what RLSampler proposes jointly.

Optuna's :class:`~optuna.search_space.IntersectionSearchSpace` keeps a parameter only
while every finished trial has the *same* distribution for it, so widening a range in
the middle of a study (``suggest_float("x", 0, 1)`` then ``suggest_float("x", 0, 2)``)
drops ``x`` from the joint proposal for the rest of the study: every later value is
sampled independently, at random, and the trials so far are never used for it again.

:class:`CurrentSearchSpace` keeps a parameter while every finished trial has a
*compatible* distribution for it (the same kind, the same log scale and, for a
categorical parameter, the same choices: what Optuna itself requires of one parameter
name within a study) and gives it the distribution of the latest trial that has it. The
sampler then proposes over the new range, and the earlier trials whose values still
fit it stay evidence (:meth:`~optuna_rl_sampler.encoding.SearchSpaceEncoder.encode_many`
leaves out those that do not). For a study whose distributions never change, the two
are the same.

A conditional search space (``if model == "tree": suggest depth``) has parameters that
only some trials hold, and the intersection leaves them out. :meth:`CurrentSearchSpace.groups`
partitions every parameter the finished trials hold into groups that always appear
together (the decomposition of Optuna's ``TPESampler(group=True)``): ``{model}``,
``{alpha}``, ``{depth, lr}`` and so on. The sampler proposes each group from the trials
that hold it. A study whose trials all hold the same parameters has one group, its
intersection.
"""

from __future__ import annotations

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

__all__ = ["CurrentSearchSpace", "compatible"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_OF_INTEREST = (*_FINISHED, TrialState.WAITING, TrialState.RUNNING)


def compatible(old: BaseDistribution, new: BaseDistribution) -> bool:
    """Whether one parameter name may hold ``old`` in one trial and ``new`` in another
    (Optuna's own rule: same kind, same ``log``, same categorical choices)."""
    if type(old) is not type(new):
        return False
    if isinstance(old, CategoricalDistribution):
        return old.choices == new.choices  # type: ignore[attr-defined]
    return getattr(old, "log", False) == getattr(new, "log", False)


class CurrentSearchSpace:
    """Parameters in every finished (complete or pruned) trial with compatible
    distributions, each with the distribution of the latest such trial.

    Incremental like Optuna's intersection: a call reads only the trials finished since
    the previous call (running and waiting trials are read again once they finish). One
    instance serves one study.

    Examples:
        >>> import optuna
        >>> from optuna_rl_sampler.search_space import CurrentSearchSpace
        >>> optuna.logging.set_verbosity(optuna.logging.ERROR)
        >>> study = optuna.create_study()
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=1)
        >>> CurrentSearchSpace().calculate(study)
        {'x': FloatDistribution(high=2.0, log=False, low=0.0, step=None)}
    """

    def __init__(self) -> None:
        self._space: dict[str, BaseDistribution] | None = None
        #: Number of the trial whose distribution each parameter holds.
        self._source: dict[str, int] = {}
        #: Every parameter of the finished trials (its latest distribution, and the
        #: number of the trial that has it), the partition of their names into groups
        #: that always appear together, and the names dropped for an incompatible
        #: distribution.
        self._every: dict[str, BaseDistribution] = {}
        self._every_source: dict[str, int] = {}
        self._groups: list[frozenset[str]] = []
        self._dropped: set[str] = set()
        #: Trials numbered below this are merged already.
        self._cursor = -1
        self._study_id: int | None = None

    def calculate(self, study: Study) -> dict[str, BaseDistribution]:
        """The current search space of ``study``, sorted by parameter name."""
        if self._study_id is None:
            self._study_id = study._study_id
        elif self._study_id != study._study_id:
            raise ValueError(
                f"this CurrentSearchSpace serves study id {self._study_id}, not "
                f"{study._study_id}; make one per study."
            )
        trials = study._get_trials(deepcopy=False, use_cache=False)
        next_cursor = -1
        for trial in reversed(trials):
            if trial.state not in _OF_INTEREST:
                continue
            if next_cursor == -1:
                next_cursor = trial.number + 1
            if trial.number < self._cursor:
                break
            if trial.state not in _FINISHED:
                # Read again once it finishes.
                next_cursor = trial.number
                continue
            self._merge(trial)
        if next_cursor != -1:
            self._cursor = next_cursor
        return self.last_space()

    def last_space(self) -> dict[str, BaseDistribution]:
        """:meth:`calculate`'s result as of its last call, without reading the study."""
        return dict(sorted((self._space or {}).items()))

    def groups(self, study: Study) -> list[dict[str, BaseDistribution]]:
        """Every parameter of the finished trials, in groups that always appear together
        (each sorted by name, the groups by their first name), each parameter with the
        distribution of the latest trial that has it. A parameter whose distributions
        are not :func:`compatible` across trials belongs to no group.

        Examples:
            >>> import optuna
            >>> from optuna_rl_sampler.search_space import CurrentSearchSpace
            >>> optuna.logging.set_verbosity(optuna.logging.ERROR)
            >>> def objective(trial):
            ...     if trial.suggest_categorical("model", ["lin", "tree"]) == "lin":
            ...         return trial.suggest_float("alpha", 0, 1)
            ...     return trial.suggest_int("depth", 2, 9) + trial.suggest_float("lr", 0, 1)
            >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
            >>> study.optimize(objective, n_trials=6)
            >>> [sorted(group) for group in CurrentSearchSpace().groups(study)]
            [['alpha'], ['depth', 'lr'], ['model']]
        """
        self.calculate(study)
        return self.last_groups()

    def last_groups(self) -> list[dict[str, BaseDistribution]]:
        """:meth:`groups` as of the last :meth:`calculate` or :meth:`groups` call, without
        reading the study again (the sampler's relative proposal follows its search
        space's inference for the same trial)."""
        return sorted(
            (
                {name: self._every[name] for name in sorted(group)}
                for group in self._groups
                if group
            ),
            key=lambda group: next(iter(group)),
        )

    def _merge_groups(self, trial: FrozenTrial) -> None:
        names = set()
        for name, dist in trial.distributions.items():
            if name in self._dropped:
                continue
            known = self._every.get(name)
            if known is not None and not compatible(known, dist):
                self._dropped.add(name)
                del self._every[name], self._every_source[name]
                continue
            names.add(name)
            if known is None or trial.number > self._every_source[name]:
                self._every[name], self._every_source[name] = dist, trial.number
        split: list[frozenset[str]] = []
        for group in self._groups:
            group = group - self._dropped
            split += [part for part in (group & names, group - names) if part]
        new = frozenset(names - set().union(*self._groups))
        self._groups = split + ([new] if new else [])

    def _merge(self, trial: FrozenTrial) -> None:
        self._merge_groups(trial)
        if self._space is None:
            self._space = dict(trial.distributions)
            self._source = {name: trial.number for name in self._space}
            return
        kept: dict[str, BaseDistribution] = {}
        for name, dist in self._space.items():
            theirs = trial.distributions.get(name)
            if theirs is None or not compatible(dist, theirs):
                continue
            if trial.number > self._source[name]:
                kept[name], self._source[name] = theirs, trial.number
            else:
                kept[name] = dist
        self._space = kept
