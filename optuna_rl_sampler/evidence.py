"""A study's trials as the evidence of a proposal.

:class:`~optuna_rl_sampler.RLSampler` reads the study from its storage at every
proposal; this module turns what it reads into the arrays that
:func:`~optuna_rl_sampler.proposal.propose` takes:

* :func:`read_evidence`: the trials of the current search space as points of the unit
  cube (:class:`~optuna_rl_sampler.encoding.SearchSpaceEncoder`), their objective values
  turned to *higher is better*, their total constraint violations, and the running
  trials as pending points. COMPLETE trials are evidence; PRUNED trials with at least
  one intermediate value count as worse than every complete trial (``-inf``), those
  without are ignored, and so are FAIL trials, complete trials whose values are missing
  or NaN, and trials whose parameters do not fit the current search space.
* :class:`EvidenceCache`: what :func:`read_evidence` derived from each finished trial
  (a finished trial never changes), so that a proposal at N trials does Python work
  only for the trials that finished since the last one.
* :func:`scalarise`: one score per trial (several objectives scalarised with the trial's
  own random weights, or early in a two-objective study by their hypervolume utility,
  infeasible trials ranked below feasible ones; see :mod:`optuna_rl_sampler.objectives`
  and :mod:`optuna_rl_sampler.hypervolume`) and what the trial's reasons record about
  it.

SHAPES (n usable trials, k objectives, p running trials, P parameters):
    points: (n, P); values: (n, k); violations: (n,), NaN when a trial has none
    pending: (p, P); scores: (n,)
"""

from __future__ import annotations

import datetime
import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rl_sampler.encoding import SearchSpaceEncoder
from optuna_rl_sampler.hypervolume import HYPERVOLUME_TRIALS
from optuna_rl_sampler.hypervolume import hypervolume_scores
from optuna_rl_sampler.objectives import apply_constraints
from optuna_rl_sampler.objectives import chebyshev
from optuna_rl_sampler.objectives import constraint_values
from optuna_rl_sampler.objectives import draw_simplex_weights
from optuna_rl_sampler.objectives import front_geometry
from optuna_rl_sampler.objectives import total_violation
from optuna_rl_sampler.reasons import REASON_KEY

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "CHOICE_MIN_TRIALS",
    "EVIDENCE_STATES",
    "UNPLACED_WITHIN_S",
    "Evidence",
    "EvidenceCache",
    "WholeTrials",
    "better_half",
    "count_unplaced",
    "read_evidence",
    "scalarise",
    "source_led",
    "sources_beaten",
]


#: The trial states :func:`read_evidence` reads.
EVIDENCE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Seconds after its start within which a running trial without any parameter counts as
#: being proposed by another worker (:attr:`Evidence.unplaced`). A proposal takes
#: milliseconds to seconds; a trial that has held no parameter for longer is either
#: doing other work before its first suggestion (it will propose later, from trials
#: that include this one) or was left RUNNING by a worker that died.
UNPLACED_WITHIN_S = 60.0


class Evidence(NamedTuple):
    """The usable trials of a study and its other running trials, on the unit cube.

    Attributes:
        points: ``(n, P)`` cube points of the usable trials.
        values: ``(n, k)`` their objective values, higher is better (each objective's
            sign follows the study's direction); ``-inf`` rows for pruned trials.
        violations: ``(n,)`` their total constraint violations; NaN when a trial has
            no constraint values.
        pending: ``(p, P)`` cube points of the running trials other than the one being
            proposed.
        unplaced: Running trials other than the one being proposed that hold no
            parameter yet and started less than :data:`UNPLACED_WITHIN_S` ago: trials
            that another worker is most likely proposing at this moment, from the same
            trials (a trial's parameters reach the storage only once proposed). A
            running trial of another branch of a conditional space holds parameters
            and is not one of them, nor is a trial left RUNNING long ago (a worker that
            died without marking it failed).
    """

    points: np.ndarray
    values: np.ndarray
    violations: np.ndarray
    pending: np.ndarray
    unplaced: int = 0


