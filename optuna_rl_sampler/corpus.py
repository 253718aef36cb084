"""The corpus of past studies: read, store, summarise and collect Optuna studies.

The meta-prior and meta-training learn from *past studies*. This module turns studies
from any Optuna storage into one normalised table, stores it as a compact Parquet file,
converts it to :class:`~optuna_rl_sampler.sources.SourceStudy` objects, and runs the
space-filling sweeps that produce the project's own corpus.

The table is in long format: **one row per (trial, parameter)**; a trial that has no
parameter (e.g. one that failed before its first suggestion) keeps one row whose
``param`` is null. Its columns (:data:`COLUMNS`):

``study``
    The study name (the study id of the corpus).
``direction``
    ``"maximize"`` or ``"minimize"``; comma-separated for multi-objective studies.
``dataset``, ``model``, ``metric``
    The study's user attributes of these names as strings, null when absent.
``study_attrs``
    All of the study's user attributes as a JSON object.
``trial``, ``state``, ``value``
    Trial number, state name (``"COMPLETE"``, ``"FAIL"``, ...), and the objective value
    (float, null when the trial has none or the study has several objectives).
``values``
    The JSON list of objective values (null when the trial has none).
``duration_s``
    Wall time of the trial in seconds (null while unknown).
``trial_attrs``
    The trial's user attributes as a JSON object (e.g. the extra metrics).
``param``, ``param_value``, ``distribution``
    Parameter name, its external value as JSON (so ``None``, ``True``, ``1`` and ``1.0``
    round-trip exactly), and its distribution as
    :func:`optuna.distributions.distribution_to_json`.

Examples:
    Read a study (or every study of a storage, e.g. ``"sqlite:///corpus.db"``), store
    the table as Parquet and turn it into sources for :class:`~optuna_rl_sampler.RLSampler`:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import optuna
    >>> from optuna_rl_sampler import corpus
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(
    ...     study_name="demo", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    ... )
    >>> study.set_user_attr("model", "demo-model")
    >>> study.optimize(lambda t: -t.suggest_float("x", 0, 1) ** 2, n_trials=8)
    >>> table = corpus.read_studies(study)
    >>> len(table), table["param"].unique().tolist()
    (8, ['x'])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = corpus.write_parquet(table, Path(tmp) / "corpus.parquet")
    ...     sources = corpus.to_sources(corpus.read_parquet(path))
    >>> [(s.name, len(s), s.attrs) for s in sources]
    [('demo', 8, {'model': 'demo-model'})]
    >>> corpus.stats(table)[0]["n_trials"]
    {'COMPLETE': 8, 'total': 8}

:func:`collect` runs one sweep (a Sobol or random design over a model family's search
space on one dataset) into a study, resumably and with several worker processes on one
storage; ``optuna-rl corpus collect|export|stats`` is its command line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rl_sampler.sources import SourceStudy

if TYPE_CHECKING:
    import pandas as pd

    from optuna_rl_sampler.recsys.data import Interactions
    from optuna_rl_sampler.recsys.objective import RecsysObjective

__all__ = [
    "COLUMNS",
    "SAMPLERS",
    "collect",
    "load_data",
    "load_table",
    "open_storage",
    "read_parquet",
    "read_studies",
    "stats",
    "subsample_users",
    "to_sources",
    "write_parquet",
]

# Under Optuna's logger tree, so optuna.logging.set_verbosity governs it too.
_logger = logging.getLogger(f"optuna.{__name__}")

#: Columns of a corpus table, in order.
COLUMNS: tuple[str, ...] = (
    "study",
    "direction",
    "dataset",
    "model",
    "metric",
    "study_attrs",
    "trial",
    "state",
    "value",
    "values",
    "duration_s",
    "trial_attrs",
    "param",
    "param_value",
    "distribution",
)
_STRING_COLUMNS = tuple(c for c in COLUMNS if c not in ("trial", "value", "duration_s"))
_FLOAT_COLUMNS = ("value", "duration_s")
#: Key and value of the Parquet metadata entry that marks a corpus file.
_FORMAT_KEY = b"optuna_rl_sampler.corpus"
_FORMAT_VERSION = b"1"

#: ``sampler`` names :func:`collect` accepts: a space-filling design (``"sobol"``) and the
#: optimisers a team's past studies were run with (``"random"``, ``"tpe"``, ``"gp"`` and
#: ``"rl-generic"``, RLSampler with no sources).
SAMPLERS = ("sobol", "random", "tpe", "gp", "rl-generic")

_JOURNAL_SUFFIXES = (".log", ".jsonl")


# --- reading studies ---------------------------------------------------------------------


def open_storage(storage: str | optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """Open an Optuna storage for reading or writing.

    Args:
        storage: An RDB URL (``sqlite:///corpus.db``, ``postgresql://...``), a journal
            file (a path ending in ``.log`` or ``.jsonl``, or ``journal:PATH``), or a
            storage object (returned as is).

    Returns:
        The storage.

    Raises:
        ValueError: The URL cannot be opened (the message names it and the cause).
    """
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str) or not storage:
        raise ValueError(
            f"storage must be an RDB URL, a journal file or a storage object, got {storage!r}."
        )
    journal = storage.startswith("journal:") or storage.endswith(_JOURNAL_SUFFIXES)
    if journal and "://" not in storage:
        path = storage.removeprefix("journal:")
        if not path:
            raise ValueError("storage 'journal:' names no file; pass journal:PATH.")
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(path))
        except Exception as exc:  # noqa: BLE001 - file systems raise many kinds
            raise ValueError(f"cannot open journal storage {path!r}: {exc}") from None
    if "://" not in storage:
        raise ValueError(
            f"storage {storage!r} is neither an RDB URL (sqlite:///FILE.db, "
            "postgresql://...) nor a journal file (FILE.log, FILE.jsonl or journal:FILE)."
        )
    try:
        return optuna.storages.get_storage(storage)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds
        message = " ".join(str(exc).split())
        raise ValueError(f"cannot open storage {storage!r}: {message}") from None


def _existing_storage(storage: str) -> optuna.storages.BaseStorage:
    """:func:`open_storage`, refusing to create an SQLite or journal file that is absent."""
    path: str | None = None
    if storage.startswith("sqlite:///"):
        path = storage.removeprefix("sqlite:///").split("?")[0]
        path = None if path in ("", ":memory:") else path
    elif "://" not in storage and (
        storage.startswith("journal:") or storage.endswith(_JOURNAL_SUFFIXES)
    ):
        path = storage.removeprefix("journal:")
    if path is not None and not Path(path).is_file():
        raise ValueError(f"storage {storage!r}: file {path!r} does not exist.")
    return open_storage(storage)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default, allow_nan=True)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _attr_text(attrs: Mapping[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else _json(value)


@dataclass
class _StudyRecord:
    name: str
    directions: list[optuna.study.StudyDirection]
    user_attrs: dict[str, Any]
    trials: list[FrozenTrial] = field(default_factory=list)


def _records_from_storage(storage: optuna.storages.BaseStorage) -> list[_StudyRecord]:
    records = []
    for frozen in storage.get_all_studies():
        trials = storage.get_all_trials(frozen._study_id, deepcopy=False)
        records.append(
            _StudyRecord(
                frozen.study_name, list(frozen.directions), dict(frozen.user_attrs), trials
            )
        )
    return records


def _record_from_study(study: optuna.Study) -> _StudyRecord:
    return _StudyRecord(
        study.study_name,
        list(study.directions),
        dict(study.user_attrs),
        study.get_trials(deepcopy=False),
    )


def _rows(record: _StudyRecord) -> list[dict[str, Any]]:
    direction = ",".join(d.name.lower() for d in record.directions)
    single = len(record.directions) == 1
    study_cols = {
        "study": record.name,
        "direction": direction,
        "dataset": _attr_text(record.user_attrs, "dataset"),
        "model": _attr_text(record.user_attrs, "model"),
        "metric": _attr_text(record.user_attrs, "metric"),
        "study_attrs": _json(record.user_attrs),
    }
    rows = []
    for t in sorted(record.trials, key=lambda t: t.number):
        values = None if t.values is None else [float(v) for v in t.values]
        duration = t.duration.total_seconds() if t.duration is not None else None
        trial_cols = {
            "trial": int(t.number),
            "state": t.state.name,
            "value": values[0] if single and values is not None else None,
            "values": None if values is None else _json(values),
            "duration_s": duration,
            "trial_attrs": _json(t.user_attrs),
        }
        params = sorted(t.params)
        if not params:
            no_param = {"param": None, "param_value": None, "distribution": None}
            rows.append({**study_cols, **trial_cols, **no_param})
        for name in params:
            rows.append(
                {
                    **study_cols,
                    **trial_cols,
                    "param": name,
                    "param_value": _json(t.params[name]),
                    "distribution": distribution_to_json(t.distributions[name]),
                }
            )
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return _normalise_dtypes(table)


def _normalise_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    table = table.astype({c: object for c in _STRING_COLUMNS})
    table = table.astype({"trial": "int64", **{c: "float64" for c in _FLOAT_COLUMNS}})
    for c in _STRING_COLUMNS:
        table[c] = table[c].where(table[c].notna(), None)
    return table.reset_index(drop=True)


def read_studies(
    storage: str | optuna.storages.BaseStorage | optuna.Study | Sequence[optuna.Study],
    study_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read Optuna studies into one corpus table (see the module docstring for columns).

    Args:
        storage: Where the studies are: an RDB URL (``sqlite:///corpus.db``,
            ``postgresql://...``), a journal file (``PATH.log``, ``PATH.jsonl`` or
            ``journal:PATH``), a storage object, one study, or a sequence of studies.
            SQLite and journal files must exist (they are not created).
        study_names: Studies to read, in this order. Defaults to ``None``: every study
            of the storage, in creation order.

    Returns:
        The table, one row per (trial, parameter), rows ordered by study then trial
        number then parameter name.

    Raises:
        ValueError: The storage cannot be opened, or a name in ``study_names`` is not in
            it (the message lists the names it has).
    """
    if isinstance(storage, optuna.Study):
        records = [_record_from_study(storage)]
    elif isinstance(storage, Sequence) and not isinstance(storage, str):
        if not all(isinstance(s, optuna.Study) for s in storage):
            raise ValueError("a sequence passed as storage must hold optuna.Study objects only.")
        records = [_record_from_study(s) for s in storage]
    elif isinstance(storage, str):
        records = _records_from_storage(_existing_storage(storage))
    else:
        records = _records_from_storage(open_storage(storage))
    if study_names is not None:
        if isinstance(study_names, str):
            study_names = [study_names]
        by_name = {r.name: r for r in records}
        missing = [n for n in study_names if n not in by_name]
        if missing:
            raise ValueError(
                f"no study named {', '.join(map(repr, missing))} in {_describe(storage)}; "
                f"it has: {', '.join(map(repr, by_name)) or 'no studies'}."
            )
        records = [by_name[n] for n in study_names]
    rows = [row for record in records for row in _rows(record)]
    return _frame(rows)


def _describe(storage: Any) -> str:
    if isinstance(storage, str):
        return f"storage {storage!r}"
    return "the given studies" if not isinstance(storage, optuna.Study) else "the study"


# --- Parquet -----------------------------------------------------------------------------


def _check_columns(columns: Sequence[str], where: str) -> None:
    for c in COLUMNS:
        if c not in columns:
            raise ValueError(
                f"{where} is not a corpus table: missing column {c!r} (a corpus table has "
                f"columns {', '.join(COLUMNS)}; write it with optuna_rl_sampler.corpus)."
            )


def write_parquet(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a corpus table as a compact Parquet file (zstd, dictionary-encoded strings).

    Args:
        table: A table from :func:`read_studies` or :func:`read_parquet`.
        path: The file to write (parent folders are created).

    Returns:
        The path written.

    Raises:
        ValueError: ``table`` lacks a corpus column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_columns(list(table.columns), "the table")
    table = _normalise_dtypes(table[list(COLUMNS)].copy())
    schema = pa.schema(
        [
            pa.field(c, pa.int64() if c == "trial" else pa.float64())
            if c in ("trial", *_FLOAT_COLUMNS)
            else pa.field(c, pa.string())
            for c in COLUMNS
        ],
        metadata={_FORMAT_KEY: _FORMAT_VERSION},
    )
    arrow = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    arrow = arrow.replace_schema_metadata({_FORMAT_KEY: _FORMAT_VERSION})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        arrow,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=list(_STRING_COLUMNS),
    )
    return path


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a corpus table written by :func:`write_parquet`, checking its schema.

    Args:
        path: The Parquet file.

    Returns:
        The table, with the dtypes :func:`read_studies` gives.

    Raises:
        ValueError: The file is missing, is not Parquet, or lacks a corpus column (the
            message names the file and the column).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"corpus file {str(path)!r} does not exist.")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a Parquet file: {exc}") from None
    _check_columns(schema.names, f"{str(path)!r}")
    try:
        table = pq.read_table(path, columns=list(COLUMNS)).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"cannot read corpus file {str(path)!r}: {exc}") from None
    try:
        return _normalise_dtypes(table)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} has a corpus column of the wrong type: {exc}") from None


