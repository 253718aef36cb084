"""The corpus of past studies: read, store, summarise and collect Optuna studies.

The meta-prior and meta-training learn from *past studies*. This module turns studies
from any Optuna storage into one normalised table, stores it as a compact Parquet file,
converts it to :class:`~optuna_rl_sampler.sources.SourceStudy` objects, and summarises
it (:func:`stats`, :func:`shared_configurations`).

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

:mod:`optuna_rl_sampler.corpus_collect` runs the sweeps that produce a corpus (on the
datasets of :mod:`optuna_rl_sampler.corpus_data`); ``optuna-rl corpus
collect|export|stats`` is the command line of the three modules.
"""

from __future__ import annotations

import json
import logging
import math
import os
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


__all__ = [
    "COLUMNS",
    "load_table",
    "open_storage",
    "read_parquet",
    "read_studies",
    "stats",
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