#: Search spaces whose encodings :class:`EvidenceCache` keeps (the least recently used
#: goes first).
_MAX_SPACES = 16


@dataclass
class _Encoded:
    """The cube points of a study's first ``n`` rows under one search space (``points``
    and ``admitted`` may hold more rows than ``n``: spare capacity)."""

    points: np.ndarray
    admitted: np.ndarray
    n: int


class EvidenceCache:
    """What :func:`read_evidence` derived from each finished trial of one study.

    A COMPLETE or PRUNED trial never changes in an Optuna storage, so its values,
    constraint violation and cube point are computed once per process and kept in
    growing arrays, instead of at every proposal (at 1,000 trials that per-trial Python
    work was over half of a proposal). Entries are keyed by trial id and checked against
    the trial's number and completion time, so a storage that reuses ids (a deleted and
    recreated study) is read afresh; the points are encoded once per search space (the
    last :data:`_MAX_SPACES` are kept: the groups of a conditional search space take
    turns), and everything is dropped when the sampler moves to another study.
    Safe under ``n_jobs`` threads; pickles empty (a copy in another process starts
    afresh). The result of :func:`read_evidence` is the same with or without it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset(None, 1)

    def _reset(self, study_key: Any, k: int) -> None:
        self._study_key = study_key
        self._k = k
        # trial id -> (stamp, row in the arrays below, or -1: not evidence)
        self._rows: dict[int, tuple[tuple[int, Any], int]] = {}
        self._params: list[dict[str, Any]] = []
        self._values = np.empty((0, k))
        self._pruned = np.empty(0, dtype=bool)
        self._violations = np.empty(0)
        # Per search space (a study's several spaces: its groups of conditional
        # parameters, a widened range), the cube points of the rows encoded so far.
        self._encoded: dict[tuple, _Encoded] = {}
        # The last read's finished trials (weakly: a storage that hands out new objects
        # at every read keeps no old ones alive through here) and its rows, in order.
        self._refs: list[weakref.ref] = []
        self._used: list[int] = []

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def _append(self, t: FrozenTrial) -> int:
        """Read ``t`` into the arrays; its row, or -1 when it is not evidence."""
        k = self._k
        if t.state == TrialState.COMPLETE:
            row = t.values
            if not row or len(row) != k or any(v != v for v in row):  # none, or NaN
                return -1
            values, pruned = row, False
        elif t.intermediate_values:  # PRUNED: worse than every complete trial.
            values, pruned = [0.0] * k, True
        else:
            return -1
        con = constraint_values(t.system_attrs)
        n = len(self._params)
        if n == len(self._pruned):  # full: double the capacity
            cap = max(64, 2 * n)
            self._values = np.resize(self._values, (cap, k))
            self._pruned = np.resize(self._pruned, cap)
            self._violations = np.resize(self._violations, cap)
        self._values[n] = values
        self._pruned[n] = pruned
        self._violations[n] = float(total_violation(np.array([con]))[0]) if con else math.nan
        self._params.append(t.params)
        return n

    def _encode(self, encoder: SearchSpaceEncoder) -> _Encoded:
        """The rows encoded under ``encoder``'s search space, those not yet encoded
        encoded now."""
        key = tuple(encoder.search_space.items())
        enc = self._encoded.pop(key, None)
        if enc is None:
            if len(self._encoded) >= _MAX_SPACES:  # the least recently used goes
                self._encoded.pop(next(iter(self._encoded)))
            enc = _Encoded(np.empty((0, encoder.n_params)), np.empty(0, dtype=bool), 0)
        self._encoded[key] = enc  # now the most recently used
        n = len(self._params)
        if enc.n == n:
            return enc
        rows, ok = encoder.encode_many(self._params[enc.n :])
        if len(enc.points) < n:  # full: double the capacity (rows up to n kept)
            cap = max(64, 2 * n)
            enc.points = np.resize(enc.points, (cap, encoder.n_params))
            enc.admitted = np.resize(enc.admitted, cap)
        enc.points[enc.n : n] = rows
        enc.admitted[enc.n : n] = ok
        enc.n = n
        return enc

    def read(
        self, study: Study, finished: Sequence[FrozenTrial], k: int, encoder: SearchSpaceEncoder
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(points, admitted, values, pruned, violations)`` of the evidence among
        ``finished`` trials, in their order (values as stored, before direction signs)."""
        storage = study._storage
        try:
            storage_key: Any = weakref.ref(storage)
        except TypeError:  # a storage without weak references: compare identities
            storage_key = id(storage)
        with self._lock:
            if self._study_key != (storage_key, study._study_id) or self._k != k:
                self._reset((storage_key, study._study_id), k)
            known = self._rows
            refs, used = self._refs, self._used
            # Optuna's storages (in memory, journal, RDB through its cache) hand out the
            # same objects for finished trials at every read: when the last read's
            # trials open this one, in order, only the trials after them are looked at
            # (at 10,000 trials the loop below took about a quarter of a proposal).
            same = len(refs) <= len(finished) and all(
                ref() is t for ref, t in zip(refs, finished, strict=False)
            )
            if not same:
                refs, used = [], []
            tail = finished[len(refs) :]
            for t in tail:
                stamp = (t.number, t.datetime_complete)
                entry = known.get(t._trial_id)
                if entry is None or entry[0] != stamp:
                    entry = known[t._trial_id] = (stamp, self._append(t))
                if entry[1] >= 0:
                    used.append(entry[1])
            try:
                refs.extend(weakref.ref(t) for t in tail)
                self._refs, self._used = refs, used
            except TypeError:  # trials without weak references: look at all, every time
                self._refs, self._used = [], []
            enc = self._encode(encoder)
            arrays = (enc.points, enc.admitted, self._values, self._pruned, self._violations)
            idx = np.array(used, dtype=np.intp)
            n = len(idx)
            if n == len(self._params) and (n == 0 or (np.diff(idx) > 0).all()):
                # Every row, in order (the usual case): read-only views, no copies. Rows
                # below n are never written again (appends go after them, and a full
                # array is replaced, not changed).
                views = [a[:n] for a in arrays]
                for a in views:
                    a.flags.writeable = False
                return views[0], views[1], views[2], views[3], views[4]
            picked = [a[idx] for a in arrays]
            return picked[0], picked[1], picked[2], picked[3], picked[4]