def load_table(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """A corpus table from wherever it is.

    Args:
        source: A table (returned as is), a ``.parquet`` file (:func:`read_parquet`) or
            a storage URL or journal file (:func:`read_studies`, every study).

    Returns:
        The table.

    Raises:
        ValueError: The file or storage cannot be read as a corpus.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    text = str(source)
    if text.endswith(".parquet"):
        return read_parquet(text)
    return read_studies(text)


# --- sources and stats -------------------------------------------------------------------


def _trials_of(group: pd.DataFrame) -> list[FrozenTrial]:
    """The study's trials rebuilt as FrozenTrials (params, distributions, value, state)."""
    trials = []
    for number, rows in group.groupby("trial", sort=True):
        first = rows.iloc[0]
        params: dict[str, Any] = {}
        dists = {}
        for name, value, dist in zip(
            rows["param"], rows["param_value"], rows["distribution"], strict=True
        ):
            if name is None:
                continue
            params[name] = json.loads(value)
            dists[name] = json_to_distribution(dist)
        values = None if first["values"] is None else json.loads(first["values"])
        trials.append(
            FrozenTrial(
                number=int(number),
                state=TrialState[first["state"]],
                value=None,
                values=values,
                datetime_start=None,
                datetime_complete=None,
                params=params,
                distributions=dists,
                user_attrs={},
                system_attrs={},
                intermediate_values={},
                trial_id=int(number),
            )
        )
    return trials


def _studies(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per study, in order of first appearance."""
    order = list(dict.fromkeys(table["study"]))
    groups = dict(tuple(table.groupby("study", sort=False)))
    return [(name, groups[name]) for name in order]


def to_sources(table: pd.DataFrame) -> list[SourceStudy]:
    """Turn a corpus table into source studies for the meta-prior.

    The rules are :meth:`SourceStudy.from_trials`'s: only COMPLETE trials with one finite
    value are kept, and values of minimised studies are negated. Multi-objective studies
    are skipped with a logged warning that names them.

    Args:
        table: A corpus table.

    Returns:
        One :class:`~optuna_rl_sampler.sources.SourceStudy` per single-objective study,
        named by the study name, with the study's ``dataset``, ``model`` and ``metric``
        user attributes (those it has) as ``attrs``.

    Raises:
        ValueError: ``table`` lacks a corpus column.
    """
    _check_columns(list(table.columns), "the table")
    sources = []
    skipped = []
    for name, rows in _studies(table):
        direction = rows["direction"].iloc[0]
        if "," in direction:
            skipped.append(name)
            continue
        user = json.loads(rows["study_attrs"].iloc[0])
        attrs = {k: user[k] for k in ("dataset", "model", "metric") if k in user}
        sources.append(
            SourceStudy.from_trials(_trials_of(rows), direction=direction, name=name, attrs=attrs)
        )
    if skipped:
        _logger.warning(
            "Skipped %d multi-objective stud%s (a source study must be single-objective): %s",
            len(skipped),
            "y" if len(skipped) == 1 else "ies",
            ", ".join(map(repr, skipped)),
        )
    return sources


def stats(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Summarise each study of a corpus table.

    Args:
        table: A corpus table.

    Returns:
        One dict per study, in table order: ``study``, ``dataset``, ``model``,
        ``metric``, ``direction``, ``n_trials`` (``{state name: count}``, plus
        ``"total"``), ``n_params`` (distinct parameter names), ``best_value`` (the best
        finite value of a COMPLETE trial by the study's direction, ``None`` if there is
        none or the study is multi-objective) and ``duration_s`` (summed trial time).

    Raises:
        ValueError: ``table`` lacks a corpus column.
    """
    _check_columns(list(table.columns), "the table")
    out = []
    for name, rows in _studies(table):
        per_trial = rows.drop_duplicates("trial")
        counts = per_trial["state"].value_counts()
        n_trials = {state: int(counts[state]) for state in sorted(counts.index)}
        n_trials["total"] = int(len(per_trial))
        direction = rows["direction"].iloc[0]
        best = None
        if "," not in direction:
            done = per_trial[(per_trial["state"] == "COMPLETE") & per_trial["value"].notna()]
            finite = [v for v in done["value"] if math.isfinite(v)]
            if finite:
                best = max(finite) if direction == "maximize" else min(finite)
        first = rows.iloc[0]
        out.append(
            {
                "study": name,
                "dataset": first["dataset"],
                "model": first["model"],
                "metric": first["metric"],
                "direction": direction,
                "n_trials": n_trials,
                "n_params": int(rows["param"].dropna().nunique()),
                "best_value": best,
                "duration_s": round(float(per_trial["duration_s"].fillna(0.0).sum()), 3),
            }
        )
    return out


def _config_key(rows: pd.DataFrame) -> str:
    pairs = zip(rows["param"], rows["param_value"], strict=True)
    return "|".join(f"{p}={v}" for p, v in pairs)


def shared_configurations(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """How much of each model family's corpus repeats another study's configurations.

    A corpus made of one shared design (every study evaluating the same points) rewards
    any sampler that replays past configurations; real past studies share almost none.
    A trial *shares* its configuration when another study of the same model family has
    a trial with exactly the same parameter values.

    Args:
        table: A corpus table.

    Returns:
        ``{model: {"trials": n, "shared": k, "share": k / n}}`` over COMPLETE trials.
    """
    _check_columns(list(table.columns), "the table")
    done = table[table["state"] == "COMPLETE"]
    configs = (
        done.sort_values("param")
        .groupby(["model", "study", "trial"], sort=False)
        .apply(_config_key)
        .rename("config")
        .reset_index()
    )
    out: dict[str, dict[str, Any]] = {}
    for model, rows in configs.groupby("model"):
        studies_per_config = rows.groupby("config")["study"].nunique()
        shared = rows["config"].map(studies_per_config) > 1
        n = int(len(rows))
        k = int(shared.sum())
        out[str(model)] = {"trials": n, "shared": k, "share": k / n if n else 0.0}
    return out


# --- data for collect --------------------------------------------------------------------


def _parse_knob(text: str, spec: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(
            f"data {spec!r}: knob {text!r} is not KEY=VALUE "
            "(e.g. synthetic:ecommerce:popularity_skew=1.5,n_users=500)."
        )
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    if lowered in ("none", "null"):
        return key, None
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


def _parse_synthetic(spec: str) -> tuple[str, dict[str, Any]]:
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[1]:
        raise ValueError(
            f"data {spec!r}: name a domain, e.g. synthetic:news, synthetic:ecommerce or "
            "synthetic:social[:knob=value,...]."
        )
    domain = parts[1]
    knobs: dict[str, Any] = {}
    if len(parts) == 3 and parts[2].strip():
        for item in parts[2].split(","):
            key, value = _parse_knob(item, spec)
            knobs[key] = value
    return domain, knobs


def load_data(
    data: str | os.PathLike[str],
    *,
    format: str | None = None,
    seed: int = 0,
) -> tuple[Interactions, dict[str, Any]]:
    """Load a dataset folder or generate a synthetic one, and describe it.

    Args:
        data: A dataset folder or file, or ``synthetic:DOMAIN[:knob=value,...]`` where
            the knobs go to :func:`~optuna_rl_sampler.recsys.synthetic.make_dataset`
            (``size=small|medium`` picks the preset; ``seed=`` the generator seed).
        format: Format of a dataset folder (see
            :data:`~optuna_rl_sampler.recsys.loaders.FORMATS`). Defaults to ``None``:
            detected from the files.
        seed: Generator seed of synthetic data when the spec sets none. Defaults to 0.

    Returns:
        ``(interactions, description)``; the description holds no file-system path:
        ``{"source": "synthetic" | "files", "spec": ..., "format": ..., ...}``.

    Raises:
        ValueError: The spec, the format or a knob is bad, or the files cannot be read.
    """
    text = str(data)
    if text.startswith("synthetic:"):
        from dataclasses import replace

        from optuna_rl_sampler.recsys.synthetic import make_dataset

        domain, knobs = _parse_synthetic(text)
        size = knobs.pop("size", "small")
        data_seed = knobs.pop("seed", seed)
        try:
            interactions = make_dataset(domain, str(size), seed=int(data_seed), **knobs)
        except TypeError as exc:
            raise ValueError(f"data {text!r}: {exc}") from None
        shown = ",".join(f"{k}={knobs[k]}" for k in sorted(knobs))
        name = f"synthetic:{domain}:size={size},seed={data_seed}" + (f",{shown}" if shown else "")
        interactions = replace(interactions, name=name)
        description = {
            "source": "synthetic",
            "spec": name,
            "domain": domain,
            "size": size,
            "generator_seed": int(data_seed),
            "knobs": knobs,
        }
        return interactions, description
    if format is not None and format.startswith("synthetic"):
        raise ValueError(f"format {format!r} is not a file format; pass data=synthetic:DOMAIN.")
    from optuna_rl_sampler.recsys.loaders import detect_format
    from optuna_rl_sampler.recsys.loaders import load_dataset

    path = Path(text)
    try:
        fmt = format or detect_format(path)
        interactions = load_dataset(path, format=fmt)
    except FileNotFoundError as exc:
        raise ValueError(f"data {text!r}: {exc}") from None
    description = {
        "source": "files",
        "spec": f"{fmt}:{interactions.name}",
        "format": fmt,
        "domain": interactions.domain,
    }
    return interactions, description


def subsample_users(
    data: Interactions,
    max_users: int | None,
    seed: int = 0,
    *,
    max_events_per_user: int | None = None,
) -> Interactions:
    """Keep the events of at most ``max_users`` users drawn at random.

    Kept users and the items of their kept events get contiguous codes in their original
    order (``user_ids``, ``item_ids``, ``user_features``, ``item_features`` and the
    social links among kept users follow), so the catalogue shrinks with the sample.

    Args:
        data: The dataset.
        max_users: Most users to keep (users that appear in the events); ``None`` keeps
            every user.
        seed: Seed of the draw (and of the order of same-time events). Defaults to 0.
        max_events_per_user: Keep only each user's latest this many events (events
            at the same timestamp are ordered at random, seeded). Defaults to ``None``:
            all events.

    Returns:
        ``data`` itself when nothing is dropped, else the subsample with
        ``notes["subsample"]`` describing it.

    Raises:
        ValueError: ``max_users`` or ``max_events_per_user`` is below 1.
    """
    import numpy as np

    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be at least 1, got {max_users!r}.")
    if max_events_per_user is not None and max_events_per_user < 1:
        raise ValueError(f"max_events_per_user must be at least 1, got {max_events_per_user!r}.")
    users = np.unique(data.events["user"].to_numpy())
    rng = np.random.default_rng(seed)
    capped = data.events
    if max_events_per_user is not None:
        ev = data.events
        ties = rng.random(len(ev))
        order = np.lexsort((ties, ev["timestamp"].to_numpy(), ev["user"].to_numpy()))
        sorted_users = ev["user"].to_numpy()[order]
        counts = np.bincount(sorted_users)
        ends = np.cumsum(counts)[sorted_users]
        rank_from_end = ends - np.arange(len(order)) - 1
        keep_rows = np.sort(order[rank_from_end < max_events_per_user])
        capped = ev.iloc[keep_rows]
    if (max_users is None or len(users) <= max_users) and len(capped) == len(data.events):
        return data
    if max_users is None or len(users) <= max_users:
        max_users = len(users)
    keep = np.sort(rng.choice(users, size=max_users, replace=False))
    new_code = np.full(max(data.n_users, int(users.max()) + 1), -1, dtype=np.int64)
    new_code[keep] = np.arange(len(keep))
    events = capped[np.isin(capped["user"].to_numpy(), keep)].copy()
    events["user"] = new_code[events["user"].to_numpy()]
    events = events.reset_index(drop=True)
    social = data.social
    if social is not None:
        src = social["src"].to_numpy()
        dst = social["dst"].to_numpy()
        inside = (src < len(new_code)) & (dst < len(new_code))
        inside[inside] = (new_code[src[inside]] >= 0) & (new_code[dst[inside]] >= 0)
        social = social[inside].copy()
        social["src"] = new_code[social["src"].to_numpy()]
        social["dst"] = new_code[social["dst"].to_numpy()]
        social = social.reset_index(drop=True)
    user_features = data.user_features
    if user_features is not None:
        user_features = user_features.reindex(keep).reset_index(drop=True)
    user_ids = None if data.user_ids is None else [data.user_ids[u] for u in keep]
    items = np.unique(events["item"].to_numpy())
    item_code = np.full(max(data.n_items, int(items.max()) + 1), -1, dtype=np.int64)
    item_code[items] = np.arange(len(items))
    events["item"] = item_code[events["item"].to_numpy()]
    item_features = data.item_features
    if item_features is not None:
        item_features = item_features.reindex(items).reset_index(drop=True)
    item_ids = None if data.item_ids is None else [data.item_ids[i] for i in items]
    notes = {
        **data.notes,
        "subsample": {
            "max_users": int(max_users),
            "max_events_per_user": max_events_per_user,
            "seed": int(seed),
            "users_before": int(len(users)),
            "items_before": int(data.events["item"].nunique()),
            "events_before": int(len(data.events)),
        },
    }
    from dataclasses import replace

    return replace(
        data,
        events=events,
        n_users=len(keep),
        n_items=len(items),
        user_ids=user_ids,
        item_ids=item_ids,
        user_features=user_features,
        item_features=item_features,
        social=social,
        notes=notes,
    )


def history_cut(data: Interactions, fraction: float, seed: int = 0) -> Interactions:
    """The dataset as it was earlier: keep the oldest ``fraction`` of its events.

    A study tuned on this cut is "last month's study" of the full dataset, the most common
    source a team has. Data with a clock (impression or click times) is cut at the
    ``fraction`` quantile of its timestamps, so every user's later events go. Data whose
    timestamps are only positions in each user's sequence keeps each user's earliest
    ``ceil(fraction * n)`` events, and data with no time at all (every timestamp equal) a
    seeded random share of each user's events. Users and items keep their codes, so the
    catalogue is the same as the full dataset's.

    Args:
        data: The dataset.
        fraction: Share of the events to keep, strictly between 0 and 1.
        seed: Seed of the order of same-time events. Defaults to 0.

    Returns:
        The cut dataset, ``notes["history"]`` describing the cut.

    Raises:
        ValueError: ``fraction`` is not strictly between 0 and 1.
    """
    import numpy as np

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}.")
    events = data.events
    ts = events["timestamp"].to_numpy()
    clock = "timestamp" not in data.notes and len(np.unique(ts)) > 1
    if clock:
        cut = np.quantile(ts, fraction, method="lower")
        keep = ts <= cut
        how = "oldest events by timestamp"
    else:
        rng = np.random.default_rng(seed)
        users = events["user"].to_numpy()
        order = np.lexsort((rng.random(len(events)), ts, users))
        counts = np.bincount(users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(events), dtype=np.int64)
        rank[order] = np.arange(len(events)) - starts[users[order]]
        keep = rank < np.ceil(fraction * counts[users])
        how = "each user's earliest events" if len(np.unique(ts)) > 1 else "random per user"
    from dataclasses import replace

    notes = {
        **data.notes,
        "history": {
            "fraction": float(fraction),
            "how": how,
            "events_before": int(len(events)),
            "events_after": int(keep.sum()),
        },
    }
    return replace(data, events=events[keep].reset_index(drop=True), notes=notes)


# --- collect -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to rebuild the objective (picklable for spawn)."""

    model: str
    data: str
    format: str | None
    metric: str
    storage: str
    study_name: str
    trials: int
    sampler: str
    seed: int
    max_users: int | None
    max_events_per_user: int | None
    max_valid_queries: int | None
    model_options: dict[str, Any]
    sampler_seed: int | None = None
    history_fraction: float | None = None

    @property
    def seed_of_sampler(self) -> int:
        return self.seed if self.sampler_seed is None else self.sampler_seed


def _single_thread_env() -> None:
    # LightGBM's OpenMP threads spin while they wait; on a busy machine that makes
    # boosting tens of times slower. Must be set before libgomp is first loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _family(model: str, options: Mapping[str, Any]) -> Any:
    import inspect

    from optuna_rl_sampler.recsys.objective import resolve_model

    family = resolve_model(model)
    cls = type(family)
    accepted = inspect.signature(cls).parameters
    kwargs = dict(options)
    if "num_threads" in accepted:
        kwargs.setdefault("num_threads", 1)
    if model == "lightgbm-ranker":
        # The candidate index and the training lists depend on the data, the seed and
        # the constructor options, never on the trial's parameters; a sweep fits the
        # same split hundreds of times, so they are built once (identical results).
        kwargs.setdefault("cache", True)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {model!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(accepted) or 'none'}."
        )
    return cls(**kwargs) if kwargs else family


def _build(task: _Task) -> tuple[RecsysObjective, dict[str, Any]]:
    from optuna_rl_sampler.recsys.objective import make_objective

    data, description = load_data(task.data, format=task.format, seed=task.seed)
    if task.history_fraction is not None:
        data = history_cut(data, task.history_fraction, seed=task.seed)
        description["history"] = data.notes["history"]
    if task.max_users is not None or task.max_events_per_user is not None:
        data = subsample_users(
            data, task.max_users, seed=task.seed, max_events_per_user=task.max_events_per_user
        )
        if "subsample" in data.notes:
            description["subsample"] = data.notes["subsample"]
    family = _family(task.model, task.model_options)
    try:
        objective = make_objective(
            family,
            data,
            task.metric,
            max_valid_queries=task.max_valid_queries,
            seed=task.seed,
            prune=False,
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    stats = data.stats()
    description.update(
        n_users=stats["n_users"],
        n_items=stats["n_items"],
        n_interactions=stats["n_interactions"],
        split=objective.split.method,
        n_valid_queries=len(objective.valid_queries),
    )
    return objective, description


def _make_sampler(name: str, seed: int, worker: int) -> optuna.samplers.BaseSampler:
    if name == "sobol":
        # Every worker draws from one scrambled sequence; the sample index is kept in the
        # study, so workers (under the ask lock) take consecutive points.
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    import numpy as np

    # Other workers get their own stream, or they would propose the same points.
    if worker:
        seed = int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        # Optuna's default TPE, as most past studies were run; the constant liar keeps
        # parallel workers apart.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=worker > 0)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    from optuna_rl_sampler.sampler import RLSampler

    return RLSampler(seed=seed, source_studies=None)


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _fail_stale(study: optuna.Study) -> int:
    """Mark the RUNNING trials of a killed run as FAIL; returns how many."""
    storage = study._storage
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        storage.set_trial_user_attr(
            t._trial_id, "fail_reason", "stale: left RUNNING by a killed run"
        )
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(stale)


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def collect(
    model: str,
    data: str | os.PathLike[str],
    *,
    storage: str = "sqlite:///corpus.db",
    study_name: str | None = None,
    trials: int = 150,
    sampler: str = "sobol",
    metric: str = "ndcg@10",
    workers: int = 1,
    seed: int = 0,
    format: str | None = None,
    max_users: int | None = None,
    max_events_per_user: int | None = None,
    max_valid_queries: int | None = 500,
    model_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    sampler_seed: int | None = None,
    history_fraction: float | None = None,
) -> optuna.Study:
    """Tune or sweep one model family on one dataset into an Optuna study (resumable).

    Each trial draws a configuration with the family's ``suggest`` from ``sampler`` (a
    scrambled Sobol design, or an optimiser as a past study would have been run with:
    Random, TPE, GP or RLSampler without sources), trains it and stores the validation
    ``metric`` (no pruning, so every trial is a full evaluation). The study is created
    or resumed (``load_if_exists``); RUNNING trials left by a killed run are marked FAIL
    (and counted in the log), and trials are started until the study holds ``trials``
    COMPLETE ones: FAIL and PRUNED trials do not count.

    With ``workers > 1``, that many processes (``spawn``) each load the data and evaluate
    trials on the same storage; a lock shared by the processes makes the count exact.
    Separate ``collect`` calls on one study must not run at the same time (each would
    mark the other's running trials FAIL on start). Every model runs with one thread and
    ``OMP_WAIT_POLICY=PASSIVE``.

    Args:
        model: A registered model name (``"lightgbm-ranker"``, ``"two-tower"``, ...).
        data: A dataset folder or ``synthetic:DOMAIN[:knob=value,...]`` (see
            :func:`load_data`).
        storage: RDB URL or journal file of the study. Defaults to
            ``"sqlite:///corpus.db"``.
        study_name: Name of the study. Defaults to ``None``:
            ``"<model>/<dataset spec>/<sampler>-seed<seed>"``.
        trials: COMPLETE trials the study must end with. Defaults to 150.
        sampler: ``"sobol"`` (scrambled Sobol, :class:`optuna.samplers.QMCSampler`),
            ``"random"``, ``"tpe"`` (Optuna's default :class:`~optuna.samplers.TPESampler`),
            ``"gp"`` (:class:`~optuna.samplers.GPSampler`) or ``"rl-generic"``
            (:class:`~optuna_rl_sampler.RLSampler` with ``source_studies=None``). Defaults
            to ``"sobol"``.
        metric: Validation metric to maximise. Defaults to ``"ndcg@10"``.
        workers: Processes evaluating trials. Defaults to 1 (in this process).
        seed: Seed of the sampler, the user subsample, the validation queries, model
            fitting and (unless the spec sets one) synthetic data. Defaults to 0.
        format: Format of a dataset folder. Defaults to ``None`` (detected).
        max_users: Keep at most this many users, drawn with ``seed``
            (:func:`subsample_users`). Defaults to ``None``: all users.
        max_events_per_user: Keep each user's latest this many events. Defaults to
            ``None``: all events.
        max_valid_queries: Validation queries per trial, drawn with ``seed``. Defaults
            to 500.
        model_options: Keyword arguments of the model family's constructor (e.g.
            ``{"max_train_queries": 1000}``); ``num_threads`` defaults to 1. Defaults to
            ``None``: the family's defaults.
        progress: Show a progress bar of COMPLETE trials. Defaults to ``True``.
        sampler_seed: Seed of the sampler alone, so that several studies of one dataset
            share its data, split and validation queries (``seed``) but not their
            configurations. Defaults to ``None``: ``seed``.
        history_fraction: Keep only the oldest this share of the events before
            splitting (:func:`history_cut`): the dataset as it was before a data refresh.
            Defaults to ``None``: all events.

    Returns:
        The study (loaded from ``storage``).

    Raises:
        ValueError: A bad argument, data spec, storage or model name; the study exists
            with another direction; or a worker process failed.
    """
    import warnings

    _single_thread_env()
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials!r}.")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}.")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be at least 1, got {max_users!r}.")
    if max_events_per_user is not None and max_events_per_user < 1:
        raise ValueError(f"max_events_per_user must be at least 1, got {max_events_per_user!r}.")
    if max_valid_queries is not None and max_valid_queries < 1:
        raise ValueError(f"max_valid_queries must be at least 1, got {max_valid_queries!r}.")
    if history_fraction is not None and not 0.0 < history_fraction < 1.0:
        raise ValueError(
            f"history_fraction must lie strictly between 0 and 1, got {history_fraction!r} "
            "(0.75 keeps the oldest 75% of the events; None keeps them all)."
        )
    from optuna_rl_sampler.recsys.metrics import parse_metric

    parse_metric(metric)
    storage_obj = open_storage(storage)
    if not isinstance(storage, str) and workers > 1:
        raise ValueError("workers > 1 needs storage as a URL or journal path, not an object.")
    task = _Task(
        model=model,
        data=str(data),
        format=format,
        metric=metric,
        storage=storage if isinstance(storage, str) else "",
        study_name="",
        trials=int(trials),
        sampler=sampler,
        seed=int(seed),
        max_users=max_users,
        max_events_per_user=max_events_per_user,
        max_valid_queries=max_valid_queries,
        model_options=dict(model_options or {}),
        sampler_seed=None if sampler_seed is None else int(sampler_seed),
        history_fraction=history_fraction,
    )
    if study_name is not None and _already_done(storage_obj, study_name, trials):
        _logger.info("study %r already has %d COMPLETE trials; nothing to do", study_name, trials)
        return optuna.load_study(study_name=study_name, storage=storage_obj)
    # Build once here: bad data, model or metric fail fast, and the study gets its attrs.
    start = time.perf_counter()
    objective, description = _build(task)
    setup_s = time.perf_counter() - start
    name = study_name or f"{model}/{description['spec']}/{sampler}-seed{task.seed_of_sampler}"
    task = _Task(**{**task.__dict__, "study_name": name})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            storage=storage_obj,
            study_name=name,
            direction="maximize",
            sampler=_make_sampler(sampler, task.seed_of_sampler, 0),
            load_if_exists=True,
        )
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise ValueError(f"study {name!r} exists and does not maximise one objective.")
    attrs = {
        "dataset": objective.data.name,
        "model": model,
        "metric": metric,
        "data": description,
        "sampler": sampler,
        "seed": int(seed),
        "max_users": max_users,
        "max_events_per_user": max_events_per_user,
        "max_valid_queries": max_valid_queries,
        "model_options": dict(model_options or {}),
        "prune": False,
        "corpus_format": 1,
    }
    if sampler_seed is not None:
        attrs["sampler_seed"] = int(sampler_seed)
    if history_fraction is not None:
        attrs["history_fraction"] = float(history_fraction)
    _check_same_settings(name, study.user_attrs, attrs)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    stale = _fail_stale(study)
    done = _count(study, TrialState.COMPLETE)
    _logger.info(
        "study %r: %d COMPLETE so far, %d stale RUNNING trial%s marked FAIL; data ready in %.1f s",
        name,
        done,
        stale,
        "" if stale == 1 else "s",
        setup_s,
    )
    if stale:
        print(f"Marked {stale} stale RUNNING trial(s) of study {name!r} as FAIL.", flush=True)
    if done < trials:
        _optimize(task, workers, study, objective, progress)
    return optuna.load_study(study_name=name, storage=storage_obj)


