"""The reasons RLSampler stores with each trial, and their one-line summaries.

Every trial the sampler touches gets a JSON-able dict under the system attribute
:data:`REASON_KEY`; unless ``dashboard_reasons=False``, a one-line summary goes to the
user attribute :data:`DASHBOARD_KEY` (and the sources with their weights to
:data:`SOURCES_KEY`), which optuna-dashboard shows beside the trial.

The vocabulary of a reason:

- ``"source"``: where the trial's configuration came from. ``"startup"`` (the
  ``independent_sampler`` before ``n_startup_trials``), ``"independent"`` (no
  relative search space), ``"enqueued"`` (fixed by the user), ``"fallback"`` (the
  proposal failed; ``"error"`` and ``"consecutive_fallbacks"`` say why and how often),
  ``"prior-startup"`` (a past configuration for a first trial; ``"from"`` names the
  source study), or the candidate the policy chose: ``"sobol"`` (space-filling),
  ``"local"`` (a move around an incumbent), ``"prior"`` (a source study's
  configuration).
- ``"phase"``: which path decided a proposed trial when it was not the policy's free
  choice: ``"prior-startup"`` (the choice restricted to prior candidates) or
  ``"prior-probe"`` (the space-filling candidate the sources rate lowest, or, when they
  know only part of the space, the one farthest from the trials: ``"probe"`` says
  which, ``"lowest-rated"`` or ``"farthest"``).
- ``"handoff": true`` with ``"distrusted"`` (the cause): the sources were distrusted
  and the generic weights chose; ``"weights"`` always names the weights that chose.
- ``"probability"``, ``"probability_rank"``, ``"n_candidates"``, ``"gp_mean"``,
  ``"gp_std"``, ``"n_observed"``, ``"n_pending"``: the policy's view of its choice;
  ``"entropy"``: how undecided the policy was, the entropy of its probabilities over
  the candidates divided by that of a uniform choice (1: no preference; from
  :data:`NEAR_UNIFORM` on the summary line says so: the choice was then set by how the
  candidates were drawn more than by the policy).
- ``"prior"``: the sources, their weights and the consensus counts
  (:meth:`~optuna_rl_sampler.meta_prior.MetaPrior.describe`); ``"prior_score"``.
- ``"avoided_repeat": true``: the policy's first choice repeated a configuration the
  study has, so it chose again among the candidates that do not; ``"repeat"``:
  ``"evaluated"`` or ``"pending"`` when the choice repeats one anyway (every candidate
  does, as on a small grid whose points are all tried). In a conditional search space
  both are said of the whole trial (``"repeat_of"``: the number of the trial it
  repeats), each group's own of its values; ``"refused_by_optuna"``:
  parameters Optuna did not take (sampled independently); ``"scalarisation"`` and
  ``"constraints"`` for multi-objective and constrained studies; ``"surrogate":
  "per-objective"`` when one GP per objective scored the candidates (a multi-objective
  study without constraints), ``"per-objective+violation"`` when a GP on the constraint
  violation penalised them too (a constrained study with a feasible trial);
  ``"held_by"`` (each group's, in a conditional space): how many trials held the
  group when it was proposed; ``"branch"`` (in the dashboard line of a conditional
  trial only, see :func:`taken_branch`): the group whose reason the line gives, the
  largest one the trial holds; ``"temperature"``: the policy's probabilities were sharpened,
  ``softmax(scores / temperature)`` (one objective without constraints, from the
  fifth trial).
- ``"n_unplaced"``: running trials that held no parameter when the trial was proposed
  and had started within the last minute (other workers proposing at the same moment;
  :func:`~optuna_rl_sampler.evidence.count_unplaced`); ``"spread"``: the chosen
  candidate, one the trials alone determine and other workers may have chosen too, was
  moved by a Gaussian step of that scale (see ``unplaced`` in
  :func:`~optuna_rl_sampler.proposal.propose`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "DASHBOARD_KEY",
    "NEAR_UNIFORM",
    "REASON_KEY",
    "SOURCES_KEY",
    "summarise_reason",
    "summarise_sources",
    "taken_branch",
]

#: Trial system attribute holding the sampler's reasons for a proposal.
REASON_KEY = "rl_sampler:reason"
#: User attribute holding a one-line summary of the reasons (for optuna-dashboard).
DASHBOARD_KEY = "rl:reason"
#: User attribute naming the source studies and their weights (for optuna-dashboard).
SOURCES_KEY = "rl:sources"

#: Entropy (relative to a uniform choice) from which the summary line calls the policy's
#: choice near-uniform.
NEAR_UNIFORM = 0.9

_SOURCE_WORDS = {"sobol": "Sobol point", "local": "local move", "prior": "source config"}
#: What a local move uphill (reason ``"move"``) is, in words.
_MOVE_WORDS = {
    "gradient-step": "gradient step (up the GP mean from an incumbent)",
    "mean-maximum": "GP-mean maximum (climbed from an incumbent)",
    "quadratic-model": "quadratic-model maximiser (fitted to the trials nearest the best)",
}


def summarise_reason(reason: dict[str, Any]) -> str:
    """A short line (about 100 characters) that says why a trial was proposed, from its
    reasons: the value of the user attr ``"rl:reason"``.

    Examples:
        >>> summarise_reason({"source": "startup", "sampler": "RandomSampler"})
        'startup: RandomSampler, before the policy takes over'
        >>> summarise_reason({"source": "local", "probability": 0.31, "probability_rank": 1,
        ...     "n_candidates": 256, "gp_mean": 0.52, "gp_std": 0.11, "weights": "generic-v1"})
        'local move chosen by generic-v1 (p=0.31, rank 1/256; GP 0.52 +- 0.11)'
        >>> summarise_reason({"source": "local", "move": "gradient-step", "probability": 0.2,
        ...     "probability_rank": 2, "n_candidates": 256, "gp_mean": 0.9, "gp_std": 0.05,
        ...     "weights": "generic-v1"})[:50]
        'gradient step (up the GP mean from an incumbent) c'
        >>> summarise_reason({"source": "sobol", "probability": 0.004, "probability_rank": 90,
        ...     "n_candidates": 256, "gp_mean": 0.1, "gp_std": 0.4, "weights": "generic-v1",
        ...     "entropy": 0.97})[-36:]
        '; near-uniform choice (entropy 0.97)'

        A move uphill chosen while three other trials were being proposed, moved a
        little so that no other worker evaluates the same point:

        >>> summarise_reason({"source": "local", "move": "quadratic-model",
        ...     "probability": 0.2, "probability_rank": 1, "n_candidates": 256,
        ...     "gp_mean": 0.9, "gp_std": 0.05, "weights": "generic-v1", "n_unplaced": 3,
        ...     "spread": 0.01}).split("; ")[-1]
        'moved by 0.01 of the range, as 3 other trials were being proposed'

        A conditional search space: the reason of its largest group, which it names.

        >>> line = summarise_reason({"source": "local", "probability": 0.2,
        ...     "probability_rank": 1, "n_candidates": 256, "gp_mean": 0.3, "gp_std": 0.1,
        ...     "weights": "generic-v1", "groups": [{"params": ["model"], "source": "sobol"},
        ...                {"params": ["depth", "lr"], "source": "local"}]})
        >>> print(line.split("; ")[-1])
        2 parameter groups (conditional space), this one ['depth', 'lr']

        With source studies that a trial they did not choose has beaten (a conditional
        space, see :func:`~optuna_rl_sampler.evidence.sources_beaten`):

        >>> summarise_reason({"source": "sobol", "weights": "generic-v1",
        ...     "sources_beaten": "a trial the source studies did not choose (1) beat ..."
        ...     })[:62]
        'sources set aside (a trial they did not choose beat theirs): S'
    """
    source = reason.get("source")
    if source == "startup":
        return f"startup: {reason.get('sampler')}, before the policy takes over"
    if source == "independent":
        return f"independent: {reason.get('sampler')} (no parameter in every trial yet)"
    if source == "enqueued":
        return "enqueued: parameters fixed by enqueue_trial"
    if source == "fallback":
        return (
            f"fallback #{reason.get('consecutive_fallbacks')}: proposal failed, sampled "
            "independently (see rl_sampler:reason)"
        )
    if source == "prior-startup":
        return f"prior-startup: best configuration of source {reason.get('from')!r}"
    if reason.get("phase") == "prior-probe":
        which = (
            "farthest from the trials so far"
            if reason.get("probe") == "farthest"
            else "the sources rate lowest"
        )
        return (
            f"prior-probe: the Sobol point {which}, to test the "
            f"sources (GP {reason.get('gp_mean')} +- {reason.get('gp_std')})"
        )
    what = _SOURCE_WORDS.get(str(source), source)
    what = _MOVE_WORDS.get(str(reason.get("move")), what)
    text = (
        f"{what} chosen by {reason.get('weights')} "
        f"(p={reason.get('probability')}, rank {reason.get('probability_rank')}/"
        f"{reason.get('n_candidates')}; GP {reason.get('gp_mean')} +- {reason.get('gp_std')})"
    )
    entropy = reason.get("entropy")
    if isinstance(entropy, int | float) and entropy >= NEAR_UNIFORM:
        text += f"; near-uniform choice (entropy {entropy})"
    if reason.get("phase") == "prior-startup":
        text = "prior-startup: " + text
    elif reason.get("sources_beaten"):
        text = "sources set aside (a trial they did not choose beat theirs): " + text
    elif reason.get("handoff"):
        why = reason.get("distrusted")
        text = f"sources distrusted ({why}): " + text if why else "sources distrusted: " + text
    scal = reason.get("scalarisation")
    if isinstance(scal, dict) and scal.get("method") == "hypervolume-improvement":
        text += "; objectives scored by hypervolume improvement"
    elif isinstance(scal, dict):
        text += f"; objective weights {scal.get('weights')}"
        if scal.get("rho") == 0:
            text += " (front collapsed onto one end: no linear term)"
    if reason.get("surrogate") == "per-objective":
        text += "; one GP per objective"
    elif reason.get("surrogate") == "per-objective+violation":
        text += "; one GP per objective and one on the constraint violation"
    con = reason.get("constraints")
    if isinstance(con, dict):
        n = con.get("n_feasible", 0) + con.get("n_infeasible", 0)
        text += f"; {con.get('n_feasible')}/{n} feasible"
    if reason.get("spread"):
        text += (
            f"; moved by {reason['spread']} of the range, as {reason.get('n_unplaced')} "
            "other trials were being proposed"
        )
    if reason.get("repeat") == "evaluated":
        text += "; repeats an evaluated configuration"
    elif reason.get("repeat") == "pending":
        text += "; repeats a running trial's configuration"
    groups = reason.get("groups")
    if isinstance(groups, list):
        this = reason.get("branch")
        if this is None:
            done = [g.get("params") or [] for g in groups if g.get("source") != "startup"]
            this = max(done, key=len, default=None)
        text += f"; {len(groups)} parameter groups (conditional space), this one {this}"
    return text


#: Keys of a conditional trial's reason that are said of the whole trial, not of the
#: group whose reason it carries (see :func:`taken_branch`).
_WHOLE_TRIAL_KEYS = (
    "groups",
    "startup_params",
    "refused_by_optuna",
    "sources_beaten",
    "repeat",
    "repeat_of",
    "avoided_repeat",
)


def taken_branch(reason: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reason of a conditional trial re-centred on the branch the trial took.

    A trial of a conditional search space is proposed one parameter group at a time,
    every branch included, before the objective decides which branch it runs; its reason
    is then that of the largest group proposed. Once the trial has its parameters, the
    group that explains it is the largest one whose every parameter the trial holds,
    and among groups as large the deepest, held by the fewest trials (each group's
    ``"held_by"``: a branch's own parameters rather than the choice of branch, which
    every trial holds). When the trial holds no proposed group whole (early in a study
    the groups are still forming, and the branch it took may be sampled independently
    until enough trials hold it), it is the group with the most of the trial's
    parameters, and ``"branch"`` names just those.

    Args:
        reason: The trial's reasons (the system attribute :data:`REASON_KEY`).
        params: The trial's parameters.

    Returns:
        That group's reason with the whole trial's keys kept and ``"branch"`` naming
        the group's parameters the trial holds, or ``None`` when ``reason`` has no
        groups or the trial holds no parameter of any group proposed.

    Example:
        >>> reason = {"source": "local", "weights": "generic-v1", "groups": [
        ...     {"params": ["alpha"], "source": "prior", "held_by": 9},
        ...     {"params": ["depth", "lr"], "source": "local", "held_by": 11},
        ...     {"params": ["model"], "source": "sobol", "held_by": 20}]}
        >>> taken = taken_branch(reason, {"model": "linear", "alpha": 0.1})
        >>> taken["source"], taken["branch"]
        ('prior', ['alpha'])
        >>> taken_branch(reason, {"model": "tree", "depth": 3, "lr": 0.1})["branch"]
        ['depth', 'lr']
    """
    groups = reason.get("groups")
    if not isinstance(groups, list):
        return None
    proposed = [
        g
        for g in groups
        if isinstance(g, dict) and g.get("source") != "startup" and g.get("params")
    ]

    def fit(g: dict[str, Any]) -> tuple[bool, int, int]:
        held = sum(1 for name in g["params"] if name in params)
        return held == len(g["params"]), held, -int(g.get("held_by", 0))

    group = max(proposed, key=fit, default=None)
    if group is None or fit(group)[1] == 0:
        return None
    out = {key: value for key, value in group.items() if key not in ("params", "held_by")}
    # The group's own repeat keys say only that its values were tried before.
    out.pop("repeat", None)
    out.pop("avoided_repeat", None)
    out.update({key: reason[key] for key in _WHOLE_TRIAL_KEYS if key in reason})
    out["branch"] = [name for name in group["params"] if name in params]
    return out


def summarise_sources(reason: dict[str, Any]) -> str | None:
    """The source studies and their weights in a trial's reasons, in one line (the value
    of the user attr ``"rl:sources"``), or ``None`` without sources."""
    prior = reason.get("prior")
    if not isinstance(prior, dict) or not prior.get("n_sources"):
        return None
    top = ", ".join(f"{k} {v}" for k, v in list(prior.get("top_sources", {}).items())[:3])
    return (
        f"{prior['n_sources']} studies, weight {prior.get('source_weight')} "
        f"(own {prior.get('own_weight')}); top: {top}"
    )