#: Fewest trials from which a choice group of a conditional space (its parameters all
#: categorical) is proposed from the better half of them (see :func:`better_half`).
CHOICE_MIN_TRIALS = 4


def better_half(
    points: np.ndarray, values: np.ndarray, violations: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The trials a choice group of a conditional space is proposed from: those at or
    above the median value (one objective, no constraint values, at least
    :data:`CHOICE_MIN_TRIALS` trials; otherwise all of them), and the reason's entry.
    Pruned trials (``-inf``) count below every complete one and are never kept.

    The choice (a model family, an optimiser) is worth what its good trials reach, since
    its own parameters are tuned from them; fitted to every trial, the GP reads each
    choice's mean and holds the study to the choice whose typical trial is good. From
    the better half, a choice with good trials has a high mean and one without any is as
    uncertain as one never tried (the "good" density of TPE). On the conditional
    benchmark's development seeds (10-19) it took three-models from 0.226 / 0.076 to
    0.086 / 0.0006 at 20 / 40 trials, and recsys-models from 0.058 / 0.051 / 0.051 to
    0.072 / 0.047 / 0.037 at 20 / 40 / 60 (its harder family is found later, but
    found); a quarter instead of a half: 0.188 / 0.071 and 0.088 / 0.048 / 0.029.
    The policy's budget progress then counts the kept trials, as it counts a group's
    own trials in every group of a conditional space.

    Example:
        >>> import numpy as np
        >>> v = np.array([[3.0], [1.0], [5.0], [2.0]])  # higher is better
        >>> _, kept, _, reason = better_half(np.zeros((4, 1)), v, np.full(4, np.nan))
        >>> kept[:, 0].tolist(), reason
        ([3.0, 5.0], {'choice_evidence': 'the better half: 2 of 4 trials'})
    """
    n = len(values)
    if values.shape[1] != 1 or n < CHOICE_MIN_TRIALS or not np.isnan(violations).all():
        return points, values, violations, {}
    v = values[:, 0]
    finite = np.isfinite(v)
    if not finite.any():
        return points, values, violations, {}
    # Pruned trials are -inf: the median is taken with them just below the worst
    # complete trial (interpolating at -inf gives -inf or NaN, which kept every trial),
    # and never below the worst complete trial, so that a pruned trial is never kept.
    low = v[finite].min()
    keep = v >= max(np.quantile(np.where(finite, v, low - 1.0), 0.5), low)
    reason = {"choice_evidence": f"the better half: {int(keep.sum())} of {n} trials"}
    return points[keep], values[keep], violations[keep], reason


class WholeTrials:
    """The whole configurations of a study's finished trials (complete or pruned), to
    tell whether a conditional search space's proposal would repeat one.

    In a define-by-run objective the values of a trial's parameters decide which
    parameters it asks for next, so a proposal that gives every parameter of a finished
    trial that trial's value makes the objective ask for exactly those parameters
    again: it repeats the trial, whatever it proposes for the parameters that trial did
    not hold. Running trials are left out: their parameters may be incomplete.

    Example:
        >>> from optuna.distributions import CategoricalDistribution, IntDistribution
        >>> from optuna.trial import create_trial
        >>> dists = {"model": CategoricalDistribution(["a", "b"]), "depth": IntDistribution(1, 3)}
        >>> trial = create_trial(params={"model": "a", "depth": 2}, distributions=dists, value=1.0)
        >>> whole = WholeTrials([trial], own=1)
        >>> whole.repeated({"model": "a", "depth": 2, "units": 64}) is trial
        True
        >>> whole.repeated({"model": "a", "depth": 3, "units": 64}) is None
        True
    """

    def __init__(self, trials: Sequence[FrozenTrial], own: int) -> None:
        # One table per set of parameter names (a branch of the space): its trials'
        # values, in the order of the names, to the first trial that has them.
        self._tables: dict[tuple[str, ...], dict[tuple[Any, ...], FrozenTrial]] = {}
        for t in trials:
            if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or t.number == own:
                continue
            names = tuple(sorted(t.params))
            if names:
                key = tuple(t.params[n] for n in names)
                self._tables.setdefault(names, {}).setdefault(key, t)

    def repeated(self, params: dict[str, Any]) -> FrozenTrial | None:
        """The finished trial that ``params`` repeats, or ``None``."""
        for names, table in self._tables.items():
            if all(n in params for n in names):
                found = table.get(tuple(params[n] for n in names))
                if found is not None:
                    return found
        return None


def source_led(trial: FrozenTrial) -> bool:
    """Whether the sources chose ``trial``: a startup trial taken from a past
    configuration, or a proposal (or one of its groups) drawn among the sources'
    candidates."""
    reason = trial.system_attrs.get(REASON_KEY)
    if not isinstance(reason, dict):
        return False
    parts = [reason, *(g for g in reason.get("groups", ()) if isinstance(g, dict))]
    return any(part.get("source") in ("prior-startup", "prior") for part in parts)


def sources_beaten(trials: Sequence[FrozenTrial], direction: StudyDirection) -> str | None:
    """Why a conditional study stops using its source studies, or ``None`` while it
    need not: a complete trial the sources did not choose has a better value than every
    complete trial they chose (see :func:`source_led`).

    This is the study-wide form of the probe of a study without groups (the trial right
    after a single source's best configuration, which takes the source's weight when
    it does better). A conditional study weighs its sources per group of parameters,
    and a branch that few trials hold cannot tell a misleading source from a good one;
    the values of whole trials can. Honest sources lead to the best trials, so this
    keeps them; sources that rank configurations backwards lead to bad ones, and the
    first trial chosen without them shows it.

    Example:
        >>> import optuna
        >>> from optuna.distributions import FloatDistribution
        >>> from optuna.trial import create_trial
        >>> def t(value, source):
        ...     return create_trial(
        ...         params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
        ...         value=value, system_attrs={REASON_KEY: {"source": source}},
        ...     )
        >>> minimize = optuna.study.StudyDirection.MINIMIZE
        >>> sources_beaten([t(3.0, "prior-startup"), t(5.0, "sobol")], minimize) is None
        True
        >>> sources_beaten([t(3.0, "prior-startup"), t(1.0, "sobol")], minimize)
        'a trial the source studies did not choose (1) beat every trial they chose (3)'

        With constraints, a feasible trial beats every infeasible one:

        >>> infeasible = t(0.5, "prior")
        >>> infeasible.system_attrs["constraints"] = [0.2]
        >>> print(sources_beaten([infeasible, t(1.0, "sobol")], minimize))
        a trial the source studies did not choose (1) beat every trial they chose (0.5, infeasible)
    """
    sign = -1.0 if direction == StudyDirection.MINIMIZE else 1.0
    # (feasible, value): with constraints a feasible trial beats every infeasible one.
    led: list[tuple[bool, float]] = []
    other: list[tuple[bool, float]] = []
    for t in trials:
        if t.state != TrialState.COMPLETE or t.value is None or not math.isfinite(t.value):
            continue
        con = constraint_values(t.system_attrs)
        feasible = con is None or all(c <= 0 for c in con)
        (led if source_led(t) else other).append((feasible, t.value))
    if not led or not other:
        return None
    best_led = max(led, key=lambda f_v: (f_v[0], sign * f_v[1]))
    best_other = max(other, key=lambda f_v: (f_v[0], sign * f_v[1]))
    if (best_other[0], sign * best_other[1]) <= (best_led[0], sign * best_led[1]):
        return None
    return (
        f"a trial the source studies did not choose ({_described(best_other)}) beat every "
        f"trial they chose ({_described(best_led)})"
    )


def _described(feasible_value: tuple[bool, float]) -> str:
    feasible, value = feasible_value
    return f"{value:.6g}" if feasible else f"{value:.6g}, infeasible"


def read_evidence(
    study: Study,
    trial: FrozenTrial,
    encoder: SearchSpaceEncoder,
    cache: EvidenceCache | None = None,
    trials: Sequence[FrozenTrial] | None = None,
) -> Evidence:
    """Read the evidence for proposing ``trial`` from ``study``'s storage.

    Trials that ``encoder`` does not admit (a parameter missing, or a value outside the
    current search space) are left out, evaluated and running alike.

    Args:
        study: The study, read once (without deep copies).
        trial: The trial being proposed; never its own evidence.
        encoder: Encoder of the current (relative) search space.
        cache: What earlier proposals read from the finished trials (a fresh one when
            omitted); the result is the same with or without it.
        trials: The study's COMPLETE, PRUNED and RUNNING trials when the caller has
            just read them (one read serves the groups of a conditional space); read
            from the storage when omitted.

    Returns:
        The usable trials' cube points, values and violations, the pending points, and
        how many running trials are not among them.
    """
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=EVIDENCE_STATES)
    signs = np.array([-1.0 if d == StudyDirection.MINIMIZE else 1.0 for d in study.directions])
    own, run = trial.number, TrialState.RUNNING
    finished = [t for t in trials if t.state != run and t.number != own]
    running = [t for t in trials if t.state == run and t.number != own]
    cache = cache if cache is not None else EvidenceCache()
    points, ok, values, pruned, violations = cache.read(study, finished, len(signs), encoder)
    pending, ok_pending = encoder.encode_many([t.params for t in running])
    value_array = signs * values
    value_array[pruned] = -math.inf
    if not ok.all():
        points, value_array, violations = points[ok], value_array[ok], violations[ok]
    return Evidence(points, value_array, violations, pending[ok_pending], count_unplaced(running))


def count_unplaced(running: Sequence[FrozenTrial], now: datetime.datetime | None = None) -> int:
    """How many of the ``running`` trials another worker is most likely proposing now:
    those without any parameter that started less than :data:`UNPLACED_WITHIN_S` before
    ``now`` (the local clock when omitted, as Optuna stamps ``datetime_start``).

    Example:
        >>> import datetime
        >>> from optuna.trial import TrialState, create_trial
        >>> now = datetime.datetime(2026, 1, 1, 12, 0, 0)
        >>> def running(seconds_ago, params=None):
        ...     t = create_trial(state=TrialState.RUNNING, params=params or {},
        ...                      distributions={k: FloatDistribution(0, 1) for k in params or {}})
        ...     t.datetime_start = now - datetime.timedelta(seconds=seconds_ago)
        ...     return t
        >>> from optuna.distributions import FloatDistribution
        >>> count_unplaced([running(1), running(30), running(3600), running(1, {"x": 0.5})], now)
        2
    """
    now = datetime.datetime.now() if now is None else now
    window = datetime.timedelta(seconds=UNPLACED_WITHIN_S)
    return sum(
        1
        for t in running
        if not t.params and (t.datetime_start is None or now - t.datetime_start < window)
    )


def scalarise(
    values: np.ndarray, violations: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    """One score per trial, higher is better, and what the trial's reasons record about it.

    The first :data:`~.hypervolume.HYPERVOLUME_TRIALS` trials of a study with two
    objectives score their hypervolume utility (:func:`~.hypervolume.hypervolume_scores`:
    0 on the Pareto front of the feasible trials, minus the distance behind it; reason
    ``"scalarisation": {"method": "hypervolume-improvement"}``, no weights), once a
    trial is feasible. Otherwise several objectives are scalarised with the augmented Chebyshev
    function of weights drawn from ``rng``, each objective scaled by the Pareto front of
    the feasible trials
    (reason ``"scalarisation"``, with the weight ``"rho"`` of the linear term: 0 while
    that front has collapsed onto one end, :func:`~.objectives.front_geometry`);
    when any trial has constraint
    values, infeasible trials pay for their violation
    (:func:`~optuna_rl_sampler.objectives.apply_constraints`; reason ``"constraints"``,
    the counts of feasible and infeasible trials).

    Args:
        values: ``(n, k)`` objective values, higher is better.
        violations: ``(n,)`` total constraint violations, NaN where unknown.
        rng: The trial's stream for the scalarisation weights (drawn only when
            ``k > 1``).

    Returns:
        The ``(n,)`` scores, the reasons' entries (empty for one objective without
        constraints) and the ``(k,)`` scalarisation weights (``None`` for one
        objective, and for the hypervolume utility).
    """
    reason: dict[str, Any] = {}
    w = None
    known = ~np.isnan(violations)
    infeasible = known & (violations > 0)
    early_pair = (
        values.shape[1] == 2
        and len(values) < HYPERVOLUME_TRIALS
        and np.isfinite(values).all(axis=1).any()
        and not infeasible.all()
    )
    if early_pair:
        scores = hypervolume_scores(values, feasible=~infeasible)
        reason["scalarisation"] = {"method": "hypervolume-improvement", "scale": "pareto-front"}
    elif values.shape[1] > 1:
        w = draw_simplex_weights(values.shape[1], rng)
        geometry = front_geometry(values, feasible=~infeasible)
        scores = chebyshev(values, w, feasible=~infeasible, geometry=geometry)
        reason["scalarisation"] = {
            "method": "augmented-chebyshev",
            "scale": "pareto-front",
            "weights": [round(float(x), 4) for x in w],
            "rho": geometry.rho,
        }
    else:
        scores = values[:, 0].copy()
    if known.any():
        scores = apply_constraints(scores, violations)
        reason["constraints"] = {
            "n_feasible": int((known & ~infeasible).sum()),
            "n_infeasible": int(infeasible.sum()),
        }
    return scores, reason, w