#: Study attributes that define a task: resuming with other values would mix two tasks.
_TASK_KEYS = (
    "dataset",
    "model",
    "metric",
    "sampler",
    "seed",
    "max_users",
    "max_events_per_user",
    "max_valid_queries",
    "model_options",
    "sampler_seed",
    "history_fraction",
)


def _check_same_settings(name: str, previous: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    old_spec = (
        previous.get("data", {}).get("spec") if isinstance(previous.get("data"), dict) else None
    )
    pairs = [(k, previous[k], new.get(k)) for k in _TASK_KEYS if k in previous]
    if old_spec is not None:
        pairs.append(("data", old_spec, new["data"]["spec"]))
    for key, old, value in pairs:
        if old != value:
            raise ValueError(
                f"study {name!r} exists with {key}={old!r}, not {value!r}; pass the same "
                "settings to resume it, or another --study-name."
            )


def _already_done(storage: optuna.storages.BaseStorage, name: str, trials: int) -> bool:
    """Whether study ``name`` exists with ``trials`` COMPLETE trials and none RUNNING."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return False
    return _count(study, TrialState.COMPLETE) >= trials and _count(study, TrialState.RUNNING) == 0


def _optimize(
    task: _Task, workers: int, study: optuna.Study, objective: RecsysObjective, progress: bool
) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=task.trials,
        initial=_count(study, TrialState.COMPLETE),
        desc=task.study_name,
        unit="trial",
        disable=not progress,
    )
    try:
        if workers == 1:
            _run_in_process(task, study, objective, bar)
        else:
            _run_processes(task, workers, study, bar)
    finally:
        bar.close()


def _run_in_process(
    task: _Task, study: optuna.Study, objective: RecsysObjective, bar: Any
) -> None:
    # Reuse the objective built by collect(): no second data load in one process.
    import warnings

    class _Bar(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            bar.n = _count(study, TrialState.COMPLETE)
            bar.refresh()

    handler = _Bar(level=logging.INFO)
    _logger.addHandler(handler)
    previous = _logger.level
    _logger.setLevel(min(previous or logging.INFO, logging.INFO))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            _loop(task, study, objective, _NullLock())
    finally:
        _logger.removeHandler(handler)
        _logger.setLevel(previous)
        bar.n = _count(study, TrialState.COMPLETE)
        bar.refresh()


def _loop(task: _Task, study: optuna.Study, objective: Any, lock: Any) -> None:
    while True:
        with lock:
            if _count(study, TrialState.COMPLETE, TrialState.RUNNING) >= task.trials:
                return
            trial = study.ask()
        start = time.perf_counter()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # noqa: BLE001 - a failed configuration is data too
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            _logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
            continue
        frozen = study.tell(trial, value)
        _logger.info(
            "trial %d %s value=%s in %.2f s",
            trial.number,
            frozen.state.name,
            value,
            time.perf_counter() - start,
        )


def _run_processes(task: _Task, workers: int, study: optuna.Study, bar: Any) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    lock = ctx.Lock()
    level = _logger.getEffectiveLevel()
    procs = [
        ctx.Process(target=_worker_main, args=(task, i, lock, level), name=f"corpus-worker{i}")
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=1.0 / len(procs))
            bar.n = _count(study, TrialState.COMPLETE)
            bar.refresh()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    bar.n = _count(study, TrialState.COMPLETE)
    bar.refresh()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        raise ValueError(
            f"worker process(es) {', '.join(failed)} of study {task.study_name!r} exited with "
            f"codes {[p.exitcode for p in procs if p.exitcode != 0]}; see the log above. "
            "Rerun the same command to resume."
        )


def _worker_main(task: _Task, worker: int, lock: Any, log_level: int) -> None:
    """Entry point of a worker process."""
    _single_thread_env()
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s worker{worker} %(levelname)s %(message)s"
    )
    _logger.setLevel(log_level)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    objective, _ = _build(task)
    study = optuna.load_study(
        study_name=task.study_name,
        storage=open_storage(task.storage),
        sampler=_make_sampler(task.sampler, task.seed_of_sampler, worker),
    )
    _loop(task, study, objective, lock)
