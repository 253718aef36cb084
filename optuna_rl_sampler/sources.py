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

This module never imports pandas or torch.
"""

from __future__ import annotations

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
from optuna.distributions import BaseDistribution
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "BUILTIN_SOURCES",
    "SourceStudy",
    "builtin_sources_path",
    "load_builtin_sources",
    "load_sources_json",
    "save_sources_json",
]

#: File name (inside the package's ``weights/`` folder) of the shipped source bank.
BUILTIN_SOURCES = "recsys-corpus-v1.sources.json.gz"


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
    ) -> SourceStudy:
        """Build a source from trials: COMPLETE ones with one finite value are kept.

        Args:
            trials: Trials of one single-objective study.
            direction: The study's direction (``"minimize"`` values are negated).
            name: Identifier for reasons and reports.
            attrs: Descriptive attributes.
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
            if t.state != TrialState.COMPLETE or t.values is None or len(t.values) != 1:
                continue
            value = float(t.values[0])
            if not math.isfinite(value) or not t.params:
                continue
            dists.update(t.distributions)
            params.append(dict(t.params))
            values.append(sign * value)
        return cls(name, dists, tuple(params), np.array(values, dtype=float), dict(attrs or {}))

    @classmethod
    def from_study(cls, study: Study, *, name: str | None = None) -> SourceStudy:
        """Read a finished single-objective study from its storage.

        The study's user attributes ``dataset``, ``model`` and ``metric`` (when set)
        become :attr:`attrs`.

        Raises:
            ValueError: the study has several objectives.
        """
        if len(study.directions) != 1:
            raise ValueError(
                f"Study {study.study_name!r} has {len(study.directions)} objectives; a "
                "source study must be single-objective."
            )
        user = study.user_attrs
        attrs = {k: user[k] for k in ("dataset", "model", "metric") if k in user}
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return cls.from_trials(
            trials, direction=study.direction, name=name or study.study_name, attrs=attrs
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


def load_builtin_sources() -> list[SourceStudy]:
    """The shipped corpus of recommender tuning studies, as sources (``[]`` if absent).

    Examples:
        >>> from optuna_rl_sampler.sources import load_builtin_sources
        >>> sources = load_builtin_sources()
        >>> sorted({s.attrs["model"] for s in sources})
        ['lightgbm-ranker', 'two-tower']
    """
    path = builtin_sources_path()
    return load_sources_json(path) if path.is_file() else []
