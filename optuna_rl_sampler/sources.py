"""Past studies as the meta-prior reads them: :class:`SourceStudy`.

A source study is what transfer needs of a finished Optuna study and nothing more: the
distribution of each parameter, the parameters and value of every usable trial, and a
few descriptive attributes (dataset, model, metric). Values are stored *higher is
better* whatever the original direction, so sources of minimised and maximised studies
mix freely.

Sources come from three places, all converging here:

* a live :class:`optuna.study.Study` on any storage (:meth:`SourceStudy.from_study`);
* a corpus table of many studies (:mod:`optuna_rl_sampler.corpus`, which needs pandas);
* the corpus shipped inside the package (:func:`load_builtin_sources`), a gzipped JSON
  file read with the standard library, so the sampler needs no extra dependency.

Which shipped studies ``RLSampler(source_studies="auto")`` uses is decided from what a
study records about itself, never from its parameter names: a recommender objective
(:class:`optuna_rl_sampler.recsys.objective.RecsysObjective`) writes the study user
attribute :data:`RECSYS_RECORD_KEY`, and :func:`select_auto_sources` reads it.

This module never imports pandas or torch.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "BUILTIN_FAMILIES",
    "BUILTIN_SOURCES",
    "RECSYS_RECORD_KEY",
    "SourceStudy",
    "builtin_families",
    "builtin_sources_path",
    "describe_source_studies",
    "load_builtin_sources",
    "load_sources_json",
    "read_source_studies",
    "save_sources_json",
    "select_auto_sources",
]

#: File name (inside the package's ``weights/`` folder) of the shipped source bank: the
#: one place that names it.
BUILTIN_SOURCES = "recsys-corpus-v2.sources.json.gz"
#: The model families of the shipped source bank (its studies' ``attrs["model"]``), so
#: that naming them does not read the bank (a test checks them against it).
BUILTIN_FAMILIES: tuple[str, ...] = ("lightgbm-ranker", "two-tower")

#: Study user attribute in which a recommender objective records what the study tunes,
#: a dict with the keys
#:
#: * ``"model"``: the model family (e.g. ``"lightgbm-ranker"``);
#: * ``"metric"``: the metric it scores (e.g. ``"ndcg@10"``) and ``"direction"``, the
#:   study direction that metric needs (``"maximize"``);
#: * ``"dataset"``: the dataset's name, and ``"dataset_fingerprint"``, the name and a hash
#:   of its counts (``"mind_sample:3f9a0c1b2d4e"``), which tells apart datasets that share
#:   a name;
#: * ``"objectives"`` and ``"directions"``: only in a multi-objective study.
#:
#: ``RLSampler(source_studies="auto")`` transfers from the shipped studies of the family
#: this record names, and from nothing in a study without one.
RECSYS_RECORD_KEY = "rl:recsys"


@dataclass(frozen=True)
class SourceStudy:
    """The evidence of one past study, ready for the meta-prior.

    Attributes:
        name: Identifier shown in each trial's reasons (e.g. ``"lightgbm-ranker/mind"``).
        distributions: Parameter name -> distribution (the latest one seen per name).
        params: One configuration per usable trial (parameter name -> external value).
        values: ``(n,)`` trial values, *higher is better* (minimised studies are negated).
        attrs: Descriptive attributes, e.g. ``{"dataset": ..., "model": ..., "metric": ...}``.

    Examples:
        A finished study becomes a source; a new study transfers from it:

        >>> import optuna
        >>> from optuna_rl_sampler import RLSampler, SourceStudy
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> past = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> past.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=10)
        >>> source = SourceStudy.from_study(past, name="past")
        >>> len(source), bool((source.values <= 0).all())  # minimised: values negated
        (10, True)
        >>> study = optuna.create_study(sampler=RLSampler(seed=0, source_studies=[source]))
        >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1.5) ** 2, n_trials=5)
        >>> reason = study.trials[-1].system_attrs["rl_sampler:reason"]
        >>> reason["weights"], list(reason["prior"]["top_sources"])
        ('transfer-v2', ['past'])
    """

    name: str
    distributions: Mapping[str, BaseDistribution]
    params: tuple[Mapping[str, Any], ...]
    values: np.ndarray
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 1 or len(values) != len(self.params):
            raise ValueError(
                f"Source study {self.name!r}: {len(self.params)} configurations but values "
                f"of shape {values.shape}; pass one value per configuration."
            )
        if not np.isfinite(values).all():
            raise ValueError(
                f"Source study {self.name!r} has non-finite values; keep only trials with "
                "a finite value (SourceStudy.from_trials does this)."
            )
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.params)

    @classmethod
    def from_trials(
        cls,
        trials: Iterable[FrozenTrial],
        *,
        direction: StudyDirection | str,
        name: str,
        attrs: Mapping[str, Any] | None = None,
        objective: int | None = None,
    ) -> SourceStudy:
        """Build a source from trials: COMPLETE ones with one finite value are kept.

        Args:
            trials: Trials of one single-objective study, or of a multi-objective one
                with ``objective``.
            direction: The direction of the values used (``"minimize"`` values are
                negated).
            name: Identifier for reasons and reports.
            attrs: Descriptive attributes.
            objective: Index of the value to use in each trial's ``values`` (a
                multi-objective study); ``None`` keeps trials with exactly one value.
                Defaults to ``None``.
        """
        if isinstance(direction, str):
            try:
                direction = StudyDirection[direction.upper()]
            except KeyError:
                raise ValueError(
                    f"direction must be 'minimize' or 'maximize', got {direction!r}."
                ) from None
        sign = -1.0 if direction == StudyDirection.MINIMIZE else 1.0
        dists: dict[str, BaseDistribution] = {}
        params: list[dict[str, Any]] = []
        values: list[float] = []
        for t in sorted(trials, key=lambda t: t.number):
            if t.state != TrialState.COMPLETE or t.values is None:
                continue
            if objective is None and len(t.values) != 1:
                continue
            if objective is not None and not 0 <= objective < len(t.values):
                continue
            value = float(t.values[0 if objective is None else objective])
            if not math.isfinite(value) or not t.params:
                continue
            dists.update(t.distributions)
            params.append(dict(t.params))
            values.append(sign * value)
        return cls(name, dists, tuple(params), np.array(values, dtype=float), dict(attrs or {}))

    @classmethod
    def from_study(
        cls, study: Study, *, name: str | None = None, objective: int | None = None
    ) -> SourceStudy:
        """Read a finished single-objective study from its storage, or one objective of a
        multi-objective study (``objective``: its index in ``study.directions``).

        The study's user attributes ``dataset``, ``model`` and ``metric`` (when set)
        become :attr:`attrs`; a recommender study's record (:data:`RECSYS_RECORD_KEY`)
        supplies those it lacks.

        Raises:
            ValueError: the study has several objectives and ``objective`` is ``None``
                (the message lists them and says what to pass), or ``objective`` is out
                of range.
        """
        n = len(study.directions)
        if (n != 1) if objective is None else not 0 <= objective < n:
            names = study.metric_names or [f"objective {k}" for k in range(n)]
            goals = ", ".join(
                f"objective={k} for {m!r} ({d.name.lower()})"
                for k, (m, d) in enumerate(zip(names, study.directions, strict=True))
            )
            got = "" if objective is None else f" (got objective={objective})"
            raise ValueError(
                f"Study {study.study_name!r} has {n} objectives{got}; a source study is "
                "single-objective. Pass one objective of it as a source instead: "
                f"SourceStudy.from_study(study, objective=k) with {goals}."
            )
        direction = study.directions[0 if objective is None else objective]
        user = study.user_attrs
        record = user.get(RECSYS_RECORD_KEY)
        record = record if isinstance(record, dict) else {}
        attrs = {
            k: user[k] if k in user else record[k]
            for k in ("dataset", "model", "metric")
            if k in user or k in record
        }
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return cls.from_trials(
            trials,
            direction=direction,
            name=name or study.study_name,
            attrs=attrs,
            objective=objective,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (:meth:`from_json_dict` reads it back)."""
        return {
            "name": self.name,
            "attrs": dict(self.attrs),
            "distributions": {k: distribution_to_json(d) for k, d in self.distributions.items()},
            "params": [dict(p) for p in self.params],
            "values": [float(v) for v in self.values],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> SourceStudy:
        """Inverse of :meth:`to_json_dict`."""
        try:
            dists = {k: json_to_distribution(v) for k, v in data["distributions"].items()}
            return cls(
                str(data["name"]),
                dists,
                tuple(dict(p) for p in data["params"]),
                np.array(data["values"], dtype=float),
                dict(data.get("attrs", {})),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"Not a source-study record (missing or bad {err}).") from None


def save_sources_json(sources: Sequence[SourceStudy], path: str | Path) -> Path:
    """Write sources as (gzipped, if the name ends in ``.gz``) JSON."""
    path = Path(path)
    text = json.dumps([s.to_json_dict() for s in sources], separators=(",", ":"))
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_sources_json(path: str | Path) -> list[SourceStudy]:
    """Read sources written by :func:`save_sources_json`.

    Raises:
        ValueError: the file is not a list of source-study records.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"Cannot read source studies from {str(path)!r}: {err}") from None
    if not isinstance(data, list):
        raise ValueError(f"{str(path)!r} must hold a JSON list of source studies.")
    return [SourceStudy.from_json_dict(d) for d in data]


def builtin_sources_path() -> Path:
    """Path of the source bank shipped in the package (may not exist in a dev tree)."""
    return Path(str(resources.files("optuna_rl_sampler") / "weights" / BUILTIN_SOURCES))


@functools.lru_cache(maxsize=1)
def _builtin_bank() -> tuple[SourceStudy, ...]:
    """The shipped bank, read once per process and only when first asked for (about 7 MB
    of memory that a study without a recommender record never needs)."""
    path = builtin_sources_path()
    return tuple(load_sources_json(path)) if path.is_file() else ()


def load_builtin_sources(family: str | None = None) -> list[SourceStudy]:
    """The shipped corpus of recommender tuning studies, as sources (``[]`` if absent).

    The file is read once per process, the first time it is asked for.

    Args:
        family: Only the studies of this model family (their ``attrs["model"]``, see
            :func:`builtin_families`); ``None`` for all. Defaults to ``None``.

    Examples:
        >>> from optuna_rl_sampler.sources import load_builtin_sources
        >>> sources = load_builtin_sources()
        >>> sorted({s.attrs["model"] for s in sources})
        ['lightgbm-ranker', 'two-tower']
        >>> {s.attrs["model"] for s in load_builtin_sources("two-tower")}
        {'two-tower'}
    """
    sources = _builtin_bank()
    return [s for s in sources if family is None or s.attrs.get("model") == family]


def builtin_families(sources: Sequence[SourceStudy] | None = None) -> list[str]:
    """The model families (``attrs["model"]``) of ``sources``, sorted; by default those of
    the shipped corpus (:data:`BUILTIN_FAMILIES`, without reading it), the names
    ``RLSampler(source_studies=...)`` accepts."""
    if sources is None:
        return sorted(BUILTIN_FAMILIES) if builtin_sources_path().is_file() else []
    return sorted({str(s.attrs["model"]) for s in sources if s.attrs.get("model")})


def select_auto_sources(
    record: Any, directions: Sequence[str], bank: Sequence[SourceStudy] | None = None
) -> tuple[list[SourceStudy], str]:
    """The studies of ``bank`` that ``source_studies="auto"`` transfers from, and why.

    Only a study's own record says what it tunes: the studies of the model family that
    ``record`` (the value of the study user attribute :data:`RECSYS_RECORD_KEY`) names,
    when the study optimises in the direction the record's metric needs. Parameter names
    never decide: a LightGBM classifier with ``num_leaves`` and ``learning_rate`` is not
    a LightGBM ranker.

    Args:
        record: The study's record, or ``None`` when it has none.
        directions: The study's directions (``"minimize"`` / ``"maximize"``).
        bank: The candidate sources; ``None`` (the default) for the shipped corpus,
            read only when a family of it is chosen.

    Returns:
        The chosen sources (empty when none apply) and one sentence saying why.

    Examples:
        >>> from optuna_rl_sampler.sources import load_builtin_sources, select_auto_sources
        >>> bank = load_builtin_sources()
        >>> chosen, why = select_auto_sources(None, ["maximize"], bank)
        >>> chosen
        []
        >>> print(why)
        no recommender record on the study (user attr 'rl:recsys'): auto transfer off;
        pass source_studies=... to opt in (a family of the shipped corpus:
        'lightgbm-ranker', 'two-tower')
        >>> record = {"model": "two-tower", "metric": "ndcg@10", "direction": "maximize"}
        >>> chosen, why = select_auto_sources(record, ["maximize"], bank)
        >>> {s.attrs["model"] for s in chosen}
        {'two-tower'}
        >>> print(why)
        the study records that it tunes 'two-tower' (ndcg@10, maximize): auto transfer
        from the 45 shipped studies of 'two-tower'
    """
    families = builtin_families(bank)
    opt_in = (
        "pass source_studies=... to opt in (a family of the shipped corpus: "
        + ", ".join(repr(f) for f in families)
        + ")"
    )
    if record is None:
        return [], (
            f"no recommender record on the study (user attr {RECSYS_RECORD_KEY!r}): "
            f"auto transfer off; {opt_in}"
        )
    model = record.get("model") if isinstance(record, Mapping) else None
    if not isinstance(model, str) or not model:
        return [], (
            f"the study's record (user attr {RECSYS_RECORD_KEY!r}) names no model family "
            f"(got {record!r}): auto transfer off; {opt_in}"
        )
    if model not in families:
        return [], (
            f"the study records that it tunes {model!r}, of which the shipped corpus has no "
            f"studies: auto transfer off; {opt_in}"
        )
    metric = record.get("metric")
    wanted = record.get("direction")
    if len(directions) == 1 and wanted in ("minimize", "maximize") and directions[0] != wanted:
        return [], (
            f"the study records that it tunes {model!r} for {metric!r}, which needs "
            f"direction={wanted!r}, but the study is created with {directions[0]!r}: auto "
            f"transfer off; create the study with direction={wanted!r}"
        )
    if bank is None:
        chosen = load_builtin_sources(model)
    else:
        chosen = [s for s in bank if s.attrs.get("model") == model]
    return chosen, (
        f"the study records that it tunes {model!r} ({metric}, {wanted}): auto transfer "
        f"from the {len(chosen)} shipped studies of {model!r}"
    )


def read_source_studies(
    spec: Sequence[Study | SourceStudy] | str | None,
) -> tuple[list[SourceStudy], list[str]]:
    """The source studies that ``RLSampler(source_studies=spec)`` transfers from.

    Studies are read once, here. ``"auto"``, which chooses per study from the shipped
    corpus, is not read here (see :func:`select_auto_sources`).

    Args:
        spec: ``None`` or ``"none"`` (no sources), a model family of the shipped corpus
            (its studies, see :func:`builtin_families`), or a list of
            :class:`optuna.study.Study` and :class:`SourceStudy` (a single one is taken
            as a list of one).

    Returns:
        The sources, and the names of the given studies left out because they hold no
        complete trial with a finite value.

    Raises:
        ValueError: ``spec`` is none of the above (an unknown family name, an item that
            is not a study), or a study has several objectives; the message says what
            to pass.
    """
    if spec is None:
        return [], []
    if isinstance(spec, str):
        if spec == "none":
            return [], []
        bank = load_builtin_sources()
        families = builtin_families(bank)
        if spec in families:
            return [s for s in bank if s.attrs.get("model") == spec], []
        raise ValueError(
            f"source_studies must be 'auto', 'none', a model family of the shipped corpus "
            f"({', '.join(repr(f) for f in families)}), None or a list of studies; got "
            f"{spec!r}."
        )
    if isinstance(spec, (SourceStudy, optuna.Study)):
        spec = [spec]
    if not isinstance(spec, Iterable):
        raise ValueError(
            f"source_studies must be 'auto', 'none', None or a list of studies, got {spec!r}."
        )
    out: list[SourceStudy] = []
    for i, item in enumerate(spec):
        if isinstance(item, SourceStudy):
            out.append(item)
        elif isinstance(item, optuna.Study):
            try:
                source = SourceStudy.from_study(item)
            except ValueError as err:  # several objectives: the message says what to pass
                raise ValueError(f"source_studies[{i}]: {err}") from None
            out.append(source)
        else:
            raise ValueError(
                f"source_studies[{i}] is a {type(item).__name__}; pass optuna.Study objects "
                "(e.g. optuna.load_study(...)) or optuna_rl_sampler.SourceStudy records."
            )
    return _usable(out)


def _usable(sources: list[SourceStudy]) -> tuple[list[SourceStudy], list[str]]:
    """``sources`` with at least one trial, and the names of the others."""
    return [s for s in sources if len(s) > 0], [s.name for s in sources if len(s) == 0]


def describe_source_studies(spec: Any, n_sources: int) -> str:
    """Why a study transfers from explicit sources (or from none), for the log line.

    Args:
        spec: The ``source_studies`` argument (not ``"auto"``).
        n_sources: How many usable sources it gave (:func:`read_source_studies`).
    """
    if spec is None or spec == "none":
        return f"source_studies={spec!r}: transfer off"
    if isinstance(spec, str):
        return (
            f"source_studies={spec!r}: transfer from the {n_sources} shipped studies of "
            f"that model family"
        )
    return f"transfer from the {n_sources} studies passed as source_studies"
